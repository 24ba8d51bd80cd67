"""One board's samples on the output grid: visible samples only, SLERP, gaps left empty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coxa.fusion._buffer import BoardBuffer
from coxa.fusion._clock import ClockSync
from coxa.geometry import FloatArray, quat_slerp


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
    held: np.ndarray


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
    earlier one is held for up to ``hold_us``; otherwise the row is NaN.

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
    quat = np.full((m, 4), np.nan)
    gyr_norm = np.full(m, np.nan)
    held = np.zeros(m, dtype=np.bool_)
    n = buffer.n_samples
    if n == 0 or m == 0 or not clock.ready:
        return Resampled(quat, gyr_norm, held)
    t_dev = buffer.t_device_us.astype(np.float64)
    visible = buffer.t_rx_us <= cutoff_rx_us
    tau = clock.to_device_us(t_grid_us)
    hi = np.searchsorted(t_dev, tau, side="left")
    lo = hi - 1
    exact = (hi < n) & (t_dev[np.minimum(hi, n - 1)] == tau)
    lo = np.where(exact, hi, lo)
    lo_ok = lo >= 0
    lo_c = np.clip(lo, 0, n - 1)
    hi_c = np.clip(hi, 0, n - 1)
    lo_ok &= visible[lo_c]
    hi_ok = (hi < n) & visible[hi_c]
    gap = t_dev[hi_c] - t_dev[lo_c]
    both = lo_ok & hi_ok & (gap <= max_gap_us) & ~exact
    only_lo = lo_ok & ~both & (exact | ((tau - t_dev[lo_c]) <= hold_us) & ~hi_ok)
    if np.any(both):
        fraction = (tau[both] - t_dev[lo_c[both]]) / gap[both]
        quat[both] = quat_slerp(
            buffer.quat_wxyz[lo_c[both]], buffer.quat_wxyz[hi_c[both]], fraction
        )
    quat[only_lo] = buffer.quat_wxyz[lo_c[only_lo]]
    held[only_lo & ~exact] = True
    ok = both | only_lo
    gyr_norm[ok] = np.linalg.norm(buffer.gyr_rad_s[lo_c[ok]], axis=1)
    return Resampled(quat, gyr_norm, held)
