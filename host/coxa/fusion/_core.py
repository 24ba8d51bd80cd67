"""The fusion core: sample blocks from any number of boards -> aligned segments and joint angles.

One code path serves live use (small blocks, short latency) and offline analysis (whole files,
long latency). Every output row at host time ``g`` is computed from the samples whose frames
arrived by ``g + latency`` (the *visible* samples), in chunks whose boundaries sit on a fixed
grid, and every decision (clock fit, calibration attempt, re-anchoring) happens at points fixed by
the data, never by how the input was split into blocks. Feeding a recording in any split
therefore gives the same rows as feeding it whole.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from coxa.body import SegmentName
from coxa.fusion._angles import joint_angles_deg
from coxa.fusion._buffer import BoardBuffer
from coxa.fusion._calibration import (
    Calibration,
    CalibrationError,
    CalibrationInput,
    CalibrationParams,
    calibrate,
)
from coxa.fusion._clock import ClockParams, ClockSync
from coxa.fusion._heading import HeadingParams, HeadingState, correct_headings
from coxa.fusion._resample import resample_board
from coxa.fusion._samples import SampleBlock
from coxa.fusion._table import AngleTable, HipReference
from coxa.fusion._unpack import FrameUnpacker
from coxa.geometry import FloatArray, quat_conjugate, quat_multiply, quat_to_rotvec
from coxa.sources import ReceivedFrame

_LOG = logging.getLogger(__name__)

_ROLE_SEGMENTS: tuple[SegmentName, ...] = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")


@dataclass(frozen=True)
class FusionParams:
    """Parameters of the fusion core (defaults: live use).

    Attributes
    ----------
    output_rate_hz : float
        Rate of the output grid, Hz. Default 100 [assumption: 10 ms resolves a rep's timing].
    latency_ms : float
        A row at host time ``g`` is computed once frames up to ``g + latency`` have arrived, ms.
        Default 100 ms [derived: a 15-sample frame spans 75 ms at 200 Hz plus ~20 ms of radio
        delay, inside the 100 ms a coach does not notice]. Offline: 30 s, so backfilled samples
        count.
    chunk_ms : float
        Rows are produced in chunks of this length on a fixed grid, ms. Default 20 ms (live);
        offline 2 s.
    max_gap_ms : float
        Samples further apart than this are not interpolated across (the rows become NaN), ms.
        Default 250 ms [assumption].
    hold_ms : float
        Live: the newest visible sample is held this long while the next is in flight, ms.
        Default 30 ms [assumption].
    calibration_every_s : float
        Calibration is attempted each time this much receive time has passed, s. Default 1 s.
    calibration_rate_hz : float
        Grid rate of the calibration data, Hz. Default 50 [assumption].
    orientation : {'board', 'vqf'}
        ``'board'``: the boards' own 6D orientation (default). ``'vqf'``: research mode, re-fuse
        raw gyroscope and accelerometer samples with VQF on the host (needs raw-mode boards).
    clock, calibration, heading
        Parameters of the parts.
    """

    output_rate_hz: float = 100.0
    latency_ms: float = 100.0
    chunk_ms: float = 20.0
    max_gap_ms: float = 250.0
    hold_ms: float = 30.0
    calibration_every_s: float = 1.0
    calibration_rate_hz: float = 50.0
    clock: ClockParams = field(default_factory=ClockParams)
    calibration: CalibrationParams = field(default_factory=CalibrationParams)
    heading: HeadingParams = field(default_factory=HeadingParams)

    @staticmethod
    def offline(**changes: object) -> FusionParams:
        """Parameters for whole-file analysis: 30 s latency, 2 s chunks, no hold, and the whole
        functional window before calibrating."""
        base = FusionParams(
            latency_ms=30_000.0,
            chunk_ms=2_000.0,
            hold_ms=0.0,
            calibration=CalibrationParams(functional_min_s=CalibrationParams.functional_window_s),
        )
        return replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class FusionStats:
    """Counters of what the core saw.

    Attributes
    ----------
    unknown_board_samples : int
        Samples from boards not in the rig (ignored).
    duplicates : dict of int to int
        Per board, samples received twice.
    late : dict of int to int
        Per board, samples inserted behind newer ones (backfill).
    missing : dict of int to int
        Per board, sequence numbers never received within the span seen so far.
    empty_rows : dict of str to int
        Per segment, output rows without data (gaps).
    """

    unknown_board_samples: int = 0
    duplicates: dict[int, int] = field(default_factory=dict[int, int])
    late: dict[int, int] = field(default_factory=dict[int, int])
    missing: dict[int, int] = field(default_factory=dict[int, int])
    empty_rows: dict[str, int] = field(default_factory=dict[str, int])


class FusionCore:
    """Streaming fusion of board orientation streams into ISB joint angles.

    Parameters
    ----------
    segments_by_board : mapping of int to str
        Segment (``pelvis``, ``femur_r``, ``tibia_r``, ``femur_l``, ``tibia_l``) of each board.
    params : FusionParams
        Live defaults if omitted; :meth:`FusionParams.offline` for files.
    """

    def __init__(
        self, segments_by_board: Mapping[int, SegmentName], params: FusionParams | None = None
    ) -> None:
        self.params = params or FusionParams()
        if len(set(segments_by_board.values())) != len(segments_by_board):
            raise ValueError("two boards are assigned to the same segment")
        self._boards = sorted(
            segments_by_board, key=lambda b: _ROLE_SEGMENTS.index(segments_by_board[b])
        )
        self.segments_by_board: dict[int, SegmentName] = {
            b: segments_by_board[b] for b in self._boards
        }
        self._buffers = {b: BoardBuffer(b) for b in self._boards}
        self._clocks = {b: ClockSync(self.params.clock) for b in self._boards}
        self._fed = {b: 0 for b in self._boards}
        self._last_quat: dict[int, tuple[int, int, FloatArray]] = {}
        self._seq_span: dict[int, tuple[int, int]] = {}
        self._unpacker = FrameUnpacker()
        self.stats = FusionStats()
        self.calibration: Calibration | None = None
        self.calibration_error: CalibrationError | None = None
        self._heading: HeadingState | None = None
        self._mount_conj: dict[int, FloatArray] = {}
        self._step_us = 1e6 / self.params.output_rate_hz
        self._chunk_rows = max(1, round(self.params.chunk_ms * 1e3 / self._step_us))
        self._next_row: int | None = None
        self._t_rx_max: int | None = None
        self._next_attempt_us: float | None = None
        self._failed_rest_end_us = -math.inf
        segments = set(self.segments_by_board.values())
        self._roles = np.array(
            [
                self._boards.index(self._board_of(s)) if s in segments else -1
                for s in _ROLE_SEGMENTS
            ],
            dtype=np.int64,
        )

    def _board_of(self, segment: str) -> int:
        return next(b for b, s in self.segments_by_board.items() if s == segment)

    @property
    def hip_reference(self) -> HipReference:
        """``'pelvis'`` with a pelvis board, else ``'room'`` (femoral rotation)."""
        return "pelvis" if "pelvis" in self.segments_by_board.values() else "room"

    # ------------------------------------------------------------------ input
    def update_frames(self, frames: Iterable[ReceivedFrame]) -> AngleTable:
        """Ingest decoded data frames and return the rows that became final."""
        return self.update(self._unpacker.unpack(frames))

    def update(self, blocks: Iterable[SampleBlock]) -> AngleTable:
        """Ingest sample blocks and return the rows that became final."""
        floor_us = self._t_rx_max
        blocks = [block for block in blocks if block.n_samples]
        for block in blocks:
            self._ingest(block, floor_us)
        if self._next_attempt_us is None and self._t_rx_max is not None:
            first_us = min(int(block.t_rx_us.min()) for block in blocks)
            every = self.params.calibration_every_s * 1e6
            self._next_attempt_us = math.ceil(first_us / every) * every
        return self._advance(final=False)

    def finish(self) -> AngleTable:
        """Process everything received (the end of a file or session) and return the last rows.

        Raises
        ------
        CalibrationError
            The whole input never allowed a calibration.
        """
        table = self._advance(final=True)
        if self.calibration is None:
            raise self.calibration_error or CalibrationError(
                "no standing rest common to all boards was found: stand still for 2 s before moving"
            )
        return table

    def _ingest(self, block: SampleBlock, floor_us: int | None) -> None:
        if block.board_id not in self._buffers or block.n_samples == 0:
            if block.board_id not in self._buffers:
                self.stats.unknown_board_samples += block.n_samples
            return
        if floor_us is not None and int(block.t_rx_us.min()) < floor_us:
            # Blocks must come in receive order; an older receive time is clamped, not lost.
            _LOG.warning("board %d: receive times went backwards; clamped", block.board_id)
            block = replace(block, t_rx_us=np.maximum(block.t_rx_us, floor_us))
        gyr = block.gyr_rad_s if block.gyr_rad_s is not None else self._rates_from_quat(block)
        buffer = self._buffers[block.board_id]
        buffer.add(block, gyr)
        lo, hi = self._seq_span.get(block.board_id, (int(block.seq.min()), int(block.seq.max())))
        self._seq_span[block.board_id] = (
            min(lo, int(block.seq.min())),
            max(hi, int(block.seq.max())),
        )
        newest = int(block.t_rx_us.max())
        self._t_rx_max = newest if self._t_rx_max is None else max(self._t_rx_max, newest)

    def _rates_from_quat(self, block: SampleBlock) -> FloatArray:
        """Body rates from consecutive orientations (orientation-only inputs), rad/s."""
        previous = self._last_quat.get(block.board_id)
        quat = block.quat_wxyz
        t_us = block.t_device_us
        if previous is not None:
            quat = np.vstack([previous[2][None], quat])
            t_us = np.concatenate([[previous[1]], t_us])
        rates = np.zeros((quat.shape[0] - 1, 3))
        if quat.shape[0] > 1:
            dt_s = np.maximum(np.diff(t_us), 1) * 1e-6
            rel = quat_multiply(quat_conjugate(quat[:-1]), quat[1:])
            rates = quat_to_rotvec(rel) / dt_s[:, None]
        if previous is None:
            rates = np.vstack([np.zeros((1, 3)), rates])
        self._last_quat[block.board_id] = (
            int(block.seq[-1]),
            int(block.t_device_us[-1]),
            block.quat_wxyz[-1].copy(),
        )
        return rates

    # ------------------------------------------------------------------ processing
    def _feed_clocks(self, cutoff_us: float) -> None:
        for board_id, buffer in self._buffers.items():
            # Samples are fed once; the buffer may have been trimmed since, so track by seq.
            seq = buffer.seq
            visible = (buffer.t_rx_us <= cutoff_us) & (seq >= self._fed[board_id])
            if np.any(visible):
                self._clocks[board_id].update(buffer.t_device_us[visible], buffer.t_rx_us[visible])
                self._fed[board_id] = int(seq[visible].max()) + 1

    def _advance(self, final: bool) -> AngleTable:
        tables: list[AngleTable] = []
        if self._t_rx_max is None:
            return AngleTable.empty(self.hip_reference)
        while True:
            if self.calibration is None:
                assert self._next_attempt_us is not None
                if not final and self._next_attempt_us >= self._t_rx_max:
                    break
                cutoff = math.inf if final else self._next_attempt_us
                done = self._try_calibrate(cutoff, final)
                self._next_attempt_us += self.params.calibration_every_s * 1e6
                if not done:
                    if final:
                        break
                    continue
            assert self._next_row is not None
            end_row = (self._next_row // self._chunk_rows + 1) * self._chunk_rows
            cutoff = end_row * self._step_us + self.params.latency_ms * 1e3
            if not final and cutoff >= self._t_rx_max:
                break
            if final:
                last_us = self._newest_host_us()
                end_row = min(end_row, math.floor(last_us / self._step_us) + 1)
                if end_row <= self._next_row:
                    break
                cutoff = math.inf
            tables.append(self._rows(self._next_row, end_row, cutoff))
            self._next_row = end_row
        return AngleTable.concatenate(tables) if tables else AngleTable.empty(self.hip_reference)

    def _newest_host_us(self) -> float:
        newest = [
            float(self._clocks[b].to_host_us(buf.t_device_us[-1:])[0])
            for b, buf in self._buffers.items()
            if buf.n_samples and self._clocks[b].ready
        ]
        return min(newest) if newest else -math.inf

    def _try_calibrate(self, cutoff_us: float, final: bool) -> bool:
        self._feed_clocks(cutoff_us)
        if not all(clock.ready for clock in self._clocks.values()):
            return False
        params = self.params.calibration
        step_us = 1e6 / self.params.calibration_rate_hz
        starts = [
            float(self._clocks[b].to_host_us(buf.t_device_us[:1])[0])
            for b, buf in self._buffers.items()
        ]
        start = math.ceil(max(starts) / step_us) * step_us
        end = min(cutoff_us, self._newest_host_us())
        if end - start < params.rest_min_s * 1e6:
            return False
        grid = np.arange(start, end, step_us)
        data = {
            b: resample_board(
                self._buffers[b],
                self._clocks[b],
                grid,
                cutoff_us,
                self.params.max_gap_ms * 1e3,
                0.0,
            )
            for b in self._boards
        }
        still = np.all(
            [
                np.nan_to_num(d.gyr_norm_rad_s, nan=np.inf) < params.rest_gyr_rad_s
                for d in data.values()
            ],
            axis=0,
        )
        if params.calibration_t_us is not None:
            # A given calibration time is the neutral pose itself, still or not (OpenSense style).
            i0 = int(np.searchsorted(grid, params.calibration_t_us))
            rest = (i0, i0 + 1) if i0 < grid.size else None
        else:
            rest = _find_rest(
                still,
                grid,
                round(params.rest_min_s * 1e6 / step_us),
                self._failed_rest_end_us,
            )
        if rest is None:
            if final:
                self.calibration_error = CalibrationError(
                    "no standing rest common to all boards: stand still for 2 s before moving"
                    if params.calibration_t_us is None
                    else f"no data from every board at the calibration time "
                    f"{params.calibration_t_us / 1e6:.2f} s"
                )
            return False
        i0, i1 = rest
        move_end = min(grid.size, i1 + round(params.functional_window_s * 1e6 / step_us))
        window_full = move_end < grid.size or final
        if not window_full and (move_end - i1) * step_us < params.functional_min_s * 1e6:
            return False
        inputs = {
            b: CalibrationInput(self.segments_by_board[b], d.quat_wxyz) for b, d in data.items()
        }
        try:
            calibration = calibrate(
                inputs,
                slice(i0, i1),
                slice(i1, move_end),
                (float(grid[i0]), float(grid[i1 - 1])),
                params,
            )
        except CalibrationError as error:
            self.calibration_error = error
            if window_full:
                _LOG.warning("calibration refused: %s", error)
                self._failed_rest_end_us = float(grid[i1 - 1])
            return False
        self.calibration = calibration
        self.calibration_error = None
        self._mount_conj = {
            b: quat_conjugate(calibration.boards[b].quat_segment_sensor_wxyz) for b in self._boards
        }
        self._heading = HeadingState.initial(
            np.array([calibration.boards[b].heading_rad for b in self._boards])
        )
        self._next_row = math.ceil(calibration.rest_t_us[0] / self._step_us)
        return True

    def _rows(self, row0: int, row1: int, cutoff_us: float) -> AngleTable:
        assert self._heading is not None
        self._feed_clocks(cutoff_us)
        t_grid = np.arange(row0, row1, dtype=np.float64) * self._step_us
        m = t_grid.size
        quat = np.empty((m, len(self._boards), 4))
        still = np.empty((m, len(self._boards)), dtype=np.bool_)
        hold_us = self.params.hold_ms * 1e3
        rest_gyr = self.params.calibration.rest_gyr_rad_s
        for column, board_id in enumerate(self._boards):
            data = resample_board(
                self._buffers[board_id],
                self._clocks[board_id],
                t_grid,
                cutoff_us,
                self.params.max_gap_ms * 1e3,
                hold_us,
            )
            quat[:, column] = quat_multiply(data.quat_wxyz, self._mount_conj[board_id])
            still[:, column] = np.nan_to_num(data.gyr_norm_rad_s, nan=np.inf) < rest_gyr
        world, facing = correct_headings(
            quat, still, self._roles, self._step_us * 1e-6, self.params.heading, self._heading
        )
        segments = {self.segments_by_board[b]: world[:, c] for c, b in enumerate(self._boards)}
        for segment, q in segments.items():
            empty = int(np.count_nonzero(~np.isfinite(q[:, 0])))
            self.stats.empty_rows[segment] = self.stats.empty_rows.get(segment, 0) + empty
        self._trim(t_grid[-1])
        return AngleTable(
            t_us=t_grid,
            angles_deg=joint_angles_deg(segments, facing),
            quat_world_segment_wxyz=segments,
            hip_reference=self.hip_reference,
        )

    def _trim(self, t_last_us: float) -> None:
        keep_us = self.params.max_gap_ms * 1e3 + 1e6
        for board_id, buffer in self._buffers.items():
            t_dev = float(self._clocks[board_id].to_device_us(np.array([t_last_us - keep_us]))[0])
            buffer.trim_before(t_dev)
            self.stats.duplicates[board_id] = buffer.duplicates
            self.stats.late[board_id] = buffer.late
            lo, hi = self._seq_span.get(board_id, (0, -1))
            self.stats.missing[board_id] = max(
                0, hi - lo + 1 - (buffer.received - buffer.duplicates)
            )


def _find_rest(
    still: NDArray[np.bool_], grid_us: FloatArray, min_rows: int, after_us: float
) -> tuple[int, int] | None:
    """Rows ``(start, end)`` of the first complete run of ``still`` at least ``min_rows`` long
    that starts after ``after_us``."""
    padded = np.concatenate([[False], still, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start < min_rows or grid_us[start] <= after_us:
            continue
        if end == still.size:
            return None  # the rest may still be going on
        return int(start), int(end)
    return None
