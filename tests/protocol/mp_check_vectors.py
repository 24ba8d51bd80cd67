"""Check the golden vectors against wire.py, both ways, on MicroPython (or CPython).

Run by ``test_protocol_vectors.py`` under the MicroPython unix port with
``MICROPYPATH=.frozen:<repo>/host/coxa`` so that ``import wire`` loads the very file the host
package uses::

    micropython tests/protocol/mp_check_vectors.py tests/protocol/vectors.json

For every vector it encodes the fields (with the convenience encoders and with the
allocation-free ``*_into`` encoders the firmware uses) and compares the bytes, then decodes the
bytes and compares the fields; for frames it also checks that truncated, extended and
wrong-version copies raise ``ProtocolError``. It prints one ``FAIL <name>: <reason>`` line per
failing vector and, last, ``VECTORS_CHECKED <passed> FAILED <failed> TOTAL <total>``. The exit
status is 0 only if every vector passed. Only ``json``, ``sys`` and ``struct`` are used besides
wire.py, so the script runs unchanged on both runtimes.
"""

import json
import struct
import sys

try:
    import wire  # pyright: ignore[reportMissingImports]
except ImportError:  # CPython with the coxa package installed
    from coxa import wire


class MismatchError(Exception):
    """A vector did not match."""


def expect(what, got, want):
    if got != want:
        raise MismatchError(f"{what}: got {got!r}, want {want!r}")


def expect_error(what, fn, arg, error):
    try:
        fn(arg)
    except error:
        return
    raise MismatchError(f"{what}: no {error.__name__} raised")


def hexbytes(text):
    return bytes.fromhex(text)


def check_frame_errors(data):
    """Truncated, extended and other-version copies of a frame must be rejected."""
    expect_error("truncated by one byte", wire.decode_frame, data[:-1], wire.ProtocolError)
    expect_error("extended by one byte", wire.decode_frame, data + b"\x00", wire.ProtocolError)
    other = bytearray(data)
    other[0] = wire.PROTOCOL_VERSION + 1
    expect_error("other version", wire.decode_frame, bytes(other), wire.UnsupportedVersionError)


def check_data(v):
    f = v["fields"]
    data = hexbytes(v["hex"])
    samples = f["samples"]
    raw = f["raw"]
    quat = []
    gyr = []
    flags = []
    acc = [] if raw else None
    for s in samples:
        quat.extend(s["quat_q14"])
        gyr.extend(s["gyr_raw"])
        flags.append(s["flags"])
        if acc is not None:
            acc.extend(s["acc_raw"])
    frame = wire.DataFrame(
        f["kind"], f["board_id"], f["seq0"], f["t0_us"], f["period_us"], quat, gyr, flags, acc
    )
    expect("DataFrame.encode", frame.encode(), data)
    expect("size", wire.data_frame_bytes(f["count"], raw), len(data))
    # the firmware path: samples first, header last, into one preallocated buffer
    buf = bytearray(wire.MAX_FRAME_BYTES + 4)
    o = 2 + wire.DATA_HEADER_BYTES
    for s in samples:
        q = s["quat_q14"]
        g = s["gyr_raw"]
        if raw:
            a = s["acc_raw"]
            o = wire.sample_raw_into(
                buf, o, q[0], q[1], q[2], q[3], g[0], g[1], g[2], s["flags"], a[0], a[1], a[2]
            )
        else:
            o = wire.sample_into(buf, o, q[0], q[1], q[2], q[3], g[0], g[1], g[2], s["flags"])
    end = wire.data_header_into(
        buf, 2, f["kind"], f["board_id"], f["seq0"], f["t0_us"], f["period_us"], len(samples), raw
    )
    expect("data_header_into offset", end, 2 + wire.DATA_HEADER_BYTES)
    expect("*_into bytes", bytes(buf[2:o]), data)

    got = wire.decode_data_frame(data)
    expect("decode_frame", wire.decode_frame(data), got)
    expect("decoded type", type(wire.decode_frame(data)).__name__, "DataFrame")
    for key in ("kind", "board_id", "seq0", "t0_us", "period_us", "count", "raw"):
        expect(key, getattr(got, key), f[key])
    for i in range(len(samples)):
        s = samples[i]
        expect(f"sample {i} seq", got.sample_seq(i), s["seq"])
        expect(f"sample {i} t_us", got.sample_t_us(i), s["t_us"])
        expect(f"sample {i} quat_q14", got.quat_q14[4 * i : 4 * i + 4], s["quat_q14"])
        expect(f"sample {i} gyr_raw", got.gyr_raw[3 * i : 3 * i + 3], s["gyr_raw"])
        expect(f"sample {i} flags", got.flags[i], s["flags"])
        if got.acc_raw is not None:
            expect(f"sample {i} acc_raw", got.acc_raw[3 * i : 3 * i + 3], s["acc_raw"])
        else:
            expect(f"sample {i} acc_raw", None, s.get("acc_raw"))
    check_frame_errors(data)


