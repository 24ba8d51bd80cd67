"""Postures of the exercises and clinical tests added for the exercise analysis (issue 6): the
flat split squat, the cable crossover step-up, the 90/90 transitions, the supine IR test and the
active straight leg raise; femur tilt and pelvic lift options of the clinical tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.geometry import Side, quat_rotate
from coxa.sim import EXERCISES, TEMPLATES, Exercise, Motion, MotionParams, MotionState
from tests.sim.strategies import motion_params

SIDES: tuple[Side, Side] = ("r", "l")
#: World Y of the athlete's right (facing world +X, Z up).
RIGHT_Y = {"r": -1.0, "l": 1.0}


def _bottom(motion: Motion) -> MotionState:
    """Truth at the start (top) and the bottom of the first rep."""
    truth = motion.rep_truth
    return motion.evaluate(np.array([truth.start_t_s[0], truth.bottom_t_s[0]]))


def _knee_m(state: MotionState, side: Side) -> np.ndarray:
    return state.position_knee_r_m if side == "r" else state.position_knee_l_m


def test_every_exercise_has_a_template() -> None:
    assert set(TEMPLATES) == set(EXERCISES)
    assert len(set(EXERCISES)) == len(EXERCISES)
    for name, template in TEMPLATES.items():
        if template.plant_feet:  # adduction is solved there, so none may be commanded
            assert template.work_hip_adduction.is_still, name
            assert template.other_hip_adduction.is_still, name
        if template.both_feet_planted:
            assert template.anchor == "pelvis", name


@pytest.mark.parametrize("side", SIDES)
def test_split_squat_drops_the_rear_knee_toward_the_floor(side: Side) -> None:
    motion = Motion(MotionParams(exercise="split_squat", side=side, reps=1))
    state = _bottom(motion)
    other = motion.other_side
    front, rear = state.ankle_m(side), state.ankle_m(other)
    body = motion.params.body
    # Both feet on flat ground, the rear one about 0.8 m behind with the heel up.
    assert front[0, 2] == pytest.approx(body.ankle_height_m, abs=1e-9)
    assert 0.65 < front[0, 0] - rear[0, 0] < 0.9
    assert body.ankle_height_m < rear[0, 2] < 0.25
    np.testing.assert_allclose(rear[1], rear[0], atol=1e-3)  # the rear foot stays put
    rear_knee = _knee_m(state, other)
    assert rear_knee[0, 2] > 0.4  # standing tall at the top
    assert 0.05 < rear_knee[1, 2] < 0.2  # close to the floor at the bottom
    assert state.knee_angles_deg(other)[1, 0] > 90.0  # the rear knee bends deeply
    assert state.knee_angles_deg(side)[1, 0] == pytest.approx(90.0, abs=1e-9)
    # The front thigh is about level, its shank near vertical.
    front_knee = _knee_m(state, side)
    thigh = front_knee[1] - state.origin_m("femur_r" if side == "r" else "femur_l")[1]
    assert abs(np.degrees(np.arctan2(thigh[2], thigh[0]))) < 10.0
    shank = front_knee[1] - front[1]
    assert abs(np.degrees(np.arctan2(shank[0], shank[2]))) < 15.0


@settings(max_examples=20)
@given(motion_params(("split_squat",), pelvis=False), st.floats(-10.0, 20.0))
def test_split_squat_keeps_the_rear_knee_above_the_floor(
    params: MotionParams, front_ir_deg: float
) -> None:
    # Front-hip IR up to 20 deg (documented range; at 40 deg and full depth the front knee's
    # inward swing lowers the pelvis until the rear knee reaches the floor).
    motion = Motion(dataclasses.replace(params, hip_ir_bottom_deg=front_ir_deg))
    t = np.arange(0.0, motion.duration_s, 0.02)
    state = motion.evaluate(t)
    for side in SIDES:
        assert _knee_m(state, side)[:, 2].min() > 0.03


@pytest.mark.parametrize("side", SIDES)
def test_crossover_step_up_turns_the_pelvis_toward_the_lead_leg(side: Side) -> None:
    cross = Motion(MotionParams(exercise="crossover_step_up", side=side, reps=1))
    plain = Motion(MotionParams(exercise="step_up", side=side, reps=1))
    assert cross.hip_ir_bottom_deg > plain.hip_ir_bottom_deg
    state = _bottom(cross)
    facing = quat_rotate(state.quat_world_pelvis_wxyz, np.array([1.0, 0.0, 0.0]))
    assert facing[0, 1] == pytest.approx(0.0, abs=1e-12)  # square at the top
    turn_deg = np.degrees(np.arctan2(facing[1, 1] * RIGHT_Y[side], facing[1, 0]))
    assert turn_deg == pytest.approx(10.0, abs=1e-6)  # toward the lead leg's side
    assert state.hip_angles_deg(side)[1, 2] == pytest.approx(15.0, abs=1e-9)
    # The lead foot stays on the box; the hip flexion is the plain step-up's.
    np.testing.assert_allclose(state.ankle_m(side)[1], state.ankle_m(side)[0], atol=1e-9)
    plain_state = _bottom(plain)
    np.testing.assert_allclose(
        state.hip_angles_deg(side)[:, 0], plain_state.hip_angles_deg(side)[:, 0], atol=1e-9
    )


@pytest.mark.parametrize("side", SIDES)
def test_90_90_swings_the_knees_from_one_side_to_the_other(side: Side) -> None:
    motion = Motion(MotionParams(exercise="90_90", side=side, reps=2))
    truth = motion.rep_truth
    t = np.arange(truth.start_t_s[0], truth.end_t_s[-1], 0.01)
    state = motion.evaluate(t)
    other = motion.other_side
    work_ir, other_ir = state.hip_angles_deg(side)[:, 2], state.hip_angles_deg(other)[:, 2]
    # Working hip from ER to IR and back, the other the reverse, as commanded.
    assert work_ir[0] == pytest.approx(motion.hip_ir_top_deg)
    assert work_ir[0] < 0
    assert other_ir[0] == pytest.approx(motion.hip_ir_other_top_deg)
    assert other_ir[0] > 0
    ends = motion.evaluate(truth.bottom_t_s)
    np.testing.assert_allclose(ends.hip_angles_deg(side)[:, 2], motion.hip_ir_bottom_deg)
    np.testing.assert_allclose(ends.hip_angles_deg(other)[:, 2], motion.hip_ir_other_bottom_deg)
    assert motion.hip_ir_bottom_deg > 0 > motion.hip_ir_other_bottom_deg
    # Feet planted, knees held at the depth, hips flexed about 90 deg.
    for s in SIDES:
        ankle = state.ankle_m(s)
        assert np.linalg.norm(ankle - ankle[0], axis=1).max() < 1e-6
        assert 0.0 < ankle[0, 2] < 0.12
        np.testing.assert_allclose(state.knee_angles_deg(s)[:, 0], 90.0, atol=1e-6)
        assert np.all(np.abs(state.hip_angles_deg(s)[:, 0] - 100.0) < 15.0)
        assert _knee_m(state, s)[:, 2].min() > 0.1  # knees above the floor
    # Both knees lean to the working side at the top, to the other side at the bottom.
    toward_work = RIGHT_Y[side]
    mid_y = state.position_pelvis_m[0, 1]
    top = motion.evaluate(truth.start_t_s[:1])
    for s in SIDES:
        knee_top = _knee_m(top, s)[0, 1] - mid_y
        knee_bottom = _knee_m(ends, s)[0, 1] - mid_y
        assert toward_work * (knee_top - knee_bottom) > 0.25


def test_90_90_refuses_what_planted_feet_decide() -> None:
    with pytest.raises(ValueError, match="plants both feet"):
        MotionParams(exercise="90_90", depth_spread_deg=2.0)
    with pytest.raises(ValueError, match="plants both feet"):
        MotionParams(exercise="90_90", hip_flexion_bottom_deg=80.0)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("ir_deg", [0.0, 25.0, 40.0])
def test_supine_internal_rotation_drops_the_foot_outward(side: Side, ir_deg: float) -> None:
    motion = Motion(MotionParams(exercise="supine_ir", side=side, reps=1, hip_ir_bottom_deg=ir_deg))
    state = _bottom(motion)
    face = quat_rotate(state.quat_world_pelvis_wxyz[0], np.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(face, [0.0, 0.0, 1.0], atol=1e-12)  # face up
    head = quat_rotate(state.quat_world_pelvis_wxyz[0], np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(head, [-1.0, 0.0, 0.0], atol=1e-12)
    hip = state.origin_m("femur_r" if side == "r" else "femur_l")
    knee = _knee_m(state, side)
    np.testing.assert_allclose(knee - hip, [[0.0, 0.0, 0.429]] * 2, atol=1e-9)  # femur up
    shank = state.ankle_m(side) - knee
    np.testing.assert_allclose(shank[0], [0.431, 0.0, 0.0], atol=1e-9)  # toward the feet
    outward = RIGHT_Y[side]
    assert outward * shank[1, 1] == pytest.approx(0.431 * np.sin(np.radians(ir_deg)), abs=1e-9)
    np.testing.assert_allclose(state.hip_angles_deg(side)[1], [90.0, 0.0, ir_deg], atol=1e-9)
    # The other leg lies straight on the table.
    other = motion.other_side
    other_leg = state.ankle_m(other) - state.origin_m("femur_r" if other == "r" else "femur_l")
    np.testing.assert_allclose(other_leg, [[0.86, 0.0, 0.0]] * 2, atol=1e-9)


@pytest.mark.parametrize("side", SIDES)
@given(st.floats(30.0, 100.0))
@settings(max_examples=10)
def test_aslr_lifts_the_straight_leg_to_the_drawn_angle(side: Side, raise_deg: float) -> None:
    motion = Motion(
        MotionParams(exercise="aslr", side=side, reps=1, hip_flexion_bottom_deg=raise_deg)
    )
    state = _bottom(motion)
    hip = state.origin_m("femur_r" if side == "r" else "femur_l")
    leg = state.ankle_m(side) - hip
    lift_deg = np.degrees(np.arctan2(leg[:, 2], leg[:, 0]))
    np.testing.assert_allclose(lift_deg, [0.0, raise_deg], atol=1e-9)  # thigh above horizontal
    np.testing.assert_allclose(state.knee_angles_deg(side)[:, 0], 0.0, atol=1e-12)
    assert motion.rep_truth.hip_flexion_peak_deg(side)[0] == pytest.approx(raise_deg, abs=1e-9)
    np.testing.assert_allclose(state.hip_angles_deg(motion.other_side), 0.0, atol=1e-12)


def test_aslr_defaults_to_the_coaching_pass_mark() -> None:
    motion = Motion(MotionParams(exercise="aslr", reps=1))
    assert motion.rep_truth.hip_flexion_peak_r_deg[0] == pytest.approx(70.0)
    assert motion.depth_deg == 0.0


@pytest.mark.parametrize("exercise", ["prone_ir", "seated_ir", "supine_ir"])
@pytest.mark.parametrize("side", SIDES)
def test_clinical_tests_take_a_tilted_femur(exercise: Exercise, side: Side) -> None:
    params = MotionParams(
        exercise=exercise,
        side=side,
        reps=1,
        depth_deg=75.0,
        hip_ir_bottom_deg=30.0,
        hip_flexion_offset_deg=-15.0,
        hip_adduction_offset_deg=12.0,
    )
    motion = Motion(params)
    state = _bottom(motion)
    nominal = TEMPLATES[exercise].work_hip_flexion.top_deg
    np.testing.assert_allclose(state.hip_angles_deg(side)[0], [nominal - 15.0, 12.0, 0.0])
    np.testing.assert_allclose(state.hip_angles_deg(side)[1], [nominal - 15.0, 12.0, 30.0])
    np.testing.assert_allclose(state.knee_angles_deg(side)[:, 0], 75.0)
    # Raw shin tilt from vertical (the naive reading) is now off the true IR by degrees.
    shank = state.ankle_m(side) - _knee_m(state, side)
    vertical = np.array([0.0, 0.0, 1.0 if exercise == "prone_ir" else -1.0])
    if exercise == "supine_ir":
        vertical = np.array([1.0, 0.0, 0.0])  # the shank points to the feet at rest
    tilt = np.degrees(np.arccos(shank @ vertical / np.linalg.norm(shank, axis=1)))
    assert abs((tilt[1] - tilt[0]) - 30.0) > 2.0


def test_adduction_offset_needs_a_commanded_adduction() -> None:
    with pytest.raises(ValueError, match="hip_adduction_offset_deg"):
        MotionParams(exercise="squat", hip_adduction_offset_deg=5.0)


@pytest.mark.parametrize("onset", [0.3, 0.6])
def test_pelvic_lift_starts_at_the_onset(onset: float) -> None:
    params = MotionParams(
        exercise="prone_ir",
        reps=1,
        hip_ir_bottom_deg=40.0,
        pelvis_yaw_excursion_deg=8.0,
        pelvis_excursion_onset=onset,
    )
    motion = Motion(params)
    truth = motion.rep_truth
    t = np.linspace(truth.start_t_s[0], truth.bottom_t_s[0], 400)
    state = motion.evaluate(t)
    ir = state.hip_angles_r_deg[:, 2]
    roll = state.pelvis_angles_deg[:, 2]
    np.testing.assert_array_equal(roll[ir <= onset * 40.0 + 1e-9], 0.0)
    assert np.all(roll[ir > onset * 40.0 + 0.5] > 0)
    assert roll[-1] == pytest.approx(8.0)
    np.testing.assert_allclose(ir[-1], 40.0)  # the true hip IR stays as commanded
    with pytest.raises(ValueError, match="pelvis_excursion_onset"):
        dataclasses.replace(params, pelvis_excursion_onset=1.0)


@pytest.mark.parametrize(
    ("exercise", "lo_deg", "hi_deg"),
    [("squat", 25.0, 45.0), ("split_squat", 0.0, 15.0), ("step_up", 5.0, 25.0)],
)
def test_shank_inclination_truth_at_the_bottom(
    exercise: Exercise, lo_deg: float, hi_deg: float
) -> None:
    motion = Motion(MotionParams(exercise=exercise, reps=1))
    state = _bottom(motion)
    incline = state.shank_inclination_deg("r")
    # Knee ahead of the ankle at the bottom; without IR it is knee flexion - hip flexion +
    # anterior pelvis tilt (the sagittal sum of the templates, docs/simulator.md).
    assert lo_deg < incline[1] < hi_deg
    no_ir = Motion(MotionParams(exercise=exercise, reps=1, hip_ir_bottom_deg=0.0))
    flat = _bottom(no_ir)
    hip, knee = flat.hip_angles_r_deg[1], flat.knee_angles_r_deg[1]
    expected = knee[0] - hip[0] + flat.pelvis_angles_deg[1, 0]
    assert flat.shank_inclination_deg("r")[1] == pytest.approx(expected, abs=0.5)
