"""Board clock to host clock: offset and drift from the lower envelope of receive delays.

Every sample's receive delay ``t_rx_us - t_device_us`` is the (unknown) clock offset plus the
radio and host-stack delay, which is never negative and often near its floor. Over a window of
device time the smallest delay is close to that floor, and radio delay spikes and loss bursts only
push it up. The windows' minima therefore lie on or above a line ``offset + drift * t_device``; the
estimate is the edge of their lower convex hull that minimises the summed vertical distance to all
minima (the linear-programming fit used in convex-hull clock synchronisation, e.g. Moon, Skelly and
Towsley 1999, doi:10.1109/INFCOM.1999.752166). It is robust to delay spikes by construction.

The envelope is a function of the set of samples seen, not of the order they came in: window
``k`` holds the device times ``[k w, (k + 1) w)`` (``w`` the window length, fixed on the device
clock's zero, not on the first sample), its point is the sample with the smallest delay (the
earliest device time among equal delays), and the ``history_windows`` windows of highest index
are kept. The merge and the fit are compiled loops (numba), so an update of a few samples costs a
few microseconds and an update of thousands costs little more than reading them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numba
import numpy as np
from numpy.typing import NDArray

from coxa.geometry import FloatArray

Int64Array = NDArray[np.int64]


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

    def __post_init__(self) -> None:
        if not self.window_s >= 1e-6:
            raise ValueError(f"ClockParams.window_s must be at least 1 us, got {self.window_s}")
        if self.history_windows < 1:
            raise ValueError(
                f"ClockParams.history_windows must be >= 1, got {self.history_windows}"
            )
        if not self.min_span_s >= 0.0:
            raise ValueError(f"ClockParams.min_span_s must be >= 0, got {self.min_span_s}")


@dataclass(frozen=True)
class ClockState:
    """Snapshot of a :class:`ClockSync`.

    Attributes
    ----------
    window_index : ndarray of int64, shape (k,)
        Envelope windows (``t_device_us // window``), increasing.
    window_t_device_us : ndarray of int64, shape (k,)
        Device time of each window's envelope point, microseconds.
    window_delay_us : ndarray of int64, shape (k,)
        Receive delay of each window's envelope point, microseconds.
    t_ref_device_us : int or None
        Device time the offset refers to (the oldest envelope point at the last fit), or None
        before any sample.
    offset_us, drift : float
        The map (see :class:`ClockSync`).
    """

    window_index: Int64Array
    window_t_device_us: Int64Array
    window_delay_us: Int64Array
    t_ref_device_us: int | None
    offset_us: float
    drift: float


@numba.njit(cache=True, nogil=True)
def _merge(
    t_device_us: Int64Array,
    t_rx_us: Int64Array,
    start: int,
    stop: int,
    window_us: int,
    index: Int64Array,
    t_env: Int64Array,
    delay: Int64Array,
    n: int,
) -> tuple[int, bool]:
    """Merge samples ``start:stop`` into the envelope arrays (sorted by window, capacity
    ``index.size``) in place; return the new number of windows and whether any envelope point
    changed."""
    capacity = index.size
    changed = False
    for i in range(start, stop):
        t = t_device_us[i]
        d = t_rx_us[i] - t
        w = t // window_us
        # Position of the first window >= w (usually the newest one, so look there first).
        if n > 0 and index[n - 1] < w:
            p = n
        elif n > 0 and index[n - 1] == w:
            p = n - 1
        else:
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) // 2
                if index[mid] < w:
                    lo = mid + 1
                else:
                    hi = mid
            p = lo
        if p < n and index[p] == w:
            if d < delay[p] or (d == delay[p] and t < t_env[p]):
                t_env[p] = t
                delay[p] = d
                changed = True
            continue
        if n == capacity:
            if p == 0:
                continue  # older than every window kept, and the history is full
            # Forget the oldest window, insert before position p.
            for j in range(p - 1):
                index[j] = index[j + 1]
                t_env[j] = t_env[j + 1]
                delay[j] = delay[j + 1]
            p -= 1
        else:
            for j in range(n, p, -1):
                index[j] = index[j - 1]
                t_env[j] = t_env[j - 1]
                delay[j] = delay[j - 1]
            n += 1
        index[p] = w
        t_env[p] = t
        delay[p] = d
        changed = True
    return n, changed


@numba.njit(cache=True, nogil=True)
def _fit(t_env: Int64Array, delay: Int64Array, n: int, min_span_us: float) -> tuple[float, float]:
    """Intercept (at ``t_env[0]``) and slope of the lower-hull edge closest (summed vertical
    distance) to the first ``n`` envelope points ``(t_env - t_env[0], delay)``, sorted by time;
    the smallest delay and slope 0 while the points span less than ``min_span_us`` or are fewer
    than 3."""
    x = np.empty(n)
    y = np.empty(n)
    for i in range(n):
        x[i] = float(t_env[i] - t_env[0])
        y[i] = float(delay[i])
    y_min = y[0]
    for i in range(1, n):
        y_min = min(y_min, y[i])
    if n < 3 or x[n - 1] - x[0] < min_span_us:
        return float(y_min), 0.0
    # Lower convex hull, monotone chain.
    hull = np.empty(n, dtype=np.int64)
    h = 0
    for i in range(n):
        while h >= 2:
            a, b = hull[h - 2], hull[h - 1]
            cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
            if cross > 0:
                break
            h -= 1
        hull[h] = i
        h += 1
    # Each edge's cost from the sums of the points first (O(1) per edge), then the summed cost
    # of only the edges that can be the best within the rounding of both (in order, so ties
    # go to the first edge as in a plain scan of every edge's summed cost).
    sum_x = sum_y = sum_abs_x = sum_abs_y = 0.0
    for i in range(n):
        sum_x += x[i]
        sum_y += y[i]
        sum_abs_x += abs(x[i])
        sum_abs_y += abs(y[i])
    least = np.inf
    bound = 0.0
    for k in range(h - 1):
        a, b = hull[k], hull[k + 1]
        slope = (y[b] - y[a]) / (x[b] - x[a])
        intercept = y[a] - slope * x[a]
        least = min(least, sum_y - (n * intercept + slope * sum_x))
        size = sum_abs_y + n * abs(intercept) + abs(slope) * sum_abs_x
        bound = max(bound, 8.0 * (n + 4) * 2.0**-52 * size)
    threshold = least + 2.0 * bound
    best_cost = np.inf
    best_intercept = y_min
    best_slope = 0.0
    for k in range(h - 1):
        a, b = hull[k], hull[k + 1]
        slope = (y[b] - y[a]) / (x[b] - x[a])
        intercept = y[a] - slope * x[a]
        if sum_y - (n * intercept + slope * sum_x) > threshold:
            continue
        cost = 0.0
        for i in range(n):
            cost += y[i] - (intercept + slope * x[i])
        if cost < best_cost:
            best_cost = cost
            best_intercept = intercept
            best_slope = slope
    return float(best_intercept), float(best_slope)


@numba.njit(cache=True, nogil=True)
def _merge_until(
    t_device_us: Int64Array,
    t_rx_us: Int64Array,
    cutoffs_us: FloatArray,
    window_us: int,
    index: Int64Array,
    t_env: Int64Array,
    delay: Int64Array,
    n: int,
    min_span_us: float,
    maps: FloatArray,
) -> tuple[int, int]:
    """For each cutoff in turn (non-decreasing), merge the samples received after the previous
    one and by it (``t_rx_us`` non-decreasing), refit when an envelope point changed, and write
    the map into ``maps`` (row ``j``: ``t_ref_device_us``, ``offset_us``, ``drift``; its first
    row holds the map before on entry). Return the new number of windows and the number of
    samples merged (-1, merging none, when the receive times up to the first one after the
    last cutoff are not sorted)."""
    # The samples to merge (sorted, checked before any is merged; the rest is checked when
    # its turn comes).
    last = cutoffs_us[cutoffs_us.size - 1]
    stop = 0
    while stop < t_rx_us.size and t_rx_us[stop] <= last:
        if stop > 0 and t_rx_us[stop] < t_rx_us[stop - 1]:
            return n, -1
        stop += 1
    if stop < t_rx_us.size and stop > 0 and t_rx_us[stop] < t_rx_us[stop - 1]:
        return n, -1
    t_ref, offset, drift = maps[0, 0], maps[0, 1], maps[0, 2]
    i = 0
    for j in range(cutoffs_us.size):
        cutoff = cutoffs_us[j]
        end = i
        while end < stop and t_rx_us[end] <= cutoff:
            end += 1
        n, changed = _merge(t_device_us, t_rx_us, i, end, window_us, index, t_env, delay, n)
        i = end
        if changed:
            offset, drift = _fit(t_env, delay, n, min_span_us)
            t_ref = float(t_env[0])
        maps[j, 0] = t_ref
        maps[j, 1] = offset
        maps[j, 2] = drift
    return n, i


class ClockSync:
    """Streaming map from one board's unwrapped device time to host time.

    ``t_host_us = t_device_us + offset_us + drift * (t_device_us - t_ref_device_us)``, with
    ``t_ref_device_us`` the oldest envelope point at the last fit. The map depends only on the
    set of samples seen (see the module notes), whatever the order and split of the updates.

    Parameters
    ----------
    params : ClockParams
        Tunables.
    """

    def __init__(self, params: ClockParams | None = None) -> None:
        self.params = params or ClockParams()
        self._window_us = round(self.params.window_s * 1e6)
        self._min_span_us = self.params.min_span_s * 1e6
        capacity = self.params.history_windows
        self._index = np.empty(capacity, dtype=np.int64)
        self._t_env = np.empty(capacity, dtype=np.int64)
        self._delay = np.empty(capacity, dtype=np.int64)
        self._n = 0
        self._t_ref: int | None = None
        self.offset_us = 0.0
        self.drift = 0.0

    @property
    def ready(self) -> bool:
        """Whether any sample has been seen."""
        return self._t_ref is not None

    def update(self, t_device_us: Int64Array, t_rx_us: Int64Array) -> None:
        """Add samples, in any order.

        Parameters
        ----------
        t_device_us : ndarray of int64, shape (n,)
            Unwrapped device time of each sample, microseconds.
        t_rx_us : ndarray of int64, shape (n,)
            Host receive time of each sample's frame, microseconds.

        Raises
        ------
        ValueError
            If the two arrays differ in shape or are not one-dimensional.
        """
        t_dev = np.asarray(t_device_us, dtype=np.int64)
        t_rx = np.asarray(t_rx_us, dtype=np.int64)
        if t_dev.ndim != 1 or t_dev.shape != t_rx.shape:
            raise ValueError(
                f"t_device_us {t_dev.shape} and t_rx_us {t_rx.shape} must be equal 1-d shapes"
            )
        if t_dev.size == 0:
            return
        self._n, changed = _merge(
            t_dev,
            t_rx,
            0,
            t_dev.size,
            self._window_us,
            self._index,
            self._t_env,
            self._delay,
            self._n,
        )
        if changed:
            self._refit()

    def update_until(
        self, t_device_us: Int64Array, t_rx_us: Int64Array, cutoffs_us: FloatArray
    ) -> tuple[FloatArray, int]:
        """Add samples in steps of receive time and return the map after each step.

        Step ``j`` adds the samples received after ``cutoffs_us[j - 1]`` and by
        ``cutoffs_us[j]``; the result is the same as calling :meth:`update` with each step's
        samples in turn. Samples received after the last cutoff are not added: they are the
        tail from the returned count on.

        Parameters
        ----------
        t_device_us, t_rx_us : ndarray of int64, shape (n,)
            As in :meth:`update`, ``t_rx_us`` non-decreasing.
        cutoffs_us : ndarray, shape (k,)
            Receive-time cutoffs, microseconds, non-decreasing.

        Returns
        -------
        maps : ndarray, shape (k, 3)
            After each step: ``t_ref_device_us``, ``offset_us`` and ``drift`` of the map (see
            the class notes; NaN while no sample has been seen), for :func:`device_us`.
        added : int
            Number of samples added (the first ones).

        Raises
        ------
        ValueError
            If ``t_rx_us`` is not sorted (as far as the samples added and the first one after
            them), or the arrays are not of one 1-d shape.
        """
        t_dev = np.asarray(t_device_us, dtype=np.int64)
        t_rx = np.asarray(t_rx_us, dtype=np.int64)
        if t_dev.ndim != 1 or t_dev.shape != t_rx.shape:
            raise ValueError(
                f"t_device_us {t_dev.shape} and t_rx_us {t_rx.shape} must be equal 1-d shapes"
            )
        cutoffs = np.asarray(cutoffs_us, dtype=np.float64)
        maps = np.empty((max(1, cutoffs.size), 3))
        maps[0] = self.device_map
        if cutoffs.size == 0:
            return maps[:0], 0
        self._n, added = _merge_until(
            t_dev,
            t_rx,
            cutoffs,
            self._window_us,
            self._index,
            self._t_env,
            self._delay,
            self._n,
            self._min_span_us,
            maps,
        )
        if added < 0:
            raise ValueError("t_rx_us must be non-decreasing")
        t_ref, self.offset_us, self.drift = (float(v) for v in maps[-1])
        if not math.isnan(t_ref):
            self._t_ref = int(t_ref)
        return maps, added

    @property
    def device_map(self) -> tuple[float, float, float]:
        """The current map as one row of :meth:`update_until`'s maps: ``t_ref_device_us``
        (NaN before any sample), ``offset_us`` and ``drift``."""
        t_ref = math.nan if self._t_ref is None else float(self._t_ref)
        return t_ref, self.offset_us, self.drift

    def _refit(self) -> None:
        self.offset_us, self.drift = _fit(self._t_env, self._delay, self._n, self._min_span_us)
        self._t_ref = int(self._t_env[0])

    def to_host_us(self, t_device_us: Int64Array | FloatArray) -> FloatArray:
        """Host times of device times, microseconds, same shape."""
        if self._t_ref is None:
            raise RuntimeError("the clock has seen no sample yet")
        rel = np.asarray(t_device_us, dtype=np.float64) - self._t_ref
        return self._t_ref + rel * (1.0 + self.drift) + self.offset_us

    @overload
    def to_device_us(self, t_host_us: float) -> float: ...

    @overload
    def to_device_us(self, t_host_us: FloatArray) -> FloatArray: ...

    def to_device_us(self, t_host_us: float | FloatArray) -> float | FloatArray:
        """Device times (float) of host times, microseconds: a float for a float, else an
        array of the same shape."""
        if self._t_ref is None:
            raise RuntimeError("the clock has seen no sample yet")
        return self._t_ref + (t_host_us - self._t_ref - self.offset_us) / (1.0 + self.drift)

    def snapshot(self) -> ClockState:
        """The estimator's state."""
        n = self._n
        return ClockState(
            self._index[:n].copy(),
            self._t_env[:n].copy(),
            self._delay[:n].copy(),
            self._t_ref,
            self.offset_us,
            self.drift,
        )

    def restore(self, state: ClockState) -> None:
        """Continue from a snapshot (the newest ``history_windows`` of its windows)."""
        keep = slice(-self.params.history_windows, None)
        index = state.window_index[keep]
        n = index.size
        self._index[:n] = index
        self._t_env[:n] = state.window_t_device_us[keep]
        self._delay[:n] = state.window_delay_us[keep]
        self._n = n
        self._t_ref = state.t_ref_device_us
        self.offset_us = state.offset_us
        self.drift = state.drift


def device_us(clock_map: Sequence[float], t_host_us: float) -> float:
    """Device time of a host time under one map of :meth:`ClockSync.update_until`
    (``t_ref_device_us``, ``offset_us``, ``drift``; the arithmetic of
    :meth:`ClockSync.to_device_us`), microseconds."""
    t_ref, offset_us, drift = clock_map
    return t_ref + (t_host_us - t_ref - offset_us) / (1.0 + drift)
