"""Which exercise a recorded set is: interpretable features and a nearest-prototype scorer.

The user declares the exercise of a set; :func:`recognize_exercise` checks it (and lets the
command line offer ``--exercise auto``). It works on a fused :class:`~coxa.fusion.AngleTable`
alone, with or without a pelvis board, and does not need the exercise's rep segmentation.

**Reps.** The *depth* of a leg is the larger of its knee flexion and hip flexion (as the rep
segmentation's, :mod:`coxa.analysis._exercise_params`); the set's depth signal is the deeper
leg's. Its peaks with a prominence of at least ``min_prominence_deg`` are the rep bottoms; a
rep's top is the lowest depth before its bottom (since the previous bottom, at most
``lookback_s`` back). Bottom values are means over the rows around the bottom whose depth is
within ``bottom_window_deg`` of the peak, top values means over the rows around the top within
``top_window_deg`` of the lowest depth. Per rep, the **lead** leg is the one with the larger
hip flexion at the bottom (the front leg of a split squat, the stance leg of a step-up or a
hinge; either leg in a squat), the other leg is the **other** (rear, trailing) leg.

**Features** (:data:`RECOGNITION_FEATURES`; the rep features are medians over the reps, so
one odd rep does not decide, and over the reps after the first when there are two or more: the
first rep's top can be the standing rest before the step into a split stance or onto the box):

- ``swing_to_depth``: in windows of ``swing_window_s`` (a quarter window apart) where the
  depth or the right-minus-left hip rotation moves at least ``min_prominence_deg``, the range
  of the hip rotation difference over the range of the depth (at least 5 deg); the median
  over those windows. In 90/90 transitions the knees swing from side to side, one hip turning
  into internal rotation while the other turns into external rotation, while the depth hardly
  changes: far above 1. Standing exercises bend the legs much more than they counter-rotate
  the hips: below about 2. (Windows, not the whole set, so getting into position, e.g. from
  standing to sitting on the floor, does not decide.)
- ``seated_fraction``: share of the rows with both thighs at least ``seated_thigh_deg`` from
  the vertical (from ``quat_world_segment_wxyz``; hip flexion without it) and both knees
  flexed at least ``seated_knee_deg``: seated on the floor (90/90) versus standing.
- ``knee_to_hip`` (pelvis board only): lead knee flexion excursion over lead hip flexion
  excursion. A hinge flexes the hip with the knee nearly straight (below about 0.5); squats,
  split squats and step-ups bend the knee as much as the hip or more (about 1-2). Without a
  pelvis board the hip columns are thigh inclinations relative to the room, and a hinge's
  forward pelvis tilt (the hip flexion) is not measured, so the ratio is not used.
- ``forward_tilt_deg`` (pelvis board only): forward (anterior) pelvis tilt from top to bottom,
  ``-Δpelvis_tilt`` (OpenSim's ``pelvis_tilt`` is positive backward). About 45-60 deg in a
  hinge, under 20 deg otherwise.
- ``hip_asymmetry_deg``: lead minus other hip flexion at the bottom: about 0 in a bilateral
  squat, 15-20 in the staggered-stance hinge, 40-110 in split squats and step-ups.
- ``other_to_lead_knee``: other-knee excursion over lead-knee excursion (the lead's at least
  10 deg): about 1 in squats, 0.8-1.3 in split squats (the rear knee bends deeply), under 0.2
  in step-ups (the trailing leg hangs nearly straight).
- ``rear_minus_front_knee_deg``: other minus lead knee flexion at the bottom. In the flat split
  squat the rear knee bends more than the front one (about 8-15 deg); with the front foot
  elevated the front knee bends as much or more (about -6 to +6 deg).
- ``other_hip_top_deg``: other hip flexion at the top. The rear hip of a long split stance is
  extended about 30 deg, that of the shorter front-foot-elevated stance about 15 deg, and
  about 10 deg in the staggered hinge; 0 in squats and step-ups.
- ``turn_toward_lead_deg`` (pelvis board only): pelvis turn toward the lead leg from top to
  bottom (``-Δpelvis_rotation`` for a right lead leg, ``+`` for a left one): about 10 deg in
  the cable crossover step-up, 0 in a plain step-up.

**Scorer.** Each exercise has a prototype (:class:`Prototype`): for some features a range of
expected values and a tolerance. An exercise's *penalty* is the sum over its features of
``(distance outside the range / tolerance)²`` (0 inside the range; features that are NaN,
such as the pelvis features without a pelvis board, are left out). The lowest penalty wins;
the *scores* are ``exp(-penalty / 2)`` normalised to sum to 1; the *margin* is the runner-up's
penalty minus the winner's. The recognition is *confident* when the winner's penalty is at
most ``max_penalty`` and the margin at least ``min_margin``. The ranges are [derived] from
the simulator's exercise templates (``coxa.sim.TEMPLATES``, ``docs/simulator.md``) by
running the features on the true angles over each exercise's whole depth range and on 181
simulated sets of ``tools/rep_accuracy.py`` drawn with seeds 1000-1014 (the accuracy tool
measures on seeds from 0, disjoint), then rounded outward; the tolerances are [assumption]
(a few degrees: more than the fused angles' error, ``docs/analysis.md``). They describe the
simulator's postures: stance lengths, box heights and pelvis motion of real athletes vary,
so real recordings may need wider ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import find_peaks

from coxa.analysis._exercise_params import EXERCISE_IDS, ExerciseId, exercise_id
from coxa.fusion import AngleTable, HipReference
from coxa.geometry import FloatArray, Side

_SIDES: tuple[Side, ...] = ("r", "l")
_INF = math.inf

#: Feature names with their meaning in plain words (used in the reason of a recognition).
RECOGNITION_FEATURES: Mapping[str, str] = {
    "swing_to_depth": "right-minus-left hip rotation swing over depth swing",
    "seated_fraction": "share of the set seated (thighs and knees both flexed)",
    "knee_to_hip": "lead knee excursion over lead hip flexion excursion",
    "forward_tilt_deg": "forward pelvis tilt into the bottom, deg",
    "hip_asymmetry_deg": "lead minus other hip flexion at the bottom, deg",
    "other_to_lead_knee": "other-knee excursion over lead-knee excursion",
    "rear_minus_front_knee_deg": "other minus lead knee flexion at the bottom, deg",
    "other_hip_top_deg": "other hip flexion at the top, deg",
    "turn_toward_lead_deg": "pelvis turn toward the lead leg into the bottom, deg",
}
#: Columns the recognition needs (both legs instrumented with a thigh and a shank board).
REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    f"{joint}_{side}" for side in _SIDES for joint in ("hip_flexion", "hip_rotation", "knee_angle")
)


@dataclass(frozen=True)
class FeatureRange:
    """Expected values of one feature in one exercise.

    Attributes
    ----------
    feature : str
        One of :data:`RECOGNITION_FEATURES`.
    low, high : float
        Range of the expected values (``-inf``/``inf`` for an open end), in the feature's unit.
    tolerance : float
        Distance outside the range that costs a penalty of 1 (the penalty grows with its
        square), in the feature's unit; > 0.
    """

    feature: str
    low: float
    high: float
    tolerance: float

    def __post_init__(self) -> None:
        if self.feature not in RECOGNITION_FEATURES:
            raise ValueError(
                f"unknown feature {self.feature!r}; known: {', '.join(RECOGNITION_FEATURES)}"
            )
        if not self.low <= self.high or not self.tolerance > 0:
            raise ValueError(f"{self.feature}: need low <= high and tolerance > 0")

    def penalty(self, value: float) -> float:
        """``(distance of value outside the range / tolerance)²``; 0 for NaN."""
        if math.isnan(value):
            return 0.0
        distance = max(self.low - value, value - self.high, 0.0)
        return (distance / self.tolerance) ** 2

    def describe(self) -> str:
        """The range in words, e.g. ``'10..25'`` or ``'>= 6'``."""
        if self.low == -_INF:
            return f"<= {self.high:g}"
        if self.high == _INF:
            return f">= {self.low:g}"
        return f"{self.low:g}..{self.high:g}"


@dataclass(frozen=True)
class Prototype:
    """The expected features of one exercise.

    Attributes
    ----------
    exercise : str
        Exercise id (:data:`~coxa.analysis.EXERCISE_IDS`).
    ranges : tuple of FeatureRange
        Expected values; features without a range do not count for this exercise.
    """

    exercise: ExerciseId
    ranges: tuple[FeatureRange, ...]

    def penalty(self, features: Mapping[str, float]) -> float:
        """Sum of the ranges' penalties for the given features (missing ones count 0)."""
        return sum(r.penalty(features.get(r.feature, math.nan)) for r in self.ranges)


