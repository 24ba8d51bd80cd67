"""Functional segment axes: a segment's dominant rotation axis, and the sign conventions.

Over a movement window a segment turns about body-fixed axes. For the thigh in a squat, lunge,
step-up or gait the dominant one is the hip flexion axis, for the shank the ankle's, for the
pelvis its tilt axis; all of them are the segment's medio-lateral (Z) axis. The principal
direction of the body-frame rotation increments ``conj(q_i) ⊗ q_(i+1)``, restricted to the plane
perpendicular to the segment's long axis (known from gravity at rest, so turning about the
vertical while standing does not count), estimates it without any heading information, so boards
with unrelated heading references are calibrated independently. The pitch about the axis, used to
choose its sign, comes from gravity alone. This is the planar-movement case of
the kinematic axis identification of Seel, Schauer and Raisch (2012, doi:10.1109/CCA.2012.6402423),
where their gyroscope-norm constraint reduces to each segment's own rotation axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import (
    FloatArray,
    quat_conjugate,
    quat_multiply,
    quat_rotate,
    quat_to_rotvec,
)

_UP = np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class AxisFit:
    """A segment's functional medio-lateral axis.

    Attributes
    ----------
    axis_sensor : ndarray, shape (3,)
        Unit axis in the sensor frame, perpendicular to the segment's long axis.
    pitch_rad : ndarray, shape (n,)
        Forward tilt of the segment about the axis at each input row, from gravity, rad (NaN
        where the input is missing).
    range_deg : float
        5th-to-95th percentile range of the pitch, degrees: the excitation.
    planarity : float
        Share of the rotation energy (perpendicular to the long axis) about the axis; 1 = a
        pure single-axis movement.
    """

    axis_sensor: FloatArray
    pitch_rad: FloatArray
    range_deg: float
    planarity: float

    def flipped(self) -> AxisFit:
        """The same fit with the axis (and so the pitch) reversed."""
        return AxisFit(-self.axis_sensor, -self.pitch_rad, self.range_deg, self.planarity)


def fit_segment_axis(quat_wxyz: FloatArray, long_axis_sensor: FloatArray) -> AxisFit:
    """Dominant rotation axis of a segment perpendicular to its long axis.

    Parameters
    ----------
    quat_wxyz : ndarray, shape (n, 4)
        Board orientations in its own world frame over a movement window at a fixed rate
        (NaN rows ignored).
    long_axis_sensor : ndarray, shape (3,)
        Unit long (proximal, Y) axis of the segment in the sensor frame, from gravity at rest.
    """
    ok: NDArray[np.bool_] = np.all(np.isfinite(quat_wxyz), axis=1)
    pairs = ok[:-1] & ok[1:]
    steps = quat_to_rotvec(
        quat_multiply(quat_conjugate(quat_wxyz[:-1][pairs]), quat_wxyz[1:][pairs])
    )
    vectors = steps - np.outer(steps @ long_axis_sensor, long_axis_sensor)
    eigenvalues, eigenvectors = np.linalg.eigh(vectors.T @ vectors)
    axis = eigenvectors[:, -1]
    total = float(eigenvalues.sum())
    planarity = float(eigenvalues[-1] / total) if total > 0 else 0.0
    return axis_fit(quat_wxyz, long_axis_sensor, axis, planarity)


def axis_fit(
    quat_wxyz: FloatArray, long_axis_sensor: FloatArray, axis_sensor: FloatArray, planarity: float
) -> AxisFit:
    """An :class:`AxisFit` for a given medio-lateral axis: its pitch from gravity and range.

    Parameters
    ----------
    quat_wxyz : ndarray, shape (n, 4)
        Board orientations in its own world frame (NaN rows give NaN pitch).
    long_axis_sensor : ndarray, shape (3,)
        Unit long axis in the sensor frame.
    axis_sensor : ndarray, shape (3,)
        Medio-lateral axis in the sensor frame; made unit and perpendicular to the long axis.
    planarity : float
        Quality figure of the method that found the axis.
    """
    axis = axis_sensor - (axis_sensor @ long_axis_sensor) * long_axis_sensor
    axis = axis / np.linalg.norm(axis)
    ok: NDArray[np.bool_] = np.all(np.isfinite(quat_wxyz), axis=1)
    # Pitch about the axis from gravity alone: heading-free and drift-free.
    up = np.full((quat_wxyz.shape[0], 3), np.nan)
    up[ok] = quat_rotate(quat_conjugate(quat_wxyz[ok]), _UP)
    anterior = np.cross(long_axis_sensor, axis)
    pitch = np.arctan2(up @ anterior, up @ long_axis_sensor)
    p5, p95 = np.percentile(pitch[ok], [5.0, 95.0]) if np.any(ok) else (0.0, 0.0)
    return AxisFit(axis, pitch, float(np.degrees(p95 - p5)), planarity)


def dominant_sign(values: FloatArray) -> float:
    """+1 when a signal's larger excursion (95th vs 5th percentile about 0) is positive."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    p5, p95 = np.percentile(finite, [5.0, 95.0])
    return 1.0 if p95 >= -p5 else -1.0
