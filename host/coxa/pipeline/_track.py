"""Per-board sample track: unwrapped counters, sequence order, and a host-clock offset."""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.geometry import FloatArray

_LOG = logging.getLogger(__name__)

_INITIAL_CAPACITY = 1024


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
        self._seq = np.empty(_INITIAL_CAPACITY, dtype=np.int64)
        self._t_dev_us = np.empty(_INITIAL_CAPACITY, dtype=np.int64)
        self._quat_wxyz = np.empty((_INITIAL_CAPACITY, 4))
        self._gyr_rad_s = np.empty((_INITIAL_CAPACITY, 3))
        self._flags = np.empty(_INITIAL_CAPACITY, dtype=np.uint8)

    @property
    def n_samples(self) -> int:
        """Number of distinct samples held."""
        return self._n

    @property
    def seq(self) -> NDArray[np.int64]:
        """Unwrapped sequence numbers, shape ``(n,)``, strictly increasing."""
        return self._seq[: self._n]

    @property
    def t_device_us(self) -> NDArray[np.int64]:
        """Unwrapped device time of each sample in microseconds, shape ``(n,)``."""
        return self._t_dev_us[: self._n]

    @property
    def t_host_us(self) -> FloatArray:
        """Device time mapped to the host clock in microseconds, shape ``(n,)``."""
        return self.t_device_us.astype(np.float64) + self.offset_us

    @property
    def quat_wxyz(self) -> FloatArray:
        """Board orientation (sensor in the board's own world frame), shape ``(n, 4)``."""
        return self._quat_wxyz[: self._n]

    @property
    def gyr_rad_s(self) -> FloatArray:
        """Gyroscope in the sensor frame, rad/s, shape ``(n, 3)``."""
        return self._gyr_rad_s[: self._n]

    @property
    def flags(self) -> NDArray[np.uint8]:
        """Per-sample wire flags, shape ``(n,)``."""
        return self._flags[: self._n]

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
        last_seq = int(self._seq[self._n - 1]) if self._n else None
        last_t_us = int(self._t_dev_us[self._n - 1]) if self._n else None
        seq0 = wire.unwrap_u32(last_seq, seq0_u32)
        t0 = wire.unwrap_u32(last_t_us, t0_u32_us)
        seq = seq0 + np.arange(count, dtype=np.int64)
        t_dev = t0 + period_us * np.arange(count, dtype=np.int64)
        self.offset_us = min(self.offset_us, float(t_rx_us - t_dev[-1]))
        if self._n == 0 or seq0 > self._seq[self._n - 1]:
            self._append(seq, t_dev, quat_wxyz, gyr_rad_s, flags)
            return count
        return self._insert(seq, t_dev, quat_wxyz, gyr_rad_s, flags)

    def _append(
        self,
        seq: NDArray[np.int64],
        t_dev: NDArray[np.int64],
        quat_wxyz: FloatArray,
        gyr_rad_s: FloatArray,
        flags: NDArray[np.uint8],
    ) -> None:
        end = self._n + seq.size
        if end > self._seq.size:
            self._grow(max(end, 2 * self._seq.size))
        self._seq[self._n : end] = seq
        self._t_dev_us[self._n : end] = t_dev
        self._quat_wxyz[self._n : end] = quat_wxyz
        self._gyr_rad_s[self._n : end] = gyr_rad_s
        self._flags[self._n : end] = flags
        self._n = end

    def _grow(self, capacity: int) -> None:
        def grown(arr: NDArray[np.generic]) -> NDArray[np.generic]:
            out = np.empty((capacity, *arr.shape[1:]), dtype=arr.dtype)
            out[: self._n] = arr[: self._n]
            return out

        self._seq = grown(self._seq).astype(np.int64, copy=False)
        self._t_dev_us = grown(self._t_dev_us).astype(np.int64, copy=False)
        self._quat_wxyz = grown(self._quat_wxyz).astype(np.float64, copy=False)
        self._gyr_rad_s = grown(self._gyr_rad_s).astype(np.float64, copy=False)
        self._flags = grown(self._flags).astype(np.uint8, copy=False)

    def _insert(
        self,
        seq: NDArray[np.int64],
        t_dev: NDArray[np.int64],
        quat_wxyz: FloatArray,
        gyr_rad_s: FloatArray,
        flags: NDArray[np.uint8],
    ) -> int:
        new = ~np.isin(seq, self.seq)
        n_new = int(np.count_nonzero(new))
        self.duplicates += seq.size - n_new
        if n_new == 0:
            return 0
        merged_seq = np.concatenate([self.seq, seq[new]])
        order = np.argsort(merged_seq, kind="stable")
        t_all = np.concatenate([self.t_device_us, t_dev[new]])[order]
        quat_all = np.concatenate([self.quat_wxyz, quat_wxyz[new]])[order]
        gyr_all = np.concatenate([self.gyr_rad_s, gyr_rad_s[new]])[order]
        flags_all = np.concatenate([self.flags, flags[new]])[order]
        self._n = 0
        self._append(merged_seq[order], t_all, quat_all, gyr_all, flags_all)
        _LOG.debug("board %d: inserted %d late samples", self.board_id, n_new)
        return n_new
