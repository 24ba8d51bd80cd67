"""Heading without magnetometer: re-anchoring at standing rests and the knee-hinge constraint.

Every board's 6D filter keeps its own heading, which drifts with the residual gyroscope bias.
Two corrections act on the heading offsets ``h_i`` that turn each board's world into the common
one (``q_world_segment = Rz(h_i) ⊗ q_board_world_segment``):

- **Re-anchoring at standing rests**: when every board is still and every segment upright for
  ``rest_steps`` grid steps, the pose is neutral, so all segments face one direction: the pelvis's
  when there is a pelvis board, else the circular mean. Each board's offset jumps to it, and the
  jump divided by the time since the previous anchor updates the board's heading drift rate,
  applied continuously from then on (the residual gyroscope bias about the vertical).
- **Knee hinge** (Laidig et al. 2019, doi:10.1109/CDC40024.2019.9030209; the implementation here
  is our own first-order version): the knee axis seen from the thigh and from the shank must point
  the same way, so the shank's offset is pulled toward agreement with time constant ``tau``,
  weighted by how horizontal the axis is (observability: no correction when the axis is vertical,
  e.g. 90/90 sitting) and by the knee flexion (none near extension, where the screw-home rotation
  turns the tibia about its own axis). Each segment's axis is the one the calibration's hinge fit
  found as the flexed knee turns about it
  (:attr:`coxa.fusion.SegmentCalibration.hinge_axis_segment`): in the tibia frame it lies turned
  by the screw-home rotation (about 7 deg) from the frame's Z, which is the femur's Z at the
  neutral standing pose; comparing the two Z axes instead would pull the shank's heading off by
  that much whenever the knee is bent.

The loop is sequential by nature, so it is compiled with numba; its whole state lives in
:class:`HeadingState`, so splitting the input anywhere gives the same output.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

from coxa.geometry import FloatArray


@dataclass(frozen=True)
class HeadingParams:
    """Tunables of the heading correction.

    Attributes
    ----------
    rest_s : float
        Standing still this long re-anchors the headings (again every ``rest_s`` while the rest
        lasts), seconds. Default 2.0 [assumption]: longer than the pause at the top of a rep.
    upright_deg : float
        Every segment's long axis within this of vertical for a rest to count as standing,
        degrees. Default 12 [assumption].
    rate_min_interval_s : float
        Drift rates are updated only from anchors at least this far apart, seconds. Default 10.
    hinge_tau_s : float
        Time constant of the knee-hinge correction at full weight, seconds. Default 10 s
        [assumption]: slow enough to average out tibial rotation, fast against drift.
    knee_weight_deg : tuple of float
        Knee flexion where the hinge weight ramps up from 0 to 1, and where it falls back to 0,
        degrees. Default (30, 45, 120, 140) [assumption: beyond the screw-home range, below deep
        flexion where soft tissue contact dominates].
    anchor : bool
        Re-anchor at standing rests (default True).
    drift_rate : bool
        Estimate and apply heading drift rates (default True).
    hinge : bool
        Apply the knee-hinge correction (default True).
    """

    rest_s: float = 2.0
    upright_deg: float = 12.0
    rate_min_interval_s: float = 10.0
    hinge_tau_s: float = 10.0
    knee_weight_deg: tuple[float, float, float, float] = (30.0, 45.0, 120.0, 140.0)
    anchor: bool = True
    drift_rate: bool = True
    hinge: bool = True

    @staticmethod
    def disabled() -> HeadingParams:
        """No heading correction at all (each board keeps its calibration offset)."""
        return HeadingParams(anchor=False, drift_rate=False, hinge=False)


@dataclass(eq=False)
class HeadingState:
    """Mutable state of the heading correction.

    Attributes
    ----------
    heading_rad : ndarray, shape (n_boards,)
        Offset of each board's world frame, rad.
    rate_rad_s : ndarray, shape (n_boards,)
        Estimated heading drift rate of each board, rad/s.
    scalars : ndarray, shape (3,)
        Steps at rest so far, seconds since the last anchor, facing of the last anchor (rad).
    """

    heading_rad: FloatArray
    rate_rad_s: FloatArray
    scalars: FloatArray

    @staticmethod
    def initial(heading_rad: FloatArray) -> HeadingState:
        """State right after calibration."""
        return HeadingState(
            heading_rad.astype(np.float64).copy(), np.zeros(heading_rad.size), np.zeros(3)
        )

    def copy(self) -> HeadingState:
        """An independent copy (a snapshot)."""
        return HeadingState(self.heading_rad.copy(), self.rate_rad_s.copy(), self.scalars.copy())


@numba.njit(cache=True, nogil=True, inline="always")
def _rz_times(
    h: float, q0: float, q1: float, q2: float, q3: float
) -> tuple[float, float, float, float]:
    """``Rz(h) ⊗ q``. Numbers in and out: a helper given arrays costs a reference count
    increment and decrement per array and call, more than the arithmetic."""
    c = math.cos(0.5 * h)
    s = math.sin(0.5 * h)
    return c * q0 - s * q3, c * q1 - s * q2, c * q2 + s * q1, c * q3 + s * q0


@numba.njit(cache=True, nogil=True)
def _wrap(angle: float) -> float:
    return math.atan2(math.sin(angle), math.cos(angle))


@numba.njit(cache=True, nogil=True, inline="always")
def _azimuth_x(w: float, x: float, y: float, z: float) -> float:
    """Azimuth of the X axis of ``q``, rad."""
    return math.atan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


@numba.njit(cache=True, nogil=True, inline="always")
def _horizontal(
    w: float, x: float, y: float, z: float, c0: float, c1: float, c2: float
) -> tuple[float, float]:
    """World X and Y components of the segment-frame vector ``c`` turned by ``q``."""
    return (
        (1.0 - 2.0 * (y * y + z * z)) * c0
        + 2.0 * (x * y - w * z) * c1
        + 2.0 * (x * z + w * y) * c2,
        2.0 * (x * y + w * z) * c0
        + (1.0 - 2.0 * (x * x + z * z)) * c1
        + 2.0 * (y * z - w * x) * c2,
    )


@numba.njit(cache=True, nogil=True)
def _ramp(value: float, lo: float, hi: float) -> float:
    if value <= lo:
        return 0.0
    if value >= hi:
        return 1.0
    return (value - lo) / (hi - lo)


@numba.njit(cache=True, nogil=True)
def _correct(
    quat: FloatArray,
    still: NDArray[np.bool_],
    roles: NDArray[np.int64],
    hinge_axes: FloatArray,
    settings: FloatArray,
    heading: FloatArray,
    rate: FloatArray,
    scalars: FloatArray,
    quat_out: FloatArray,
    facing_out: FloatArray,
    anchor_out: FloatArray,
) -> None:
    m, n_boards = quat.shape[0], quat.shape[1]
    dt, rest_steps, cos_upright, gain = settings[0], settings[1], settings[2], settings[3]
    k0, k1, k2, k3 = settings[4], settings[5], settings[6], settings[7]
    rate_min_s = settings[8]
    do_anchor, do_rate, do_hinge = settings[9] > 0.5, settings[10] > 0.5, settings[11] > 0.5
    pelvis = roles[0]
    for k in range(m):
        all_still = True
        for b in range(n_boards):
            heading[b] += rate[b] * dt
            q0, q1, q2, q3 = _rz_times(
                heading[b], quat[k, b, 0], quat[k, b, 1], quat[k, b, 2], quat[k, b, 3]
            )
            quat_out[k, b, 0] = q0
            quat_out[k, b, 1] = q1
            quat_out[k, b, 2] = q2
            quat_out[k, b, 3] = q3
            upright = 2.0 * (q2 * q3 + q0 * q1)
            if not (still[k, b] and upright >= cos_upright):
                all_still = False
        scalars[1] += dt
        if all_still:
            scalars[0] += 1.0
        else:
            scalars[0] = 0.0
        if do_anchor and scalars[0] >= rest_steps:
            scalars[0] = 0.0
            if pelvis >= 0:
                facing = _azimuth_x(
                    quat_out[k, pelvis, 0],
                    quat_out[k, pelvis, 1],
                    quat_out[k, pelvis, 2],
                    quat_out[k, pelvis, 3],
                )
            else:
                sx = 0.0
                sy = 0.0
                for b in range(n_boards):
                    a = _azimuth_x(
                        quat_out[k, b, 0], quat_out[k, b, 1], quat_out[k, b, 2], quat_out[k, b, 3]
                    )
                    sx += math.cos(a)
                    sy += math.sin(a)
                facing = math.atan2(sy, sx)
            for b in range(n_boards):
                correction = _wrap(
                    facing
                    - _azimuth_x(
                        quat_out[k, b, 0], quat_out[k, b, 1], quat_out[k, b, 2], quat_out[k, b, 3]
                    )
                )
                anchor_out[k, b] = correction
                heading[b] += correction
                if do_rate and scalars[1] >= rate_min_s:
                    rate[b] += correction / scalars[1]
                quat_out[k, b, 0], quat_out[k, b, 1], quat_out[k, b, 2], quat_out[k, b, 3] = (
                    _rz_times(
                        heading[b], quat[k, b, 0], quat[k, b, 1], quat[k, b, 2], quat[k, b, 3]
                    )
                )
            scalars[1] = 0.0
            scalars[2] = facing
        if do_hinge:
            for leg in range(2):
                f = int(roles[1 + leg])
                t = int(roles[3 + leg])
                if f < 0 or t < 0:
                    continue
                f0, f1, f2, f3 = (
                    quat_out[k, f, 0],
                    quat_out[k, f, 1],
                    quat_out[k, f, 2],
                    quat_out[k, f, 3],
                )
                t0, t1, t2, t3 = (
                    quat_out[k, t, 0],
                    quat_out[k, t, 1],
                    quat_out[k, t, 2],
                    quat_out[k, t, 3],
                )
                if not (np.isfinite(f0) and np.isfinite(t0)):
                    continue
                # Knee axes (each segment's hinge axis) and long axes (segment Y) in the
                # common world.
                zfx, zfy = _horizontal(
                    f0, f1, f2, f3, hinge_axes[f, 0], hinge_axes[f, 1], hinge_axes[f, 2]
                )
                ztx, zty = _horizontal(
                    t0, t1, t2, t3, hinge_axes[t, 0], hinge_axes[t, 1], hinge_axes[t, 2]
                )
                yf0 = 2.0 * (f1 * f2 - f0 * f3)
                yf1 = 1.0 - 2.0 * (f1 * f1 + f3 * f3)
                yf2 = 2.0 * (f2 * f3 + f0 * f1)
                yt0 = 2.0 * (t1 * t2 - t0 * t3)
                yt1 = 1.0 - 2.0 * (t1 * t1 + t3 * t3)
                yt2 = 2.0 * (t2 * t3 + t0 * t1)
                cos_knee = yf0 * yt0 + yf1 * yt1 + yf2 * yt2
                knee = math.acos(min(1.0, max(-1.0, cos_knee)))
                weight = _ramp(knee, k0, k1) * (1.0 - _ramp(knee, k2, k3))
                if weight <= 0.0:
                    continue
                cross = ztx * zfy - zty * zfx
                dot = ztx * zfx + zty * zfy
                error = math.atan2(cross, dot)
                horizontal = math.hypot(zfx, zfy) * math.hypot(ztx, zty)
                heading[t] += gain * weight * horizontal * error
                quat_out[k, t, 0], quat_out[k, t, 1], quat_out[k, t, 2], quat_out[k, t, 3] = (
                    _rz_times(
                        heading[t], quat[k, t, 0], quat[k, t, 1], quat[k, t, 2], quat[k, t, 3]
                    )
                )
        facing_out[k] = scalars[2]


@functools.cache
def _settings(params: HeadingParams, dt_s: float) -> FloatArray:
    """The kernel's settings (read only)."""
    k0, k1, k2, k3 = np.radians(params.knee_weight_deg)
    settings = np.array(
        [
            dt_s,
            float(max(1, round(params.rest_s / dt_s))),
            math.cos(math.radians(params.upright_deg)),
            min(1.0, dt_s / params.hinge_tau_s),
            k0,
            k1,
            k2,
            k3,
            params.rate_min_interval_s,
            float(params.anchor),
            float(params.drift_rate),
            float(params.hinge),
        ]
    )
    settings.flags.writeable = False
    return settings


