"""Quaternion helpers checked against SciPy's independent implementation on known rotations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.transform import Rotation

from coxa.geometry import (
    angular_velocity_body_rad_s,
    integrate_gyr_rad_s,
    quat_angle_rad,
    quat_canonical,
    quat_conjugate,
    quat_from_axis_angle,
    quat_from_matrix,
    quat_from_rotvec,
    quat_from_scipy,
    quat_multiply,
    quat_normalize,
    quat_relative,
    quat_rotate,
    quat_slerp,
    quat_to_matrix,
    quat_to_rotvec,
    quat_to_scipy,
)

finite = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)
quats = arrays(np.float64, (4,), elements=finite).filter(lambda q: np.linalg.norm(q) > 0.1)
vecs = arrays(np.float64, (3,), elements=st.floats(-10, 10, allow_nan=False))


def _random_rotations(n: int, seed: int) -> Rotation:
    return Rotation.random(n, rng=np.random.default_rng(seed))


def test_known_rotation_about_z_turns_x_into_y() -> None:
    q = quat_from_axis_angle([0.0, 0.0, 1.0], np.pi / 2)
    np.testing.assert_allclose(q, [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)], atol=1e-15)
    np.testing.assert_allclose(quat_rotate(q, [1.0, 0.0, 0.0]), [0.0, 1.0, 0.0], atol=1e-15)


def test_scipy_round_trip_keeps_scalar_first_order() -> None:
    rot = Rotation.from_euler("x", 30, degrees=True)
    q = quat_from_scipy(rot)
    assert q[0] == pytest.approx(np.cos(np.radians(15)))
    assert q[1] == pytest.approx(np.sin(np.radians(15)))
    np.testing.assert_allclose(quat_to_scipy(q).as_matrix(), rot.as_matrix(), atol=1e-15)


def test_multiply_matches_scipy_composition() -> None:
    a = _random_rotations(200, 1)
    b = _random_rotations(200, 2)
    got = quat_multiply(quat_from_scipy(a), quat_from_scipy(b))
    want = quat_from_scipy(a * b)
    np.testing.assert_allclose(quat_canonical(got), quat_canonical(want), atol=1e-12)


def test_rotate_matrix_rotvec_match_scipy() -> None:
    r = _random_rotations(200, 3)
    q = quat_from_scipy(r)
    v = np.random.default_rng(4).normal(size=(200, 3))
    np.testing.assert_allclose(quat_rotate(q, v), r.apply(v), atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q), r.as_matrix(), atol=1e-12)
    np.testing.assert_allclose(quat_to_rotvec(q), r.as_rotvec(), atol=1e-12)
    np.testing.assert_allclose(
        quat_canonical(quat_from_rotvec(r.as_rotvec())), quat_canonical(q), atol=1e-12
    )


def test_relative_and_angle_match_scipy() -> None:
    a = _random_rotations(100, 5)
    b = _random_rotations(100, 6)
    rel = quat_relative(quat_from_scipy(a), quat_from_scipy(b))
    np.testing.assert_allclose(quat_to_matrix(rel), (a.inv() * b).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(
        quat_angle_rad(quat_from_scipy(a), quat_from_scipy(b)), (a.inv() * b).magnitude(), atol=1e-9
    )


def test_small_rotvec_is_accurate() -> None:
    rotvec = np.array([1e-9, -2e-9, 3e-10])
    np.testing.assert_allclose(quat_to_rotvec(quat_from_rotvec(rotvec)), rotvec, rtol=1e-6)


def test_slerp_halfway_is_half_the_angle() -> None:
    a = quat_from_axis_angle([0, 0, 1], 0.0)
    b = quat_from_axis_angle([0, 0, 1], 1.0)
    np.testing.assert_allclose(quat_slerp(a, b, 0.5), quat_from_axis_angle([0, 0, 1], 0.5))


@given(quats, vecs)
def test_rotation_preserves_length_and_conjugate_undoes_it(
    q_raw: np.ndarray, v: np.ndarray
) -> None:
    q = quat_normalize(q_raw)
    rotated = quat_rotate(q, v)
    assert np.linalg.norm(rotated) == pytest.approx(np.linalg.norm(v), abs=1e-9)
    np.testing.assert_allclose(quat_rotate(quat_conjugate(q), rotated), v, atol=1e-9)


def test_gyro_integration_inverts_angular_velocity() -> None:
    r = Rotation.from_rotvec(np.linspace(0, 1, 101)[:, None] * np.array([0.3, -1.2, 2.0]))
    q = quat_from_scipy(r)
    gyr = angular_velocity_body_rad_s(q, rate_hz=100.0)
    np.testing.assert_allclose(gyr, np.tile([0.3, -1.2, 2.0], (100, 1)), atol=1e-9)
    back = integrate_gyr_rad_s(q[0], gyr, rate_hz=100.0)
    assert np.max(quat_angle_rad(back, q)) < 1e-9


@pytest.mark.parametrize("bad", [np.zeros(4), np.zeros(3), np.zeros((2, 5))])
def test_zero_quaternion_and_wrong_shapes_raise(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="quaternion"):
        quat_normalize(bad)


@given(quats)
def test_matrix_round_trip_gives_the_canonical_quaternion(q_raw: np.ndarray) -> None:
    """``quat_from_matrix(quat_to_matrix(q))`` is ``q`` with ``w >= 0`` (either sign when
    ``w`` is 0: a half turn)."""
    q = quat_normalize(q_raw)
    back = quat_from_matrix(quat_to_matrix(q))
    assert back[0] >= 0.0
    assert np.linalg.norm(back) == pytest.approx(1.0, abs=1e-12)
    assert min(np.max(np.abs(back - q)), np.max(np.abs(back + q))) < 1e-12


def test_from_matrix_matches_scipy_including_half_turns() -> None:
    """Random rotations, the identity and half turns about the axes and diagonals (where the
    trace is smallest and a naive formula divides by zero), against SciPy."""
    axes = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 1], [0, 1, -1]], float)
    half_turns = Rotation.from_rotvec(np.pi * axes / np.linalg.norm(axes, axis=1, keepdims=True))
    rotations = Rotation.concatenate([_random_rotations(500, 8), Rotation.identity(), half_turns])
    matrices = rotations.as_matrix()
    got = quat_from_matrix(matrices)
    # Same rotation (SciPy's sign may differ at w = 0) and unit norm.
    np.testing.assert_allclose(quat_to_matrix(got), matrices, atol=1e-12)
    want = quat_canonical(quat_from_scipy(rotations))
    np.testing.assert_allclose(np.abs(np.sum(got * want, axis=1)), 1.0, atol=1e-12)


def test_from_matrix_keeps_leading_axes_and_tolerates_rounding() -> None:
    q = quat_from_scipy(_random_rotations(30, 9)).reshape(2, 3, 5, 4)
    matrices = quat_to_matrix(q)
    assert quat_from_matrix(matrices).shape == (2, 3, 5, 4)
    np.testing.assert_allclose(quat_from_matrix(matrices), quat_canonical(q), atol=1e-12)
    # A matrix slightly off orthogonal (accumulated rounding) still gives a unit quaternion
    # of a nearby rotation.
    noisy = matrices + np.random.default_rng(10).normal(scale=1e-9, size=matrices.shape)
    got = quat_from_matrix(noisy)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-12)
    assert np.max(quat_angle_rad(got, q)) < 1e-8


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((3, 4)), np.zeros((2, 2, 3))])
def test_from_matrix_refuses_wrong_shapes(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        quat_from_matrix(bad)
