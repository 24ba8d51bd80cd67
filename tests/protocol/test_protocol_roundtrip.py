"""Hypothesis round trips for every frame kind and transport layer of wire protocol v1."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from coxa import wire
from tests.protocol.strategies import (
    ATT_MTUS,
    COUNTERS,
    I16,
    SEGMENTS,
    U16,
    U32,
    acks,
    any_frame_objects,
    any_frames,
    commands,
    data_frames,
    statuses,
)

# ------------------------------------------------------------------------------------------
# Frames
# ------------------------------------------------------------------------------------------


DATA_KINDS = [wire.KIND_DATA_LIVE, wire.KIND_DATA_BACKFILL]
OPCODES = sorted(wire.COMMAND_ARGS)


@pytest.mark.parametrize("kind", DATA_KINDS)
@given(data=st.data())
def test_data_frame_quat_round_trip(kind: int, data: st.DataObject) -> None:
    frame = data.draw(data_frames(raw=False, kind=kind))
    encoded = frame.encode()
    assert len(encoded) == 16 + 15 * frame.count <= wire.MAX_FRAME_BYTES
    assert encoded[0:2] == bytes([wire.PROTOCOL_VERSION, kind])
    assert encoded[15] == 0
    back = wire.decode_data_frame(encoded)
    assert back == frame
    assert back.acc_raw is None
    assert back.is_backfill == (kind == wire.KIND_DATA_BACKFILL)
    assert wire.decode_frame(bytearray(encoded)) == frame
    assert wire.decode_frame(memoryview(encoded)) == frame


@pytest.mark.parametrize("kind", DATA_KINDS)
@given(data=st.data())
def test_data_frame_raw_round_trip(kind: int, data: st.DataObject) -> None:
    frame = data.draw(data_frames(raw=True, kind=kind))
    encoded = frame.encode()
    assert len(encoded) == 16 + 21 * frame.count <= wire.MAX_FRAME_BYTES
    assert encoded[15] == wire.CONTENT_ACC
    back = wire.decode_frame(encoded)
    assert back == frame
    assert isinstance(back, wire.DataFrame)
    assert back.raw
    assert back.kind == kind
    assert back.acc_raw == frame.acc_raw


@given(data_frames(), st.integers(0, 20))
def test_data_frame_firmware_path_matches(frame: wire.DataFrame, offset: int) -> None:
    """Samples written one by one with *_into, header last, give the same bytes."""
    buf = bytearray(offset + wire.MAX_FRAME_BYTES)
    o = offset + wire.DATA_HEADER_BYTES
    q, g, a = frame.quat_q14, frame.gyr_raw, frame.acc_raw
    for i in range(frame.count):
        j, k = 4 * i, 3 * i
        quat = (q[j], q[j + 1], q[j + 2], q[j + 3])
        gyr = (g[k], g[k + 1], g[k + 2])
        if a is None:
            o = wire.sample_into(buf, o, *quat, *gyr, frame.flags[i])
        else:
            o = wire.sample_raw_into(buf, o, *quat, *gyr, frame.flags[i], a[k], a[k + 1], a[k + 2])
    end = wire.data_header_into(
        buf,
        offset,
        frame.kind,
        frame.board_id,
        frame.seq0,
        frame.t0_us,
        frame.period_us,
        frame.count,
        frame.raw,
    )
    assert end == offset + wire.DATA_HEADER_BYTES
    assert bytes(buf[offset:o]) == frame.encode()


@given(data_frames())
def test_data_frame_sample_times_and_seqs(frame: wire.DataFrame) -> None:
    for i in range(frame.count):
        assert frame.sample_seq(i) == (frame.seq0 + i) % 2**32
        assert frame.sample_t_us(i) == (frame.t0_us + i * frame.period_us) % 2**32
        assert wire.seq_diff(frame.sample_seq(i), frame.seq0) == i


@pytest.mark.parametrize("opcode", OPCODES)
@given(data=st.data())
def test_command_round_trip(opcode: int, data: st.DataObject) -> None:
    cmd = data.draw(commands(opcode))
    encoded = cmd.encode()
    assert encoded[:4] == bytes([1, wire.KIND_COMMAND, opcode, cmd.token])
    assert wire.decode_command(encoded) == cmd
    assert wire.decode_frame(encoded) == cmd
    assert wire.encode_command(opcode, cmd.token, *cmd.args) == encoded
    assert wire.reject_command(encoded) is None


@pytest.mark.parametrize("opcode", OPCODES)
@given(data=st.data())
def test_ok_ack_round_trip(opcode: int, data: st.DataObject) -> None:
    ack = data.draw(acks(opcode, ok=True))
    encoded = ack.encode()
    assert encoded[:5] == bytes([1, wire.KIND_ACK, opcode, ack.token, wire.RESULT_OK])
    assert wire.decode_ack(encoded) == ack
    assert wire.decode_frame(encoded) == ack


@given(acks(ok=False))
def test_error_ack_round_trip(ack: wire.Ack) -> None:
    encoded = ack.encode()
    assert encoded == bytes([1, wire.KIND_ACK, ack.opcode, ack.token, ack.result])
    assert wire.decode_frame(encoded) == ack
    assert not ack.ok


@given(statuses())
def test_status_round_trip(status: wire.Status) -> None:
    data = status.encode()
    assert len(data) == 28
    assert wire.decode_status(data) == status
    assert wire.decode_frame(data) == status
    assert wire.encode_status(*status.fields()) == data


@given(any_frame_objects(), st.integers(0, 30))
def test_encode_into_writes_at_offset_only(
    frame: wire.DataFrame | wire.Command | wire.Ack | wire.Status, offset: int
) -> None:
    buf = bytearray(b"\xa5" * (offset + 300))
    end = frame.encode_into(buf, offset)
    assert bytes(buf[offset:end]) == frame.encode()
    assert end - offset == frame.size()
    assert buf[:offset] == b"\xa5" * offset
    assert buf[end:] == b"\xa5" * (len(buf) - end)


# ------------------------------------------------------------------------------------------
# Fixed point
# ------------------------------------------------------------------------------------------


@given(st.integers(-32767, 32767))
def test_fixed_point_raw_round_trip(raw: int) -> None:
    assert wire.float_to_q14(wire.q14_to_float(raw)) == raw
    assert wire.gyr_rad_s_to_raw(wire.gyr_raw_to_rad_s(raw)) == raw
    assert wire.acc_m_s2_to_raw(wire.acc_raw_to_m_s2(raw)) == raw


@given(st.floats(-1.99, 1.99))
def test_q14_float_error_is_at_most_half_lsb(value: float) -> None:
    assert abs(wire.q14_to_float(wire.float_to_q14(value)) - value) <= 0.5 / 16384 + 1e-15


@given(st.floats(-34.0, 34.0))
def test_gyr_float_error_is_at_most_half_lsb(rad_s: float) -> None:
    back = wire.gyr_raw_to_rad_s(wire.gyr_rad_s_to_raw(rad_s))
    assert abs(back - rad_s) <= 0.5 * wire.GYR_RAD_S_PER_LSB * (1 + 1e-9)


@given(st.floats(-150.0, 150.0))
def test_acc_float_error_is_at_most_half_lsb(m_s2: float) -> None:
    back = wire.acc_raw_to_m_s2(wire.acc_m_s2_to_raw(m_s2))
    assert abs(back - m_s2) <= 0.5 * wire.ACC_M_S2_PER_LSB * (1 + 1e-9)


@given(st.floats(allow_nan=False))
def test_fixed_point_clamps_any_finite_or_infinite_value(value: float) -> None:
    for convert in (wire.float_to_q14, wire.gyr_rad_s_to_raw, wire.acc_m_s2_to_raw):
        raw = convert(value)
        assert -32767 <= raw <= 32767
        if math.isinf(value):
            assert raw == math.copysign(32767, value)


@given(st.lists(st.floats(-1, 1), min_size=4, max_size=4), st.lists(I16, min_size=4, max_size=4))
def test_quat_helpers(quat: list[float], q14: list[int]) -> None:
    assert wire.quat_to_q14(quat) == [wire.float_to_q14(x) for x in quat]
    assert wire.q14_to_quat(q14) == [x / 16384 for x in q14]


# ------------------------------------------------------------------------------------------
# BLE packets
# ------------------------------------------------------------------------------------------


@given(st.binary(min_size=1, max_size=wire.MAX_FRAME_BYTES), ATT_MTUS, COUNTERS)
def test_fragment_round_trip(frame: bytes, att_mtu: int, counter: int) -> None:
    packets, next_counter = wire.fragment(frame, att_mtu, counter)
    payload = att_mtu - 3
    if len(frame) + 1 <= payload:
        assert len(packets) == 1
        assert packets[0][0] >> 6 == wire.PACKET_COMPLETE
    else:
        assert len(packets) == math.ceil(len(frame) / (payload - 1))
        assert [p[0] >> 6 for p in packets] == [1] + [2] * (len(packets) - 2) + [3]
    assert all(2 <= len(p) <= payload for p in packets)
    assert [p[0] & 63 for p in packets] == [(counter + i) % 64 for i in range(len(packets))]
    assert next_counter == (counter + len(packets)) % 64
    r = wire.Reassembler()
    out = [r.push(p) for p in packets]
    assert out == [None] * (len(packets) - 1) + [frame]
    assert (r.lost_packets, r.discarded_frames, r.frames) == (0, 0, 1)


def _stream(frames: list[bytes], att_mtu: int, counter: int) -> list[tuple[int, bytes]]:
    """Packets of consecutive frames on one characteristic, tagged with their frame index."""
    out: list[tuple[int, bytes]] = []
    for i, frame in enumerate(frames):
        packets, counter = wire.fragment(frame, att_mtu, counter)
        out.extend((i, p) for p in packets)
    return out


@given(st.data())
def test_reassembly_of_interleaved_lossy_streams(data: st.DataObject) -> None:
    """Two characteristics (data and status), interleaved and lossy, each with a Reassembler.

    Exactly the frames whose packets all arrived come out, in order; the counted loss equals
    the packets dropped between the first and last delivered packet of each stream.
    """
    frame_lists = st.lists(st.binary(min_size=1, max_size=wire.MAX_FRAME_BYTES), max_size=12)
    streams = [
        _stream(data.draw(frame_lists), data.draw(ATT_MTUS), data.draw(COUNTERS)),
        _stream(data.draw(frame_lists), data.draw(ATT_MTUS), data.draw(COUNTERS)),
    ]
    total = sum(len(s) for s in streams)
    assume(total > 0)
    # fewer than 64 drops per stream: a gap of a multiple of 64 packets is invisible by design
    dropped = [
        data.draw(st.sets(st.integers(0, max(len(s) - 1, 0)), max_size=min(len(s), 40)))
        for s in streams
    ]
    # interleave: a random merge that keeps each stream's order
    order = data.draw(st.permutations([0] * len(streams[0]) + [1] * len(streams[1])))
    reassemblers = [wire.Reassembler(), wire.Reassembler()]
    got: list[list[bytes]] = [[], []]
    positions = [0, 0]
    for which in order:
        index = positions[which]
        positions[which] += 1
        if index in dropped[which]:
            continue
        frame = reassemblers[which].push(streams[which][index][1])
        if frame is not None:
            got[which].append(frame)
    for which in (0, 1):
        stream = streams[which]
        frames_sent: dict[int, list[int]] = {}
        for idx, (frame_index, _) in enumerate(stream):
            frames_sent.setdefault(frame_index, []).append(idx)
        complete = [
            fi for fi, idxs in sorted(frames_sent.items()) if not set(idxs) & dropped[which]
        ]
        sent_frames = {
            fi: b"".join(stream[i][1][1:] for i in idxs) for fi, idxs in frames_sent.items()
        }
        assert got[which] == [sent_frames[fi] for fi in complete]
        delivered = [i for i in range(len(stream)) if i not in dropped[which]]
        if delivered:
            inner = [i for i in dropped[which] if delivered[0] < i < delivered[-1]]
            assert reassemblers[which].lost_packets == len(inner)
        partial = sum(
            1 for idxs in frames_sent.values() if 0 < len(set(idxs) & dropped[which]) < len(idxs)
        )
        assert reassemblers[which].discarded_frames <= partial


@given(any_frames(), st.integers(wire.RECOMMENDED_ATT_MTU, wire.MAX_ATT_MTU), COUNTERS)
def test_large_mtus_behave_like_247(frame: bytes, att_mtu: int, counter: int) -> None:
    assert wire.fragment(frame, att_mtu, counter) == wire.fragment(frame, 247, counter)
    assert wire.ble_payload_bytes(att_mtu) == wire.MAX_BLE_PAYLOAD_BYTES


@given(any_frames(), ATT_MTUS, COUNTERS, st.integers(0, 10))
def test_packet_into_matches_fragment(frame: bytes, att_mtu: int, counter: int, pad: int) -> None:
    big = frame + b"\xee" * pad  # frame held in a larger buffer
    buf = bytearray(wire.MAX_BLE_PAYLOAD_BYTES)
    packets: list[bytes] = []
    start = 0
    c = counter
    while start < len(frame):
        end = wire.packet_into(buf, 0, big, start, att_mtu, c, len(frame))
        packets.append(bytes(buf[:end]))
        start += end - 1
        c = (c + 1) % 64
    assert (packets, c) == wire.fragment(frame, att_mtu, counter)


# ------------------------------------------------------------------------------------------
# Serial framing
# ------------------------------------------------------------------------------------------


def _split(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts})
    edges = [0, *points, len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(edges)]


@given(st.lists(any_frames(), max_size=8), st.lists(st.integers(0, 10_000), max_size=30))
def test_serial_round_trip_any_chunking(frames: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(wire.serial_encode(f) for f in frames)
    deframer = wire.SerialDeframer()
    got: list[bytes] = []
    for chunk in _split(stream, cuts):
        got.extend(deframer.feed(chunk))
    assert got == frames
    assert deframer.errors == 0
    assert deframer.frames == len(frames)


@given(st.binary(min_size=1, max_size=wire.MAX_FRAME_BYTES))
def test_serial_encode_properties(frame: bytes) -> None:
    packet = wire.serial_encode(frame)
    assert packet[-1] == 0
    assert 0 not in packet[:-1]
    assert len(packet) == len(frame) + 4  # one COBS code byte suffices below 254 bytes
    assert wire.serial_decode(packet) == frame
    buf = bytearray(300)
    end = wire.serial_encode_into(buf, 11, frame)
    assert bytes(buf[11:end]) == packet


def _is_valid_packet(chunk: bytes) -> bool:
    try:
        wire.serial_decode(chunk)
    except wire.ProtocolError:
        return False
    return True


@given(
    st.lists(
        st.tuples(any_frames(), st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b""))),
        max_size=6,
    ),
    st.lists(st.integers(0, 10_000), max_size=20),
)
def test_serial_resynchronises_after_garbage(
    items: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    """Garbage (ending at a 0x00) before each packet costs one error, never a good frame."""
    stream = bytearray()
    bad = 0
    for frame, garbage in items:
        if garbage:
            assume(not _is_valid_packet(garbage))
            stream += garbage + b"\x00"
            bad += 1
        stream += wire.serial_encode(frame)
    deframer = wire.SerialDeframer()
    got: list[bytes] = []
    for chunk in _split(bytes(stream), cuts):
        got.extend(deframer.feed(chunk))
    assert got == [frame for frame, _ in items]
    assert deframer.errors == bad
    if bad:
        assert deframer.last_error


# ------------------------------------------------------------------------------------------
# Advertising, names, segments, sequence helpers
# ------------------------------------------------------------------------------------------


@given(U16, SEGMENTS, st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)))
def test_advertising_round_trip(board_id: int, segment: int, fw: tuple[int, int, int]) -> None:
    adv = wire.encode_advertising(board_id, segment)
    assert len(adv) == wire.ADV_BYTES == 31
    assert wire.parse_advertising(adv) == (board_id, segment)
    name = wire.board_name(board_id, segment)
    assert len(name) == 8
    assert name.encode() in adv
    assert wire.parse_board_name(name) == (board_id, segment)
    scan = wire.encode_scan_response(board_id, segment, *fw)
    assert len(scan) == wire.SCAN_RESPONSE_BYTES
    got = wire.parse_scan_response(scan)
    assert (got.protocol_version, got.board_id, got.segment) == (1, board_id, segment)
    assert (got.fw_major, got.fw_minor, got.fw_patch) == fw
    # a scanner that merges advertising and scan response still finds both
    assert wire.parse_advertising(adv + scan) == (board_id, segment)
    assert wire.parse_scan_response(adv + scan) == got


@given(U32, U32)
def test_seq_diff_inverts_seq_add(a: int, b: int) -> None:
    d = wire.seq_diff(a, b)
    assert -(2**31) < d <= 2**31
    assert wire.seq_add(b, d) == a
    assert wire.seq_diff(a, a) == 0


@given(st.integers(-(2**40), 2**40), st.integers(-(2**31) + 1, 2**31))
def test_unwrap_recovers_steps_up_to_half_range(previous: int, step: int) -> None:
    value = (previous + step) % 2**32
    assert wire.unwrap_u32(previous, value) == previous + step


@given(U32, st.lists(st.integers(0, 2**31), max_size=50))
def test_unwrap_of_a_wrapping_counter_is_monotonic(start: int, steps: list[int]) -> None:
    unwrapped = wire.unwrap_u32(None, start)
    truth = start
    for step in steps:
        truth += step
        unwrapped = wire.unwrap_u32(unwrapped, truth % 2**32)
        assert unwrapped == truth
