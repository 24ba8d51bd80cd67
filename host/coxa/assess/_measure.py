"""Measuring a clinical test from an angle table: the pointer angle, the trials, the end points.

Each trial is a move out to the end position, a hold and a return. The value of a trial is the
mean over its hold (the samples within ``plateau_tol_deg`` of the trial's peak: the automatic
end point is where the angle stops increasing), or, when a pelvis board shows the pelvis
starting to lift (roll or hike) before that, the value at the onset of the lift (the test stops
there; domain notes section 3: a pelvic roll or hike adds 1:1 to the reading).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from coxa.assess._protocols import ClinicalTest, protocol
from coxa.fusion import AngleTable, HipReference
from coxa.geometry import FloatArray, Side, quat_rotate

_LOG = logging.getLogger(__name__)

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])
#: Shortest projection (sine of the angle to the femoral axis) of the shank or of the zero
#: direction that still gives a pointer angle [derived: as ``coxa.fusion.POINTER_MIN_KNEE_DEG``,
#: 30 deg].
_MIN_PROJECTION = math.sin(math.radians(30.0))
#: Standing: the thigh at least this far below the horizontal (distal end down), degrees, and
#: the shank's distal direction at least :data:`_STANDING_SHANK_UP` down [assumption: within
#: 30 deg of upright; no test position comes near it].
_STANDING_ELEVATION_DEG = 60.0
_STANDING_SHANK_UP = math.cos(math.radians(30.0))
#: Before each trial, the rest level (the start position the supine test counts from) is the
#: 5th percentile of the angle over this long, s [assumption: the 2 s rest between trials the
#: protocol asks for; the low percentile skips the start of the move].
_REST_WINDOW_S = 2.0


@dataclass(frozen=True)
class AssessParams:
    """How trials are found and measured.

    Attributes
    ----------
    enter_fraction : float
        A trial is under way while the angle is above the rest level plus this fraction of the
        recording's excursion (rest level to peak). Default 0.5 [assumption: halfway, far from
        both the rest noise and the end positions, which vary between trials by far less].
    rest_fraction : float
        A trial starts (ends) at the last (first) sample within this fraction of the excursion
        from the rest level. Default 0.15 [assumption].
    min_excursion_deg : float
        Smallest excursion that counts as a trial, degrees. Default 5 [assumption: under the
        test's minimal detectable change of 5.4 deg, domain notes section 3].
    merge_gap_s : float
        Two excursions closer than this are one trial (a wobble at the end position), s.
        Default 0.3 [assumption].
    plateau_tol_deg : float
        The hold of a trial: its samples within this of the trial's peak, degrees. Default 2
        [assumption: the accuracy the test must reach].
    lift_threshold_deg : float
        The pelvis has lifted when one of its watched angles (roll, hike) has changed by more
        than this since the trial start, degrees. Default 3 [assumption: above the pelvis
        board's noise of a few tenths of a degree, under the test's minimal detectable change
        of 5.4 deg, so a lift that could change the reading detectably is caught].
    pelvis_baseline_s : float
        The pelvis's starting pose is its mean over this long before each trial, s. Default
        0.5 [assumption].
    knee_tolerance_deg : float
        Rotation tests: a trial whose knee flexion at the end point is further than this from
        the protocol's 90 deg is flagged, degrees. Default 15 [assumption: the pointer is exact
        at any knee flexion (tested 70-110 deg); the flag keeps trials comparable with the
        protocol].
    straight_knee_max_deg : float
        Straight leg raise: a trial with more knee flexion than this at the end point is
        flagged, degrees. Default 10 [assumption].
    """

    enter_fraction: float = 0.5
    rest_fraction: float = 0.15
    min_excursion_deg: float = 5.0
    merge_gap_s: float = 0.3
    plateau_tol_deg: float = 2.0
    lift_threshold_deg: float = 3.0
    pelvis_baseline_s: float = 0.5
    knee_tolerance_deg: float = 15.0
    straight_knee_max_deg: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 < self.rest_fraction < self.enter_fraction < 1.0:
            raise ValueError("need 0 < rest_fraction < enter_fraction < 1")
        for name in (
            "min_excursion_deg",
            "plateau_tol_deg",
            "lift_threshold_deg",
            "knee_tolerance_deg",
            "straight_knee_max_deg",
        ):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0")
        if self.merge_gap_s < 0.0 or self.pelvis_baseline_s < 0.0:
            raise ValueError("merge_gap_s and pelvis_baseline_s must be >= 0")


@dataclass(frozen=True)
class Trial:
    """One trial of one side.

    Attributes
    ----------
    index : int
        0-based, in time order.
    t_start_us, t_end_point_us, t_end_us : float
        Start of the move, the end point the value is taken at (the first sample of the hold,
        or the pelvic lift onset), the return, host microseconds.
    t_hold_us : tuple of float
        First and last sample the value is the mean of, host microseconds (both the lift
        onset when the value is taken there).
    value_deg : float
        The trial's value, degrees (hip rotation, or the thigh's angle above horizontal).
    peak_deg : float
        Largest value within the trial, degrees.
    knee_deg : float
        Mean knee flexion over the hold, degrees (NaN without the column).
    hip_flexion_deg : float
        Mean hip flexion over the hold, degrees (estimated from the thigh without a pelvis
        board).
    pelvis_change_deg : float
        Largest change of a watched pelvis angle from the trial start up to the end of the
        hold, degrees (NaN without a pelvis board).
    pelvic_lift : bool
        The pelvis lifted (changed by more than the threshold) before or during the hold; the
        value is then taken at the onset.
    flags : tuple of str
        Warnings in plain words.
    """

    index: int
    t_start_us: float
    t_end_point_us: float
    t_end_us: float
    t_hold_us: tuple[float, float]
    value_deg: float
    peak_deg: float
    knee_deg: float
    hip_flexion_deg: float
    pelvis_change_deg: float
    pelvic_lift: bool
    flags: tuple[str, ...]


@dataclass(frozen=True)
class SideResult:
    """The trials of one side and their summary.

    Attributes
    ----------
    test : str
        Test id.
    side : {'r', 'l'}
    hip_reference : {'pelvis', 'room'}
        ``'room'``: no pelvis board; a rotation value is femoral rotation relative to the room
        (any pelvic roll or hike included 1:1), labelled so in every output.
    trials : tuple of Trial
    mean_deg, sd_deg : float
        Mean and sample SD (n - 1) of the trial values, degrees (SD NaN with fewer than two).
    hip_flexion_deg : float
        Mean hip flexion of the trials' end points, degrees.
    flags : tuple of str
        Warnings about the whole side (trial warnings are in the trials).
    """

    test: str
    side: Side
    hip_reference: HipReference
    trials: tuple[Trial, ...]
    mean_deg: float
    sd_deg: float
    hip_flexion_deg: float
    flags: tuple[str, ...]

    @property
    def values_deg(self) -> tuple[float, ...]:
        """The trial values, degrees."""
        return tuple(t.value_deg for t in self.trials)

    @property
    def all_flags(self) -> tuple[str, ...]:
        """The side's flags and every trial's, each trial's prefixed with its number."""
        return self.flags + tuple(
            f"trial {t.index + 1}: {flag}" for t in self.trials for flag in t.flags
        )

    @property
    def label(self) -> str:
        """What the values are, with the reference when it matters."""
        quantity = protocol(self.test).quantity
        if protocol(self.test).measure == "pointer" and self.hip_reference == "room":
            return "femoral rotation relative to the room (no pelvis board)"
        return quantity


