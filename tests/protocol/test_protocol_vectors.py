"""Golden vectors: encoders give the bytes, decoders give the fields, on CPython and MicroPython.

Three independent views of ``vectors.json``:

* :mod:`coxa.wire` on CPython (encode and decode every vector, per-vector test ids);
* a reading of the bytes written straight from the spec with :mod:`struct`, :mod:`uuid` and a
  bitwise CRC, not using :mod:`coxa.wire` at all (so a consistent but wrong encoder/decoder pair
  cannot pass);
* ``mp_check_vectors.py`` under the MicroPython unix port, importing the very same wire.py.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from coxa import wire
from tests.support.micropython import run_micropython

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VECTORS_PATH = HERE / "vectors.json"
MP_SCRIPT = HERE / "mp_check_vectors.py"
WIRE_DIR = ROOT / "host" / "coxa"

Vector = dict[str, Any]
VECTORS: list[Vector] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
SUMMARY = re.compile(r"^VECTORS_CHECKED (\d+) FAILED (\d+) TOTAL (\d+)$", re.MULTILINE)

STATUS_FIELDS = wire.STATUS_FIELD_NAMES


def _of_type(vtype: str) -> list[Vector]:
    return [v for v in VECTORS if v["type"] == vtype]


def _params(vtype: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in _of_type(vtype)]


# ------------------------------------------------------------------------------------------
# The file itself
# ------------------------------------------------------------------------------------------


def test_vector_names_unique_and_complete() -> None:
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names)), "duplicate vector names"
    for v in VECTORS:
        assert v["protocol_version"] == wire.PROTOCOL_VERSION
        assert v["description"], v["name"]
        assert ("packets" in v) == (v["type"] == "ble_fragments"), v["name"]
        assert ("hex" in v) != (v["type"] == "ble_fragments"), v["name"]


def test_vectors_cover_the_protocol() -> None:
    data = [v["fields"] for v in _of_type("data")]
    assert {(f["kind"], f["raw"]) for f in data} == {
        (wire.KIND_DATA_LIVE, False),
        (wire.KIND_DATA_LIVE, True),
        (wire.KIND_DATA_BACKFILL, False),
        (wire.KIND_DATA_BACKFILL, True),
    }
    assert any(f["count"] == wire.MAX_SAMPLES_QUAT and not f["raw"] for f in data)
    assert any(f["count"] == wire.MAX_SAMPLES_RAW and f["raw"] for f in data)
    # wrap-around of seq and time inside a multi-sample frame
    assert any(f["samples"][-1]["seq"] < f["seq0"] for f in data)
    assert any(f["samples"][-1]["t_us"] < f["t0_us"] for f in data)
    for flag in (
        wire.SAMPLE_AT_REST,
        wire.SAMPLE_GYR_CLIPPED,
        wire.SAMPLE_ACC_CLIPPED,
        wire.SAMPLE_FILTER_RESET,
    ):
        assert any(s["flags"] & flag for f in data for s in f["samples"])
    assert {v["fields"]["opcode"] for v in _of_type("command")} == set(wire.COMMAND_ARGS)
    acks = [v["fields"] for v in _of_type("ack")]
    assert {f["opcode"] for f in acks if f["result"] == wire.RESULT_OK} == set(wire.COMMAND_ARGS)
    assert {f["result"] for f in acks} == set(wire.RESULT_NAMES)
    assert any(f["opcode"] not in wire.COMMAND_ARGS for f in acks)
    assert _of_type("status")
    mtus = {v["fields"]["att_mtu"] for v in _of_type("ble_fragments")}
    assert {23, 247} <= mtus
    assert any(len(v["packets"]) > 1 for v in _of_type("ble_fragments"))
    assert any(
        v["fields"]["next_counter"] < v["fields"]["counter"] for v in _of_type("ble_fragments")
    )
    assert _of_type("serial")
    assert _of_type("advertising")
    assert _of_type("scan_response")


def test_vector_file_is_what_the_generator_makes() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_vectors.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------
# coxa.wire on CPython, both ways
# ------------------------------------------------------------------------------------------


def _flat(samples: list[dict[str, Any]], key: str) -> list[int]:
    return [x for s in samples for x in s[key]]


@pytest.mark.parametrize("v", _params("data"))
def test_data_vector(v: Vector) -> None:
    f = v["fields"]
    data = bytes.fromhex(v["hex"])
    samples = f["samples"]
    frame = wire.DataFrame(
        f["kind"],
        f["board_id"],
        f["seq0"],
        f["t0_us"],
        f["period_us"],
        _flat(samples, "quat_q14"),
        _flat(samples, "gyr_raw"),
        [s["flags"] for s in samples],
        _flat(samples, "acc_raw") if f["raw"] else None,
    )
    assert frame.encode() == data
    got = wire.decode_frame(data)
    assert isinstance(got, wire.DataFrame)
    assert got == frame
    assert (got.kind, got.board_id, got.seq0, got.t0_us, got.period_us, got.count, got.raw) == (
        f["kind"],
        f["board_id"],
        f["seq0"],
        f["t0_us"],
        f["period_us"],
        f["count"],
        f["raw"],
    )
    for i, s in enumerate(samples):
        assert got.sample_seq(i) == s["seq"]
        assert got.sample_t_us(i) == s["t_us"]
        assert got.quat_q14[4 * i : 4 * i + 4] == s["quat_q14"]
        assert got.gyr_raw[3 * i : 3 * i + 3] == s["gyr_raw"]
        assert got.flags[i] == s["flags"]
        if f["raw"]:
            assert got.acc_raw is not None
            assert got.acc_raw[3 * i : 3 * i + 3] == s["acc_raw"]
    if not f["raw"]:
        assert got.acc_raw is None


@pytest.mark.parametrize("v", _params("command"))
def test_command_vector(v: Vector) -> None:
    f = v["fields"]
    data = bytes.fromhex(v["hex"])
    names = [spec[0] for spec in wire.COMMAND_ARGS[f["opcode"]]]
    assert sorted(names) == sorted(f["args"])
    args = [f["args"][n] for n in names]
    assert wire.encode_command(f["opcode"], f["token"], *args) == data
    got = wire.decode_frame(data)
    assert isinstance(got, wire.Command)
    assert (got.opcode, got.name, got.token) == (f["opcode"], f["opcode_name"], f["token"])
    assert {n: got.arg(n) for n in got.arg_names()} == f["args"]


@pytest.mark.parametrize("v", _params("ack"))
def test_ack_vector(v: Vector) -> None:
    f = v["fields"]
    data = bytes.fromhex(v["hex"])
    specs = wire.ACK_ARGS.get(f["opcode"], ()) if f["result"] == wire.RESULT_OK else ()
    args = [f["args"][spec[0]] for spec in specs]
    assert len(args) == len(f["args"])
    assert wire.encode_ack(f["opcode"], f["token"], f["result"], *args) == data
    got = wire.decode_frame(data)
    assert isinstance(got, wire.Ack)
    assert (got.opcode, got.token, got.result, got.result_name) == (
        f["opcode"],
        f["token"],
        f["result"],
        f["result_name"],
    )
    assert {n: got.arg(n) for n in got.arg_names()} == f["args"]


@pytest.mark.parametrize("v", _params("status"))
def test_status_vector(v: Vector) -> None:
    f = v["fields"]
    data = bytes.fromhex(v["hex"])
    assert wire.encode_status(*(f[k] for k in STATUS_FIELDS)) == data
    got = wire.decode_frame(data)
    assert isinstance(got, wire.Status)
    assert {k: getattr(got, k) for k in STATUS_FIELDS} == {k: f[k] for k in STATUS_FIELDS}


@pytest.mark.parametrize("v", _params("ble_fragments"))
def test_ble_vector(v: Vector) -> None:
    f = v["fields"]
    frame = bytes.fromhex(f["frame_hex"])
    packets = [bytes.fromhex(p) for p in v["packets"]]
    assert wire.fragment(frame, f["att_mtu"], f["counter"]) == (packets, f["next_counter"])
    r = wire.Reassembler()
    assert [r.push(p) for p in packets] == [None] * (len(packets) - 1) + [frame]


@pytest.mark.parametrize("v", _params("serial"))
def test_serial_vector(v: Vector) -> None:
    f = v["fields"]
    frame = bytes.fromhex(f["frame_hex"])
    data = bytes.fromhex(v["hex"])
    assert wire.crc16_ccitt_false(frame) == f["crc"]
    assert wire.serial_encode(frame) == data
    assert wire.SerialDeframer().feed(data) == [frame]


@pytest.mark.parametrize("v", _params("advertising"))
def test_advertising_vector(v: Vector) -> None:
    f = v["fields"]
    data = bytes.fromhex(v["hex"])
    assert wire.encode_advertising(f["board_id"], f["segment"]) == data
    assert wire.parse_advertising(data) == (f["board_id"], f["segment"])
    assert wire.board_name(f["board_id"], f["segment"]) == f["name"]


@pytest.mark.parametrize("v", _params("scan_response"))
def test_scan_response_vector(v: Vector) -> None:
    f = v["fields"]
    data = bytes.fromhex(v["hex"])
    fw = (f["fw_major"], f["fw_minor"], f["fw_patch"])
    assert wire.encode_scan_response(f["board_id"], f["segment"], *fw) == data
    got = wire.parse_scan_response(data)
    assert (got.protocol_version, got.board_id, got.segment) == (
        f["protocol_version"],
        f["board_id"],
        f["segment"],
    )
    assert (got.fw_major, got.fw_minor, got.fw_patch) == fw


@pytest.mark.parametrize("v", _params("fixed_point"))
def test_fixed_point_vector(v: Vector) -> None:
    f = v["fields"]
    raw = getattr(wire, f["function"])(f["value"])
    assert raw == f["raw"]
    assert struct.pack("<h", raw).hex() == v["hex"]


# ------------------------------------------------------------------------------------------
# The bytes read straight from the spec, without coxa.wire
# ------------------------------------------------------------------------------------------


def _crc_bitwise(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        assert code != 0
        out += data[i + 1 : i + code]
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def _ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        n = data[i]
        out.append((data[i + 1], data[i + 2 : i + 1 + n]))
        i += 1 + n
    assert i == len(data)
    return out


SPEC_COMMAND_ARGS = {1: "", 2: "", 3: "H", 4: "B", 5: "B", 6: "I", 7: "IH", 8: "", 9: ""}
SPEC_ACK_ARGS = {6: "II", 7: "IH"}
SPEC_SEGMENT_CODES = ["PV", "TL", "TR", "SL", "SR"]


def test_crc_reference_value() -> None:
    assert _crc_bitwise(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
    assert wire.crc16_ccitt_false(b"123456789") == 0x29B1


@pytest.mark.parametrize("v", [pytest.param(v, id=v["name"]) for v in VECTORS])
def test_vector_matches_spec_layout(v: Vector) -> None:
    """Read each vector's bytes with layouts copied from the spec (no coxa.wire)."""
    f = v["fields"]
    vtype = v["type"]
    if vtype == "data":
        data = bytes.fromhex(v["hex"])
        header = struct.unpack_from("<BBHIIHBB", data)
        count = header[6]
        size = 21 if header[7] == 1 else 15
        assert header == (
            1,
            f["kind"],
            f["board_id"],
            f["seq0"],
            f["t0_us"],
            f["period_us"],
            count,
            int(f["raw"]),
        )
        assert len(data) == 16 + count * size <= 243
        for i, s in enumerate(f["samples"]):
            fmt = "<4h3hB3h" if f["raw"] else "<4h3hB"
            values = struct.unpack_from(fmt, data, 16 + i * size)
            assert list(values[0:4]) == s["quat_q14"]
            assert list(values[4:7]) == s["gyr_raw"]
            assert values[7] == s["flags"]
            if f["raw"]:
                assert list(values[8:11]) == s["acc_raw"]
            assert s["seq"] == (f["seq0"] + i) % 2**32
            assert s["t_us"] == (f["t0_us"] + i * f["period_us"]) % 2**32
    elif vtype == "command":
        data = bytes.fromhex(v["hex"])
        fmt = "<BBBB" + SPEC_COMMAND_ARGS[f["opcode"]]
        assert len(data) == struct.calcsize(fmt)
        values = struct.unpack(fmt, data)
        assert values[:4] == (1, 0x10, f["opcode"], f["token"])
        assert sorted(values[4:]) == sorted(f["args"].values())
    elif vtype == "ack":
        data = bytes.fromhex(v["hex"])
        extra = SPEC_ACK_ARGS.get(f["opcode"], "") if f["result"] == 0 else ""
        fmt = "<BBBBB" + extra
        assert len(data) == struct.calcsize(fmt)
        values = struct.unpack(fmt, data)
        assert values[:5] == (1, 0x11, f["opcode"], f["token"], f["result"])
        assert sorted(values[5:]) == sorted(f["args"].values())
    elif vtype == "status":
        data = bytes.fromhex(v["hex"])
        assert len(data) == 28
        values = struct.unpack("<BBHBBBBHHHIhHBBI", data)
        assert values == (1, 0x20, *(f[k] for k in STATUS_FIELDS))
    elif vtype == "ble_fragments":
        frame = bytes.fromhex(f["frame_hex"])
        packets = [bytes.fromhex(p) for p in v["packets"]]
        payload = min(f["att_mtu"], 247) - 3
        assert all(len(p) <= payload for p in packets)
        assert b"".join(p[1:] for p in packets) == frame
        positions = [p[0] >> 6 for p in packets]
        if len(frame) + 1 <= payload:
            assert positions == [0]
        else:
            assert positions == [1] + [2] * (len(packets) - 2) + [3]
            assert all(len(p) == payload for p in packets[:-1])
        counters = [p[0] & 63 for p in packets]
        assert counters == [(f["counter"] + i) % 64 for i in range(len(packets))]
        assert f["next_counter"] == (f["counter"] + len(packets)) % 64
    elif vtype == "serial":
        data = bytes.fromhex(v["hex"])
        frame = bytes.fromhex(f["frame_hex"])
        assert data[-1] == 0
        assert 0 not in data[:-1]
        decoded = _cobs_decode(data[:-1])
        assert decoded[:-2] == frame
        assert int.from_bytes(decoded[-2:], "little") == _crc_bitwise(frame) == f["crc"]
    elif vtype == "advertising":
        data = bytes.fromhex(v["hex"])
        assert len(data) == 31
        name = "cx" + SPEC_SEGMENT_CODES[f["segment"]] + f"{f['board_id']:04X}"
        service = uuid.UUID("0c0a0001-5e11-4a7e-9b1d-3f6c8e2a1b40").bytes[::-1]
        assert _ad_structures(data) == [(0x01, b"\x06"), (0x07, service), (0x09, name.encode())]
        assert f["name"] == name
    elif vtype == "scan_response":
        data = bytes.fromhex(v["hex"])
        ads = _ad_structures(data)
        assert len(ads) == 1
        assert ads[0][0] == 0xFF
        values = struct.unpack("<H2sBHBBBB", ads[0][1])
        assert values == (
            0xFFFF,
            b"cx",
            1,
            f["board_id"],
            f["segment"],
            f["fw_major"],
            f["fw_minor"],
            f["fw_patch"],
        )
    elif vtype == "fixed_point":
        scale = {
            "float_to_q14": 16384.0,
            "gyr_rad_s_to_raw": 32768.0 / 2000.0 * 180.0 / 3.141592653589793,
            "acc_m_s2_to_raw": 2048.0 / 9.80665,
        }[f["function"]]
        exact = f["value"] * scale
        want = max(-32767, min(32767, int(exact + 0.5) if exact >= 0 else -int(0.5 - exact)))
        assert f["raw"] == want
    else:
        pytest.fail(f"unknown vector type {vtype}")


