"""Fuzzed decoders: arbitrary and damaged bytes never crash, only ProtocolError escapes.

One Hypothesis run of at least 10 000 examples feeds each input to every decoder, the BLE
reassembler and the serial deframer. Whatever a decoder accepts must re-encode to exactly the
input (the encoding is canonical). The stream parsers never raise for garbage.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coxa import wire
from tests.protocol.strategies import ATT_MTUS, COUNTERS

VECTORS = json.loads((Path(__file__).resolve().parent / "vectors.json").read_text(encoding="utf-8"))
#: valid encodings to damage: every frame, advertising and scan response vector
FRAMES = [
    bytes.fromhex(v["hex"]) for v in VECTORS if v["type"] in ("data", "command", "ack", "status")
]
VALID = FRAMES + [
    bytes.fromhex(v["hex"])
    for v in VECTORS
    if v["type"] in ("serial", "advertising", "scan_response")
]

EXAMPLES = 10_000
_runs = {"examples": 0}

KINDS = [0x01, 0x02, 0x10, 0x11, 0x20]

# inputs that start like a v1 frame of a known kind reach the deep decoder paths
headed = st.tuples(st.sampled_from(KINDS), st.binary(max_size=260)).map(
    lambda t: bytes([wire.PROTOCOL_VERSION, t[0]]) + t[1]
)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid encoding damaged by bit flips, truncation and/or extension."""
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    how = draw(st.sampled_from(["none", "truncate", "extend", "both"]))
    if how in ("truncate", "both"):
        data = data[: draw(st.integers(0, len(data)))]
    if how in ("extend", "both"):
        data += draw(st.binary(min_size=1, max_size=40))
    return bytes(data)


blobs = st.one_of(st.binary(max_size=300), headed, damaged())

raw_packets = st.lists(st.binary(max_size=250), max_size=10)


@st.composite
def damaged_fragment_streams(draw: st.DrawFn) -> list[bytes]:
    """Fragments of valid frames, then packets dropped, duplicated, swapped or bit-flipped."""
    packets: list[bytes] = []
    counter = draw(COUNTERS)
    mtu = draw(ATT_MTUS)
    for frame in draw(st.lists(st.sampled_from(FRAMES), min_size=1, max_size=3)):
        more, counter = wire.fragment(frame, mtu, counter)
        packets.extend(more)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(packets) - 1))
        action = draw(st.sampled_from(["drop", "dup", "swap", "flip"]))
        if action == "drop" and len(packets) > 1:
            del packets[i]
        elif action == "dup":
            packets.insert(i, packets[i])
        elif action == "swap":
            j = draw(st.integers(0, len(packets) - 1))
            packets[i], packets[j] = packets[j], packets[i]
        elif action == "flip":
            p = bytearray(packets[i])
            p[draw(st.integers(0, len(p) - 1))] ^= 1 << draw(st.integers(0, 7))
            packets[i] = bytes(p)
    return packets


DECODERS: list[Callable[[bytes], object]] = [
    wire.decode_frame,
    wire.decode_data_frame,
    wire.decode_command,
    wire.decode_ack,
    wire.decode_status,
    wire.frame_kind,
    wire.serial_decode,
    wire.parse_ad_structures,
    wire.parse_advertising,
    wire.parse_scan_response,
    wire.parse_manufacturer_data,
]


def _check_decoders(blob: bytes) -> None:
    for decode in DECODERS:
        with contextlib.suppress(wire.ProtocolError):
            decode(blob)
    try:
        frame = wire.decode_frame(blob)
    except wire.ProtocolError:
        ack = wire.reject_command(blob)  # never raises either
        if ack is not None:
            assert ack.result in (wire.RESULT_UNSUPPORTED, wire.RESULT_BAD_ARGUMENT)
    else:
        assert frame.encode() == blob, "accepted bytes must re-encode to themselves"
    try:
        name = blob.decode("ascii")
    except UnicodeDecodeError:
        return
    with contextlib.suppress(wire.ProtocolError):
        wire.parse_board_name(name)


def _check_reassembler(packets: list[bytes]) -> None:
    r = wire.Reassembler()
    for packet in packets:
        before = (r.lost_packets, r.discarded_frames, r.packets, r.frames)
        if len(packet) < 2:
            try:
                r.push(packet)
            except wire.ProtocolError:
                assert (r.lost_packets, r.discarded_frames, r.packets, r.frames) == before
                continue
            raise AssertionError("a packet without frame bytes must raise ProtocolError")
        frame = r.push(packet)  # any other exception fails the test
        if frame is not None:
            assert 1 <= len(frame) <= wire.MAX_FRAME_BYTES
        assert r.packets == before[2] + 1


def _check_deframer(blob: bytes, cuts: list[int]) -> None:
    d = wire.SerialDeframer()
    edges = sorted({0, len(blob), *(c % (len(blob) + 1) for c in cuts)})
    got: list[bytes] = []
    for a, b in itertools.pairwise(edges):
        got.extend(d.feed(blob[a:b]))
    # a good packet after the garbage (and a delimiter) always comes through, last
    marker = wire.encode_command(wire.OP_GET_STATUS, 0x5A)
    tail = d.feed(b"\x00" + wire.serial_encode(marker))
    assert tail[-1:] == [marker]
    # and every frame that came out was really sent (the 0x00 may end a pending packet)
    for frame in got + tail[:-1]:
        assert 1 <= len(frame) <= wire.MAX_FRAME_BYTES
        assert wire.serial_encode(frame) in blob + b"\x00"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    blob=blobs,
    packets=st.one_of(raw_packets, damaged_fragment_streams()),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def _fuzz_once(blob: bytes, packets: list[bytes], cuts: list[int]) -> None:
    _runs["examples"] += 1
    _check_decoders(blob)
    _check_reassembler(packets)
    _check_deframer(blob, cuts)
    _check_deframer(b"".join(packets), cuts)


def test_decoders_only_raise_protocol_error() -> None:
    _runs["examples"] = 0
    _fuzz_once()
    assert _runs["examples"] >= EXAMPLES, f"only {_runs['examples']} examples ran"
