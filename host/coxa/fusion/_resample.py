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
def _slerp(quat: FloatArray, i: int, j: int, fraction: float) -> tuple[float, float, float, float]:
    """``a ⊗ exp(fraction · log(conj(a) ⊗ b))`` (the shorter arc) of rows ``a = quat[i]`` and
    ``b = quat[j]``.

    The same arithmetic as :func:`coxa.geometry.quat_slerp` (relative quaternion, rotation
    vector with its small-angle limits, scaled, back to a quaternion), one row at a time (rows
    read by index: an array view per row costs more than the arithmetic).
    """
    aw, ax, ay, az = quat[i, 0], -quat[i, 1], -quat[i, 2], -quat[i, 3]
    bw, bx, by, bz = quat[j, 0], quat[j, 1], quat[j, 2], quat[j, 3]
    rw = aw * bw - ax * bx - ay * by - az * bz
    rx = aw * bx + ax * bw + ay * bz - az * by
    ry = aw * by - ax * bz + ay * bw + az * bx
    rz = aw * bz + ax * by - ay * bx + az * bw
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
    pw, px, py, pz = quat[i, 0], quat[i, 1], quat[i, 2], quat[i, 3]
    return (
        pw * sw - px * sx - py * sy - pz * sz,
        pw * sx + px * sw + py * sz - pz * sy,
        pw * sy - px * sz + py * sw + pz * sx,
        pw * sz + px * sy - py * sx + pz * sw,
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _first_at_or_after(t_dev: Int64Array, t: float, hi: int, previous: float) -> int:
    """Index of the first sample at or after ``t``; ``hi`` is that of the previous grid time
    ``previous``. Grid times usually increase by about a sample period, so walk on from there;
    otherwise search."""
    n = t_dev.size
    if t >= previous and (hi == n or t_dev[min(hi + 8, n - 1)] >= t):
        while hi < n and t_dev[hi] < t:
            hi += 1
        return hi
    return bisect_left(t_dev, t, 0, n)


@numba.njit(cache=True, nogil=True, inline="always")
def _sample_at(
    t_dev: Int64Array,
    t_rx: Int64Array,
    quat: FloatArray,
    gyr: FloatArray,
    t: float,
    hi: int,
    cutoff_rx_us: float,
    max_gap_us: float,
    hold_us: float,
) -> tuple[float, float, float, float, float, bool]:
    """Orientation, angular speed and whether held at device time ``t`` (``hi``: the first
    sample at or after it); NaNs (and not held) where there is no data."""
    nan = np.nan
    n = t_dev.size
    exact = hi < n and float(t_dev[hi]) == t
    lo = hi if exact else hi - 1
    if lo < 0 or t_rx[lo] > cutoff_rx_us:
        return nan, nan, nan, nan, nan, False
    hi_ok = hi < n and t_rx[hi] <= cutoff_rx_us
    held = False
    if not exact and hi_ok:
        gap = float(t_dev[hi]) - float(t_dev[lo])
        if gap > max_gap_us:
            return nan, nan, nan, nan, nan, False  # a gap the next sample has already shown
        w, x, y, z = _slerp(quat, lo, hi, (t - float(t_dev[lo])) / gap)
    elif exact or t - float(t_dev[lo]) <= hold_us:
        w, x, y, z = quat[lo, 0], quat[lo, 1], quat[lo, 2], quat[lo, 3]
        held = not exact
    else:
        return nan, nan, nan, nan, nan, False
    gx, gy, gz = gyr[lo, 0], gyr[lo, 1], gyr[lo, 2]
    return w, x, y, z, math.sqrt(gx * gx + gy * gy + gz * gz), held


@numba.njit(cache=True, nogil=True)
def _resample(
    t_dev: Int64Array,
    t_rx: Int64Array,
    quat: FloatArray,
    gyr: FloatArray,
    tau: FloatArray,
    cutoff_rx_us: float,
    max_gap_us: float,
    hold_us: float,
    quat_out: FloatArray,
    gyr_norm_out: FloatArray,
    held_out: NDArray[np.bool_],
) -> None:
    hi = 0
    previous = -np.inf
    for k in range(tau.size):
        t = tau[k]
        if math.isnan(t):
            for c in range(4):
                quat_out[k, c] = np.nan
            gyr_norm_out[k] = np.nan
            held_out[k] = False
            continue
        hi = _first_at_or_after(t_dev, t, hi, previous)
        previous = t
        w, x, y, z, gyr_norm, held = _sample_at(
            t_dev, t_rx, quat, gyr, t, hi, cutoff_rx_us, max_gap_us, hold_us
        )
        quat_out[k, 0], quat_out[k, 1], quat_out[k, 2], quat_out[k, 3] = w, x, y, z
        gyr_norm_out[k] = gyr_norm
        held_out[k] = held


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
    still_below_rad_s: float,
    mount_wxyz: FloatArray,
    column: int,
    quat_out: FloatArray,
    still_out: NDArray[np.bool_],
) -> int:
    qw, qx, qy, qz = mount_wxyz[0], mount_wxyz[1], mount_wxyz[2], mount_wxyz[3]
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
            if math.isnan(t):
                for i in range(4):
                    quat_out[k, column, i] = np.nan
                still_out[k, column] = False
                empty += 1
                k += 1
                continue
            hi = _first_at_or_after(t_dev, t, hi, previous)
            previous = t
            pw, px, py, pz, gyr_norm, _ = _sample_at(
                t_dev, t_rx, quat, gyr, t, hi, cutoff, max_gap_us, hold_us
            )
            if math.isnan(pw):
                empty += 1
            # The sample times the mount (the arithmetic of coxa.geometry.quat_multiply).
            quat_out[k, column, 0] = pw * qw - px * qx - py * qy - pz * qz
            quat_out[k, column, 1] = pw * qx + px * qw + py * qz - pz * qy
            quat_out[k, column, 2] = pw * qy - px * qz + py * qw + pz * qx
            quat_out[k, column, 3] = pw * qz + px * qy - py * qx + pz * qw
            still_out[k, column] = gyr_norm < still_below_rad_s  # NaN (no data) is not still
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

    A sample is visible when its frame arrived at or before ``cutoff_rx_us`` (so the result does
    not depend on how the input was split into blocks). Two visible samples bracketing a grid time
    and at most ``max_gap_us`` apart are SLERPed; when the later one is not visible yet, the
    earlier one is held for up to ``hold_us``; otherwise the row is NaN. A grid time that falls
    exactly on a visible sample takes it as is.

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
    quat = np.empty((m, 4))
    gyr_norm = np.empty(m)
    held = np.empty(m, dtype=np.bool_)
    if buffer.n_samples == 0 or m == 0 or not clock.ready:
        quat.fill(np.nan)
        gyr_norm.fill(np.nan)
        held.fill(False)
        return Resampled(quat, gyr_norm, held)
    _resample(
        buffer.t_device_us,
        buffer.t_rx_us,
        buffer.quat_wxyz,
        buffer.gyr_rad_s,
        np.asarray(clock.to_device_us(t_grid_us), dtype=np.float64),
        float(cutoff_rx_us),
        float(max_gap_us),
        float(hold_us),
        quat,
        gyr_norm,
        held,
    )
    return Resampled(quat, gyr_norm, held)


