"""Write and read speed of coxa capture files (``coxa.capture``), beside plain-file anchors.

Synthesizes the records of a session (default: 1 hour, 7 boards at 200 Hz, 15 samples per BLE
notification, 200-byte payloads of random bytes: 7 * 200 * 3600 / 15 = 336 000 records) without
running the simulator, then times, median of ``--repeat`` runs:

- ``plain write``: the same payloads, one ``write`` per record to a buffered file, one ``fsync``
  at the end (the floor a record writer can approach);
- ``CaptureWriter``: ``append`` of every record with the default 1 s sync interval, then
  ``close`` (final sync point);
- ``plain read``: ``read()`` of the capture file in one call;
- ``read_capture`` and ``iter_capture``: every record parsed and CRC-checked;
- ``sync every record``: ``append`` with ``flush_interval_s=0`` (an ``fsync`` per record) on
  the first ``--sync-records`` records, to show what a sync point costs on this disk.

Recovery after a crash, on a capture of the same session made of real protocol v1 packets
(one complete 15-sample data frame per notification, 242 bytes, sequence numbers and device
times as the boards send them; ``CaptureWriter`` with its 1 s sync interval), copied three
ways:

- ``torn final record``: the file cut in the middle of its last record (a crash during a
  ``write``);
- ``last second garbage``: the bytes of the records of the last second of receive time (the
  data after the last sync point) replaced by random bytes;
- ``last second zeros``: the same bytes replaced by zeros (what a file system can leave after a
  power cut).

Each copy (and the intact file) is opened and read to the end by ``iter_capture`` (the reader's
recovery: records up to the damage, the torn tail detected and dropped) and checked by
``coxa.record.check_capture`` (what ``coxa capture check`` runs: the same reading, every packet
decoded, the sequence numbers counted). Below the table, what each recovery reported, as
``coxa capture check`` prints it.

Reads run right after the write, so the file is in the page cache: they measure parsing, not the
disk. The synthetic input is moved out of the garbage collector's view (``gc.freeze``) so that
it does not slow the timed runs. MB/s is file bytes (header and record framing included) per
second, 1 MB = 10**6 bytes. Not a test; numbers depend on the machine and its load.

Usage::

    .venv/bin/python tools/bench_capture.py
    .venv/bin/python tools/bench_capture.py --hours 0.25 --repeat 5 --dir /some/disk
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.capture import CaptureReport, CaptureWriter, LinkKind, iter_capture, read_capture
from coxa.record import CaptureCheck, check_capture

Record = tuple[int, int, int, bytes]


def synthesize(
    boards: int, rate_hz: float, hours: float, per_packet: int, size: int
) -> list[Record]:
    """Records of a session: round-robin boards, evenly spaced receive times, random payloads."""
    n = round(boards * rate_hz * 3600.0 * hours / per_packet)
    step_ns = round(1e9 * per_packet / (rate_hz * boards))
    blob = os.urandom(n * size)
    return [
        (10**12 + i * step_ns, 0x1000 + i % boards, LinkKind.BLE, blob[i * size : (i + 1) * size])
        for i in range(n)
    ]


def plain_write(path: Path, records: list[Record]) -> None:
    with open(path, "xb", buffering=1 << 16) as f:
        for record in records:
            f.write(record[3])
        f.flush()
        os.fsync(f.fileno())


def capture_write(path: Path, records: list[Record], interval_s: float = 1.0) -> None:
    with CaptureWriter(path, {"bench": True}, flush_interval_s=interval_s) as writer:
        for t_rx_ns, link_id, kind, payload in records:
            writer.append(t_rx_ns, link_id, kind, payload)


def write_protocol_capture(
    path: Path, boards: int, rate_hz: float, hours: float, seed: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Write a capture of real protocol v1 notifications (see the module notes).

    Every board sends one live frame of :data:`coxa.wire.MAX_SAMPLES_QUAT` samples per
    notification, boards in turn, receive times evenly spaced; the samples hold a constant
    orientation. Sequence numbers and device times start at random values (so they wrap
    where they would).

    Returns
    -------
    t_rx_ns : ndarray of int64, shape (n,)
        Receive time of every record.
    offsets : ndarray of int64, shape (n,)
        File offset of every record.
    """
    per = wire.samples_per_frame(False)
    period_us = round(1e6 / rate_hz)
    n = round(boards * rate_hz * 3600.0 * hours / per)
    step_ns = round(1e9 * per / (rate_hz * boards))
    rng = np.random.default_rng(seed)
    ids = [0x1000 + b for b in range(boards)]
    seq = [int(v) for v in rng.integers(0, 1 << 32, boards)]
    t0 = [int(v) for v in rng.integers(0, 1 << 32, boards)]
    counters = [0] * boards
    quat = [wire.Q14_ONE, 0, 0, 0] * per
    body = wire.encode_data_frame(
        wire.KIND_DATA_LIVE, ids[0], 0, 0, period_us, quat, [0, 0, 0] * per, [0] * per
    )[wire.DATA_HEADER_BYTES :]
    header = bytearray(wire.DATA_HEADER_BYTES)
    t_rx = 10**12 + step_ns * np.arange(n, dtype=np.int64)
    offsets = np.empty(n, dtype=np.int64)
    with CaptureWriter(path, {"bench": True, "rig": {}}) as writer:
        for i in range(n):
            b = i % boards
            wire.data_header_into(
                header, 0, wire.KIND_DATA_LIVE, ids[b], seq[b], t0[b], period_us, per, False
            )
            packets, counters[b] = wire.fragment(
                bytes(header) + body, wire.RECOMMENDED_ATT_MTU, counters[b]
            )
            offsets[i] = writer.bytes_written
            writer.append(int(t_rx[i]), ids[b], LinkKind.BLE, packets[0])
            seq[b] = (seq[b] + per) % (1 << 32)
            t0[b] = (t0[b] + per * period_us) % (1 << 32)
    return t_rx, offsets


