"""Per-board sample store: sorted by sequence number, duplicates dropped, trimmed behind output."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from coxa.fusion._samples import Int64Array, SampleBlock
from coxa.geometry import FloatArray

_LOG = logging.getLogger(__name__)

_INITIAL_CAPACITY = 1024
_SEQ, _T_DEV, _T_RX, _QUAT, _GYR, _FLAGS = range(6)


class BoardBuffer:
    """Samples of one board that the fusion core may still need, in sequence order.

    Frames may arrive with gaps (radio loss), late (backfill), or twice: duplicates are dropped
    and late samples are inserted in order. Storage grows by doubling and is trimmed from the
    front once the output has passed, so a live session uses bounded memory.

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
        self._n = 0
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
        return self._columns[_SEQ][: self._n]

    @property
    def t_device_us(self) -> Int64Array:
        """Unwrapped device time, microseconds, shape ``(n,)``."""
        return self._columns[_T_DEV][: self._n]

    @property
    def t_rx_us(self) -> Int64Array:
        """Host receive time of each sample's frame, microseconds, shape ``(n,)``."""
        return self._columns[_T_RX][: self._n]

    @property
    def quat_wxyz(self) -> FloatArray:
        """Board orientation in its own world frame, shape ``(n, 4)``."""
        return self._columns[_QUAT][: self._n]

    @property
    def gyr_rad_s(self) -> FloatArray:
        """Gyroscope (or the rate derived from orientation), sensor frame, rad/s, ``(n, 3)``."""
        return self._columns[_GYR][: self._n]

    @property
    def flags(self) -> NDArray[np.uint8]:
        """Per-sample wire flags, shape ``(n,)``."""
        return self._columns[_FLAGS][: self._n]

    def add(self, block: SampleBlock, gyr_rad_s: FloatArray) -> int:
        """Store a block's samples (with their gyro rows) and return how many were new."""
        count = block.n_samples
        if count == 0:
            return 0
        self.received += count
        values = (block.seq, block.t_device_us, block.t_rx_us, block.quat_wxyz, gyr_rad_s)
        rows = (*values, block.flags)
        in_order = bool(np.all(np.diff(block.seq) > 0))
        if in_order and (self._n == 0 or block.seq[0] > self.seq[-1]):
            self._append(rows)
            return count
        # Late, duplicate or unordered samples: keep the first copy of each sequence number.
        _, first = np.unique(block.seq, return_index=True)
        new = np.zeros(count, dtype=np.bool_)
        new[first] = True
        new &= ~np.isin(block.seq, self.seq)
        n_new = int(np.count_nonzero(new))
        self.duplicates += count - n_new
        if n_new:
            self.late += n_new
            self._append(tuple(column[new] for column in rows))
            order = np.argsort(self.seq, kind="stable")
            for column in self._columns:
                column[: self._n] = column[: self._n][order]
            _LOG.debug("board %d: inserted %d late samples", self.board_id, n_new)
        return n_new

    def trim_before(self, t_device_us: float) -> None:
        """Forget samples older than a device time (keeping one before it for interpolation)."""
        cut = int(np.searchsorted(self.t_device_us, t_device_us, side="left")) - 1
        if cut <= 0:
            return
        for column in self._columns:
            column[: self._n - cut] = column[cut : self._n]
        self._n -= cut

    def _append(self, values: tuple[NDArray[Any], ...]) -> None:
        end = self._n + values[_SEQ].shape[0]
        capacity = self._columns[_SEQ].shape[0]
        if end > capacity:
            new_capacity = max(end, 2 * capacity)
            for i, column in enumerate(self._columns):
                grown = np.empty((new_capacity, *column.shape[1:]), dtype=column.dtype)
                grown[: self._n] = column[: self._n]
                self._columns[i] = grown
        for column, value in zip(self._columns, values, strict=True):
            column[self._n : end] = value
        self._n = end
