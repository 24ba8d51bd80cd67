"""The knee-hinge axis fit on its own: any mounts, any board headings, with and without the
screw-home rotation, and the heading-free bend evidence of a straight leg."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.fusion._hinge import (
    _increments,
    _knee_magnitude,
    _planarity,
    _Steps,
    fit_knee_hinge,
)
from coxa.geometry import (
    FloatArray,
    quat_conjugate,
    quat_from_axis_angle,
    quat_multiply,
    quat_normalize,
    quat_rotate,
    quat_to_matrix,
    quat_to_rotvec,
)

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])
RATE_HZ = 50.0
#: Standing: the segment's long axis (Y) along the world's up (Z).
STANDING = quat_from_axis_angle(_X, np.pi / 2.0)


def leg(
    knee_peak_deg: float, screw_home_deg: float, seconds: float = 20.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Thigh and shank segment orientations of squat-like reps (hip flexes with adduction, the
    knee flexes about the femur's Z with the tibia turning about its long axis near extension),
    and the knee flexion, rad."""
    t = np.arange(0.0, seconds, 1.0 / RATE_HZ)
    knee = np.radians(knee_peak_deg) * 0.5 * (1.0 - np.cos(2.0 * np.pi * t / 5.0))
    hip = 0.8 * knee
    thigh = quat_multiply(
        STANDING,
        quat_multiply(quat_from_axis_angle(_Z, hip), quat_from_axis_angle(_X, 0.15 * hip)),
    )
    screw = np.radians(screw_home_deg) * np.clip(knee / np.radians(30.0), 0.0, 1.0)
    shank = quat_multiply(
        thigh, quat_multiply(quat_from_axis_angle(_Z, -knee), quat_from_axis_angle(_Y, screw))
    )
    return thigh, shank, knee


def boards(
    segment: FloatArray, mount: FloatArray, heading_rad: float
) -> tuple[FloatArray, FloatArray]:
    """A board's orientation in its own world (turned by ``heading_rad``), and at the rest."""
    quat = quat_multiply(quat_multiply(quat_from_axis_angle(_Z, heading_rad), segment), mount)
    return quat, quat[0]


def angle_deg(a: FloatArray, b: FloatArray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


unit_quats = st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4).filter(
    lambda q: float(np.linalg.norm(q)) > 0.2
)


@settings(max_examples=10, deadline=None)
@given(
    mount_thigh=unit_quats,
    mount_shank=unit_quats,
    heading_thigh=st.floats(-np.pi, np.pi),
    heading_shank=st.floats(-np.pi, np.pi),
    screw_home_deg=st.sampled_from([0.0, 7.0]),
    knee_peak_deg=st.floats(70.0, 130.0),
)
def test_axis_and_heading_found_for_any_mount_and_heading(
    mount_thigh: list[float],
    mount_shank: list[float],
    heading_thigh: float,
    heading_shank: float,
    screw_home_deg: float,
    knee_peak_deg: float,
) -> None:
    m_thigh = quat_normalize(np.array(mount_thigh))
    m_shank = quat_normalize(np.array(mount_shank))
    thigh, shank, knee = leg(knee_peak_deg, screw_home_deg)
    q_thigh, rest_thigh = boards(thigh, m_thigh, heading_thigh)
    q_shank, rest_shank = boards(shank, m_shank, heading_shank)
    fit = fit_knee_hinge(q_thigh, q_shank, rest_thigh, rest_shank)
    # The segments' Z in each sensor frame (the femur's Z is the knee axis here).
    assert angle_deg(fit.axis_thigh_sensor, quat_rotate(quat_conjugate(m_thigh), _Z)) < 0.5
    true_shank_z = quat_rotate(
        quat_conjugate(m_shank), quat_rotate(quat_conjugate(shank[0]), quat_rotate(thigh[0], _Z))
    )
    assert angle_deg(fit.axis_shank_sensor, true_shank_z) < 0.5
    # As the flexed knee turns about it, the axis lies turned by the screw-home rotation in the
    # tibia (its frame at the rest is the femur's).
    flexed_shank_z = quat_rotate(
        quat_conjugate(m_shank),
        quat_rotate(
            quat_conjugate(shank[0]),
            quat_rotate(
                thigh[0], quat_rotate(quat_from_axis_angle(_Y, -np.radians(screw_home_deg)), _Z)
            ),
        ),
    )
    assert angle_deg(fit.axis_shank_flexed_sensor, flexed_shank_z) < 0.5
    heading_error = np.angle(np.exp(1j * (fit.heading_rad - (heading_thigh - heading_shank))))
    assert abs(np.degrees(heading_error)) < 0.5
    np.testing.assert_allclose(fit.knee_rad, knee, atol=np.radians(screw_home_deg / 2.0 + 0.5))
    assert fit.bend_deg > 30.0