def _r(feature: str, low: float, high: float, tolerance: float) -> FeatureRange:
    return FeatureRange(feature, low, high, tolerance)


# Ranges shared by the standing exercises: not seated, and the hips counter-rotate much less
# than the legs bend; tolerances [assumption].
_STANDING = (_r("swing_to_depth", 0.0, 2.0, 1.0), _r("seated_fraction", 0.0, 0.45, 0.25))
# Knee-dominant exercises (everything but the hinge): the knee bends at least as much as the
# hip, and the pelvis does not tilt forward like a hinge's.
_KNEE_DOMINANT = (_r("knee_to_hip", 0.9, 2.0, 0.15), _r("forward_tilt_deg", -5.0, 25.0, 8.0))
_STEP_UP = (
    *_STANDING,
    *_KNEE_DOMINANT,
    _r("hip_asymmetry_deg", 35.0, 115.0, 8.0),
    _r("other_to_lead_knee", 0.0, 0.3, 0.1),
    _r("rear_minus_front_knee_deg", -120.0, -25.0, 8.0),
    _r("other_hip_top_deg", -5.0, 5.0, 3.0),
)

#: Default prototypes, one per exercise: ranges [derived] from the simulator's templates (module
#: docstring: simulated sets over each exercise's whole depth range, rounded outward),
#: tolerances [assumption].
DEFAULT_PROTOTYPES: tuple[Prototype, ...] = (
    Prototype(
        "squat",
        (
            *_STANDING,
            *_KNEE_DOMINANT,
            _r("hip_asymmetry_deg", 0.0, 6.0, 4.0),
            _r("other_to_lead_knee", 0.85, 1.15, 0.1),
            _r("rear_minus_front_knee_deg", -5.0, 5.0, 3.0),
            _r("other_hip_top_deg", -5.0, 5.0, 3.0),
        ),
    ),
    Prototype(
        "split_squat",
        (
            *_STANDING,
            *_KNEE_DOMINANT,
            _r("hip_asymmetry_deg", 50.0, 100.0, 8.0),
            _r("other_to_lead_knee", 0.75, 1.4, 0.1),
            _r("rear_minus_front_knee_deg", 5.0, 18.0, 3.0),
            _r("other_hip_top_deg", -34.0, -24.0, 3.0),
        ),
    ),
    Prototype(
        "ffe_split_squat",
        (
            *_STANDING,
            *_KNEE_DOMINANT,
            _r("hip_asymmetry_deg", 40.0, 100.0, 8.0),
            _r("other_to_lead_knee", 0.75, 1.4, 0.1),
            _r("rear_minus_front_knee_deg", -8.0, 7.0, 3.0),
            _r("other_hip_top_deg", -20.0, -9.0, 3.0),
        ),
    ),
    Prototype("step_up", (*_STEP_UP, _r("turn_toward_lead_deg", -3.0, 3.0, 2.0))),
    Prototype("crossover_step_up", (*_STEP_UP, _r("turn_toward_lead_deg", 6.0, 14.0, 2.0))),
    Prototype(
        "hinge",
        (
            *_STANDING,
            _r("knee_to_hip", 0.0, 0.6, 0.15),
            _r("forward_tilt_deg", 35.0, 70.0, 8.0),
            _r("hip_asymmetry_deg", 10.0, 25.0, 5.0),
            _r("rear_minus_front_knee_deg", 3.0, 22.0, 4.0),
            _r("other_hip_top_deg", -14.0, -5.0, 3.0),
        ),
    ),
    Prototype(
        "90_90",
        (_r("swing_to_depth", 4.0, _INF, 1.5), _r("seated_fraction", 0.5, 1.0, 0.25)),
    ),
)


