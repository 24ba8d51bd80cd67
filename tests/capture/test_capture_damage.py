"""Damaged captures: bad headers raise CaptureError; damaged records are reported, never raised,
and every intact record is still returned unchanged."""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.capture import (
    FORMAT_VERSION,
    MAGIC,
    MAX_PAYLOAD_BYTES,
    RECORD_MARKER,
    RECORD_OVERHEAD,
    CaptureError,
    CaptureRecord,
    Damage,
    encode_header,
    iter_capture,
    read_capture,
)
from coxa.capture._reader import Capture
from tests.capture.strategies import (
    FIXED_METADATA,
    FIXED_RECORDS,
    METADATA,
    RECORDS,
    record_offsets,
    write,
)


@pytest.fixture(scope="module")
def fixed_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[int]]:
    """Bytes of a capture of FIXED_RECORDS and its record offsets (end of file last)."""
    path = tmp_path_factory.mktemp("capture") / "fixed.coxa"
    write(path, FIXED_RECORDS, FIXED_METADATA)
    header_bytes = read_capture(path).report.header_bytes
    return path.read_bytes(), record_offsets(header_bytes, FIXED_RECORDS)


def _read_bytes(data: bytes) -> Capture:
    """Read ``data`` as a capture file; streamed and whole reading must agree."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.coxa"
        path.write_bytes(data)
        capture = read_capture(path)
        with iter_capture(path) as stream:
            assert list(stream) == capture.records
            assert stream.report == capture.report
    _check_accounting(capture)
    return capture


def _check_accounting(capture: Capture) -> None:
    """Every byte of the file is header, an intact record, or in a reported damaged span."""
    report = capture.report
    assert report.complete
    assert report.records == len(capture.records)
    spans = [d.bytes_skipped for d in report.damaged]
    tail = 0 if report.tail is None else report.tail.bytes_skipped
    record_bytes = sum(RECORD_OVERHEAD + len(r.payload) for r in capture.records)
    assert report.header_bytes + record_bytes + sum(spans) + tail == report.file_bytes


def _is_subsequence(found: list[CaptureRecord], original: list[CaptureRecord]) -> bool:
    remaining = iter(original)
    return all(any(r == o for o in remaining) for r in found)


# ---- bad headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89COX",
        b"hello world, this is not a capture at all",
        b"\x89PNG\r\n\x1a\n" + bytes(40),
    ],
)
def test_not_a_capture_raises_naming_the_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "other.coxa"
    path.write_bytes(data)
    with pytest.raises(CaptureError, match=r"other\.coxa"):
        read_capture(path)


def test_unknown_version_is_named(tmp_path: Path) -> None:
    header = bytearray(encode_header({}, 0))
    struct.pack_into("<H", header, len(MAGIC), FORMAT_VERSION + 1)
    path = tmp_path / "future.coxa"
    path.write_bytes(bytes(header))
    with pytest.raises(CaptureError, match=f"version {FORMAT_VERSION + 1}"):
        read_capture(path)


@pytest.mark.parametrize(
    ("blob", "match"),
    [(b"[1, 2]", "not a JSON object"), (b"\xff\xfe", "UTF-8 JSON"), (b"{", "UTF-8 JSON")],
)
def test_metadata_that_is_not_a_json_object_is_refused(
    tmp_path: Path, blob: bytes, match: str
) -> None:
    head = struct.pack("<8sHHqI", MAGIC, FORMAT_VERSION, 0, 0, len(blob)) + blob
    path = tmp_path / "m.coxa"
    path.write_bytes(head + struct.pack("<I", zlib.crc32(head)))
    with pytest.raises(CaptureError, match=match):
        read_capture(path)


def test_any_header_truncation_or_bit_flip_raises_capture_error(
    tmp_path: Path, fixed_capture: tuple[bytes, list[int]]
) -> None:
    data, offsets = fixed_capture
    header_bytes = offsets[0]
    path = tmp_path / "h.coxa"
    for cut in range(header_bytes):
        path.write_bytes(data[:cut])
        with pytest.raises(CaptureError):
            read_capture(path)
        path.unlink()
    for bit in range(header_bytes * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(flipped))
        with pytest.raises(CaptureError):
            read_capture(path)
        path.unlink()


# ---- damaged records --------------------------------------------------------------------------


def test_truncation_anywhere_keeps_every_whole_record(
    fixed_capture: tuple[bytes, list[int]],
) -> None:
    data, offsets = fixed_capture
    for cut in range(offsets[0], len(data) + 1):
        capture = _read_bytes(data[:cut])
        whole = sum(1 for end in offsets[1:] if end <= cut)
        assert capture.records == FIXED_RECORDS[:whole]
        assert capture.report.damaged == ()
        if cut in offsets:
            assert capture.report.tail is None
            assert capture.report.clean
        else:
            assert capture.report.truncated_at == offsets[whole]
            assert capture.report.tail == Damage(
                offsets[whole],
                whole,
                cut - offsets[whole],
                "record runs past the end of the file",
            )


def test_a_bit_flip_anywhere_in_the_records_loses_exactly_that_record(
    fixed_capture: tuple[bytes, list[int]],
) -> None:
    data, offsets = fixed_capture
    last = len(FIXED_RECORDS) - 1
    # Every byte of every record, each with another bit (all bits of every byte: 8x the time).
    for at in range(offsets[0], len(data)):
        flipped = bytearray(data)
        flipped[at] ^= 1 << (at % 8)
        capture = _read_bytes(bytes(flipped))
        hit = max(i for i, start in enumerate(offsets[:-1]) if start <= at)
        assert capture.records == FIXED_RECORDS[:hit] + FIXED_RECORDS[hit + 1 :]
        expected = (offsets[hit], hit, offsets[hit + 1] - offsets[hit])
        if hit == last:
            assert capture.report.damaged == ()
            tail = capture.report.tail
            assert tail is not None
            assert (tail.offset, tail.record_index, tail.bytes_skipped) == expected
        else:
            assert capture.report.tail is None
            (damage,) = capture.report.damaged
            assert (damage.offset, damage.record_index, damage.bytes_skipped) == expected


@settings(max_examples=100)
@given(st.binary(min_size=1, max_size=600))
def test_garbage_appended_is_a_reported_tail(
    fixed_capture: tuple[bytes, list[int]], garbage: bytes
) -> None:
    data, _ = fixed_capture
    capture = _read_bytes(data + garbage)
    assert capture.records == FIXED_RECORDS
    assert capture.report.damaged == ()
    assert capture.report.tail is not None
    assert capture.report.tail.offset == len(data)
    assert capture.report.tail.bytes_skipped == len(garbage)
    assert capture.report.tail.record_index == len(FIXED_RECORDS)


@pytest.mark.parametrize("zeros", [1, 23, 24, 4096])
def test_zero_filled_tail_after_a_crash_is_dropped(
    fixed_capture: tuple[bytes, list[int]], zeros: int
) -> None:
    data, _ = fixed_capture
    capture = _read_bytes(data + bytes(zeros))
    assert capture.records == FIXED_RECORDS
    assert capture.report.tail == Damage(len(data), len(FIXED_RECORDS), zeros, "no record marker")


@settings(max_examples=100)
@given(st.binary(min_size=1, max_size=600), st.integers(0, len(FIXED_RECORDS) - 1))
def test_garbage_between_records_is_skipped_and_reported(
    fixed_capture: tuple[bytes, list[int]], garbage: bytes, index: int
) -> None:
    data, offsets = fixed_capture
    at = offsets[index]
    capture = _read_bytes(data[:at] + garbage + data[at:])
    assert capture.records == FIXED_RECORDS
    assert capture.report.tail is None
    (damage,) = capture.report.damaged
    assert (damage.offset, damage.record_index, damage.bytes_skipped) == (at, index, len(garbage))


@st.composite
def _damaged_captures(draw: st.DrawFn) -> tuple[list[CaptureRecord], dict[str, Any], list[Any]]:
    records = draw(st.lists(RECORDS, max_size=12))
    metadata = draw(METADATA)
    damage = draw(
        st.lists(
            st.tuples(st.sampled_from(["flip", "cut", "append", "insert"]), st.integers(0, 2**32)),
            max_size=4,
        )
    )
    garbage = draw(st.lists(st.binary(min_size=1, max_size=64), min_size=4, max_size=4))
    return records, metadata, [damage, garbage]


@settings(max_examples=200)
@given(_damaged_captures())
def test_fuzzed_damage_never_crashes_and_keeps_intact_records(
    case: tuple[list[CaptureRecord], dict[str, Any], list[Any]],
) -> None:
    records, metadata, (damage, garbage) = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "o.coxa"
        write(path, records, metadata)
        original = path.read_bytes()
    offsets = record_offsets(len(encode_header(metadata, 0)), records)
    assert offsets[-1] == len(original)
    data = bytearray(original)
    first_damage = len(original)  # first byte offset that no longer holds the original byte
    for (op, where), junk in zip(damage, garbage, strict=False):
        if op == "flip":
            if not data:
                continue
            pos = where % len(data)
            data[pos] ^= 1 << (where % 8)
        elif op == "cut":
            pos = where % (len(data) + 1)
            del data[pos:]
        elif op == "append":
            pos = len(data)
            data += junk
        else:
            pos = where % (len(data) + 1)
            data[pos:pos] = junk
        first_damage = min(first_damage, pos)
    if first_damage < offsets[0]:
        try:
            _read_bytes(bytes(data))
        except CaptureError:
            return
        # Damage that only appended to the header region can leave it intact.
        assert bytes(data[: offsets[0]]) == original[: offsets[0]]
        return
    capture = _read_bytes(bytes(data))
    assert capture.metadata == metadata
    intact = sum(1 for end in offsets[1:] if end <= first_damage)
    assert capture.records[:intact] == records[:intact]
    assert _is_subsequence(capture.records, records)
    if bytes(data) == original:
        assert capture.report.clean
        assert capture.records == records


@settings(max_examples=200)
@given(st.binary(max_size=400), st.sampled_from([b"", MAGIC, encode_header({}, 0)]))
def test_random_bytes_raise_capture_error_or_read_as_nothing(body: bytes, prefix: bytes) -> None:
    try:
        capture = _read_bytes(prefix + body)
    except CaptureError:
        assert prefix != encode_header({}, 0)
        return
    assert capture.records == []
    assert capture.report.clean == (body == b"")


def _record_bytes(t_rx_ns: int, link_id: int, kind: int, payload: bytes) -> bytes:
    """One record laid out by hand from the table in docs/capture.md."""
    head = RECORD_MARKER + struct.pack("<IqHBB", len(payload), t_rx_ns, link_id, kind, 0)
    return head + payload + struct.pack("<I", zlib.crc32(head + payload))


def test_a_record_inside_a_damaged_payload_is_not_taken_for_a_real_one(tmp_path: Path) -> None:
    inner = _record_bytes(99, 9, 1, b"inner")
    outer = CaptureRecord(1, 2, 1, b"serial chunk holding " + inner + b" and more")
    after = CaptureRecord(3, 2, 1, b"next")
    path = tmp_path / "s.coxa"
    write(path, [outer, after], {})
    data = bytearray(path.read_bytes())
    start = len(encode_header({}, 0))
    data[start + 20] ^= 0x01  # first payload byte of the outer record, before the inner one
    capture = _read_bytes(bytes(data))
    assert capture.records == [after]
    (damage,) = capture.report.damaged
    assert damage == Damage(start, 0, RECORD_OVERHEAD + len(outer.payload), "CRC mismatch")


def test_a_length_over_the_limit_is_never_believed(tmp_path: Path) -> None:
    header = encode_header({}, 0)
    too_long = _record_bytes(1, 2, 1, bytes(MAX_PAYLOAD_BYTES + 1))
    fine = _record_bytes(3, 4, 0, b"ok")
    capture = _read_bytes(header + too_long + fine)
    assert capture.records == [CaptureRecord(3, 4, 0, b"ok")]
    (damage,) = capture.report.damaged
    assert damage == Damage(len(header), 0, len(too_long), "payload length over the limit")
