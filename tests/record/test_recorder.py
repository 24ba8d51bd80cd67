"""The recorder: every record captured before it is processed, capture registered in the
catalog, and a replay of the capture through the same pipeline bit-exact with the live run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from coxa.capture import read_capture
from coxa.record import Progress, Recorder, RecordParams, check_capture, table_digest
from coxa.sources import Arrival, ReplaySource, SimParams, SimSource, StoppableSource
from coxa.store import Catalog, RigBoard

PARAMS = SimParams(boards=6, duration_s=14.0, loss=0.05, disconnects=2, seed=5)


class _Spy:
    """Wraps a source and remembers every arrival in order (a second consumer of it)."""

    def __init__(self, source: SimSource) -> None:
        self.source = source
        self.arrivals: list[Arrival] = []
        self.segments_by_board = source.segments_by_board
        self.health = source.health

    async def __aenter__(self) -> _Spy:
        await self.source.__aenter__()
        self.segments_by_board = self.source.segments_by_board
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.source.__aexit__(None, None, None)

    async def _iterate(self) -> AsyncIterator[Arrival]:
        async for arrival in self.source:
            self.arrivals.append(arrival)
            yield arrival

    def __aiter__(self) -> AsyncIterator[Arrival]:
        return self._iterate()


def test_record_then_replay_is_bit_exact(tmp_path: Path) -> None:
    capture = tmp_path / "session.coxa"
    spy = _Spy(SimSource(PARAMS))
    with Catalog.in_project(tmp_path / "project") as catalog:
        rig = catalog.create_rig(
            "sim6", "sim", [RigBoard(b, s) for b, s in SimSource(PARAMS).segments_by_board.items()]
        )
        recorder = Recorder(
            spy,  # pyright: ignore[reportArgumentType]
            capture,
            metadata={"athlete": "A07", "exercise": "squat"},
            params=RecordParams(flush_interval_s=0.5),
            catalog=catalog,
            rig_name=rig.name,
        )
        result = asyncio.run(recorder.run())
        entry = catalog.captures()[0]
    live = recorder.pipeline
    assert live is not None
    table = live.table()
    assert table.n_rows > 500
    assert len(live.reps) >= 1
    assert result.samples_lost == 0
    # Every arrival's record is in the capture, unchanged and in order.
    stored = read_capture(capture)
    assert stored.report.clean
    assert [tuple(r) for r in stored.records] == [tuple(a.record) for a in spy.arrivals]
    assert stored.metadata["athlete"] == "A07"
    assert sorted(stored.metadata["extra_boards"]) == sorted(
        b for b, s in spy.segments_by_board.items() if s == "unassigned"
    )
    assert (entry.status, entry.records, entry.samples_lost, entry.athlete, entry.rig) == (
        "complete",
        len(spy.arrivals),
        0,
        "A07",
        "sim6",
    )
    # Replay: same pipeline, same rows, bit for bit (any update batching).
    replayed = Recorder(ReplaySource(capture), None, params=RecordParams(update_every_ms=137.0))
    asyncio.run(replayed.run())
    assert replayed.pipeline is not None
    again = replayed.pipeline.table()
    assert table_digest(again) == table_digest(table)
    assert np.array_equal(again.t_us, table.t_us)
    for name, values in table.angles_deg.items():
        assert np.array_equal(again.angles_deg[name], values, equal_nan=True), name
    assert [r.t_end_us for r in replayed.pipeline.reps] == [r.t_end_us for r in live.reps]
    # The capture holds every sample the boards took.
    check = check_capture(capture)
    produced = spy.source.produced_samples()
    assert check.samples_lost == 0
    assert {b.board_id: b.samples for b in check.boards} == produced


def test_stop_ends_a_session_early_and_cleanly(tmp_path: Path) -> None:
    capture = tmp_path / "short.coxa"
    recorder = Recorder(
        SimSource(SimParams(boards=2, duration_s=30.0, seed=1)),
        capture,
        params=RecordParams(duration_s=4.0),
    )
    result = asyncio.run(recorder.run())
    assert 4.0 <= result.duration_s < 6.0
    check = check_capture(capture)
    assert not check.damaged
    assert check.samples_lost == 0
    assert all(700 < b.samples < 1200 for b in check.boards)


def test_stop_drains_a_stoppable_source_and_ends_other_sources_at_once(tmp_path: Path) -> None:
    capture = tmp_path / "stopped.coxa"
    source = SimSource(SimParams(boards=2, duration_s=30.0, loss=0.05, seed=2))
    assert isinstance(source, StoppableSource)

    def on_progress(progress: Progress) -> None:
        if progress.t_s >= 3.0:
            recorder.stop()  # as Ctrl-C: the simulated boards' backfills are drained

    recorder = Recorder(source, capture, on_progress=on_progress)
    result = asyncio.run(recorder.run())
    assert 3.0 <= result.duration_s < 3.0 + source.params.drain_s  # the drain, not 30 s
    assert result.samples_lost == 0
    check = check_capture(capture)
    assert not check.damaged
    assert check.samples_lost == 0
    # A replay is not a stoppable source: it ends at the first record past the duration.
    replay = ReplaySource(capture)
    assert not isinstance(replay, StoppableSource)
    replayed = Recorder(replay, None, params=RecordParams(duration_s=1.5))
    short = asyncio.run(replayed.run())
    assert 1.5 <= short.duration_s < 1.6
    assert short.records < len(read_capture(capture).records)
