"""Running a streaming session for ``coxa live``, ``coxa record`` and ``coxa replay``: the
recorder, the terminal readout with board health and each rep with its findings, Ctrl-C, the
summary at the end."""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from coxa.analysis import FindingRules, Rep
from coxa.capture import CaptureError
from coxa.cli._common import EXIT_FAILED, EXIT_OK, CommandError, describe_segment
from coxa.cli._env import EventLoopRunner, NewLoopEach
from coxa.cli._readout import LiveState, render_live, render_summary, rep_lines
from coxa.io import write_angles_csv
from coxa.record import Progress, Recorder, RecordParams, RecordResult, table_digest
from coxa.sources import BleLinkStats, BoardHealth, Source
from coxa.store import Catalog, CatalogError

_PANEL_EVERY_S = 0.1
"""Shortest wall-clock and session time between two redraws of the live panel, s."""


def health_lines(health: Mapping[int, BoardHealth], segments: Mapping[int, str]) -> list[str]:
    """One line per board: link, rate, losses, backfill, clock."""
    lines = ["  board  segment            link  samples/s  lost  backfill  errors  reconnects"]
    for board_id in sorted(health):
        h = health[board_id]
        lines.append(
            f"  {board_id:5d}  {describe_segment(segments.get(board_id, '?')):<17}  "
            f"{'up' if h.connected else 'down':>4}  {h.samples_per_s:9.1f}  {h.lost_samples:4d}  "
            f"{h.backfill_pending:8d}  {h.protocol_errors:6d}  {h.reconnects:10d}"
        )
    return lines


@runtime_checkable
class _WithLinkStats(Protocol):
    """A source with link details beyond the health (the BLE sources)."""

    def stats(self) -> Mapping[int, BleLinkStats]: ...


def link_lines(stats: Mapping[int, BleLinkStats]) -> list[str]:
    """One line per board whose connection attempts failed or were refused (none if all
    went well)."""
    lines: list[str] = []
    for board_id in sorted(stats):
        s = stats[board_id]
        if s.failed_attempts or s.rejected:
            lines.append(
                f"  board {board_id}: {s.failed_attempts} failed connection attempts, "
                f"{s.rejected} refused (boards not of the rig, or without the rig's bond)"
                + (f"; last: {s.last_error}" if s.last_error else "")
            )
    return lines


class SessionPanel:
    """The live panel (angles per leg, reps) with a health line per board, redrawn in place on
    a terminal or appended to a plain stream."""

    def __init__(self, stream: TextIO, in_place: bool) -> None:
        self._stream = stream
        self._in_place = in_place
        self._drawn = 0
        self._last: list[str] = []

    def show(self, lines: list[str]) -> None:
        """Draw ``lines`` over the previous panel."""
        if self._in_place and self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F")
        for line in lines:
            self._stream.write(("\x1b[2K" if self._in_place else "") + line + "\n")
        self._drawn = len(lines)
        self._last = lines
        self._stream.flush()

    def log(self, lines: list[str]) -> None:
        """Print ``lines`` once, above the panel (which is drawn again below them on a
        terminal)."""
        if self._in_place and self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F")
        for line in lines:
            self._stream.write(("\x1b[2K" if self._in_place else "") + line + "\n")
        self._drawn = 0
        if self._in_place and self._last:
            self.show(self._last)
        self._stream.flush()