def _default_prototypes() -> tuple[Prototype, ...]:
    return DEFAULT_PROTOTYPES


@dataclass(frozen=True)
class RecognizeParams:
    """Parameters of :func:`recognize_exercise`.

    Attributes
    ----------
    min_prominence_deg : float
        A peak of the depth signal is a rep bottom when it stands out this far above the
        lower of its two neighbouring valleys, degrees. Default 15 [assumption: below the 20
        deg of the shallowest rep the rep counter counts (a quarter squat), above the fused
        angles' noise].
    min_rep_interval_s : float
        Two rep bottoms are at least this far apart, seconds. Default 0.8 [assumption: a
        brisk rep takes more than 1 s].
    lookback_s : float
        A rep's top is looked for at most this long before its bottom, seconds. Default 3
        [assumption: longer than the slowest descent, as ``RepParams.lookback_s``].
    bottom_window_deg : float
        Bottom values are means over the rows whose depth is within this of the peak,
        degrees. Default 5 [src: issue 6 definition of the bottom window].
    top_window_deg : float
        Top values are means over the rows whose depth is within this of the top, degrees.
        Default 3 [assumption].
    seated_thigh_deg : float
        A thigh at least this far from the vertical counts as seated, degrees. Default 50
        [assumption: standing thighs are near vertical, seated ones near horizontal].
    seated_knee_deg : float
        A knee flexed at least this far counts as seated, degrees. Default 60 [assumption].
    swing_window_s : float
        Window of ``swing_to_depth``, seconds. Default 4 [assumption: about one rep or one
        90/90 swing].
    min_duration_s : float
        Shorter tables are refused, seconds. Default 3 [assumption: less than one rep].
    max_penalty : float
        A recognition is confident only when the winner's penalty is at most this. Default
        9 [assumption: one feature three tolerances outside its range].
    min_margin : float
        ... and the runner-up's penalty exceeds it by at least this. Default 4 [assumption:
        one feature two tolerances further off].
    prototypes : tuple of Prototype
        One per exercise. Default :data:`DEFAULT_PROTOTYPES`.
    """

    min_prominence_deg: float = 15.0
    min_rep_interval_s: float = 0.8
    lookback_s: float = 3.0
    bottom_window_deg: float = 5.0
    top_window_deg: float = 3.0
    seated_thigh_deg: float = 50.0
    seated_knee_deg: float = 60.0
    swing_window_s: float = 4.0
    min_duration_s: float = 3.0
    max_penalty: float = 9.0
    min_margin: float = 4.0
    prototypes: tuple[Prototype, ...] = field(default_factory=_default_prototypes)

    def __post_init__(self) -> None:
        positive = (
            "min_prominence_deg",
            "min_rep_interval_s",
            "lookback_s",
            "bottom_window_deg",
            "top_window_deg",
            "swing_window_s",
            "min_duration_s",
        )
        for name in positive:
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"RecognizeParams.{name} must be > 0, got {value}")
        if self.max_penalty < 0 or self.min_margin < 0:
            raise ValueError("RecognizeParams: max_penalty and min_margin must be >= 0")
        seen = [p.exercise for p in self.prototypes]
        if sorted(seen) != sorted(EXERCISE_IDS):
            raise ValueError(
                f"RecognizeParams.prototypes must hold one prototype per exercise "
                f"({', '.join(EXERCISE_IDS)}), got {', '.join(seen) or 'none'}"
            )