# ------------------------------------------------------------------------------------------
# docs/protocol.md quotes vectors; the quotes must stay true
# ------------------------------------------------------------------------------------------

DOC_PATH = ROOT / "docs" / "protocol.md"
DOC_VECTOR = re.compile(r"<!-- vector: (\w+) -->\s*```text\n(.*?)```", re.DOTALL)


def test_protocol_doc_hex_matches_vectors() -> None:
    quoted = DOC_VECTOR.findall(DOC_PATH.read_text(encoding="utf-8"))
    assert len(quoted) >= 8
    by_name = {v["name"]: v for v in VECTORS}
    for name, block in quoted:
        v = by_name[name]
        lines = [line.replace(" ", "") for line in block.strip().splitlines()]
        if v["type"] == "ble_fragments":
            assert lines == v["packets"], name
        else:
            assert "".join(lines) == v["hex"], name


# ------------------------------------------------------------------------------------------
# MicroPython: the very same wire.py
# ------------------------------------------------------------------------------------------


def _summary(stdout: str) -> tuple[int, int, int]:
    m = SUMMARY.search(stdout)
    assert m is not None, f"no summary line in output:\n{stdout}"
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


@pytest.mark.micropython
def test_vectors_on_micropython() -> None:
    out = run_micropython(MP_SCRIPT, WIRE_DIR, args=[str(VECTORS_PATH)])
    checked, failed, total = _summary(out)
    assert (checked, failed, total) == (len(VECTORS), 0, len(VECTORS)), out


