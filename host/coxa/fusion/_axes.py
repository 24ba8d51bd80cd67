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

Walking breaks the pelvis case: the pelvis rolls (obliquity) at the stride frequency at least as
much as it tilts, so its dominant axis can be the antero-posterior one. :func:`fit_lean_axis`
then finds that axis from the body's sideways lean instead: in turns (the centre of mass shifts
and the trunk rolls toward the inside of the curve; Courtine and Schieppati 2003,
doi:10.1046/j.1460-9568.2003.02736.x) and weight shifts the pelvis and both thighs lean to the
same side together, and each thigh's roll about its own anterior axis
is known in its own frame (its medio-lateral axis comes from the knee hinge), so the pelvis axis
whose rotation follows the thighs' common roll (averaged over each stride) is its anterior (X)
axis, sign included, with no heading shared between boards.
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


@dataclass(frozen=True)
class LeanFit:
    """The pelvis's medio-lateral axis found from the body's sideways lean while walking.

    Attributes
    ----------
    axis_sensor : ndarray, shape (3,)
        Unit medio-lateral (Z, pointing right) axis in the pelvis sensor frame, perpendicular to
        the long axis: the anterior axis that follows the thighs' roll, crossed with the long
        axis.
    stride_rows : int
        Stride length found from the thighs' alternation, rows: the averaging window.
    partial_r : float
        Partial correlation of the pelvis's roll about the found anterior axis with the thighs'
        common roll, their common pitch held fixed, over the stride-averaged signals: the
        evidence.
    pitch_roll_r : float
        Correlation of the thighs' stride-averaged common pitch and common roll: near 1 in size
        when they move together and the pelvis's response to each cannot be told apart.
    roll_sd_rad : float
        Standard deviation of the thighs' stride-averaged common roll, rad: how much the body
        leaned.
    """

    axis_sensor: FloatArray
    stride_rows: int
    partial_r: float
    pitch_roll_r: float
    roll_sd_rad: float


def fit_lean_axis(
    pelvis_quat_wxyz: FloatArray,
    pelvis_long_axis_sensor: FloatArray,
    thigh_pitch_rad: FloatArray,
    thigh_roll_rad: FloatArray,
    stride_rows: tuple[int, int],
    min_alternation: float,
) -> LeanFit | None:
    """The pelvis's medio-lateral axis from its roll following the thighs' common roll in gait.

    Every angle is a tilt from gravity in one board's own frame, so no heading is shared.

    1. **Gait**: the thighs alternate. The stride is the lag (within ``stride_rows``) of the
       largest autocorrelation of the thighs' pitch difference; walking needs it at least
       ``min_alternation`` there and at most ``-min_alternation`` at half that lag (one thigh
       forward while the other is back). Otherwise None: squats move both thighs alike, split
       squats alternate them at the rep period, far slower than a stride.
    2. **Stride averages**: every signal is averaged over one stride, which removes what
       repeats with the stride (pelvic obliquity and the sideways sway of the body at the
       stride frequency, which run against each other, and tilt at the step frequency) and
       keeps what does not: leans into turns, weight shifts. Only whole strides do that: the
       thighs' common signals need both thighs (one thigh alone swings through its flexion
       every stride), a missing row is filled from the same phase one stride before and after
       (the mean of the two), and a window with a row still missing, or running past either
       end, is left out.
    3. **Fit**: with ``P(t)`` the pelvis's tilt about two horizontal sensor axes (2-vector) and
       ``m(t)``, ``r(t)`` the thighs' common (mean) pitch and roll, ``P = b_m m + b_r r`` by
       least squares on the centred averages. ``b_r``, the pelvis rotation that accompanies the
       thighs' roll with their pitch held fixed, points along the pelvis's anterior axis: a
       sideways lean turns pelvis and thighs about their anterior axes the same way.

    Parameters
    ----------
    pelvis_quat_wxyz : ndarray, shape (n, 4)
        Pelvis board orientations in its own world over the movement (NaN rows ignored).
    pelvis_long_axis_sensor : ndarray, shape (3,)
        Unit long (Y) axis of the pelvis in its sensor frame, from gravity at rest.
    thigh_pitch_rad, thigh_roll_rad : ndarray, shape (2, n)
        Each thigh's tilt about its own medio-lateral (Z, right) and anterior (X) axes, rad
        (:attr:`AxisFit.pitch_rad` about Z and about X).
    stride_rows : tuple of int
        Shortest and longest stride accepted, rows.
    min_alternation : float
        Autocorrelation of the thighs' pitch difference needed at one stride (and its negative
        at half a stride).

    Returns
    -------
    LeanFit or None
        None when the thighs do not alternate like a gait, fewer than 3 whole-stride averages
        remain, or the thighs' averaged pitch or roll is constant or the two are collinear.
    """
    stride = _stride_rows(thigh_pitch_rad[0] - thigh_pitch_rad[1], stride_rows, min_alternation)
    if stride is None:
        return None
    long_axis = pelvis_long_axis_sensor
    helper = np.eye(3)[int(np.argmin(np.abs(long_axis)))]
    e1 = np.asarray(np.cross(long_axis, helper), dtype=np.float64)
    e1 /= np.linalg.norm(e1)
    e2 = np.asarray(np.cross(long_axis, e1), dtype=np.float64)
    pelvis = [axis_fit(pelvis_quat_wxyz, long_axis, e, 0.0).pitch_rad for e in (e1, e2)]
    signals: FloatArray = np.column_stack(
        [
            _moving_average(_fill_from_strides(v, stride), stride)
            # Both thighs or none: one thigh alone swings through its whole flexion each
            # stride, which the other's cancels in the common signal.
            for v in (thigh_pitch_rad.mean(axis=0), thigh_roll_rad.mean(axis=0), *pelvis)
        ]
    )
    signals = signals[np.all(np.isfinite(signals), axis=1)]
    if signals.shape[0] < 3:
        return None
    signals = signals - signals.mean(axis=0)
    thigh, tilt = signals[:, :2], signals[:, 2:]
    pitch, roll = thigh[:, 0], thigh[:, 1]
    if pitch @ pitch <= 0.0 or roll @ roll <= 0.0:
        return None
    pitch_roll_r = float(pitch @ roll / np.sqrt((pitch @ pitch) * (roll @ roll)))
    if abs(pitch_roll_r) > 1.0 - 1e-9:
        return None
    # Least squares by the normal equations (2 x 2, invertible: pitch and roll not collinear).
    gram: FloatArray = thigh.T @ thigh
    coefficients = np.asarray(np.linalg.solve(gram, thigh.T @ tilt), dtype=np.float64)
    anterior_2d = coefficients[1]
    if not np.any(anterior_2d):
        return None
    anterior_2d = anterior_2d / np.linalg.norm(anterior_2d)

    def residual(y: FloatArray) -> FloatArray:
        return y - pitch * (pitch @ y) / (pitch @ pitch)

    pelvis_roll, thigh_roll = residual(tilt @ anterior_2d), residual(roll)
    denominator = float(np.sqrt((pelvis_roll @ pelvis_roll) * (thigh_roll @ thigh_roll)))
    anterior = anterior_2d[0] * e1 + anterior_2d[1] * e2
    axis = np.asarray(np.cross(anterior, long_axis), dtype=np.float64)
    return LeanFit(
        axis_sensor=axis / np.linalg.norm(axis),
        stride_rows=stride,
        partial_r=float(pelvis_roll @ thigh_roll) / denominator if denominator > 0.0 else 0.0,
        pitch_roll_r=pitch_roll_r,
        roll_sd_rad=float(roll.std()),
    )


