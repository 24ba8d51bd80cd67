"""Functional segment axes: a segment's dominant rotation axis, and the sign conventions.

Between a standing rest and the end of a movement window, a segment's orientation relative to
its rest pose, ``conj(q_rest) ⊗ q(t)``, turns about body-fixed axes. For the thigh in a squat,
lunge, step-up or gait the dominant one is the hip flexion axis, for the shank the ankle's, for
the pelvis its tilt axis; all of them are the segment's medio-lateral (Z) axis. The principal
direction of the rotation vectors, restricted to the plane perpendicular to the segment's long
axis (known from gravity at rest), estimates it without any heading information, so boards with
unrelated heading references can be calibrated independently. This is the planar-movement case of
the kinematic axis identification of Seel, Schauer and Raisch (2012, doi:10.1109/CCA.2012.6402423),
where their gyroscope-norm constraint reduces to each segment's own rotation axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coxa.geometry import FloatArray, quat_conjugate, quat_multiply, quat_to_rotvec


@dataclass(frozen=True)
class AxisFit:
    """A segment's functional medio-lateral axis.

    Attributes
    ----------
    axis_sensor : ndarray, shape (3,)
        Unit axis in the sensor frame, perpendicular to the segment's long axis.
    pitch_rad : ndarray, shape (n,)
        Rotation about the axis relative to the rest pose at each input row, rad (NaN where the
        input is missing).
    range_deg : float
        5th-to-95th percentile range of the pitch, degrees: the excitation.
    planarity : float
        Share of the rotation-vector energy about the axis (1 = a pure single-axis movement).
    """

    axis_sensor: FloatArray
    pitch_rad: FloatArray
    range_deg: float
    planarity: float

    def flipped(self) -> AxisFit:
        """The same fit with the axis (and so the pitch) reversed."""
        return AxisFit(-self.axis_sensor, -self.pitch_rad, self.range_deg, self.planarity)


def fit_segment_axis(
    quat_wxyz: FloatArray, quat_rest_wxyz: FloatArray, long_axis_sensor: FloatArray
) -> AxisFit:
    """Dominant rotation axis of a segment perpendicular to its long axis.

    Parameters
    ----------
    quat_wxyz : ndarray, shape (n, 4)
        Board orientations in its own world frame over a movement window (NaN rows ignored).
    quat_rest_wxyz : ndarray, shape (4,)
        Orientation at the standing rest.
    long_axis_sensor : ndarray, shape (3,)
        Unit long (proximal, Y) axis of the segment in the sensor frame.
    """
    ok = np.isfinite(quat_wxyz).all(axis=1)
    rotvec = np.full((quat_wxyz.shape[0], 3), np.nan)
    rotvec[ok] = quat_to_rotvec(quat_multiply(quat_conjugate(quat_rest_wxyz), quat_wxyz[ok]))
    vectors = rotvec[ok] - np.outer(rotvec[ok] @ long_axis_sensor, long_axis_sensor)
    scatter = vectors.T @ vectors
    eigenvalues, eigenvectors = np.linalg.eigh(scatter)
    axis = eigenvectors[:, -1]
    axis = axis - (axis @ long_axis_sensor) * long_axis_sensor
    axis /= np.linalg.norm(axis)
    total = float(np.sum(rotvec[ok] ** 2))
    planarity = float(eigenvalues[-1] / total) if total > 0 else 0.0
    pitch = rotvec @ axis
    p5, p95 = np.percentile(pitch[ok], [5.0, 95.0]) if np.any(ok) else (0.0, 0.0)
    return AxisFit(axis, pitch, float(np.degrees(p95 - p5)), planarity)


def dominant_sign(values: FloatArray) -> float:
    """+1 when a signal's larger excursion (95th vs 5th percentile about 0) is positive."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    p5, p95 = np.percentile(finite, [5.0, 95.0])
    return 1.0 if p95 >= -p5 else -1.0