@dataclass(frozen=True)
class Recognition:
    """Result of :func:`recognize_exercise`.

    Attributes
    ----------
    exercise : str or None
        Best-fitting exercise id; None when the set holds no movement to recognise (no rep and
        no 90/90 swing).
    confident : bool
        The winner fits (penalty at most ``max_penalty``) and beats the runner-up by at least
        ``min_margin``.
    scores : mapping of str to float
        Per exercise, ``exp(-penalty / 2)`` normalised to sum to 1.
    penalties : mapping of str to float
        Per exercise, the prototype's penalty (0: every feature within its range).
    margin : float
        Runner-up's penalty minus the winner's.
    features : mapping of str to float
        The features (:data:`RECOGNITION_FEATURES`) and ``reps`` (rep bottoms found); NaN when not
        available.
    hip_reference : {'pelvis', 'room'}
        The table's hip reference (``'room'``: no pelvis board, the pelvis features are NaN).
    reason : str
        Why, in plain words with the numbers.
    """

    exercise: ExerciseId | None
    confident: bool
    scores: Mapping[ExerciseId, float]
    penalties: Mapping[ExerciseId, float]
    margin: float
    features: Mapping[str, float]
    hip_reference: HipReference
    reason: str

    def mismatch_warning(self, declared: str) -> str | None:
        """A warning when the set confidently looks like another exercise than the declared
        one, else None.

        Parameters
        ----------
        declared : str
            Declared exercise id (``-`` accepted for ``_``).

        Raises
        ------
        ValueError
            Unknown exercise.
        """
        declared_id = exercise_id(declared)
        if self.exercise is None or not self.confident or self.exercise == declared_id:
            return None
        extra = self.penalties[declared_id] - self.penalties[self.exercise]
        return (
            f"The set was declared as {declared_id} but it moves like {self.exercise} "
            f"(score {self.scores[self.exercise]:.2f}; {declared_id} fits worse by "
            f"{extra:.1f} penalty points). {self.reason} Check the declared exercise: the "
            f"analysis uses {declared_id}'s demand and rules."
        )


