"""Reps of an exercise set, live or offline, with per-leg values in each rep's bottom.

:class:`RepCounter` is fed :class:`~coxa.fusion.AngleTable` blocks as they come out of the
fusion core; :func:`segment_reps` runs it on a whole table. Both give the same reps for the
same rows (the segmentation in :mod:`coxa.analysis._segment` depends on the rows only). Per
exercise, :class:`~coxa.analysis.RepParams` says which signal is segmented, how the bottom
window is found and which leg leads; the per-leg values are :class:`~coxa.analysis.LegRep`.
Peak hip rotation is the mean over the bottom window, not a single frame, as the domain notes
propose (section 7).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from coxa.analysis._exercise_params import ExerciseId, RepParams, exercise_id
from coxa.analysis._metrics import (
    PELVIS_COLUMNS,
    BoolArray,
    LegRep,
    bottom_window,
    first_finite,
    leg_columns,
    leg_rep,
    nanmax,
    nanmean,
    shank_inclination_deg,
)
from coxa.analysis._segment import Segmenter, Span
from coxa.fusion import AngleTable, HipReference
from coxa.geometry import FloatArray, Side

_log = logging.getLogger(__name__)

_SIDES: tuple[Side, ...] = ("r", "l")
_DRIVE = "drive"


@dataclass(frozen=True)
class Rep:
    """A completed rep.

    Attributes
    ----------
    index : int
        1-based rep number in the counter's stream.
    t_start_us, t_end_us : float
        Host-clock start and end, microseconds.
    legs : dict of str to LegRep
        Values per instrumented leg.
    exercise : str
        Exercise id (:data:`~coxa.analysis.EXERCISE_IDS`).
    hip_reference : {'pelvis', 'room'}
        ``'room'``: the hip rotation values are femoral rotation relative to the room (no
        pelvis board), and must be labelled so.
    """

    index: int
    t_start_us: float
    t_end_us: float
    legs: dict[Side, LegRep]
    exercise: str
    hip_reference: HipReference

    @property
    def duration_s(self) -> float:
        """Rep duration in seconds."""
        return (self.t_end_us - self.t_start_us) / 1e6

    @property
    def lead_sides(self) -> tuple[Side, ...]:
        """Sides of the lead legs."""
        return tuple(side for side, leg in self.legs.items() if leg.lead)


def _row_columns(block: AngleTable) -> dict[str, FloatArray]:
    """The columns the counter keeps per row (NaN where the table lacks them)."""
    missing = np.full(block.n_rows, np.nan)
    out: dict[str, FloatArray] = {}
    for side in _SIDES:
        for role, name in leg_columns(side).items():
            if role == "shank":
                quat = block.quat_world_segment_wxyz.get(f"tibia_{side}")
                out[name] = missing if quat is None else shank_inclination_deg(quat)
            else:
                out[name] = block.angles_deg.get(name, missing)
    for name in PELVIS_COLUMNS:
        out[name] = block.angles_deg.get(name, missing)
    return out


def _in_position(block: AngleTable, params: RepParams) -> BoolArray:
    """Rows in the exercise's own position (``params.position_min_flexion_deg``), ``(m,)``;
    every row when the exercise has none. A row the radio lost (NaN) is not out of position:
    a gap between two reps must not make the next one wait for a still row."""
    least = params.position_min_flexion_deg
    placed = np.ones(block.n_rows, dtype=bool)
    if least is None:
        return placed
    for name in ("hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l"):
        column = block.angles_deg.get(name)
        if column is not None:
            with np.errstate(invalid="ignore"):
                placed &= ~(column < least)
    return placed


def _drive(block: AngleTable, params: RepParams) -> FloatArray:
    """The segmented signal of each row, degrees, ``(m,)``."""
    angles = block.angles_deg
    missing = np.full(block.n_rows, np.nan)
    if params.drive == "rotation_swing":
        right, left = angles.get("hip_rotation_r"), angles.get("hip_rotation_l")
        if right is None:
            return missing if left is None else -left
        return right if left is None else right - left
    # Unilateral work follows the deeper leg: NaN in any present column makes the row's drive
    # NaN, since a leg lost for a moment must not hand the drive to the other leg (which would
    # look like the end of a rep). A bilateral squat follows the shallower leg, and both legs
    # move alike: a leg lost for a moment hands the drive to the other one, so a radio gap at
    # the top between two reps does not merge them.
    depths: list[FloatArray] = []
    for side in _SIDES:
        flexion = angles.get(f"hip_flexion_{side}")
        if flexion is None:
            continue
        knee = None if params.drive == "hip_flexion" else angles.get(f"knee_angle_{side}")
        depths.append(flexion if knee is None else np.maximum(knee, flexion))
    if not depths:
        return missing
    combine = np.fmin if params.legs == "both" else np.maximum
    drive = depths[0]
    for depth in depths[1:]:
        drive = combine(drive, depth)
    return drive


class _RowStore:
    """Rows kept for the reps to come, by row number."""

    def __init__(self) -> None:
        self.first = 0
        self._t_us: list[FloatArray] = []
        self._columns: dict[str, list[FloatArray]] = {}

    def append(self, t_us: FloatArray, columns: dict[str, FloatArray]) -> None:
        self._t_us.append(t_us)
        for name, values in columns.items():
            self._columns.setdefault(name, []).append(values)

    def _joined(self) -> None:
        if len(self._t_us) > 1:
            self._t_us = [np.concatenate(self._t_us)]
            self._columns = {k: [np.concatenate(v)] for k, v in self._columns.items()}

    def rows(self, start: int, end: int) -> tuple[FloatArray, dict[str, FloatArray]]:
        """Times and columns of rows ``start..end`` (inclusive)."""
        self._joined()
        a, b = start - self.first, end - self.first + 1
        return self._t_us[0][a:b], {k: v[0][a:b] for k, v in self._columns.items()}

    def drop_before(self, row: int) -> None:
        """Forget the rows before ``row``."""
        if row <= self.first or not self._t_us:
            return
        self._joined()
        cut = row - self.first
        self._t_us = [self._t_us[0][cut:]]
        self._columns = {k: [v[0][cut:]] for k, v in self._columns.items()}
        self.first = row


class RepCounter:
    """Streaming rep counter: feed :class:`~coxa.fusion.AngleTable` rows with :meth:`update`.

    Splitting the same rows into different blocks gives the same reps. A rep is reported by
    the :meth:`update` call whose block holds its last row: the first still row after the
    athlete has come back to the top, at most ``end_max_wait_s`` after coming back.

    Parameters
    ----------
    exercise : str
        Exercise id (:data:`~coxa.analysis.EXERCISE_IDS`, ``-`` accepted for ``_``).
    params : RepParams, optional
        Thresholds; default :meth:`RepParams.for_exercise`.

    Raises
    ------
    ValueError
        Unknown exercise.

    Attributes
    ----------
    exercise : str
    params : RepParams
    reps : list of Rep
        Every rep so far.
    rejected : int
        Excursions too small or too short to count.
    """

    def __init__(self, exercise: str, params: RepParams | None = None) -> None:
        self.exercise: ExerciseId = exercise_id(exercise)
        self.params = params if params is not None else RepParams.for_exercise(self.exercise)
        self.reps: list[Rep] = []
        self.rejected = 0
        self._segmenter = Segmenter(self.params)
        self._store = _RowStore()

    @property
    def in_rep(self) -> bool:
        """Whether a rep is under way."""
        return self._segmenter.in_rep

    def update(self, block: AngleTable) -> list[Rep]:
        """Process a block of rows (strictly increasing times) and return the reps completed
        in it."""
        if block.n_rows == 0:
            return []
        columns = _row_columns(block)
        in_position = _in_position(block, self.params)
        columns[_DRIVE] = np.where(in_position, _drive(block, self.params), np.nan)
        self._store.append(block.t_us, columns)
        completed: list[Rep] = []
        for span in self._segmenter.update(block.t_us, columns[_DRIVE], in_position):
            if not span.accepted:
                self.rejected += 1
                continue
            rep = self._rep(span, block.hip_reference)
            self.reps.append(rep)
            completed.append(rep)
        self._store.drop_before(self._segmenter.keep_from)
        return completed

    def _rep(self, span: Span, hip_reference: HipReference) -> Rep:
        t_us, rows = self._store.rows(span.start, span.end)
        p = self.params
        present: list[Side] = [
            s
            for s in _SIDES
            if np.isfinite(rows[f"hip_flexion_{s}"]).any()
            or np.isfinite(rows[f"hip_rotation_{s}"]).any()
        ]
        windows: dict[Side, BoolArray] = {}
        for side in present:
            cols = leg_columns(side)
            if p.bottom_signal == "drive":
                signal = span.direction * rows[_DRIVE]
            elif p.bottom_signal == "knee" and np.isfinite(rows[cols["knee"]]).any():
                signal = rows[cols["knee"]]
            else:
                signal = rows[cols["flexion"]]
            windows[side] = bottom_window(signal, p.bottom_window_deg)
        leads = self._leads(present, rows, windows)
        if p.lead != "both" and leads:
            # The other leg is read at the lead leg's bottom (the rep's bottom).
            lead_window = windows[leads[0]]
            windows = {side: lead_window for side in present}
        legs: dict[Side, LegRep] = {
            side: leg_rep(side, side in leads, t_us, rows, windows[side], p.start_window_s)
            for side in present
        }
        rep = Rep(
            index=len(self.reps) + 1,
            t_start_us=float(t_us[0]),
            t_end_us=float(t_us[-1]),
            legs=legs,
            exercise=self.exercise,
            hip_reference=hip_reference,
        )
        _log.debug("%s rep %d: %.2f s, lead %s", self.exercise, rep.index, rep.duration_s, leads)
        return rep

    def _leads(
        self, present: list[Side], rows: dict[str, FloatArray], windows: dict[Side, BoolArray]
    ) -> list[Side]:
        if self.params.lead == "both" or len(present) < 2:
            return list(present)
        scores: dict[Side, float] = {}
        for side in present:
            if self.params.lead == "hip_flexion":
                scores[side] = nanmax(rows[f"hip_flexion_{side}"])
            else:
                rotation = rows[f"hip_rotation_{side}"]
                scores[side] = nanmean(rotation[windows[side]]) - first_finite(rotation)
        ranked = sorted(present, key=lambda s: -scores[s] if np.isfinite(scores[s]) else np.inf)
        return ranked[:1]


def segment_reps(table: AngleTable, exercise: str, params: RepParams | None = None) -> list[Rep]:
    """Reps of a whole table (the offline analysis): :class:`RepCounter` fed the table at once.

    Parameters
    ----------
    table : AngleTable
        Fused rows, strictly increasing times.
    exercise : str
        Exercise id.
    params : RepParams, optional
        Thresholds; default :meth:`RepParams.for_exercise`.
    """
    return RepCounter(exercise, params).update(table)
