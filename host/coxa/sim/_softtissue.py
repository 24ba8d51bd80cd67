"""Thigh soft-tissue artefact: the strap and skin turning relative to the femur.

Model [assumption]: a rotation of the sensor relative to the bone about an axis close to the
femoral long axis (:data:`STA_AXIS_IN_FEMUR`) by the sum of two angles: a quasi-static part
proportional to the knee flexion of the same leg, and a dynamic part that follows a damped
second-order oscillator (natural frequency ``f_n``, damping ratio ``zeta``) driven by the sensor
site's acceleration along the segment's anterior axis, with a static gain in degrees per m/s².
Together they give the two features that matter for a fusion filter: an axial rotation
correlated with the movement and a ringing after fast accelerations. The published size of axial
thigh artefact is 4-9 deg RMS [src, domain notes section 5]; both gains default to 0 (off).
This module holds the dynamic part.

The angle is computed on a uniform grid by convolution with the oscillator's impulse response
``h(t) = w^2 / w_d * exp(-zeta w t) sin(w_d t)`` and interpolated with a C2 cubic spline, so it
can be evaluated at arbitrary times and differentiated (the gyroscope sees its rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from coxa.geometry import FloatArray

#: Rotation axis of the artefact in the femur frame: mostly the long (Y) axis [assumption].
STA_AXIS_IN_FEMUR: FloatArray = np.array([0.15, 1.0, 0.10]) / np.linalg.norm([0.15, 1.0, 0.10])


@dataclass(frozen=True, eq=False)
class SoftTissueAngle:
    """Artefact angle as a function of time (a C2 spline over a uniform grid).

    Attributes
    ----------
    t_grid_s : ndarray, shape (M,)
        Grid times, seconds.
    angle_grid_deg : ndarray, shape (M,)
        Angle at the grid times, degrees.
    """

    t_grid_s: FloatArray
    angle_grid_deg: FloatArray

    def __call__(self, t_s: FloatArray) -> FloatArray:
        """Angle at arbitrary times (clamped to the grid span), degrees, shape as ``t_s``."""
        spline = CubicSpline(self.t_grid_s, self.angle_grid_deg)
        t = np.clip(t_s, self.t_grid_s[0], self.t_grid_s[-1])
        return np.asarray(spline(t), dtype=np.float64)


def soft_tissue_angle(
    t_grid_s: FloatArray,
    drive_m_s2: FloatArray,
    gain_deg_per_m_s2: float,
    natural_frequency_hz: float,
    damping_ratio: float,
) -> SoftTissueAngle:
    """Response of the artefact oscillator to an acceleration sampled on a uniform grid.

    Parameters
    ----------
    t_grid_s : ndarray, shape (M,)
        Uniform grid, seconds; the oscillator is at rest before its first time.
    drive_m_s2 : ndarray, shape (M,)
        Driving acceleration on the grid, m/s².
    gain_deg_per_m_s2 : float
        Static gain: angle per unit of steady acceleration, deg/(m/s²).
    natural_frequency_hz : float
        Undamped natural frequency, Hz.
    damping_ratio : float
        Damping ratio, in (0, 1).
    """
    if not 0.0 < damping_ratio < 1.0:
        raise ValueError(f"damping_ratio must be in (0, 1), got {damping_ratio}")
    if natural_frequency_hz <= 0:
        raise ValueError("natural_frequency_hz must be positive")
    dt = float(t_grid_s[1] - t_grid_s[0])
    omega = 2.0 * np.pi * natural_frequency_hz
    omega_d = omega * np.sqrt(1.0 - damping_ratio**2)
    # Impulse response until it has decayed by a factor of 1e6.
    span_s = min(np.log(1e6) / (damping_ratio * omega), t_grid_s[-1] - t_grid_s[0])
    tk = dt * np.arange(int(span_s / dt) + 1, dtype=np.float64)
    kernel = omega**2 / omega_d * np.exp(-damping_ratio * omega * tk) * np.sin(omega_d * tk) * dt
    response = np.asarray(np.convolve(drive_m_s2, kernel), dtype=np.float64)[: drive_m_s2.shape[0]]
    return SoftTissueAngle(t_grid_s=t_grid_s, angle_grid_deg=gain_deg_per_m_s2 * response)
