"""Sensor-to-segment calibration: standing rest (inclination, neutral pose) plus functional axes.

1. **Static** (a standing rest, found automatically or at a given time): gravity in each sensor
   frame is the segment's long (Y) axis, and the pose is taken as neutral (every joint angle 0).
2. **Functional** (the movement after the rest): the knee flexion axis of a thigh and shank pair
   (:func:`coxa.fusion._hinge.fit_knee_hinge`); otherwise a segment's medio-lateral (Z) axis is
   its dominant rotation axis (:func:`coxa.fusion._axes.fit_segment_axis`): hip flexion for the
   thigh, ankle flexion for the shank, tilt for the pelvis. Signs follow from anatomy: hips flex
   more than they extend, knees flex and do not hyperextend, the pelvis tilts forward as the hips
   flex. When the pelvis both tilts and rolls (walking) and its roll follows the thighs' common
   sideways lean, its axis comes from that lean instead (:func:`coxa.fusion._axes.fit_lean_axis`).
3. **Headings**: every board's world frame is turned about the vertical so that its segment faces
   the common +X at the rest; boards need not share any heading reference.

Quality figures are reported per segment, and calibration is refused with a
:class:`CalibrationError` saying what movement is missing when the data cannot support it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from coxa.body import SegmentName
from coxa.fusion._axes import (
    AxisFit,
    LeanFit,
    axis_fit,
    dominant_sign,
    fit_lean_axis,
    fit_segment_axis,
)
from coxa.fusion._hinge import fit_knee_hinge
from coxa.geometry import (
    FloatArray,
    quat_conjugate,
    quat_from_matrix,
    quat_multiply,
    quat_normalize,
    quat_rotate,
)

_LOG = logging.getLogger(__name__)
_Z = np.array([0.0, 0.0, 1.0])
#: The pelvis's own axis is fitted on the rows where it is within this of upright, degrees
#: [assumption: squats tilt it up to about 30 deg, hinges further; lying down (90 deg) and the
#: move into it are not the calibration movement, and lying with the hips flexed would turn
#: the sign rule (hip flexion mostly positive) around].
_UPRIGHT_DEG = 60.0
#: The pelvis's pitch and the thighs' correlate at least this much (in size) for the forward
#: tilt with hip flexion to sign its axis [assumption: squats and hinges tilt the pelvis with
#: the thighs (about 0.9 in the simulated squats); walking does not (-0.2 in the OpenSense
#: walking example), and then the hip-flexion range decides].
_TILT_WITH_FLEXION_R = 0.5
AxisMethod = Literal["knee hinge", "own axis", "body lean"]


class CalibrationError(ValueError):
    """The data cannot support a calibration; the message says what is missing."""


@dataclass(frozen=True)
class CalibrationParams:
    """How the calibration is found.

    Attributes
    ----------
    rest_gyr_rad_s : float
        A board is still when its angular speed is below this, rad/s. Default 0.1 rad/s
        (5.7 deg/s) [assumption]: quiet standing sway stays far below it, a squat far above.
    rest_min_s : float
        Minimum duration of a standing rest common to all boards, seconds. Default 1.5 s
        [assumption]: shorter than the 3 s the product asks the athlete to stand, longer than the
        pause at the top of a rep.
    functional_window_s : float
        Movement after the rest used for the functional axes, seconds. Default 30 s
        [assumption]: three to six slow reps.
    functional_min_s : float
        Movement needed before a calibration is attempted, seconds. Default 4 s [assumption]:
        one slow rep.
    min_thigh_range_deg : float
        Thigh rotation range needed to find its axis, degrees. Default 10 [assumption]: the
        trailing leg of a step-up swings about 11 deg.
    min_shank_range_deg : float
        Shank rotation range needed, degrees. Default 2 [assumption]: squats tilt the shank
        20-40 deg, a hinge only about 3; a shank that hardly moves also hardly needs its axis for
        the knee flexion (its knee rotation and adduction are then the uncertain columns).
    min_thigh_planarity : float
        Share of the thigh's movement about one axis needed to trust that axis. Default 0.5
        [assumption]: squats, lunges and step-ups give 0.9 and more; a hip hinge, where the
        pelvis moves and the thighs hardly do, gives about 0.6 and is refused.
    min_knee_range_deg : float
        Knee bend needed to find the knee axis from a thigh and a shank board (the heading-free
        lower bound of :class:`coxa.fusion._hinge.HingeFit`), degrees. Default 6
        [assumption]: squats, lunges and the leading leg of a step-up bend it 40 deg and more,
        and even a 20 deg mini-squat shows about 9 deg of this lower bound (measured on the
        simulator); a straight leg swinging as a whole shows the 2-3 deg its knee really bends
        (the trailing leg of a step-up), and cannot be calibrated from its own movement.
    rest_gap_max_s : float
        Longest radio gap inside a standing rest that does not end it when the board was still
        on both sides and turned less than ``rest_gap_turn_deg`` across it, seconds. Default 2 s
        [assumption]: bursty loss of 5-10 % loses 0.5-1 s at a time (the simulator's radio
        model), and a person standing still for the calibration does not squat and return to
        the same pose within 2 s unseen.
    rest_gap_turn_deg : float
        Largest turn of a board across such a gap, degrees. Default 2 [assumption]: quiet
        standing sway is well below it.
    rest_used_s : float
        Only the last this much of a longer standing rest is taken as the neutral pose,
        seconds. Default 5 s [assumption]: the pose right before the movement; it also bounds
        what the core keeps while it waits for a calibration.
    calibration_t_us : float or None
        Take the pose at this host time as the neutral pose (still or not, as OpenSense does)
        instead of an automatically found standing rest, microseconds.
    lean_stride_s : tuple of float
        Strides accepted as walking by the body-lean fit of the pelvis axis, shortest and
        longest, seconds. Default (0.8, 2.5) [assumption]: cadences from about 150 down to 50
        steps per minute (brisk to very slow walking); squat and lunge reps take 3-5 s.
    lean_min_alternation : float
        Autocorrelation of the thighs' pitch difference needed at one stride, and its negative
        at half a stride, to take the movement as walking. Default 0.3 [assumption]: the
        OpenSense walking example, with many turns, gives 0.54 and -0.76; the simulator's
        exercise sessions give -0.01 to +0.85 at half the lag (no alternation).
    max_lean_pitch_roll_r : float
        The body-lean fit is used only when the thighs' stride-averaged common pitch and roll
        correlate less than this in size. Default 0.5 [assumption]: when they move together the
        pelvis's response to each cannot be told apart; turns and speed changes vary them
        independently (-0.2 in the OpenSense walking example).
    min_lean_roll_sd_deg : float
        ... and only when the thighs' stride-averaged common roll varies at least this much,
        degrees. Default 1 [assumption]: a few degrees of lean into each turn; the inclination
        error of a board's filter is about 1.6 deg, but constant, so it does not vary.
    min_lean_partial_r : float
        ... and only when the pelvis's roll follows the thighs' common roll with at least this
        partial correlation (their pitch held fixed). Default 0.5 [derived]: a 30 s window
        averaged over 1-1.5 s strides leaves about 20-30 independent samples, so a correlation
        arising by chance has an SD of about 0.2, and 0.5 is 2.5 SD (0.73 in the OpenSense
        walking example).
    """

    rest_gyr_rad_s: float = 0.1
    rest_min_s: float = 1.5
    functional_window_s: float = 30.0
    functional_min_s: float = 4.0
    min_thigh_range_deg: float = 10.0
    min_shank_range_deg: float = 2.0
    min_thigh_planarity: float = 0.5
    min_knee_range_deg: float = 6.0
    rest_gap_max_s: float = 2.0
    rest_gap_turn_deg: float = 2.0
    rest_used_s: float = 5.0
    calibration_t_us: float | None = None
    lean_stride_s: tuple[float, float] = (0.8, 2.5)
    lean_min_alternation: float = 0.3
    max_lean_pitch_roll_r: float = 0.5
    min_lean_roll_sd_deg: float = 1.0
    min_lean_partial_r: float = 0.5


@dataclass(frozen=True)
class SegmentCalibration:
    """Calibration of one board on its segment.

    Attributes
    ----------
    segment : str
    quat_segment_sensor_wxyz : ndarray, shape (4,)
        Sensor frame in the segment frame.
    heading_rad : float
        Rotation about the vertical that takes the board's world frame into the common one at
        the rest, rad.
    range_deg : float
        Rotation range of the functional movement about the found axis, degrees.
    planarity : float
        Share of the movement about that axis (1 = single-axis), or of the knee's relative
        rotation about the knee axis for ``'knee hinge'``, or for ``'body lean'`` the partial
        correlation of the pelvis's roll with the thighs' (:attr:`LeanFit.partial_r`).
    method : {'knee hinge', 'own axis', 'body lean'}
        How the medio-lateral axis was found: the knee flexion axis from the thigh and shank
        boards together (:func:`coxa.fusion._hinge.fit_knee_hinge`), the segment's own
        dominant rotation axis (:func:`coxa.fusion._axes.fit_segment_axis`; pelvis, or a thigh
        or shank without its partner), or, for the pelvis, the axis whose roll follows the
        thighs' common sideways lean (:func:`coxa.fusion._axes.fit_lean_axis`).
    hinge_axis_segment : ndarray, shape (3,)
        ``'knee hinge'``: the knee flexion axis in the segment frame as the flexed knee turns
        about it, oriented as Z; the heading correction keeps the thigh's and the shank's in
        line (:mod:`coxa.fusion._heading`). The femur's is its Z up to the fit's lean; the
        tibia's is its Z turned by the screw-home rotation (the tibia's frame is the femur's at
        the neutral standing pose, domain notes section 5). Others: ``(0, 0, 1)``.
    """

    segment: SegmentName
    quat_segment_sensor_wxyz: FloatArray
    heading_rad: float
    range_deg: float
    planarity: float
    method: AxisMethod
    hinge_axis_segment: FloatArray = field(default_factory=lambda: _Z.copy())


@dataclass(frozen=True)
class Calibration:
    """Result of :func:`calibrate`.

    Attributes
    ----------
    rest_t_us : tuple of float
        Start and end of the standing rest, host microseconds.
    boards : dict of int to SegmentCalibration
    knee_axis_rms_deg : dict of str to float
        Per leg (``'r'``, ``'l'``): RMS heading mismatch of the thigh's and the shank's knee axes
        over the functional movement, degrees: the hinge consistency (quality figure).
    """

    rest_t_us: tuple[float, float]
    boards: dict[int, SegmentCalibration]
    knee_axis_rms_deg: dict[str, float] = field(default_factory=dict[str, float])

    def describe(self) -> str:
        """One line per board and leg, for logs and the CLI."""
        lines = [f"standing rest {self.rest_t_us[0] / 1e6:.2f}-{self.rest_t_us[1] / 1e6:.2f} s"]
        for board_id, cal in sorted(self.boards.items(), key=lambda item: item[1].segment):
            quality = "lean coupling r" if cal.method == "body lean" else "planarity"
            lines.append(
                f"{cal.segment:8s} board {board_id:5d}: axis by {cal.method}, "
                f"{cal.range_deg:5.1f} deg of movement, {quality} {cal.planarity:.2f}"
            )
        for side, rms in sorted(self.knee_axis_rms_deg.items()):
            lines.append(f"knee {side}: thigh/shank axis agreement {rms:.1f} deg RMS")
        return "\n".join(lines)


@dataclass(frozen=True)
class CalibrationInput:
    """One board's data on the calibration grid.

    Attributes
    ----------
    segment : str
    quat_wxyz : ndarray, shape (m, 4)
        Orientation in the board's world frame (NaN where missing).
    """

    segment: SegmentName
    quat_wxyz: FloatArray


def _rest_mean(quat_wxyz: FloatArray, rest: slice) -> FloatArray:
    window = quat_wxyz[rest]
    window = window[np.isfinite(window).all(axis=1)]
    if window.shape[0] == 0:
        raise CalibrationError("a board has no data during the standing rest")
    signs = np.where(window @ window[0] < 0, -1.0, 1.0)
    return quat_normalize((window * signs[:, None]).mean(axis=0))


def _segment_quat(long_axis: FloatArray, ml_axis: FloatArray) -> FloatArray:
    """``quat_segment_sensor_wxyz`` from the segment's Y and Z axes in the sensor frame."""
    z = ml_axis - (ml_axis @ long_axis) * long_axis
    z /= np.linalg.norm(z)
    x = np.cross(long_axis, z)
    sensor_from_segment = np.column_stack([x, long_axis, z])
    return quat_conjugate(quat_from_matrix(sensor_from_segment))