def run_session(
    source: Source,
    capture: Path | None,
    *,
    metadata: Mapping[str, object],
    duration_s: float | None,
    live: bool,
    angles: Path | None,
    catalog: Catalog | None = None,
    rig_name: str | None = None,
    loop: EventLoopRunner | None = None,
    rules: FindingRules | None = None,
    notes: Sequence[str] = (),
) -> tuple[int, RecordResult]:
    """Run a session to its end (on ``loop``, default a new event loop); print ``notes`` (what
    the findings compare with), the panel with each rep and its findings (by ``rules``) as it
    completes, and the summary; return the exit status."""
    reps: list[Rep] = []
    panel = SessionPanel(sys.stdout, in_place=sys.stdout.isatty())
    last_draw = [-math.inf, -math.inf]
    recorder: Recorder | None = None
    for note in notes:
        print(note)

    def progress(update: Progress) -> None:
        reps.extend(update.reps)
        if not live or recorder is None or recorder.pipeline is None:
            return
        for rep in update.reps:
            panel.log(rep_lines(rep, [f for f in update.findings if f.rep == rep.index]))
        now = time.monotonic()
        if now - last_draw[0] < _PANEL_EVERY_S or update.t_s - last_draw[1] < _PANEL_EVERY_S:
            return
        last_draw[0], last_draw[1] = now, update.t_s
        pipeline = recorder.pipeline
        status = "streaming" if pipeline.calibrated else "calibrating: stand still, then move"
        state = LiveState(
            t_s=update.t_s,
            status=f"{status}, {update.records} records",
            hip_reference=pipeline.hip_reference,
            rotation_deg=pipeline.latest_rotation_deg,
            knee_deg=pipeline.latest_knee_deg,
            reps=len(pipeline.reps),
            in_rep=pipeline.in_rep,
        )
        segments = source.segments_by_board
        panel.show(render_live(state) + health_lines(source.health(), segments))

    recorder = Recorder(
        source,
        capture,
        metadata=dict(metadata),
        params=RecordParams(duration_s=duration_s),
        catalog=catalog,
        rig_name=rig_name,
        on_progress=progress,
        rules=rules,
    )

    async def main() -> RecordResult:
        running = asyncio.get_running_loop()
        handled = False
        with contextlib.suppress(NotImplementedError, RuntimeError):
            running.add_signal_handler(signal.SIGINT, recorder.stop)
            handled = True
        try:
            return await recorder.run()
        finally:
            if handled:  # the loop may run further sessions (BleEnvironment.loop)
                running.remove_signal_handler(signal.SIGINT)

    try:
        result = (loop or NewLoopEach()).run(main())
    except (CaptureError, CatalogError) as err:
        raise CommandError(str(err), EXIT_FAILED) from err
    except OSError as err:
        raise CommandError(f"session failed: {err}", EXIT_FAILED) from err
    pipeline = recorder.pipeline
    print()
    if pipeline is not None and pipeline.core is not None:
        if recorder.exercise_note:
            print(recorder.exercise_note)
        if pipeline.calibration_error is not None:
            print(f"no joint angles: {pipeline.calibration_error}")
        elif pipeline.counter is not None:
            print(f"exercise: {recorder.exercise}")
            findings = pipeline.findings if rules is not None else None
            session = rules.evaluate_session(pipeline.reps) if rules is not None else ((), ())
            for line in render_summary(
                pipeline.reps,
                pipeline.hip_reference,
                findings=findings,
                session_findings=session[0],
                session_notes=session[1],
            ):
                print(line)
        table = pipeline.table()
        print(f"angle table: {table.n_rows} rows, sha256 {table_digest(table)}")
        if angles is not None and table.n_rows:
            try:
                write_angles_csv(angles, table.t_us * 1e-6, table.angles_deg)
            except OSError as err:
                raise CommandError(f"cannot write {angles}: {err}", EXIT_FAILED) from err
            print(f"wrote {angles}")
    elif pipeline is not None:
        print("no thigh and shank of one leg in the rig: nothing fused (recorded only)")
    print("boards:")
    for line in health_lines(result.health, source.segments_by_board):
        print(line)
    if isinstance(source, _WithLinkStats):
        for line in link_lines(source.stats()):
            print(line)
    print(
        f"session: {result.duration_s:.1f} s of data in {result.wall_s:.1f} s, "
        f"{result.records} records"
    )
    if result.capture is not None:
        print(f"capture: {result.capture} ({result.records} records, {result.bytes_written} bytes)")
    print(f"samples lost: {result.samples_lost}")
    return EXIT_OK, result