def ordered_args(names, args):
    expect("argument names", sorted(names), sorted(args.keys()))
    return tuple([args[n] for n in names])


def check_command(v):
    f = v["fields"]
    data = hexbytes(v["hex"])
    spec = wire.COMMAND_ARGS[f["opcode"]]
    names = tuple([s[0] for s in spec])
    args = ordered_args(names, f["args"])
    expect("encode_command", wire.encode_command(f["opcode"], f["token"], *args), data)
    buf = bytearray(16)
    end = wire.command_into(buf, 1, f["opcode"], f["token"], *args)
    expect("command_into", bytes(buf[1:end]), data)
    got = wire.decode_command(data)
    expect("decode_frame", wire.decode_frame(data), got)
    expect("decoded type", type(wire.decode_frame(data)).__name__, "Command")
    expect("opcode", got.opcode, f["opcode"])
    expect("opcode name", got.name, f["opcode_name"])
    expect("token", got.token, f["token"])
    expect("args", got.args, args)
    for n in names:
        expect(f"arg {n}", got.arg(n), f["args"][n])
    expect("reject_command", wire.reject_command(data), None)
    check_frame_errors(data)


def check_ack(v):
    f = v["fields"]
    data = hexbytes(v["hex"])
    spec = wire.ACK_ARGS.get(f["opcode"], ()) if f["result"] == wire.RESULT_OK else ()
    names = tuple([s[0] for s in spec])
    args = ordered_args(names, f["args"])
    expect("encode_ack", wire.encode_ack(f["opcode"], f["token"], f["result"], *args), data)
    buf = bytearray(16)
    end = wire.ack_into(buf, 3, f["opcode"], f["token"], f["result"], *args)
    expect("ack_into", bytes(buf[3:end]), data)
    got = wire.decode_ack(data)
    expect("decode_frame", wire.decode_frame(data), got)
    expect("decoded type", type(wire.decode_frame(data)).__name__, "Ack")
    expect("opcode", got.opcode, f["opcode"])
    expect("token", got.token, f["token"])
    expect("result", got.result, f["result"])
    expect("result name", got.result_name, f["result_name"])
    expect("ok", got.ok, f["result"] == wire.RESULT_OK)
    expect("args", got.args, args)
    check_frame_errors(data)


STATUS_FIELDS = wire.STATUS_FIELD_NAMES


def check_status(v):
    f = v["fields"]
    data = hexbytes(v["hex"])
    values = tuple([f[k] for k in STATUS_FIELDS])
    expect("encode_status", wire.encode_status(*values), data)
    buf = bytearray(40)
    end = wire.status_into(buf, 5, *values)
    expect("status_into", bytes(buf[5:end]), data)
    got = wire.decode_status(data)
    expect("decode_frame", wire.decode_frame(data), got)
    expect("decoded type", type(wire.decode_frame(data)).__name__, "Status")
    for k in STATUS_FIELDS:
        expect(k, getattr(got, k), f[k])
    expect("fields()", got.fields(), values)
    check_frame_errors(data)