def _percentile_excursion(values: FloatArray, q: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q)) if finite.size else 0.0


def calibrate(
    inputs: Mapping[int, CalibrationInput],
    rest: slice,
    movement: slice,
    rest_t_us: tuple[float, float],
    params: CalibrationParams,
    rate_hz: float = 50.0,
) -> Calibration:
    """Calibrate every board from a standing rest and the movement after it.

    Parameters
    ----------
    inputs : mapping of int to CalibrationInput
        Board id to its data on a common grid.
    rest, movement : slice
        Grid rows of the standing rest and of the functional movement.
    rest_t_us : tuple of float
        Host times of the rest, for the record.
    params : CalibrationParams
    rate_hz : float
        Rows per second of the grid. Default 50 Hz, the default
        ``FusionParams.calibration_rate_hz``.

    Raises
    ------
    CalibrationError
        A segment did not move enough to find its axis.
    """
    if movement.stop - movement.start < 2:
        raise CalibrationError(
            f"{next(iter(inputs.values())).segment}: no movement after the standing rest; do "
            "three slow squats or knee bends after standing still"
        )
    rest_quat = {b: _rest_mean(i.quat_wxyz, rest) for b, i in inputs.items()}
    long_axis = {b: quat_rotate(quat_conjugate(q), _Z) for b, q in rest_quat.items()}
    moving = {b: i.quat_wxyz[movement] for b, i in inputs.items()}
    by_segment = {i.segment: b for b, i in inputs.items()}
    fits: dict[int, AxisFit] = {}
    methods: dict[int, AxisMethod] = {}
    hinge_axes: dict[int, FloatArray] = {}
    for side in ("r", "l"):
        femur, tibia = by_segment.get(f"femur_{side}"), by_segment.get(f"tibia_{side}")
        if femur is not None and tibia is not None:
            hinge = fit_knee_hinge(moving[femur], moving[tibia], rest_quat[femur], rest_quat[tibia])
            if hinge.bend_deg < params.min_knee_range_deg:
                raise CalibrationError(
                    f"knee_{side}: the knee bent only about {hinge.bend_deg:.0f} deg after the "
                    f"standing rest, {params.min_knee_range_deg:.0f} deg are needed to find its "
                    "axis; do three slow squats after standing still, or reuse the calibration "
                    "of a recording with the same straps"
                )
            for board_id, axis in (
                (femur, hinge.axis_thigh_sensor),
                (tibia, hinge.axis_shank_sensor),
            ):
                fits[board_id] = axis_fit(
                    moving[board_id], long_axis[board_id], axis, hinge.planarity
                )
                methods[board_id] = "knee hinge"
            hinge_axes[femur] = hinge.axis_thigh_sensor
            hinge_axes[tibia] = hinge.axis_shank_flexed_sensor
        elif femur is not None:
            fits[femur] = _own_thigh_axis(moving[femur], long_axis[femur], side, params)
            methods[femur] = "own axis"
        elif tibia is not None:
            fits[tibia] = fit_segment_axis(moving[tibia], long_axis[tibia])
            methods[tibia] = "own axis"
            _require(fits[tibia], params.min_shank_range_deg, f"tibia_{side}", "the shank")
            fits[tibia] = _signed(fits[tibia], -dominant_sign(fits[tibia].pitch_rad))
    pelvis = by_segment.get("pelvis")
    if pelvis is not None:
        femurs = [b for s, b in by_segment.items() if s.startswith("femur")]
        thighs = [(moving[b], long_axis[b], fits[b]) for b in femurs]
        fits[pelvis], methods[pelvis] = _pelvis_axis(
            moving[pelvis], long_axis[pelvis], thighs, params, rate_hz
        )
    boards: dict[int, SegmentCalibration] = {}
    for board_id, data in inputs.items():
        fit = fits[board_id]
        mount = _segment_quat(long_axis[board_id], fit.axis_sensor)
        q_world_segment = quat_multiply(rest_quat[board_id], quat_conjugate(mount))
        x_world = quat_rotate(q_world_segment, np.array([1.0, 0.0, 0.0]))
        hinge_axis = hinge_axes.get(board_id)
        boards[board_id] = SegmentCalibration(
            segment=data.segment,
            quat_segment_sensor_wxyz=mount,
            heading_rad=-float(np.arctan2(x_world[1], x_world[0])),
            range_deg=fit.range_deg,
            planarity=fit.planarity,
            method=methods[board_id],
            hinge_axis_segment=_Z.copy() if hinge_axis is None else quat_rotate(mount, hinge_axis),
        )
    knee_rms = {
        side: _knee_axis_rms(inputs, boards, femur, tibia, movement)
        for side in ("r", "l")
        if (femur := by_segment.get(f"femur_{side}")) is not None
        and (tibia := by_segment.get(f"tibia_{side}")) is not None
    }
    calibration = Calibration(rest_t_us=rest_t_us, boards=boards, knee_axis_rms_deg=knee_rms)
    _LOG.info("calibrated:\n%s", calibration.describe())
    return calibration