def test_check_script_on_cpython() -> None:
    """The MicroPython script also runs on CPython (so a failure there is not the script)."""
    proc = subprocess.run(
        [sys.executable, str(MP_SCRIPT), str(VECTORS_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _summary(proc.stdout) == (len(VECTORS), 0, len(VECTORS))


@pytest.mark.micropython
def test_check_script_catches_bad_vectors(tmp_path: Path) -> None:
    """The MicroPython check fails when bytes or fields are wrong (it is not a tautology)."""
    tampered = json.loads(json.dumps(VECTORS))
    by_name = {v["name"]: v for v in tampered}
    by_name["cmd_set_rate_200"]["hex"] = by_name["cmd_set_rate_200"]["hex"][:-2] + "ff"
    by_name["data_live_quat_wrap"]["fields"]["samples"][3]["t_us"] += 1
    by_name["ble_mtu23_status"]["packets"][0] = "00" + by_name["ble_mtu23_status"]["packets"][0][2:]
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(tampered), encoding="utf-8")
    with pytest.raises(AssertionError) as info:
        run_micropython(MP_SCRIPT, WIRE_DIR, args=[str(path)])
    message = str(info.value)
    for name in ("cmd_set_rate_200", "data_live_quat_wrap", "ble_mtu23_status"):
        assert f"FAIL {name}:" in message
    assert f"VECTORS_CHECKED {len(VECTORS) - 3} FAILED 3 TOTAL {len(VECTORS)}" in message