def check_ble(v):
    f = v["fields"]
    frame = hexbytes(f["frame_hex"])
    want = [hexbytes(p) for p in v["packets"]]
    packets, next_counter = wire.fragment(frame, f["att_mtu"], f["counter"])
    expect("fragment packets", packets, want)
    expect("next counter", next_counter, f["next_counter"])
    # the firmware path: packet_into over a frame held in a larger buffer
    big = bytearray(wire.MAX_FRAME_BYTES)
    big[0 : len(frame)] = frame
    buf = bytearray(wire.MAX_BLE_PAYLOAD_BYTES)
    start = 0
    counter = f["counter"]
    i = 0
    while start < len(frame):
        end = wire.packet_into(buf, 0, big, start, f["att_mtu"], counter, len(frame))
        expect(f"packet_into packet {i}", bytes(buf[:end]), want[i])
        start += end - 1
        counter = (counter + 1) % wire.PACKET_COUNTER_MODULO
        i += 1
    expect("packet_into count", i, len(want))
    r = wire.Reassembler()
    out = [r.push(p) for p in want]
    expect("reassembled", out, [None] * (len(want) - 1) + [frame])
    expect("lost packets", r.lost_packets, 0)
    expect("discarded frames", r.discarded_frames, 0)


def check_serial(v):
    f = v["fields"]
    frame = hexbytes(f["frame_hex"])
    data = hexbytes(v["hex"])
    expect("crc", wire.crc16_ccitt_false(frame), f["crc"])
    expect("serial_encode", wire.serial_encode(frame), data)
    buf = bytearray(260)
    end = wire.serial_encode_into(buf, 7, frame)
    expect("serial_encode_into", bytes(buf[7:end]), data)
    expect("serial_decode", wire.serial_decode(data), frame)
    d = wire.SerialDeframer()
    got = []
    for i in range(len(data)):
        got.extend(d.feed(data[i : i + 1]))
    got.extend(d.feed(data + data))
    expect("deframed", got, [frame, frame, frame])
    expect("deframer errors", d.errors, 0)


def check_advertising(v):
    f = v["fields"]
    data = hexbytes(v["hex"])
    expect("encode_advertising", wire.encode_advertising(f["board_id"], f["segment"]), data)
    expect("length", len(data), wire.ADV_BYTES)
    expect("board_name", wire.board_name(f["board_id"], f["segment"]), f["name"])
    expect("parse_board_name", wire.parse_board_name(f["name"]), (f["board_id"], f["segment"]))
    expect("parse_advertising", wire.parse_advertising(data), (f["board_id"], f["segment"]))


def check_scan_response(v):
    f = v["fields"]
    data = hexbytes(v["hex"])
    enc = wire.encode_scan_response(
        f["board_id"], f["segment"], f["fw_major"], f["fw_minor"], f["fw_patch"]
    )
    expect("encode_scan_response", enc, data)
    got = wire.parse_scan_response(data)
    for k in ("protocol_version", "board_id", "segment", "fw_major", "fw_minor", "fw_patch"):
        expect(k, getattr(got, k), f[k])


def check_fixed_point(v):
    f = v["fields"]
    raw = getattr(wire, f["function"])(f["value"])
    expect(f["function"], raw, f["raw"])
    expect("hex", struct.pack("<h", raw), hexbytes(v["hex"]))


CHECKS = {
    "data": check_data,
    "command": check_command,
    "ack": check_ack,
    "status": check_status,
    "ble_fragments": check_ble,
    "serial": check_serial,
    "advertising": check_advertising,
    "scan_response": check_scan_response,
    "fixed_point": check_fixed_point,
}


def main(path):
    with open(path) as fh:
        vectors = json.load(fh)
    passed = 0
    failed = 0
    names = set()
    for v in vectors:
        name = v.get("name")
        try:
            if name in names:
                raise MismatchError("duplicate vector name")
            names.add(name)
            if v.get("protocol_version") != wire.PROTOCOL_VERSION:
                raise MismatchError(f"vector is for protocol version {v.get('protocol_version')}")
            check = CHECKS.get(v.get("type"))
            if check is None:
                raise MismatchError(f"unknown vector type {v.get('type')!r}")
            check(v)
            passed += 1
        except Exception as e:  # report every failure, of any type, and go on
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"VECTORS_CHECKED {passed} FAILED {failed} TOTAL {len(vectors)}")
    return 0 if failed == 0 and passed == len(vectors) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
