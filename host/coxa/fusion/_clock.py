"""Board clock to host clock: offset and drift from the lower envelope of receive delays.

Every sample's receive delay ``t_rx_us - t_device_us`` is the (unknown) clock offset plus the
radio and host-stack delay, which is never negative and often near its floor. Over a window of
device time the smallest delay is close to that floor, and radio delay spikes and loss bursts only
push it up. The windows' minima therefore lie on or above a line ``offset + drift * t_device``; the
estimate is the edge of their lower convex hull that minimises the summed vertical distance to all
minima (the linear-programming fit used in convex-hull clock synchronisation, e.g. Moon, Skelly and
Towsley 1999, doi:10.1109/INFCOM.1999.752166). It is robust to delay spikes by construction.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import FloatArray


@dataclass(frozen=True)
class ClockParams:
    """Parameters of the clock mapping.

    Attributes
    ----------
    window_s : float
        Device-time window whose minimum receive delay is one envelope point, seconds. Default
        2 s [assumption]: about 27 frames at 200 Hz with 15 samples per frame, so the minimum sits
        near the delay floor.
    history_windows : int
        Envelope points kept for the fit (older ones are forgotten, so a slowly changing drift
        is followed). Default 150 (5 minutes) [assumption].
    min_span_s : float
        Drift is estimated only once the envelope spans this much device time; before that only
        the offset is, seconds. Default 20 s [assumption]: 100 ppm is then 2 ms, above the
        envelope's jitter.
    """

    window_s: float = 2.0
    history_windows: int = 150
    min_span_s: float = 20.0


@dataclass(frozen=True)
class ClockState:
    """Snapshot of a :class:`ClockSync`."""

    window_index: NDArray[np.int64]
    window_t_device_us: NDArray[np.int64]
    window_delay_us: NDArray[np.int64]
    t_ref_device_us: int | None
    offset_us: float
    drift: float


class ClockSync:
    """Streaming map from one board's unwrapped device time to host time.

    ``t_host_us = t_device_us + offset_us + drift * (t_device_us - t_ref_device_us)``.

    Parameters
    ----------
    params : ClockParams
        Tunables.
    """

    def __init__(self, params: ClockParams | None = None) -> None:
        self.params = params or ClockParams()
        self._window_us = round(self.params.window_s * 1e6)
        self._index = np.empty(0, dtype=np.int64)
        self._t_dev = np.empty(0, dtype=np.int64)
        self._delay = np.empty(0, dtype=np.int64)
        self._t_ref: int | None = None
        self.offset_us = 0.0
        self.drift = 0.0

    @property
    def ready(self) -> bool:
        """Whether any sample has been seen."""
        return self._t_ref is not None

    def update(self, t_device_us: NDArray[np.int64], t_rx_us: NDArray[np.int64]) -> None:
        """Add samples (device time and the receive time of their frame), in any order."""
        if t_device_us.size == 0:
            return
        if self._t_ref is None:
            self._t_ref = int(t_device_us[0])
        delay = t_rx_us - t_device_us
        index = (t_device_us - self._t_ref) // self._window_us
        order = np.lexsort((delay, index))
        index, delay, t_dev = index[order], delay[order], t_device_us[order]
        first = np.ones(index.size, dtype=np.bool_)
        first[1:] = index[1:] != index[:-1]
        self._merge(index[first], t_dev[first], delay[first])
        self._fit()

    def _merge(
        self, index: NDArray[np.int64], t_dev: NDArray[np.int64], delay: NDArray[np.int64]
    ) -> None:
        all_index = np.concatenate([self._index, index])
        all_t = np.concatenate([self._t_dev, t_dev])
        all_delay = np.concatenate([self._delay, delay])
        order = np.lexsort((all_delay, all_index))
        all_index, all_t, all_delay = all_index[order], all_t[order], all_delay[order]
        first = np.ones(all_index.size, dtype=np.bool_)
        first[1:] = all_index[1:] != all_index[:-1]
        keep = slice(-self.params.history_windows, None)
        self._index = all_index[first][keep]
        self._t_dev = all_t[first][keep]
        self._delay = all_delay[first][keep]

    def _fit(self) -> None:
        if self._t_ref is None:
            return
        x = (self._t_dev - self._t_ref).astype(np.float64)
        y = self._delay.astype(np.float64)
        if x.size < 3 or x[-1] - x[0] < self.params.min_span_s * 1e6:
            self.offset_us = float(y.min())
            self.drift = 0.0
            return
        hull = _lower_hull(x, y)
        best = (np.inf, float(y.min()), 0.0)
        for a, b in itertools.pairwise(hull):
            slope = (y[b] - y[a]) / (x[b] - x[a])
            intercept = y[a] - slope * x[a]
            cost = float(np.sum(y - (intercept + slope * x)))
            if cost < best[0]:
                best = (cost, float(intercept), float(slope))
        self.offset_us, self.drift = best[1], best[2]

    def to_host_us(self, t_device_us: NDArray[np.int64] | FloatArray) -> FloatArray:
        """Host times of device times, microseconds."""
        if self._t_ref is None:
            raise RuntimeError("the clock has seen no sample yet")
        rel = np.asarray(t_device_us, dtype=np.float64) - self._t_ref
        return self._t_ref + rel * (1.0 + self.drift) + self.offset_us

    def to_device_us(self, t_host_us: FloatArray) -> FloatArray:
        """Device times (float) of host times, microseconds."""
        if self._t_ref is None:
            raise RuntimeError("the clock has seen no sample yet")
        return self._t_ref + (t_host_us - self._t_ref - self.offset_us) / (1.0 + self.drift)

    def snapshot(self) -> ClockState:
        """The estimator's state."""
        return ClockState(
            self._index.copy(),
            self._t_dev.copy(),
            self._delay.copy(),
            self._t_ref,
            self.offset_us,
            self.drift,
        )

    def restore(self, state: ClockState) -> None:
        """Continue from a snapshot."""
        self._index = state.window_index.copy()
        self._t_dev = state.window_t_device_us.copy()
        self._delay = state.window_delay_us.copy()
        self._t_ref = state.t_ref_device_us
        self.offset_us = state.offset_us
        self.drift = state.drift


def _lower_hull(x: FloatArray, y: FloatArray) -> list[int]:
    """Indices of the lower convex hull of points sorted by ``x`` (monotone chain)."""
    hull: list[int] = []
    for i in range(x.size):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross > 0:
                break
            hull.pop()
        hull.append(i)
    return hull
