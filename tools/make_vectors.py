"""Generate the golden wire-protocol vectors ``tests/protocol/vectors.json`` (append-only).

Every vector is produced by the encoders in :mod:`coxa.wire`. The file is append-only:
vectors already in it are never edited. If a vector of the same name would now come out
different (bytes or fields), this tool refuses, prints what differs and exits with status 1.
A wire change therefore means: bump ``PROTOCOL_VERSION``, add vectors with new names.

Usage::

    python tools/make_vectors.py            # append new vectors, refuse to change old ones
    python tools/make_vectors.py --check    # exit 1 if the file is not up to date; write nothing
    python tools/make_vectors.py --path other.json
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from coxa import wire

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "tests" / "protocol" / "vectors.json"

Vector = dict[str, Any]
KEY_ORDER = ("name", "type", "protocol_version", "description", "fields", "hex", "packets")
U32 = 2**32


# ------------------------------------------------------------------------------------------
# Vector builders
# ------------------------------------------------------------------------------------------


def _vector(name: str, vtype: str, description: str, fields: dict[str, Any], **rest: Any) -> Vector:
    out: Vector = {
        "name": name,
        "type": vtype,
        "protocol_version": wire.PROTOCOL_VERSION,
        "description": description,
        "fields": fields,
    }
    out.update(rest)
    return out


def data_vector(
    name: str,
    description: str,
    *,
    kind: int,
    board_id: int,
    seq0: int,
    t0_us: int,
    period_us: int,
    quat_q14: Sequence[Sequence[int]],
    gyr_raw: Sequence[Sequence[int]],
    flags: Sequence[int],
    acc_raw: Sequence[Sequence[int]] | None = None,
) -> Vector:
    """A data frame vector; sample arrays are given per sample."""
    frame = wire.DataFrame(
        kind,
        board_id,
        seq0,
        t0_us,
        period_us,
        [v for q in quat_q14 for v in q],
        [v for g in gyr_raw for v in g],
        list(flags),
        None if acc_raw is None else [v for a in acc_raw for v in a],
    )
    samples: list[dict[str, Any]] = []
    for i in range(frame.count):
        sample: dict[str, Any] = {
            "seq": frame.sample_seq(i),
            "t_us": frame.sample_t_us(i),
            "quat_q14": list(quat_q14[i]),
            "gyr_raw": list(gyr_raw[i]),
            "flags": flags[i],
        }
        if acc_raw is not None:
            sample["acc_raw"] = list(acc_raw[i])
        samples.append(sample)
    fields: dict[str, Any] = {
        "kind": kind,
        "board_id": board_id,
        "seq0": seq0,
        "t0_us": t0_us,
        "period_us": period_us,
        "raw": acc_raw is not None,
        "count": frame.count,
        "samples": samples,
    }
    return _vector(name, "data", description, fields, hex=frame.encode().hex())


def command_vector(name: str, description: str, opcode: int, token: int, *args: int) -> Vector:
    cmd = wire.Command(opcode, token, args)
    fields: dict[str, Any] = {
        "opcode": opcode,
        "opcode_name": cmd.name,
        "token": token,
        "args": dict(zip(cmd.arg_names(), args, strict=True)),
    }
    return _vector(name, "command", description, fields, hex=cmd.encode().hex())


def ack_vector(
    name: str, description: str, opcode: int, token: int, result: int, *args: int
) -> Vector:
    ack = wire.Ack(opcode, token, result, args)
    fields: dict[str, Any] = {
        "opcode": opcode,
        "token": token,
        "result": result,
        "result_name": ack.result_name,
        "args": dict(zip(ack.arg_names(), args, strict=True)),
    }
    return _vector(name, "ack", description, fields, hex=ack.encode().hex())


STATUS_FIELDS = wire.STATUS_FIELD_NAMES


def status_vector(name: str, description: str, **fields: int) -> Vector:
    values = [fields[k] for k in STATUS_FIELDS]
    status = wire.Status(*values)
    return _vector(
        name,
        "status",
        description,
        dict(zip(STATUS_FIELDS, values, strict=True)),
        hex=status.encode().hex(),
    )


def ble_vector(name: str, description: str, frame: bytes, att_mtu: int, counter: int) -> Vector:
    packets, next_counter = wire.fragment(frame, att_mtu, counter)
    fields: dict[str, Any] = {
        "frame_hex": frame.hex(),
        "att_mtu": att_mtu,
        "counter": counter,
        "next_counter": next_counter,
    }
    return _vector(name, "ble_fragments", description, fields, packets=[p.hex() for p in packets])


def serial_vector(name: str, description: str, frame: bytes) -> Vector:
    fields: dict[str, Any] = {"frame_hex": frame.hex(), "crc": wire.crc16_ccitt_false(frame)}
    return _vector(name, "serial", description, fields, hex=wire.serial_encode(frame).hex())


def advertising_vector(name: str, description: str, board_id: int, segment: int) -> Vector:
    fields: dict[str, Any] = {
        "board_id": board_id,
        "segment": segment,
        "name": wire.board_name(board_id, segment),
    }
    data = wire.encode_advertising(board_id, segment)
    return _vector(name, "advertising", description, fields, hex=data.hex())


def scan_response_vector(
    name: str, description: str, board_id: int, segment: int, fw: tuple[int, int, int]
) -> Vector:
    fields: dict[str, Any] = {
        "protocol_version": wire.PROTOCOL_VERSION,
        "board_id": board_id,
        "segment": segment,
        "fw_major": fw[0],
        "fw_minor": fw[1],
        "fw_patch": fw[2],
    }
    data = wire.encode_scan_response(board_id, segment, *fw)
    return _vector(name, "scan_response", description, fields, hex=data.hex())


FIXED_POINT_FUNCTIONS: dict[str, Callable[[float], int]] = {
    "float_to_q14": wire.float_to_q14,
    "gyr_rad_s_to_raw": wire.gyr_rad_s_to_raw,
    "acc_m_s2_to_raw": wire.acc_m_s2_to_raw,
}


def fixed_point_vector(name: str, description: str, function: str, value: float) -> Vector:
    raw = FIXED_POINT_FUNCTIONS[function](value)
    fields: dict[str, Any] = {"function": function, "value": value, "raw": raw}
    return _vector(name, "fixed_point", description, fields, hex=struct.pack("<h", raw).hex())


# ------------------------------------------------------------------------------------------
# The vectors, in file order. Append new ones at the end; never edit or remove old ones.
# ------------------------------------------------------------------------------------------


def _ramp_quat(count: int, base: int) -> list[list[int]]:
    return [
        [16384 - 3 * (i + base), 101 * i - 512, -37 * i + base, 4 * i * i - 7] for i in range(count)
    ]


def _ramp_gyr(count: int, base: int) -> list[list[int]]:
    return [[base + 1000 * i, -base - 17 * i, (i * 2731) % 32768 - 16384] for i in range(count)]


def _ramp_acc(count: int) -> list[list[int]]:
    return [[-60 + 13 * i, 35 - 11 * i, 2048 + 5 * i] for i in range(count)]


def _data_frames() -> list[Vector]:
    live, back = wire.KIND_DATA_LIVE, wire.KIND_DATA_BACKFILL
    v: list[Vector] = [
        data_vector(
            "data_live_quat_1_identity",
            "live data, quaternion mode, one sample at rest: identity quaternion, zero rate",
            kind=live,
            board_id=0x1A2B,
            seq0=0,
            t0_us=0,
            period_us=5000,
            quat_q14=[[16384, 0, 0, 0]],
            gyr_raw=[[0, 0, 0]],
            flags=[wire.SAMPLE_AT_REST],
        ),
        data_vector(
            "data_live_quat_4_flags",
            "live data, quaternion mode, 4 samples, one sample flag bit each, negative values",
            kind=live,
            board_id=0x0001,
            seq0=1000,
            t0_us=5_000_000,
            period_us=5000,
            quat_q14=[
                [11585, 0, 0, 11585],
                [11585, -11585, 0, 0],
                [0, 0, -16384, 0],
                [-8192, 8192, -8192, 8192],
            ],
            gyr_raw=[[1, -1, 0], [32767, -32768, 0], [-1000, 2000, -3000], [0, 0, 16]],
            flags=[
                wire.SAMPLE_AT_REST,
                wire.SAMPLE_GYR_CLIPPED,
                wire.SAMPLE_ACC_CLIPPED,
                wire.SAMPLE_FILTER_RESET,
            ],
        ),
        data_vector(
            "data_live_quat_15_full",
            "live data, quaternion mode, 15 samples: the largest quaternion frame (241 bytes)",
            kind=live,
            board_id=0xBEEF,
            seq0=123_456_789,
            t0_us=987_654_321,
            period_us=5000,
            quat_q14=_ramp_quat(15, 0),
            gyr_raw=_ramp_gyr(15, 5),
            flags=[i % 16 for i in range(15)],
        ),
        data_vector(
            "data_live_quat_wrap",
            "live data, quaternion mode: seq0 and t0_us just below 2**32, samples wrap to 0",
            kind=live,
            board_id=0x00FF,
            seq0=U32 - 2,
            t0_us=U32 - 7000,
            period_us=5000,
            quat_q14=_ramp_quat(4, 2),
            gyr_raw=_ramp_gyr(4, -5),
            flags=[0, 0, wire.SAMPLE_AT_REST, wire.SAMPLE_AT_REST],
        ),
        data_vector(
            "data_backfill_quat_5",
            "backfill data, quaternion mode, 5 samples at 1000 Hz",
            kind=back,
            board_id=0x1A2B,
            seq0=40_000,
            t0_us=200_000_000,
            period_us=1000,
            quat_q14=_ramp_quat(5, 9),
            gyr_raw=_ramp_gyr(5, 77),
            flags=[0, 1, 0, 1, 0],
        ),
        data_vector(
            "data_live_raw_1",
            "live data, raw mode (accelerometer present), one sample lying flat: +1 g on z",
            kind=live,
            board_id=0x1A2B,
            seq0=7,
            t0_us=35_000,
            period_us=5000,
            quat_q14=[[16384, 0, 0, 0]],
            gyr_raw=[[3, -2, 1]],
            flags=[wire.SAMPLE_AT_REST],
            acc_raw=[[0, 0, 2048]],
        ),
        data_vector(
            "data_live_raw_10_full",
            "live data, raw mode, 10 samples: the largest raw frame (226 bytes)",
            kind=live,
            board_id=0x0042,
            seq0=2_000_000_000,
            t0_us=4_000_000_000,
            period_us=2500,
            quat_q14=_ramp_quat(10, 4),
            gyr_raw=_ramp_gyr(10, 300),
            flags=[0] * 9 + [wire.SAMPLE_ACC_CLIPPED | wire.SAMPLE_GYR_CLIPPED],
            acc_raw=_ramp_acc(10),
        ),
        data_vector(
            "data_backfill_raw_wrap_extremes",
            "backfill data, raw mode: seq0 = t0_us = 2**32-1 with period 1 us, i16 extremes",
            kind=back,
            board_id=0xFFFF,
            seq0=U32 - 1,
            t0_us=U32 - 1,
            period_us=1,
            quat_q14=[[32767, -32768, 32767, -32768], [-32768, 32767, -32768, 32767], [0, 0, 0, 0]],
            gyr_raw=[[32767, 32767, 32767], [-32768, -32768, -32768], [0, -1, 1]],
            flags=[15, 0, 8],
            acc_raw=[[-32768, 0, 32767], [32767, 0, -32768], [1, -1, 0]],
        ),
        data_vector(
            "data_live_quat_max_period",
            "live data, quaternion mode, period 65535 us (about 15 Hz), time wraps mid-frame",
            kind=live,
            board_id=0x0300,
            seq0=U32 - 1,
            t0_us=U32 - 65535,
            period_us=65535,
            quat_q14=_ramp_quat(3, 1),
            gyr_raw=_ramp_gyr(3, 1),
            flags=[0, 0, 0],
        ),
    ]
    return v


def _commands() -> list[Vector]:
    return [
        command_vector("cmd_start_stream", "START_STREAM", wire.OP_START_STREAM, 1),
        command_vector("cmd_stop_stream", "STOP_STREAM", wire.OP_STOP_STREAM, 2),
        command_vector("cmd_set_rate_200", "SET_RATE 200 Hz", wire.OP_SET_RATE, 3, 200),
        command_vector(
            "cmd_set_rate_1000", "SET_RATE at its maximum, 1000 Hz", wire.OP_SET_RATE, 4, 1000
        ),
        command_vector("cmd_set_rate_1", "SET_RATE at its minimum, 1 Hz", wire.OP_SET_RATE, 5, 1),
        command_vector(
            "cmd_set_mode_quat", "SET_MODE quaternion", wire.OP_SET_MODE, 6, wire.MODE_QUAT
        ),
        command_vector(
            "cmd_set_mode_quat_raw",
            "SET_MODE quaternion + raw",
            wire.OP_SET_MODE,
            7,
            wire.MODE_QUAT_RAW,
        ),
        command_vector("cmd_identify_5s", "IDENTIFY for 5 s", wire.OP_IDENTIFY, 8, 5),
        command_vector("cmd_identify_stop", "IDENTIFY 0 s (stop)", wire.OP_IDENTIFY, 9, 0),
        command_vector(
            "cmd_time_ping",
            "TIME_PING with host token 0xDEADBEEF",
            wire.OP_TIME_PING,
            10,
            0xDEADBEEF,
        ),
        command_vector(
            "cmd_backfill",
            "BACKFILL 300 samples from seq 100000",
            wire.OP_BACKFILL,
            11,
            100_000,
            300,
        ),
        command_vector(
            "cmd_backfill_wrap",
            "BACKFILL across the seq wrap, maximum count, token 255",
            wire.OP_BACKFILL,
            255,
            U32 - 10,
            0xFFFF,
        ),
        command_vector("cmd_zero_at_rest", "ZERO_AT_REST", wire.OP_ZERO_AT_REST, 12),
        command_vector("cmd_get_status", "GET_STATUS, token 0", wire.OP_GET_STATUS, 0),
    ]


def _acks() -> list[Vector]:
    ok = wire.RESULT_OK
    return [
        ack_vector("ack_start_stream_ok", "START_STREAM OK", wire.OP_START_STREAM, 1, ok),
        ack_vector("ack_stop_stream_ok", "STOP_STREAM OK", wire.OP_STOP_STREAM, 2, ok),
        ack_vector("ack_set_rate_ok", "SET_RATE OK", wire.OP_SET_RATE, 3, ok),
        ack_vector(
            "ack_set_rate_bad_argument",
            "SET_RATE BAD_ARGUMENT",
            wire.OP_SET_RATE,
            4,
            wire.RESULT_BAD_ARGUMENT,
        ),
        ack_vector("ack_set_mode_ok", "SET_MODE OK", wire.OP_SET_MODE, 6, ok),
        ack_vector("ack_identify_ok", "IDENTIFY OK", wire.OP_IDENTIFY, 8, ok),
        ack_vector(
            "ack_time_ping_ok",
            "TIME_PING OK: host token echoed, board time at receipt",
            wire.OP_TIME_PING,
            10,
            ok,
            0xDEADBEEF,
            123_456_789,
        ),
        ack_vector(
            "ack_time_ping_wrap",
            "TIME_PING OK with board time 2**32-1",
            wire.OP_TIME_PING,
            13,
            ok,
            0,
            U32 - 1,
        ),
        ack_vector(
            "ack_backfill_ok_partial",
            "BACKFILL OK: fewer samples than asked, oldest ones already left the FIFO",
            wire.OP_BACKFILL,
            11,
            ok,
            100_050,
            250,
        ),
        ack_vector(
            "ack_backfill_unavailable",
            "BACKFILL UNAVAILABLE",
            wire.OP_BACKFILL,
            14,
            wire.RESULT_UNAVAILABLE,
        ),
        ack_vector(
            "ack_zero_at_rest_busy",
            "ZERO_AT_REST BUSY (board moving)",
            wire.OP_ZERO_AT_REST,
            12,
            wire.RESULT_BUSY,
        ),
        ack_vector("ack_zero_at_rest_ok", "ZERO_AT_REST OK", wire.OP_ZERO_AT_REST, 15, ok),
        ack_vector(
            "ack_get_status_ok",
            "GET_STATUS OK (the status frame follows)",
            wire.OP_GET_STATUS,
            0,
            ok,
        ),
        ack_vector(
            "ack_start_stream_not_permitted",
            "START_STREAM NOT_PERMITTED (unbonded link)",
            wire.OP_START_STREAM,
            16,
            wire.RESULT_NOT_PERMITTED,
        ),
        ack_vector(
            "ack_unknown_opcode_unsupported",
            "answer to unknown opcode 0x7F: UNSUPPORTED",
            0x7F,
            17,
            wire.RESULT_UNSUPPORTED,
        ),
    ]


def _statuses() -> list[Vector]:
    return [
        status_vector(
            "status_streaming",
            "status of a bonded board streaming quaternions at 200 Hz",
            board_id=0x1A2B,
            segment=wire.SEGMENT_THIGH_R,
            fw_major=1,
            fw_minor=2,
            fw_patch=3,
            battery_mv=3912,
            fifo_fill=150,
            fifo_capacity=2000,
            samples_dropped=0,
            temperature_centi_c=3125,
            rate_hz=200,
            mode=wire.MODE_QUAT,
            state=wire.STATE_STREAMING | wire.STATE_BONDED,
            newest_seq=123_456,
        ),
        status_vector(
            "status_extremes",
            "status with every state flag, negative temperature, counters at their maximum",
            board_id=0xFFFF,
            segment=wire.SEGMENT_SHANK_R,
            fw_major=255,
            fw_minor=255,
            fw_patch=255,
            battery_mv=0xFFFF,
            fifo_fill=0xFFFF,
            fifo_capacity=0xFFFF,
            samples_dropped=U32 - 1,
            temperature_centi_c=-1050,
            rate_hz=1000,
            mode=wire.MODE_QUAT_RAW,
            state=0x3F,
            newest_seq=U32 - 1,
        ),
        status_vector(
            "status_idle_unknown_temperature",
            "idle pelvis board in pairing mode, no temperature reading, nothing sampled yet",
            board_id=0,
            segment=wire.SEGMENT_PELVIS,
            fw_major=0,
            fw_minor=1,
            fw_patch=0,
            battery_mv=0,
            fifo_fill=0,
            fifo_capacity=1024,
            samples_dropped=0,
            temperature_centi_c=wire.TEMPERATURE_UNKNOWN,
            rate_hz=1,
            mode=wire.MODE_QUAT,
            state=wire.STATE_PAIRING_MODE | wire.STATE_CHARGING,
            newest_seq=0,
        ),
    ]


def _frame_hex(vectors: list[Vector], name: str) -> bytes:
    for v in vectors:
        if v["name"] == name:
            return bytes.fromhex(v["hex"])
    raise KeyError(name)


def _transport(frames: list[Vector]) -> list[Vector]:
    full_quat = _frame_hex(frames, "data_live_quat_15_full")
    full_raw = _frame_hex(frames, "data_live_raw_10_full")
    status = _frame_hex(frames, "status_streaming")
    command = _frame_hex(frames, "cmd_set_rate_200")
    ack = _frame_hex(frames, "ack_time_ping_ok")
    small = _frame_hex(frames, "data_live_quat_1_identity")
    f19 = bytes(range(1, 20))
    f20 = bytes(range(1, 21))
    return [
        ble_vector(
            "ble_mtu23_command_complete", "a 6-byte command in one packet at MTU 23", command, 23, 0
        ),
        ble_vector(
            "ble_mtu23_19_bytes_complete",
            "19 bytes + header = 20: still one packet at MTU 23",
            f19,
            23,
            5,
        ),
        ble_vector(
            "ble_mtu23_20_bytes_split", "20 bytes at MTU 23: first (19) + last (1)", f20, 23, 63
        ),
        ble_vector("ble_mtu23_status", "28-byte status at MTU 23: two packets", status, 23, 31),
        ble_vector(
            "ble_mtu23_quat_full",
            "241-byte data frame at MTU 23: 13 packets of 19 frame bytes, counter wraps 60 -> 8",
            full_quat,
            23,
            60,
        ),
        ble_vector("ble_mtu23_raw_full", "226-byte raw data frame at MTU 23", full_raw, 23, 0),
        ble_vector(
            "ble_mtu247_quat_full",
            "241-byte data frame at MTU 247: one 242-byte packet",
            full_quat,
            247,
            63,
        ),
        ble_vector(
            "ble_mtu247_raw_full",
            "226-byte raw data frame at MTU 247: one packet",
            full_raw,
            247,
            12,
        ),
        ble_vector(
            "ble_mtu100_quat_full",
            "241-byte data frame at MTU 100: 97-byte packets",
            full_quat,
            100,
            2,
        ),
        ble_vector(
            "ble_mtu517_quat_full",
            "MTU 517 behaves like 247 (payload capped at 244)",
            full_quat,
            517,
            7,
        ),
        serial_vector("serial_command", "SET_RATE command on the serial link", command),
        serial_vector("serial_ack", "TIME_PING ack on the serial link", ack),
        serial_vector(
            "serial_data_small", "one-sample data frame (many zero bytes) on the serial link", small
        ),
        serial_vector("serial_data_full", "241-byte data frame on the serial link", full_quat),
        serial_vector("serial_status", "status frame on the serial link", status),
        serial_vector(
            "serial_no_zero_bytes",
            "a frame without zero bytes: one COBS block",
            bytes(range(1, 40)),
        ),
        advertising_vector(
            "adv_thigh_r_1a2b", "advertising of board 0x1A2B on the right thigh", 0x1A2B, 2
        ),
        advertising_vector(
            "adv_pelvis_0000", "advertising of board 0x0000 on the pelvis", 0x0000, 0
        ),
        advertising_vector(
            "adv_shank_l_ffff", "advertising of board 0xFFFF on the left shank", 0xFFFF, 3
        ),
        scan_response_vector(
            "scan_thigh_r_1a2b", "scan response of board 0x1A2B, fw 1.2.3", 0x1A2B, 2, (1, 2, 3)
        ),
        scan_response_vector(
            "scan_shank_r_00c4",
            "scan response of board 0x00C4, fw 0.10.255",
            0x00C4,
            4,
            (0, 10, 255),
        ),
    ]


def _fixed_point() -> list[Vector]:
    items: list[tuple[str, str, float, str]] = [
        ("fx_q14_one", "float_to_q14", 1.0, "1.0 is 16384"),
        ("fx_q14_sqrt_half", "float_to_q14", 0.7071067811865476, "cos(45 deg) rounds to 11585"),
        ("fx_q14_negative", "float_to_q14", -0.25, "-0.25 is -4096"),
        ("fx_q14_clamp", "float_to_q14", 3.0, "3.0 clamps to 32767"),
        ("fx_q14_clamp_negative", "float_to_q14", -3.0, "-3.0 clamps to -32767, not -32768"),
        ("fx_gyr_1_rad_s", "gyr_rad_s_to_raw", 1.0, "1 rad/s is 938.7 LSB, rounds to 939"),
        (
            "fx_gyr_minus_100_deg_s",
            "gyr_rad_s_to_raw",
            -1.7453292519943295,
            "-100 deg/s is -1638.4 LSB",
        ),
        ("fx_gyr_clamp", "gyr_rad_s_to_raw", 40.0, "40 rad/s is beyond 2000 deg/s: clamps"),
        ("fx_acc_1_g", "acc_m_s2_to_raw", 9.80665, "1 g is 2048 LSB"),
        ("fx_acc_minus_half_g", "acc_m_s2_to_raw", -4.903325, "-0.5 g is -1024 LSB"),
        ("fx_acc_clamp", "acc_m_s2_to_raw", -200.0, "-200 m/s^2 is beyond -16 g: clamps"),
    ]
    return [fixed_point_vector(name, desc, fn, value) for name, fn, value, desc in items]


def build_vectors() -> list[Vector]:
    """All vectors this version of the generator produces, in file order."""
    frames = _data_frames() + _commands() + _acks() + _statuses()
    return frames + _transport(frames) + _fixed_point()


# ------------------------------------------------------------------------------------------
# File handling
# ------------------------------------------------------------------------------------------


def normalise(vector: Vector) -> Vector:
    """The vector as it reads back from JSON (tuples become lists, keys in file order)."""
    plain: Vector = json.loads(json.dumps(vector))
    return {k: plain[k] for k in KEY_ORDER if k in plain}


def dumps(vectors: list[Vector]) -> str:
    """Deterministic JSON: one key per line per vector, values compact."""
    blocks: list[str] = []
    for vector in vectors:
        lines = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in normalise(vector).items()]
        blocks.append("  {\n" + ",\n".join(lines) + "\n  }")
    return "[\n" + ",\n".join(blocks) + "\n]\n"


def load(path: Path) -> list[Vector]:
    """Read an existing vector file (an empty list if there is none)."""
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise SystemExit(f"{path}: expected a JSON list of vectors")
    return [dict(v) for v in data]  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]


def describe_difference(old: Vector, new: Vector) -> str:
    """Which top-level keys of a vector differ, old vs new."""
    parts: list[str] = []
    for key in KEY_ORDER:
        if old.get(key) != new.get(key):
            was, now = json.dumps(old.get(key)), json.dumps(new.get(key))
            parts.append(f"  {key}:\n    file:      {was}\n    generated: {now}")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Append new vectors to the file; refuse (status 1) to change existing ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="vector file")
    parser.add_argument("--check", action="store_true", help="only check; write nothing")
    options = parser.parse_args(argv)
    path: Path = options.path

    existing = load(path)
    by_name: dict[str, Vector] = {}
    for vector in existing:
        name = vector.get("name")
        if not isinstance(name, str) or name in by_name:
            print(
                f"{path}: vector names must be unique strings, found {name!r} twice or missing",
                file=sys.stderr,
            )
            return 1
        by_name[name] = vector

    generated = [normalise(v) for v in build_vectors()]
    changed: list[str] = []
    new: list[Vector] = []
    seen: set[str] = set()
    for vector in generated:
        name = vector["name"]
        if name in seen:
            print(f"generator defines vector {name!r} twice", file=sys.stderr)
            return 1
        seen.add(name)
        if name not in by_name:
            new.append(vector)
        elif normalise(by_name[name]) != vector:
            changed.append(f"{name}:\n{describe_difference(normalise(by_name[name]), vector)}")

    if changed:
        print(
            f"refusing to change {len(changed)} existing vector(s) in {path}: old vectors are "
            "never edited. If the wire format changed, bump PROTOCOL_VERSION and add vectors "
            "with new names.\n" + "\n".join(changed),
            file=sys.stderr,
        )
        return 1
    orphans = sorted(set(by_name) - seen)
    if orphans:
        print(
            f"note: {len(orphans)} vector(s) in the file are no longer generated (kept): {orphans}"
        )
    if options.check:
        if new:
            print(f"{path} lacks {len(new)} vector(s): {[v['name'] for v in new]}", file=sys.stderr)
            return 1
        print(f"{path}: {len(existing)} vectors, up to date")
        return 0
    if not new:
        print(f"{path}: {len(existing)} vectors, nothing to add")
        return 0
    path.write_text(dumps(existing + new), encoding="utf-8")
    print(f"{path}: appended {len(new)} vector(s), {len(existing) + len(new)} in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
