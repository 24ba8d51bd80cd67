"""Crash safety of a recording: a recorder process killed with SIGKILL mid-capture.

The child records simulated boards in real time (sped up) with a sync point every 0.2 s and
reports each sync point on its standard output; it is killed after a few. Reopening the
capture returns every record written before the last reported sync point, unchanged (the
simulation is deterministic, so the parent knows what they were); the catalog entry stays
``recording``. A torn final record (half a record appended, as a power cut mid-write leaves)
is detected, dropped and reported, and ``coxa capture check`` exits with status 3.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coxa.capture import read_capture
from coxa.cli import main
from coxa.sources import SimParams, SimSource
from coxa.store import Catalog

SIM = {"boards": 3, "duration_s": 30.0, "loss": 0.05, "seed": 8}
"""The simulated session; the child paces it to 6 x real time (same records, see SimSource)."""

CHILD = textwrap.dedent(
    f"""
    import asyncio, sys
    from coxa.record import Recorder, RecordParams
    from coxa.sources import SimParams, SimSource
    from coxa.store import Catalog

    seen = [-1]
    def progress(_update):
        writer = recorder.writer
        if writer is not None and writer.synced_records != seen[0]:
            seen[0] = writer.synced_records
            print("synced", writer.synced_records, flush=True)

    catalog = Catalog(sys.argv[2])
    recorder = Recorder(
        SimSource(SimParams(**{SIM!r}, realtime=True, speed=6.0)), sys.argv[1],
        metadata={{"athlete": "K1"}},
        params=RecordParams(flush_interval_s=0.2), catalog=catalog, on_progress=progress,
    )
    asyncio.run(recorder.run())
    print("finished", flush=True)
    """
)


def _expected_records() -> list[tuple[int, int, int, bytes]]:
    async def run() -> list[tuple[int, int, int, bytes]]:
        out: list[tuple[int, int, int, bytes]] = []
        async with SimSource(SimParams(**SIM)) as source:  # pyright: ignore[reportArgumentType]
            async for arrival in source:
                r = arrival.record
                out.append((r.t_rx_ns, r.link_id, r.kind, r.payload))
        return out

    return asyncio.run(run())


def test_sigkill_mid_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "crash.coxa"
    catalog_path = tmp_path / "catalog.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(capture), str(catalog_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    synced = 0
    sync_points = 0
    assert child.stdout is not None
    try:
        for line in child.stdout:
            words = line.split()
            if words and words[0] == "synced":
                synced = int(words[1])
                sync_points += synced > 0
                if sync_points >= 4:
                    break
            assert words[0] != "finished", "the child ended before it was killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    assert synced > 0

    recovered = read_capture(capture)
    assert len(recovered.records) >= synced
    expected = _expected_records()
    assert len(recovered.records) < len(expected)  # really cut mid-capture
    assert [tuple(r) for r in recovered.records] == expected[: len(recovered.records)]
    with Catalog(catalog_path) as catalog:
        assert [c.status for c in catalog.captures()] == ["recording"]

    # A torn final record: half of a whole record appended after the last intact one.
    intact = recovered.report.end_offset
    whole = capture.read_bytes()[recovered.report.header_bytes :][: 24 + len(expected[0][3])]
    with open(capture, "r+b") as file:
        file.truncate(intact)
        file.seek(intact)
        file.write(whole[: len(whole) // 2])
    torn = read_capture(capture)
    assert torn.report.tail is not None
    assert torn.report.truncated_at == intact
    assert [tuple(r) for r in torn.records] == [tuple(r) for r in recovered.records]
    capsys.readouterr()
    assert main(["capture", "check", str(capture)]) == 3
    out = capsys.readouterr().out
    assert f"torn or truncated end at byte {intact}" in out
    assert "damaged: 1" in out
