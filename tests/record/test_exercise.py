"""The recorder counts the reps of the session's exercise and applies the rules to each rep;
a replay reads the exercise from the capture's header and gives the live run's reps and
findings, bit for bit."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from coxa.analysis import EXERCISE_IDS, Capacity, CapacityPoint, FindingRules, Rep, load_demand
from coxa.capture import read_capture
from coxa.record import (
    DEFAULT_EXERCISE,
    Progress,
    Recorder,
    session_exercise,
    table_digest,
)
from coxa.sources import ReplaySource, SimParams, SimSource


def _values(rep: Rep) -> list[object]:
    """Every number of a rep (NaN compared as equal)."""
    out: list[object] = [rep.index, rep.t_start_us, rep.t_end_us, rep.exercise, rep.hip_reference]
    for side in sorted(rep.legs):
        for value in dataclasses.astuple(rep.legs[side]):
            out.append("nan" if isinstance(value, float) and math.isnan(value) else value)
    return out


def _rules(ir_deg: float) -> FindingRules:
    """The shipped demand and a capacity of ``ir_deg`` on both sides at 0 and 90 deg flexion."""
    points = tuple(
        CapacityPoint(side, flexion, ir_deg, 1.0, test)
        for side in ("r", "l")
        for flexion, test in ((0.0, "prone_ir"), (90.0, "seated_ir"))
    )
    return FindingRules(load_demand(), Capacity(points))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("split_squat", "split_squat"),
        ("crossover-step-up", "crossover_step_up"),
        ("90-90", "90_90"),
        (None, DEFAULT_EXERCISE),
        ("", DEFAULT_EXERCISE),
        ("prone_ir", None),
        ("bulgarian", None),
        (17, None),
    ],
)
def test_session_exercise(name: object, expected: str | None) -> None:
    exercise, note = session_exercise(name)
    assert exercise == expected
    assert (note == "") == (isinstance(name, str) and name.replace("-", "_") in EXERCISE_IDS)
    if expected is None:
        assert "no rep counting" in note


def test_split_squat_live_and_replay_give_the_same_reps_and_findings(tmp_path: Path) -> None:
    params = SimParams(boards=5, exercise="split_squat", reps=3, seed=11, loss=0.03)
    capture = tmp_path / "split.coxa"
    rules = _rules(0.0)  # a low capacity: the reps reach it, so there are findings to compare
    seen: list[Progress] = []
    live = Recorder(
        SimSource(params),
        capture,
        metadata={"athlete": "A", "exercise": "split_squat"},
        rules=rules,
        on_progress=seen.append,
    )
    asyncio.run(live.run())
    assert live.exercise == "split_squat"
    assert live.exercise_note == ""
    assert read_capture(capture).metadata["exercise"] == "split_squat"
    pipeline = live.pipeline
    assert pipeline is not None
    assert len(pipeline.reps) == 3
    assert all(rep.exercise == "split_squat" for rep in pipeline.reps)
    # The progress reports carry each rep once, with its findings.
    assert [r.index for p in seen for r in p.reps] == [1, 2, 3]
    reported = [f for p in seen for f in p.findings]
    assert reported == [f for i in (1, 2, 3) for f in pipeline.findings[i]]
    assert any(f.rule == "at_capacity" for f in reported)

    # The replay names no exercise: it reads the capture's, and counts as live did (same
    # update batching as live, as 'coxa replay' does).
    replay = Recorder(ReplaySource(capture), None, rules=rules)
    asyncio.run(replay.run())
    again = replay.pipeline
    assert again is not None
    assert replay.exercise == "split_squat"
    assert table_digest(again.table()) == table_digest(pipeline.table())
    assert [_values(r) for r in again.reps] == [_values(r) for r in pipeline.reps]
    assert again.findings == pipeline.findings

    # The same capture counted as squats gives other reps: the exercise matters.
    squats = Recorder(ReplaySource(capture), None, metadata={"exercise": "squat"})
    asyncio.run(squats.run())
    assert squats.pipeline is not None
    assert [_values(r) for r in squats.pipeline.reps] != [_values(r) for r in pipeline.reps]


def test_a_clinical_test_session_is_recorded_without_rep_counting(tmp_path: Path) -> None:
    params = SimParams(boards=5, exercise="squat", reps=2, seed=2)
    recorder = Recorder(
        SimSource(params),
        tmp_path / "test.coxa",
        metadata={"exercise": "prone_ir"},
        rules=_rules(0.0),
    )
    asyncio.run(recorder.run())
    pipeline = recorder.pipeline
    assert pipeline is not None
    assert recorder.exercise is None
    assert "'prone_ir' is not one the rep analysis knows" in recorder.exercise_note
    assert pipeline.counter is None
    assert pipeline.reps == []
    assert not pipeline.in_rep
    assert pipeline.findings == {}
    assert pipeline.table().n_rows > 500  # the angles are there all the same
    assert np.isfinite(pipeline.table().angles_deg["hip_rotation_r"]).any()
