"""Specific rules, limits and error messages of wire protocol v1."""

from __future__ import annotations

import math
import struct
import uuid

import pytest

from coxa import wire


def _quat_frame_bytes(count: int, *, raw: bool = False) -> bytes:
    return wire.encode_data_frame(
        wire.KIND_DATA_LIVE,
        0x1A2B,
        10,
        20,
        5000,
        [16384, 0, 0, 0] * count,
        [0, 0, 0] * count,
        [0] * count,
        [0, 0, 2048] * count if raw else None,
    )


def _with(data: bytes, index: int, value: int) -> bytes:
    out = bytearray(data)
    out[index] = value
    return bytes(out)


# ------------------------------------------------------------------------------------------
# Limits
# ------------------------------------------------------------------------------------------


def test_frame_size_limits() -> None:
    assert wire.samples_per_frame(False) == 15
    assert wire.samples_per_frame(True) == 10
    assert len(_quat_frame_bytes(15)) == 241 <= wire.MAX_FRAME_BYTES
    assert len(_quat_frame_bytes(10, raw=True)) == 226 <= wire.MAX_FRAME_BYTES
    assert wire.data_frame_bytes(16, False) > wire.MAX_FRAME_BYTES
    assert wire.data_frame_bytes(11, True) > wire.MAX_FRAME_BYTES
    # a full frame plus the packet header fits one notification at ATT MTU 247
    assert wire.MAX_FRAME_BYTES + 1 == wire.ble_payload_bytes(247) == 244
    with pytest.raises(wire.ProtocolError, match="count"):
        _quat_frame_bytes(16)
    with pytest.raises(wire.ProtocolError, match="count"):
        _quat_frame_bytes(11, raw=True)
    with pytest.raises(wire.ProtocolError, match="count"):
        _quat_frame_bytes(0)


def test_scales() -> None:
    assert math.isclose(wire.GYR_RAD_S_PER_LSB, math.radians(2000) / 32768, rel_tol=1e-15)
    assert math.isclose(wire.ACC_M_S2_PER_LSB, 9.80665 / 2048, rel_tol=1e-15)
    assert wire.gyr_rad_s_to_raw(math.radians(2000)) == 32767  # 32768 clamps
    assert wire.gyr_rad_s_to_raw(math.radians(1000)) == 16384
    assert wire.acc_m_s2_to_raw(-16 * 9.80665) == -32767
    assert wire.acc_m_s2_to_raw(9.80665) == 2048
    assert wire.acc_raw_to_m_s2(2048) == pytest.approx(9.80665)
    assert wire.q14_to_float(16384) == 1.0
    assert wire.q14_to_float(-32768) == -2.0


def test_rounding_is_half_away_from_zero() -> None:
    assert wire.float_to_q14(0.5 / 16384) == 1
    assert wire.float_to_q14(-0.5 / 16384) == -1
    assert wire.float_to_q14(1.5 / 16384) == 2
    assert wire.float_to_q14(2.5 / 16384) == 3  # not banker's rounding (round() would give 2)
    assert wire.float_to_q14(0.49 / 16384) == 0
    assert wire.float_to_q14(-0.49 / 16384) == 0


def test_nan_cannot_be_encoded_and_infinities_clamp() -> None:
    with pytest.raises(wire.ProtocolError, match="NaN"):
        wire.float_to_q14(math.nan)
    with pytest.raises(wire.ProtocolError, match="NaN"):
        wire.gyr_rad_s_to_raw(math.nan)
    assert wire.acc_m_s2_to_raw(math.inf) == 32767
    assert wire.acc_m_s2_to_raw(-math.inf) == -32767


