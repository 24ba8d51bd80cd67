"""Per-board sample track: unwrapped counters, sequence order, and a host-clock offset."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.geometry import FloatArray

_LOG = logging.getLogger(__name__)

_INITIAL_CAPACITY = 1024
_SEQ, _T_DEV, _QUAT, _GYR, _FLAGS = range(5)


class BoardTrack:
    """All samples received from one board, kept sorted by unwrapped sequence number.

    Frames may arrive with gaps (radio loss), late, or twice (backfill): duplicates are
    dropped and late samples are inserted in order. Device time is unwrapped from the u32 counter
    and mapped to host time with the lower envelope of receive delays, the smallest observed
    ``t_rx_us - t_device_us`` of a frame's newest sample. This first version ignores clock drift
    (tens of ppm: about 1 ms over a 30 s set).

    Storage grows by doubling, so appending a frame costs amortised O(frame).

    Parameters
    ----------
    board_id : int
        Board identity from the wire.
    segment : str
        Body segment the board follows (``pelvis``, ``femur_r``, ...).
    """

    def __init__(self, board_id: int, segment: str) -> None:
        self.board_id = board_id
        self.segment = segment
        self.offset_us: float = np.inf
        self.duplicates = 0
        self._n = 0
        # Columns in the order of _SEQ.._FLAGS: seq, device time, quaternion, gyro, flags.
        self._columns: list[NDArray[Any]] = [
            np.empty(_INITIAL_CAPACITY, dtype=np.int64),
            np.empty(_INITIAL_CAPACITY, dtype=np.int64),
            np.empty((_INITIAL_CAPACITY, 4)),
            np.empty((_INITIAL_CAPACITY, 3)),
            np.empty(_INITIAL_CAPACITY, dtype=np.uint8),
        ]

    @property
    def n_samples(self) -> int:
        """Number of distinct samples held."""
        return self._n

    @property
    def seq(self) -> NDArray[np.int64]:
        """Unwrapped sequence numbers, shape ``(n,)``, strictly increasing."""
        return self._columns[_SEQ][: self._n]

    @property
    def t_device_us(self) -> NDArray[np.int64]:
        """Unwrapped device time of each sample in microseconds, shape ``(n,)``."""
        return self._columns[_T_DEV][: self._n]

    @property
    def t_host_us(self) -> FloatArray:
        """Device time mapped to the host clock in microseconds, shape ``(n,)``."""
        return self.t_device_us.astype(np.float64) + self.offset_us

    @property
    def quat_wxyz(self) -> FloatArray:
        """Board orientation (sensor in the board's own world frame), shape ``(n, 4)``."""
        return self._columns[_QUAT][: self._n]

    @property
    def gyr_rad_s(self) -> FloatArray:
        """Gyroscope in the sensor frame, rad/s, shape ``(n, 3)``."""
        return self._columns[_GYR][: self._n]

    @property
    def flags(self) -> NDArray[np.uint8]:
        """Per-sample wire flags, shape ``(n,)``."""
        return self._columns[_FLAGS][: self._n]

    def add(
        self,
        t_rx_us: int,
        seq0_u32: int,
        t0_u32_us: int,
        period_us: int,
        quat_wxyz: FloatArray,
        gyr_rad_s: FloatArray,
        flags: NDArray[np.uint8],
    ) -> int:
        """Add one frame's samples and return how many were new (not duplicates).

        Parameters
        ----------
        t_rx_us : int
            Host receive time of the frame, microseconds.
        seq0_u32, t0_u32_us : int
            Wire sequence number and device time (µs) of the first sample, 32-bit.
        period_us : int
            Sample period in microseconds.
        quat_wxyz : ndarray, shape (n, 4)
        gyr_rad_s : ndarray, shape (n, 3)
        flags : ndarray of uint8, shape (n,)
        """
        count = quat_wxyz.shape[0]
        last_seq = int(self.seq[-1]) if self._n else None
        last_t_us = int(self.t_device_us[-1]) if self._n else None
        seq0 = wire.unwrap_u32(last_seq, seq0_u32)
        t0 = wire.unwrap_u32(last_t_us, t0_u32_us)
        seq = seq0 + np.arange(count, dtype=np.int64)
        t_dev = t0 + period_us * np.arange(count, dtype=np.int64)
        self.offset_us = min(self.offset_us, float(t_rx_us - t_dev[-1]))
        if last_seq is None or seq0 > last_seq:
            self._append((seq, t_dev, quat_wxyz, gyr_rad_s, flags))
            return count
        new = ~np.isin(seq, self.seq)
        n_new = int(np.count_nonzero(new))
        self.duplicates += count - n_new
        if n_new:
            self._append((seq[new], t_dev[new], quat_wxyz[new], gyr_rad_s[new], flags[new]))
            order = np.argsort(self.seq, kind="stable")
            for column in self._columns:
                column[: self._n] = column[: self._n][order]
            _LOG.debug("board %d: inserted %d late samples", self.board_id, n_new)
        return n_new

    def _append(self, values: tuple[NDArray[Any], ...]) -> None:
        """Append rows, one array per column (in column order), growing storage by doubling."""
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
