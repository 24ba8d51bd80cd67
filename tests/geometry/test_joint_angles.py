"""ISB hip and knee angles: decomposition against SciPy, signs on known poses, left mirroring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    cardan_zxy_rad,
    heading_rad,
    hip_angles_deg,
    knee_angles_deg,
    quat_from_axis_angle,
    quat_from_cardan_zxy,
    quat_from_scipy,
    quat_hip_from_angles_deg,
    quat_knee_from_angles_deg,
    quat_multiply,
    quat_rotate,
)

NEUTRAL = QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ
angle = st.floats(-80.0, 80.0, allow_nan=False)


def test_cardan_matches_scipy_intrinsic_zxy() -> None:
    r = Rotation.random(500, rng=np.random.default_rng(7))
    np.testing.assert_allclose(cardan_zxy_rad(quat_from_scipy(r)), r.as_euler("ZXY"), atol=1e-9)


@given(angle, angle, angle)
def test_cardan_round_trip(a: float, b: float, c: float) -> None:
    angles = np.radians([a, b, c])
    np.testing.assert_allclose(cardan_zxy_rad(quat_from_cardan_zxy(angles)), angles, atol=1e-9)


def _femur_world(hip_rotation_in_pelvis: np.ndarray) -> np.ndarray:
    return quat_multiply(NEUTRAL, hip_rotation_in_pelvis)


def test_pure_flexion_moves_the_right_knee_forward() -> None:
    femur = _femur_world(quat_from_axis_angle([0, 0, 1], np.radians(40)))
    knee_dir = quat_rotate(femur, [0.0, -1.0, 0.0])  # femur distal direction in the world
    assert knee_dir[0] > 0.6  # anterior: world +X
    np.testing.assert_allclose(hip_angles_deg(NEUTRAL, femur, "r"), [40, 0, 0], atol=1e-9)


def test_internal_rotation_turns_the_right_femur_front_medially() -> None:
    femur = _femur_world(quat_from_axis_angle([0, 1, 0], np.radians(25)))
    front = quat_rotate(femur, [1.0, 0.0, 0.0])
    assert front[1] > 0.4  # medial for the right leg is the athlete's left: world +Y
    np.testing.assert_allclose(hip_angles_deg(NEUTRAL, femur, "r"), [0, 0, 25], atol=1e-9)


def test_left_side_is_mirrored() -> None:
    # The left femur turning its front to the athlete's right (world -Y) is internal rotation.
    femur = _femur_world(quat_from_axis_angle([0, 1, 0], np.radians(-25)))
    assert quat_rotate(femur, [1.0, 0.0, 0.0])[1] < -0.4
    np.testing.assert_allclose(hip_angles_deg(NEUTRAL, femur, "l"), [0, 0, 25], atol=1e-9)
    # Left adduction: the knee moves to the athlete's right (world -Y).
    add = _femur_world(quat_from_axis_angle([1, 0, 0], np.radians(-10)))
    assert quat_rotate(add, [0.0, -1.0, 0.0])[1] < 0
    np.testing.assert_allclose(hip_angles_deg(NEUTRAL, add, "l"), [0, 10, 0], atol=1e-9)


def test_knee_flexion_is_positive_when_the_ankle_goes_back() -> None:
    tibia = quat_multiply(NEUTRAL, quat_knee_from_angles_deg([60, 0, 0], "r"))
    ankle_dir = quat_rotate(tibia, [0.0, -1.0, 0.0])
    assert ankle_dir[0] < -0.8  # posterior
    np.testing.assert_allclose(knee_angles_deg(NEUTRAL, tibia, "r"), [60, 0, 0], atol=1e-9)


@pytest.mark.parametrize("side", ["r", "l"])
@given(angle, angle, angle)
def test_hip_and_knee_builders_invert_the_angles(side: str, a: float, b: float, c: float) -> None:
    pelvis = quat_from_scipy(Rotation.from_rotvec([0.2, -0.4, 1.0]))
    hip = quat_multiply(pelvis, quat_hip_from_angles_deg([a, b, c], side))  # type: ignore[arg-type]
    np.testing.assert_allclose(hip_angles_deg(pelvis, hip, side), [a, b, c], atol=1e-7)  # type: ignore[arg-type]
    tib = quat_multiply(hip, quat_knee_from_angles_deg([a, b, c], side))  # type: ignore[arg-type]
    np.testing.assert_allclose(knee_angles_deg(hip, tib, side), [a, b, c], atol=1e-7)  # type: ignore[arg-type]


def test_hip_angles_do_not_depend_on_a_common_world_rotation() -> None:
    pelvis = quat_from_scipy(Rotation.random(50, rng=np.random.default_rng(1)))
    femur = quat_from_scipy(Rotation.random(50, rng=np.random.default_rng(2)))
    turn = quat_from_scipy(Rotation.random(rng=np.random.default_rng(3)))
    np.testing.assert_allclose(
        hip_angles_deg(quat_multiply(turn, pelvis), quat_multiply(turn, femur), "r"),
        hip_angles_deg(pelvis, femur, "r"),
        atol=1e-7,
    )


def test_heading_of_neutral_segment_is_zero_and_turns_left_positive() -> None:
    assert heading_rad(NEUTRAL) == pytest.approx(0.0, abs=1e-12)
    turned = quat_multiply(quat_from_axis_angle([0, 0, 1], 0.5), NEUTRAL)
    assert heading_rad(turned) == pytest.approx(0.5)


def test_bad_side_is_rejected() -> None:
    with pytest.raises(ValueError, match="side"):
        hip_angles_deg(NEUTRAL, NEUTRAL, "x")  # type: ignore[arg-type]