def correct_headings(
    quat_board_segment_wxyz: FloatArray,
    still: NDArray[np.bool_],
    roles: NDArray[np.int64],
    hinge_axes: FloatArray,
    dt_s: float,
    params: HeadingParams,
    state: HeadingState,
    *,
    quat_out: FloatArray | None = None,
    facing_out: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Run the heading correction over grid rows, updating ``state`` in place.

    Parameters
    ----------
    quat_board_segment_wxyz : ndarray, shape (m, n_boards, 4)
        Each segment's orientation in its board's own world frame (NaN where missing).
    still : ndarray of bool, shape (m, n_boards)
        Whether each board is still.
    roles : ndarray of int64, shape (5,)
        Board columns of pelvis, femur_r, femur_l, tibia_r, tibia_l (-1 if absent).
    hinge_axes : ndarray, shape (n_boards, 3)
        Each board's knee flexion axis in its segment frame (the calibration's
        ``hinge_axis_segment``; used for thighs and shanks).
    dt_s : float
        Grid step, seconds.
    params : HeadingParams
    state : HeadingState
    quat_out, facing_out : ndarray, optional
        Where to write the first two results (shapes as returned, C-contiguous); new arrays
        if omitted.

    Returns
    -------
    quat_world_segment_wxyz : ndarray, shape (m, n_boards, 4)
        Segments in the common world frame.
    facing_rad : ndarray, shape (m,)
        Facing direction (azimuth of the room's forward) at each row, rad.
    anchor_rad : ndarray, shape (m, n_boards)
        Heading correction of each board by re-anchoring at each row, rad (0 where none).
    """
    m = quat_board_segment_wxyz.shape[0]
    out = np.empty_like(quat_board_segment_wxyz) if quat_out is None else quat_out
    facing = np.empty(m) if facing_out is None else facing_out
    anchor = np.zeros((m, quat_board_segment_wxyz.shape[1]))
    settings = _settings(params, dt_s)
    _correct(
        np.ascontiguousarray(quat_board_segment_wxyz),
        np.ascontiguousarray(still),
        roles,
        np.ascontiguousarray(hinge_axes, dtype=np.float64),
        settings,
        state.heading_rad,
        state.rate_rad_s,
        state.scalars,
        out,
        facing,
        anchor,
    )
    return out, facing, anchor
