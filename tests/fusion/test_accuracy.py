"""Accuracy of the fusion core against the simulator (issue #4), on Hypothesis-drawn 5-minute
sessions through the whole host path: virtual boards running the firmware's 6D filter, bursty
radio loss, link decoding, the fusion core fed in drawn chunk sizes, RMSE against the truth.

The session model, the pipelines and the bounds are those of ``tools/accuracy_table.py`` (the
tool that prints the measured table of ``docs/fusion.md``), loaded here so both use one
definition. Drawn per session: exercise, depth, hip internal rotation of both legs, strap
mountings up to 30 deg off nominal, initial gyro bias up to 0.5 deg/s per axis, clock drift up
to 100 ppm (the simulator gives all boards of a session the same drift, so it is drawn per
session), loss up to 10 %, and per board a residual heading drift of 0.1-0.5 deg/s.

Each drawn session is simulated once (about 10 s for five boards) and fused three times:

1. as shipped, on the simulated streams: every bounded column within its RMSE bound (the
   requirement of the issue);
2. as shipped, with the residual heading drift injected (each board's orientation turned about
   the vertical at a constant rate, as a 6D filter reports a vertical gyro bias it has not
   removed): within the bounds too. The firmware's filter re-estimates its bias at every
   standing rest, so the simulated boards' headings hardly drift and run 1 alone does not
   exercise the heading correction; this run does;
3. with ``HeadingParams.disabled()`` on the drifting streams: some bounded column over its
   bound, which shows that the bounds catch an uncorrected heading.

Shrinking is off: one example costs 15-20 s, so the first failing example is reported as drawn.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from coxa.fusion import CalibrationError
from coxa.sim import Motion
from tests.support.tools import load_tool

#: Rows of a bounded column that must carry an estimate, share [assumption: a guard against an
#: RMSE over a handful of rows; measured 88-93 % with 9-10 % bursty loss on four or five boards].
MIN_FINITE_SHARE = 0.5
#: Examples per test: every example is a full 5-minute session (see the module docstring).
#: One in ``make test`` (about 2 minutes on two cores); ``make accuracy`` draws more.
EXAMPLES = int(os.environ.get("COXA_ACCURACY_EXAMPLES", "1"))


acc = load_tool("accuracy_table")

slow_sessions = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)

#: Frames fed per call, cycled: one frame up to about 9 s of five boards' frames.
chunk_sizes = st.lists(st.integers(1, 600), min_size=1, max_size=4)


@st.composite
def sessions(draw: st.DrawFn, case: str, exercise: str | None = None) -> Any:
    """A session of a case; the exercise is drawn unless given."""
    if exercise is None:
        exercise = "squat" if case == "room" else draw(st.sampled_from(acc.EXERCISES))
    low, high = acc.IR_RANGE_DEG
    drift_low, drift_high = acc.HEADING_DRIFT_RANGE_DEG_S
    n_boards = len(acc.SEGMENTS[case])
    return acc.Session(
        case=case,
        exercise=exercise,
        depth_fraction=draw(st.floats(0.0, 1.0)),
        hip_ir_bottom_deg=draw(st.floats(low, high)),
        hip_ir_other_bottom_deg=draw(st.floats(low, high)),
        seed=draw(st.integers(0, 2**31 - 1)),
        mount_seed=draw(st.integers(0, 2**31 - 1)),
        gyr_bias_sd_deg_s=draw(st.floats(0.0, 2.0 * acc.GYR_BIAS_MAX_DEG_S)),
        drift_ppm=draw(st.floats(-acc.DRIFT_MAX_PPM, acc.DRIFT_MAX_PPM)),
        loss_fraction=draw(st.floats(0.0, acc.LOSS_MAX)),
        heading_drift_deg_s=tuple(
            draw(st.lists(st.floats(drift_low, drift_high), min_size=n_boards, max_size=n_boards))
        ),
    )


def _summary(rmse: dict[str, float], bounds: dict[str, float]) -> str:
    return ", ".join(f"{name} {rmse[name]:.2f} (bound {bound})" for name, bound in bounds.items())


def check_session(session: Any, chunks: list[int]) -> None:
    """Fuse one session in the three runs of the module docstring and assert all of them."""
    recording = acc.simulate(session)
    bounds: dict[str, float] = acc.BOUNDS_DEG[session.case]
    problems: list[str] = []
    for run in ("shipped", "shipped+drift", "disabled+drift"):
        try:
            table = acc.fuse(recording, run, chunks)
        except CalibrationError as error:
            problems.append(f"{run}: calibration refused: {error}")
            continue
        rmse: dict[str, float] = acc.rmse_deg(recording, table)
        for name in bounds:
            share = float(np.mean(np.isfinite(table.angles_deg[name])))
            if share < MIN_FINITE_SHARE:
                problems.append(f"{run}: only {share:.0%} of the {name} rows have an estimate")
        over = acc.over_bounds(session.case, rmse)
        if run.startswith("shipped") and over:
            problems.append(f"{run}: RMSE over the bound: {_summary(rmse, bounds)}")
        if run.startswith("disabled") and not over:
            problems.append(
                f"{run}: every column within its bound without heading correction, so the "
                f"bounds would not catch an uncorrected heading: {_summary(rmse, bounds)}"
            )
    assert not problems, f"{session}\n" + "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("exercise", ["squat", "ffe_split_squat", "step_up", "hinge"])
@slow_sessions
@given(data=st.data(), chunks=chunk_sizes)
def test_hip_rotation_and_knee_flexion_with_a_pelvis_board(
    exercise: str, data: st.DataObject, chunks: list[int]
) -> None:
    """Five boards: hip IR RMSE <= 2.5 deg and knee flexion RMSE <= 2 deg on both legs."""
    check_session(data.draw(sessions("pelvis", exercise)), chunks)


@pytest.mark.slow
@slow_sessions
@given(session=sessions("room"), chunks=chunk_sizes)
def test_femoral_rotation_with_thigh_and_shank_boards_only(session: Any, chunks: list[int]) -> None:
    """Bilateral squats without a pelvis board: femoral rotation relative to the room (the femur
    relative to a neutral pelvis facing +X) RMSE <= 3 deg on both legs."""
    check_session(session, chunks)


@pytest.mark.slow
@slow_sessions
@given(session=sessions("sta"), chunks=chunk_sizes)
def test_hip_rotation_with_thigh_soft_tissue_artefact(session: Any, chunks: list[int]) -> None:
    """Five boards, the thigh straps wobbling about +-5 deg on the femur: hip IR RMSE <= 5 deg."""
    check_session(session, chunks)


def test_sessions_last_five_minutes_with_neutral_rests_between_sets() -> None:
    """Every exercise's session lasts about 5 minutes, and between its sets the athlete stands
    still in the neutral pose for the set rest (where the core re-anchors the headings)."""
    for k, exercise in enumerate(acc.EXERCISES):
        session = acc.Session.draw("pelvis", k)
        assert session.exercise == exercise
        motion = Motion(session.rig_params().motion)
        assert 290.0 <= motion.duration_s <= 330.0
        t_s = np.arange(0.0, motion.duration_s, 0.1)
        state = motion.evaluate(t_s)
        neutral = (
            (np.abs(state.pelvis_angles_deg).max(axis=1) < 1e-6)
            & (np.abs(state.hip_angles_r_deg[:, [0, 2]]).max(axis=1) < 1e-6)
            & (np.abs(state.hip_angles_l_deg[:, [0, 2]]).max(axis=1) < 1e-6)
            & (np.abs(state.knee_angles_r_deg[:, 0]) < 1e-6)
            & (np.abs(state.knee_angles_l_deg[:, 0]) < 1e-6)
        )
        edges = np.flatnonzero(np.diff(np.concatenate([[0], neutral.astype(np.int8), [0]])))
        runs_s = (edges[1::2] - edges[::2]) * 0.1
        # The initial rest, then one rest between every two sets.
        long_rests = runs_s[runs_s >= acc.SET_REST_S - 0.5]
        assert long_rests.size == acc.SETS - 1, (exercise, runs_s)