def _axis(table: AngleTable, segment: str, axis: FloatArray) -> FloatArray:
    quat = table.quat_world_segment_wxyz.get(segment)
    if quat is None:
        raise ValueError(f"the angle table has no {segment} orientation (no board on it?)")
    return quat_rotate(quat, axis)


def _signed_angle_deg(axis: FloatArray, zero: FloatArray, pointer: FloatArray) -> FloatArray:
    """Angle from ``zero`` to ``pointer`` about ``axis`` after projecting both on the plane
    perpendicular to it, degrees, ``(m,)``; NaN where either projection is shorter than the
    sine of 30 deg (the pointer is too close to the axis)."""
    zero_p = zero - np.sum(zero * axis, axis=1, keepdims=True) * axis
    pointer_p = pointer - np.sum(pointer * axis, axis=1, keepdims=True) * axis
    ok = (np.linalg.norm(zero_p, axis=1) >= _MIN_PROJECTION) & (
        np.linalg.norm(pointer_p, axis=1) >= _MIN_PROJECTION
    )
    sine = np.sum(np.cross(zero_p, pointer_p) * axis, axis=1)
    cosine = np.sum(zero_p * pointer_p, axis=1)
    out = np.degrees(np.arctan2(sine, cosine))
    out[~ok] = np.nan
    return out


