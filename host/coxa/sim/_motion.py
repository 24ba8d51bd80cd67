"""Ground-truth motion of pelvis, thighs and shanks for one set of an exercise.

The pelvis orientation and the hip and knee angles are commanded (smooth profiles of the setup
and rep progress, see :mod:`coxa.sim._profiles`); segment orientations follow by composition
``pelvis ⊗ hip ⊗ knee``. A standing set starts in the neutral pose (the calibration pose: pelvis,
hip and knee angles 0, feet side by side at the stance width) and moves into the exercise's top
position before the first rep. Positions come from the chain anchored at the working foot (the
pelvis is placed so that the working ankle stays put) or, for the clinical tests, at the pelvis.
Everything is vectorised over an array of arbitrary times, because each board samples on its
own drifting clock.

Knee axial rotation (screw-home): the tibia turns internally relative to the femur by
``screw_home_deg`` (7 deg [src]: tibial rotation about 7 deg near full extension, domain notes
section 5) as the knee flexes from 0 to ``screw_home_range_deg`` (30 deg [assumption]: small
at 30-120 deg [src]); seen from flexion to extension, the tibia externally rotates in the last
30 deg. The blend is minimum-jerk, so it is smooth in time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from coxa.body import SegmentName
from coxa.geometry import (
    FloatArray,
    Side,
    quat_conjugate,
    quat_from_axis_angle,
    quat_hip_from_angles_deg,
    quat_knee_from_angles_deg,
    quat_multiply,
    quat_rotate,
)
from coxa.sim._exercises import (
    EXERCISES,
    TEMPLATES,
    Exercise,
    ExerciseTemplate,
    Ramp,
    quat_world_pelvis_base_wxyz,
)
from coxa.sim._legs import hip_rotation_angles_rad, solve_leg_to_ankle
from coxa.sim._profiles import IntArray, RepSchedule, minimum_jerk
from coxa.sim._skeleton import (
    Anthropometry,
    leg_positions_m,
    pelvis_to_ankle_m,
    side_sign,
)

_log = logging.getLogger(__name__)

_X_AXIS = np.array([1.0, 0.0, 0.0])
_Y_AXIS = np.array([0.0, 1.0, 0.0])
_Z_AXIS = np.array([0.0, 0.0, 1.0])

#: Time step of the dense evaluation behind the per-rep truth, seconds.
_TRUTH_STEP_S = 0.002


@dataclass(frozen=True)
class MotionParams:
    """Parameters of one simulated set; defaults and their labels in ``docs/simulator.md``.

    Attributes
    ----------
    exercise : str
        One of ``EXERCISES``: ``'squat'``, ``'split_squat'`` (front foot elevated),
        ``'step_up'``, ``'hinge'`` (staggered stance), ``'rest'`` (standing still; ``reps``
        ignored), ``'prone_ir'``, ``'seated_ir'`` (clinical hip IR tests).
    reps : int
        Number of reps, >= 0. Default 5 [assumption].
    depth_deg : float or None
        Peak knee flexion of the working leg at the bottom of each rep, degrees (clinical tests:
        the knee flexion held during the test). None: the exercise default.
    depth_spread_deg : float
        Standard deviation of a per-rep depth variation drawn from ``seed``, degrees. Default 0.
    descent_s, bottom_pause_s, ascent_s, top_pause_s : float
        Tempo, seconds. Defaults 2.0, 0.5, 1.5, 1.0 [assumption: slow, controlled].
    hip_ir_bottom_deg : float or None
        Hip internal rotation of the working leg reached at the bottom of each rep, degrees.
        None: the exercise default.
    hip_ir_other_bottom_deg : float or None
        The same for the other leg (ignored when the exercise keeps it still). None: equal to
        the working leg's.
    hip_ir_spread_deg : float
        Standard deviation of per-rep IR variations drawn from ``seed`` (independent per leg),
        degrees. Default 0.
    pelvis_tilt_offset_deg, pelvis_obliquity_offset_deg, pelvis_yaw_offset_deg : float
        Constant pelvis angles relative to the base posture, degrees. Tilt: anterior positive,
        about the pelvis Z axis (sign flipped). Obliquity: right-hand rule about the pelvis X
        (anterior) axis, positive lowers the right side. Yaw: right-hand rule about the pelvis
        Y (long) axis, positive turns left when standing (rolls the pelvis when prone).
        Defaults 0.
    pelvis_tilt_excursion_deg, pelvis_obliquity_excursion_deg, pelvis_yaw_excursion_deg : float
        Extra pelvis angles reached at the bottom of every rep (scaled by the rep progress),
        degrees. Defaults 0.
    side : {'r', 'l'}
        Working leg: lead, front or tested leg; its foot is the anchored one. Default 'r'.
    rest_before_s, rest_after_s : float
        Still time before the setup (in the neutral pose) and after the last rep (in the top
        position), seconds. Defaults 3.0 [assumption: the pipeline calibrates on the initial
        rest, which needs at least 2-3 s] and 2.0 [assumption].
    setup_s : float
        Standing exercises: minimum-jerk move from the neutral pose (every pelvis, hip and
        knee angle 0, hip adduction as the stance width implies) into the top position, right
        after the initial rest, seconds. Skipped (no time) when the top position is the
        neutral pose (squat, step-up, rest without pelvis offsets) and in the clinical tests,
        which start in position. 0: the set starts in the top position, so the initial rest
        is not the neutral pose. Default 1.5 [assumption: one deliberate step into the
        stance].
    screw_home_deg : float
        Tibial internal rotation gained from full extension to ``screw_home_range_deg`` of knee
        flexion, degrees. Default 7 [src].
    screw_home_range_deg : float
        Knee flexion over which the screw-home rotation happens, degrees. Default 30
        [assumption].
    body : Anthropometry
        Segment dimensions.
    seed : int
        Seed of the per-rep variations. Default 0.
    """

    exercise: Exercise = "squat"
    reps: int = 5
    depth_deg: float | None = None
    depth_spread_deg: float = 0.0
    descent_s: float = 2.0
    bottom_pause_s: float = 0.5
    ascent_s: float = 1.5
    top_pause_s: float = 1.0
    hip_ir_bottom_deg: float | None = None
    hip_ir_other_bottom_deg: float | None = None
    hip_ir_spread_deg: float = 0.0
    pelvis_tilt_offset_deg: float = 0.0
    pelvis_obliquity_offset_deg: float = 0.0
    pelvis_yaw_offset_deg: float = 0.0
    pelvis_tilt_excursion_deg: float = 0.0
    pelvis_obliquity_excursion_deg: float = 0.0
    pelvis_yaw_excursion_deg: float = 0.0
    side: Side = "r"
    rest_before_s: float = 3.0
    rest_after_s: float = 2.0
    setup_s: float = 1.5
    screw_home_deg: float = 7.0
    screw_home_range_deg: float = 30.0
    body: Anthropometry = field(default_factory=Anthropometry)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.exercise not in EXERCISES:
            raise ValueError(f"exercise must be one of {EXERCISES}, got {self.exercise!r}")
        side_sign(self.side)
        if self.reps < 0:
            raise ValueError(f"reps must be >= 0, got {self.reps}")
        template = TEMPLATES[self.exercise]
        if self.depth_deg is not None and self.exercise != "rest":
            lo, hi = template.depth_min_deg, template.depth_max_deg
            if not lo <= self.depth_deg <= hi:
                raise ValueError(
                    f"depth_deg for {self.exercise} must be in [{lo}, {hi}], got {self.depth_deg}"
                )
        if self.depth_spread_deg < 0 or self.hip_ir_spread_deg < 0:
            raise ValueError("spreads must be >= 0")
        if self.setup_s < 0:
            raise ValueError(f"setup_s must be >= 0, got {self.setup_s}")
        if self.screw_home_range_deg <= 0:
            raise ValueError("screw_home_range_deg must be positive")


@dataclass(frozen=True, eq=False)
class MotionState:
    """Ground truth at an array of times (all world quantities in the world frame).

    Attributes
    ----------
    t_s : ndarray, shape (N,)
        Times, seconds.
    progress : ndarray, shape (N,)
        Rep progress, 0 at the top (and in the setup), 1 at the bottom.
    rep_index : ndarray of int64, shape (N,)
        Index of the rep in progress (from its start to its end time), -1 between reps.
    quat_world_pelvis_wxyz, quat_world_femur_r_wxyz, quat_world_femur_l_wxyz,
    quat_world_tibia_r_wxyz, quat_world_tibia_l_wxyz : ndarray, shape (N, 4)
        Segment orientations (segment-frame vectors into the world), ``wxyz``.
    position_pelvis_m : ndarray, shape (N, 3)
        Pelvis origin (midpoint of the hip joint centres), metres.
    position_hip_r_m, position_hip_l_m, position_knee_r_m, position_knee_l_m,
    position_ankle_r_m, position_ankle_l_m : ndarray, shape (N, 3)
        Joint centres, metres (hip = femur origin, knee = tibia origin).
    pelvis_angles_deg : ndarray, shape (N, 3)
        Pelvis tilt (anterior +), obliquity and yaw relative to the base posture, degrees.
    hip_angles_r_deg, hip_angles_l_deg : ndarray, shape (N, 3)
        Hip flexion, adduction, internal rotation (ISB, both sides +flex +add +IR), degrees.
    knee_angles_r_deg, knee_angles_l_deg : ndarray, shape (N, 3)
        Knee flexion, adduction, tibial internal rotation, degrees.
    """

    t_s: FloatArray
    progress: FloatArray
    rep_index: IntArray
    quat_world_pelvis_wxyz: FloatArray
    quat_world_femur_r_wxyz: FloatArray
    quat_world_femur_l_wxyz: FloatArray
    quat_world_tibia_r_wxyz: FloatArray
    quat_world_tibia_l_wxyz: FloatArray
    position_pelvis_m: FloatArray
    position_hip_r_m: FloatArray
    position_hip_l_m: FloatArray
    position_knee_r_m: FloatArray
    position_knee_l_m: FloatArray
    position_ankle_r_m: FloatArray
    position_ankle_l_m: FloatArray
    pelvis_angles_deg: FloatArray
    hip_angles_r_deg: FloatArray
    hip_angles_l_deg: FloatArray
    knee_angles_r_deg: FloatArray
    knee_angles_l_deg: FloatArray

    def quat_world_wxyz(self, segment: SegmentName) -> FloatArray:
        """Orientation of one segment, ``wxyz``, shape ``(N, 4)``."""
        quats: dict[SegmentName, FloatArray] = {
            "pelvis": self.quat_world_pelvis_wxyz,
            "femur_r": self.quat_world_femur_r_wxyz,
            "femur_l": self.quat_world_femur_l_wxyz,
            "tibia_r": self.quat_world_tibia_r_wxyz,
            "tibia_l": self.quat_world_tibia_l_wxyz,
        }
        return quats[segment]

    def origin_m(self, segment: SegmentName) -> FloatArray:
        """World position of one segment frame's origin, metres, shape ``(N, 3)``."""
        origins: dict[SegmentName, FloatArray] = {
            "pelvis": self.position_pelvis_m,
            "femur_r": self.position_hip_r_m,
            "femur_l": self.position_hip_l_m,
            "tibia_r": self.position_knee_r_m,
            "tibia_l": self.position_knee_l_m,
        }
        return origins[segment]

    def quat_world_femur_wxyz(self, side: Side) -> FloatArray:
        """Orientation of one femur, ``wxyz``, shape ``(N, 4)``."""
        return self.quat_world_femur_r_wxyz if side == "r" else self.quat_world_femur_l_wxyz

    def quat_world_tibia_wxyz(self, side: Side) -> FloatArray:
        """Orientation of one tibia, ``wxyz``, shape ``(N, 4)``."""
        return self.quat_world_tibia_r_wxyz if side == "r" else self.quat_world_tibia_l_wxyz

    def hip_angles_deg(self, side: Side) -> FloatArray:
        """Hip flexion, adduction, internal rotation of one side, degrees, ``(N, 3)``."""
        return self.hip_angles_r_deg if side == "r" else self.hip_angles_l_deg

    def knee_angles_deg(self, side: Side) -> FloatArray:
        """Knee flexion, adduction, tibial internal rotation of one side, degrees, ``(N, 3)``."""
        return self.knee_angles_r_deg if side == "r" else self.knee_angles_l_deg

    def ankle_m(self, side: Side) -> FloatArray:
        """Ankle joint centre of one side, metres, ``(N, 3)``."""
        return self.position_ankle_r_m if side == "r" else self.position_ankle_l_m


