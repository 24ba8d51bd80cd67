"""Ground-truth motion of pelvis, thighs and shanks for a session of one or more sets.

The pelvis orientation and the hip and knee angles are commanded (smooth profiles of the setup
and rep progress, see :mod:`coxa.sim._profiles`); segment orientations follow by composition
``pelvis ⊗ hip ⊗ knee``. A standing set starts in the neutral pose (the calibration pose: pelvis,
hip and knee angles 0, feet side by side at the stance width) and moves into the exercise's top
position before the first rep; between two sets the athlete steps back into the neutral pose,
stands still and steps into the top position again. Positions come from the chain anchored at
the working foot (the pelvis is placed so that the working ankle stays put) or, for the
clinical tests, at the pelvis.
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
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from coxa.body import SegmentName
from coxa.geometry import FloatArray, Side
from coxa.sim import _columns as cols
from coxa.sim._columns import QuatCols, VecCols, join
from coxa.sim._exercises import (
    EXERCISES,
    TEMPLATES,
    Exercise,
    ExerciseTemplate,
    Ramp,
    quat_world_pelvis_base_wxyz,
)
from coxa.sim._legs import hip_rotation_angles_rad, solve_leg_to_ankle
from coxa.sim._profiles import IntArray, RepSchedule, minimum_jerk, screw_home_deg
from coxa.sim._skeleton import Anthropometry, LegLinks, leg_links_m, side_sign

_log = logging.getLogger(__name__)

_X_AXIS = np.array([1.0, 0.0, 0.0])
_Y_AXIS = np.array([0.0, 1.0, 0.0])
_Z_AXIS = np.array([0.0, 0.0, 1.0])

#: Time step of the dense evaluation behind the per-rep truth, seconds.
_TRUTH_STEP_S = 0.002
#: Exercises whose front knee can drift back (``MotionParams.front_knee_back_deg``).
_KNEE_BACK_EXERCISES: tuple[Exercise, ...] = ("split_squat", "ffe_split_squat")
#: Least knee flexion the front knee must still gain from the top to the bottom of a rep with
#: a knee drift, degrees [assumption: a rep the rep counter's lead-knee window can follow].
_KNEE_BACK_MIN_BEND_DEG = 10.0
#: Iterations and tolerance of the per-rep solve of the knee drift (the inclination changes
#: almost 1:1 with the knee flexion, so each iteration gains one or two digits), degrees.
_KNEE_BACK_ITERATIONS = 30
_KNEE_BACK_TOLERANCE_DEG = 1e-9


@dataclass(frozen=True)
class MotionParams:
    """Parameters of one simulated session of one or more sets; defaults and their labels in
    ``docs/simulator.md``.

    Attributes
    ----------
    exercise : str
        One of ``EXERCISES``: ``'squat'``, ``'split_squat'`` (flat, a lunge),
        ``'ffe_split_squat'`` (front foot elevated), ``'step_up'``, ``'crossover_step_up'``,
        ``'hinge'`` (staggered stance), ``'90_90'`` (90/90 transitions seated on the floor),
        ``'rest'`` (standing still; ``reps`` ignored), ``'prone_ir'``, ``'seated_ir'``,
        ``'supine_ir'`` (clinical hip IR tests), ``'aslr'`` (active straight leg raise).
    reps : int
        Number of reps per set, >= 0. Default 5 [assumption].
    sets : int
        Number of sets, >= 1. Between two sets the athlete returns to the neutral pose
        (minimum-jerk over ``setup_s``), stands still in it for ``set_rest_s`` and moves into
        the top position again (``setup_s``). More than one set needs ``reps >= 1`` and a
        standing exercise other than ``'rest'`` (ValueError otherwise). Default 1.
    set_rest_s : float
        Still time in the neutral pose between two sets, seconds (the host can re-anchor
        headings there). Default 20 [assumption].
    depth_deg : float or None
        Peak knee flexion of the working leg at the bottom of each rep, degrees (clinical tests:
        the knee flexion held during the test; with ``front_knee_back_deg`` the knee flexion the
        rep would reach without the drift). None: the exercise default.
    depth_spread_deg : float
        Standard deviation of a per-rep depth variation drawn from ``seed``, degrees. Default 0.
    descent_s, bottom_pause_s, ascent_s, top_pause_s : float
        Tempo, seconds. Defaults 2.0, 0.5, 1.5, 1.0 [assumption: slow, controlled].
    hip_ir_bottom_deg : float or None
        Hip internal rotation of the working leg reached at the bottom of each rep, degrees.
        None: the exercise default.
    hip_ir_other_bottom_deg : float or None
        The same for the other leg (ignored when the exercise keeps it still). None: the
        exercise's default for the other leg if it has one (``'90_90'``), else equal to the
        working leg's.
    hip_ir_top_deg, hip_ir_other_top_deg : float or None
        Hip internal rotation of the working and the other leg at the top of each rep (where
        each rep starts and ends), degrees. None: the exercise default (0 except in
        ``'90_90'``). The other leg's is ignored when the exercise keeps it still.
    hip_flexion_bottom_deg : float or None
        Hip flexion of the working leg at the bottom of each rep, degrees, at any depth (e.g.
        the leg raise angle of ``'aslr'``, or a shank more or less upright in a standing
        exercise). None: the exercise default, which follows the depth.
    hip_flexion_offset_deg, hip_adduction_offset_deg : float
        Constant offsets added to the working leg's hip flexion and adduction, degrees (a
        femur tilted away from its nominal test position, e.g. a prone femur not level on
        the table). Like the pelvis offsets they are part of the top position (standing
        exercises blend them in during the setup). Adduction needs an exercise whose hip
        adduction is commanded (not one with planted feet, ValueError). Defaults 0.
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
        degrees. In the clinical tests these are the compensations: pelvic roll (prone: yaw;
        supine: obliquity) and hip hike (seated: obliquity) add 1:1 to the femur's rotation in
        the room while the true hip IR stays as commanded. Defaults 0.
    pelvis_excursion_onset : float
        Rep progress in [0, 1) where the pelvis excursions start. 0 (default): they grow in
        proportion to the rep progress, like the hip IR. Above 0: 0 until the progress passes
        the onset, then a minimum-jerk rise to the full excursion at the bottom (C2); with the
        IR starting at 0 the pelvis starts to move when the hip IR passes ``onset`` times its
        bottom value (a pelvic lift or hip hike at the end of the range).
    side : {'r', 'l'}
        Working leg: lead, front or tested leg; its foot is the anchored one. Default 'r'.
    rest_before_s, rest_after_s : float
        Still time before the setup (in the neutral pose) and after the last rep of the last
        set (in the top position), seconds. Defaults 3.0 [assumption: the pipeline calibrates
        on the initial rest, which needs at least 2-3 s] and 2.0 [assumption].
    setup_s : float
        Standing exercises: minimum-jerk move from the neutral pose (every pelvis, hip and
        knee angle 0, hip adduction as the stance width implies) into the top position, right
        after the initial rest, seconds. Skipped (no time) when the top position is the
        neutral pose (squat, step-up, rest without pelvis offsets) and in the clinical tests,
        which start in position. 0: the session starts in the top position, so the initial
        rest is not the neutral pose, and the rests between sets stay in the top position
        too. Default 1.5 [assumption: one deliberate step into the stance].
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
    front_knee_back_deg : float
        Split squats (``'split_squat'``, ``'ffe_split_squat'``): how far the forward inclination
        of the front (working) shank at the bottom of each rep falls below its value at the
        top, where the rep starts, degrees (>= 0): the front knee drifts back during the
        descent instead of travelling forward over the toes. The front hip keeps its commanded
        flexion (so the hip sinks as deep and the rear foot stays within reach) and the front
        knee flexes less at the bottom, by as much as that takes (solved per rep on the true
        geometry: the true inclination at the bottom time is exactly the top value minus this);
        both feet stay planted. ValueError for other exercises, or when it would leave the
        front knee less than 10 deg more flexed at the bottom than at the top. Default 0
        [assumption: the templates' knee path, the knee travels forward].
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
    hip_ir_top_deg: float | None = None
    hip_ir_other_top_deg: float | None = None
    hip_flexion_bottom_deg: float | None = None
    hip_flexion_offset_deg: float = 0.0
    hip_adduction_offset_deg: float = 0.0
    pelvis_tilt_offset_deg: float = 0.0
    pelvis_obliquity_offset_deg: float = 0.0
    pelvis_yaw_offset_deg: float = 0.0
    pelvis_tilt_excursion_deg: float = 0.0
    pelvis_obliquity_excursion_deg: float = 0.0
    pelvis_yaw_excursion_deg: float = 0.0
    pelvis_excursion_onset: float = 0.0
    side: Side = "r"
    rest_before_s: float = 3.0
    rest_after_s: float = 2.0
    setup_s: float = 1.5
    screw_home_deg: float = 7.0
    screw_home_range_deg: float = 30.0
    body: Anthropometry = field(default_factory=Anthropometry)
    seed: int = 0
    sets: int = 1
    set_rest_s: float = 20.0
    front_knee_back_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.exercise not in EXERCISES:
            raise ValueError(f"exercise must be one of {EXERCISES}, got {self.exercise!r}")
        side_sign(self.side)
        if self.reps < 0:
            raise ValueError(f"reps must be >= 0, got {self.reps}")
        if self.sets < 1:
            raise ValueError(f"sets must be >= 1, got {self.sets}")
        if self.set_rest_s < 0:
            raise ValueError(f"set_rest_s must be >= 0, got {self.set_rest_s}")
        template = TEMPLATES[self.exercise]
        if self.sets > 1 and (template.posture != "standing" or self.exercise == "rest"):
            raise ValueError(
                f"sets > 1 needs a standing exercise with reps, not {self.exercise!r} "
                "(simulate the sets of a clinical test or a longer rest separately)"
            )
        if self.sets > 1 and self.reps == 0:
            raise ValueError("sets > 1 needs reps >= 1")
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
        if not 0.0 <= self.pelvis_excursion_onset < 1.0:
            raise ValueError(
                f"pelvis_excursion_onset must be in [0, 1), got {self.pelvis_excursion_onset}"
            )
        if template.both_feet_planted and (
            self.depth_spread_deg != 0 or self.hip_flexion_bottom_deg is not None
        ):
            raise ValueError(
                f"{self.exercise} plants both feet, so its knee flexion and hip flexion follow "
                "from where they stand: depth_spread_deg and hip_flexion_bottom_deg do not apply"
            )
        if not (np.isfinite(self.front_knee_back_deg) and self.front_knee_back_deg >= 0):
            raise ValueError(
                f"front_knee_back_deg must be finite and >= 0, got {self.front_knee_back_deg}"
            )
        if self.front_knee_back_deg != 0 and self.exercise not in _KNEE_BACK_EXERCISES:
            raise ValueError(
                f"front_knee_back_deg applies to {', '.join(_KNEE_BACK_EXERCISES)}, not "
                f"{self.exercise!r}"
            )
        if self.hip_adduction_offset_deg != 0 and template.plant_feet:
            raise ValueError(
                f"hip_adduction_offset_deg needs a commanded hip adduction; {self.exercise} "
                "solves it to keep the feet planted"
            )


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
        Index of the rep in progress (from its start to its end time; numbered through the
        session, set ``k``'s rep ``j`` is ``k * reps + j``), -1 between reps.
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

    def shank_inclination_deg(self, side: Side) -> FloatArray:
        """Forward inclination of one shank from vertical, degrees, ``(N,)``: the ankle-to-knee
        line projected onto the world X-Z plane (the sagittal plane of the facing at the
        standing rest, world +X), positive when the knee is ahead of the ankle."""
        knee = self.position_knee_r_m if side == "r" else self.position_knee_l_m
        shank = knee - self.ankle_m(side)
        return np.degrees(np.arctan2(shank[:, 0], shank[:, 2]))


@dataclass(frozen=True, eq=False)
class RepTruth:
    """Per-rep ground truth of a session; every array has shape ``(sets * reps,)``, reps in
    time order.

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
    set_index : ndarray of int64
        Set of each rep, 0-based.
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
    set_index: IntArray

    def hip_ir_peak_deg(self, side: Side) -> FloatArray:
        """Maximum hip internal rotation per rep of one side, degrees, ``(reps,)``."""
        return self.hip_ir_peak_r_deg if side == "r" else self.hip_ir_peak_l_deg

    def hip_flexion_peak_deg(self, side: Side) -> FloatArray:
        """Maximum hip flexion per rep of one side, degrees, ``(reps,)``."""
        return self.hip_flexion_peak_r_deg if side == "r" else self.hip_flexion_peak_l_deg

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


def _rotation(top_deg: float, bottom_deg: FloatArray, w: FloatArray, s: FloatArray) -> FloatArray:
    """Hip IR in degrees: ``top_deg`` blended in by ``w``, then toward ``bottom_deg`` by ``s``
    (with a top of 0 exactly ``s * bottom_deg``, as before tops existed)."""
    if top_deg == 0:
        return s * bottom_deg
    return w * top_deg + s * (bottom_deg - top_deg)


@dataclass(frozen=True, eq=False)
class _Leg:
    """Joint angles of one leg, degrees, each three ``(N,)`` columns."""

    hip_deg: VecCols
    knee_deg: VecCols


@dataclass(frozen=True, eq=False)
class TruthColumns:
    """Ground truth as separate component columns (the simulator's internal form of
    :class:`MotionState`, see :mod:`coxa.sim._columns`).

    Attributes
    ----------
    t_s, progress, rep_index : ndarray, shape (N,)
        As in :class:`MotionState`.
    pelvis_deg : tuple of 3 ndarrays
        Pelvis tilt, obliquity and yaw, degrees.
    quats : dict of segment name to 4 columns
        Segment orientations ``w, x, y, z``.
    origins : dict of segment name to 3 columns
        Segment origins (pelvis origin, hip and knee joint centres), metres.
    ankles : dict of side to 3 columns
        Ankle joint centres, metres.
    hip_deg, knee_deg : dict of side to 3 columns
        Joint angles, degrees.
    """

    t_s: FloatArray
    progress: FloatArray
    rep_index: IntArray
    pelvis_deg: VecCols
    quats: dict[SegmentName, QuatCols]
    origins: dict[SegmentName, VecCols]
    ankles: dict[Side, VecCols]
    hip_deg: dict[Side, VecCols]
    knee_deg: dict[Side, VecCols]

    def shank_inclination_deg(self, side: Side) -> FloatArray:
        """Forward inclination of one shank from vertical, degrees, ``(N,)``, as
        :meth:`MotionState.shank_inclination_deg`."""
        knee = self.origins["tibia_r" if side == "r" else "tibia_l"]
        ankle = self.ankles[side]
        return np.degrees(np.arctan2(knee[0] - ankle[0], knee[2] - ankle[2]))

    def state(self) -> MotionState:
        """The truth as a :class:`MotionState` (interleaved arrays)."""
        n = self.t_s.shape[0]
        q, o = self.quats, self.origins
        return MotionState(
            t_s=self.t_s,
            progress=self.progress,
            rep_index=self.rep_index,
            quat_world_pelvis_wxyz=join(q["pelvis"], n),
            quat_world_femur_r_wxyz=join(q["femur_r"], n),
            quat_world_femur_l_wxyz=join(q["femur_l"], n),
            quat_world_tibia_r_wxyz=join(q["tibia_r"], n),
            quat_world_tibia_l_wxyz=join(q["tibia_l"], n),
            position_pelvis_m=join(o["pelvis"], n),
            position_hip_r_m=join(o["femur_r"], n),
            position_hip_l_m=join(o["femur_l"], n),
            position_knee_r_m=join(o["tibia_r"], n),
            position_knee_l_m=join(o["tibia_l"], n),
            position_ankle_r_m=join(self.ankles["r"], n),
            position_ankle_l_m=join(self.ankles["l"], n),
            pelvis_angles_deg=join(self.pelvis_deg, n),
            hip_angles_r_deg=join(self.hip_deg["r"], n),
            hip_angles_l_deg=join(self.hip_deg["l"], n),
            knee_angles_r_deg=join(self.knee_deg["r"], n),
            knee_angles_l_deg=join(self.knee_deg["l"], n),
        )


class Motion:
    """One simulated session (one or more sets): ground truth at any times, per-rep truth.

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
        Set and rep timing (``reps`` is 0 for ``'rest'``).
    working_side, other_side : {'r', 'l'}
        Working (anchored) leg and the other one.
    depth_deg, hip_ir_bottom_deg, hip_ir_other_bottom_deg : float
        Resolved nominal depth and bottom IR targets, degrees (0 for a still other leg).
    rep_depth_deg, rep_hip_ir_working_deg, rep_hip_ir_other_deg : ndarray
        Per-rep targets after the seeded spread, degrees, shape ``(max(sets * reps, 1),)``.
    rep_knee_back_deg : ndarray
        Knee flexion the front knee gives up at the bottom of each rep for
        ``front_knee_back_deg`` (solved), degrees, same shape; zeros without a drift.

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
        self.hip_ir_bottom_deg: float = (
            t.hip_ir_default_deg if params.hip_ir_bottom_deg is None else params.hip_ir_bottom_deg
        )
        other_default = (
            self.hip_ir_bottom_deg
            if t.hip_ir_other_default_deg is None
            else t.hip_ir_other_default_deg
        )
        other_ir = (
            other_default
            if params.hip_ir_other_bottom_deg is None
            else params.hip_ir_other_bottom_deg
        )
        self.hip_ir_other_bottom_deg: float = other_ir if t.other_leg_rotates else 0.0
        self.hip_ir_top_deg: float = (
            t.hip_ir_top_deg if params.hip_ir_top_deg is None else params.hip_ir_top_deg
        )
        other_top = (
            t.hip_ir_other_top_deg
            if params.hip_ir_other_top_deg is None
            else params.hip_ir_other_top_deg
        )
        self.hip_ir_other_top_deg: float = other_top if t.other_leg_rotates else 0.0
        self._work_hip_flexion: Ramp = (
            t.work_hip_flexion
            if params.hip_flexion_bottom_deg is None
            else replace(
                t.work_hip_flexion, bottom_deg=params.hip_flexion_bottom_deg, bottom_per_depth=0.0
            )
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
            sets=params.sets,
            set_rest_s=params.set_rest_s,
        )

        n = max(params.sets * reps, 1)
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
        self.rep_knee_back_deg: FloatArray = np.zeros(n)

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
        #: Where each planted ankle stays, metres (world), per side.
        self._ankle_targets_m: dict[Side, FloatArray] = {}
        if t.both_feet_planted:
            # Each foot where the commanded top position with hip rotation 0 puts it.
            one, first = np.ones(1), np.zeros(1, dtype=np.int64)
            top = self._truth(zero, one, zero, first, solve=False, rotate=False)
            for side in (self.working_side, self.other_side):
                ankle = top.ankles[side]
                self._ankle_targets_m[side] = np.array([ankle[0][0], ankle[1][0], ankle[2][0]])
        # The other leg of a planted stance in the neutral pose and at the top (solved, so that
        # the setup's commanded step ends exactly where the planted solution takes over).
        self._other_neutral = self._commanded_leg(self.other_side, zero, zero, zero, zero)
        self._other_top = self._other_neutral
        if t.other_leg_planted:
            top = self._truth(zero, np.ones(1), zero, np.zeros(1, dtype=np.int64), solve=False)
            ankle = top.ankles[self.other_side]
            self._ankle_targets_m[self.other_side] = np.array(
                [ankle[0][0], ankle[1][0], ankle[2][0]]
            )
            self._other_top = self._planted_leg(
                self.other_side,
                np.full(1, self.hip_ir_other_top_deg),
                top.quats["pelvis"],
                top.origins["pelvis"],
            )
        if params.front_knee_back_deg != 0:
            self.rep_knee_back_deg = self._solve_knee_back()
        _log.debug(
            "motion %s: %d x %d reps, depth %.1f deg, IR %.1f/%.1f deg, setup %.2f s, %.2f s",
            params.exercise,
            params.sets,
            reps,
            self.depth_deg,
            self.hip_ir_bottom_deg,
            self.hip_ir_other_bottom_deg,
            self.schedule.setup_s,
            self.duration_s,
        )

    def _solve_knee_back(self) -> FloatArray:
        """Knee flexion each rep's front knee gives up at the bottom so that the true front
        shank inclination there is the top value minus ``front_knee_back_deg``, degrees."""
        p, tpl = self.params, self.template
        n = self.rep_depth_deg.size
        idx = np.arange(n, dtype=np.int64)
        ones, zeros = np.ones(n), np.zeros(n)
        side = self.working_side
        top = self._truth(zeros, ones, zeros, idx, solve=True).shank_inclination_deg(side)
        target = top - p.front_knee_back_deg
        # The inclination grows almost 1:1 with the knee flexion (foot anchored, hip flexion
        # held): a fixed-point iteration on the excess converges.
        reduction = np.zeros(n)
        for _ in range(_KNEE_BACK_ITERATIONS):
            self.rep_knee_back_deg = reduction
            bottom = self._truth(zeros, ones, ones, idx, solve=True).shank_inclination_deg(side)
            excess = bottom - target
            if float(np.max(np.abs(excess))) < _KNEE_BACK_TOLERANCE_DEG:
                break
            reduction = reduction + excess
        else:
            raise RuntimeError("the front knee drift did not converge")
        top_knee = tpl.work_knee_flexion.top(self.depth_deg - tpl.depth_default_deg)
        bottom_knee = tpl.work_knee_flexion.bottom(self.rep_depth_deg - tpl.depth_default_deg)
        bend = bottom_knee - reduction - top_knee
        if float(bend.min()) < _KNEE_BACK_MIN_BEND_DEG:
            k = int(np.argmin(bend))
            raise ValueError(
                f"front_knee_back_deg {p.front_knee_back_deg} leaves the front knee of rep {k} "
                f"only {bend[k]:.1f} deg more flexed at the bottom than at the top (at least "
                f"{_KNEE_BACK_MIN_BEND_DEG:.0f} needed): too much drift for a depth of "
                f"{self.rep_depth_deg[k]:.1f} deg"
            )
        return reduction

    def _top_is_off_neutral(self) -> bool:
        """Whether a standing exercise's top position differs from the neutral pose."""
        if self.template.posture != "standing":
            return False
        p, tpl = self.params, self.template
        offset = self.depth_deg - tpl.depth_default_deg
        ramps = (
            self._work_hip_flexion,
            tpl.work_knee_flexion,
            tpl.other_hip_flexion,
            tpl.other_knee_flexion,
            tpl.pelvis_tilt,
            tpl.work_hip_adduction,
            tpl.other_hip_adduction,
            tpl.pelvis_yaw_toward_work,
        )
        constants = (
            p.pelvis_tilt_offset_deg,
            p.pelvis_obliquity_offset_deg,
            p.pelvis_yaw_offset_deg,
            p.hip_flexion_offset_deg,
            p.hip_adduction_offset_deg,
            self.hip_ir_top_deg,
            self.hip_ir_other_top_deg,
        )
        return any(r.top(offset) != 0 for r in ramps) or any(a != 0 for a in constants)

    @property
    def duration_s(self) -> float:
        """Length of the session including the rests, the setups and the moves, seconds."""
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
        return self.evaluate_columns(t_s).state()

    def evaluate_columns(self, t_s: ArrayLike) -> TruthColumns:
        """:meth:`evaluate` as separate component columns, without the stacking copies (the
        simulator's own fast path; bit-identical to :meth:`evaluate`)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if t.ndim != 1:
            raise ValueError(f"t_s must be one-dimensional, got shape {t.shape}")
        sch = self.schedule
        return self._truth(t, sch.setup_progress(t), sch.progress(t), sch.rep_index(t), solve=True)

    @cached_property
    def rep_truth(self) -> RepTruth:
        """Per-rep truth from a dense evaluation (2 ms steps plus the exact bottom times)."""
        sch = self.schedule
        starts, bottoms, ends = sch.start_t_s, sch.bottom_t_s, sch.end_t_s
        per_rep = int(np.ceil(sch.rep_duration_s / _TRUTH_STEP_S)) + 1
        frac = np.linspace(0.0, 1.0, per_rep)
        grid = starts[:, None] + sch.rep_duration_s * frac[None, :]
        times = np.concatenate([grid, bottoms[:, None]], axis=1)
        truth = self.evaluate_columns(times.ravel())
        shape = times.shape

        def column(angles: VecCols, col: int) -> FloatArray:
            return np.asarray(angles[col], dtype=np.float64).reshape(shape)

        hip_r, hip_l = truth.hip_deg["r"], truth.hip_deg["l"]
        knee_r, knee_l = truth.knee_deg["r"], truth.knee_deg["l"]
        hip_ir_r = column(hip_r, 2)
        hip_ir_l = column(hip_l, 2)
        return RepTruth(
            working_side=self.working_side,
            start_t_s=starts,
            bottom_t_s=bottoms,
            end_t_s=ends,
            hip_ir_peak_r_deg=hip_ir_r.max(axis=1),
            hip_ir_peak_l_deg=hip_ir_l.max(axis=1),
            hip_ir_bottom_r_deg=hip_ir_r[:, -1],
            hip_ir_bottom_l_deg=hip_ir_l[:, -1],
            hip_flexion_peak_r_deg=column(hip_r, 0).max(axis=1),
            hip_flexion_peak_l_deg=column(hip_l, 0).max(axis=1),
            knee_flexion_peak_r_deg=column(knee_r, 0).max(axis=1),
            knee_flexion_peak_l_deg=column(knee_l, 0).max(axis=1),
            set_index=sch.set_index_of_rep,
        )

    def _pelvis_quat_wxyz(
        self, tilt_deg: FloatArray, obliquity_deg: FloatArray, yaw_deg: FloatArray
    ) -> QuatCols:
        """Pelvis in the world from anterior tilt, obliquity and yaw in degrees."""
        yaw = cols.from_axis_angle(_Y_AXIS, np.radians(yaw_deg))
        tilt = cols.from_axis_angle(_Z_AXIS, -np.radians(tilt_deg))
        obliquity = cols.from_axis_angle(_X_AXIS, np.radians(obliquity_deg))
        base = cols.quat_cols(self._quat_base_wxyz)
        return cols.multiply(cols.multiply(cols.multiply(base, yaw), tilt), obliquity)

    def _knee_deg(self, flexion_deg: FloatArray) -> VecCols:
        """Knee (flexion, adduction 0, screw-home rotation), degrees."""
        p = self.params
        rotation = screw_home_deg(flexion_deg, p.screw_home_deg, p.screw_home_range_deg)
        return flexion_deg, np.zeros_like(flexion_deg), rotation

    def _commanded_leg(
        self,
        side: Side,
        hip_flexion_deg: FloatArray,
        knee_flexion_deg: FloatArray,
        ir_deg: FloatArray,
        adduction_deg: FloatArray,
    ) -> _Leg:
        """One leg as commanded (hip adduction solved instead when the exercise plants the
        feet), angles in degrees."""
        sign = side_sign(side)
        hip: VecCols
        if self.template.plant_feet:
            lateral = np.full_like(ir_deg, sign * self.template.ankle_lateral_offset_m)
            flexion_rad, beta_rad, gamma_rad = hip_rotation_angles_rad(
                self.params.body,
                np.radians(hip_flexion_deg),
                np.radians(knee_flexion_deg),
                np.radians(sign * ir_deg),
                lateral,
            )
            hip = (
                np.degrees(flexion_rad) * 1.0,
                np.degrees(beta_rad) * sign,
                np.degrees(gamma_rad) * sign,
            )
        else:
            hip = (hip_flexion_deg, adduction_deg, ir_deg)
        return _Leg(hip_deg=hip, knee_deg=self._knee_deg(knee_flexion_deg))

    def _segments(self, side: Side, q_pelvis: QuatCols, leg: _Leg) -> tuple[QuatCols, QuatCols]:
        """Femur and tibia of one leg in the world from the pelvis and the joint angles
        (:func:`coxa.geometry.quat_hip_from_angles_deg` and ``quat_knee_from_angles_deg``)."""
        mirror = -1.0 if side == "l" else 1.0
        h, k = leg.hip_deg, leg.knee_deg
        q_hip = cols.from_cardan_zxy(
            np.radians(h[0]) * 1.0, np.radians(h[1]) * mirror, np.radians(h[2]) * mirror
        )
        q_knee = cols.from_cardan_zxy(
            np.radians(k[0]) * -1.0, np.radians(k[1]) * mirror, np.radians(k[2]) * mirror
        )
        q_femur = cols.multiply(q_pelvis, q_hip)
        return q_femur, cols.multiply(q_femur, q_knee)

    def _truth(
        self,
        t_s: FloatArray,
        w: FloatArray,
        s: FloatArray,
        idx: IntArray,
        *,
        solve: bool,
        rotate: bool = True,
    ) -> TruthColumns:
        """Truth for setup progress ``w``, rep progress ``s`` and rep indices ``idx``
        (``solve=False``: the legs as commanded even when the exercise plants them, and
        ``rotate=False``: both hips at rotation 0; used to find where the feet are planted)."""
        p, tpl, body = self.params, self.template, self.params.body
        n = t_s.shape[0]
        top_offset = self.depth_deg - tpl.depth_default_deg
        rep_offset = self.rep_depth_deg[idx] - tpl.depth_default_deg
        onset = p.pelvis_excursion_onset
        lift = s if onset == 0 else minimum_jerk((s - onset) / (1.0 - onset))
        yaw = w * p.pelvis_yaw_offset_deg + lift * p.pelvis_yaw_excursion_deg
        if not tpl.pelvis_yaw_toward_work.is_still:
            toward = _ramp(tpl.pelvis_yaw_toward_work, top_offset, rep_offset, w, s)
            yaw = yaw - side_sign(self.working_side) * toward
        pelvis_deg: VecCols = (
            _ramp(tpl.pelvis_tilt, top_offset, rep_offset, w, s)
            + w * p.pelvis_tilt_offset_deg
            + lift * p.pelvis_tilt_excursion_deg,
            w * p.pelvis_obliquity_offset_deg + lift * p.pelvis_obliquity_excursion_deg,
            yaw,
        )
        q_pelvis = self._pelvis_quat_wxyz(*pelvis_deg)

        work_flexion = _ramp(self._work_hip_flexion, top_offset, rep_offset, w, s)
        if p.hip_flexion_offset_deg != 0:
            work_flexion = work_flexion + w * p.hip_flexion_offset_deg
        work_adduction = _ramp(tpl.work_hip_adduction, top_offset, rep_offset, w, s)
        if p.hip_adduction_offset_deg != 0:
            work_adduction = work_adduction + w * p.hip_adduction_offset_deg
        work_ir = _rotation(self.hip_ir_top_deg, self.rep_hip_ir_working_deg[idx], w, s)
        other_ir = _rotation(self.hip_ir_other_top_deg, self.rep_hip_ir_other_deg[idx], w, s)
        if not rotate:
            work_ir, other_ir = np.zeros_like(s), np.zeros_like(s)
        pelvis_m: VecCols | None = None
        if tpl.anchor == "pelvis":
            pelvis_m = cols.vec_cols(np.broadcast_to(self._anchor_m, (n, 3)))
        if solve and tpl.both_feet_planted and pelvis_m is not None:
            work = self._planted_leg(self.working_side, work_ir, q_pelvis, pelvis_m)
        else:
            work_knee = _ramp(tpl.work_knee_flexion, top_offset, rep_offset, w, s)
            if p.front_knee_back_deg != 0:
                work_knee = work_knee - s * self.rep_knee_back_deg[idx]
            work = self._commanded_leg(
                self.working_side, work_flexion, work_knee, work_ir, work_adduction
            )
        q_femur_w, q_tibia_w = self._segments(self.working_side, q_pelvis, work)
        links_w = leg_links_m(body, self.working_side, q_pelvis, q_femur_w, q_tibia_w)
        if pelvis_m is None:
            a, reach = self._anchor_m, links_w.pelvis_to_ankle_m
            pelvis_m = (a[0] - reach[0], a[1] - reach[1], a[2] - reach[2])

        if solve and tpl.both_feet_planted:
            other = self._planted_leg(self.other_side, other_ir, q_pelvis, pelvis_m)
        elif solve and tpl.other_leg_planted:
            other = self._stepping_leg(w, other_ir, q_pelvis, pelvis_m)
        else:
            other = self._commanded_leg(
                self.other_side,
                _ramp(tpl.other_hip_flexion, top_offset, rep_offset, w, s),
                _ramp(tpl.other_knee_flexion, top_offset, rep_offset, w, s),
                other_ir,
                _ramp(tpl.other_hip_adduction, top_offset, rep_offset, w, s),
            )
        q_femur_o, q_tibia_o = self._segments(self.other_side, q_pelvis, other)
        links_o = leg_links_m(body, self.other_side, q_pelvis, q_femur_o, q_tibia_o)

        quats: dict[SegmentName, QuatCols] = {"pelvis": q_pelvis}
        origins: dict[SegmentName, VecCols] = {"pelvis": pelvis_m}
        ankles: dict[Side, VecCols] = {}
        hip_deg: dict[Side, VecCols] = {}
        knee_deg: dict[Side, VecCols] = {}
        legs: tuple[tuple[Side, _Leg, QuatCols, QuatCols, LegLinks], ...] = (
            (self.working_side, work, q_femur_w, q_tibia_w, links_w),
            (self.other_side, other, q_femur_o, q_tibia_o, links_o),
        )
        for side, leg, q_femur, q_tibia, links in legs:
            femur: SegmentName = "femur_r" if side == "r" else "femur_l"
            tibia: SegmentName = "tibia_r" if side == "r" else "tibia_l"
            hip_m, knee_m, ankle_m = links.positions_m(pelvis_m)
            quats[femur], quats[tibia] = q_femur, q_tibia
            origins[femur], origins[tibia], ankles[side] = hip_m, knee_m, ankle_m
            hip_deg[side], knee_deg[side] = leg.hip_deg, leg.knee_deg
        sch = self.schedule
        if sch.reps > 0:
            in_rep = (t_s >= sch.start_t_s[idx]) & (t_s <= sch.end_t_s[idx])
        else:
            in_rep = np.zeros(t_s.shape, dtype=bool)
        return TruthColumns(
            t_s=t_s,
            progress=s,
            rep_index=np.where(in_rep, idx, -1),
            pelvis_deg=pelvis_deg,
            quats=quats,
            origins=origins,
            ankles=ankles,
            hip_deg=hip_deg,
            knee_deg=knee_deg,
        )

    def _planted_leg(
        self, side: Side, ir_deg: FloatArray, q_pelvis: QuatCols, pelvis_m: VecCols
    ) -> _Leg:
        """A leg whose ankle stays at its target (solved, not commanded; hip IR commanded)."""
        body = self.params.body
        sign = side_sign(side)
        target = self._ankle_targets_m[side]
        to_target = (target[0] - pelvis_m[0], target[1] - pelvis_m[1], target[2] - pelvis_m[2])
        from_pelvis = cols.rotate(cols.conjugate(q_pelvis), to_target)
        centre = body.hip_centre_in_pelvis_m(side)
        solution = solve_leg_to_ankle(
            body,
            (from_pelvis[0] - centre[0], from_pelvis[1] - centre[1], from_pelvis[2] - centre[2]),
            np.radians(sign * ir_deg),
        )
        flexion_rad, beta_rad, gamma_rad = solution.hip_rotation_rad
        hip: VecCols = (
            np.degrees(flexion_rad) * 1.0,
            np.degrees(beta_rad) * sign,
            np.degrees(gamma_rad) * sign,
        )
        return _Leg(hip_deg=hip, knee_deg=self._knee_deg(np.degrees(solution.knee_flexion_rad)))

    def _stepping_leg(
        self, w: FloatArray, ir_deg: FloatArray, q_pelvis: QuatCols, pelvis_m: VecCols
    ) -> _Leg:
        """The other leg of a planted stance: while stepping (``w < 1``: the setup, the moves
        between sets) its angles blend between the neutral pose and the planted solution at
        the top (the foot is not planted), in the top position (``w = 1``) its foot stays
        planted (solved)."""
        neutral, top = self._other_neutral.hip_deg, self._other_top.hip_deg
        hip = [neutral[k] + w * (top[k] - neutral[k]) for k in range(3)]
        knee_flexion = w * self._other_top.knee_deg[0][0]
        planted = w >= 1.0
        if np.any(planted):
            q, m = q_pelvis, pelvis_m
            solved = self._planted_leg(
                self.other_side,
                ir_deg[planted],
                (q[0][planted], q[1][planted], q[2][planted], q[3][planted]),
                (m[0][planted], m[1][planted], m[2][planted]),
            )
            for k in range(3):
                hip[k][planted] = solved.hip_deg[k]
            knee_flexion[planted] = solved.knee_deg[0]
        return _Leg(hip_deg=(hip[0], hip[1], hip[2]), knee_deg=self._knee_deg(knee_flexion))