def _stride_rows(
    difference: FloatArray, stride_rows: tuple[int, int], min_alternation: float
) -> int | None:
    """The stride of two alternating signals' difference, rows, or None when it does not
    alternate periodically within the range."""
    finite = difference[np.isfinite(difference)]
    if finite.size == 0:
        return None
    centred = np.where(np.isfinite(difference), difference - finite.mean(), 0.0)
    energy = float(centred @ centred)
    low, high = max(stride_rows[0], 2), min(stride_rows[1], centred.size - 1)
    if energy <= 0.0 or high < low:
        return None
    first = low // 2
    autocorrelation = (
        np.array([centred[:-k] @ centred[k:] for k in range(first, high + 1)]) / energy
    )
    strides = np.arange(low, high + 1)
    at_stride = autocorrelation[strides - first]
    at_half = autocorrelation[strides // 2 - first]
    # One thigh forward while the other is back half a stride later: the contrast peaks at the
    # stride itself, not at its multiples (where the half-lag correlation is positive too).
    best = int(np.argmax(at_stride - at_half))
    if at_stride[best] < min_alternation or at_half[best] > -min_alternation:
        return None
    return int(strides[best])


def _fill_from_strides(values: FloatArray, rows: int) -> FloatArray:
    """A series of shape ``(n,)`` with its missing rows filled by the mean of the finite values
    one stride (``rows``) before and after, at the same phase of the gait; rows with neither
    stay NaN.

    The stride-periodic movement is the same there and the mean of the two sides bridges the
    slow lean, so a gap shorter than a stride does not take every window across it out of the
    stride averages.
    """
    sides = np.full((2, values.size), np.nan)
    sides[0, rows:] = values[:-rows]
    sides[1, :-rows] = values[rows:]
    ok = np.isfinite(sides)
    count = ok.sum(axis=0)
    fill = np.where(ok, sides, 0.0).sum(axis=0) / np.maximum(count, 1)
    return np.where(np.isfinite(values), values, np.where(count > 0, fill, np.nan))


def _moving_average(values: FloatArray, rows: int) -> FloatArray:
    """Centred moving average over ``rows`` rows, NaN where any row of the window is missing.

    Only a whole window averages a movement that repeats every ``rows`` rows away; one with rows
    missing (a radio gap, the ends of the series) keeps part of it.
    """
    ok = np.isfinite(values)
    window = np.ones(rows)
    total = np.convolve(np.where(ok, values, 0.0), window, mode="same")
    count = np.convolve(ok.astype(np.float64), window, mode="same")
    return np.where(count > rows - 0.5, total / rows, np.nan)


def dominant_sign(values: FloatArray) -> float:
    """+1 when a signal's larger excursion (95th vs 5th percentile about 0) is positive."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0
    p5, p95 = np.percentile(finite, [5.0, 95.0])
    return 1.0 if p95 >= -p5 else -1.0
