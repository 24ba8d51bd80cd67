"""A simple 6D orientation filter for the virtual boards (until the firmware's AHRS lands).

A Mahony-style complementary filter (Mahony et al. 2008, doi:10.1109/TAC.2008.923738): the
gyroscope is integrated, and the gravity direction measured by the accelerometer pulls the
inclination back with a proportional gain. Accelerometer corrections are skipped while the
specific force differs from 1 g by more than ``acc_reject_m_s2`` (squat accelerations). At rest
the filter flags the sample and estimates the gyroscope bias with a slow low-pass. Heading is
free: it starts at zero and drifts with the residual bias, as on a magnetometer-free board.
The loop is scalar Python on purpose, like code that will run on a board; it costs a few
microseconds per sample on a PC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import GRAVITY_M_S2, FloatArray


@dataclass(frozen=True)
class FilterParams:
    """Gains and thresholds of the virtual boards' filter, all [assumption] values.

    Attributes
    ----------
    gain_acc_rad_s : float
        Proportional gain of the gravity correction, rad/s per unit direction error.
        Default 0.5 (a time constant of about 2 s).
    acc_reject_m_s2 : float
        Skip the correction when the specific force differs from 1 g by more than this, m/s^2.
    rest_gyr_rad_s : float
        Gyroscope norm below which a sample may be at rest, rad/s. Default 0.05.
    rest_acc_m_s2 : float
        Specific-force deviation from 1 g below which a sample may be at rest, m/s^2.
    rest_duration_s : float
        Both conditions must hold this long before samples are flagged at rest, seconds.
    bias_tau_s : float
        Time constant of the gyroscope-bias low-pass at rest, seconds.
    """

    gain_acc_rad_s: float = 0.5
    acc_reject_m_s2: float = 1.0
    rest_gyr_rad_s: float = 0.05
    rest_acc_m_s2: float = 0.3
    rest_duration_s: float = 0.5
    bias_tau_s: float = 2.0


class ComplementaryFilter6D:
    """Sample-by-sample 6D filter with explicit state (``quat_wxyz``, ``bias_rad_s``).

    Parameters
    ----------
    rate_hz : float
        Sample rate, Hz.
    params : FilterParams, optional
    """

    def __init__(self, rate_hz: float, params: FilterParams | None = None) -> None:
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.params = params or FilterParams()
        self.dt_s = 1.0 / rate_hz
        self.quat_wxyz = [1.0, 0.0, 0.0, 0.0]
        self.bias_rad_s = [0.0, 0.0, 0.0]
        self.initialised = False
        self._rest_s = 0.0

    def _init_from_gravity(self, ax: float, ay: float, az: float) -> None:
        """Level the filter on the first specific force (heading zero)."""
        norm = math.sqrt(ax * ax + ay * ay + az * az)
        if norm < 1e-9:
            return
        ax, ay, az = ax / norm, ay / norm, az / norm
        # Shortest rotation taking the measured up (sensor frame) onto world Z: it maps sensor
        # vectors into a level world frame.
        w = 1.0 + az
        if w < 1e-9:
            self.quat_wxyz = [0.0, 1.0, 0.0, 0.0]
        else:
            x, y = ay, -ax
            n = math.sqrt(w * w + x * x + y * y)
            self.quat_wxyz = [w / n, x / n, y / n, 0.0]
        self.initialised = True

    def update(
        self, gyr_rad_s: tuple[float, float, float], acc_m_s2: tuple[float, float, float]
    ) -> bool:
        """Advance one sample; return whether the sample is at rest."""
        p = self.params
        ax, ay, az = acc_m_s2
        if not self.initialised:
            self._init_from_gravity(ax, ay, az)
        gx, gy, gz = gyr_rad_s
        acc_norm = math.sqrt(ax * ax + ay * ay + az * az)
        gyr_norm = math.sqrt(gx * gx + gy * gy + gz * gz)
        still = gyr_norm < p.rest_gyr_rad_s and abs(acc_norm - GRAVITY_M_S2) < p.rest_acc_m_s2
        self._rest_s = self._rest_s + self.dt_s if still else 0.0
        at_rest = self._rest_s >= p.rest_duration_s
        b = self.bias_rad_s
        if at_rest:
            k = self.dt_s / p.bias_tau_s
            b[0] += k * (gx - b[0])
            b[1] += k * (gy - b[1])
            b[2] += k * (gz - b[2])
        wx, wy, wz = gx - b[0], gy - b[1], gz - b[2]
        w, x, y, z = self.quat_wxyz
        if acc_norm > 1e-9 and abs(acc_norm - GRAVITY_M_S2) < p.acc_reject_m_s2:
            # Estimated up direction in the sensor frame: third row of R(q).
            vx = 2.0 * (x * z - w * y)
            vy = 2.0 * (y * z + w * x)
            vz = w * w - x * x - y * y + z * z
            ax, ay, az = ax / acc_norm, ay / acc_norm, az / acc_norm
            wx += p.gain_acc_rad_s * (ay * vz - az * vy)
            wy += p.gain_acc_rad_s * (az * vx - ax * vz)
            wz += p.gain_acc_rad_s * (ax * vy - ay * vx)
        half = 0.5 * self.dt_s
        dw = -x * wx - y * wy - z * wz
        dx = w * wx + y * wz - z * wy
        dy = w * wy - x * wz + z * wx
        dz = w * wz + x * wy - y * wx
        w, x, y, z = w + half * dw, x + half * dx, y + half * dy, z + half * dz
        n = math.sqrt(w * w + x * x + y * y + z * z)
        self.quat_wxyz = [w / n, x / n, y / n, z / n]
        return at_rest

    def run(
        self, gyr_rad_s: FloatArray, acc_m_s2: FloatArray
    ) -> tuple[FloatArray, NDArray[np.bool_]]:
        """Filter a whole recording sample by sample.

        Parameters
        ----------
        gyr_rad_s : ndarray, shape (n, 3)
        acc_m_s2 : ndarray, shape (n, 3)

        Returns
        -------
        quat_wxyz : ndarray, shape (n, 4)
            Orientation after each sample (sensor in the filter's world frame).
        at_rest : ndarray of bool, shape (n,)
        """
        n = gyr_rad_s.shape[0]
        quat = np.empty((n, 4))
        rest = np.empty(n, dtype=bool)
        gyr_rows: list[list[float]] = gyr_rad_s.tolist()
        acc_rows: list[list[float]] = acc_m_s2.tolist()
        for i, (g, a) in enumerate(zip(gyr_rows, acc_rows, strict=True)):
            rest[i] = self.update((g[0], g[1], g[2]), (a[0], a[1], a[2]))
            quat[i] = self.quat_wxyz
        return quat, rest