def thigh_elevation_deg(table: AngleTable, side: Side) -> FloatArray:
    """The thigh's angle above the horizontal (its distal end up positive), degrees, ``(m,)``.

    Raises
    ------
    ValueError
        The table has no orientation of that femur.
    """
    distal = -_axis(table, f"femur_{side}", _Y)
    return np.degrees(np.arcsin(np.clip(distal @ _Z, -1.0, 1.0)))


def pointer_rotation_deg(table: AngleTable, test: ClinicalTest, side: Side) -> FloatArray:
    """Hip rotation read with the shank as a pointer about the femoral long axis, degrees,
    ``(m,)``, internal rotation positive on both sides.

    With a pelvis board: the table's ``shank_rotation_<side>``, the ISB hip rotation (Wu et
    al. 2002, doi:10.1016/S0021-9290(01)00222-6) of a femur whose medio-lateral axis is set by
    the shank (``coxa.fusion.femur_from_shank_pointer``), relative to the pelvis: a pelvic roll
    or hike does not enter it. Without one, relative to the room: the shank projected on the
    plane perpendicular to the femur and its angle taken from the protocol's zero direction
    projected the same way, straight up (prone) or straight down (seated), as an inclinometer
    on the shin reads it but about the femoral axis instead of from the vertical; supine, where
    gravity cannot tell (the shank turns in the horizontal plane), from the world's forward
    direction, each trial then counting from the rest before it. A pelvic roll or hike adds
    to the room reading 1:1, and so does a femur tilted both up or down and sideways off the
    test position (the ISB rotation is then not the rotation from the vertical).

    Raises
    ------
    ValueError
        The table has no femur or tibia of that side.
    """
    column = table.angles_deg.get(f"shank_rotation_{side}")
    if table.hip_reference == "pelvis" and column is not None:
        return column
    femur_axis = _axis(table, f"femur_{side}", _Y)
    shank = -_axis(table, f"tibia_{side}", _Y)
    zero = {"up": _Z, "down": -_Z, "trial_start": _X}[test.pointer_zero]
    angle = _signed_angle_deg(femur_axis, np.broadcast_to(zero, shank.shape), shank)
    if test.pointer_zero == "trial_start":
        finite = np.isfinite(angle)
        angle[finite] = np.degrees(np.unwrap(np.radians(angle[finite])))
    return angle if side == "r" else -angle


def _pelvis_referenced(table: AngleTable, side: Side) -> bool:
    return table.hip_reference == "pelvis" and f"shank_rotation_{side}" in table.angles_deg


