"""The recorder: a source's records into a raw capture first, then into the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import coxa
from coxa.analysis import ExerciseId, Finding, FindingRules, Rep
from coxa.capture import CaptureWriter
from coxa.fusion import FusionParams
from coxa.record._pipeline import Pipeline, session_exercise
from coxa.sources import BoardHealth, ReceivedFrame, Source, StoppableSource, fused_segments
from coxa.store import Catalog

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordParams:
    """How the recorder runs.

    Attributes
    ----------
    update_every_ms : float
        Host receive time between two pipeline updates, ms. Default 20 [assumption: the
        fusion core's live chunk; the output does not depend on it].
    flush_interval_s : float
        Longest time between two sync points of the capture, s. Default 1
        [assumption: ``coxa.capture.DEFAULT_FLUSH_INTERVAL_S``].
    duration_s : float or None
        Stop after this span of host receive time, s (a stoppable source then drains its
        backfills). None: until the source ends.
    silence_grace_s : float
        With a duration: the session is also stopped once ``duration_s + silence_grace_s``
        of wall time passed since the first record (or since the source opened, when none
        came), so boards that went silent for good (out of range, switched off, out of
        simulated data) cannot keep it open. Default 5 [assumption: longer than the link's
        reconnection back-off, so a session with live boards always ends on its data time].
    fusion : coxa.fusion.FusionParams
        Live fusion parameters.
    """

    update_every_ms: float = 20.0
    flush_interval_s: float = 1.0
    duration_s: float | None = None
    silence_grace_s: float = 5.0
    fusion: FusionParams = field(default_factory=FusionParams)


@dataclass(frozen=True)
class Progress:
    """What the recorder reports after each pipeline update (for a live readout).

    Attributes
    ----------
    t_s : float
        Host receive time since the first record, s.
    records : int
        Records received (and captured).
    reps : list of Rep
        Reps completed by this update.
    findings : list of Finding
        The findings of those reps, in rep order.
    """

    t_s: float
    records: int
    reps: list[Rep]
    findings: list[Finding] = field(default_factory=list[Finding])


@dataclass(frozen=True)
class RecordResult:
    """How a recording went.

    Attributes
    ----------
    capture : pathlib.Path or None
        The capture written (None: a live session without capture).
    records, bytes_written : int
        Records and file bytes of the capture (records received without capture).
    duration_s : float
        Host receive time from the first to the last record, s.
    health : dict of int to BoardHealth
        Every board's link state at the end.
    samples_lost : int
        Samples the boards' monitors counted lost for good or still asked for at the end.
    wall_s : float
        Wall-clock time of the session, s.
    """

    capture: Path | None
    records: int
    bytes_written: int
    duration_s: float
    health: dict[int, BoardHealth]
    samples_lost: int
    wall_s: float


def capture_metadata(
    segments_by_board: Mapping[int, str], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Header metadata of a capture of a rig (``docs/capture.md``): ``rig`` holds the fused
    boards (what ``coxa analyze`` reads), ``extra_boards`` the others."""
    fused = fused_segments(segments_by_board)
    others = sorted(b for b in segments_by_board if b not in fused)
    out: dict[str, Any] = {
        "coxa_version": coxa.__version__,
        "rig": {str(b): s for b, s in fused.items()},
    }
    if others:
        out["extra_boards"] = others
    return out | dict(extra or {})


@runtime_checkable
class _WithMetadata(Protocol):
    """A source that carries a capture's header metadata (a replay), once entered."""

    metadata: dict[str, Any]


class Recorder:
    """Consume a source: capture every record, then feed the pipeline.

    Each :class:`~coxa.sources.Arrival`'s record is appended to the capture before its frames
    go anywhere else; the capture syncs at least every ``flush_interval_s``. The frames are fed
    to the pipeline in batches of ``update_every_ms`` of host receive time.

    The pipeline counts the reps of the session's exercise: the ``exercise`` of ``metadata``,
    or else that of the source's own metadata (a replay's capture header), resolved by
    :func:`~coxa.record.session_exercise` (no name: squats; a name the rep analysis does not
    know, such as a clinical test: no rep counting). A replay thus counts as the live run did.

    Parameters
    ----------
    source : Source
    capture : str or os.PathLike or None
        The capture file to create (never overwritten); None: no capture (``coxa live``).
    metadata : mapping, optional
        Extra capture metadata (athlete, exercise, ...).
    rules : coxa.analysis.FindingRules, optional
        Rules applied to every rep (the athlete's capacity in them); None: no findings.
    params : RecordParams, optional
    catalog : coxa.store.Catalog, optional
        Where the capture is registered (its status, size and losses at the end).
    rig_name : str, optional
        The catalog rig recorded.
    on_progress : callable, optional
        Called with a :class:`Progress` after every pipeline update.

    Attributes
    ----------
    pipeline : Pipeline or None
        The processing chain, once the source is open.
    exercise : str or None
        The rep counter's exercise, once the source is open (None: no rep counting).
    exercise_note : str
        Why the exercise was chosen when the session did not name a known one (else empty).
    writer : coxa.capture.CaptureWriter or None
        The capture being written (its ``synced_records`` say what survives a crash).
    """

    def __init__(
        self,
        source: Source,
        capture: str | os.PathLike[str] | None,
        *,
        metadata: Mapping[str, Any] | None = None,
        params: RecordParams | None = None,
        catalog: Catalog | None = None,
        rig_name: str | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        rules: FindingRules | None = None,
    ) -> None:
        self.source = source
        self.capture = Path(capture) if capture is not None else None
        self.metadata = dict(metadata or {})
        self.params = params or RecordParams()
        self.catalog = catalog
        self.rig_name = rig_name
        self.on_progress = on_progress
        self.rules = rules
        self.pipeline: Pipeline | None = None
        self.exercise: ExerciseId | None = None
        self.exercise_note = ""
        self.writer: CaptureWriter | None = None
        self._stop_requested = False
        self._first_record_wall_s: float | None = None

    def stop(self) -> None:
        """Ask for the end of the session (Ctrl-C): a :class:`~coxa.sources.StoppableSource`
        drains, others end at the next record."""
        self._stop_requested = True
        if isinstance(self.source, StoppableSource):
            self.source.request_stop()

    async def run(self) -> RecordResult:
        """Record until the source ends (or the duration passed, or :meth:`stop`)."""
        started = time.monotonic()
        writer: CaptureWriter | None = None
        capture_id: int | None = None
        records = 0
        t_first: int | None = None
        t_last = 0
        interrupted = True
        watchdog: asyncio.Task[None] | None = None
        try:
            async with self.source:
                if self.params.duration_s is not None:
                    watchdog = asyncio.create_task(self._stop_when_silent(self.params.duration_s))
                segments = dict(self.source.segments_by_board)
                pipeline = self.pipeline = self._pipeline(segments)
                if self.capture is not None:
                    header = capture_metadata(segments, self.metadata)
                    writer = self.writer = CaptureWriter(
                        self.capture, header, flush_interval_s=self.params.flush_interval_s
                    )
                    if self.catalog is not None:
                        capture_id = self.catalog.add_capture(
                            self.capture,
                            rig=self.rig_name,
                            athlete=_text(self.metadata.get("athlete")),
                            exercise=_text(self.metadata.get("exercise")),
                            started_wall_ns=time.time_ns(),
                        )
                pending: list[ReceivedFrame] = []
                step_ns = int(self.params.update_every_ms * 1e6)
                t_update: int | None = None
                stopping = False
                async for arrival in self.source:
                    record = arrival.record
                    if writer is not None:
                        writer.append(record.t_rx_ns, record.link_id, record.kind, record.payload)
                    records += 1
                    if t_first is None:
                        t_first = t_update = record.t_rx_ns
                        self._first_record_wall_s = time.monotonic()
                    t_last = max(t_last, record.t_rx_ns)
                    pending.extend(arrival.frames)
                    assert t_update is not None
                    if record.t_rx_ns - t_update >= step_ns:
                        t_update = record.t_rx_ns
                        self._update(pipeline, pending, (t_last - t_first) / 1e9, records)
                        pending = []
                    duration = self.params.duration_s
                    over = duration is not None and t_last - t_first >= duration * 1e9
                    if (over or self._stop_requested) and not stopping:
                        stopping = True
                        if isinstance(self.source, StoppableSource):
                            self.source.request_stop()
                        else:
                            break
                self._update(pipeline, pending, (t_last - (t_first or 0)) / 1e9, records)
                reps = pipeline.finish()
                if self.on_progress is not None:
                    t_s = (t_last - (t_first or 0)) / 1e9
                    self.on_progress(Progress(t_s, records, reps, _findings(pipeline, reps)))
                health = dict(self.source.health())
            interrupted = False
        finally:
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            if writer is not None:
                writer.close()
            if self.catalog is not None and capture_id is not None and writer is not None:
                self.catalog.finish_capture(
                    capture_id,
                    status="interrupted" if interrupted else "complete",
                    duration_s=(t_last - (t_first or t_last)) / 1e9,
                    records=writer.records,
                    bytes_written=writer.bytes_written,
                    samples_lost=None if interrupted else _lost(dict(self.source.health())),
                )
        return RecordResult(
            capture=self.capture,
            records=records,
            bytes_written=writer.bytes_written if writer is not None else 0,
            duration_s=(t_last - (t_first or t_last)) / 1e9,
            health=health,
            samples_lost=_lost(health),
            wall_s=time.monotonic() - started,
        )

    def _pipeline(self, segments: Mapping[int, str]) -> Pipeline:
        """The pipeline of the session's exercise (the source is open: a replay's header is
        read)."""
        name = self.metadata.get("exercise")
        if name is None and isinstance(self.source, _WithMetadata):
            name = self.source.metadata.get("exercise")
        self.exercise, self.exercise_note = session_exercise(name)
        if self.exercise_note:
            _LOG.info("%s", self.exercise_note)
        return Pipeline(segments, self.params.fusion, self.exercise, self.rules)

    async def _stop_when_silent(self, duration_s: float) -> None:
        """Stop the session once ``duration_s + silence_grace_s`` of wall time passed since
        the first record (or since now, while none came)."""
        opened_s = time.monotonic()
        limit_s = duration_s + self.params.silence_grace_s
        while True:
            since_s = self._first_record_wall_s or opened_s
            remaining_s = since_s + limit_s - time.monotonic()
            if remaining_s <= 0.0:
                break
            await asyncio.sleep(min(remaining_s, 1.0))
        _LOG.warning(
            "no data reached the %.1f s duration within %.1f s more of wall time: stopping",
            duration_s,
            self.params.silence_grace_s,
        )
        self.stop()

    def _update(
        self, pipeline: Pipeline, frames: list[ReceivedFrame], t_s: float, records: int
    ) -> None:
        reps = pipeline.update(frames)
        if self.on_progress is not None:
            self.on_progress(Progress(t_s, records, reps, _findings(pipeline, reps)))


def _findings(pipeline: Pipeline, reps: list[Rep]) -> list[Finding]:
    return [f for rep in reps for f in pipeline.findings.get(rep.index, [])]


def _lost(health: Mapping[int, BoardHealth]) -> int:
    return sum(h.lost_samples + h.backfill_pending for h in health.values())


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