@dataclass(frozen=True, eq=False)
class RepTruth:
    """Per-rep ground truth of a set; every array has shape ``(reps,)``.

    Peaks are maxima over the rep, from its start to its end time, of the true joint angles.

    Attributes
    ----------
    working_side : {'r', 'l'}
        The working (lead, tested) leg.
    start_t_s, bottom_t_s, end_t_s : ndarray
        Leaving the top, middle of the bottom pause, back at the top, seconds.
    hip_ir_peak_r_deg, hip_ir_peak_l_deg : ndarray
        Maximum hip internal rotation within the rep, degrees.
    hip_ir_bottom_r_deg, hip_ir_bottom_l_deg : ndarray
        Hip internal rotation at the bottom time, degrees.
    hip_flexion_peak_r_deg, hip_flexion_peak_l_deg : ndarray
        Maximum hip flexion within the rep, degrees.
    knee_flexion_peak_r_deg, knee_flexion_peak_l_deg : ndarray
        Maximum knee flexion within the rep, degrees.
    """

    working_side: Side
    start_t_s: FloatArray
    bottom_t_s: FloatArray
    end_t_s: FloatArray
    hip_ir_peak_r_deg: FloatArray
    hip_ir_peak_l_deg: FloatArray
    hip_ir_bottom_r_deg: FloatArray
    hip_ir_bottom_l_deg: FloatArray
    hip_flexion_peak_r_deg: FloatArray
    hip_flexion_peak_l_deg: FloatArray
    knee_flexion_peak_r_deg: FloatArray
    knee_flexion_peak_l_deg: FloatArray

    def hip_ir_peak_deg(self, side: Side) -> FloatArray:
        """Maximum hip internal rotation per rep of one side, degrees, ``(reps,)``."""
        return self.hip_ir_peak_r_deg if side == "r" else self.hip_ir_peak_l_deg

    def knee_flexion_peak_deg(self, side: Side) -> FloatArray:
        """Maximum knee flexion per rep of one side, degrees, ``(reps,)``."""
        return self.knee_flexion_peak_r_deg if side == "r" else self.knee_flexion_peak_l_deg


