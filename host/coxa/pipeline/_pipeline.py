"""First host pipeline: frames -> per-board tracks -> standing calibration -> ISB joint angles."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from coxa.body import NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ
from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    FloatArray,
    Side,
    hip_angles_deg,
    knee_angles_deg,
)
from coxa.pipeline._angles import AngleBlock, HipReference
from coxa.pipeline._calibration import (
    Calibration,
    CalibrationParams,
    calibrate_standing,
    find_standing_rest,
)
from coxa.pipeline._frames import ReceivedFrame, frame_arrays
from coxa.pipeline._interpolate import interpolate_quat
from coxa.pipeline._track import BoardTrack

_LOG = logging.getLogger(__name__)

_SIDES: tuple[Side, ...] = ("r", "l")


@dataclass(frozen=True)
class PipelineParams:
    """Parameters of the first pipeline.

    Attributes
    ----------
    output_rate_hz : float
        Rate of the joint-angle output grid, Hz. Default 100 Hz.
    latency_ms : float
        Output trails the newest sample common to all boards by this much, so that every grid
        time has samples on both sides, ms. Default 40 ms [assumption]: above one frame of
        15 samples at 200 Hz (75 ms) minus the frame's own age; below the 100 ms a person notices.
    max_gap_ms : float
        Samples further apart than this (radio loss) are not interpolated across, ms.
    calibration : CalibrationParams
        Standing-rest detection.
    """

    output_rate_hz: float = 100.0
    latency_ms: float = 40.0
    max_gap_ms: float = 250.0
    calibration: CalibrationParams = field(default_factory=CalibrationParams)


class JointAnglePipeline:
    """Streaming pipeline from decoded data frames to ISB hip and knee angles.

    Feed frames with :meth:`update`; it returns the joint-angle rows that became final. Before the
    first standing rest common to all boards the pipeline only collects samples.

    Parameters
    ----------
    segments_by_board : mapping of int to str
        Which segment (``pelvis``, ``femur_r``, ...) each board id follows.
    params : PipelineParams
        Tunables.
    nominal_placements : mapping of str to ndarray, optional
        ``quat_segment_sensor_wxyz`` per segment; defaults to the product's strap placements.
    """

    def __init__(
        self,
        segments_by_board: Mapping[int, str],
        params: PipelineParams | None = None,
        nominal_placements: Mapping[str, FloatArray] | None = None,
    ) -> None:
        self.params = params or PipelineParams()
        placements = nominal_placements or NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ
        self._placements: dict[str, FloatArray] = dict(placements.items())
        self.tracks: dict[int, BoardTrack] = {
            board_id: BoardTrack(board_id, segment)
            for board_id, segment in segments_by_board.items()
        }
        self.calibration: Calibration | None = None
        self.unknown_board_frames = 0
        self._next_t_us: float | None = None

    @property
    def hip_reference(self) -> HipReference:
        """Whether hip angles are relative to a pelvis board or to the room."""
        has_pelvis = any(track.segment == "pelvis" for track in self.tracks.values())
        return "pelvis" if has_pelvis else "room"

    def update(self, frames: Iterable[ReceivedFrame]) -> AngleBlock:
        """Ingest frames and return the joint-angle rows that are now final."""
        for received in frames:
            frame = received.frame
            track = self.tracks.get(frame.board_id)
            if track is None:
                self.unknown_board_frames += 1
                continue
            quat, gyr, flags = frame_arrays(frame)
            track.add(received.t_rx_us, frame.seq0, frame.t0_us, frame.period_us, quat, gyr, flags)
        if self.calibration is None and not self._try_calibrate():
            return AngleBlock.empty(self.hip_reference)
        return self._emit()

    def _try_calibrate(self) -> bool:
        tracks = list(self.tracks.values())
        window = find_standing_rest(tracks, self.params.calibration)
        if window is None:
            return False
        self.calibration = calibrate_standing(tracks, window, self._placements)
        self._next_t_us = window[0]
        _LOG.info(
            "calibrated on standing rest %.2f-%.2f s (host clock)", window[0] / 1e6, window[1] / 1e6
        )
        return True

    def _emit(self) -> AngleBlock:
        if self.calibration is None or self._next_t_us is None:
            return AngleBlock.empty(self.hip_reference)
        newest = min(
            (float(t.t_host_us[-1]) for t in self.tracks.values() if t.n_samples), default=None
        )
        if newest is None:
            return AngleBlock.empty(self.hip_reference)
        step_us = 1e6 / self.params.output_rate_hz
        t_until = newest - self.params.latency_ms * 1e3
        grid = np.arange(self._next_t_us, t_until, step_us)
        if grid.size == 0:
            return AngleBlock.empty(self.hip_reference)
        self._next_t_us = float(grid[-1] + step_us)
        return self.angles_at(grid)

    def angles_at(self, t_grid_us: FloatArray) -> AngleBlock:
        """Joint angles at given host times (after calibration), one row per time."""
        calibration = self.calibration
        if calibration is None:
            raise RuntimeError("the pipeline has not been calibrated yet: no standing rest seen")
        max_gap_us = self.params.max_gap_ms * 1e3
        segment_quats: dict[str, FloatArray] = {}
        for track in self.tracks.values():
            quat = interpolate_quat(track.t_host_us, track.quat_wxyz, t_grid_us, max_gap_us)
            segment_quats[track.segment] = calibration.segments[track.segment].segment_orientation(
                quat
            )
        pelvis = segment_quats.get("pelvis")
        if pelvis is None:
            pelvis = np.broadcast_to(QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, (t_grid_us.size, 4))
        angles: dict[str, FloatArray] = {}
        for side in _SIDES:
            femur = segment_quats.get(f"femur_{side}")
            tibia = segment_quats.get(f"tibia_{side}")
            if femur is not None:
                hip = hip_angles_deg(pelvis, femur, side)
                angles[f"hip_flexion_{side}"] = hip[:, 0]
                angles[f"hip_adduction_{side}"] = hip[:, 1]
                angles[f"hip_rotation_{side}"] = hip[:, 2]
                if tibia is not None:
                    knee = knee_angles_deg(femur, tibia, side)
                    angles[f"knee_angle_{side}"] = knee[:, 0]
                    angles[f"knee_adduction_{side}"] = knee[:, 1]
                    angles[f"knee_rotation_{side}"] = knee[:, 2]
        return AngleBlock(t_us=t_grid_us, angles_deg=angles, hip_reference=self.hip_reference)
