"""Standing calibration: inclination from gravity, heading per board, rest detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.body import NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ
from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    quat_angle_rad,
    quat_conjugate,
    quat_from_axis_angle,
    quat_multiply,
    quat_rotate,
)
from coxa.pipeline import BoardTrack, CalibrationParams, calibrate_segment, find_standing_rest

small_angle = st.floats(-0.25, 0.25)
heading = st.floats(-np.pi, np.pi)


@settings(max_examples=60)
@given(
    st.sampled_from(sorted(NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ)),
    small_angle,
    small_angle,
    heading,
)
def test_strap_tilt_is_corrected_and_segment_ends_up_neutral(
    segment: str, tilt_x: float, tilt_z: float, board_heading: float
) -> None:
    nominal = NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment]  # type: ignore[index]
    # The strap sits tilted off nominal about the segment's X and Z axes (not about Y).
    tilt = quat_multiply(
        quat_from_axis_angle([1.0, 0.0, 0.0], tilt_x), quat_from_axis_angle([0.0, 0.0, 1.0], tilt_z)
    )
    true_mounting = quat_multiply(tilt, nominal)
    # Standing neutral, seen in a board world of arbitrary heading.
    board_world = quat_from_axis_angle([0.0, 0.0, 1.0], board_heading)
    sensor = quat_multiply(
        quat_multiply(board_world, QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ), true_mounting
    )
    samples = np.tile(sensor, (50, 1))
    cal = calibrate_segment(segment, samples, nominal)
    tilted_y = quat_rotate(tilt, [0.0, 1.0, 0.0])
    expected_deg = np.degrees(np.arccos(np.clip(tilted_y[1], -1.0, 1.0)))
    assert cal.inclination_correction_deg == pytest.approx(expected_deg, abs=1e-3)
    got = cal.segment_orientation(samples)
    assert np.max(quat_angle_rad(got, QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ)) < 1e-9


def test_a_turned_segment_keeps_its_turn_after_calibration() -> None:
    nominal = NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ["femur_r"]
    rest = np.tile(quat_multiply(QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, nominal), (10, 1))
    cal = calibrate_segment("femur_r", rest, nominal)
    internal = quat_from_axis_angle([0.0, 1.0, 0.0], np.radians(20))  # about the long axis
    moved = quat_multiply(quat_multiply(QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, internal), nominal)
    seg = cal.segment_orientation(moved[None, :])
    relative = quat_multiply(quat_conjugate(QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ), seg[0])
    assert np.degrees(quat_angle_rad(relative, internal)) < 1e-9


def _resting_track(board_id: int, moving_s: list[tuple[float, float]]) -> BoardTrack:
    track = BoardTrack(board_id, "femur_r")
    t_s = np.arange(0.0, 10.0, 0.005)
    gyr = np.zeros((t_s.size, 3))
    for start, end in moving_s:
        gyr[(t_s >= start) & (t_s < end), 0] = 1.0
    for k in range(0, t_s.size, 15):
        count = min(15, t_s.size - k)
        track.add(
            int(t_s[k + count - 1] * 1e6) + 1000,
            k,
            int(t_s[k] * 1e6),
            5000,
            np.tile([1.0, 0.0, 0.0, 0.0], (count, 1)),
            gyr[k : k + count],
            np.zeros(count, dtype=np.uint8),
        )
    return track


def test_rest_must_be_common_to_all_boards_and_long_enough() -> None:
    params = CalibrationParams(rest_min_duration_s=1.0)
    a = _resting_track(1, [(0.0, 2.0), (2.8, 10.0)])  # rests 2.0-2.8 s only: too short
    b = _resting_track(2, [(0.0, 1.0), (5.0, 10.0)])
    assert find_standing_rest([a, b], params) is None
    c = _resting_track(3, [(0.0, 2.0), (4.0, 10.0)])
    d = _resting_track(4, [(0.0, 1.5), (3.5, 10.0)])
    window = find_standing_rest([c, d], params)
    assert window is not None
    start_s, end_s = (w / 1e6 for w in window)
    assert start_s == pytest.approx(2.0, abs=0.03)
    assert end_s == pytest.approx(3.5, abs=0.03)