def resample_chunks(
    buffer: BoardBuffer,
    maps: FloatArray,
    chunk_ends: Int64Array,
    cutoffs_rx_us: FloatArray,
    t_grid_us: FloatArray,
    max_gap_us: float,
    hold_us: float,
    still_below_rad_s: float,
    mount_wxyz: FloatArray,
    column: int,
    quat_out: FloatArray,
    still_out: NDArray[np.bool_],
) -> int:
    """:func:`resample_board` for consecutive chunks of grid rows at once, each with its own
    clock map and cutoff, times a fixed rotation, into one board column of the outputs.

    Row ``k`` of chunk ``c`` (``chunk_ends[c - 1] <= k < chunk_ends[c]``, ``chunk_ends[-1]``
    the number of rows) is what :func:`resample_board` gives at ``t_grid_us[k]`` with the
    clock map ``maps[c]`` and ``cutoffs_rx_us[c]``, right-multiplied by ``mount_wxyz``; the
    board is still there when its angular speed is below ``still_below_rad_s``.

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
    still_below_rad_s : float
        Angular speed threshold, rad/s.
    mount_wxyz : ndarray, shape (4,)
        Rotation applied on the right of every row.
    column : int
        The board's column in the outputs.
    quat_out : ndarray, shape (m, n_boards, 4)
        Written at ``[:, column]``: NaN rows where there is no data.
    still_out : ndarray of bool, shape (m, n_boards)
        Written at ``[:, column]``.

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
        float(still_below_rad_s),
        mount_wxyz,
        column,
        quat_out,
        still_out,
    )
