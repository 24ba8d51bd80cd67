"""Multi-set sessions: sets repeat, the rests between them are the still neutral pose, nothing
jumps at a set boundary, and a one-set session is exactly the set the simulator always made."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from coxa import wire
from coxa.geometry import quat_angle_rad
from coxa.sim import Exercise, Motion, MotionParams, MotionState, RigParams, simulate_rig
from tests.sim.strategies import STANDING, motion_params, rear_foot_slides

SEGMENTS = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")
#: Standing exercises with reps: the ones that take sets.
WITH_SETS: tuple[Exercise, ...] = tuple(e for e in STANDING if e != "rest")


@st.composite
def sessions(draw: st.DrawFn, *, spreads: bool = True) -> MotionParams:
    """Standing sessions of 2-4 sets with a short rest between them."""
    params = draw(motion_params(WITH_SETS, spreads=spreads))
    return dataclasses.replace(
        params,
        reps=draw(st.integers(1, 3)),
        sets=draw(st.integers(2, 4)),
        set_rest_s=draw(st.floats(0.5, 4.0)),
    )


def _fields(state: MotionState) -> dict[str, np.ndarray]:
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(MotionState)}


@settings(max_examples=30)
@given(sessions())
def test_a_session_has_every_rep_of_every_set_and_its_length(params: MotionParams) -> None:
    motion = Motion(params)
    sch, truth = motion.schedule, motion.rep_truth
    n = params.sets * params.reps
    assert truth.start_t_s.shape == (n,)
    assert truth.hip_ir_peak_deg(params.side).shape == (n,)
    np.testing.assert_array_equal(truth.set_index, np.repeat(np.arange(params.sets), params.reps))
    setup = sch.setup_s
    cycle = params.descent_s + params.bottom_pause_s + params.ascent_s + params.top_pause_s
    one_set = params.reps * cycle - params.top_pause_s
    between = setup + params.set_rest_s + setup
    expected = (
        params.rest_before_s
        + setup
        + params.sets * one_set
        + (params.sets - 1) * between
        + params.rest_after_s
    )
    assert motion.duration_s == pytest.approx(expected, abs=1e-9)
    for k in range(params.sets):
        first = k * params.reps
        set_start = params.rest_before_s + setup + k * (one_set + between)
        assert truth.start_t_s[first] == pytest.approx(set_start, abs=1e-9)
        np.testing.assert_allclose(
            np.diff(truth.start_t_s[first : first + params.reps]), cycle, atol=1e-9
        )
    # The reps are where the truth says: each one reaches its bottom and comes back.
    state = motion.evaluate(np.concatenate([truth.start_t_s, truth.bottom_t_s]))
    np.testing.assert_allclose(state.progress[:n], 0.0, atol=1e-9)
    np.testing.assert_allclose(state.progress[n:], 1.0, atol=1e-12)
    np.testing.assert_array_equal(state.rep_index[n:], np.arange(n))


@settings(max_examples=30)
@given(sessions(), st.floats(0.5, 2.5))
def test_between_sets_the_athlete_stands_still_in_the_neutral_pose(
    params: MotionParams, setup_s: float
) -> None:
    params = dataclasses.replace(
        params, rest_before_s=max(params.rest_before_s, 0.5), setup_s=setup_s
    )
    motion = Motion(params)
    windows = motion.schedule.set_rest_t_s
    assert windows.shape == (params.sets - 1, 2)
    np.testing.assert_allclose(windows[:, 1] - windows[:, 0], params.set_rest_s)
    initial = _fields(motion.evaluate(np.zeros(1)))  # the calibration pose, facing as at start
    for start, end in windows:
        rest = motion.evaluate(np.linspace(start, end, 27)[1:-1])  # a rep may end/start at the ends
        np.testing.assert_array_equal(rest.rep_index, -1)
        np.testing.assert_array_equal(rest.progress, 0.0)
        for name, value in _fields(rest).items():
            if name.startswith(("quat_", "position_", "pelvis_", "hip_", "knee_")):
                # Truly still and the very pose of the initial rest.
                np.testing.assert_allclose(
                    value,
                    np.broadcast_to(initial[name], value.shape),
                    rtol=0,
                    atol=1e-12,
                    err_msg=name,
                )
        np.testing.assert_allclose(rest.pelvis_angles_deg, 0.0, atol=1e-12)
        for side in ("r", "l"):
            hip, knee = rest.hip_angles_deg(side), rest.knee_angles_deg(side)
            np.testing.assert_allclose(hip[:, [0, 2]], 0.0, atol=1e-12)  # only the stance width
            np.testing.assert_allclose(knee, 0.0, atol=1e-12)


@settings(max_examples=20)
@given(sessions(), st.floats(0.5, 2.5))
def test_nothing_jumps_at_a_set_boundary(params: MotionParams, setup_s: float) -> None:
    params = dataclasses.replace(params, setup_s=setup_s)
    motion = Motion(params)
    sch = motion.schedule
    dt = 1e-3
    fastest = min(params.descent_s, params.ascent_s, setup_s)
    for k in range(params.sets - 1):
        # From the last rep of set k, through the rest, into the first rep of set k + 1.
        t = np.arange(sch.set_end_t_s[k] - 0.3, sch.set_start_t_s[k + 1] + 0.3, dt)
        state = motion.evaluate(t)
        in_top_position = motion.schedule.setup_progress(t) >= 1.0
        assume(not rear_foot_slides(motion, state, in_top_position))
        # Bounds for minimum-jerk moves of up to 250 deg in the fastest move's time: peak
        # speed 1.875 A / T, peak acceleration 5.8 A / T^2.
        for segment in SEGMENTS:
            q = state.quat_world_wxyz(segment)
            step_deg = np.degrees(quat_angle_rad(q[1:], q[:-1]))
            assert step_deg.max() < 1.875 * 250.0 / fastest * dt, segment
            # The angular speed changes smoothly too (a finite gyro, no kink).
            assert np.abs(np.diff(step_deg)).max() < 5.8 * 250.0 / fastest**2 * dt**2, segment
        for position in (state.position_pelvis_m, state.position_knee_r_m, state.ankle_m("l")):
            acc = np.diff(position, 2, axis=0) / dt**2
            assert np.abs(acc).max() < 12.0 / fastest**2
            assert np.abs(np.diff(acc, axis=0)).max() < 120.0 / fastest**3 * dt


@settings(max_examples=25)
@given(sessions(spreads=False))
def test_the_first_set_of_a_session_is_the_single_set(params: MotionParams) -> None:
    session = Motion(params)
    single = Motion(dataclasses.replace(params, sets=1))
    t = np.linspace(-0.5, session.schedule.set_end_t_s[0], 400)
    a, b = _fields(session.evaluate(t)), _fields(single.evaluate(t))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # Every set ends back in the top position it started from; the working foot never moves.
    ends = session.evaluate(
        np.concatenate([session.schedule.set_start_t_s, session.schedule.set_end_t_s])
    )
    for name, value in _fields(ends).items():
        if name.startswith(("quat_", "position_")):
            np.testing.assert_allclose(
                value, np.broadcast_to(value[0], value.shape), atol=1e-9, err_msg=name
            )
    ankle = session.evaluate(np.linspace(0.0, session.duration_s, 500)).ankle_m(params.side)
    assert np.linalg.norm(ankle - ankle[0], axis=1).max() < 0.01


@settings(max_examples=20)
@given(motion_params(spreads=True), st.floats(0.0, 60.0))
def test_one_set_leaves_the_session_unchanged(params: MotionParams, set_rest_s: float) -> None:
    # The default (sets=1) and an explicit single set with any rest length give the same
    # samples bit for bit (tests/sim/test_golden.py pins them to the simulator before sets).
    default = Motion(params)
    explicit = Motion(dataclasses.replace(params, sets=1, set_rest_s=set_rest_s))
    assert explicit.duration_s == default.duration_s
    t = np.linspace(-1.0, default.duration_s + 1.0, 300)
    a, b = _fields(default.evaluate(t)), _fields(explicit.evaluate(t))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for field in dataclasses.fields(type(default.rep_truth)):
        name = field.name
        np.testing.assert_array_equal(
            getattr(default.rep_truth, name), getattr(explicit.rep_truth, name), err_msg=name
        )


def test_without_a_setup_the_rest_between_sets_is_in_the_top_position() -> None:
    motion = Motion(
        MotionParams(exercise="ffe_split_squat", reps=1, sets=2, setup_s=0.0, set_rest_s=3.0)
    )
    start, end = motion.schedule.set_rest_t_s[0]
    assert end - start == 3.0
    rest = motion.evaluate(
        np.linspace(motion.schedule.set_end_t_s[0], motion.schedule.set_start_t_s[1], 20)
    )
    top = motion.evaluate(np.array([0.0]))  # the session starts in the top position
    np.testing.assert_allclose(
        rest.hip_angles_r_deg, np.repeat(top.hip_angles_r_deg, 20, axis=0), atol=1e-12
    )
    np.testing.assert_allclose(rest.hip_angles_r_deg[:, 0], 25.0, atol=1e-9)


@pytest.mark.parametrize("exercise", ["prone_ir", "seated_ir", "rest"])
def test_sets_are_refused_without_a_standing_neutral_pose(exercise: Exercise) -> None:
    with pytest.raises(ValueError, match="sets > 1"):
        MotionParams(exercise=exercise, sets=2)
    MotionParams(exercise=exercise, sets=1)  # one set is fine


def test_invalid_sets_are_rejected() -> None:
    with pytest.raises(ValueError, match="sets must be >= 1"):
        MotionParams(sets=0)
    with pytest.raises(ValueError, match="set_rest_s"):
        MotionParams(sets=2, set_rest_s=-1.0)
    with pytest.raises(ValueError, match="reps >= 1"):
        MotionParams(sets=2, reps=0)


def test_board_filters_see_the_rests_between_sets() -> None:
    # What the host re-anchors on: every board flags rest in every pause between sets.
    params = MotionParams(
        exercise="ffe_split_squat",
        reps=1,
        sets=3,
        set_rest_s=4.0,
        rest_before_s=2.0,
        rest_after_s=1.0,
    )
    rec = simulate_rig(RigParams(motion=params, mounting="realistic", seed=4))
    windows = rec.motion.schedule.set_rest_t_s
    for board_id, imu in rec.imu.items():
        flags = np.concatenate(
            [np.array(wire.decode_data_frame(f).flags) for f in rec.outputs[board_id].frames]
        )
        at_rest = (flags & wire.SAMPLE_AT_REST) != 0
        for start, end in windows:
            late = (imu.t_s > start + 2.0) & (imu.t_s < end)  # after the filter's 1.5 s
            assert at_rest[late].all(), rec.segments_by_board[board_id]
        moving = (imu.t_s > rec.truth.start_t_s[0]) & (imu.t_s < rec.truth.end_t_s[0])
        assert not at_rest[moving].all()