def test_sample_floats_into_converts_physical_units() -> None:
    buf = bytearray(21)
    end = wire.sample_floats_into(
        buf, 0, [1.0, 0.0, 0.0, -0.5], [math.radians(1000), 0.0, 0.0], 1, [0.0, 0.0, 9.80665]
    )
    assert end == 21
    assert struct.unpack("<4h3hB3h", buf) == (16384, 0, 0, -8192, 16384, 0, 0, 1, 0, 0, 2048)
    end = wire.sample_floats_into(buf, 0, [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 0)
    assert end == 15


def test_data_frame_float_helpers() -> None:
    frame = wire.DataFrame(
        wire.KIND_DATA_LIVE,
        1,
        0,
        0,
        5000,
        [16384, -8192, 0, 0, 0, 0, 0, 16384],
        [16384, 0, -16384, 1, 2, 3],
        [0, 0],
        [0, 0, 2048, -1024, 0, 0],
    )
    assert frame.quat_wxyz(0) == [1.0, -0.5, 0.0, 0.0]
    assert frame.quat_wxyz(1) == [0.0, 0.0, 0.0, 1.0]
    assert frame.gyr_rad_s(0) == pytest.approx([math.radians(1000), 0.0, -math.radians(1000)])
    assert frame.acc_m_s2(0) == pytest.approx([0.0, 0.0, 9.80665])
    assert frame.acc_m_s2(1) == pytest.approx([-9.80665 / 2, 0.0, 0.0])
    quat_only = wire.decode_data_frame(_quat_frame_bytes(1))
    with pytest.raises(wire.ProtocolError, match="no accelerometer"):
        quat_only.acc_m_s2(0)


# ------------------------------------------------------------------------------------------
# Decoder errors
# ------------------------------------------------------------------------------------------


def test_length_mismatch_message() -> None:
    data = _quat_frame_bytes(15)
    header = _with(data[:16], 14, 15)
    with pytest.raises(
        wire.ProtocolError,
        match=r"^data frame declares 15 samples \(225 bytes\) but carries 100 bytes$",
    ):
        wire.decode_frame(header + data[16:116])


def test_unsupported_version_message() -> None:
    data = _with(_quat_frame_bytes(1), 0, 2)
    with pytest.raises(
        wire.UnsupportedVersionError,
        match=r"^unsupported protocol version 2 \(this side speaks 1\)$",
    ) as info:
        wire.decode_frame(data)
    assert info.value.version == 2
    assert isinstance(info.value, wire.ProtocolError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x01", "1 byte"),
        (b"\x01\x03", "unknown frame kind 0x03"),
        (b"\x01\x01" + bytes(10), "shorter than its 16-byte header"),
        (_with(_quat_frame_bytes(1), 15, 0x02), "content flags 0x02 set reserved bits"),
        (_with(_quat_frame_bytes(1), 15, 0x81), "content flags 0x81 set reserved bits"),
        (_with(_with(_quat_frame_bytes(1), 12, 0), 13, 0), "period of 0 us"),
        (_with(_quat_frame_bytes(1), 14, 0), "declares 0 samples"),
        (_with(_quat_frame_bytes(1), 14, 16), "at most 15 fit in quaternion mode"),
        (_with(_quat_frame_bytes(1, raw=True), 14, 11), "at most 10 fit in raw mode"),
        (_with(_quat_frame_bytes(1), 30, 0x10), "sample 0 flags 0x10 set reserved bits"),
        (_quat_frame_bytes(2)[:-1], "declares 2 samples (30 bytes) but carries 29 bytes"),
        (_quat_frame_bytes(1) + b"\x00", "declares 1 samples (15 bytes) but carries 16 bytes"),
        (
            _with(_quat_frame_bytes(1, raw=True), 15, 0),
            "declares 1 samples (15 bytes) but carries 21",
        ),
    ],
)
def test_data_frame_errors(data: bytes, message: str) -> None:
    with pytest.raises(wire.ProtocolError) as info:
        wire.decode_frame(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x10\x03", "shorter than its 4-byte header"),
        (b"\x01\x10\x00\x01", "unknown command opcode 0"),
        (b"\x01\x10\x0a\x01", "unknown command opcode 10"),
        (b"\x01\x10\x01\x01\x00", "START_STREAM command must be 4 bytes, got 5"),
        (b"\x01\x10\x03\x01\xc8", "SET_RATE command must be 6 bytes, got 5"),
        (b"\x01\x10\x03\x01\x00\x00", "SET_RATE rate_hz must be in 1..1000, got 0"),
        (b"\x01\x10\x03\x01\xe9\x03", "SET_RATE rate_hz must be in 1..1000, got 1001"),
        (b"\x01\x10\x04\x01\x02", "SET_MODE mode must be in 0..1, got 2"),
        (b"\x01\x10\x07\x01\x00\x00\x00\x00\x00\x00", "BACKFILL count must be in 1..65535, got 0"),
        (b"\x01\x10\x06\x01\x00\x00\x00", "TIME_PING command must be 8 bytes, got 7"),
    ],
)
def test_command_errors(data: bytes, message: str) -> None:
    with pytest.raises(wire.ProtocolError) as info:
        wire.decode_frame(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x01\x11\x01\x01", "shorter than its 5-byte header"),
        (b"\x01\x11\x01\x01\x06", "unknown result code 6"),
        (b"\x01\x11\x7f\x01\x00", "unknown command opcode 127"),  # OK needs a known opcode
        (b"\x01\x11\x06\x01\x00\x01\x00\x00\x00", "TIME_PING ack with result OK must be 13 bytes"),
        (b"\x01\x11\x07\x01\x05\x01\x00\x00\x00\x01\x00", "BACKFILL ack with result UNAVAILABLE"),
        (b"\x01\x11\x07\x01\x00\x01\x00\x00\x00\x00\x00", "BACKFILL ack count must be in 1..65535"),
    ],
)
def test_ack_errors(data: bytes, message: str) -> None:
    with pytest.raises(wire.ProtocolError) as info:
        wire.decode_frame(data)
    assert message in str(info.value)


