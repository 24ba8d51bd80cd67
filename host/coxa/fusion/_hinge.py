"""The knee as a hinge: its axis in the thigh and shank sensor frames, heading-free.

The knee flexes about one axis fixed in both the femur and the tibia (the functional flexion
axis, close to the transepicondylar axis). Relative to a standing rest, the rotation of the
shank in the thigh frame is then a rotation about that axis alone. The two boards keep unrelated
heading references, so the relative rotation is formed for every candidate heading ``delta`` of
the shank board's world in the thigh board's world; the right one makes the relative rotations
share one axis (largest planarity of their rotation vectors). The axis is the principal
direction, oriented so that knee flexion is the larger excursion. This is the functional knee
axis calibration of Favre et al. (2009, doi:10.1016/j.jbiomech.2009.06.025) and the hinge-axis
identification of Seel, Schauer and Raisch (2012, doi:10.1109/CCA.2012.6402423), here as our own
grid search on orientations rather than their gyroscope formulation. The loops over candidate
headings and steps are compiled (numba), with the arithmetic of the :mod:`coxa.geometry`
functions (``tests/fusion/test_hinge.py`` holds them to a NumPy formulation).

Unlike each segment's own dominant rotation axis, the knee axis does not lean when the hip
adducts or rotates together with its flexion (feet planted in a squat), and its sign follows from
the knee flexing one way only, which holds for the trailing leg of a split squat or step-up as
much as for a squat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

from coxa.geometry import (
    FloatArray,
    quat_conjugate,
    quat_from_axis_angle,
    quat_multiply,
    quat_rotate,
    quat_to_matrix,
    quat_to_rotvec,
)

_UP = np.array([0.0, 0.0, 1.0])
#: Step of the coarse heading search, rad [assumption: 5 deg steps cannot miss the planarity
#: peak, which is tens of degrees wide]; Brent's method then refines within one step.
_COARSE_STEP_RAD = np.radians(5.0)
#: Knee flexion range of the second fit, rad [assumption: beyond the screw-home range (about 7
#: deg of tibial rotation over the last 30 deg of extension, domain notes section 5) and below
#: deep flexion, where thigh and calf tissue meet]: the hinge is clean there.
_CLEAN_KNEE_RAD = (np.radians(35.0), np.radians(140.0))
#: Steps needed in that range to fit there [assumption: 0.8 s at 50 Hz, the bottom of one rep].
_MIN_CLEAN_STEPS = 40


@dataclass(frozen=True)
class HingeFit:
    """The knee axis found from a thigh and a shank board.

    Attributes
    ----------
    axis_thigh_sensor, axis_shank_sensor : ndarray, shape (3,)
        Unit flexion axis in each sensor frame, oriented as the segments' Z (right): knee
        flexion is a rotation of the shank about ``-Z``. In the shank frame it is the axis seen
        through the relative orientation at the rest: the neutral pose, where femur and tibia
        frames coincide.
    axis_shank_flexed_sensor : ndarray, shape (3,)
        The same axis in the shank sensor frame as the flexed knee turns about it (mean over
        the clean knee range): it differs from ``axis_shank_sensor`` by the tibia's axial
        (screw-home) rotation between extension and flexion, about 7 deg (domain notes
        section 5). ``axis_shank_sensor`` when the knee never reached the clean range.
    heading_rad : float
        Heading of the shank board's world in the thigh board's world, rad.
    knee_rad : ndarray, shape (n,)
        Knee flexion about the axis, accumulated from the first input row, rad (NaN where
        either board is missing).
    range_deg : float
        5th-to-95th percentile range of the knee flexion, degrees: the excitation.
    planarity : float
        Share of the relative rotation about the axis (1 = a pure hinge).
    bend_deg : float
        95th percentile of the difference of the two segments' tilts from their rest
        inclination, degrees: a lower bound of the knee flexion that needs no heading (the
        angle between the long axes is at least that difference, a triangle inequality on the
        sphere). It is the evidence that the knee bent: a straight leg swinging as a whole has
        about none, and then any axis fits its relative rotation equally well.
    """

    axis_thigh_sensor: FloatArray
    axis_shank_sensor: FloatArray
    axis_shank_flexed_sensor: FloatArray
    heading_rad: float
    knee_rad: FloatArray
    range_deg: float
    planarity: float
    bend_deg: float


@dataclass(frozen=True)
class _Steps:
    """The boards' movement over each grid step of a window.

    ``step_*``: rotation over the step in the board's own world (``q(t+1) ⊗ conj(q(t))``);
    ``since_rest_*``: rotation from the rest to ``t + 1`` in the own world; ``frame_thigh``:
    rotation matrices of the thigh board at ``t + 1``. Shapes ``(m, 4)`` and ``(m, 3, 3)``.
    """

    step_thigh: FloatArray
    step_shank: FloatArray
    since_rest_thigh: FloatArray
    since_rest_shank: FloatArray
    frame_thigh: FloatArray

    def subset(self, rows: NDArray[np.bool_]) -> _Steps:
        return _Steps(
            self.step_thigh[rows],
            self.step_shank[rows],
            self.since_rest_thigh[rows],
            self.since_rest_shank[rows],
            self.frame_thigh[rows],
        )


@numba.njit(cache=True, nogil=True)
def _relative_steps(
    step_thigh: FloatArray,
    step_shank: FloatArray,
    turn_wxyz: FloatArray,
    relative_out: FloatArray,
    sin_half_out: FloatArray,
) -> None:
    """For each turn ``k`` and step ``n``: the shank's step seen from a world turned by
    ``turn_wxyz[k]`` (``turn ⊗ step ⊗ conj(turn)``) times the conjugate of the thigh's step,
    with ``w >= 0``, into ``relative_out[k, n]``, and the norm of its vector part into
    ``sin_half_out[k, n]``: shapes ``(k, m, 4)`` and ``(k, m)``.

    The arithmetic of :func:`coxa.geometry.quat_multiply`, ``quat_conjugate``,
    ``quat_canonical`` and the norm in ``quat_to_rotvec``, term for term, so the values are
    bit for bit theirs; rows are read by index (an array view per row costs more than the
    arithmetic).
    """
    for k in range(turn_wxyz.shape[0]):
        tw, tx, ty, tz = turn_wxyz[k, 0], turn_wxyz[k, 1], turn_wxyz[k, 2], turn_wxyz[k, 3]
        cw, cx, cy, cz = tw, -tx, -ty, -tz
        for n in range(step_thigh.shape[0]):
            qw, qx, qy, qz = step_shank[n, 0], step_shank[n, 1], step_shank[n, 2], step_shank[n, 3]
            aw = tw * qw - tx * qx - ty * qy - tz * qz
            ax = tw * qx + tx * qw + ty * qz - tz * qy
            ay = tw * qy - tx * qz + ty * qw + tz * qx
            az = tw * qz + tx * qy - ty * qx + tz * qw
            bw = aw * cw - ax * cx - ay * cy - az * cz
            bx = aw * cx + ax * cw + ay * cz - az * cy
            by = aw * cy - ax * cz + ay * cw + az * cx
            bz = aw * cz + ax * cy - ay * cx + az * cw
            pw, px, py, pz = (
                step_thigh[n, 0],
                -step_thigh[n, 1],
                -step_thigh[n, 2],
                -step_thigh[n, 3],
            )
            rw = bw * pw - bx * px - by * py - bz * pz
            rx = bw * px + bx * pw + by * pz - bz * py
            ry = bw * py - bx * pz + by * pw + bz * px
            rz = bw * pz + bx * py - by * px + bz * pw
            if rw < 0.0:
                rw, rx, ry, rz = -rw, -rx, -ry, -rz
            relative_out[k, n, 0] = rw
            relative_out[k, n, 1] = rx
            relative_out[k, n, 2] = ry
            relative_out[k, n, 3] = rz
            sin_half_out[k, n] = math.sqrt(rx * rx + ry * ry + rz * rz)


@numba.njit(cache=True, nogil=True)
def _rotvecs_in_frame(
    frame: FloatArray,
    relative: FloatArray,
    sin_half: FloatArray,
    angle: FloatArray,
    vectors_out: FloatArray,
) -> None:
    """Rotation vectors of ``relative`` (shape ``(k, m, 4)``, ``w >= 0``, with the norms of
    their vector parts and their angles, ``(k, m)``) expressed in the frames ``frame``
    (rotation matrices, ``(m, 3, 3)``: ``frame[n].T @ v``), into ``vectors_out``,
    ``(k, m, 3)``. The arithmetic of :func:`coxa.geometry.quat_to_rotvec` (with its small-angle
    limit)."""
    for k in range(relative.shape[0]):
        for n in range(relative.shape[1]):
            s = sin_half[k, n]
            scale = 2.0 / max(relative[k, n, 0], 1e-12) if s < 1e-9 else angle[k, n] / s
            vx = scale * relative[k, n, 1]
            vy = scale * relative[k, n, 2]
            vz = scale * relative[k, n, 3]
            for i in range(3):
                vectors_out[k, n, i] = (
                    frame[n, 0, i] * vx + frame[n, 1, i] * vy + frame[n, 2, i] * vz
                )


@numba.njit(cache=True, nogil=True)
def _cos_half_since_rest(
    since_rest_thigh: FloatArray,
    since_rest_shank: FloatArray,
    turn_wxyz: FloatArray,
    cos_half_out: FloatArray,
) -> None:
    """``|w|`` of the shank's rotation since the rest (seen from the world turned by each
    ``turn_wxyz[k]``) relative to the thigh's, the cosine of half the knee angle, into
    ``cos_half_out``, ``(k, m)``. The arithmetic of ``quat_multiply`` for the turn."""
    for k in range(turn_wxyz.shape[0]):
        tw, tx, ty, tz = turn_wxyz[k, 0], turn_wxyz[k, 1], turn_wxyz[k, 2], turn_wxyz[k, 3]
        cw, cx, cy, cz = tw, -tx, -ty, -tz
        for n in range(since_rest_thigh.shape[0]):
            qw, qx, qy, qz = (
                since_rest_shank[n, 0],
                since_rest_shank[n, 1],
                since_rest_shank[n, 2],
                since_rest_shank[n, 3],
            )
            aw = tw * qw - tx * qx - ty * qy - tz * qz
            ax = tw * qx + tx * qw + ty * qz - tz * qy
            ay = tw * qy - tx * qz + ty * qw + tz * qx
            az = tw * qz + tx * qy - ty * qx + tz * qw
            bw = aw * cw - ax * cx - ay * cy - az * cz
            bx = aw * cx + ax * cw + ay * cz - az * cy
            by = aw * cy - ax * cz + ay * cw + az * cx
            bz = aw * cz + ax * cy - ay * cx + az * cw
            pw, px, py, pz = (
                since_rest_thigh[n, 0],
                since_rest_thigh[n, 1],
                since_rest_thigh[n, 2],
                since_rest_thigh[n, 3],
            )
            cos_half_out[k, n] = abs(pw * bw + px * bx + py * by + pz * bz)


@numba.njit(cache=True, nogil=True)
def _scatter(vectors: FloatArray, weights: FloatArray, scatter_out: FloatArray) -> None:
    """Weighted scatter matrix of each set of ``vectors`` (``(k, m, 3)``, weights ``(k, m)``)
    into ``scatter_out``, ``(k, 3, 3)``, summed one row after the other."""
    for k in range(vectors.shape[0]):
        for i in range(3):
            for j in range(3):
                total = 0.0
                for n in range(vectors.shape[1]):
                    total += (weights[k, n] * vectors[k, n, i]) * vectors[k, n, j]
                scatter_out[k, i, j] = total


def _increments(steps: _Steps, heading_rad: FloatArray) -> FloatArray:
    """Rotation vectors of the shank's rotation relative to the thigh over each step, in the
    thigh sensor frame, for each candidate heading of the shank board's world: ``(k, m, 3)``."""
    turn = quat_from_axis_angle(_UP, heading_rad)
    shape = (turn.shape[0], steps.step_thigh.shape[0])
    relative = np.empty((*shape, 4))
    sin_half = np.empty(shape)
    _relative_steps(steps.step_thigh, steps.step_shank, turn, relative, sin_half)
    # The angle with NumPy's arctan2, as quat_to_rotvec takes it: the compiled (libm) one
    # differs in the last bit here, which Brent's refinement in _fit would carry into the
    # heading (about 1e-8 rad).
    angle = 2.0 * np.arctan2(sin_half, relative[..., 0])
    vectors = np.empty((*shape, 3))
    _rotvecs_in_frame(steps.frame_thigh, relative, sin_half, angle, vectors)
    return vectors


