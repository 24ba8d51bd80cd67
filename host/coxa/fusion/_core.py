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
from typing import Any, Literal

import numba
import numpy as np
from numpy.typing import NDArray

from coxa.body import SegmentName
from coxa.fusion._angles import joint_angles_from_columns_deg
from coxa.fusion._buffer import BoardBuffer
from coxa.fusion._calibration import (
    Calibration,
    CalibrationError,
    CalibrationInput,
    CalibrationParams,
    calibrate,
    reuse_calibration,
)
from coxa.fusion._clock import ClockParams, ClockSync, device_us
from coxa.fusion._heading import HeadingParams, HeadingState, correct_headings
from coxa.fusion._refusion import RefusionParams, VqfRefusion
from coxa.fusion._resample import resample_board, resample_chunks
from coxa.fusion._samples import Int64Array, SampleBlock
from coxa.fusion._table import AngleTable, HipReference
from coxa.fusion._unpack import FrameUnpacker
from coxa.geometry import (
    FloatArray,
    quat_conjugate,
    quat_multiply,
    quat_to_rotvec,
)
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
    expired : dict of int to int
        Per board, new samples that arrived after the output had passed them (counted in
        ``late`` too): they can no longer change any row, so they were dropped. A backfill
        that comes later than the output latency shows here.
    empty_rows : dict of str to int
        Per segment, output rows without data (gaps).
    """

    unknown_board_samples: int = 0
    duplicates: dict[int, int] = field(default_factory=dict[int, int])
    late: dict[int, int] = field(default_factory=dict[int, int])
    missing: dict[int, int] = field(default_factory=dict[int, int])
    expired: dict[int, int] = field(default_factory=dict[int, int])
    empty_rows: dict[str, int] = field(default_factory=dict[str, int])


@dataclass(frozen=True, eq=False)
class _Rows:
    """Output rows before the joint angles: grid times (us, shape (m,)), segment orientations
    in the common world (board columns, shape (m, n_boards, 4)) and facing (rad, shape (m,))."""

    t_us: FloatArray
    world: FloatArray
    facing_rad: FloatArray


class _RowQueue:
    """Rows ``start:end`` of preallocated columns, appended at the back (moved to the front, or
    the columns doubled, when full) and dropped from the front, so a row is copied a bounded
    number of times on average.

    Parameters
    ----------
    *empty : ndarray
        An empty array per column, of the column's dtype and trailing shape.
    """

    def __init__(self, *empty: NDArray[Any]) -> None:
        self.columns = list(empty)
        self.start = 0
        self.end = 0

    def append(self, *values: NDArray[Any]) -> int:
        """Append rows (one array per column); return the index of the first of them."""
        first = self.reserve(values[0].shape[0])
        for column, value in zip(self.columns, values, strict=True):
            column[first : first + value.shape[0]] = value
        return first

    def reserve(self, m: int) -> int:
        """Append ``m`` rows to be written by the caller; return the index of the first."""
        held = self.end - self.start
        capacity = self.columns[0].shape[0]
        if self.end + m > capacity:
            kept = slice(self.start, self.end)
            if held + m <= capacity // 2:
                for column in self.columns:
                    column[:held] = column[kept]
            else:
                grown = max(held + m, 2 * capacity)
                for i, column in enumerate(self.columns):
                    new = np.empty((grown, *column.shape[1:]), dtype=column.dtype)
                    new[:held] = column[kept]
                    self.columns[i] = new
            self.start, self.end = 0, held
        self.end += m
        return self.end - m


class _PendingRows(_RowQueue):
    """Offline rows held back until a re-anchoring (columns ``t_us``, ``world`` and
    ``facing_rad`` of :class:`_Rows`)."""

    def __init__(self, n_boards: int) -> None:
        super().__init__(np.empty(0), np.empty((0, n_boards, 4)), np.empty(0))

    @property
    def t_us(self) -> FloatArray:
        return self.columns[0]

    @property
    def world(self) -> FloatArray:
        return self.columns[1]

    @property
    def facing_rad(self) -> FloatArray:
        return self.columns[2]

    def release(self, stop: int) -> _Rows:
        """A copy of the rows from the front up to index ``stop``, which are then dropped."""
        rows = slice(self.start, stop)
        out = _Rows(self.t_us[rows].copy(), self.world[rows].copy(), self.facing_rad[rows].copy())
        self.start = stop
        return out


class _Unfed(_RowQueue):
    """Samples of a board not yet given to its clock map: device and receive times (us),
    sorted by receive time (stably: the order of arrival among equal ones)."""

    def __init__(self) -> None:
        super().__init__(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))

    def push(self, t_device_us: Int64Array, t_rx_us: Int64Array, rx_sorted: bool) -> None:
        """Queue samples; ``rx_sorted``: whether ``t_rx_us`` is non-decreasing."""
        t_rx = self.columns[1]
        in_order = rx_sorted and (
            self.end == self.start or int(t_rx_us[0]) >= int(t_rx[self.end - 1])
        )
        self.append(t_device_us, t_rx_us)
        if not in_order:
            held = slice(self.start, self.end)
            order = np.argsort(self.columns[1][held], kind="stable")
            for column in self.columns:
                column[held] = column[held][order]

    def samples(self) -> tuple[Int64Array, Int64Array]:
        """The queued device and receive times."""
        held = slice(self.start, self.end)
        return self.columns[0][held], self.columns[1][held]


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
        # Samples not yet fed to their board's clock map.
        self._unfed = {b: _Unfed() for b in self._boards}
        self._last_quat: dict[int, tuple[int, int, FloatArray]] = {}
        self._seq_span: dict[int, tuple[int, int]] = {}
        self._unpacker = FrameUnpacker()
        self._refusions: dict[int, VqfRefusion] = {}
        self._refused_seq: dict[int, int] = {}
        # Research mode: samples dropped behind the re-fusion (late, never in a buffer).
        self._refusion_dropped: dict[int, int] = {}
        self.stats = FusionStats()
        self.calibration: Calibration | None = None
        self.calibration_error: CalibrationError | None = None
        self._heading: HeadingState | None = None
        self._mount_conj_stacked = np.zeros((0, 4))
        self._hinge_axes = np.zeros((0, 3))
        self._step_us = 1e6 / self.params.output_rate_hz
        self._chunk_rows = max(1, round(self.params.chunk_ms * 1e3 / self._step_us))
        self._next_row: int | None = None
        self._t_rx_max: int | None = None
        self._next_attempt_us: float | None = None
        # Calibration looks for a standing rest starting after this host time (the end of a
        # refused one), in the data kept from ``_kept_from_us`` on, microseconds.
        self._search_from_us = -math.inf
        self._kept_from_us = -math.inf
        # Per board, the device time before which that data was trimmed (microseconds).
        self._trimmed_before_us: dict[int, float] = {}
        # Offline: rows held back until the next re-anchoring, and the time of the last one.
        self._pending = _PendingRows(len(self._boards))
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
        summary = _summary(block.seq, block.t_rx_us)
        if floor_us is not None and summary[2] < floor_us:
            # Blocks must come in receive order; an older receive time is clamped, not lost.
            _LOG.warning("board %d: receive times went backwards; clamped", block.board_id)
            block = replace(block, t_rx_us=np.maximum(block.t_rx_us, floor_us))
            summary = _summary(block.seq, block.t_rx_us)
        if self.params.orientation == "vqf":
            refused = self._refuse(block)
            if refused is None:
                return
            block = refused
            summary = _summary(block.seq, block.t_rx_us)
        seq_min, seq_max, _, rx_max, rx_sorted = summary
        gyr = block.gyr_rad_s if block.gyr_rad_s is not None else self._rates_from_quat(block)
        buffer = self._buffers[block.board_id]
        buffer.add(block, gyr)
        self._unfed[block.board_id].push(block.t_device_us, block.t_rx_us, rx_sorted)
        lo, hi = self._seq_span.get(block.board_id, (seq_min, seq_max))
        self._seq_span[block.board_id] = (min(lo, seq_min), max(hi, seq_max))
        self._t_rx_max = rx_max if self._t_rx_max is None else max(self._t_rx_max, rx_max)

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
            self._refusion_dropped[block.board_id] = (
                self._refusion_dropped.get(block.board_id, 0) + dropped
            )
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
        self._feed_clocks_until(np.array([cutoff_us]))

    def _feed_clocks_until(self, cutoffs_us: FloatArray) -> dict[int, FloatArray]:
        """Feed every board's clock the samples received by each cutoff in turn (as
        :meth:`_feed_clocks` cutoff by cutoff) and return the map after each: per board, shape
        ``(k, 3)`` (:meth:`ClockSync.update_until`)."""
        maps: dict[int, FloatArray] = {}
        for board_id in self._boards:
            unfed = self._unfed[board_id]
            t_dev, t_rx = unfed.samples()
            maps[board_id], added = self._clocks[board_id].update_until(t_dev, t_rx, cutoffs_us)
            unfed.start += added
        return maps

    def _advance(self, final: bool) -> AngleTable:
        tables: list[AngleTable] = []
        if self._t_rx_max is None:
            return AngleTable.empty(self.hip_reference)
        while self.calibration is None:
            assert self._next_attempt_us is not None
            if not final and self._next_attempt_us >= self._t_rx_max:
                break
            cutoff = math.inf if final else self._next_attempt_us
            done = self._try_calibrate(cutoff, final)
            self._next_attempt_us += self.params.calibration_every_s * 1e6
            if not done and final:
                break
        if self.calibration is not None:
            ends, cutoffs = self._final_chunks() if final else self._ready_chunks()
            if ends:
                tables.append(self._rows(ends, cutoffs))
        if final and self._pending.end > self._pending.start:
            tables.append(self._table(self._pending.release(self._pending.end)))
        self._count()
        return AngleTable.concatenate(tables) if tables else AngleTable.empty(self.hip_reference)

    def _ready_chunks(self) -> tuple[list[int], list[float]]:
        """End rows and receive-time cutoffs of the chunks whose cutoff has passed (every frame
        they may use has arrived)."""
        assert self._next_row is not None
        assert self._t_rx_max is not None
        ends: list[int] = []
        cutoffs: list[float] = []
        row = self._next_row
        while True:
            end_row = (row // self._chunk_rows + 1) * self._chunk_rows
            cutoff = end_row * self._step_us + self.params.latency_ms * 1e3
            if cutoff >= self._t_rx_max:
                return ends, cutoffs
            ends.append(end_row)
            cutoffs.append(cutoff)
            row = end_row

    def _final_chunks(self) -> tuple[list[int], list[float]]:
        """At the end: the chunks up to the newest sample every board has, all data visible.
        The first chunk is bounded with the clock maps as they are, the later ones with the
        maps fed every sample."""
        assert self._next_row is not None
        ends: list[int] = []
        row = self._next_row
        while True:
            end_row = (row // self._chunk_rows + 1) * self._chunk_rows
            end_row = min(end_row, math.floor(self._newest_host_us() / self._step_us) + 1)
            if end_row <= row:
                return ends, [math.inf] * len(ends)
            if not ends:
                self._feed_clocks(math.inf)
            ends.append(end_row)
            row = end_row

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
            # Not the sample a trim kept before its bound: which one that is depends on what
            # had arrived by then.
            t_dev = t_dev[t_dev >= self._trimmed_before_us.get(board_id, -math.inf)]
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
                rate_hz=self.params.calibration_rate_hz,
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
        self._hinge_axes = np.stack(
            [calibration.boards[b].hinge_axis_segment for b in self._boards]
        )
        self._next_row = math.ceil(calibration.rest_t_us[0] / self._step_us)
        # The headings are exact at the rest (its mean pose): the first spread starts there.
        self._last_anchor_us = 0.5 * (calibration.rest_t_us[0] + calibration.rest_t_us[1])

    @property
    def _reach_us(self) -> float:
        """How far back from a grid time the resampling may look for a sample (the longer of
        the gap bridged and the hold), plus 1 s for changes of the clock maps, microseconds.
        Trimming keeps this much before the next grid time, so whether a sample received late
        was trimmed (expired) or is still held never changes a row."""
        return max(self.params.max_gap_ms, self.params.hold_ms) * 1e3 + 1e6

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
        # Later grids start at the horizon; keep what their first rows may interpolate from.
        for board_id, buffer in self._buffers.items():
            bound = self._clocks[board_id].to_device_us(horizon - self._reach_us)
            self._trimmed_before_us[board_id] = bound
            buffer.trim_before(bound)

    def _rows(self, ends: list[int], cutoffs: list[float]) -> AngleTable:
        """The rows of consecutive chunks (from ``_next_row`` to each end row, each with its
        receive-time cutoff) in one pass: each chunk's rows are computed as if alone, with
        the clock maps fed up to its cutoff."""
        assert self._heading is not None
        assert self._next_row is not None
        row0 = self._next_row
        cutoffs_us = np.array(cutoffs)
        maps = self._feed_clocks_until(cutoffs_us)
        t_grid = np.arange(row0, ends[-1], dtype=np.float64) * self._step_us
        chunk_ends = np.array(ends, dtype=np.int64) - row0
        m = t_grid.size
        quat = np.empty((m, len(self._boards), 4))
        gyr_norm = np.empty((m, len(self._boards)))
        for column, board_id in enumerate(self._boards):
            empty = resample_chunks(
                self._buffers[board_id],
                maps[board_id],
                chunk_ends,
                cutoffs_us,
                t_grid,
                self.params.max_gap_ms * 1e3,
                self.params.hold_ms * 1e3,
                self._mount_conj_stacked[column],
                column,
                quat,
                gyr_norm,
            )
            segment = self.segments_by_board[board_id]
            self.stats.empty_rows[segment] = self.stats.empty_rows.get(segment, 0) + empty
        still = gyr_norm < self.params.calibration.rest_gyr_rad_s  # NaN (no data) is not still
        # Offline (rows held for spreading), the rows go straight into the pending store.
        held = self.params.spread_s > 0.0
        first = self._pending.reserve(m) if held else 0
        rows = slice(first, first + m)
        if held:
            self._pending.t_us[rows] = t_grid
        world, facing, anchor = correct_headings(
            quat,
            still,
            self._roles,
            self._hinge_axes,
            self._step_us * 1e-6,
            self.params.heading,
            self._heading,
            quat_out=self._pending.world[rows] if held else None,
            facing_out=self._pending.facing_rad[rows] if held else None,
        )
        self._trim(ends, maps)
        self._next_row = ends[-1]
        return self._release(_Rows(t_grid, world, facing), anchor, chunk_ends, first)

    def _release(
        self, rows: _Rows, anchor_rad: FloatArray, chunk_ends: Int64Array, first: int
    ) -> AngleTable:
        """The rows that are final: all of them live; offline, chunk by chunk, the rows up to
        the newest re-anchoring, with its heading corrections (and the change of the facing
        direction) spread back over the time since the previous one, and rows older than
        ``spread_s`` (the rest wait for the next re-anchoring). Spreading the facing assumes
        the athlete did not turn around in the room before the rest; a turn would be spread
        over the set in the room-referenced angles (femoral rotation without a pelvis board,
        pelvis rotation). Offline, ``rows`` are already in the pending store from index
        ``first`` on."""
        spread_us = self.params.spread_s * 1e6
        if spread_us <= 0.0:
            return self._table(rows)
        pending = self._pending  # holds ``rows`` from index ``first`` on
        released = pending.start
        anchors = _nonzero_rows(anchor_rad).tolist()
        chunk_start = 0
        for chunk_end in chunk_ends.tolist():
            # What the rows of this chunk release, as if it came alone.
            done = pending.start
            for row in (r for r in anchors if chunk_start <= r < chunk_end):
                correction = anchor_rad[row]
                row += first
                t_anchor = float(pending.t_us[row])
                since = self._last_anchor_us
                before = (
                    float(pending.facing_rad[row - 1]) if row > pending.start else self._facing_rad
                )
                facing_jump = math.remainder(float(pending.facing_rad[row]) - before, math.tau)
                if t_anchor > since:
                    span = slice(done, row)
                    _spread(
                        pending.t_us[span],
                        since,
                        t_anchor,
                        correction,
                        facing_jump,
                        pending.world[span],
                        pending.facing_rad[span],
                    )
                self._last_anchor_us = t_anchor
                done = row + 1
            stop = first + chunk_end
            newest = float(pending.t_us[stop - 1])
            old = pending.t_us[pending.start : stop]
            done = max(
                done,
                pending.start + int(np.searchsorted(old, newest - spread_us, side="right")),
            )
            if done > pending.start:
                self._facing_rad = float(pending.facing_rad[done - 1])
            pending.start = done
            chunk_start = chunk_end
        stop, pending.start = pending.start, released
        return self._table(pending.release(stop))

    def _table(self, rows: _Rows) -> AngleTable:
        segments = {self.segments_by_board[b]: rows.world[:, c] for c, b in enumerate(self._boards)}
        return AngleTable(
            t_us=rows.t_us,
            angles_deg=joint_angles_from_columns_deg(rows.world, self._roles, rows.facing_rad),
            quat_world_segment_wxyz=segments,
            hip_reference=self.hip_reference,
        )

    def _trim(self, ends: list[int], maps: dict[int, FloatArray]) -> None:
        """Forget samples older than the buffers' reach before the last row of each chunk
        (as trimming after each chunk with its clock map: the latest bound counts)."""
        t_host_us = [(end - 1) * self._step_us - self._reach_us for end in ends]
        for board_id, buffer in self._buffers.items():
            buffer.trim_before(max(map(device_us, maps[board_id].tolist(), t_host_us)))

    def _count(self) -> None:
        """Refresh the per-board counters of :attr:`stats`."""
        for board_id, buffer in self._buffers.items():
            self.stats.duplicates[board_id] = buffer.duplicates
            self.stats.late[board_id] = buffer.late + self._refusion_dropped.get(board_id, 0)
            self.stats.expired[board_id] = buffer.expired
            lo, hi = self._seq_span.get(board_id, (0, -1))
            self.stats.missing[board_id] = max(
                0, hi - lo + 1 - (buffer.received - buffer.duplicates)
            )


@numba.njit(cache=True, nogil=True)
def _summary(seq: Int64Array, t_rx_us: Int64Array) -> tuple[int, int, int, int, bool]:
    """Smallest and largest sequence number and receive time of a block (not empty), and
    whether its receive times are non-decreasing (one pass instead of five)."""
    seq_min = seq_max = seq[0]
    rx_min = rx_max = t_rx_us[0]
    backwards = 0
    for i in range(1, seq.size):
        seq_min = min(seq_min, seq[i])
        seq_max = max(seq_max, seq[i])
        rx = t_rx_us[i]
        backwards += rx < t_rx_us[i - 1]
        rx_min = min(rx_min, rx)
        rx_max = max(rx_max, rx)
    return seq_min, seq_max, rx_min, rx_max, backwards == 0


@numba.njit(cache=True, nogil=True)
def _nonzero_rows(values: FloatArray) -> Int64Array:
    """Indices of the rows of a 2-d array with a non-zero entry."""
    rows = np.empty(values.shape[0], dtype=np.int64)
    count = 0
    for k in range(values.shape[0]):
        for b in range(values.shape[1]):
            if values[k, b] != 0.0:
                rows[count] = k
                count += 1
                break
    return rows[:count].copy()


@numba.njit(cache=True, nogil=True)
def _spread(
    t_us: FloatArray,
    since_us: float,
    anchor_us: float,
    correction_rad: FloatArray,
    facing_jump_rad: float,
    quat_wxyz: FloatArray,
    facing_rad: FloatArray,
) -> None:
    """Spread a re-anchoring's heading corrections back over rows (in place): each row's
    segments (shape ``(m, n, 4)``) turned about the vertical by ``fraction * correction_rad``
    and its facing moved by ``fraction * facing_jump_rad``, ``fraction`` rising linearly from 0
    at ``since_us`` to 1 at ``anchor_us`` (clipped). The arithmetic of
    ``quat_multiply(quat_from_axis_angle((0, 0, 1), angle), quat_wxyz)``."""
    for k in range(quat_wxyz.shape[0]):
        fraction = min(max((t_us[k] - since_us) / (anchor_us - since_us), 0.0), 1.0)
        for b in range(quat_wxyz.shape[1]):
            half = 0.5 * (fraction * correction_rad[b])
            pw = math.cos(half)
            s = math.sin(half)
            px, py, pz = s * 0.0 / 1.0, s * 0.0 / 1.0, s * 1.0 / 1.0
            qw, qx, qy, qz = (
                quat_wxyz[k, b, 0],
                quat_wxyz[k, b, 1],
                quat_wxyz[k, b, 2],
                quat_wxyz[k, b, 3],
            )
            quat_wxyz[k, b, 0] = pw * qw - px * qx - py * qy - pz * qz
            quat_wxyz[k, b, 1] = pw * qx + px * qw + py * qz - pz * qy
            quat_wxyz[k, b, 2] = pw * qy - px * qz + py * qw + pz * qx
            quat_wxyz[k, b, 3] = pw * qz + px * qy - py * qx + pz * qw
        facing_rad[k] += fraction * facing_jump_rad


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