def test_a_straight_leg_swinging_shows_no_bend() -> None:
    """Thigh and shank pitch back together (the trailing leg of a step-up): whatever axis the
    fit returns, the heading-free bend evidence stays at the few degrees the knee really bent."""
    t = np.arange(0.0, 20.0, 1.0 / RATE_HZ)
    pitch = -np.radians(15.0) * 0.5 * (1.0 - np.cos(2.0 * np.pi * t / 5.0))
    thigh = quat_multiply(STANDING, quat_from_axis_angle(_Z, pitch))
    shank = quat_multiply(thigh, quat_from_axis_angle(_Z, -0.2 * pitch))
    q_thigh, rest_thigh = boards(thigh, quat_from_axis_angle(_X, 0.3), 0.4)
    q_shank, rest_shank = boards(shank, quat_from_axis_angle(_Y, 1.0), -1.1)
    fit = fit_knee_hinge(q_thigh, q_shank, rest_thigh, rest_shank)
    assert fit.bend_deg < 3.5


def test_missing_rows_are_ignored() -> None:
    thigh, shank, _ = leg(100.0, 7.0)
    q_thigh, rest_thigh = boards(thigh, np.array([1.0, 0.0, 0.0, 0.0]), 0.0)
    q_shank, rest_shank = boards(shank, np.array([1.0, 0.0, 0.0, 0.0]), 0.0)
    q_shank[100:180] = np.nan
    fit = fit_knee_hinge(q_thigh, q_shank, rest_thigh, rest_shank)
    assert angle_deg(fit.axis_thigh_sensor, _Z) < 0.5  # identity mount: the sensor is the femur
    assert np.all(np.isnan(fit.knee_rad[100:180]))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 50), still=st.integers(0, 50))
def test_compiled_heading_scan_is_the_geometry_arithmetic(seed: int, m: int, still: int) -> None:
    """The compiled loops of the heading scan (relative step rotations, knee angles since the
    rest, scatter planarity) give what the coxa.geometry functions and NumPy give, for any
    orientations and candidate headings, relative rotations below the small-angle limit
    included."""
    rng = np.random.default_rng(seed)

    def quats(n: int) -> FloatArray:
        return quat_normalize(rng.normal(size=(n, 4)))

    step_thigh = quats(m)
    step_shank = quats(m)
    # Steps turning alike but for 1e-12 rad: the small-angle limit at the heading 0.
    tiny = quat_from_axis_angle(rng.normal(size=(m, 3)), np.full(m, 1e-12))
    still = min(still, m)
    step_shank[:still] = quat_multiply(step_thigh[:still], tiny[:still])
    steps = _Steps(step_thigh, step_shank, quats(m), quats(m), quat_to_matrix(quats(m)))
    heading = np.concatenate([[0.0], rng.uniform(-np.pi, np.pi, 6)])
    turn = quat_from_axis_angle(_Z, heading)[:, None, :]

    def turned(quat: FloatArray) -> FloatArray:
        return quat_multiply(quat_multiply(turn, quat[None]), quat_conjugate(turn))

    relative = quat_multiply(turned(steps.step_shank), quat_conjugate(steps.step_thigh)[None])
    expected = np.einsum("nji,knj->kni", steps.frame_thigh, quat_to_rotvec(relative))
    increments = _increments(steps, heading)
    np.testing.assert_allclose(increments, expected, rtol=0.0, atol=1e-12)
    np.testing.assert_allclose(increments[0, :still], expected[0, :still], rtol=1e-6, atol=0.0)
    since = quat_multiply(
        quat_conjugate(steps.since_rest_thigh)[None], turned(steps.since_rest_shank)
    )
    knee = 2.0 * np.arctan2(np.linalg.norm(since[..., 1:], axis=-1), np.abs(since[..., 0]))
    # arccos near 1 magnifies the last bit of its argument (1e-16 -> 1e-8 rad)
    np.testing.assert_allclose(_knee_magnitude(steps, heading), knee, rtol=0.0, atol=1e-7)
    weights = (rng.uniform(size=(*heading.shape, m)) < 0.7).astype(np.float64)
    scatter = np.einsum("kn,kni,knj->kij", weights, increments, increments)
    eigenvalues = np.linalg.eigvalsh(scatter)
    total = eigenvalues.sum(axis=-1)
    share = np.divide(eigenvalues[:, -1], total, out=np.zeros_like(total), where=total > 0)
    np.testing.assert_allclose(_planarity(increments, weights), share, rtol=0.0, atol=1e-12)