def _knee_magnitude(steps: _Steps, heading_rad: FloatArray) -> FloatArray:
    """Angle of the shank's rotation relative to the thigh since the rest, rad: ``(k, m)``."""
    turn = quat_from_axis_angle(_UP, heading_rad)
    cos_half = np.empty((turn.shape[0], steps.since_rest_thigh.shape[0]))
    _cos_half_since_rest(steps.since_rest_thigh, steps.since_rest_shank, turn, cos_half)
    return 2.0 * np.arccos(np.clip(cos_half, 0.0, 1.0))


def _planarity(vectors: FloatArray, weights: FloatArray) -> FloatArray:
    """Share of the largest eigenvalue of each weighted ``(m, 3)`` set's scatter matrix:
    shape ``(k,)``."""
    scatter = np.empty((vectors.shape[0], 3, 3))
    _scatter(vectors, weights, scatter)
    eigenvalues = np.linalg.eigvalsh(scatter)
    total = eigenvalues.sum(axis=-1)
    return np.where(total > 0, eigenvalues[:, -1] / np.where(total > 0, total, 1.0), 0.0)


def _clean(steps: _Steps, heading_rad: FloatArray) -> FloatArray:
    """1 where the knee is in the clean hinge range for each heading, else 0: ``(k, m)``."""
    knee = _knee_magnitude(steps, heading_rad)
    return ((knee >= _CLEAN_KNEE_RAD[0]) & (knee <= _CLEAN_KNEE_RAD[1])).astype(np.float64)


