"""Capture files: what is written is read back unchanged; the writer's rules and sync points."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.capture import (
    FORMAT_VERSION,
    MAX_PAYLOAD_BYTES,
    CaptureError,
    CaptureRecord,
    CaptureWriter,
    LinkKind,
    iter_capture,
    read_capture,
)
from tests.capture.strategies import (
    FIXED_METADATA,
    FIXED_RECORDS,
    METADATA,
    RECORDS,
    record_offsets,
    write,
)


@settings(max_examples=60)
@given(st.lists(RECORDS, max_size=30), METADATA, st.integers(-(2**63), 2**63 - 1))
def test_records_and_metadata_round_trip(
    records: list[CaptureRecord], metadata: dict[str, Any], created_wall_ns: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.coxa"
        with CaptureWriter(path, metadata, wall_clock_ns=lambda: created_wall_ns) as writer:
            for r in records:
                writer.append(*r)
        capture = read_capture(path)
        with iter_capture(path) as stream:
            streamed = list(stream)
            streamed_report = stream.report
        size = path.stat().st_size
    assert capture.records == records
    assert streamed == records
    assert capture.metadata == metadata
    assert capture.created_wall_ns == created_wall_ns
    assert capture.format_version == FORMAT_VERSION
    report = capture.report
    assert report == streamed_report
    assert report.clean
    assert report.records == len(records)
    assert report.payload_bytes == sum(len(r.payload) for r in records)
    assert report.file_bytes == size == writer.bytes_written == writer.synced_bytes
    assert record_offsets(report.header_bytes, records)[-1] == size


def test_empty_capture_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "empty.coxa"
    CaptureWriter(path, {}).close()
    capture = read_capture(path)
    assert capture.records == []
    assert capture.metadata == {}
    assert capture.report.clean
    assert capture.report.file_bytes == capture.report.header_bytes


def test_streaming_report_grows_and_close_releases(tmp_path: Path) -> None:
    path = tmp_path / "s.coxa"
    write(path, FIXED_RECORDS, FIXED_METADATA)
    offsets = record_offsets(read_capture(path).report.header_bytes, FIXED_RECORDS)
    stream = iter_capture(path)
    assert stream.metadata == FIXED_METADATA
    first, second = next(stream), next(stream)
    assert [first, second] == FIXED_RECORDS[:2]
    partial = stream.report
    assert partial.records == 2
    assert partial.end_offset == offsets[2]
    assert not partial.complete
    assert not partial.clean
    stream.close()
    assert list(stream) == []
    stream.close()


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "s.coxa"
    path.write_bytes(b"precious")
    with pytest.raises(CaptureError, match="never overwritten") as info:
        CaptureWriter(path, {})
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"precious"


@pytest.mark.parametrize(
    "metadata", [{"x": float("nan")}, {"x": math.inf}, {"x": {1, 2}}, {"x": b"bytes"}]
)
def test_unstorable_metadata_creates_no_file(tmp_path: Path, metadata: dict[str, Any]) -> None:
    path = tmp_path / "s.coxa"
    with pytest.raises(CaptureError, match="JSON"):
        CaptureWriter(path, metadata)
    assert not path.exists()


@pytest.mark.parametrize(
    ("t_rx_ns", "link_id", "kind", "size"),
    [
        (2**63, 1, 0, 4),
        (-(2**63) - 1, 1, 0, 4),
        (0, -1, 0, 4),
        (0, 0x10000, 0, 4),
        (0, 1, 256, 4),
        (0, 1, -1, 4),
        (0, 1, 0, MAX_PAYLOAD_BYTES + 1),
    ],
)
def test_out_of_range_fields_are_refused_and_nothing_is_written(
    tmp_path: Path, t_rx_ns: int, link_id: int, kind: int, size: int
) -> None:
    path = tmp_path / "s.coxa"
    with CaptureWriter(path, {}) as writer:
        writer.append(5, 6, LinkKind.SERIAL, b"ok")
        with pytest.raises(CaptureError, match=r"s\.coxa"):
            writer.append(t_rx_ns, link_id, kind, bytes(size))
        writer.append(7, 8, LinkKind.BLE, b"ok too")
    capture = read_capture(path)
    assert capture.records == [CaptureRecord(5, 6, 1, b"ok"), CaptureRecord(7, 8, 0, b"ok too")]
    assert capture.report.clean


def test_largest_payload_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "s.coxa"
    payload = os.urandom(MAX_PAYLOAD_BYTES)
    with CaptureWriter(path, {}) as writer:
        writer.append(1, 2, LinkKind.SERIAL, payload)
    assert read_capture(path).records == [CaptureRecord(1, 2, 1, payload)]


def test_closed_writer_refuses_and_close_is_idempotent(tmp_path: Path) -> None:
    writer = CaptureWriter(tmp_path / "s.coxa", {})
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(CaptureError, match="closed"):
        writer.append(1, 2, 0, b"x")
    with pytest.raises(CaptureError, match="closed"):
        writer.flush()


@pytest.mark.parametrize("interval", [-1.0, math.nan])
def test_bad_flush_interval_is_refused(tmp_path: Path, interval: float) -> None:
    with pytest.raises(ValueError, match="flush_interval_s"):
        CaptureWriter(tmp_path / "s.coxa", {}, flush_interval_s=interval)
    assert not (tmp_path / "s.coxa").exists()


class _FakeClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


def test_sync_points_follow_the_injected_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    clock = _FakeClock()
    path = tmp_path / "s.coxa"
    writer = CaptureWriter(path, {}, flush_interval_s=1.0, clock_ns=clock)
    after_create = len(fsyncs)
    assert after_create >= 1  # the header is synced before the constructor returns
    assert read_capture(path).records == []
    # Appends within the interval stay in the buffer: neither synced nor visible on disk.
    for i in range(10):
        clock.now_ns = i * 99_000_000
        writer.append(clock.now_ns, 1, LinkKind.BLE, b"p%d" % i)
    assert len(fsyncs) == after_create
    assert writer.synced_records == 0
    assert read_capture(path).records == []
    # The first append at or after 1 s since the last sync point syncs everything so far.
    clock.now_ns = 1_000_000_000
    writer.append(clock.now_ns, 1, LinkKind.BLE, b"p10")
    assert len(fsyncs) == after_create + 1
    assert writer.synced_records == 11
    seen = read_capture(path)
    assert len(seen.records) == 11
    assert seen.report.clean
    assert seen.report.file_bytes == writer.synced_bytes
    # The interval restarts at each sync point, explicit ones included.
    clock.now_ns = 1_500_000_000
    writer.flush()
    clock.now_ns = 2_400_000_000
    writer.append(clock.now_ns, 1, LinkKind.BLE, b"p11")
    assert writer.synced_records == 11
    clock.now_ns = 2_500_000_000
    writer.append(clock.now_ns, 1, LinkKind.BLE, b"p12")
    assert writer.synced_records == 13
    writer.close()
    assert len(read_capture(path).records) == 13


@pytest.mark.parametrize(("interval", "synced_after_each"), [(0.0, True), (math.inf, False)])
def test_interval_zero_syncs_every_record_and_inf_never(
    tmp_path: Path, interval: float, synced_after_each: bool
) -> None:
    clock = _FakeClock()
    with CaptureWriter(tmp_path / "s.coxa", {}, flush_interval_s=interval, clock_ns=clock) as w:
        for i in range(5):
            clock.now_ns += 10**12
            w.append(i, 0, LinkKind.BLE, b"x")
            assert w.synced_records == (i + 1 if synced_after_each else 0)
    assert w.synced_records == 5


def test_failed_header_write_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    path = tmp_path / "s.coxa"
    with pytest.raises(OSError, match="No space"):
        CaptureWriter(path, {})
    assert not path.exists()