def _filled(t_s: FloatArray, values: FloatArray) -> FloatArray:
    """Linear interpolation over NaN rows (radio gaps); all-NaN columns stay NaN."""
    ok = np.isfinite(values)
    if ok.all() or not ok.any():
        return values
    return np.interp(t_s, t_s[ok], values[ok])


def _around(signal: FloatArray, index: int, width: float) -> slice:
    """Contiguous rows around ``index`` whose signal is at least its value there minus
    ``width``."""
    keep = signal >= signal[index] - width
    below_before = np.flatnonzero(~keep[:index])
    below_after = np.flatnonzero(~keep[index:])
    start = int(below_before[-1]) + 1 if below_before.size else 0
    stop = index + int(below_after[0]) if below_after.size else signal.size
    return slice(start, stop)


def thigh_inclination_deg(quat_world_femur_wxyz: FloatArray) -> FloatArray:
    """Angle of the femur's long axis from the world vertical, degrees, ``(n,)``.

    0 standing, about 90 with the thigh horizontal (deep squat bottom, seated).

    Parameters
    ----------
    quat_world_femur_wxyz : ndarray, shape (n, 4)
        Femur orientation in the world (Z up), ``wxyz``.
    """
    q = quat_world_femur_wxyz
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    # World Z component of the segment's Y (long) axis: second column, third row of R(q).
    axis_z = 2.0 * (y * z + w * x)
    return np.degrees(np.arccos(np.clip(axis_z, -1.0, 1.0)))