def _larger_excursion_negative(values: FloatArray) -> bool:
    p5, p95 = np.percentile(values, [5.0, 95.0])
    return bool(p95 < -p5)


def _negative_planarity(heading_rad: float, steps: _Steps) -> float:
    vectors = _increments(steps, np.array([heading_rad]))
    return -float(_planarity(vectors, np.ones(vectors.shape[:2]))[0])


def _fit(steps: _Steps) -> tuple[float, FloatArray, FloatArray]:
    """Heading (rad) of the shank board's world in the thigh board's, flexion axis in the thigh
    sensor frame (sign arbitrary) and the scatter eigenvalues (ascending) of the most planar
    relative increments, taken in the clean knee range when it holds enough steps."""
    candidates = np.arange(-np.pi, np.pi, _COARSE_STEP_RAD)
    weights = _clean(steps, candidates)
    use_clean = weights.sum(axis=1) >= _MIN_CLEAN_STEPS
    if not np.any(use_clean):
        weights, use_clean = np.ones_like(weights), np.ones_like(use_clean)
    scores = np.where(use_clean, _planarity(_increments(steps, candidates), weights), -np.inf)
    best = float(candidates[np.argmax(scores)])
    clean_mode = bool(np.any(weights < 1.0))
    # Brent's method to the peak with the rows of the best heading, twice: the result does not
    # depend on where the coarse grid lies.
    chosen = steps
    for _ in range(2):
        if clean_mode:
            rows = _clean(steps, np.array([best]))[0] > 0
            chosen = steps.subset(rows) if np.count_nonzero(rows) >= _MIN_CLEAN_STEPS else steps
        found = minimize_scalar(
            _negative_planarity,
            args=(chosen,),
            bounds=(best - _COARSE_STEP_RAD, best + _COARSE_STEP_RAD),
            method="bounded",
            options={"xatol": 1e-10},
        )
        best = float(found.x)
    vectors = _increments(chosen, np.array([best]))[0]
    eigenvalues, eigenvectors = np.linalg.eigh(vectors.T @ vectors)
    return best, eigenvectors[:, -1], eigenvalues