def _status(**changes: int) -> bytes:
    fields = {
        "board_id": 1,
        "segment": 0,
        "fw_major": 1,
        "fw_minor": 0,
        "fw_patch": 0,
        "battery_mv": 3700,
        "fifo_fill": 0,
        "fifo_capacity": 100,
        "samples_dropped": 0,
        "temperature_centi_c": 2000,
        "rate_hz": 100,
        "mode": 0,
        "state": 0,
        "newest_seq": 0,
    }
    data = bytearray(wire.encode_status(**fields))
    offsets = {"segment": 4, "rate_hz": 20, "mode": 22, "state": 23}
    for key, value in changes.items():
        struct.pack_into("<H" if key == "rate_hz" else "<B", data, offsets[key], value)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_status()[:-1], "status frame must be 28 bytes, got 27"),
        (_status() + b"\x00", "status frame must be 28 bytes, got 29"),
        (_status(segment=5), "unknown segment 5"),
        (_status(rate_hz=0), "rate_hz must be in 1..1000, got 0"),
        (_status(rate_hz=1001), "rate_hz must be in 1..1000, got 1001"),
        (_status(mode=2), "unknown mode 2"),
        (_status(state=0x40), "state flags 0x40 set reserved bits"),
    ],
)
def test_status_errors(data: bytes, message: str) -> None:
    with pytest.raises(wire.ProtocolError) as info:
        wire.decode_frame(data)
    assert message in str(info.value)


def test_status_temperature() -> None:
    status = wire.decode_status(_status())
    assert status.temperature_c() == 20.0
    fields = list(status.fields())
    fields[9] = wire.TEMPERATURE_UNKNOWN
    unknown = wire.Status(*fields)
    assert unknown.temperature_c() is None


def test_reject_command() -> None:
    unknown = wire.reject_command(b"\x01\x10\x42\x07")
    assert unknown == wire.Ack(0x42, 7, wire.RESULT_UNSUPPORTED)
    bad = wire.reject_command(b"\x01\x10\x03\x09\x00\x00")
    assert bad == wire.Ack(wire.OP_SET_RATE, 9, wire.RESULT_BAD_ARGUMENT)
    assert wire.reject_command(b"\x01\x10\x03") is None  # no token to answer
    assert wire.reject_command(b"\x02\x10\x03\x09\x00\x00") is None  # other version
    assert wire.reject_command(b"\x01\x11\x03\x09\x00") is None  # not a command
    assert wire.reject_command(wire.encode_command(wire.OP_SET_RATE, 9, 100)) is None