def reuse_calibration(
    previous: Calibration,
    inputs: Mapping[int, CalibrationInput],
    rest: slice,
    rest_t_us: tuple[float, float],
) -> Calibration:
    """A calibration with the medio-lateral axes of an earlier one (same boards, straps not
    moved) and the neutral pose and headings of a new standing rest: no functional movement
    needed.

    Parameters
    ----------
    previous : Calibration
        The earlier calibration of the same boards.
    inputs : mapping of int to CalibrationInput
        Board id to its data on a common grid.
    rest : slice
        Grid rows of the new standing rest.
    rest_t_us : tuple of float
        Host times of the rest, for the record.

    Raises
    ------
    CalibrationError
        A board of the rig has no data during the rest.
    """
    boards: dict[int, SegmentCalibration] = {}
    for board_id, data in inputs.items():
        old = previous.boards[board_id]
        rest_quat = _rest_mean(data.quat_wxyz, rest)
        # The new rest is the neutral pose: the long axis from its gravity, the medio-lateral
        # axis kept from the earlier functional calibration.
        mount = _segment_quat(
            quat_rotate(quat_conjugate(rest_quat), _Z),
            quat_rotate(quat_conjugate(old.quat_segment_sensor_wxyz), _Z),
        )
        q_world_segment = quat_multiply(rest_quat, quat_conjugate(mount))
        x_world = quat_rotate(q_world_segment, np.array([1.0, 0.0, 0.0]))
        hinge_axis_sensor = quat_rotate(
            quat_conjugate(old.quat_segment_sensor_wxyz), old.hinge_axis_segment
        )
        boards[board_id] = replace(
            old,
            quat_segment_sensor_wxyz=mount,
            heading_rad=-float(np.arctan2(x_world[1], x_world[0])),
            hinge_axis_segment=quat_rotate(mount, hinge_axis_sensor),
        )
    return Calibration(rest_t_us, boards, dict(previous.knee_axis_rms_deg))