def _flexion(
    quat_thigh_wxyz: FloatArray,
    quat_shank_wxyz: FloatArray,
    relative_rest_wxyz: FloatArray,
    heading_rad: float,
    axis_thigh: FloatArray,
) -> FloatArray:
    """Rotation of the shank relative to the thigh since the rest about the axis (in the thigh
    sensor frame), rad, shape ``(n,)`` (NaN where a board is missing)."""
    turn = quat_from_axis_angle(_UP, heading_rad)
    relative = quat_multiply(quat_conjugate(quat_thigh_wxyz), quat_multiply(turn, quat_shank_wxyz))
    return quat_to_rotvec(quat_multiply(relative, quat_conjugate(relative_rest_wxyz))) @ axis_thigh


def _tilt(quat_wxyz: FloatArray, rest_wxyz: FloatArray) -> FloatArray:
    """Angle between the board's vertical now and at the rest, in its own frame, rad: ``(n,)``."""
    up = quat_rotate(quat_conjugate(quat_wxyz), _UP)
    up_rest = quat_rotate(quat_conjugate(rest_wxyz), _UP)
    return np.arccos(np.clip(up @ up_rest, -1.0, 1.0))


def _flexed_shank_axis(
    quat_thigh_wxyz: FloatArray,
    quat_shank_wxyz: FloatArray,
    heading_rad: float,
    relative_rest_wxyz: FloatArray,
    z_thigh: FloatArray,
) -> FloatArray:
    """The flexion axis ``z_thigh`` (thigh sensor frame) seen from the shank sensor frame over
    the rows whose knee flexion since the rest is in the clean range, averaged: unit, ``(3,)``.
    Seen through the rest's relative orientation when fewer than :data:`_MIN_CLEAN_STEPS`
    rows are in that range."""
    turn = quat_from_axis_angle(_UP, heading_rad)
    relative = quat_multiply(quat_conjugate(quat_thigh_wxyz), quat_multiply(turn, quat_shank_wxyz))
    since_rest = quat_multiply(relative, quat_conjugate(relative_rest_wxyz))
    knee = 2.0 * np.arccos(np.clip(np.abs(since_rest[:, 0]), 0.0, 1.0))
    clean = (knee >= _CLEAN_KNEE_RAD[0]) & (knee <= _CLEAN_KNEE_RAD[1])
    if np.count_nonzero(clean) < _MIN_CLEAN_STEPS:
        return quat_rotate(quat_conjugate(relative_rest_wxyz), z_thigh)
    mean = quat_rotate(quat_conjugate(relative[clean]), z_thigh).mean(axis=0)
    return mean / np.linalg.norm(mean)


