"""SLERP resampling of an orientation stream, with gaps left empty."""

from __future__ import annotations

import numpy as np

from coxa.geometry import quat_angle_rad, quat_from_axis_angle
from coxa.pipeline import interpolate_quat


def _stream() -> tuple[np.ndarray, np.ndarray]:
    t_us = np.arange(0.0, 1e6, 5000.0)
    angle = t_us / 1e6  # 1 rad/s about Z
    return t_us, quat_from_axis_angle([0.0, 0.0, 1.0], angle)


def test_interpolation_follows_a_constant_rotation() -> None:
    t_us, quat = _stream()
    grid = np.arange(2500.0, 990_000.0, 10_000.0)
    out = interpolate_quat(t_us, quat, grid, max_gap_us=20_000)
    truth = quat_from_axis_angle([0.0, 0.0, 1.0], grid / 1e6)
    assert np.max(quat_angle_rad(out, truth)) < 1e-9


def test_outside_and_across_gaps_is_nan() -> None:
    t_us, quat = _stream()
    keep = (t_us < 300_000) | (t_us > 500_000)
    grid = np.array([-1.0, 100_000.0, 400_000.0, 600_000.0, 2e6])
    out = interpolate_quat(t_us[keep], quat[keep], grid, max_gap_us=50_000)
    assert np.isnan(out[[0, 2, 4]]).all()
    assert not np.isnan(out[[1, 3]]).any()


def test_grid_on_sample_times_returns_the_samples() -> None:
    t_us, quat = _stream()
    out = interpolate_quat(t_us, quat, t_us[[0, 7, -1]], max_gap_us=20_000)
    np.testing.assert_allclose(out, quat[[0, 7, -1]], atol=1e-12)