def _own_thigh_axis(
    quat_wxyz: FloatArray, long_axis: FloatArray, side: str, params: CalibrationParams
) -> AxisFit:
    """The thigh's own dominant rotation axis, signed so that hip flexion is the larger
    excursion."""
    fit = fit_segment_axis(quat_wxyz, long_axis)
    _require(fit, params.min_thigh_range_deg, f"femur_{side}", "the thigh")
    if fit.planarity < params.min_thigh_planarity:
        raise CalibrationError(
            f"femur_{side}: the thigh's movement after the standing rest turned about no "
            f"single axis (planarity {fit.planarity:.2f}, {params.min_thigh_planarity:.2f} "
            "needed); do three slow squats or knee bends after standing still"
        )
    return _signed(fit, dominant_sign(fit.pitch_rad))


def _require(fit: AxisFit, min_range_deg: float, segment: str, what: str) -> None:
    if fit.range_deg < min_range_deg:
        raise CalibrationError(
            f"{segment}: {what} moved only {fit.range_deg:.0f} deg after the standing rest, "
            f"{min_range_deg:.0f} deg are needed to find its axis; do three slow squats or "
            "knee bends after standing still"
        )


def _signed(fit: AxisFit, sign: float) -> AxisFit:
    return fit if sign > 0 else fit.flipped()