def fit_knee_hinge(
    quat_thigh_wxyz: FloatArray,
    quat_shank_wxyz: FloatArray,
    rest_thigh_wxyz: FloatArray,
    rest_shank_wxyz: FloatArray,
) -> HingeFit:
    """Knee flexion axis of one leg from its thigh and shank boards.

    Parameters
    ----------
    quat_thigh_wxyz, quat_shank_wxyz : ndarray, shape (n, 4)
        Each board's orientation in its own world frame over the movement, on a common grid
        (NaN rows ignored).
    rest_thigh_wxyz, rest_shank_wxyz : ndarray, shape (4,)
        Each board's mean orientation at the standing rest.
    """
    ok = np.asarray(
        np.isfinite(quat_thigh_wxyz).all(axis=1) & np.isfinite(quat_shank_wxyz).all(axis=1)
    )
    knee = np.full(quat_thigh_wxyz.shape[0], np.nan)
    if np.count_nonzero(ok) < 2:
        z = np.array([0.0, 0.0, 1.0])
        return HingeFit(z, z, z, 0.0, knee, 0.0, 0.0, 0.0)
    pairs = ok[:-1] & ok[1:]
    before, after = np.flatnonzero(pairs), np.flatnonzero(pairs) + 1
    steps = _Steps(
        step_thigh=quat_multiply(quat_thigh_wxyz[after], quat_conjugate(quat_thigh_wxyz[before])),
        step_shank=quat_multiply(quat_shank_wxyz[after], quat_conjugate(quat_shank_wxyz[before])),
        since_rest_thigh=quat_multiply(quat_thigh_wxyz[after], quat_conjugate(rest_thigh_wxyz)),
        since_rest_shank=quat_multiply(quat_shank_wxyz[after], quat_conjugate(rest_shank_wxyz)),
        frame_thigh=quat_to_matrix(quat_thigh_wxyz[after]),
    )
    best, axis_thigh, eigenvalues = _fit(steps)
    relative_rest = quat_multiply(
        quat_multiply(quat_conjugate(rest_thigh_wxyz), quat_from_axis_angle(_UP, best)),
        rest_shank_wxyz,
    )
    angle = _flexion(quat_thigh_wxyz, quat_shank_wxyz, relative_rest, best, axis_thigh)
    if _larger_excursion_negative(angle[ok]):  # knee flexion is the larger excursion
        axis_thigh, angle = -axis_thigh, -angle
    p5, p95 = np.percentile(angle[ok], [5.0, 95.0])
    knee[ok] = angle[ok]
    bend = np.abs(_tilt(quat_thigh_wxyz, rest_thigh_wxyz) - _tilt(quat_shank_wxyz, rest_shank_wxyz))
    # Flexion turns the shank about -Z, so Z is the reversed flexion axis; in the shank frame it
    # is the same axis seen through the relative orientation at the rest.
    z_thigh = -axis_thigh
    z_shank = quat_rotate(quat_conjugate(relative_rest), z_thigh)
    total = float(eigenvalues.sum())
    return HingeFit(
        axis_thigh_sensor=z_thigh,
        axis_shank_sensor=z_shank,
        axis_shank_flexed_sensor=_flexed_shank_axis(
            quat_thigh_wxyz[ok], quat_shank_wxyz[ok], best, relative_rest, z_thigh
        ),
        heading_rad=best,
        knee_rad=knee,
        range_deg=float(np.degrees(p95 - p5)),
        planarity=float(eigenvalues[-1] / total) if total > 0 else 0.0,
        bend_deg=float(np.degrees(np.percentile(bend[ok], 95.0))),
    )