def _ramp(
    ramp: Ramp, top_offset_deg: float, rep_offset_deg: FloatArray, w: FloatArray, s: FloatArray
) -> FloatArray:
    """Degrees: 0 (neutral) blended to the ramp's top value by the setup progress ``w``, then
    toward each rep's bottom value by the rep progress ``s``."""
    top = ramp.top(top_offset_deg)
    return w * top + s * (ramp.bottom(rep_offset_deg) - top)


@dataclass(frozen=True, eq=False)
class _Leg:
    """Joint angles of one leg, degrees, each ``(N, 3)``."""

    hip_deg: FloatArray
    knee_deg: FloatArray


class Motion:
    """One simulated set: ground truth at arbitrary times and per-rep truth.

    Parameters
    ----------
    params : MotionParams
        What to simulate. Per-rep variations are drawn once, here, from ``params.seed``.

    Attributes
    ----------
    params : MotionParams
        The parameters.
    template : ExerciseTemplate
        The exercise's posture template.
    schedule : RepSchedule
        Rep timing (``reps`` is 0 for ``'rest'``).
    working_side, other_side : {'r', 'l'}
        Working (anchored) leg and the other one.
    depth_deg, hip_ir_bottom_deg, hip_ir_other_bottom_deg : float
        Resolved nominal depth and bottom IR targets, degrees (0 for a still other leg).
    rep_depth_deg, rep_hip_ir_working_deg, rep_hip_ir_other_deg : ndarray, shape (max(reps, 1),)
        Per-rep targets after the seeded spread, degrees.

    Examples
    --------
    >>> motion = Motion(MotionParams(exercise="squat", reps=3, hip_ir_bottom_deg=12.0))
    >>> state = motion.evaluate(np.linspace(0.0, motion.duration_s, 1000))
    >>> truth = motion.rep_truth  # per-rep start/bottom/end times and peaks
    """

    def __init__(self, params: MotionParams) -> None:
        self.params = params
        self.template: ExerciseTemplate = TEMPLATES[params.exercise]
        t = self.template
        reps = 0 if params.exercise == "rest" else params.reps
        self.working_side: Side = params.side
        self.other_side: Side = "l" if params.side == "r" else "r"
        self.depth_deg: float = (
            t.depth_default_deg if params.depth_deg is None else params.depth_deg
        )
        self.schedule = RepSchedule(
            rest_before_s=params.rest_before_s,
            reps=reps,
            descent_s=params.descent_s,
            bottom_pause_s=params.bottom_pause_s,
            ascent_s=params.ascent_s,
            top_pause_s=params.top_pause_s,
            rest_after_s=params.rest_after_s,
            setup_s=params.setup_s if self._top_is_off_neutral() else 0.0,
        )
        self.hip_ir_bottom_deg: float = (
            t.hip_ir_default_deg if params.hip_ir_bottom_deg is None else params.hip_ir_bottom_deg
        )
        other_ir = (
            self.hip_ir_bottom_deg
            if params.hip_ir_other_bottom_deg is None
            else params.hip_ir_other_bottom_deg
        )
        self.hip_ir_other_bottom_deg: float = other_ir if t.other_leg_rotates else 0.0

        n = max(reps, 1)
        z = np.random.default_rng(params.seed).standard_normal((3, n))
        depth = self.depth_deg + params.depth_spread_deg * z[0]
        if params.exercise != "rest":
            depth = np.clip(depth, t.depth_min_deg, t.depth_max_deg)
        self.rep_depth_deg: FloatArray = depth
        self.rep_hip_ir_working_deg: FloatArray = (
            self.hip_ir_bottom_deg + params.hip_ir_spread_deg * z[1]
        )
        other = self.hip_ir_other_bottom_deg + params.hip_ir_spread_deg * z[2]
        self.rep_hip_ir_other_deg: FloatArray = other if t.other_leg_rotates else np.zeros(n)

        base = params.body
        sign = side_sign(self.working_side)
        if t.anchor == "foot":
            lateral = base.hip_half_width_m + t.ankle_lateral_offset_m
            self._anchor_m = np.array(
                [0.0, -sign * lateral, t.anchor_height_m + base.ankle_height_m]
            )
        else:
            self._anchor_m = np.array([0.0, 0.0, t.anchor_height_m])
        self._quat_base_wxyz = quat_world_pelvis_base_wxyz(t.posture)
        zero = np.zeros(1)
        self._other_ankle_target_m = np.zeros(3)
        # The other leg of a planted stance in the neutral pose and at the top (solved, so that
        # the setup's commanded step ends exactly where the planted solution takes over).
        self._other_neutral = self._commanded_leg(self.other_side, zero, zero, zero)
        self._other_top = self._other_neutral
        if t.other_leg_planted:
            top = self._state(zero, np.ones(1), zero, np.zeros(1, dtype=np.int64), solve=False)
            self._other_ankle_target_m = top.ankle_m(self.other_side)[0]
            self._other_top = self._planted_leg(
                self.other_side, zero, top.quat_world_pelvis_wxyz, top.position_pelvis_m
            )
        _log.debug(
            "motion %s: %d reps, depth %.1f deg, IR %.1f/%.1f deg, setup %.2f s, %.2f s",
            params.exercise,
            reps,
            self.depth_deg,
            self.hip_ir_bottom_deg,
            self.hip_ir_other_bottom_deg,
            self.schedule.setup_s,
            self.duration_s,
        )

    def _top_is_off_neutral(self) -> bool:
        """Whether a standing exercise's top position differs from the neutral pose."""
        if self.template.posture != "standing":
            return False
        p, tpl = self.params, self.template
        offset = self.depth_deg - tpl.depth_default_deg
        ramps = (
            tpl.work_hip_flexion,
            tpl.work_knee_flexion,
            tpl.other_hip_flexion,
            tpl.other_knee_flexion,
            tpl.pelvis_tilt,
        )
        pelvis = (
            p.pelvis_tilt_offset_deg,
            p.pelvis_obliquity_offset_deg,
            p.pelvis_yaw_offset_deg,
        )
        return any(r.top(offset) != 0 for r in ramps) or any(a != 0 for a in pelvis)

    @property
    def duration_s(self) -> float:
        """Length of the set including both rests and the setup, seconds."""
        return self.schedule.duration_s

    def evaluate(self, t_s: ArrayLike) -> MotionState:
        """Ground truth at arbitrary times.

        Parameters
        ----------
        t_s : array_like, shape (N,)
            Times in seconds, in any order; a scalar counts as ``N = 1``. Before 0 the athlete
            holds the initial (neutral) pose, after ``duration_s`` the top position.

        Returns
        -------
        MotionState
            Orientations, positions and joint angles at each time.
        """
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if t.ndim != 1:
            raise ValueError(f"t_s must be one-dimensional, got shape {t.shape}")
        sch = self.schedule
        return self._state(t, sch.setup_progress(t), sch.progress(t), sch.rep_index(t), solve=True)

    @cached_property
    def rep_truth(self) -> RepTruth:
        """Per-rep truth from a dense evaluation (2 ms steps plus the exact bottom times)."""
        sch = self.schedule
        starts, bottoms, ends = sch.start_t_s, sch.bottom_t_s, sch.end_t_s
        per_rep = int(np.ceil(sch.rep_duration_s / _TRUTH_STEP_S)) + 1
        frac = np.linspace(0.0, 1.0, per_rep)
        grid = starts[:, None] + sch.rep_duration_s * frac[None, :]
        times = np.concatenate([grid, bottoms[:, None]], axis=1)
        state = self.evaluate(times.ravel())
        shape = times.shape

        def column(angles: FloatArray, col: int) -> FloatArray:
            return angles[:, col].reshape(shape)

        hip_ir_r = column(state.hip_angles_r_deg, 2)
        hip_ir_l = column(state.hip_angles_l_deg, 2)
        return RepTruth(
            working_side=self.working_side,
            start_t_s=starts,
            bottom_t_s=bottoms,
            end_t_s=ends,
            hip_ir_peak_r_deg=hip_ir_r.max(axis=1),
            hip_ir_peak_l_deg=hip_ir_l.max(axis=1),
            hip_ir_bottom_r_deg=hip_ir_r[:, -1],
            hip_ir_bottom_l_deg=hip_ir_l[:, -1],
            hip_flexion_peak_r_deg=column(state.hip_angles_r_deg, 0).max(axis=1),
            hip_flexion_peak_l_deg=column(state.hip_angles_l_deg, 0).max(axis=1),
            knee_flexion_peak_r_deg=column(state.knee_angles_r_deg, 0).max(axis=1),
            knee_flexion_peak_l_deg=column(state.knee_angles_l_deg, 0).max(axis=1),
        )

    def _pelvis_quat_wxyz(self, angles_deg: FloatArray) -> FloatArray:
        """Pelvis in the world from (anterior tilt, obliquity, yaw) in degrees, ``(N, 4)``."""
        a = np.radians(angles_deg)
        yaw = quat_from_axis_angle(_Y_AXIS, a[:, 2])
        tilt = quat_from_axis_angle(_Z_AXIS, -a[:, 0])
        obliquity = quat_from_axis_angle(_X_AXIS, a[:, 1])
        return quat_multiply(
            quat_multiply(quat_multiply(self._quat_base_wxyz, yaw), tilt), obliquity
        )

    def _knee_deg(self, flexion_deg: FloatArray) -> FloatArray:
        """Knee (flexion, adduction 0, screw-home rotation), degrees, ``(N, 3)``."""
        p = self.params
        rotation = p.screw_home_deg * minimum_jerk(flexion_deg / p.screw_home_range_deg)
        return np.stack([flexion_deg, np.zeros_like(flexion_deg), rotation], axis=-1)

    def _commanded_leg(
        self,
        side: Side,
        hip_flexion_deg: FloatArray,
        knee_flexion_deg: FloatArray,
        ir_deg: FloatArray,
    ) -> _Leg:
        sign = side_sign(side)
        if self.template.plant_feet:
            lateral = np.full_like(ir_deg, sign * self.template.ankle_lateral_offset_m)
            rot = hip_rotation_angles_rad(
                self.params.body,
                np.radians(hip_flexion_deg),
                np.radians(knee_flexion_deg),
                np.radians(sign * ir_deg),
                lateral,
            )
            hip = np.degrees(rot) * np.array([1.0, sign, sign])
        else:
            hip = np.stack([hip_flexion_deg, np.zeros_like(ir_deg), ir_deg], axis=-1)
        return _Leg(hip_deg=hip, knee_deg=self._knee_deg(knee_flexion_deg))

    def _state(
        self, t_s: FloatArray, w: FloatArray, s: FloatArray, idx: IntArray, *, solve: bool
    ) -> MotionState:
        """Truth for setup progress ``w``, rep progress ``s`` and rep indices ``idx``
        (``solve=False``: the other leg as commanded even when the exercise plants it; used to
        find where it is planted)."""
        p, tpl, body = self.params, self.template, self.params.body
        top_offset = self.depth_deg - tpl.depth_default_deg
        rep_offset = self.rep_depth_deg[idx] - tpl.depth_default_deg
        pelvis_deg = np.stack(
            [
                _ramp(tpl.pelvis_tilt, top_offset, rep_offset, w, s)
                + w * p.pelvis_tilt_offset_deg
                + s * p.pelvis_tilt_excursion_deg,
                w * p.pelvis_obliquity_offset_deg + s * p.pelvis_obliquity_excursion_deg,
                w * p.pelvis_yaw_offset_deg + s * p.pelvis_yaw_excursion_deg,
            ],
            axis=-1,
        )
        q_pelvis = self._pelvis_quat_wxyz(pelvis_deg)

        work = self._commanded_leg(
            self.working_side,
            _ramp(tpl.work_hip_flexion, top_offset, rep_offset, w, s),
            _ramp(tpl.work_knee_flexion, top_offset, rep_offset, w, s),
            s * self.rep_hip_ir_working_deg[idx],
        )
        q_femur_w = quat_multiply(
            q_pelvis, quat_hip_from_angles_deg(work.hip_deg, self.working_side)
        )
        q_tibia_w = quat_multiply(
            q_femur_w, quat_knee_from_angles_deg(work.knee_deg, self.working_side)
        )
        if tpl.anchor == "foot":
            pelvis_m = self._anchor_m - pelvis_to_ankle_m(
                body, self.working_side, q_pelvis, q_femur_w, q_tibia_w
            )
        else:
            pelvis_m = np.broadcast_to(self._anchor_m, (s.shape[0], 3)).copy()

        other_ir = s * self.rep_hip_ir_other_deg[idx]
        if solve and tpl.other_leg_planted:
            other = self._stepping_leg(w, other_ir, q_pelvis, pelvis_m)
        else:
            other = self._commanded_leg(
                self.other_side,
                _ramp(tpl.other_hip_flexion, top_offset, rep_offset, w, s),
                _ramp(tpl.other_knee_flexion, top_offset, rep_offset, w, s),
                other_ir,
            )
        q_femur_o = quat_multiply(
            q_pelvis, quat_hip_from_angles_deg(other.hip_deg, self.other_side)
        )
        q_tibia_o = quat_multiply(
            q_femur_o, quat_knee_from_angles_deg(other.knee_deg, self.other_side)
        )

        legs = {
            self.working_side: (work, q_femur_w, q_tibia_w),
            self.other_side: (other, q_femur_o, q_tibia_o),
        }
        right, q_femur_r, q_tibia_r = legs["r"]
        left, q_femur_l, q_tibia_l = legs["l"]
        pos_r = leg_positions_m(body, "r", pelvis_m, q_pelvis, q_femur_r, q_tibia_r)
        pos_l = leg_positions_m(body, "l", pelvis_m, q_pelvis, q_femur_l, q_tibia_l)
        sch = self.schedule
        if sch.reps > 0:
            in_rep = (t_s >= sch.start_t_s[idx]) & (t_s <= sch.end_t_s[idx])
        else:
            in_rep = np.zeros(t_s.shape, dtype=bool)
        return MotionState(
            t_s=t_s,
            progress=s,
            rep_index=np.where(in_rep, idx, -1),
            quat_world_pelvis_wxyz=q_pelvis,
            quat_world_femur_r_wxyz=q_femur_r,
            quat_world_femur_l_wxyz=q_femur_l,
            quat_world_tibia_r_wxyz=q_tibia_r,
            quat_world_tibia_l_wxyz=q_tibia_l,
            position_pelvis_m=pelvis_m,
            position_hip_r_m=pos_r.hip_m,
            position_hip_l_m=pos_l.hip_m,
            position_knee_r_m=pos_r.knee_m,
            position_knee_l_m=pos_l.knee_m,
            position_ankle_r_m=pos_r.ankle_m,
            position_ankle_l_m=pos_l.ankle_m,
            pelvis_angles_deg=pelvis_deg,
            hip_angles_r_deg=right.hip_deg,
            hip_angles_l_deg=left.hip_deg,
            knee_angles_r_deg=right.knee_deg,
            knee_angles_l_deg=left.knee_deg,
        )

    def _planted_leg(
        self, side: Side, ir_deg: FloatArray, q_pelvis: FloatArray, pelvis_m: FloatArray
    ) -> _Leg:
        """The leg whose ankle stays at its top-position target (solved, not commanded)."""
        body = self.params.body
        sign = side_sign(side)
        from_pelvis = quat_rotate(quat_conjugate(q_pelvis), self._other_ankle_target_m - pelvis_m)
        solution = solve_leg_to_ankle(
            body, from_pelvis - body.hip_centre_in_pelvis_m(side), np.radians(sign * ir_deg)
        )
        hip = np.degrees(solution.hip_rotation_rad) * np.array([1.0, sign, sign])
        return _Leg(hip_deg=hip, knee_deg=self._knee_deg(np.degrees(solution.knee_flexion_rad)))

    def _stepping_leg(
        self, w: FloatArray, ir_deg: FloatArray, q_pelvis: FloatArray, pelvis_m: FloatArray
    ) -> _Leg:
        """The other leg of a planted stance: during the setup (``w < 1``) its angles blend
        from the neutral pose to the planted solution at the top (the foot is not planted
        yet), from then on its foot stays planted (solved)."""
        neutral, top = self._other_neutral, self._other_top
        hip = neutral.hip_deg + w[:, None] * (top.hip_deg - neutral.hip_deg)
        knee_flexion = w * top.knee_deg[0, 0]
        planted = w >= 1.0
        if np.any(planted):
            solved = self._planted_leg(
                self.other_side, ir_deg[planted], q_pelvis[planted], pelvis_m[planted]
            )
            hip[planted] = solved.hip_deg
            knee_flexion[planted] = solved.knee_deg[:, 0]
        return _Leg(hip_deg=hip, knee_deg=self._knee_deg(knee_flexion))