def _pelvis_axis(
    quat_wxyz: FloatArray,
    long_axis: FloatArray,
    thighs: list[tuple[FloatArray, FloatArray, AxisFit]],
    params: CalibrationParams,
    rate_hz: float,
) -> tuple[AxisFit, AxisMethod]:
    """The pelvis's medio-lateral axis: from the body's sideways lean when both thighs are
    calibrated and the movement is walking that supports it, else its own dominant rotation
    axis."""
    if len(thighs) == 2:
        rolls = [
            axis_fit(q, long, np.cross(long, fit.axis_sensor), 0.0).pitch_rad
            for q, long, fit in thighs
        ]
        shortest_s, longest_s = params.lean_stride_s
        lean = fit_lean_axis(
            quat_wxyz,
            long_axis,
            np.vstack([fit.pitch_rad for _, _, fit in thighs]),
            np.vstack(rolls),
            (round(shortest_s * rate_hz), round(longest_s * rate_hz)),
            params.lean_min_alternation,
        )
        if lean is not None:
            supported = _lean_supported(lean, params)
            _LOG.log(
                logging.INFO if supported else logging.DEBUG,
                "walking, stride %.2f s: pelvis roll follows the thighs' lean with partial r "
                "%.2f, thigh lean SD %.1f deg, thigh pitch/roll r %.2f: %s",
                lean.stride_rows / rate_hz,
                lean.partial_r,
                np.degrees(lean.roll_sd_rad),
                lean.pitch_roll_r,
                "pelvis axis from the lean" if supported else "not enough to find the pelvis axis",
            )
            if supported:
                fit = axis_fit(quat_wxyz, long_axis, lean.axis_sensor, lean.partial_r)
                return fit, "body lean"
    upright = _upright_rows(quat_wxyz, long_axis)
    own = fit_segment_axis(np.where(upright[:, None], quat_wxyz, np.nan), long_axis)
    pitches = [np.where(upright, fit.pitch_rad, np.nan) for _, _, fit in thighs]
    return _sign_pelvis(own, pitches), "own axis"


