"""IMU synthesis: clean signals agree with the truth; errors behave as specified and are seeded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.body import NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ, SEGMENTS, SegmentName
from coxa.geometry import (
    GRAVITY_M_S2,
    Side,
    integrate_gyr_rad_s,
    quat_angle_rad,
    quat_conjugate,
    quat_multiply,
    quat_relative,
    quat_rotate,
    quat_to_matrix,
    quat_to_rotvec,
)
from coxa.sim import (
    STA_AXIS_IN_FEMUR,
    ImuParams,
    Motion,
    MotionParams,
    SensorMount,
    default_mount,
    default_mounts,
    random_mount,
    synthesize_imu,
    synthesize_rig,
)
from tests.sim.strategies import MOVING_EXERCISES, motion_params

segments = st.sampled_from(SEGMENTS)
seeds = st.integers(0, 2**32 - 1)
UP = np.array([0.0, 0.0, 1.0])


@settings(max_examples=20)
@given(motion_params(MOVING_EXERCISES), segments, st.floats(0.0, 1.0), st.booleans())
def test_integrating_the_clean_gyro_reproduces_the_orientation(
    params: MotionParams, segment: SegmentName, start_fraction: float, wobble: bool
) -> None:
    motion = Motion(params)
    start = params.rest_before_s + start_fraction * 2.0
    imu_params = dataclasses.replace(
        ImuParams.clean(),
        thigh_sta_gain_deg_per_m_s2=2.0 if wobble else 0.0,
        thigh_sta_deg_per_knee_flexion_deg=0.05 if wobble else 0.0,
    )
    rec = synthesize_imu(
        motion, default_mount(segment), imu_params, seed=0, t_start_s=start, t_end_s=start + 3.0
    )
    # The gyro is sampled at the instants; the trapezoid of two samples acts over each step.
    steps = 0.5 * (rec.gyr_rad_s[:-1] + rec.gyr_rad_s[1:])
    quat = integrate_gyr_rad_s(rec.quat_world_sensor_wxyz[0], steps, imu_params.rate_hz)
    error_deg = np.degrees(quat_angle_rad(quat, rec.quat_world_sensor_wxyz))
    assert error_deg.max() < 0.05


@settings(max_examples=15)
@given(motion_params(), segments)
def test_a_sensor_at_rest_measures_gravity_only(params: MotionParams, segment: SegmentName) -> None:
    params = dataclasses.replace(params, rest_before_s=max(params.rest_before_s, 1.0))
    motion = Motion(params)
    end = params.rest_before_s - 0.01
    rec = synthesize_imu(motion, default_mount(segment), ImuParams.clean(), seed=1, t_end_s=end)
    assert rec.t_s.size > 100
    np.testing.assert_allclose(np.linalg.norm(rec.acc_m_s2, axis=1), GRAVITY_M_S2, atol=1e-6)
    up_in_sensor = quat_rotate(quat_conjugate(rec.quat_world_sensor_wxyz), UP)
    np.testing.assert_allclose(rec.acc_m_s2, GRAVITY_M_S2 * up_in_sensor, atol=1e-6)
    np.testing.assert_allclose(rec.gyr_rad_s, 0.0, atol=1e-9)


def test_clean_accelerometer_is_specific_force_of_the_sensor_site() -> None:
    # An independent check with a coarser finite difference of the true sensor position.
    motion = Motion(MotionParams(exercise="squat", reps=2))
    mount = default_mount("tibia_r")
    rec = synthesize_imu(motion, mount, ImuParams.clean(), seed=0)
    h = 5e-4
    states = [motion.evaluate(rec.t_s + d) for d in (-h, 0.0, h)]
    site = [
        s.origin_m("tibia_r") + quat_rotate(s.quat_world_wxyz("tibia_r"), mount.position_m)
        for s in states
    ]
    acc_world = (site[2] - 2 * site[1] + site[0]) / h**2 + GRAVITY_M_S2 * UP
    expected = quat_rotate(quat_conjugate(rec.quat_world_sensor_wxyz), acc_world)
    np.testing.assert_allclose(rec.acc_m_s2, expected, atol=2e-3)
    assert np.abs(np.linalg.norm(rec.acc_m_s2, axis=1) - GRAVITY_M_S2).max() > 0.2  # it moves


@settings(max_examples=10)
@given(motion_params(), seeds)
def test_same_seed_same_recording_and_different_seeds_differ(
    params: MotionParams, seed: int
) -> None:
    motion = Motion(params)
    end = min(motion.duration_s, 6.0)
    first = synthesize_rig(motion, ImuParams(), seed=seed, t_end_s=end)
    again = synthesize_rig(motion, ImuParams(), seed=seed, t_end_s=end)
    other = synthesize_rig(motion, ImuParams(), seed=seed + 1, t_end_s=end)
    for name, rec in first.items():
        for field in ("t_us", "gyr_rad_s", "acc_m_s2", "quat_world_sensor_wxyz"):
            np.testing.assert_array_equal(getattr(rec, field), getattr(again[name], field))
        assert not np.array_equal(rec.gyr_rad_s, other[name].gyr_rad_s)
        assert not np.array_equal(rec.acc_m_s2, other[name].acc_m_s2)
    # Boards get independent noise streams.
    assert not np.array_equal(first["femur_r"].gyr_bias_rad_s, first["femur_l"].gyr_bias_rad_s)


def test_clean_recordings_do_not_depend_on_the_seed() -> None:
    motion = Motion(MotionParams(reps=1))
    a = synthesize_imu(motion, default_mount("pelvis"), ImuParams.clean(), seed=1)
    b = synthesize_imu(motion, default_mount("pelvis"), ImuParams.clean(), seed=2)
    np.testing.assert_array_equal(a.gyr_rad_s, b.gyr_rad_s)
    np.testing.assert_array_equal(a.t_us, b.t_us)


@settings(max_examples=10)
@given(seeds, st.floats(0.2, 2.0), st.floats(3.0, 15.0))
def test_saturation_clamps_at_the_range(seed: int, gyr_range: float, acc_range: float) -> None:
    motion = Motion(MotionParams(exercise="squat", reps=2, descent_s=0.6, ascent_s=0.5))
    mount = default_mount("femur_l")
    clean = dataclasses.replace(
        ImuParams.clean(), gyr_range_rad_s=gyr_range, acc_range_m_s2=acc_range
    )
    rec = synthesize_imu(motion, mount, clean, seed=seed)
    np.testing.assert_array_equal(rec.gyr_clipped, np.abs(rec.gyr_true_rad_s) > gyr_range)
    np.testing.assert_array_equal(rec.acc_clipped, np.abs(rec.acc_true_m_s2) > acc_range)
    np.testing.assert_array_equal(rec.gyr_rad_s, np.clip(rec.gyr_true_rad_s, -gyr_range, gyr_range))
    np.testing.assert_array_equal(rec.acc_m_s2, np.clip(rec.acc_true_m_s2, -acc_range, acc_range))
    if acc_range < GRAVITY_M_S2 / np.sqrt(3.0):  # some axis always carries more than this
        assert rec.acc_clipped.any()
    # With every error on, outputs still stay within the range.
    noisy = dataclasses.replace(ImuParams(), gyr_range_rad_s=gyr_range, acc_range_m_s2=acc_range)
    rec = synthesize_imu(motion, mount, noisy, seed=seed)
    assert np.abs(rec.gyr_rad_s).max() <= gyr_range
    assert np.abs(rec.acc_m_s2).max() <= acc_range
    assert np.all(np.abs(rec.acc_m_s2[rec.acc_clipped]) >= acc_range - noisy.acc_lsb_m_s2)


def test_default_outputs_are_quantised_to_the_lsb() -> None:
    params = ImuParams()
    rec = synthesize_imu(Motion(MotionParams(reps=1)), default_mount("tibia_l"), params, seed=3)
    for value, lsb in ((rec.gyr_rad_s, params.gyr_lsb_rad_s), (rec.acc_m_s2, params.acc_lsb_m_s2)):
        counts = value / lsb
        np.testing.assert_allclose(counts, np.rint(counts), atol=1e-6)
        assert np.unique(counts).size > 50


def test_white_noise_has_the_datasheet_density() -> None:
    noise_only = dataclasses.replace(
        ImuParams.clean(),
        gyr_noise_density_rad_s_rthz=ImuParams().gyr_noise_density_rad_s_rthz,
        acc_noise_density_m_s2_rthz=ImuParams().acc_noise_density_m_s2_rthz,
    )
    motion = Motion(MotionParams(exercise="rest", rest_before_s=30.0))
    rec = synthesize_imu(motion, default_mount("pelvis"), noise_only, seed=5)
    band = np.sqrt(noise_only.rate_hz / 2.0)
    gyr_sd = np.std(rec.gyr_rad_s - rec.gyr_true_rad_s, axis=0)
    acc_sd = np.std(rec.acc_m_s2 - rec.acc_true_m_s2, axis=0)
    np.testing.assert_allclose(gyr_sd, noise_only.gyr_noise_density_rad_s_rthz * band, rtol=0.05)
    np.testing.assert_allclose(acc_sd, noise_only.acc_noise_density_m_s2_rthz * band, rtol=0.05)


def test_bias_and_scale_errors_are_what_the_recording_reports() -> None:
    errors = dataclasses.replace(
        ImuParams.clean(), gyr_bias_sd_rad_s=0.02, gyr_bias_walk_rad_s_rts=1e-3, gyr_scale_sd=0.02
    )
    rec = synthesize_imu(Motion(MotionParams(reps=2)), default_mount("femur_r"), errors, seed=9)
    residual = rec.gyr_rad_s - rec.gyr_bias_rad_s
    # The remainder is a per-axis gain on the true rate: fit it and check it is a constant.
    gain = np.sum(residual * rec.gyr_true_rad_s, axis=0) / np.sum(rec.gyr_true_rad_s**2, axis=0)
    np.testing.assert_allclose(residual, gain * rec.gyr_true_rad_s, atol=1e-12)
    assert np.all(np.abs(gain - 1.0) > 0)
    assert np.all(np.abs(gain - 1.0) < 0.1)
    walk = rec.gyr_bias_rad_s - rec.gyr_bias_rad_s[0]
    assert np.abs(walk).max() > 1e-4  # the bias wanders


@pytest.mark.parametrize("segment", SEGMENTS)
def test_default_mounts_are_turned_off_the_segment_and_nominal_axes(segment: SegmentName) -> None:
    mount = default_mount(segment)
    assert np.linalg.norm(mount.quat_wxyz) == pytest.approx(1.0)
    cosines = np.abs(quat_to_matrix(mount.quat_wxyz))  # sensor axes (columns) in segment axes
    assert cosines.max() < np.cos(np.radians(8.0))  # no sensor axis along a segment axis
    off_nominal = quat_angle_rad(NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment], mount.quat_wxyz)
    assert np.degrees(off_nominal) > 15.0
    # The board's outward normal points away from the segment's long axis (out of the skin).
    normal = quat_rotate(mount.quat_wxyz, UP)
    radial = mount.position_m * np.array([1.0, 0.0, 1.0])
    assert np.dot(normal, radial) > 0


def test_default_mounts_cover_every_segment() -> None:
    assert tuple(default_mounts()) == SEGMENTS


def test_mount_rejects_a_non_unit_quaternion() -> None:
    with pytest.raises(ValueError, match="unit quaternion"):
        SensorMount("pelvis", (1.0, 1.0, 0.0, 0.0), (0.0, 0.0, 0.0))


def test_thigh_soft_tissue_wobble_turns_the_sensor_about_the_femoral_axis() -> None:
    motion = Motion(MotionParams(exercise="squat", reps=2, descent_s=0.8, ascent_s=0.6))
    mount = default_mount("femur_r")
    wobbly = dataclasses.replace(ImuParams.clean(), thigh_sta_gain_deg_per_m_s2=3.0)
    rec = synthesize_imu(motion, mount, wobbly, seed=0)
    bone = synthesize_imu(motion, mount, ImuParams.clean(), seed=0)
    q_segment = quat_multiply(bone.quat_world_sensor_wxyz, quat_conjugate(mount.quat_wxyz))
    artefact = quat_relative(
        q_segment, quat_multiply(rec.quat_world_sensor_wxyz, quat_conjugate(mount.quat_wxyz))
    )
    rotvec = quat_to_rotvec(artefact)
    angle = np.linalg.norm(rotvec, axis=1)
    assert np.degrees(angle[rec.t_s < 2.5]).max() < 1e-6  # still before the first rep
    assert 0.5 < np.degrees(angle).max() < 20.0
    moving = angle > np.radians(0.1)
    axis = rotvec[moving] / angle[moving, None]
    np.testing.assert_allclose(np.abs(axis @ STA_AXIS_IN_FEMUR), 1.0, atol=1e-9)
    # Only thigh sensors wobble.
    shank = synthesize_imu(motion, default_mount("tibia_r"), wobbly, seed=0)
    shank_bone = synthesize_imu(motion, default_mount("tibia_r"), ImuParams.clean(), seed=0)
    np.testing.assert_array_equal(shank.quat_world_sensor_wxyz, shank_bone.quat_world_sensor_wxyz)


@pytest.mark.parametrize("side", ["r", "l"])
def test_quasi_static_wobble_follows_knee_flexion(side: Side) -> None:
    motion = Motion(MotionParams(exercise="ffe_split_squat", reps=1, side=side))
    mount = default_mount("femur_r" if side == "r" else "femur_l")
    wobbly = dataclasses.replace(ImuParams.clean(), thigh_sta_deg_per_knee_flexion_deg=0.05)
    rec = synthesize_imu(motion, mount, wobbly, seed=0)
    state = motion.evaluate(rec.t_s)
    q_bone = quat_multiply(state.quat_world_femur_wxyz(side), mount.quat_wxyz)
    expected = np.radians(0.05 * state.knee_angles_deg(side)[:, 0])
    np.testing.assert_allclose(
        quat_angle_rad(q_bone, rec.quat_world_sensor_wxyz), expected, atol=1e-9
    )
    assert expected.max() > np.radians(4.0)


def test_invalid_imu_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        ImuParams(gyr_noise_density_rad_s_rthz=-1.0)
    with pytest.raises(ValueError, match="positive"):
        ImuParams(acc_range_m_s2=0.0)
    with pytest.raises(ValueError, match="gyr_bias_max_rad_s"):
        ImuParams(gyr_bias_max_rad_s=-0.1)
    with pytest.raises(ValueError, match="gyr_bias_max_rad_s"):
        ImuParams(gyr_bias_max_rad_s=float("nan"))


@settings(max_examples=20)
@given(seeds, st.floats(0.001, 0.02))
def test_the_initial_gyro_bias_is_bounded_per_axis(seed: int, bound_rad_s: float) -> None:
    motion = Motion(MotionParams(exercise="rest", rest_before_s=0.5, rest_after_s=0.0))
    wide = dataclasses.replace(ImuParams.clean(), gyr_bias_sd_rad_s=0.05)  # ~3 dps SD
    bounded = dataclasses.replace(wide, gyr_bias_max_rad_s=bound_rad_s)
    a = synthesize_imu(motion, default_mount("pelvis"), wide, seed=seed)
    b = synthesize_imu(motion, default_mount("pelvis"), bounded, seed=seed)
    drawn, clipped = a.gyr_bias_rad_s[0], b.gyr_bias_rad_s[0]
    # The draw is clipped, nothing else changes (same random stream, no walk here).
    np.testing.assert_array_equal(clipped, np.clip(drawn, -bound_rad_s, bound_rad_s))
    np.testing.assert_array_equal(
        b.gyr_bias_rad_s, np.broadcast_to(clipped, b.gyr_bias_rad_s.shape)
    )
    np.testing.assert_array_equal(a.acc_m_s2, b.acc_m_s2)
    np.testing.assert_allclose(b.gyr_rad_s - b.gyr_true_rad_s, b.gyr_bias_rad_s, atol=1e-15)


def test_a_bias_bound_leaves_the_walk_unbounded() -> None:
    motion = Motion(MotionParams(exercise="rest", rest_before_s=30.0, rest_after_s=0.0))
    free = dataclasses.replace(
        ImuParams.clean(), gyr_bias_sd_rad_s=0.05, gyr_bias_walk_rad_s_rts=np.radians(0.05)
    )
    bounded = dataclasses.replace(free, gyr_bias_max_rad_s=np.radians(0.5))
    a = synthesize_imu(motion, default_mount("pelvis"), free, seed=3)
    b = synthesize_imu(motion, default_mount("pelvis"), bounded, seed=3)
    shift = b.gyr_bias_rad_s - a.gyr_bias_rad_s
    assert np.abs(shift[0]).max() > 0.01  # the draw (about 3 deg/s) was clipped
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-15)
    walk = b.gyr_bias_rad_s - b.gyr_bias_rad_s[0]
    assert np.abs(walk).max() > np.radians(0.05)  # the walk goes on after the clip


@settings(max_examples=30)
@given(st.sampled_from(SEGMENTS), st.integers(0, 2**63), st.floats(0.0, 180.0))
def test_random_mounts_stay_within_their_angle_of_nominal(
    segment: SegmentName, seed: int, max_deg: float
) -> None:
    mount = random_mount(segment, seed=seed, max_angle_deg=max_deg)
    nominal = NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment]
    off_deg = np.degrees(quat_angle_rad(nominal, mount.quat_wxyz))
    assert off_deg <= max_deg + 1e-9
    assert mount.position_in_segment_m == default_mount(segment).position_in_segment_m
    assert random_mount(segment, seed=seed, max_angle_deg=max_deg) == mount  # seeded


def test_random_mounts_fill_their_range() -> None:
    offs = np.array(
        [
            np.degrees(
                quat_angle_rad(
                    NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment],
                    random_mount(segment, seed=seed).quat_wxyz,
                )
            )
            for seed in range(60)
            for segment in SEGMENTS
        ]
    )
    assert offs.max() <= 30.0 + 1e-9
    # Uniform in [0, 30] deg: both ends of the range are reached.
    assert offs.min() < 5.0
    assert offs.max() > 25.0
    # Different seeds and segments turn the boards differently.
    quats = {random_mount(s, seed=k).quat_segment_sensor_wxyz for k in range(5) for s in SEGMENTS}
    assert len(quats) == 25
    with pytest.raises(ValueError, match="max_angle_deg"):
        random_mount("pelvis", seed=0, max_angle_deg=-1.0)


@pytest.mark.parametrize("segment", SEGMENTS)
def test_default_mounts_are_23_to_32_deg_off_nominal(segment: SegmentName) -> None:
    # As documented; the shank straps are slightly beyond 30 deg (see docs/simulator.md).
    off = quat_angle_rad(
        NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment], default_mount(segment).quat_wxyz
    )
    assert 23.0 <= np.degrees(off) <= 32.0
