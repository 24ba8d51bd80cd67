"""Ground-truth motion: commanded angles come back out, feet stay planted, evaluation is exact."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    Side,
    hip_angles_deg,
    knee_angles_deg,
    quat_angle_rad,
    quat_rotate,
)
from coxa.sim import EXERCISES, TEMPLATES, Exercise, Motion, MotionParams, MotionState
from tests.sim.strategies import (
    FOOT_ANCHORED,
    MOVING_EXERCISES,
    STANDING,
    motion_params,
    rear_foot_slides,
)

SIDES: tuple[Side, Side] = ("r", "l")
SEGMENTS = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")


def _dense(motion: Motion, step_s: float = 0.01) -> MotionState:
    return motion.evaluate(np.arange(-0.5, motion.duration_s + 0.5, step_s))


def _assert_c2(state: MotionState, dt: float, fastest_s: float) -> None:
    """Joint centres move with bounded acceleration and jerk (C2 in time), sampled every ``dt``.

    Bounds for a minimum-jerk move of up to 1 m in ``fastest_s`` seconds: 5.8 / T^2 and
    60 / T^3, doubled. A C1 profile would jump by about 5 / T^2 in one step.
    """
    for side in SIDES:
        for position in (
            state.ankle_m(side),
            state.origin_m("tibia_r" if side == "r" else "tibia_l"),
            state.position_pelvis_m,
        ):
            acc = np.diff(position, 2, axis=0) / dt**2
            assert np.abs(acc).max() < 12.0 / fastest_s**2
            assert np.abs(np.diff(acc, axis=0)).max() < 120.0 / fastest_s**3 * dt


@settings(max_examples=30)
@given(motion_params(spreads=True))
def test_truth_orientations_reproduce_the_joint_angles(params: MotionParams) -> None:
    state = _dense(Motion(params), 0.02)
    for side in SIDES:
        femur = state.quat_world_femur_wxyz(side)
        tibia = state.quat_world_tibia_wxyz(side)
        hip = hip_angles_deg(state.quat_world_pelvis_wxyz, femur, side)
        knee = knee_angles_deg(femur, tibia, side)
        np.testing.assert_allclose(hip, state.hip_angles_deg(side), atol=1e-9)
        np.testing.assert_allclose(knee, state.knee_angles_deg(side), atol=1e-9)


@settings(max_examples=30)
@given(motion_params(MOVING_EXERCISES))
def test_peak_ir_and_knee_flexion_per_rep_equal_the_parameters(params: MotionParams) -> None:
    if TEMPLATES[params.exercise].both_feet_planted:
        # The knees follow from the planted feet: at the depth while the pelvis is still.
        params = dataclasses.replace(
            params,
            pelvis_tilt_excursion_deg=0.0,
            pelvis_obliquity_excursion_deg=0.0,
            pelvis_yaw_excursion_deg=0.0,
        )
    motion = Motion(params)
    truth = motion.rep_truth
    work = params.side
    assert params.hip_ir_bottom_deg is not None
    assert params.depth_deg is not None
    np.testing.assert_allclose(
        truth.hip_ir_bottom_r_deg if work == "r" else truth.hip_ir_bottom_l_deg,
        params.hip_ir_bottom_deg,
        atol=1e-9,
    )
    top = motion.hip_ir_top_deg  # 0 except in the 90/90 transitions
    np.testing.assert_allclose(
        truth.hip_ir_peak_deg(work), max(params.hip_ir_bottom_deg, top), atol=1e-9
    )
    np.testing.assert_allclose(truth.knee_flexion_peak_deg(work), params.depth_deg, atol=1e-9)
    # The truth agrees with an independent decomposition of the truth orientations.
    for i, (start, end) in enumerate(zip(truth.start_t_s, truth.end_t_s, strict=True)):
        state = motion.evaluate(np.append(np.linspace(start, end, 400), truth.bottom_t_s[i]))
        femur = state.quat_world_femur_wxyz(work)
        hip = hip_angles_deg(state.quat_world_pelvis_wxyz, femur, work)
        assert truth.hip_ir_peak_deg(work)[i] == pytest.approx(hip[:, 2].max(), abs=1e-6)


@settings(max_examples=20)
@given(motion_params(MOVING_EXERCISES, spreads=True), st.floats(0.5, 6.0))
def test_per_rep_spread_is_seeded(params: MotionParams, spread_deg: float) -> None:
    params = dataclasses.replace(params, hip_ir_spread_deg=spread_deg, reps=max(params.reps, 3))
    first, again = Motion(params).rep_truth, Motion(params).rep_truth
    np.testing.assert_array_equal(first.hip_ir_peak_r_deg, again.hip_ir_peak_r_deg)
    np.testing.assert_array_equal(first.knee_flexion_peak_l_deg, again.knee_flexion_peak_l_deg)
    work = params.side
    bottom = first.hip_ir_bottom_r_deg if work == "r" else first.hip_ir_bottom_l_deg
    assert np.ptp(bottom) > 0  # the reps differ
    other = Motion(dataclasses.replace(params, seed=params.seed + 1)).rep_truth
    other_bottom = other.hip_ir_bottom_r_deg if work == "r" else other.hip_ir_bottom_l_deg
    assert not np.array_equal(bottom, other_bottom)


@settings(max_examples=30)
@given(motion_params(FOOT_ANCHORED))
def test_the_working_foot_stays_put(params: MotionParams) -> None:
    state = _dense(Motion(params))
    ankle = state.ankle_m(params.side)
    assert np.linalg.norm(ankle - ankle[0], axis=1).max() < 0.01


@settings(max_examples=20)
@given(
    motion_params(("split_squat", "ffe_split_squat", "hinge"), pelvis=False), st.floats(-5.0, 5.0)
)
def test_the_rear_foot_stays_put(params: MotionParams, tilt_deg: float) -> None:
    # From the end of the setup on: before it the athlete stands in the neutral pose, feet side
    # by side, and the setup steps the rear foot back to where it then stays.
    params = dataclasses.replace(params, pelvis_tilt_offset_deg=tilt_deg)
    motion = Motion(params)
    t = np.arange(motion.schedule.first_start_s, motion.duration_s + 0.5, 0.01)
    ankle = motion.evaluate(t).ankle_m(motion.other_side)
    assert np.linalg.norm(ankle - ankle[0], axis=1).max() < 0.01


@settings(max_examples=15)
@given(motion_params(("squat",), pelvis=False), st.floats(-10.0, 10.0))
def test_both_feet_stay_put_in_a_square_squat(params: MotionParams, tilt_deg: float) -> None:
    params = dataclasses.replace(
        params, hip_ir_other_bottom_deg=None, pelvis_tilt_excursion_deg=tilt_deg
    )
    state = _dense(Motion(params))
    for side in SIDES:
        ankle = state.ankle_m(side)
        assert np.linalg.norm(ankle - ankle[0], axis=1).max() < 0.01


@settings(max_examples=30)
@given(
    motion_params(spreads=True),
    st.lists(st.floats(-2.0, 60.0, allow_nan=False), min_size=1, max_size=25),
)
def test_array_evaluation_equals_one_time_at_a_time(
    params: MotionParams, times: list[float]
) -> None:
    motion = Motion(params)
    block = motion.evaluate(np.array(times))
    for i, t in enumerate(times):
        single = motion.evaluate(t)
        for field in dataclasses.fields(MotionState):
            np.testing.assert_allclose(
                getattr(single, field.name)[0], getattr(block, field.name)[i], rtol=0, atol=1e-12
            )


@settings(max_examples=25)
@given(motion_params(spreads=True))
def test_every_exercise_runs_without_nan(params: MotionParams) -> None:
    motion = Motion(params)
    state = _dense(motion, 0.05)
    for field in dataclasses.fields(MotionState):
        assert np.all(np.isfinite(getattr(state, field.name))), field.name
    truth = motion.rep_truth
    expected_reps = 0 if params.exercise == "rest" else params.reps
    assert truth.start_t_s.shape == (expected_reps,)
    assert np.all(np.isfinite(truth.hip_ir_peak_l_deg))
    assert np.all(np.diff(truth.start_t_s) > 0)


@settings(max_examples=15)
@given(motion_params(MOVING_EXERCISES))
def test_segment_positions_are_smooth(params: MotionParams) -> None:
    # C2 in time: acceleration bounded and changing by a bounded jerk per step.
    dt = 1e-3
    motion = Motion(params)
    moves = (params.descent_s, params.ascent_s, motion.schedule.setup_s)
    state = _dense(motion, dt)
    assume(not rear_foot_slides(motion, state, motion.schedule.setup_progress(state.t_s) >= 1.0))
    _assert_c2(state, dt, min(m for m in moves if m > 0))


def test_default_set_starts_with_a_standing_rest() -> None:
    motion = Motion(MotionParams())
    state = motion.evaluate(np.linspace(0.0, 2.9, 50))
    assert np.all(state.rep_index == -1)
    for side in SIDES:
        np.testing.assert_array_equal(state.knee_angles_deg(side)[:, 0], 0.0)
        np.testing.assert_array_equal(state.hip_angles_deg(side)[:, 2], 0.0)
    np.testing.assert_allclose(
        state.position_pelvis_m - state.position_pelvis_m[0], 0.0, atol=1e-15
    )


def test_quiet_standing_is_the_neutral_pose() -> None:
    state = Motion(MotionParams(exercise="rest")).evaluate(np.linspace(0, 5, 11))
    for segment in ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l"):
        angle = quat_angle_rad(state.quat_world_wxyz(segment), QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ)
        np.testing.assert_allclose(angle, 0.0, atol=1e-12)
    body = Motion(MotionParams()).params.body
    np.testing.assert_allclose(
        state.position_pelvis_m[:, 2],
        body.ankle_height_m + body.thigh_length_m + body.shank_length_m,
    )


def _with_setup(params: MotionParams, setup_s: float) -> MotionParams:
    """At least 0.5 s of initial rest and a setup, so the set starts in the neutral pose."""
    return dataclasses.replace(
        params, rest_before_s=max(params.rest_before_s, 0.5), setup_s=setup_s
    )


@settings(max_examples=40)
@given(motion_params(STANDING, spreads=True), st.floats(0.5, 2.5))
def test_standing_sets_start_in_the_neutral_pose(params: MotionParams, setup_s: float) -> None:
    # What the pipeline calibrates on: every angle 0, the femurs apart by the stance width only.
    params = _with_setup(params, setup_s)
    state = Motion(params).evaluate(np.linspace(-1.0, params.rest_before_s, 60))
    np.testing.assert_array_equal(state.rep_index[:-1], -1)  # a rep may start at the end
    np.testing.assert_allclose(state.pelvis_angles_deg, 0.0, atol=1e-9)
    for side in SIDES:
        hip, knee = state.hip_angles_deg(side), state.knee_angles_deg(side)
        np.testing.assert_allclose(hip[:, [0, 2]], 0.0, atol=1e-9)
        np.testing.assert_allclose(knee, 0.0, atol=1e-9)
        np.testing.assert_allclose(hip[:, 1], state.hip_angles_r_deg[0, 1], atol=1e-9)
        assert abs(hip[0, 1]) < 5.0  # feet at most 0.05 m outside the hips
    # Feet side by side at the working foot's height, symmetric about the pelvis.
    right, left = state.position_ankle_r_m, state.position_ankle_l_m
    np.testing.assert_allclose(right[:, [0, 2]], left[:, [0, 2]], atol=1e-9)
    np.testing.assert_allclose(
        right[:, 1] + left[:, 1], 2 * state.position_pelvis_m[:, 1], atol=1e-9
    )
    for segment in SEGMENTS:  # still
        quat = state.quat_world_wxyz(segment)
        np.testing.assert_allclose(quat_angle_rad(quat, quat[0]), 0.0, atol=1e-12)


@settings(max_examples=25)
@given(motion_params(STANDING, spreads=True), st.floats(0.5, 2.5))
def test_the_setup_moves_smoothly_into_the_top_position(
    params: MotionParams, setup_s: float
) -> None:
    params = _with_setup(params, setup_s)
    motion = Motion(params)
    sch = motion.schedule
    assert sch.setup_s in (setup_s, 0.0)  # 0: the top position is the neutral pose
    assert sch.first_start_s == params.rest_before_s + sch.setup_s
    dt = 1e-3
    state = motion.evaluate(np.arange(params.rest_before_s - 0.2, sch.first_start_s + 1.0, dt))
    assume(not rear_foot_slides(motion, state, state.t_s >= sch.first_start_s))
    _assert_c2(state, dt, min(setup_s, params.descent_s))
    work = state.ankle_m(params.side)
    assert np.linalg.norm(work - work[0], axis=1).max() < 1e-9  # the working foot is planted
    np.testing.assert_array_equal(state.rep_index[state.t_s < sch.first_start_s], -1)
    # The setup ends in the top position the reps come back to (other leg planted there).
    back_at_top = sch.end_t_s[0] if sch.reps else motion.duration_s
    ends = motion.evaluate(np.array([sch.first_start_s, back_at_top]))
    for field in dataclasses.fields(MotionState):
        if field.name.startswith(("quat_", "position_")):
            value = getattr(ends, field.name)
            np.testing.assert_allclose(value[0], value[1], atol=1e-9, err_msg=field.name)


@pytest.mark.parametrize("exercise", STANDING)
@pytest.mark.parametrize("side", SIDES)
def test_default_standing_sets_calibrate_on_the_neutral_pose(
    exercise: Exercise, side: Side
) -> None:
    params = MotionParams(exercise=exercise, side=side)
    motion = Motion(params)
    state = motion.evaluate(np.linspace(0.0, params.rest_before_s, 30))
    for s in SIDES:
        for angles in (state.hip_angles_deg(s), state.knee_angles_deg(s)):
            assert np.abs(angles[:, [0, 2]]).max() < 0.5
    # Adduction from the stance width only, the same on both sides.
    np.testing.assert_allclose(state.hip_angles_r_deg[:, 1], state.hip_angles_l_deg[:, 1])
    # Only the exercises whose top position is not the neutral pose spend time on the setup.
    moves = exercise in ("split_squat", "ffe_split_squat", "hinge")
    assert motion.schedule.setup_s == (params.setup_s if moves else 0.0)
    starts = motion.rep_truth.start_t_s
    expected = params.rest_before_s + motion.schedule.setup_s + 5.0 * np.arange(starts.size)
    np.testing.assert_allclose(starts, expected)


def test_the_ffe_split_squat_steps_back_from_the_neutral_pose() -> None:
    motion = Motion(MotionParams(exercise="ffe_split_squat", reps=1))
    sch = motion.schedule
    assert sch.setup_s == 1.5
    assert motion.duration_s == pytest.approx(3.0 + 1.5 + 4.0 + 2.0)
    state = motion.evaluate(np.array([0.0, sch.first_start_s]))
    np.testing.assert_allclose(state.hip_angles_r_deg[1], [25.0, 0.0, 0.0], atol=1e-9)
    assert state.knee_angles_r_deg[1, 0] == pytest.approx(15.0, abs=1e-9)
    assert state.knee_angles_l_deg[1, 0] < 20.0  # both knees nearly straight at the top
    rear = state.position_ankle_l_m
    assert 0.5 < rear[0, 0] - rear[1, 0] < 0.7  # the rear foot stepped back about 0.6 m


def test_no_setup_starts_in_the_top_position() -> None:
    motion = Motion(MotionParams(exercise="ffe_split_squat", reps=1, setup_s=0.0))
    assert motion.rep_truth.start_t_s[0] == motion.params.rest_before_s
    state = motion.evaluate(np.array([0.0]))
    np.testing.assert_allclose(state.hip_angles_r_deg[0], [25.0, 0.0, 0.0], atol=1e-9)
    with pytest.raises(ValueError, match="setup_s"):
        MotionParams(setup_s=-1.0)


@pytest.mark.parametrize("exercise", ["prone_ir", "seated_ir"])
def test_clinical_tests_start_in_position(exercise: Exercise) -> None:
    motion = Motion(MotionParams(exercise=exercise, reps=1, setup_s=2.0))
    assert motion.schedule.setup_s == 0.0
    assert motion.rep_truth.start_t_s[0] == motion.params.rest_before_s
    state = motion.evaluate(np.array([0.0, motion.rep_truth.start_t_s[0]]))
    np.testing.assert_allclose(state.knee_angles_deg(motion.working_side)[:, 0], 90.0)


@pytest.mark.parametrize("side", SIDES)
def test_squat_moves_knees_forward_and_hips_down(side: Side) -> None:
    motion = Motion(MotionParams(exercise="squat", side=side, reps=1))
    state = motion.evaluate(np.array([0.0, motion.rep_truth.bottom_t_s[0]]))
    knee = state.position_knee_r_m
    ankle = state.position_ankle_r_m
    assert knee[1, 0] - ankle[1, 0] > 0.15  # the shank leans forward (world +X)
    assert state.position_pelvis_m[1, 2] < state.position_pelvis_m[0, 2] - 0.3


@pytest.mark.parametrize("side", SIDES)
def test_prone_internal_rotation_drops_the_foot_outward(side: Side) -> None:
    motion = Motion(MotionParams(exercise="prone_ir", side=side, reps=1, hip_ir_bottom_deg=30))
    state = motion.evaluate(np.array([0.0, motion.rep_truth.bottom_t_s[0]]))
    face = quat_rotate(state.quat_world_pelvis_wxyz[0], np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(face, [0.0, 0.0, -1.0], atol=1e-12)  # face down
    knee = state.position_knee_r_m if side == "r" else state.position_knee_l_m
    ankle = state.ankle_m(side)
    outward = -1.0 if side == "r" else 1.0  # world Y of the athlete's right is negative
    np.testing.assert_allclose(ankle[0] - knee[0], [0, 0, 0.431], atol=1e-9)  # shank up
    drop = ankle[1] - knee[1]
    assert outward * drop[1] == pytest.approx(0.431 * np.sin(np.radians(30)), abs=1e-9)


@pytest.mark.parametrize("side", SIDES)
def test_seated_internal_rotation_swings_the_foot_outward(side: Side) -> None:
    motion = Motion(MotionParams(exercise="seated_ir", side=side, reps=1, hip_ir_bottom_deg=40))
    state = motion.evaluate(np.array([0.0, motion.rep_truth.bottom_t_s[0]]))
    knee = state.position_knee_r_m if side == "r" else state.position_knee_l_m
    np.testing.assert_allclose(knee[0, 2], state.position_pelvis_m[0, 2], atol=1e-9)  # thigh level
    outward = -1.0 if side == "r" else 1.0
    assert outward * (state.ankle_m(side)[1, 1] - knee[1, 1]) > 0.25
    np.testing.assert_allclose(state.hip_angles_deg(side)[1], [90.0, 0.0, 40.0], atol=1e-9)


def test_screw_home_rotation_follows_knee_flexion() -> None:
    motion = Motion(MotionParams(exercise="squat", reps=1, depth_deg=120.0))
    state = _dense(motion, 0.005)
    flexion, rotation = state.knee_angles_r_deg[:, 0], state.knee_angles_r_deg[:, 2]
    np.testing.assert_allclose(rotation[flexion <= 0.0], 0.0, atol=1e-12)
    np.testing.assert_allclose(rotation[flexion >= 30.0], 7.0, atol=1e-12)
    assert np.all(np.diff(rotation[np.argsort(flexion)]) >= -1e-12)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_out_of_range_depth_is_rejected(exercise: Exercise) -> None:
    if exercise == "rest":
        MotionParams(exercise=exercise, depth_deg=500.0)  # ignored
        return
    with pytest.raises(ValueError, match="depth_deg"):
        MotionParams(exercise=exercise, depth_deg=TEMPLATES[exercise].depth_max_deg + 1.0)


def test_left_working_leg_mirrors_the_right() -> None:
    right = Motion(MotionParams(exercise="ffe_split_squat", side="r", reps=1))
    left = Motion(MotionParams(exercise="ffe_split_squat", side="l", reps=1))
    t = np.linspace(0.0, right.duration_s, 200)
    a, b = right.evaluate(t), left.evaluate(t)
    np.testing.assert_allclose(a.hip_angles_r_deg, b.hip_angles_l_deg, atol=1e-9)
    np.testing.assert_allclose(a.knee_angles_l_deg, b.knee_angles_r_deg, atol=1e-9)
    mirror = np.array([1.0, -1.0, 1.0])
    np.testing.assert_allclose(a.position_ankle_l_m * mirror, b.position_ankle_r_m, atol=1e-9)
