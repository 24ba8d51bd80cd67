"""Per-board sample store: sorted by sequence number, duplicates dropped, trimmed behind output."""

from __future__ import annotations

import logging
import math
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from coxa.fusion._samples import Int64Array, SampleBlock
from coxa.geometry import FloatArray

_LOG = logging.getLogger(__name__)

_INITIAL_CAPACITY = 1024
_SEQ, _T_DEV, _T_RX, _QUAT, _GYR, _FLAGS = range(6)
_NO_SEQ = int(np.iinfo(np.int64).min)

# Sample classes of BoardBuffer.add.
_STORE, _DUPLICATE, _EXPIRED = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def bisect_left(sorted_values: Int64Array, value: float, lo: int, hi: int) -> int:
    """First index in ``[lo, hi)`` whose value is at least ``value`` (``hi`` if none); the
    values are sorted. (A plain loop compiles much faster than ``np.searchsorted``.)"""
    while lo < hi:
        mid = (lo + hi) // 2
        if sorted_values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def _fresh_run(seq: Int64Array, newest: int) -> bool:
    """Whether ``seq`` is strictly increasing and starts after ``newest``."""
    previous = newest
    for s in seq:
        if s <= previous:
            return False
        previous = s
    return True


@numba.njit(cache=True, nogil=True)
def _in_hole(starts: Int64Array, ends: Int64Array, s: int) -> bool:
    """Whether ``s`` lies in one of the holes ``[starts[i], ends[i]]`` (sorted, disjoint)."""
    i = bisect_left(starts, s + 1, 0, starts.size) - 1
    return i >= 0 and s <= ends[i]


@numba.njit(cache=True, nogil=True)
def _classify(
    seq: Int64Array,
    first: NDArray[np.bool_],
    held: Int64Array,
    horizon: int,
    hole_starts: Int64Array,
    hole_ends: Int64Array,
    newest: int,
    status: NDArray[np.int8],
) -> tuple[int, int]:
    """Class of each sample of a block, in arrival order (into ``status``); return the number
    of new samples received behind a newer one (late) and the newest sequence number seen.

    A sample is a duplicate if it is not the ``first`` of its sequence number in the block, or
    its sequence number is held, or was trimmed away (at or below ``horizon`` and not in a
    hole); it is expired if it is new but at or below ``horizon`` (the output has passed it);
    else it is stored.
    """
    late = 0
    for i in range(seq.size):
        s = seq[i]
        if not first[i]:
            status[i] = _DUPLICATE
        else:
            if s <= horizon:
                status[i] = _EXPIRED if _in_hole(hole_starts, hole_ends, s) else _DUPLICATE
            else:
                j = bisect_left(held, s, 0, held.size)
                status[i] = _DUPLICATE if j < held.size and held[j] == s else _STORE
            if status[i] != _DUPLICATE and s < newest:
                late += 1
        newest = max(newest, s)
    return late, newest


@numba.njit(cache=True, nogil=True)
def _punch(
    starts: Int64Array, ends: Int64Array, points: Int64Array
) -> tuple[Int64Array, Int64Array]:
    """Holes minus sorted, distinct points that lie in them."""
    out_starts = np.empty(starts.size + points.size, dtype=np.int64)
    out_ends = np.empty(starts.size + points.size, dtype=np.int64)
    k = 0
    p = 0
    for i in range(starts.size):
        lo = starts[i]
        hi = ends[i]
        while p < points.size and points[p] < lo:
            p += 1
        while p < points.size and points[p] <= hi:
            if points[p] > lo:
                out_starts[k] = lo
                out_ends[k] = points[p] - 1
                k += 1
            lo = points[p] + 1
            p += 1
        if lo <= hi:
            out_starts[k] = lo
            out_ends[k] = hi
            k += 1
    return out_starts[:k].copy(), out_ends[:k].copy()


@numba.njit(cache=True, nogil=True)
def _gaps(seq: Int64Array, first: int) -> tuple[Int64Array, Int64Array]:
    """Runs of sequence numbers missing from ``first`` up to ``seq[-1]`` (``seq`` sorted)."""
    starts = np.empty(seq.size, dtype=np.int64)
    ends = np.empty(seq.size, dtype=np.int64)
    k = 0
    expected = first
    for s in seq:
        if s > expected:
            starts[k] = expected
            ends[k] = s - 1
            k += 1
        expected = s + 1
    return starts[:k].copy(), ends[:k].copy()


