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
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from coxa.capture import CaptureWriter, LinkKind, iter_capture, read_capture

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


def timed(run: Callable[[], object], repeat: int, before: Callable[[], None]) -> float:
    """Median wall time of ``run`` over ``repeat`` runs, seconds; ``before`` untimed each time."""
    times: list[float] = []
    for _ in range(repeat):
        before()
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--boards", type=int, default=7)
    parser.add_argument("--rate-hz", type=float, default=200.0)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--samples-per-packet", type=int, default=15)
    parser.add_argument("--payload-bytes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sync-records", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