def torn_copy(src: Path, dst: Path, offsets: NDArray[np.int64]) -> None:
    """``src`` cut in the middle of its last record."""
    size = src.stat().st_size
    last = int(offsets[-1])
    with open(src, "rb") as f:
        data = f.read(last + (size - last) // 2)
    dst.write_bytes(data)


def tail_copy(src: Path, dst: Path, cut: int, fill: Callable[[int], bytes]) -> None:
    """``src`` with every byte from ``cut`` on replaced by ``fill(length)``."""
    size = src.stat().st_size
    with open(src, "rb") as f:
        data = f.read(cut)
    dst.write_bytes(data + fill(size - cut))


def last_second_offset(t_rx_ns: NDArray[np.int64], offsets: NDArray[np.int64]) -> int:
    """Offset of the first record received in the last second of the capture."""
    k = int(np.searchsorted(t_rx_ns, int(t_rx_ns[-1]) - 10**9, side="right"))
    return int(offsets[k])


def read_to_end(path: Path) -> CaptureReport:
    """Open ``path`` and read every record (the reader's recovery); its report."""
    with iter_capture(path) as records:
        for _ in records:
            pass
        return records.report


def describe(check: CaptureCheck) -> list[str]:
    """What ``coxa capture check`` prints about a capture (its report and samples lost)."""
    report = check.report
    lines = [f"{check.path.name}: {report.records} records, {report.file_bytes} bytes"]
    lines += [
        f"  damaged at byte {d.offset}: {d.reason} ({d.bytes_skipped} bytes skipped)"
        for d in report.damaged
    ]
    if report.tail is not None:
        lines.append(
            f"  torn or truncated end at byte {report.tail.offset}: {report.tail.reason} "
            f"({report.tail.bytes_skipped} bytes dropped)"
        )
    lines.append(
        f"  boards: {len(check.boards)}, samples: {sum(b.samples for b in check.boards)}, "
        f"undecodable packets: {check.protocol_errors}, samples lost: {check.samples_lost}"
    )
    return lines


def timed(run: Callable[[], object], repeat: int, before: Callable[[], None]) -> float:
    """Median wall time of ``run`` over ``repeat`` runs, seconds; ``before`` untimed each time."""
    times: list[float] = []
    for _ in range(repeat):
        before()
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=7)
    parser.add_argument("--rate-hz", type=float, default=200.0)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--samples-per-packet", type=int, default=15)
    parser.add_argument("--payload-bytes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sync-records", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args(argv)
    # The reader logs each damaged file it recovers; the report is printed below the table.
    reader_log = logging.getLogger("coxa.capture")
    level = reader_log.level
    reader_log.setLevel(logging.ERROR)
    try:
        run(args)
    finally:
        reader_log.setLevel(level)


def run(args: argparse.Namespace) -> None:
    """Time everything and print the table (``main``'s options)."""
    records = synthesize(
        args.boards, args.rate_hz, args.hours, args.samples_per_packet, args.payload_bytes
    )
    n = len(records)
    # The synthetic input stays alive throughout; keep the cyclic GC from re-scanning it in
    # every timed run (a reader in an analysis process does not hold a second copy).
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        plain = Path(tmp) / "plain.bin"
        path = Path(tmp) / "bench.coxa"
        synced = Path(tmp) / "synced.coxa"

        def remove(file: Path) -> Callable[[], None]:
            return lambda: file.unlink(missing_ok=True)

        rows: list[tuple[str, float, int, int]] = []
        t = timed(lambda: plain_write(plain, records), args.repeat, remove(plain))
        rows.append(("plain write (floor)", t, plain.stat().st_size, n))
        t = timed(lambda: capture_write(path, records), args.repeat, remove(path))
        size = path.stat().st_size
        rows.append(("CaptureWriter append+close", t, size, n))
        t = timed(lambda: path.read_bytes(), args.repeat, lambda: None)
        rows.append(("plain read (floor)", t, size, n))
        t = timed(lambda: read_capture(path), args.repeat, lambda: None)
        rows.append(("read_capture", t, size, n))

        def stream() -> int:
            with iter_capture(path) as records_in:
                return sum(1 for _ in records_in)

        assert stream() == n
        t = timed(stream, args.repeat, lambda: None)
        rows.append(("iter_capture", t, size, n))
        m = min(args.sync_records, n)
        t = timed(lambda: capture_write(synced, records[:m], 0.0), 1, remove(synced))
        rows.append((f"sync every record ({m} records)", t, synced.stat().st_size, m))

        # Recovery after a crash: a capture of real notifications, damaged three ways.
        records.clear()
        gc.unfreeze()
        gc.collect()
        path.unlink()
        plain.unlink(missing_ok=True)
        real = Path(tmp) / "real.coxa"
        t_rx, offsets = write_protocol_capture(real, args.boards, args.rate_hz, args.hours)
        real_size = real.stat().st_size
        cut = last_second_offset(t_rx, offsets)
        variants = {
            "intact": real,
            "torn final record": Path(tmp) / "torn.coxa",
            "last second garbage": Path(tmp) / "garbage.coxa",
            "last second zeros": Path(tmp) / "zeros.coxa",
        }
        torn_copy(real, variants["torn final record"], offsets)
        tail_copy(real, variants["last second garbage"], cut, os.urandom)
        tail_copy(real, variants["last second zeros"], cut, bytes)
        reports: list[str] = []
        for name, file in variants.items():
            size_v = file.stat().st_size
            recovered = read_to_end(file).records
            t = timed(lambda file=file: read_to_end(file), args.repeat, lambda: None)
            rows.append((f"recover {name}: iter_capture", t, size_v, recovered))
            checks: list[CaptureCheck] = []
            t = timed(
                lambda file=file, out=checks: out.append(check_capture(file)),
                args.repeat,
                lambda: None,
            )
            rows.append((f"recover {name}: check_capture", t, size_v, recovered))
            reports += [f"- {name}:", *(f"    {line}" for line in describe(checks[-1]))]

    print(
        f"{n} records of {args.payload_bytes} B ({args.boards} boards, {args.rate_hz:g} Hz, "
        f"{args.hours:g} h, {args.samples_per_packet} samples per packet), "
        f"capture file {size / 1e6:.1f} MB, median of {args.repeat}"
    )
    print()
    print("| operation | time s | MB/s | records/s | us/record |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, nbytes, count in rows:
        print(
            f"| {name} | {seconds:.3f} | {nbytes / seconds / 1e6:.1f} | "
            f"{count / seconds:,.0f} | {1e6 * seconds / count:.2f} |"
        )
    print()
    print(
        f"Recovery (rows 'recover ...'): a capture of {len(t_rx)} real notifications "
        f"({offsets.size} records, {real_size / 1e6:.1f} MB intact), the last second "
        f"starting at byte {cut}; what each recovery reported:"
    )
    for line in reports:
        print(line)


if __name__ == "__main__":
    main()