class BoardBuffer:
    """Samples of one board that the fusion core may still need, in sequence order.

    Frames may arrive with gaps (radio loss), late (backfill), or twice: duplicates are dropped
    and late samples are inserted in order. The rows live in preallocated columns, trimmed from
    the front by moving a start index; room at the back is made by moving the rows to the front
    (or doubling the columns when they are more than half full), so a live session uses
    bounded memory and each sample is copied a bounded number of times on average (at most one
    row moved per row appended). Columns of about twice the rows held stay in the processor's
    caches: with four times (and a quarter of the moves) the offline intake of an hour of five
    boards was about a fifth slower. A big first block that is already in order (a whole file)
    is held as it is, without a copy, until something is appended.

    What was trimmed away is remembered as a sequence-number horizon plus the runs of sequence
    numbers below it that never arrived (holes; a few per radio loss burst): a copy of a trimmed
    sample is a duplicate, and a sample that fills a hole after the output has passed it is
    counted (late, expired) but not stored, as it can no longer change any output.

    Counters (all split-invariant: the same samples in the same arrival order give the same
    counts however they are cut into blocks):

    - ``received``: every sample given to :meth:`add`;
    - ``duplicates``: samples whose sequence number had arrived before;
    - ``late``: new samples whose sequence number is below one that arrived before them
      (backfill), including expired ones;
    - ``expired``: new samples that arrived behind the trim horizon (dropped).

    Parameters
    ----------
    board_id : int
        Board identity.
    """

    def __init__(self, board_id: int) -> None:
        self.board_id = board_id
        self.duplicates = 0
        self.received = 0
        self.late = 0
        self.expired = 0
        self._start = 0
        self._n = 0
        self._owned = True
        self._newest_seq = _NO_SEQ
        self._horizon = _NO_SEQ
        self._hole_starts = np.empty(0, dtype=np.int64)
        self._hole_ends = np.empty(0, dtype=np.int64)
        # Columns in the order of _SEQ.._FLAGS.
        self._columns: list[NDArray[Any]] = [
            np.empty(_INITIAL_CAPACITY, dtype=np.int64),
            np.empty(_INITIAL_CAPACITY, dtype=np.int64),
            np.empty(_INITIAL_CAPACITY, dtype=np.int64),
            np.empty((_INITIAL_CAPACITY, 4)),
            np.empty((_INITIAL_CAPACITY, 3)),
            np.empty(_INITIAL_CAPACITY, dtype=np.uint8),
        ]

    @property
    def n_samples(self) -> int:
        """Number of samples held."""
        return self._n

    @property
    def seq(self) -> Int64Array:
        """Unwrapped sequence numbers, shape ``(n,)``, strictly increasing."""
        return self._columns[_SEQ][self._start : self._start + self._n]

    @property
    def t_device_us(self) -> Int64Array:
        """Unwrapped device time, microseconds, shape ``(n,)``."""
        return self._columns[_T_DEV][self._start : self._start + self._n]

    @property
    def t_rx_us(self) -> Int64Array:
        """Host receive time of each sample's frame, microseconds, shape ``(n,)``."""
        return self._columns[_T_RX][self._start : self._start + self._n]

    @property
    def quat_wxyz(self) -> FloatArray:
        """Board orientation in its own world frame, shape ``(n, 4)``."""
        return self._columns[_QUAT][self._start : self._start + self._n]

    @property
    def gyr_rad_s(self) -> FloatArray:
        """Gyroscope (or the rate derived from orientation), sensor frame, rad/s, ``(n, 3)``."""
        return self._columns[_GYR][self._start : self._start + self._n]

    @property
    def flags(self) -> NDArray[np.uint8]:
        """Per-sample wire flags, shape ``(n,)``."""
        return self._columns[_FLAGS][self._start : self._start + self._n]

    def add(self, block: SampleBlock, gyr_rad_s: FloatArray) -> int:
        """Store a block's samples (with their gyro rows, shape ``(n, 3)``) and return how many
        were stored.

        The block's arrays must not be changed afterwards: a big first block that is in order
        is held without a copy.

        Raises
        ------
        ValueError
            If ``gyr_rad_s`` does not have one row of 3 per sample.
        """
        count = block.n_samples
        if gyr_rad_s.shape != (count, 3):
            raise ValueError(
                f"board {self.board_id}: gyr_rad_s has shape {gyr_rad_s.shape}, "
                f"expected {(count, 3)}"
            )
        if count == 0:
            return 0
        self.received += count
        rows = (
            block.seq,
            block.t_device_us,
            block.t_rx_us,
            block.quat_wxyz,
            gyr_rad_s,
            block.flags,
        )
        if _fresh_run(block.seq, self._newest_seq):
            if self._n == 0 and count >= _INITIAL_CAPACITY and self._adopt(rows):
                _LOG.debug("board %d: %d samples held without a copy", self.board_id, count)
            else:
                self._append(rows)
            self._newest_seq = int(block.seq[-1])
            return count
        # Late, duplicate, expired or unordered samples: keep the first copy of each.
        status = np.empty(count, dtype=np.int8)
        first = np.zeros(count, dtype=np.bool_)
        first[np.unique(block.seq, return_index=True)[1]] = True
        late, newest = _classify(
            block.seq,
            first,
            self.seq,
            self._horizon,
            self._hole_starts,
            self._hole_ends,
            self._newest_seq,
            status,
        )
        self._newest_seq = newest
        self.late += late
        store = status == _STORE
        expired = status == _EXPIRED
        n_store = int(np.count_nonzero(store))
        n_expired = int(np.count_nonzero(expired))
        self.duplicates += count - n_store - n_expired
        if n_expired:
            self.expired += n_expired
            self._hole_starts, self._hole_ends = _punch(
                self._hole_starts, self._hole_ends, np.sort(block.seq[expired])
            )
            _LOG.debug(
                "board %d: %d samples arrived after the output passed them",
                self.board_id,
                n_expired,
            )
        if n_store:
            self._insert(tuple(column[store] for column in rows))
        return n_store

    def trim_before(self, t_device_us: float) -> None:
        """Forget samples older than a device time (keeping one before it for interpolation).

        ``t_device_us`` may be fractional or infinite (``inf`` keeps only the newest sample);
        NaN forgets nothing.
        """
        if not t_device_us > -math.inf:
            return
        if t_device_us == math.inf:
            cut = self._n - 1
        else:
            # An integer bound keeps the search in int64 (a float would convert every row).
            bound = math.ceil(t_device_us)
            cut = int(self.t_device_us.searchsorted(bound, side="left")) - 1
        if cut <= 0:
            return
        seq = self.seq
        kept = int(seq[cut])
        first = self._horizon == _NO_SEQ
        gap_from = int(seq[0]) if first else self._horizon + 1
        if first or kept - gap_from != cut:  # else the trimmed rows have no gaps
            starts, ends = _gaps(seq[: cut + 1], gap_from)
            if first:
                # Nothing below the first sample ever arrived.
                starts = np.concatenate([[_NO_SEQ], starts])
                ends = np.concatenate([[int(seq[0]) - 1], ends])
            self._hole_starts = np.concatenate([self._hole_starts, starts])
            self._hole_ends = np.concatenate([self._hole_ends, ends])
        self._horizon = kept - 1
        self._start += cut
        self._n -= cut

    def _insert(self, values: tuple[NDArray[Any], ...]) -> None:
        """Append rows of new sequence numbers and restore the order where they went behind."""
        new_seq = values[_SEQ]
        lowest = int(new_seq.min())
        old = self.seq
        resort_from = int(np.searchsorted(old, lowest)) if old.size else 0
        in_order = resort_from == old.size and bool(np.all(new_seq[1:] > new_seq[:-1]))
        self._append(values)
        if in_order:
            return
        lo = self._start + resort_from
        hi = self._start + self._n
        order = np.argsort(self._columns[_SEQ][lo:hi], kind="stable")
        for column in self._columns:
            column[lo:hi] = column[lo:hi][order]
        _LOG.debug("board %d: inserted samples behind newer ones", self.board_id)

    def _adopt(self, values: tuple[NDArray[Any], ...]) -> bool:
        """Hold a big first block's own columns (C-contiguous, of the buffer's dtypes) instead
        of copying them; they are never written to (the first append or reordering copies)."""
        if not all(
            value.dtype == column.dtype and value.flags.c_contiguous
            for value, column in zip(values, self._columns, strict=True)
        ):
            return False
        self._columns = list(values)
        self._owned = False
        self._start = 0
        self._n = values[_SEQ].shape[0]
        return True

    def _append(self, values: tuple[NDArray[Any], ...]) -> None:
        count = values[_SEQ].shape[0]
        capacity = self._columns[_SEQ].shape[0]
        if self._start + self._n + count > capacity or not self._owned:
            needed = self._n + count
            rows = slice(self._start, self._start + self._n)
            if self._owned and needed <= capacity // 2:
                for column in self._columns:
                    column[: self._n] = column[rows]
            else:
                # Adopted columns (mostly trimmed by now) are left for new ones sized by the rows.
                new_capacity = (
                    max(needed, 2 * capacity) if self._owned else max(2 * needed, _INITIAL_CAPACITY)
                )
                self._owned = True
                for i, column in enumerate(self._columns):
                    grown = np.empty((new_capacity, *column.shape[1:]), dtype=column.dtype)
                    grown[: self._n] = column[rows]
                    self._columns[i] = grown
            self._start = 0
        end = self._start + self._n
        for column, value in zip(self._columns, values, strict=True):
            column[end : end + count] = value
        self._n += count
