"""One board's samples on the output grid: visible samples only, SLERP, gaps left empty."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from coxa.fusion._buffer import BoardBuffer, bisect_left
from coxa.fusion._clock import ClockSync
from coxa.fusion._samples import Int64Array
from coxa.geometry import FloatArray


@dataclass(frozen=True, eq=False)
class Resampled:
    """A board's data at grid times.

    Attributes
    ----------
    quat_wxyz : ndarray, shape (m, 4)
        Orientation in the board's own world frame; NaN rows where no sample brackets the time.
    gyr_norm_rad_s : ndarray, shape (m,)
        Angular speed (norm of the nearest earlier sample's gyroscope), rad/s; NaN as above.
    held : ndarray of bool, shape (m,)
        Rows that repeat the newest visible sample because the next one has not arrived yet.
    """

    quat_wxyz: FloatArray
    gyr_norm_rad_s: FloatArray
    held: NDArray[np.bool_]


@numba.njit(cache=True, nogil=True, inline="always")
def _slerp(
    aw: float,
    ax: float,
    ay: float,
    az: float,
    bw: float,
    bx: float,
    by: float,
    bz: float,
    fraction: float,
) -> tuple[float, float, float, float]:
    """``a ⊗ exp(fraction · log(conj(a) ⊗ b))`` (the shorter arc).

    The same arithmetic as :func:`coxa.geometry.quat_slerp` (relative quaternion, rotation
    vector with its small-angle limits, scaled, back to a quaternion). It takes numbers, not
    rows of an array: a helper given arrays costs a reference count increment and decrement
    per array and call, more than the arithmetic.
    """
    cx, cy, cz = -ax, -ay, -az
    rw = aw * bw - cx * bx - cy * by - cz * bz
    rx = aw * bx + cx * bw + cy * bz - cz * by
    ry = aw * by - cx * bz + cy * bw + cz * bx
    rz = aw * bz + cx * by - cy * bx + cz * bw
    if rw < 0.0:
        rw, rx, ry, rz = -rw, -rx, -ry, -rz
    sin_half = math.sqrt(rx * rx + ry * ry + rz * rz)
    small = sin_half < 1e-9
    scale = 2.0 / max(rw, 1e-12) if small else 2.0 * math.atan2(sin_half, rw) / sin_half
    vx = scale * rx * fraction
    vy = scale * ry * fraction
    vz = scale * rz * fraction
    angle = math.sqrt(vx * vx + vy * vy + vz * vz)
    half = 0.5 * angle
    s = 0.5 - angle * angle / 48.0 if angle < 1e-6 else math.sin(half) / angle
    sw, sx, sy, sz = math.cos(half), s * vx, s * vy, s * vz
    return (
        aw * sw - ax * sx - ay * sy - az * sz,
        aw * sx + ax * sw + ay * sz - az * sy,
        aw * sy - ax * sz + ay * sw + az * sx,
        aw * sz + ax * sy - ay * sx + az * sw,
    )


@numba.njit(cache=True, nogil=True)
def _suffix_min(values: Int64Array) -> Int64Array:
    """The smallest of ``values[i:]`` for each ``i``."""
    out = np.empty_like(values)
    smallest = np.iinfo(np.int64).max
    for i in range(values.size - 1, -1, -1):
        smallest = min(smallest, values[i])
        out[i] = smallest
    return out


@numba.njit(cache=True, nogil=True)
def _resample_chunks(
    t_dev: Int64Array,
    t_rx: Int64Array,
    quat: FloatArray,
    gyr: FloatArray,
    t_grid_us: FloatArray,
    chunk_ends: Int64Array,
    maps: FloatArray,
    cutoffs_rx_us: FloatArray,
    max_gap_us: float,
    hold_us: float,
    mount_wxyz: FloatArray | None,
    column: int,
    quat_out: FloatArray,
    gyr_norm_out: FloatArray,
    held_out: NDArray[np.bool_] | None,
) -> int:
    """The rows of :func:`resample_chunks` (and, with no mount and ``held_out``, of
    :func:`resample_board`): one loop with the row logic written out, as the helpers it
    would call take arrays (see :func:`_slerp`). Returns the rows without data."""
    n = t_dev.size
    nan = np.nan
    mw = mx = my = mz = 0.0
    if mount_wxyz is not None:
        mw, mx, my, mz = mount_wxyz[0], mount_wxyz[1], mount_wxyz[2], mount_wxyz[3]
    # Smallest receive time from each sample on: whether a later sample is visible, which
    # only a hold needs to know (live: a short buffer).
    rx_min_from = _suffix_min(t_rx) if hold_us > 0.0 else t_rx[:0]
    reach_us = max(max_gap_us, hold_us)
    empty = 0
    hi = 0
    previous = -np.inf
    k = 0
    for c in range(chunk_ends.size):
        t_ref, offset_us, drift = maps[c, 0], maps[c, 1], maps[c, 2]
        cutoff = cutoffs_rx_us[c]
        while k < chunk_ends[c]:
            # The arithmetic of ClockSync.to_device_us.
            t = t_ref + (t_grid_us[k] - t_ref - offset_us) / (1.0 + drift)
            w = x = y = z = gyr_norm = nan
            held = False
            if not math.isnan(t):
                # The first sample at or after t: grid times usually increase by about a
                # sample period, so walk on from that of the previous one; otherwise search.
                if t >= previous and (hi == n or t_dev[min(hi + 8, n - 1)] >= t):
                    while hi < n and t_dev[hi] < t:
                        hi += 1
                else:
                    hi = bisect_left(t_dev, t, 0, n)
                previous = t
                # The newest visible sample at or before t (samples received after the
                # cutoff are skipped, wherever they lie: backfill), looked for only as far
                # back as it could serve.
                lo = hi if hi < n and float(t_dev[hi]) == t else hi - 1
                while lo >= 0 and t_rx[lo] > cutoff:
                    lo = -1 if t - float(t_dev[lo]) > reach_us else lo - 1
                found = False
                if lo >= 0 and float(t_dev[lo]) == t:
                    w, x, y, z = quat[lo, 0], quat[lo, 1], quat[lo, 2], quat[lo, 3]
                    found = True
                elif lo >= 0:
                    # The oldest visible sample after t, as far as the gap may be bridged.
                    nxt = lo + 1
                    while (
                        nxt < n
                        and t_rx[nxt] > cutoff
                        and float(t_dev[nxt]) - float(t_dev[lo]) <= max_gap_us
                    ):
                        nxt += 1
                    if nxt < n and t_rx[nxt] <= cutoff:
                        gap = float(t_dev[nxt]) - float(t_dev[lo])
                        # Else a gap that the next visible sample has already shown.
                        if gap <= max_gap_us:
                            w, x, y, z = _slerp(
                                quat[lo, 0],
                                quat[lo, 1],
                                quat[lo, 2],
                                quat[lo, 3],
                                quat[nxt, 0],
                                quat[nxt, 1],
                                quat[nxt, 2],
                                quat[nxt, 3],
                                (t - float(t_dev[lo])) / gap,
                            )
                            found = True
                    elif t - float(t_dev[lo]) <= hold_us and (
                        nxt == n or rx_min_from[nxt] > cutoff
                    ):
                        # Hold the newest visible sample while no later one is visible (one
                        # beyond the gap bridged would show a gap; hold_us > 0 here).
                        w, x, y, z = quat[lo, 0], quat[lo, 1], quat[lo, 2], quat[lo, 3]
                        held = True
                        found = True
                if found:
                    gx, gy, gz = gyr[lo, 0], gyr[lo, 1], gyr[lo, 2]
                    gyr_norm = math.sqrt(gx * gx + gy * gy + gz * gz)
            if math.isnan(w):
                empty += 1
            if mount_wxyz is not None:
                # The sample times the mount (the arithmetic of coxa.geometry.quat_multiply).
                w, x, y, z = (
                    w * mw - x * mx - y * my - z * mz,
                    w * mx + x * mw + y * mz - z * my,
                    w * my - x * mz + y * mw + z * mx,
                    w * mz + x * my - y * mx + z * mw,
                )
            quat_out[k, column, 0] = w
            quat_out[k, column, 1] = x
            quat_out[k, column, 2] = y
            quat_out[k, column, 3] = z
            gyr_norm_out[k, column] = gyr_norm
            if held_out is not None:
                held_out[k] = held
            k += 1
    return empty


def resample_board(
    buffer: BoardBuffer,
    clock: ClockSync,
    t_grid_us: FloatArray,
    cutoff_rx_us: float,
    max_gap_us: float,
    hold_us: float,
) -> Resampled:
    """Interpolate a board's visible samples at host grid times.

    A sample is visible when its frame arrived at or before ``cutoff_rx_us``, and a row depends
    only on the visible samples: whether samples received later (backfill, or the newest ones)
    are in the buffer yet, and where they lie among the visible ones, changes nothing, so the
    result does not depend on how the input was split into blocks. The nearest visible samples
    before and after a grid time are SLERPed when at most ``max_gap_us`` apart; when no later
    sample is visible yet, the earlier one is held for up to ``hold_us``; otherwise the row is
    NaN. A grid time that falls exactly on a visible sample takes it as is.

    Parameters
    ----------
    buffer : BoardBuffer
    clock : ClockSync
        The board's device-to-host clock map.
    t_grid_us : ndarray, shape (m,)
        Host times, microseconds.
    cutoff_rx_us : float
        Receive-time horizon, microseconds.
    max_gap_us, hold_us : float
        Microseconds.
    """
    m = t_grid_us.size
    quat = np.empty((m, 1, 4))
    gyr_norm = np.empty((m, 1))
    held = np.empty(m, dtype=np.bool_)
    if buffer.n_samples == 0 or m == 0 or not clock.ready:
        quat.fill(np.nan)
        gyr_norm.fill(np.nan)
        held.fill(False)
    else:
        _resample_chunks(
            buffer.t_device_us,
            buffer.t_rx_us,
            buffer.quat_wxyz,
            buffer.gyr_rad_s,
            np.asarray(t_grid_us, dtype=np.float64),
            np.array([m], dtype=np.int64),
            np.array([clock.device_map]),
            np.array([float(cutoff_rx_us)]),
            float(max_gap_us),
            float(hold_us),
            None,
            0,
            quat,
            gyr_norm,
            held,
        )
    return Resampled(quat[:, 0], gyr_norm[:, 0], held)


def resample_chunks(
    buffer: BoardBuffer,
    maps: FloatArray,
    chunk_ends: Int64Array,
    cutoffs_rx_us: FloatArray,
    t_grid_us: FloatArray,
    max_gap_us: float,
    hold_us: float,
    mount_wxyz: FloatArray,
    column: int,
    quat_out: FloatArray,
    gyr_norm_out: FloatArray,
) -> int:
    """:func:`resample_board` for consecutive chunks of grid rows at once, each with its own
    clock map and cutoff, times a fixed rotation, into one board column of the outputs.

    Row ``k`` of chunk ``c`` (``chunk_ends[c - 1] <= k < chunk_ends[c]``, ``chunk_ends[-1]``
    the number of rows) is what :func:`resample_board` gives at ``t_grid_us[k]`` with the
    clock map ``maps[c]`` and ``cutoffs_rx_us[c]``, right-multiplied by ``mount_wxyz``.

    Parameters
    ----------
    buffer : BoardBuffer
    maps : ndarray, shape (k, 3)
        Clock map of each chunk, from :meth:`ClockSync.update_until`.
    chunk_ends : ndarray of int64, shape (k,)
        End row of each chunk, increasing.
    cutoffs_rx_us : ndarray, shape (k,)
        Receive-time horizon of each chunk, microseconds.
    t_grid_us : ndarray, shape (m,)
        Host times, microseconds.
    max_gap_us, hold_us : float
        As in :func:`resample_board`, microseconds.
    mount_wxyz : ndarray, shape (4,)
        Rotation applied on the right of every row.
    column : int
        The board's column in the outputs.
    quat_out : ndarray, shape (m, n_boards, 4)
        Written at ``[:, column]``: NaN rows where there is no data.
    gyr_norm_out : ndarray, shape (m, n_boards)
        Angular speed (norm of the nearest earlier sample's gyroscope), rad/s, written at
        ``[:, column]``; NaN where there is no data.

    Returns
    -------
    int
        Rows without data (NaN).
    """
    return _resample_chunks(
        buffer.t_device_us,
        buffer.t_rx_us,
        buffer.quat_wxyz,
        buffer.gyr_rad_s,
        t_grid_us,
        chunk_ends,
        maps,
        cutoffs_rx_us,
        float(max_gap_us),
        float(hold_us),
        mount_wxyz,
        column,
        quat_out,
        gyr_norm_out,
        None,
    )
