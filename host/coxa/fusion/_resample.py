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


@numba.njit(cache=True, nogil=True)
def _slerp_into(a: FloatArray, b: FloatArray, fraction: float, out: FloatArray) -> None:
    """``a ⊗ exp(fraction · log(conj(a) ⊗ b))`` into ``out`` (the shorter arc).

    The same arithmetic as :func:`coxa.geometry.quat_slerp` (relative quaternion, rotation
    vector with its small-angle limits, scaled, back to a quaternion), one row at a time.
    """
    aw, ax, ay, az = a[0], -a[1], -a[2], -a[3]
    bw, bx, by, bz = b[0], b[1], b[2], b[3]
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
    pw, px, py, pz = a[0], a[1], a[2], a[3]
    out[0] = pw * sw - px * sx - py * sy - pz * sz
    out[1] = pw * sx + px * sw + py * sz - pz * sy
    out[2] = pw * sy - px * sz + py * sw + pz * sx
    out[3] = pw * sz + px * sy - py * sx + pz * sw


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
    n = t_dev.size
    hi = 0
    previous = -np.inf
    for k in range(tau.size):
        t = tau[k]
        for c in range(4):
            quat_out[k, c] = np.nan
        gyr_norm_out[k] = np.nan
        held_out[k] = False
        if math.isnan(t):
            continue
        # hi: the first sample at or after t. Grid times usually increase by about a sample
        # period, so walk on from the previous row; otherwise search.
        if t >= previous and (hi == n or t_dev[min(hi + 8, n - 1)] >= t):
            while hi < n and t_dev[hi] < t:
                hi += 1
        else:
            hi = bisect_left(t_dev, t, 0, n)
        previous = t
        exact = hi < n and float(t_dev[hi]) == t
        lo = hi if exact else hi - 1
        if lo < 0 or t_rx[lo] > cutoff_rx_us:
            continue
        hi_ok = hi < n and t_rx[hi] <= cutoff_rx_us
        if not exact and hi_ok:
            gap = float(t_dev[hi]) - float(t_dev[lo])
            if gap > max_gap_us:
                continue  # a gap the next sample has already shown: no data
            _slerp_into(quat[lo], quat[hi], (t - float(t_dev[lo])) / gap, quat_out[k])
        elif exact or t - float(t_dev[lo]) <= hold_us:
            for c in range(4):
                quat_out[k, c] = quat[lo, c]
            held_out[k] = not exact
        else:
            continue
        g = gyr[lo]
        gyr_norm_out[k] = math.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2])


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