def _upright_rows(quat_wxyz: FloatArray, long_axis: FloatArray) -> NDArray[np.bool_]:
    """Rows where the segment's long axis is within :data:`_UPRIGHT_DEG` of the vertical,
    ``(n,)`` bool (False where the board is missing)."""
    ok = np.all(np.isfinite(quat_wxyz), axis=1)
    cosine = np.full(quat_wxyz.shape[0], -1.0)
    cosine[ok] = quat_rotate(quat_conjugate(quat_wxyz[ok]), _Z) @ long_axis
    return cosine >= math.cos(math.radians(_UPRIGHT_DEG))


def _lean_supported(lean: LeanFit, params: CalibrationParams) -> bool:
    """The thighs' lean varies apart from their pitch, and the pelvis's roll follows it."""
    return (
        abs(lean.pitch_roll_r) < params.max_lean_pitch_roll_r
        and np.degrees(lean.roll_sd_rad) >= params.min_lean_roll_sd_deg
        and lean.partial_r >= params.min_lean_partial_r
    )


def _sign_pelvis(pelvis: AxisFit, thigh_pitches: list[FloatArray]) -> AxisFit:
    """The pelvis's axis signed by anatomy.

    With thighs: the pelvis tilts forward as the hips flex (squats, hinges, lunges: its pitch
    about the right-pointing Z falls as the thighs' rises), so the sign that makes the pitches
    of the pelvis and of the thighs' mean correlate negatively, when they correlate at least
    :data:`_TILT_WITH_FLEXION_R` in size. Otherwise (walking: the pelvis hardly tilts with the
    thighs), hip flexion (thigh pitch minus pelvis pitch) is mostly positive and rarely far
    below 0. Without thighs, the pelvis tilts forward (negative pitch) more than backward.
    The correlation is that of the pitches' changes from row to row (uncentred): rows held
    still (lying, seated) tell nothing about the sign and add nothing to it.
    """
    if not thigh_pitches:
        return _signed(pelvis, -dominant_sign(pelvis.pitch_rad))
    stacked = np.vstack(thigh_pitches)
    counts = np.count_nonzero(np.isfinite(stacked), axis=0)
    thigh = np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)
    # Correlation of the changes from row to row: rows held still add nothing to it.
    d_thigh, d_pelvis = np.diff(thigh), np.diff(pelvis.pitch_rad)
    both = np.isfinite(d_thigh) & np.isfinite(d_pelvis)
    x, y = d_thigh[both], d_pelvis[both]
    norm = math.sqrt(float(x @ x) * float(y @ y))
    r = float(x @ y) / norm if norm > 0 else 0.0
    if abs(r) >= _TILT_WITH_FLEXION_R:
        return pelvis if r < 0 else pelvis.flipped()

    def score(candidate: AxisFit) -> float:
        hip = thigh - candidate.pitch_rad
        return _percentile_excursion(hip, 95.0) + 3.0 * min(0.0, _percentile_excursion(hip, 5.0))

    flipped = pelvis.flipped()
    return pelvis if score(pelvis) >= score(flipped) else flipped


def _knee_axis_rms(
    inputs: Mapping[int, CalibrationInput],
    boards: Mapping[int, SegmentCalibration],
    femur: int,
    tibia: int,
    movement: slice,
) -> float:
    """RMS heading mismatch of the knee axis seen from the thigh and from the shank, degrees."""
    azimuths: list[FloatArray] = []
    weights = np.ones(0)
    for board_id in (femur, tibia):
        cal = boards[board_id]
        quat = inputs[board_id].quat_wxyz[movement]
        z_sensor = quat_rotate(quat_conjugate(cal.quat_segment_sensor_wxyz), _Z)
        z_world = quat_rotate(quat, z_sensor)
        azimuths.append(np.arctan2(z_world[:, 1], z_world[:, 0]) + cal.heading_rad)
        horizontal = np.hypot(z_world[:, 0], z_world[:, 1])
        weights = horizontal if weights.size == 0 else weights * horizontal
    mismatch = np.angle(np.exp(1j * (azimuths[0] - azimuths[1])))
    ok = np.isfinite(mismatch) & np.isfinite(weights)
    if not np.any(ok):
        return float("nan")
    return float(np.degrees(np.sqrt(np.average(mismatch[ok] ** 2, weights=weights[ok]))))
