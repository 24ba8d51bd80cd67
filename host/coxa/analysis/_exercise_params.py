"""Rep segmentation parameters, per exercise (data, every value labelled).

The segmentation follows one *drive* signal per row (see :mod:`coxa.analysis._segment`):

- ``'depth'``: a leg's depth is the larger of its knee flexion and hip flexion, so
  knee-dominant patterns (squat, split squat, step-up) and hip-dominant ones (hinge) are
  segmented alike. ``legs='deepest'`` follows the deeper leg (unilateral work: the lead leg
  drives it), ``legs='both'`` the shallower one (a bilateral squat bends both legs; a single
  step of walking does not).
- ``'hip_flexion'``: the larger hip flexion of the two legs (hip-dominant patterns whose rear
  knee stays more bent at the top than the lead hip, such as the staggered-stance hinge).
- ``'rotation_swing'``: right minus left hip rotation. In 90/90 transitions the knees stay near
  90 deg while both knees swing to the other side, one hip going into internal rotation and the
  other into external rotation, so the difference swings by twice the rotation of each hip.
  The swing may go either way (``bidirectional``).

Every threshold is an [assumption] chosen for the exercise's movement and checked on the
simulator (``tools/rep_accuracy.py``); each exercise's comment says why its values differ
from the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

ExerciseId = Literal[
    "squat",
    "split_squat",
    "ffe_split_squat",
    "step_up",
    "crossover_step_up",
    "hinge",
    "90_90",
]
#: Exercise ids the analysis knows (command-line ids with ``-`` replaced by ``_``).
EXERCISE_IDS: tuple[ExerciseId, ...] = get_args(ExerciseId)

Drive = Literal["depth", "hip_flexion", "rotation_swing"]
DepthLegs = Literal["deepest", "both"]
BottomSignal = Literal["knee", "hip_flexion", "drive"]
LeadRule = Literal["both", "hip_flexion", "rotation"]


@dataclass(frozen=True)
class RepParams:
    """Thresholds of the rep segmentation and of the bottom window (defaults: bilateral squat).

    Attributes
    ----------
    drive : {'depth', 'hip_flexion', 'rotation_swing'}
        Signal that is segmented (module docstring). Default ``'depth'``.
    legs : {'deepest', 'both'}
        Depth drive: follow the deeper leg or the shallower one. Default ``'both'``.
    bidirectional : bool
        A rep may move the drive down as well as up (90/90 swings). Default False.
    start_rise_deg : float
        A rep is detected when the drive rises this far above its level at the last still
        moment (or the lowest level since then), degrees. Must exceed any rise of the drive
        that is not a rep, such as the step into a split stance. Default 10 [assumption].
    still_speed_deg_s : float
        The drive is *still* while it changes slower than this over ``speed_window_s``, deg/s.
        A rep starts at the last still row before its detection and ends at the first still
        row after it has come back. Default 10 [assumption: a controlled 90 deg descent in
        2 s peaks near 85 deg/s; the fused angles' noise over 0.1 s stays under 3 deg/s].
    speed_window_s : float
        Time span of the speed estimate (difference of the drive over this span), seconds.
        Default 0.1 [assumption].
    lookback_s : float
        A rep starts at most this long before its detection, seconds. Default 3 [assumption:
        longer than the slowest descent to the detection threshold].
    end_rise_deg : float
        A rep comes back once the drive is within this of its start level, degrees. Default 5
        [assumption].
    end_recovered_fraction : float
        ... or once this fraction of the rep's excursion is recovered, whichever comes first.
        Default 0.9 [assumption].
    end_still_fraction : float
        ... and a rep whose drive is still ends once this fraction of its excursion is
        recovered. Default 0.6 [assumption].
    end_max_wait_s : float
        A rep that has come back but keeps moving ends this long after it came back, seconds.
        Default 0.3 [assumption: keeps the report within 0.5 s of the rep's end].
    min_excursion_deg : float
        Excursions of the drive smaller than this are not reps, degrees. Default 15
        [assumption].
    min_duration_s : float
        Shorter excursions are not reps, seconds. Default 0.6 [assumption: longer than the
        swing phase of a walking step, about 0.4 s].
    start_window_s : float
        Start values of a rep (hip rotation, shank inclination, pelvis) are the first finite
        value within this of its start; NaN when the radio lost them all, seconds. Default 0.25
        [assumption].
    bottom_window_deg : float
        The bottom window of a leg holds the rep's samples where its bottom signal is within
        this of the signal's peak in the rep, degrees. Default 5 [src: issue 6 definition].
    bottom_signal : {'knee', 'hip_flexion', 'drive'}
        Signal of the bottom window: knee flexion (hip flexion without a knee column), hip
        flexion (hip-dominant exercises), or the drive itself (90/90). Default ``'knee'``.
    lead : {'both', 'hip_flexion', 'rotation'}
        How the lead (working) leg is found: both legs lead (bilateral), the leg with the larger
        peak hip flexion (front leg of a split squat, stance leg of a step-up or hinge), or the
        leg whose hip rotates most into internal rotation from the start to the bottom (90/90).
        Default ``'both'``.
    position_min_flexion_deg : float or None
        Exercises done in a position of their own (90/90: seated on the floor): a row counts
        only when both hips and both knees are flexed at least this much, degrees, and no rep
        starts before the drive has been still in the position (the recording starts
        standing, where the calibration's neutral pose is taken, and the move into the
        position is not a rep). None (default): every row counts.
    """

    drive: Drive = "depth"
    legs: DepthLegs = "both"
    bidirectional: bool = False
    start_rise_deg: float = 10.0
    still_speed_deg_s: float = 10.0
    speed_window_s: float = 0.1
    lookback_s: float = 3.0
    end_rise_deg: float = 5.0
    end_recovered_fraction: float = 0.9
    end_still_fraction: float = 0.6
    end_max_wait_s: float = 0.3
    min_excursion_deg: float = 15.0
    min_duration_s: float = 0.6
    start_window_s: float = 0.25
    bottom_window_deg: float = 5.0
    bottom_signal: BottomSignal = "knee"
    lead: LeadRule = "both"
    position_min_flexion_deg: float | None = None

    def __post_init__(self) -> None:
        positive = {
            "start_rise_deg": self.start_rise_deg,
            "still_speed_deg_s": self.still_speed_deg_s,
            "speed_window_s": self.speed_window_s,
            "lookback_s": self.lookback_s,
            "end_rise_deg": self.end_rise_deg,
            "bottom_window_deg": self.bottom_window_deg,
            "start_window_s": self.start_window_s,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"RepParams.{name} must be > 0, got {value}")
        for name in ("end_recovered_fraction", "end_still_fraction"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"RepParams.{name} must be in (0, 1], got {value}")
        if self.end_max_wait_s < 0 or self.min_duration_s < 0 or self.min_excursion_deg < 0:
            raise ValueError("RepParams: end_max_wait_s, min_duration_s, min_excursion_deg >= 0")
        if self.drive == "rotation_swing" and self.bottom_signal != "drive":
            raise ValueError("RepParams: a rotation_swing drive needs bottom_signal='drive'")

    @staticmethod
    def for_exercise(exercise: str) -> RepParams:
        """Parameters of an exercise (change fields with :func:`dataclasses.replace`).

        Parameters
        ----------
        exercise : str
            One of :data:`EXERCISE_IDS` (``-`` is accepted for ``_``).

        Raises
        ------
        ValueError
            Unknown exercise (the message lists the known ones).
        """
        return _BY_EXERCISE[exercise_id(exercise)]


def exercise_id(exercise: str) -> ExerciseId:
    """The analysis id of an exercise name (``-`` accepted for ``_``).

    Raises
    ------
    ValueError
        Unknown exercise (the message lists the known ones).
    """
    key = exercise.replace("-", "_")
    for known in EXERCISE_IDS:
        if known == key:
            return known
    raise ValueError(f"unknown exercise {exercise!r}; known: {', '.join(EXERCISE_IDS)}")


_UNILATERAL = RepParams(legs="deepest", lead="hip_flexion")

_BY_EXERCISE: dict[ExerciseId, RepParams] = {
    # Bilateral squat: defaults. No step into the stance, so a low start threshold counts
    # quarter squats (knee 20 deg) too.
    "squat": RepParams(),
    # Split squats: the step from the neutral pose into the split stance raises the front hip
    # flexion by up to about 25 deg with no pause before the first rep, so detection waits for
    # 30 deg [assumption]; the shallowest allowed rep still moves the depth by about 35 deg.
    "split_squat": replace(_UNILATERAL, start_rise_deg=30.0, min_excursion_deg=25.0),
    "ffe_split_squat": replace(_UNILATERAL, start_rise_deg=30.0, min_excursion_deg=25.0),
    # Step-ups: the lead leg stands on the box at the top, nothing bends before a rep.
    "step_up": replace(_UNILATERAL, start_rise_deg=15.0, min_excursion_deg=25.0),
    "crossover_step_up": replace(_UNILATERAL, start_rise_deg=15.0, min_excursion_deg=25.0),
    # Staggered-stance hinge: hip-dominant (knees soft, about 10-45 deg), so the bottom window
    # follows hip flexion; the step into the stance bends the front hip about 10 deg.
    # The rear knee (about 15 deg) is more bent than the lead hip (about 10 deg) at the top, so
    # the drive is hip flexion alone.
    "hinge": replace(
        _UNILATERAL,
        drive="hip_flexion",
        start_rise_deg=20.0,
        min_excursion_deg=30.0,
        bottom_signal="hip_flexion",
    ),
    # 90/90 transitions: segmented on the swing of right minus left hip rotation, in either
    # direction; bottom window at the far end of the swing.
    "90_90": RepParams(
        drive="rotation_swing",
        bidirectional=True,
        start_rise_deg=20.0,
        min_excursion_deg=30.0,
        bottom_signal="drive",
        lead="rotation",
        # Seated on the floor, hips at about 100-115 deg and knees at 90 [assumption: 60 deg
        # is far from standing and from the sitting down, and below every 90/90 pose].
        position_min_flexion_deg=60.0,
    ),
}
