"""Static calibration on a standing rest: each segment's vertical from gravity, neutral heading.

During a standing rest every segment is taken to be in the anatomical neutral pose: its
proximal (Y) axis vertical and its anterior (X) axis facing the athlete's forward direction.
Gravity, seen through each board's own 6D orientation, corrects the inclination of the nominal
strap placement; the heading of every board's (arbitrary) world frame is then turned so that the
segment faces world +X. The rotation of the strap about the segment's long axis is taken from the
nominal placement: functional calibration (knee axis) is not part of this first version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from coxa.geometry import (
    FloatArray,
    heading_rad,
    quat_conjugate,
    quat_from_axis_angle,
    quat_multiply,
    quat_normalize,
    quat_rotate,
)
from coxa.pipeline._track import BoardTrack

_Y_AXIS = np.array([0.0, 1.0, 0.0])
_Z_AXIS = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class CalibrationParams:
    """How a standing rest is recognised.

    Attributes
    ----------
    rest_gyr_rad_s : float
        A sample is at rest when its gyroscope norm is below this, rad/s. Default 0.1 rad/s
        (5.7 deg/s) [assumption]: quiet standing sway stays far below it, a squat far above.
    rest_min_duration_s : float
        Minimum duration of a rest common to all boards, seconds. Default 1.0 s [assumption].
    rest_grid_hz : float
        Rate of the common time grid on which the boards' rests are intersected, Hz.
    """

    rest_gyr_rad_s: float = 0.1
    rest_min_duration_s: float = 1.0
    rest_grid_hz: float = 50.0


@dataclass(frozen=True)
class SegmentCalibration:
    """Calibration of one board on its segment.

    Attributes
    ----------
    segment : str
        Segment name.
    quat_segment_sensor_wxyz : ndarray, shape (4,)
        Sensor frame in the segment frame after the inclination correction.
    quat_world_boardworld_wxyz : ndarray, shape (4,)
        Rotation about world Z that turns the board's own world frame into the common one.
    inclination_correction_deg : float
        How far the strap sat from its nominal placement, degrees (a quality figure).
    """

    segment: str
    quat_segment_sensor_wxyz: FloatArray
    quat_world_boardworld_wxyz: FloatArray
    inclination_correction_deg: float

    def segment_orientation(self, quat_boardworld_sensor_wxyz: FloatArray) -> FloatArray:
        """Segment orientation in the common world from board orientations, ``(..., 4)``."""
        sensor_in_world = quat_multiply(
            self.quat_world_boardworld_wxyz, quat_boardworld_sensor_wxyz
        )
        return quat_multiply(sensor_in_world, quat_conjugate(self.quat_segment_sensor_wxyz))


@dataclass(frozen=True)
class Calibration:
    """Result of a standing calibration.

    Attributes
    ----------
    t_start_us, t_end_us : float
        Host-clock window of the standing rest used, microseconds.
    segments : dict of str to SegmentCalibration
        One entry per board, keyed by segment.
    """

    t_start_us: float
    t_end_us: float
    segments: Mapping[str, SegmentCalibration]


def _rest_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (exclusive) indices of the runs of True in a boolean array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def find_standing_rest(
    tracks: Sequence[BoardTrack], params: CalibrationParams
) -> tuple[float, float] | None:
    """First host-time window in which every board rests for ``rest_min_duration_s``.

    Returns
    -------
    (t_start_us, t_end_us) or None
        The window on the host clock, or None when no such rest has been seen yet.
    """
    if not tracks or any(track.n_samples < 2 for track in tracks):
        return None
    t_first = max(float(track.t_host_us[0]) for track in tracks)
    t_last = min(float(track.t_host_us[-1]) for track in tracks)
    step_us = 1e6 / params.rest_grid_hz
    if t_last - t_first < params.rest_min_duration_s * 1e6:
        return None
    grid = np.arange(t_first, t_last, step_us)
    at_rest = np.ones(grid.size, dtype=bool)
    for track in tracks:
        rest = np.linalg.norm(track.gyr_rad_s, axis=1) < params.rest_gyr_rad_s
        idx = np.clip(np.searchsorted(track.t_host_us, grid), 0, track.n_samples - 1)
        at_rest &= rest[idx]
    min_points = int(np.ceil(params.rest_min_duration_s * params.rest_grid_hz))
    for start, end in _rest_runs(at_rest):
        if end - start >= min_points:
            return float(grid[start]), float(grid[end - 1])
    return None


def _mean_quat(quat_wxyz: FloatArray) -> FloatArray:
    """Chordal mean of nearby unit quaternions (signs aligned to the first), shape ``(4,)``."""
    signs = np.sign(quat_wxyz @ quat_wxyz[0])
    signs[signs == 0] = 1.0
    return quat_normalize((quat_wxyz * signs[:, None]).sum(axis=0))


def _shortest_arc(from_vec: FloatArray, to_vec: FloatArray) -> FloatArray:
    """Smallest rotation turning unit vector ``from_vec`` onto unit vector ``to_vec``."""
    axis = np.cross(from_vec, to_vec)
    sin_angle = float(np.linalg.norm(axis))
    cos_angle = float(np.dot(from_vec, to_vec))
    if sin_angle < 1e-12:
        if cos_angle > 0:
            return np.array([1.0, 0.0, 0.0, 0.0])
        # Opposite vectors: turn half a turn about any axis perpendicular to from_vec.
        perpendicular = np.cross(from_vec, [1.0, 0.0, 0.0])
        if np.linalg.norm(perpendicular) < 1e-6:
            perpendicular = np.cross(from_vec, [0.0, 1.0, 0.0])
        return quat_from_axis_angle(perpendicular, np.pi)
    return quat_from_axis_angle(axis, np.arctan2(sin_angle, cos_angle))


def calibrate_segment(
    segment: str,
    quat_boardworld_sensor_wxyz: FloatArray,
    nominal_quat_segment_sensor_wxyz: FloatArray,
) -> SegmentCalibration:
    """Calibrate one board from its orientations during a standing rest.

    Parameters
    ----------
    segment : str
        Segment name.
    quat_boardworld_sensor_wxyz : ndarray, shape (n, 4)
        The board's orientation samples during the rest.
    nominal_quat_segment_sensor_wxyz : ndarray, shape (4,)
        Nominal strap placement of the sensor on the segment.
    """
    quat_rest = _mean_quat(quat_boardworld_sensor_wxyz)
    up_in_sensor = quat_rotate(quat_conjugate(quat_rest), _Z_AXIS)
    y_in_sensor = quat_rotate(quat_conjugate(nominal_quat_segment_sensor_wxyz), _Y_AXIS)
    correction = _shortest_arc(y_in_sensor, up_in_sensor)
    quat_segment_sensor = quat_multiply(
        nominal_quat_segment_sensor_wxyz, quat_conjugate(correction)
    )
    segment_in_boardworld = quat_multiply(quat_rest, quat_conjugate(quat_segment_sensor))
    heading = float(heading_rad(segment_in_boardworld))
    return SegmentCalibration(
        segment=segment,
        quat_segment_sensor_wxyz=quat_normalize(quat_segment_sensor),
        quat_world_boardworld_wxyz=quat_from_axis_angle(_Z_AXIS, -heading),
        inclination_correction_deg=float(
            np.degrees(np.arccos(np.clip(np.dot(y_in_sensor, up_in_sensor), -1.0, 1.0)))
        ),
    )


def calibrate_standing(
    tracks: Sequence[BoardTrack],
    window_us: tuple[float, float],
    nominal_placements: Mapping[str, FloatArray],
) -> Calibration:
    """Calibrate every board on a standing-rest window of the host clock.

    Raises
    ------
    ValueError
        If a board has no samples in the window or no nominal placement for its segment.
    """
    t_start, t_end = window_us
    segments: dict[str, SegmentCalibration] = {}
    for track in tracks:
        in_window = (track.t_host_us >= t_start) & (track.t_host_us <= t_end)
        if not np.any(in_window):
            raise ValueError(
                f"board {track.board_id} ({track.segment}) has no samples in the standing rest"
            )
        if track.segment not in nominal_placements:
            raise ValueError(f"no nominal placement for segment {track.segment!r}")
        segments[track.segment] = calibrate_segment(
            track.segment, track.quat_wxyz[in_window], nominal_placements[track.segment]
        )
    return Calibration(t_start_us=t_start, t_end_us=t_end, segments=segments)
