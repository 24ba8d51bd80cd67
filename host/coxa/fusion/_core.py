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
from typing import Literal

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
    reuse_calibration,
)
from coxa.fusion._clock import ClockParams, ClockSync
from coxa.fusion._heading import HeadingParams, HeadingState, correct_headings
from coxa.fusion._refusion import RefusionParams, VqfRefusion
from coxa.fusion._resample import resample_board
from coxa.fusion._samples import SampleBlock
from coxa.fusion._table import AngleTable, HipReference
from coxa.fusion._unpack import FrameUnpacker
from coxa.geometry import (
    FloatArray,
    quat_conjugate,
    quat_from_axis_angle,
    quat_multiply,
    quat_to_rotvec,
)
from coxa.sources import ReceivedFrame

_LOG = logging.getLogger(__name__)

_UP = np.array([0.0, 0.0, 1.0])
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
    spread_s : float
        Offline: each board's heading correction at a re-anchoring (a standing rest) is spread
        back linearly over the rows since the previous one, up to this far back, seconds; rows
        are held until then. A heading drift at a constant rate is then removed from the whole
        set, not only after it. Default 0 (live: rows are final at once); offline 600 s
        [assumption: longer than any set].
    orientation : {'board', 'vqf'}
        ``'board'``: the boards' own 6D orientation (default). ``'vqf'``: research mode, re-fuse
        raw gyroscope and accelerometer samples with VQF on the host (needs raw-mode boards;
        samples arriving behind newer ones cannot be re-fused in order and are dropped,
        counted in ``FusionStats.late``).
    sample_rate_hz : float
        The boards' sample rate for the re-fusion, Hz. Default 200 (the firmware's).
    refusion : RefusionParams
        Settings of the re-fusion.
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
    spread_s: float = 0.0
    orientation: Literal["board", "vqf"] = "board"
    sample_rate_hz: float = 200.0
    refusion: RefusionParams = field(default_factory=RefusionParams)
    clock: ClockParams = field(default_factory=ClockParams)
    calibration: CalibrationParams = field(default_factory=CalibrationParams)
    heading: HeadingParams = field(default_factory=HeadingParams)

    @staticmethod
    def offline(**changes: object) -> FusionParams:
        """Parameters for whole-file analysis: 30 s latency, 2 s chunks, no hold, heading
        corrections spread back over 600 s, and the whole functional window before
        calibrating."""
        base = FusionParams(
            latency_ms=30_000.0,
            chunk_ms=2_000.0,
            hold_ms=0.0,
            spread_s=600.0,
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


@dataclass(frozen=True, eq=False)
class _Rows:
    """Output rows before the joint angles: grid times (us, shape (m,)), segment orientations
    in the common world (board columns, shape (m, n_boards, 4)) and facing (rad, shape (m,))."""

    t_us: FloatArray
    world: FloatArray
    facing_rad: FloatArray

    @staticmethod
    def empty(n_boards: int) -> _Rows:
        return _Rows(np.zeros(0), np.zeros((0, n_boards, 4)), np.zeros(0))

    @staticmethod
    def concatenate(parts: list[_Rows]) -> _Rows:
        return _Rows(
            np.concatenate([p.t_us for p in parts]),
            np.concatenate([p.world for p in parts]),
            np.concatenate([p.facing_rad for p in parts]),
        )

    def slice(self, start: int, stop: int) -> _Rows:
        return _Rows(self.t_us[start:stop], self.world[start:stop], self.facing_rad[start:stop])


class FusionCore:
    """Streaming fusion of board orientation streams into ISB joint angles.

    Parameters
    ----------
    segments_by_board : mapping of int to str
        Segment (``pelvis``, ``femur_r``, ``tibia_r``, ``femur_l``, ``tibia_l``) of each board.
    params : FusionParams
        Live defaults if omitted; :meth:`FusionParams.offline` for files.
    mounts : Calibration, optional
        An earlier calibration of the same boards on the same straps: its sensor-to-segment
        mounts are kept and only the headings are taken from the first standing rest, so no
        functional movement is needed (exercises that hardly bend a knee, such as the trailing
        leg of a step-up).

    Raises
    ------
    ValueError
        Two boards on one segment, or ``mounts`` of other boards.
    """

    def __init__(
        self,
        segments_by_board: Mapping[int, SegmentName],
        params: FusionParams | None = None,
        mounts: Calibration | None = None,
    ) -> None:
        self.params = params or FusionParams()
        if len(set(segments_by_board.values())) != len(segments_by_board):
            raise ValueError("two boards are assigned to the same segment")
        if mounts is not None and {b: c.segment for b, c in mounts.boards.items()} != dict(
            segments_by_board
        ):
            raise ValueError("the given mounts belong to other boards or segments than the rig")
        self._mounts = mounts
        self._boards = sorted(
            segments_by_board, key=lambda b: _ROLE_SEGMENTS.index(segments_by_board[b])
        )
        self.segments_by_board: dict[int, SegmentName] = {
            b: segments_by_board[b] for b in self._boards
        }
        self._buffers = {b: BoardBuffer(b) for b in self._boards}
        self._clocks = {b: ClockSync(self.params.clock) for b in self._boards}
        # Samples not yet fed to their board's clock map: (device times, receive times), us.
        self._unfed: dict[int, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
        self._last_quat: dict[int, tuple[int, int, FloatArray]] = {}
        self._seq_span: dict[int, tuple[int, int]] = {}
        self._unpacker = FrameUnpacker()
        self._refusions: dict[int, VqfRefusion] = {}
        self._refused_seq: dict[int, int] = {}
        self.stats = FusionStats()
        self.calibration: Calibration | None = None
        self.calibration_error: CalibrationError | None = None
        self._heading: HeadingState | None = None
        self._mount_conj_stacked = np.zeros((0, 4))
        self._step_us = 1e6 / self.params.output_rate_hz
        self._chunk_rows = max(1, round(self.params.chunk_ms * 1e3 / self._step_us))
        self._next_row: int | None = None
        self._t_rx_max: int | None = None
        self._next_attempt_us: float | None = None
        # Calibration looks for a standing rest starting after this host time (the end of a
        # refused one), in the data kept from ``_kept_from_us`` on, microseconds.
        self._search_from_us = -math.inf
        self._kept_from_us = -math.inf
        # Offline: rows held back until the next re-anchoring, and the time of the last one.
        self._pending = _Rows.empty(len(self._boards))
        self._last_anchor_us = 0.0
        self._facing_rad = 0.0
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
        if self.params.orientation == "vqf":
            refused = self._refuse(block)
            if refused is None:
                return
            block = refused
        gyr = block.gyr_rad_s if block.gyr_rad_s is not None else self._rates_from_quat(block)
        buffer = self._buffers[block.board_id]
        buffer.add(block, gyr)
        unfed = self._unfed.get(block.board_id)
        self._unfed[block.board_id] = (
            (block.t_device_us, block.t_rx_us)
            if unfed is None
            else (
                np.concatenate([unfed[0], block.t_device_us]),
                np.concatenate([unfed[1], block.t_rx_us]),
            )
        )
        lo, hi = self._seq_span.get(block.board_id, (int(block.seq.min()), int(block.seq.max())))
        self._seq_span[block.board_id] = (
            min(lo, int(block.seq.min())),
            max(hi, int(block.seq.max())),
        )
        newest = int(block.t_rx_us.max())
        self._t_rx_max = newest if self._t_rx_max is None else max(self._t_rx_max, newest)

    def _refuse(self, block: SampleBlock) -> SampleBlock | None:
        """Research mode: the block with its orientation re-fused from its raw samples; samples
        not newer than the last re-fused one are dropped (None when none is left)."""
        refusion = self._refusions.get(block.board_id)
        if refusion is None:
            refusion = VqfRefusion(self.params.sample_rate_hz, self.params.refusion)
            self._refusions[block.board_id] = refusion
        last = self._refused_seq.get(block.board_id)
        if last is not None and int(block.seq.min()) <= last:
            newer = block.seq > last
            dropped = int(np.count_nonzero(~newer))
            self.stats.late[block.board_id] = self.stats.late.get(block.board_id, 0) + dropped
            _LOG.info("board %d: %d samples behind the re-fusion dropped", block.board_id, dropped)
            if not np.any(newer):
                return None
            block = block.select(newer)
        if np.any(np.diff(block.seq) <= 0):
            block = block.select(_increasing(block.seq))
        quat = refusion.update_block(block)
        self._refused_seq[block.board_id] = int(block.seq[-1])
        return replace(block, quat_wxyz=quat)

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
        """Feed every board's clock map the samples received by ``cutoff_us``, once each (the
        map depends only on the set of samples, not on how they were fed)."""
        for board_id, (t_device_us, t_rx_us) in list(self._unfed.items()):
            visible = t_rx_us <= cutoff_us
            if not np.any(visible):
                continue
            self._clocks[board_id].update(t_device_us[visible], t_rx_us[visible])
            if np.all(visible):
                del self._unfed[board_id]
            else:
                self._unfed[board_id] = (t_device_us[~visible], t_rx_us[~visible])

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
        if final and self._pending.t_us.size:
            tables.append(self._table(self._pending))
            self._pending = _Rows.empty(len(self._boards))
        return AngleTable.concatenate(tables) if tables else AngleTable.empty(self.hip_reference)

    def _newest_host_us(self) -> float:
        newest = [
            float(self._clocks[b].to_host_us(buf.t_device_us[-1:])[0])
            for b, buf in self._buffers.items()
            if buf.n_samples and self._clocks[b].ready
        ]
        return min(newest) if newest else -math.inf

    def _visible_span_us(self, cutoff_us: float) -> tuple[float, float] | None:
        """Host times of the newest first and the oldest last visible sample over the boards
        (the span where every board has data), or None while a board has none."""
        firsts: list[float] = []
        lasts: list[float] = []
        for board_id, buffer in self._buffers.items():
            t_dev = buffer.t_device_us[buffer.t_rx_us <= cutoff_us]
            if t_dev.size == 0:
                return None
            ends = self._clocks[board_id].to_host_us(np.array([t_dev.min(), t_dev.max()]))
            firsts.append(float(ends[0]))
            lasts.append(float(ends[1]))
        return max(firsts), min(lasts)

    def _try_calibrate(self, cutoff_us: float, final: bool) -> bool:
        self._feed_clocks(cutoff_us)
        params = self.params.calibration
        span = self._visible_span_us(cutoff_us)
        if span is None or not all(clock.ready for clock in self._clocks.values()):
            if final and self.calibration_error is None:
                self.calibration_error = CalibrationError(
                    "not every board of the rig sent enough data to align its clock: check that "
                    "all boards stream"
                )
            return False
        step_us = 1e6 / self.params.calibration_rate_hz
        start = math.ceil(max(span[0], self._kept_from_us) / step_us) * step_us
        end = min(cutoff_us, span[1])
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
        gaps = _RestGaps(
            short_rows=round(self.params.max_gap_ms * 2e3 / step_us),
            long_rows=round(params.rest_gap_max_s * 1e6 / step_us),
            long_turn_rad=math.radians(params.rest_gap_turn_deg),
        )
        still = np.all(
            [
                _still(d.gyr_norm_rad_s, d.quat_wxyz, params.rest_gyr_rad_s, gaps)
                for d in data.values()
            ],
            axis=0,
        )
        if params.calibration_t_us is not None:
            # A given calibration time is the neutral pose itself, still or not (OpenSense style).
            i0 = int(np.searchsorted(grid, params.calibration_t_us))
            rest = (i0, i0 + 1) if i0 < grid.size else None
            if params.calibration_t_us < grid[0] - step_us:
                rest = None  # before the data: no pose to take
        else:
            rest = _find_rest(
                still,
                grid,
                round(params.rest_min_s * 1e6 / step_us),
                self._search_from_us,
                open_end=final and self.calibration_error is None,
            )
        if rest is None:
            if final and self.calibration_error is None:
                self.calibration_error = CalibrationError(
                    "no standing rest common to all boards: stand still for 2 s before moving"
                    if params.calibration_t_us is None
                    else f"no data from every board at the calibration time "
                    f"{params.calibration_t_us / 1e6:.2f} s"
                )
            self._forget_before(end)
            return False
        i1 = rest[1]
        i0 = max(rest[0], i1 - round(params.rest_used_s * 1e6 / step_us))
        inputs = {
            b: CalibrationInput(self.segments_by_board[b], d.quat_wxyz) for b, d in data.items()
        }
        if self._mounts is not None:
            rest_t_us = (float(grid[i0]), float(grid[i1 - 1]))
            self._calibrated(reuse_calibration(self._mounts, inputs, slice(i0, i1), rest_t_us))
            return True
        move_end = min(grid.size, i1 + round(params.functional_window_s * 1e6 / step_us))
        window_full = move_end < grid.size or final
        if not window_full and (move_end - i1) * step_us < params.functional_min_s * 1e6:
            return False
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
                self._search_from_us = float(grid[i1 - 1])
                self._forget_before(end)
            return False
        self._calibrated(calibration)
        return True

    def _calibrated(self, calibration: Calibration) -> None:
        self.calibration = calibration
        self.calibration_error = None
        self._mount_conj_stacked = np.stack(
            [quat_conjugate(calibration.boards[b].quat_segment_sensor_wxyz) for b in self._boards]
        )
        self._heading = HeadingState.initial(
            np.array([calibration.boards[b].heading_rad for b in self._boards])
        )
        self._next_row = math.ceil(calibration.rest_t_us[0] / self._step_us)
        # The headings are exact at the rest (its mean pose): the first spread starts there.
        self._last_anchor_us = 0.5 * (calibration.rest_t_us[0] + calibration.rest_t_us[1])

    def _forget_before(self, end_us: float) -> None:
        """Before a calibration, drop what no later attempt can use: data older than a rest
        plus a functional window before ``end_us`` (bounded memory however long the wait)."""
        params = self.params.calibration
        keep_us = (params.rest_used_s + params.functional_window_s + 1.0) * 1e6
        horizon = end_us - keep_us
        if params.calibration_t_us is not None:
            horizon = min(horizon, params.calibration_t_us - 1e6)
        if horizon <= self._kept_from_us:
            return
        self._kept_from_us = horizon
        for board_id, buffer in self._buffers.items():
            buffer.trim_before(self._clocks[board_id].to_device_us(horizon))

    def _rows(self, row0: int, row1: int, cutoff_us: float) -> AngleTable:
        assert self._heading is not None
        self._feed_clocks(cutoff_us)
        t_grid = np.arange(row0, row1, dtype=np.float64) * self._step_us
        m = t_grid.size
        resampled = np.empty((m, len(self._boards), 4))
        gyr_norm = np.empty((m, len(self._boards)))
        hold_us = self.params.hold_ms * 1e3
        for column, board_id in enumerate(self._boards):
            data = resample_board(
                self._buffers[board_id],
                self._clocks[board_id],
                t_grid,
                cutoff_us,
                self.params.max_gap_ms * 1e3,
                hold_us,
            )
            resampled[:, column] = data.quat_wxyz
            gyr_norm[:, column] = data.gyr_norm_rad_s
        quat = quat_multiply(resampled, self._mount_conj_stacked)
        still = gyr_norm < self.params.calibration.rest_gyr_rad_s  # NaN (no data) is not still
        world, facing, anchor = correct_headings(
            quat, still, self._roles, self._step_us * 1e-6, self.params.heading, self._heading
        )
        empty = np.count_nonzero(~np.isfinite(world[:, :, 0]), axis=0)
        for column, board_id in enumerate(self._boards):
            segment = self.segments_by_board[board_id]
            self.stats.empty_rows[segment] = self.stats.empty_rows.get(segment, 0) + int(
                empty[column]
            )
        self._trim(t_grid[-1])
        return self._release(_Rows(t_grid, world, facing), anchor)

    def _release(self, rows: _Rows, anchor_rad: FloatArray) -> AngleTable:
        """The rows that are final: all of them live; offline, the rows up to the newest
        re-anchoring, with its heading corrections (and the change of the facing direction)
        spread back over the time since the previous one, and rows older than ``spread_s``
        (the rest wait for the next re-anchoring). Spreading the facing assumes the athlete did
        not turn around in the room before the rest; a turn would be spread over the set in the
        room-referenced angles (femoral rotation without a pelvis board, pelvis rotation)."""
        spread_us = self.params.spread_s * 1e6
        if spread_us <= 0.0:
            return self._table(rows)
        pending = _Rows.concatenate([self._pending, rows])
        anchors = np.flatnonzero(np.any(anchor_rad != 0.0, axis=1)) + self._pending.t_us.size
        corrections = anchor_rad[anchors - self._pending.t_us.size]
        done = 0
        for row, correction in zip(anchors.tolist(), corrections, strict=True):
            t_anchor = float(pending.t_us[row])
            since = self._last_anchor_us
            before = float(pending.facing_rad[row - 1]) if row > 0 else self._facing_rad
            facing_jump = math.remainder(float(pending.facing_rad[row]) - before, math.tau)
            if t_anchor > since:
                fraction = np.clip((pending.t_us[done:row] - since) / (t_anchor - since), 0.0, 1.0)
                turn = quat_from_axis_angle(_UP, fraction[:, None] * correction[None, :])
                pending.world[done:row] = quat_multiply(turn, pending.world[done:row])
                pending.facing_rad[done:row] += fraction * facing_jump
            self._last_anchor_us = t_anchor
            done = row + 1
        newest = float(pending.t_us[-1]) if pending.t_us.size else -math.inf
        done = max(done, int(np.searchsorted(pending.t_us, newest - spread_us, side="right")))
        self._pending = pending.slice(done, pending.t_us.size)
        if done:
            self._facing_rad = float(pending.facing_rad[done - 1])
        return self._table(pending.slice(0, done))

    def _table(self, rows: _Rows) -> AngleTable:
        segments = {self.segments_by_board[b]: rows.world[:, c] for c, b in enumerate(self._boards)}
        return AngleTable(
            t_us=rows.t_us,
            angles_deg=joint_angles_deg(segments, rows.facing_rad),
            quat_world_segment_wxyz=segments,
            hip_reference=self.hip_reference,
        )

    def _trim(self, t_last_us: float) -> None:
        keep_us = self.params.max_gap_ms * 1e3 + 1e6
        for board_id, buffer in self._buffers.items():
            buffer.trim_before(self._clocks[board_id].to_device_us(t_last_us - keep_us))
            self.stats.duplicates[board_id] = buffer.duplicates
            self.stats.late[board_id] = buffer.late
            lo, hi = self._seq_span.get(board_id, (0, -1))
            self.stats.missing[board_id] = max(
                0, hi - lo + 1 - (buffer.received - buffer.duplicates)
            )


def _increasing(seq: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Rows of the first copy of each sequence number, keeping only those above every earlier
    one (a strictly increasing subsequence in arrival order)."""
    return seq > np.concatenate([[np.iinfo(np.int64).min], np.maximum.accumulate(seq)[:-1]])


@dataclass(frozen=True)
class _RestGaps:
    """Radio gaps that do not end a rest: any of at most ``short_rows`` rows, and those of at
    most ``long_rows`` rows across which the board turned less than ``long_turn_rad``."""

    short_rows: int
    long_rows: int
    long_turn_rad: float


def _still(
    gyr_norm_rad_s: FloatArray, quat_wxyz: FloatArray, threshold_rad_s: float, gaps: _RestGaps
) -> NDArray[np.bool_]:
    """Rows where a board is still: below the threshold, or inside a gap between still rows
    that :class:`_RestGaps` lets through (a lost radio burst does not end a rest)."""
    still = gyr_norm_rad_s < threshold_rad_s
    missing = np.isnan(gyr_norm_rad_s)
    padded = np.concatenate([[False], missing, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if start == 0 or end == still.size or not (still[start - 1] and still[end]):
            continue
        if end - start > gaps.short_rows:
            if end - start > gaps.long_rows:
                continue
            cos_half = abs(float(quat_wxyz[start - 1] @ quat_wxyz[end]))
            if 2.0 * math.acos(min(cos_half, 1.0)) >= gaps.long_turn_rad:
                continue
        still[start:end] = True
    return still


def _find_rest(
    still: NDArray[np.bool_],
    grid_us: FloatArray,
    min_rows: int,
    after_us: float,
    open_end: bool,
) -> tuple[int, int] | None:
    """Rows ``(start, end)`` of the first run of ``still`` at least ``min_rows`` long that
    starts after ``after_us``; a run reaching the end of the data counts only with
    ``open_end`` (it may still be going on)."""
    padded = np.concatenate([[False], still, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if end - start < min_rows or grid_us[start] <= after_us:
            continue
        if end == still.size and not open_end:
            return None
        return int(start), int(end)
    return None