def _checked_columns(
    table: AngleTable, p: RecognizeParams
) -> tuple[FloatArray, dict[str, FloatArray]]:
    """Times (s from the first row) and NaN-filled columns; ValueError on unusable input."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.angles_deg]
    if missing:
        raise ValueError(
            f"exercise recognition needs both legs instrumented (thigh and shank boards): the "
            f"angle table lacks {', '.join(missing)}"
        )
    t_us = np.asarray(table.t_us, dtype=np.float64)
    if t_us.size < 2 or not np.all(np.isfinite(t_us)) or np.any(np.diff(t_us) <= 0):
        raise ValueError(
            f"exercise recognition needs at least two rows with strictly increasing times, "
            f"got {t_us.size} rows"
        )
    duration_s = float(t_us[-1] - t_us[0]) / 1e6
    if duration_s < p.min_duration_s:
        raise ValueError(
            f"the angle table lasts {duration_s:.2f} s, too short to recognise an exercise "
            f"(at least {p.min_duration_s:g} s)"
        )
    t_s = (t_us - t_us[0]) / 1e6
    empty = [c for c in REQUIRED_COLUMNS if not np.isfinite(table.angles_deg[c]).any()]
    if empty:
        raise ValueError(f"exercise recognition: no finite value in {', '.join(empty)}")
    columns = {
        name: _filled(t_s, np.asarray(values, dtype=np.float64))
        for name, values in table.angles_deg.items()
    }
    return t_s, columns


def _swing_to_depth(
    t_s: FloatArray, swing: FloatArray, drive: FloatArray, p: RecognizeParams
) -> float:
    """Median over the active windows of the swing's range over the depth's range (module
    docstring); NaN without an active window."""
    window_s = p.swing_window_s
    last_start = max(float(t_s[-1]) - window_s, 0.0)
    starts = np.arange(0.0, last_start + 1e-9, window_s / 4.0)
    begin = np.searchsorted(t_s, starts, side="left")
    end = np.searchsorted(t_s, starts + window_s, side="right")
    ratios: list[float] = []
    for a, b in zip(begin.tolist(), end.tolist(), strict=True):
        if b - a < 2:
            continue
        swing_range = float(np.ptp(swing[a:b]))
        depth_range = float(np.ptp(drive[a:b]))
        if max(swing_range, depth_range) >= p.min_prominence_deg:
            ratios.append(swing_range / max(depth_range, 5.0))
    return float(np.median(ratios)) if ratios else math.nan


def _set_features(
    table: AngleTable,
    t_s: FloatArray,
    columns: dict[str, FloatArray],
    drive: FloatArray,
    p: RecognizeParams,
) -> dict[str, float]:
    swing = columns["hip_rotation_r"] - columns["hip_rotation_l"]
    thighs: list[FloatArray] = []
    for side in _SIDES:
        quat = table.quat_world_segment_wxyz.get(f"femur_{side}")
        thighs.append(
            columns[f"hip_flexion_{side}"] if quat is None else thigh_inclination_deg(quat)
        )
    with np.errstate(invalid="ignore"):
        seated = (
            (thighs[0] >= p.seated_thigh_deg)
            & (thighs[1] >= p.seated_thigh_deg)
            & (columns["knee_angle_r"] >= p.seated_knee_deg)
            & (columns["knee_angle_l"] >= p.seated_knee_deg)
        )
    return {
        "swing_to_depth": _swing_to_depth(t_s, swing, drive, p),
        "seated_fraction": float(np.mean(seated)),
    }


def _rep_features(columns: dict[str, FloatArray], top: slice, bottom: slice) -> dict[str, float]:
    """The rep features of one rep (top and bottom rows)."""
    at_top = {name: float(np.mean(values[top])) for name, values in columns.items()}
    at_bottom = {name: float(np.mean(values[bottom])) for name, values in columns.items()}
    lead: Side = "r" if at_bottom["hip_flexion_r"] >= at_bottom["hip_flexion_l"] else "l"
    other: Side = "l" if lead == "r" else "r"

    def change(name: str) -> float:
        return at_bottom[name] - at_top[name] if name in at_top else math.nan

    knee_lead, knee_other = change(f"knee_angle_{lead}"), change(f"knee_angle_{other}")
    hip_lead = change(f"hip_flexion_{lead}")
    toward_lead = -1.0 if lead == "r" else 1.0
    return {
        "knee_to_hip": knee_lead / max(hip_lead, 5.0),
        "forward_tilt_deg": -change("pelvis_tilt"),
        "hip_asymmetry_deg": at_bottom[f"hip_flexion_{lead}"] - at_bottom[f"hip_flexion_{other}"],
        "other_to_lead_knee": knee_other / max(knee_lead, 10.0),
        "rear_minus_front_knee_deg": at_bottom[f"knee_angle_{other}"]
        - at_bottom[f"knee_angle_{lead}"],
        "other_hip_top_deg": at_top[f"hip_flexion_{other}"],
        "turn_toward_lead_deg": toward_lead * change("pelvis_rotation"),
    }


def exercise_features(table: AngleTable, params: RecognizeParams | None = None) -> dict[str, float]:
    """The recognition features of a set (module docstring), NaN where not available.

    Parameters
    ----------
    table : AngleTable
        Fused rows of one set, strictly increasing times; both legs instrumented.
    params : RecognizeParams, optional
        Thresholds; default ``RecognizeParams()``.

    Returns
    -------
    dict of str to float
        Every name of :data:`RECOGNITION_FEATURES`, plus ``reps`` (rep bottoms found).

    Raises
    ------
    ValueError
        A required column is missing or empty (:data:`REQUIRED_COLUMNS`), the times are not
        strictly increasing, or the table is shorter than ``min_duration_s``.
    """
    p = params if params is not None else RecognizeParams()
    t_s, columns = _checked_columns(table, p)
    depth = [
        np.fmax(columns[f"knee_angle_{side}"], columns[f"hip_flexion_{side}"]) for side in _SIDES
    ]
    drive = np.fmax(depth[0], depth[1])
    out = _set_features(table, t_s, columns, drive, p)
    step_s = float(np.median(np.diff(t_s)))
    peaks, _ = find_peaks(
        drive,
        prominence=p.min_prominence_deg,
        distance=max(1, round(p.min_rep_interval_s / step_s)),
    )
    lookback = max(1, round(p.lookback_s / step_s))
    per_rep: dict[str, list[float]] = {}
    previous = 0
    for peak in peaks.tolist():
        start = max(previous, peak - lookback)
        previous = peak
        lowest = start + int(np.argmin(drive[start : peak + 1]))
        top = _around(-drive, lowest, p.top_window_deg)
        bottom = _around(drive, peak, p.bottom_window_deg)
        for name, value in _rep_features(columns, top, bottom).items():
            per_rep.setdefault(name, []).append(value)
    for name in RECOGNITION_FEATURES:
        if name in out:
            continue
        # The first rep's top can be the standing rest before the step into a split stance
        # or onto the box: with later reps, those alone describe the set.
        values = np.asarray(per_rep.get(name, [])[1 if peaks.size >= 2 else 0 :], dtype=np.float64)
        values = values[np.isfinite(values)]
        out[name] = float(np.median(values)) if values.size else math.nan
    if table.hip_reference == "room":
        # Hip flexion relative to the room is the thigh's inclination: a hinge's forward
        # pelvis tilt is missing from it, so the ratio no longer tells a hinge.
        out["knee_to_hip"] = math.nan
    out["reps"] = float(peaks.size)
    return out


def _words(feature: str, hip_reference: HipReference) -> str:
    """A feature in plain words; without a pelvis board the hip columns are the femur relative
    to the room and are named so."""
    words = RECOGNITION_FEATURES[feature]
    if hip_reference == "room":
        words = words.replace("hip rotation", "femoral rotation (relative to the room)")
        words = words.replace("hip flexion", "femoral flexion (relative to the room)")
    return words


def _fmt(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def _reason(
    best: ExerciseId,
    runner_up: ExerciseId,
    prototypes: Mapping[ExerciseId, Prototype],
    penalties: Mapping[ExerciseId, float],
    features: Mapping[str, float],
    hip_reference: HipReference,
) -> str:
    fits = [
        f"{_words(r.feature, hip_reference)} {_fmt(features[r.feature])} (expected {r.describe()})"
        for r in prototypes[best].ranges
        if math.isfinite(features.get(r.feature, math.nan))
    ]
    text = f"Looks like {best}: " + "; ".join(fits) + "."
    misfits = sorted(
        (
            (r.penalty(features.get(r.feature, math.nan)), r)
            for r in prototypes[runner_up].ranges
            if math.isfinite(features.get(r.feature, math.nan))
        ),
        key=lambda item: -item[0],
    )
    if misfits and misfits[0][0] > 0:
        worst = misfits[0][1]
        text += (
            f" Next best {runner_up} (penalty {penalties[runner_up]:.1f} against "
            f"{penalties[best]:.1f}): {_words(worst.feature, hip_reference)} "
            f"{_fmt(features[worst.feature])} is outside its {worst.describe()}."
        )
    else:
        text += (
            f" {runner_up} fits as well (penalty {penalties[runner_up]:.1f} against "
            f"{penalties[best]:.1f}): the features cannot tell them apart."
        )
    if hip_reference == "room":
        text += (
            " No pelvis board: the pelvis tilt and turn are not measured, so a hinge (its hip "
            "flexion is mostly forward pelvis tilt) and a cable crossover step-up (told from a "
            "step-up by the pelvis turn) may not be recognised."
        )
    return text


def recognize_exercise(table: AngleTable, params: RecognizeParams | None = None) -> Recognition:
    """Recognise which exercise a fused set is (module docstring).

    Parameters
    ----------
    table : AngleTable
        Fused rows of one set (or a session of sets of one exercise), strictly increasing
        times; both legs instrumented (:data:`REQUIRED_COLUMNS`), with or without a pelvis
        board.
    params : RecognizeParams, optional
        Thresholds and prototypes; default ``RecognizeParams()``.

    Returns
    -------
    Recognition

    Raises
    ------
    ValueError
        A required column is missing or empty, the times are not strictly increasing, or the
        table is shorter than ``params.min_duration_s``.
    """
    p = params if params is not None else RecognizeParams()
    features = exercise_features(table, p)
    prototypes: dict[ExerciseId, Prototype] = {proto.exercise: proto for proto in p.prototypes}
    penalties: dict[ExerciseId, float] = {e: prototypes[e].penalty(features) for e in EXERCISE_IDS}
    ranked = sorted(EXERCISE_IDS, key=lambda e: penalties[e])  # stable: ties keep id order
    best, runner_up = ranked[0], ranked[1]
    lowest = penalties[best]
    weights = {e: math.exp(-0.5 * (penalties[e] - lowest)) for e in EXERCISE_IDS}
    total = sum(weights.values())
    scores: dict[ExerciseId, float] = {e: weights[e] / total for e in EXERCISE_IDS}
    margin = penalties[runner_up] - lowest
    confident = lowest <= p.max_penalty and margin >= p.min_margin
    exercise: ExerciseId | None = best
    swing = features["swing_to_depth"]
    if features["reps"] == 0 and (best != "90_90" or math.isnan(swing)):
        # Neither a rep nor 90/90 swings (a 90/90 set needs the hips to swing: sitting still
        # on the floor is not one).
        exercise, confident = None, False
        swing_words = (
            "the hips do not counter-rotate"
            if math.isnan(swing)
            else f"{_words('swing_to_depth', table.hip_reference)} {_fmt(swing)}"
        )
        reason = (
            "No rep found: the depth (the larger of knee and hip flexion of the deeper leg) "
            f"never rose and fell by {p.min_prominence_deg:g} deg, and the hips do not swing "
            f"like 90/90 transitions ({swing_words})."
        )
    else:
        reason = _reason(best, runner_up, prototypes, penalties, features, table.hip_reference)
        if not confident:
            reason += (
                f" Not confident: penalty {lowest:.1f} (at most {p.max_penalty:g}) and margin "
                f"{margin:.1f} (at least {p.min_margin:g})."
            )
    return Recognition(
        exercise=exercise,
        confident=confident,
        scores=scores,
        penalties=penalties,
        margin=margin,
        features=features,
        hip_reference=table.hip_reference,
        reason=reason,
    )