def _runs(mask: FloatArray | np.ndarray) -> list[tuple[int, int]]:
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class ClinicalTestAnalysis:
    """Finds and measures the trials of one clinical test in an angle table.

    Parameters
    ----------
    test : str
        Test id (``'prone-ir'``, ``'seated-ir'``, ``'supine-ir'``, ``'aslr'``).
    params : AssessParams, optional

    Raises
    ------
    ValueError
        An unknown test id.
    """

    def __init__(self, test: str, params: AssessParams | None = None) -> None:
        self.protocol = protocol(test)
        self.params = params or AssessParams()

    def signal_deg(self, table: AngleTable, side: Side) -> FloatArray:
        """The measured angle of every row, degrees, ``(m,)`` (see :func:`pointer_rotation_deg`
        and :func:`thigh_elevation_deg`)."""
        if self.protocol.measure == "pointer":
            return pointer_rotation_deg(table, self.protocol, side)
        return thigh_elevation_deg(table, side)

    def in_position(self, table: AngleTable, side: Side) -> np.ndarray:
        """Rows where the thigh and the shank are in the test's position, ``(m,)`` bool, from
        the last standing row on (the recording starts with the standing calibration and its
        squats, whose bottoms can look like a seated position)."""
        p = self.protocol
        elevation = thigh_elevation_deg(table, side)
        shank_up = -_axis(table, f"tibia_{side}", _Y) @ _Z
        ok = (
            (elevation >= p.thigh_elevation_deg[0])
            & (elevation <= p.thigh_elevation_deg[1])
            & (shank_up >= p.shank_up[0])
            & (shank_up <= p.shank_up[1])
        )
        standing = np.flatnonzero(
            (elevation <= -_STANDING_ELEVATION_DEG) & (shank_up <= -_STANDING_SHANK_UP)
        )
        if standing.size:
            ok[: standing[-1] + 1] = False
        return ok

    def _hip_flexion_deg(self, table: AngleTable, side: Side) -> FloatArray:
        column = table.angles_deg.get(f"hip_flexion_{side}")
        if table.hip_reference == "pelvis" and column is not None:
            return column
        p = self.protocol
        return p.hip_flexion_offset_deg + p.hip_flexion_sign * thigh_elevation_deg(table, side)

    def measure(
        self, table: AngleTable, side: Side, expected_trials: int | None = None
    ) -> SideResult:
        """Find and measure the trials of one side.

        Parameters
        ----------
        table : AngleTable
            The recording's angles, with the femur and tibia of ``side``.
        side : {'r', 'l'}
        expected_trials : int, optional
            Trials asked for; a different count found is flagged.

        Returns
        -------
        SideResult

        Raises
        ------
        ValueError
            The table lacks the side's femur or tibia.
        """
        p = self.params
        signal = self.signal_deg(table, side).copy()
        signal[~self.in_position(table, side)] = np.nan
        t_us = table.t_us
        flags: list[str] = []
        trials: list[Trial] = []
        finite = np.isfinite(signal)
        if np.count_nonzero(finite) >= 2:
            rest = float(np.percentile(signal[finite], 10.0))
            peak = float(np.percentile(signal[finite], 99.0))
            span = peak - rest
            if span >= p.min_excursion_deg:
                trials = self._trials(table, side, signal, rest, span)
            else:
                flags.append(f"no trial found: the angle moved only {span:.1f} deg")
        else:
            flags.append(
                "no trial found: never in the test position, or the angle could not be measured"
            )
        if expected_trials is not None and trials and len(trials) != expected_trials:
            flags.append(f"{len(trials)} trials found, {expected_trials} asked for")
        if table.hip_reference == "room":
            flags.append(
                "no pelvis board: pelvic lift not checked (a pelvic roll or hike adds 1:1 to a "
                "rotation reading)"
            )
        values = np.array([t.value_deg for t in trials])
        values = values[np.isfinite(values)]
        mean = float(np.mean(values)) if values.size else math.nan
        sd = float(np.std(values, ddof=1)) if values.size >= 2 else math.nan
        flexion = np.array([t.hip_flexion_deg for t in trials])
        flexion = flexion[np.isfinite(flexion)]
        _LOG.info(
            "%s %s: %d trials, mean %.1f deg, SD %.1f deg (t %.0f-%.0f us)",
            self.protocol.test,
            side,
            len(trials),
            mean,
            sd,
            t_us[0] if t_us.size else math.nan,
            t_us[-1] if t_us.size else math.nan,
        )
        return SideResult(
            test=self.protocol.test,
            side=side,
            hip_reference=table.hip_reference,
            trials=tuple(trials),
            mean_deg=mean,
            sd_deg=sd,
            hip_flexion_deg=float(np.mean(flexion)) if flexion.size else math.nan,
            flags=tuple(flags),
        )

    def _trials(
        self, table: AngleTable, side: Side, signal: FloatArray, rest: float, span: float
    ) -> list[Trial]:
        """The trials of a signal whose rest level is ``rest`` and excursion ``span``."""
        p = self.params
        t_us = table.t_us
        active = np.isfinite(signal) & (signal > rest + p.enter_fraction * span)
        at_rest = np.isfinite(signal) & (signal <= rest + p.rest_fraction * span)
        runs = _runs(active)
        merged: list[tuple[int, int]] = []
        for start, end in runs:
            if merged and (t_us[start] - t_us[merged[-1][1] - 1]) * 1e-6 < p.merge_gap_s:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        rest_rows = np.flatnonzero(at_rest)
        knee = table.angles_deg.get(f"knee_angle_{side}")
        flexion = self._hip_flexion_deg(table, side)
        pelvis = [
            table.angles_deg[c] for c in self.protocol.pelvis_columns if c in table.angles_deg
        ]
        trials: list[Trial] = []
        previous_end = 0
        for run_start, run_end in merged:
            before = rest_rows[rest_rows < run_start]
            after = rest_rows[rest_rows >= run_end]
            start = int(before[-1]) if before.size else 0
            end = int(after[0]) if after.size else signal.size - 1
            trial_flags: list[str] = []
            if not after.size:
                trial_flags.append("did not return to the start position before the end")
            window = (t_us >= t_us[start] - _REST_WINDOW_S * 1e6) & (t_us <= t_us[start])
            window[:previous_end] = False
            before_trial = signal[window]
            before_trial = before_trial[np.isfinite(before_trial)]
            rest_level = float(np.percentile(before_trial, 5.0)) if before_trial.size else rest
            angle = self._trial_angle_deg(table, side, signal, start, end, rest_level)
            peak = float(np.nanmax(angle))
            hold = np.flatnonzero(angle >= peak - p.plateau_tol_deg) + start
            end_point = int(hold[0])
            change, lift_row = self._pelvis(pelvis, t_us, start, int(hold[-1]))
            lifted = lift_row is not None
            if lift_row is not None:
                hold = hold[hold < lift_row] if lift_row > end_point else np.array([lift_row])
                end_point = int(hold[0])
            value = float(np.nanmean(angle[hold - start]))
            if lifted:
                trial_flags.append(
                    f"pelvic lift: the pelvis moved {change:.1f} deg (more than "
                    f"{p.lift_threshold_deg:.0f}); value taken at its onset, {value:.1f} deg"
                )
            knee_deg = float(np.nanmean(knee[hold])) if knee is not None else math.nan
            trial_flags.extend(self._knee_flags(knee_deg))
            trials.append(
                Trial(
                    index=len(trials),
                    t_start_us=float(t_us[start]),
                    t_end_point_us=float(t_us[end_point]),
                    t_end_us=float(t_us[end]),
                    t_hold_us=(float(t_us[hold[0]]), float(t_us[hold[-1]])),
                    value_deg=value,
                    peak_deg=peak,
                    knee_deg=knee_deg,
                    hip_flexion_deg=float(np.nanmean(flexion[hold])),
                    pelvis_change_deg=change,
                    pelvic_lift=lifted,
                    flags=tuple(trial_flags),
                )
            )
            previous_end = end
        return trials

    def _trial_angle_deg(
        self,
        table: AngleTable,
        side: Side,
        signal: FloatArray,
        start: int,
        end: int,
        rest_level: float,
    ) -> FloatArray:
        """The trial's value at rows ``start..end``, degrees: the signal, counted from the
        rest level before the trial where the room reading has no zero of its own (supine
        without a pelvis board)."""
        angle = signal[start : end + 1].copy()
        relative = (
            self.protocol.measure == "pointer" and self.protocol.pointer_zero == "trial_start"
        )
        if relative and not _pelvis_referenced(table, side):
            angle -= rest_level
        return angle

    def _pelvis(
        self, pelvis: list[FloatArray], t_us: FloatArray, start: int, last: int
    ) -> tuple[float, int | None]:
        """Largest change of the watched pelvis angles from their pose before ``start`` up to
        row ``last``, degrees, and the first row where it exceeds the threshold (or None)."""
        if not pelvis:
            return math.nan, None
        p = self.params
        window = (t_us >= t_us[start] - p.pelvis_baseline_s * 1e6) & (np.arange(t_us.size) <= start)
        changes: list[FloatArray] = []
        for column in pelvis:
            baseline = float(np.nanmean(column[window])) if np.any(window) else math.nan
            changes.append(np.abs(column[start : last + 1] - baseline))
        change = np.nanmax(np.stack(changes), axis=0)
        if not np.any(np.isfinite(change)):
            return math.nan, None
        over = np.flatnonzero(change > p.lift_threshold_deg)
        return float(np.nanmax(change)), (int(over[0]) + start if over.size else None)

    def _knee_flags(self, knee_deg: float) -> list[str]:
        if not math.isfinite(knee_deg):
            return ["knee flexion not measured"]
        target = self.protocol.knee_target_deg
        if self.protocol.measure == "thigh_elevation":
            limit = self.params.straight_knee_max_deg
            if knee_deg > limit:
                return [f"knee bent {knee_deg:.0f} deg (straight leg asked, at most {limit:.0f})"]
            return []
        tolerance = self.params.knee_tolerance_deg
        if abs(knee_deg - target) > tolerance:
            return [
                f"knee at {knee_deg:.0f} deg, outside {target:.0f} +- {tolerance:.0f} deg of "
                "the protocol"
            ]
        return []
