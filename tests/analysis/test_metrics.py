"""Per-leg rep values on hand-made rows with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coxa.analysis._metrics import bottom_window, leg_rep, shank_inclination_deg
from coxa.geometry import QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, quat_from_axis_angle, quat_multiply


@pytest.mark.parametrize("lean_deg", [-30.0, 0.0, 12.0, 45.0])
@pytest.mark.parametrize("heading_deg", [0.0, 20.0])
def test_shank_inclination_is_forward_positive_in_the_facing_plane(
    lean_deg: float, heading_deg: float
) -> None:
    # Tip the neutral shank about world Y (knee toward +X, the facing, for a positive lean) and
    # turn it about its own long axis: the turn must not change the inclination.
    lean = quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), math.radians(lean_deg))
    spin = quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), math.radians(heading_deg))
    quat = quat_multiply(lean, quat_multiply(QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, spin))
    assert shank_inclination_deg(quat[None, :])[0] == pytest.approx(lean_deg, abs=1e-9)


def test_bottom_window_holds_the_rows_near_the_peak_and_ignores_nan() -> None:
    signal = np.array([0.0, 50.0, 86.0, np.nan, 90.0, 85.0, 84.9, 10.0])
    assert bottom_window(signal, 5.0).tolist() == [0, 0, 1, 0, 1, 1, 0, 0]
    assert not bottom_window(np.full(3, np.nan), 5.0).any()


def test_leg_values_follow_their_definitions() -> None:
    t_us = np.arange(8, dtype=np.float64) * 0.5e6  # 0 .. 3.5 s
    bottom = np.array([0, 0, 0, 1, 1, 0, 0, 0], dtype=bool)
    rows = {
        "knee_angle_r": np.array([0, 40, 80, 90, 88, 60, 20, 0], dtype=float),
        "hip_flexion_r": np.array([0, 30, 60, 70, 72, 50, 15, 0], dtype=float),
        "hip_rotation_r": np.array([np.nan, 2, 8, 10, 12, 6, -1, 0], dtype=float),
        "knee_adduction_r": np.array([0, 0, -2, -3, -5, 0, 0, 0], dtype=float),
        "shank_inclination_r": np.array([1, 10, 20, 30, 32, 20, 5, 1], dtype=float),
        "pelvis_rotation": np.array([1, 1, 2, 3, 5, 2, 1, 1], dtype=float),
        "pelvis_list": np.full(8, np.nan),
        "pelvis_tilt": np.array([0, 2, 4, 6, 6, 4, 2, 0], dtype=float),
    }
    leg = leg_rep("r", True, t_us, rows, bottom, start_window_s=0.6)
    assert leg.lead
    assert leg.peak_hip_rotation_deg == pytest.approx(11.0)
    assert leg.hip_rotation_excursion_deg == pytest.approx(13.0)
    assert leg.hip_rotation_start_deg == pytest.approx(2.0)  # first finite value
    assert leg.peak_knee_deg == 90.0
    assert leg.peak_hip_flexion_deg == 72.0
    assert leg.hip_flexion_bottom_deg == pytest.approx(71.0)
    assert leg.shank_inclination_start_deg == 1.0
    assert leg.shank_inclination_bottom_deg == pytest.approx(31.0)
    assert leg.knee_valgus_proxy_deg == pytest.approx(4.0)
    assert leg.pelvis_rotation_change_deg == pytest.approx(3.0)
    assert math.isnan(leg.pelvis_obliquity_change_deg)
    assert leg.pelvis_tilt_change_deg == pytest.approx(6.0)
    assert leg.t_bottom_us == pytest.approx(1.75e6)
    assert leg.eccentric_s == pytest.approx(1.5)
    assert leg.concentric_s == pytest.approx(1.5)
    assert (leg.t_start_us, leg.t_end_us) == (0.0, 3.5e6)
    # A start value lost for longer than the start window is NaN, not a later value.
    late = leg_rep("r", True, t_us, rows, bottom, start_window_s=0.25)
    assert math.isnan(late.hip_rotation_start_deg)
    assert late.shank_inclination_start_deg == 1.0


def test_an_empty_bottom_window_gives_nan_not_an_error() -> None:
    t_us = np.arange(3, dtype=np.float64) * 1e6
    rows = {
        name: np.full(3, np.nan)
        for name in (
            "knee_angle_r",
            "hip_flexion_r",
            "hip_rotation_r",
            "knee_adduction_r",
            "shank_inclination_r",
            "pelvis_rotation",
            "pelvis_list",
            "pelvis_tilt",
        )
    }
    leg = leg_rep("r", False, t_us, rows, np.zeros(3, dtype=bool), start_window_s=0.25)
    assert math.isnan(leg.peak_hip_rotation_deg)
    assert math.isnan(leg.eccentric_s)
