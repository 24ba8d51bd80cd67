"""Resampling of one board's orientation stream onto an output time grid."""

from __future__ import annotations

import numpy as np

from coxa.geometry import FloatArray, quat_slerp


def interpolate_quat(
    t_us: FloatArray, quat_wxyz: FloatArray, t_grid_us: FloatArray, max_gap_us: float
) -> FloatArray:
    """SLERP orientations at grid times; NaN where no samples bracket a time closely enough.

    Parameters
    ----------
    t_us : ndarray, shape (n,)
        Sample times, increasing, microseconds.
    quat_wxyz : ndarray, shape (n, 4)
        Orientations at ``t_us``.
    t_grid_us : ndarray, shape (m,)
        Output times, microseconds.
    max_gap_us : float
        Bracketing samples further apart than this (a radio gap) give NaN, microseconds.

    Returns
    -------
    ndarray, shape (m, 4)
    """
    out = np.full((t_grid_us.size, 4), np.nan)
    n = t_us.size
    if n == 0 or t_grid_us.size == 0:
        return out
    if n == 1:
        out[t_grid_us == t_us[0]] = quat_wxyz[0]
        return out
    i1 = np.clip(np.searchsorted(t_us, t_grid_us, side="left"), 1, n - 1)
    i0 = i1 - 1
    t0 = t_us[i0]
    t1 = t_us[i1]
    valid = (t_grid_us >= t_us[0]) & (t_grid_us <= t_us[-1]) & (t1 - t0 <= max_gap_us)
    if not np.any(valid):
        return out
    fraction = np.clip((t_grid_us[valid] - t0[valid]) / (t1[valid] - t0[valid]), 0.0, 1.0)
    out[valid] = quat_slerp(quat_wxyz[i0[valid]], quat_wxyz[i1[valid]], fraction)
    return out