# ------------------------------------------------------------------------------------------
# Encoder errors
# ------------------------------------------------------------------------------------------


def test_encoders_refuse_out_of_range_values() -> None:
    buf = bytearray(64)
    with pytest.raises(wire.ProtocolError, match="board_id"):
        wire.data_header_into(buf, 0, 1, 0x10000, 0, 0, 5000, 1, False)
    with pytest.raises(wire.ProtocolError, match="period_us"):
        wire.data_header_into(buf, 0, 1, 0, 0, 0, 0, 1, False)
    with pytest.raises(wire.ProtocolError, match="kind"):
        wire.data_header_into(buf, 0, wire.KIND_COMMAND, 0, 0, 0, 5000, 1, False)
    with pytest.raises(wire.ProtocolError, match="quaternion w"):
        wire.sample_into(buf, 0, 32768, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(wire.ProtocolError, match="gyroscope z"):
        wire.sample_into(buf, 0, 0, 0, 0, 0, 0, 0, -32769, 0)
    with pytest.raises(wire.ProtocolError, match="sample flags"):
        wire.sample_into(buf, 0, 0, 0, 0, 0, 0, 0, 0, 16)
    with pytest.raises(wire.ProtocolError, match="accelerometer y"):
        wire.sample_raw_into(buf, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40000, 0)
    with pytest.raises(wire.ProtocolError, match="needs 15 bytes at offset 60"):
        wire.sample_into(buf, 60, 0, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(wire.ProtocolError, match="token"):
        wire.encode_command(wire.OP_START_STREAM, 256)
    with pytest.raises(wire.ProtocolError, match="takes 1 argument"):
        wire.encode_command(wire.OP_SET_RATE, 1)
    with pytest.raises(wire.ProtocolError, match="takes 0 argument"):
        wire.encode_command(wire.OP_START_STREAM, 1, 5)
    with pytest.raises(wire.ProtocolError, match="unknown command opcode"):
        wire.encode_command(0x55, 1)
    with pytest.raises(wire.ProtocolError, match="takes 0 argument"):
        wire.encode_ack(wire.OP_TIME_PING, 1, wire.RESULT_BUSY, 1, 2)
    with pytest.raises(wire.ProtocolError, match="result"):
        wire.encode_ack(wire.OP_TIME_PING, 1, 6)
    with pytest.raises(wire.ProtocolError, match="integer"):
        wire.encode_command(wire.OP_SET_RATE, 1, 100.0)  # type: ignore[arg-type]
    with pytest.raises(wire.ProtocolError, match="segment"):
        wire.encode_advertising(1, 5)
    with pytest.raises(wire.ProtocolError, match="quat_q14 needs 8"):
        wire.DataFrame(1, 0, 0, 0, 1, [0] * 4, [0] * 6, [0, 0])


def test_encoders_match_decoded_field_access() -> None:
    cmd = wire.Command(wire.OP_BACKFILL, 3, (10, 20))
    assert cmd.arg_names() == ("from_seq", "count")
    assert cmd.arg("count") == 20
    with pytest.raises(wire.ProtocolError, match="no argument"):
        cmd.arg("rate_hz")
    ack = wire.Ack(wire.OP_TIME_PING, 3, wire.RESULT_OK, (1, 2))
    assert ack.arg("board_t_us") == 2
    assert ack.result_name == "OK"
    assert ack.ok


# ------------------------------------------------------------------------------------------
# BLE packets
# ------------------------------------------------------------------------------------------


def _packet(position: int, counter: int, chunk: bytes) -> bytes:
    return bytes([wire.packet_header(position, counter)]) + chunk


C, F, M, L = wire.PACKET_COMPLETE, wire.PACKET_FIRST, wire.PACKET_MIDDLE, wire.PACKET_LAST


def test_reassembler_counts_gaps_and_resynchronises() -> None:
    r = wire.Reassembler()
    assert r.push(_packet(C, 10, b"A")) == b"A"
    assert r.push(_packet(F, 11, b"BB")) is None
    # counter 12 lost: the frame in progress is abandoned
    assert r.push(_packet(M, 13, b"bb")) is None
    assert (r.lost_packets, r.discarded_frames) == (1, 1)
    assert r.push(_packet(M, 14, b"??")) is None  # rest of that frame: not counted again
    assert r.push(_packet(L, 15, b"??")) is None
    assert r.discarded_frames == 1
    assert r.push(_packet(F, 16, b"CC")) is None
    assert r.push(_packet(M, 17, b"cc")) is None
    assert r.push(_packet(L, 18, b"!")) == b"CCcc!"
    assert (r.lost_packets, r.discarded_frames, r.frames) == (1, 1, 2)
    # a middle right after a last belongs to no frame (a first went missing unnoticed)
    assert r.push(_packet(M, 19, b"..")) is None
    assert r.discarded_frames == 2


def test_reassembler_out_of_order_positions() -> None:
    r = wire.Reassembler()
    assert r.push(_packet(F, 0, b"x")) is None
    assert r.push(_packet(F, 1, b"y")) is None  # a second first: the first frame is dropped
    assert r.discarded_frames == 1
    assert r.push(_packet(C, 2, b"z")) == b"z"  # a complete one drops the partial "y" too
    assert r.discarded_frames == 2
    assert r.push(_packet(L, 3, b"w")) is None  # a last without a first
    assert r.discarded_frames == 3
    assert r.push(_packet(C, 4, b"v")) == b"v"
    assert r.lost_packets == 0


def test_reassembler_counter_wraps_and_large_gaps() -> None:
    r = wire.Reassembler()
    assert r.push(_packet(C, 63, b"a")) == b"a"
    assert r.push(_packet(C, 0, b"b")) == b"b"
    assert r.lost_packets == 0
    assert r.push(_packet(C, 62, b"c")) == b"c"  # 61 packets missing (1..61)
    assert r.lost_packets == 61


def test_reassembler_joins_mid_frame() -> None:
    r = wire.Reassembler()
    assert r.push(_packet(M, 20, b"..")) is None
    assert r.push(_packet(L, 21, b"..")) is None
    assert (r.lost_packets, r.discarded_frames) == (0, 1)
    assert r.push(_packet(C, 22, b"ok")) == b"ok"


def test_reassembler_refuses_only_malformed_packets() -> None:
    r = wire.Reassembler()
    r.push(_packet(F, 5, b"ab"))
    with pytest.raises(wire.ProtocolError, match="empty"):
        r.push(b"")
    with pytest.raises(wire.ProtocolError, match="no frame bytes"):
        r.push(bytes([wire.packet_header(L, 6)]))
    # state untouched by the refused packets
    assert r.push(_packet(L, 6, b"cd")) == b"abcd"
    assert (r.packets, r.lost_packets, r.discarded_frames) == (2, 0, 0)


def test_reassembler_drops_oversized_frames() -> None:
    r = wire.Reassembler()
    chunk = bytes(200)
    assert r.push(_packet(F, 0, chunk)) is None
    assert r.push(_packet(L, 1, chunk)) is None  # 400 bytes > MAX_FRAME_BYTES
    assert r.discarded_frames == 1
    assert r.push(_packet(C, 2, bytes(300))) is None
    assert r.discarded_frames == 2
    assert r.push(_packet(C, 3, b"fine")) == b"fine"


def test_fragment_argument_checks() -> None:
    with pytest.raises(wire.ProtocolError, match="att_mtu"):
        wire.fragment(b"abc", 22, 0)
    with pytest.raises(wire.ProtocolError, match="frame length"):
        wire.fragment(b"", 23, 0)
    with pytest.raises(wire.ProtocolError, match="frame length"):
        wire.fragment(bytes(244), 247, 0)
    with pytest.raises(wire.ProtocolError, match="counter"):
        wire.fragment(b"abc", 23, 64)


# ------------------------------------------------------------------------------------------
# Serial framing
# ------------------------------------------------------------------------------------------


def test_deframer_counts_bad_packets_and_keeps_good_ones() -> None:
    good = wire.encode_command(wire.OP_GET_STATUS, 1)
    packet = wire.serial_encode(good)
    corrupt = bytearray(packet)
    corrupt[2] ^= 0x01  # flips a frame byte: CRC mismatch
    d = wire.SerialDeframer()
    out = d.feed(bytes(corrupt) + packet + b"\x05\x01\x00" + b"\x00\x00" + b"\x02\x01\x00" + packet)
    assert out == [good, good]
    assert d.errors == 3
    assert d.last_error is not None
    assert "too short" in d.last_error
    d2 = wire.SerialDeframer()
    assert d2.feed(bytes(corrupt)) == []
    assert d2.last_error is not None
    assert "CRC mismatch" in d2.last_error
    d3 = wire.SerialDeframer()
    assert d3.feed(b"\x09\x01\x02\x00") == []  # code 9 but only 2 bytes follow
    assert d3.last_error is not None
    assert "COBS error" in d3.last_error


def test_deframer_memory_is_bounded_for_garbage_without_delimiters() -> None:
    good = wire.encode_command(wire.OP_START_STREAM, 2)
    d = wire.SerialDeframer()
    for _ in range(1000):
        assert d.feed(b"\x55" * 1000) == []
    assert d.errors == 1
    assert d.last_error is not None
    assert "longer than 246 bytes" in d.last_error
    assert d.feed(b"\x00" + wire.serial_encode(good)) == [good]
    assert d.errors == 1


def test_deframer_length_limit_is_exactly_the_longest_packet() -> None:
    longest = bytes(range(1, 244))  # a 243-byte frame without zero bytes
    packet = wire.serial_encode(longest)
    assert len(packet) - 1 == wire.SERIAL_MAX_PACKET_BYTES == 246
    d = wire.SerialDeframer()
    assert d.feed(packet) == [longest]
    assert d.errors == 0
    d.feed(b"\x55" * 246)
    assert d.errors == 0  # could still be a packet
    d.feed(b"\x55")
    assert d.errors == 1  # 247 bytes without a delimiter: counted and dropped at once


def test_serial_decode_errors() -> None:
    with pytest.raises(wire.ProtocolError, match="empty"):
        wire.serial_decode(b"\x00")
    with pytest.raises(wire.ProtocolError, match="exceeds"):
        wire.serial_decode(b"\x01" * 300)
    with pytest.raises(wire.ProtocolError, match="zero byte"):
        wire.serial_decode(b"\x03\x00\x01")
    with pytest.raises(wire.ProtocolError, match="COBS error: block at byte 0 needs 4 bytes"):
        wire.serial_decode(b"\x05\x01\x02\x03")
    good = wire.serial_encode(b"\x01\x10\x01\x00")
    assert wire.serial_decode(good) == wire.serial_decode(good[:-1]) == b"\x01\x10\x01\x00"


def test_crc_table_matches_bitwise_definition() -> None:
    def bitwise(data: bytes) -> int:
        crc = 0xFFFF
        for byte in data:
            crc ^= byte << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        return crc

    data = bytes(range(256)) * 2
    assert wire.crc16_ccitt_false(data) == bitwise(data)
    assert wire.crc16_ccitt_false(data[100:], wire.crc16_ccitt_false(data[:100])) == bitwise(data)


# ------------------------------------------------------------------------------------------
# GATT, advertising, names, segments
# ------------------------------------------------------------------------------------------


def test_gatt_uuids() -> None:
    uuids = [
        wire.SERVICE_UUID,
        wire.DATA_CHAR_UUID,
        wire.CONTROL_CHAR_UUID,
        wire.STATUS_CHAR_UUID,
    ]
    assert [str(uuid.UUID(u)) for u in uuids] == uuids  # canonical lowercase form
    assert [u[:8] for u in uuids] == ["0c0a0001", "0c0a0002", "0c0a0003", "0c0a0004"]
    assert len({u[8:] for u in uuids}) == 1
    for u in uuids:
        assert wire.uuid_to_le_bytes(u) == uuid.UUID(u).bytes[::-1]
    with pytest.raises(wire.ProtocolError):
        wire.uuid_to_le_bytes("0c0a0001-5e11-4a7e-9b1d-3f6c8e2a1b4")
    with pytest.raises(wire.ProtocolError):
        wire.uuid_to_le_bytes("0c0a0001-5e11-4a7e-9b1d-3f6c8e2a1bxx")


def test_segment_tables() -> None:
    assert wire.SEGMENT_NAMES == ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r")
    assert wire.SEGMENT_CODES == ("PV", "TL", "TR", "SL", "SR")
    for i, (name, code) in enumerate(zip(wire.SEGMENT_NAMES, wire.SEGMENT_CODES, strict=True)):
        assert wire.SEGMENT_CODE_BY_NAME[name] == code
        assert wire.SEGMENT_NAME_BY_CODE[code] == name
        assert wire.segment_code(i) == code
        assert wire.segment_name(i) == name
        assert wire.segment_from_code(code) == i
        assert wire.segment_from_name(name) == i
    with pytest.raises(wire.ProtocolError):
        wire.segment_from_code("XX")
    with pytest.raises(wire.ProtocolError):
        wire.segment_from_name("femur")


@pytest.mark.parametrize(
    "name",
    ["cxTR1a2b", "cxTR1A2", "cxTR1A2B3", "CXTR1A2B", "cxXX1A2B", "cxTR1G2B", "cxTR+1A2", "", None],
)
def test_bad_board_names(name: str | None) -> None:
    with pytest.raises(wire.ProtocolError):
        wire.parse_board_name(name)


def test_board_name_example() -> None:
    assert wire.board_name(0x1A2B, wire.SEGMENT_THIGH_R) == "cxTR1A2B"
    assert wire.parse_board_name("cxTR1A2B") == (0x1A2B, wire.SEGMENT_THIGH_R)


def test_parse_advertising_requires_service_and_name() -> None:
    adv = wire.encode_advertising(0x1A2B, 2)
    assert len(adv) == 31
    without_service = adv[:3] + adv[21:]
    with pytest.raises(wire.ProtocolError, match="service UUID"):
        wire.parse_advertising(without_service)
    without_name = adv[:21]
    with pytest.raises(wire.ProtocolError, match="no local name"):
        wire.parse_advertising(without_name)
    with pytest.raises(wire.ProtocolError, match="remain"):
        wire.parse_advertising(adv[:-1])  # truncated name structure
    bad_name = adv[:23] + b"cxTR\xff12B"
    with pytest.raises(wire.ProtocolError, match="non-ASCII"):
        wire.parse_advertising(bad_name)
    # zero-length padding after the significant part is allowed
    assert wire.parse_advertising(adv[:21] + adv[21:] + bytes(3)) == (0x1A2B, 2)
    assert wire.parse_ad_structures(adv + bytes(3)) == wire.parse_ad_structures(adv)


def test_scan_response_errors() -> None:
    scan = wire.encode_scan_response(0x1A2B, 2, 1, 2, 3)
    with pytest.raises(wire.UnsupportedVersionError) as info:
        wire.parse_scan_response(_with(scan, 6, 2))
    assert info.value.version == 2
    with pytest.raises(wire.ProtocolError, match="no coxa manufacturer data"):
        wire.parse_scan_response(_with(scan, 2, 0x00))  # another company
    with pytest.raises(wire.ProtocolError, match="unknown segment"):
        wire.parse_scan_response(_with(scan, 9, 7))
    with pytest.raises(wire.ProtocolError, match="must be 11 bytes"):
        wire.parse_manufacturer_data(scan[2:] + b"\x00")
    assert wire.parse_manufacturer_data(scan[2:]).board_id == 0x1A2B
