"""Rule engine: per-rep findings from the rep metrics, the exercise's demand and the athlete's
capacity, and session findings from a session's reps together (left/right asymmetry across
the sets led by either leg).

Every rule compares one number computed from the rep (or the reps) with a limit ``threshold +
margin`` (the threshold says what matters, the margin what the sensors cannot tell apart) and
fires when the number is strictly beyond it. The margins are the combined measurement errors
(domain notes, section 5); a population mean alone never produces a finding (section 6).
The rules, their thresholds, margins and reasons are in ``docs/analysis.md``.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from coxa.analysis._capacity import Capacity
from coxa.analysis._demand import DemandLimb, DemandStatus, DemandTable
from coxa.analysis._findings import Finding
from coxa.analysis._metrics import LegRep
from coxa.analysis._reps import Rep
from coxa.geometry import Side

_log = logging.getLogger(__name__)

_LEG: dict[Side, str] = {"r": "right", "l": "left"}
_OTHER: dict[Side, Side] = {"r": "l", "l": "r"}


@dataclass(frozen=True)
class RuleParams:
    """Thresholds and measurement errors of the rules; degrees unless named otherwise.

    Every margin is ``margin_sigmas`` times the root sum of squares of the errors of the
    numbers compared. The defaults and their reasons are in ``docs/analysis.md``.

    Attributes
    ----------
    ir_error_deg : float
        Error of one rep's hip IR (or femoral rotation) value. Default 5.0 [derived: the bound
        the fusion core meets with thigh soft-tissue wobble, docs/fusion.md section 6 (measured
        at most 2.5 RMSE); without soft tissue the bounds are 2.5 with a pelvis board and 3.0
        for femoral rotation in squats, but real thighs always wobble].
    pelvis_unknown_deg : float
        Added in quadrature to ``ir_error_deg`` without a pelvis board for exercises not in
        ``square_pelvis_exercises``: the pelvis turns 4-8 deg in single-leg work [src, domain
        notes sections 4-5], and femoral rotation then differs from hip IR by that much.
        Default 8.0 [src: upper end].
    square_pelvis_exercises : tuple of str
        Exercises in which the pelvis is assumed to stay square without a pelvis board.
        Default ``('squat',)`` [assumption, domain notes section 4].
    capacity_error_deg : float
        Error of a clinical test's value (besides its trial SD). Default 2.0 [derived: the
        clinical tests are required to be within 2 deg of truth, issue 6].
    margin_sigmas : float
        Margins in units of the combined error. Default 1.0 [assumption: the domain notes ask
        for at least the combined measurement error].
    capacity_reserve_deg : float
        ``at_capacity``: a rep within this of the capacity counts as at capacity. Default 5.0
        [assumption: the size of the clinical tests' minimal detectable change, 5.4 deg src].
    demand_shortfall_deg : float
        ``short_of_demand``: how far below the demand a rep may stay before it matters. Default
        0.0 [assumption: any shortfall beyond the margin].
    demand_statuses : tuple of str
        Statuses of demand rows that may produce ``short_of_demand``. Default all with a mean
        (``'source'``, ``'derived'``, ``'assumption'``); the message names the status.
    population : str or None
        Preferred demand row population (``'men'``, ``'women'``), None: ``'all'`` rows.
    pelvis_threshold_deg : float
        ``pelvis_compensation``: pelvis rotation about the femoral axis that matters. Default
        4.0 [src: lower end of the 4-8 deg pelvic turn in single-leg squats, domain notes].
    pelvis_change_error_deg : float
        Error of a pelvis angle change within one rep. Default 2.0 [assumption: a change over a
        few seconds of a gravity-referenced tilt and a bias-corrected heading; below the 2.5
        bound of hip IR, which contains it].
    knee_back_threshold_deg : float
        ``front_knee_back``: fall of the lead shank's forward inclination that matters. Default
        0.0 [assumption: the cue is that the front knee must not drift back at all].
    shank_inclination_error_deg : float
        Error of a change of shank inclination within one rep. Default 2.0 [assumption: shank
        tilt is gravity-referenced; 6D filters hold tilt to 1-2 deg].
    knee_back_exercises : tuple of str
        Exercises whose lead knee should travel forward. Default the split squats and step-ups
        [src: coaching cue, domain notes section 2].
    asymmetry_threshold_deg : float
        ``asymmetry`` and ``set_asymmetry``: left/right difference that matters. Default 0.0
        [assumption: no validated cutoff exists (domain notes section 3); any difference beyond
        the noise is reported].
    ir_random_error_deg : float
        The part of ``ir_error_deg`` that changes from rep to rep (sensor noise, the dynamic
        soft-tissue wobble); the rest, ``sqrt(error**2 - random**2)`` of the rep's error (with
        the pelvis term when there is one), is systematic within a session (sensor-to-segment
        calibration, heading, the repeatable part of the soft-tissue artefact, the unmeasured
        pelvis) and does not average out over reps. ``set_asymmetry`` divides only this part
        by the square root of the number of reps. Must not exceed ``ir_error_deg``. Default 2.0
        [assumption: soft-tissue artefact depends on the task and differs between subjects
        (Leardini et al. 2005, doi:10.1016/j.gaitpost.2004.05.002), so for one athlete in one
        exercise it repeats from rep to rep and most of the 5 deg is systematic; the
        simulator's fused peak IR scatters less than this from rep to rep within a set,
        docs/analysis.md].
    set_asymmetry_min_reps : int
        ``set_asymmetry``: reps needed on each lead side before the sides are compared.
        Default 3 [assumption: the fewest that give a mean and a rep-to-rep SD worth the name;
        a set usually has more]. At least 2.
    """

    ir_error_deg: float = 5.0
    pelvis_unknown_deg: float = 8.0
    square_pelvis_exercises: tuple[str, ...] = ("squat",)
    capacity_error_deg: float = 2.0
    margin_sigmas: float = 1.0
    capacity_reserve_deg: float = 5.0
    demand_shortfall_deg: float = 0.0
    demand_statuses: tuple[DemandStatus, ...] = ("source", "derived", "assumption")
    population: str | None = None
    pelvis_threshold_deg: float = 4.0
    pelvis_change_error_deg: float = 2.0
    knee_back_threshold_deg: float = 0.0
    shank_inclination_error_deg: float = 2.0
    knee_back_exercises: tuple[str, ...] = (
        "split_squat",
        "ffe_split_squat",
        "step_up",
        "crossover_step_up",
    )
    asymmetry_threshold_deg: float = 0.0
    ir_random_error_deg: float = 2.0
    set_asymmetry_min_reps: int = 3

    def __post_init__(self) -> None:
        for name in (
            "ir_error_deg",
            "pelvis_unknown_deg",
            "capacity_error_deg",
            "margin_sigmas",
            "pelvis_change_error_deg",
            "shank_inclination_error_deg",
            "ir_random_error_deg",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if self.ir_random_error_deg > self.ir_error_deg:
            raise ValueError(
                f"ir_random_error_deg ({self.ir_random_error_deg}) is a part of ir_error_deg "
                f"({self.ir_error_deg}) and cannot exceed it"
            )
        if self.set_asymmetry_min_reps < 2:
            raise ValueError(
                f"set_asymmetry_min_reps must be >= 2 (a rep-to-rep SD needs two reps), got "
                f"{self.set_asymmetry_min_reps}"
            )

    def rep_error_deg(self, exercise: str, hip_reference: str) -> float:
        """Error of one rep's rotation value for an exercise and hip reference, degrees."""
        if hip_reference == "room" and exercise not in self.square_pelvis_exercises:
            return math.hypot(self.ir_error_deg, self.pelvis_unknown_deg)
        return self.ir_error_deg


def pelvic_rotation_about_femur_deg(
    side: Side,
    hip_flexion_deg: float,
    pelvis_rotation_change_deg: float,
    pelvis_obliquity_change_deg: float,
) -> float:
    """How far a pelvis movement turns one femur about its long axis, internal positive.

    For small pelvis changes, with the hip angles held, the femur turns in the room by the
    pelvis rotation projected on the femoral axis: ``sign * (d_rotation * cos(flexion) -
    d_obliquity * sin(flexion))``, sign +1 right, -1 left (the left is mirrored). Near 0 deg
    hip flexion pelvic yaw maps 1:1, near 90 deg obliquity does (domain notes section 4).
    With the femur planted instead, the hip rotates by the negative of this.

    Parameters
    ----------
    side : {'r', 'l'}
    hip_flexion_deg : float
        Hip flexion (femur relative to pelvis), degrees.
    pelvis_rotation_change_deg, pelvis_obliquity_change_deg : float
        Change of OpenSim's ``pelvis_rotation`` (+ turns to the left) and ``pelvis_list``
        (+ lowers the right side), degrees.

    Returns
    -------
    float
        Degrees; positive carries the femur into internal rotation in the room.
    """
    flexion = math.radians(hip_flexion_deg)
    sign = 1.0 if side == "r" else -1.0
    return sign * (
        pelvis_rotation_change_deg * math.cos(flexion)
        - pelvis_obliquity_change_deg * math.sin(flexion)
    )


class FindingRules:
    """Findings: per rep from :meth:`evaluate`, over a session's reps from
    :meth:`evaluate_session`.

    Parameters
    ----------
    demand : DemandTable
        Expected hip IR per exercise and limb (:func:`~coxa.analysis.load_demand`).
    capacity : Capacity or None
        The athlete's clinical test results; without them ``at_capacity`` and
        ``short_of_demand`` never fire.
    params : RuleParams, optional
    """

    def __init__(
        self,
        demand: DemandTable,
        capacity: Capacity | None = None,
        params: RuleParams | None = None,
    ) -> None:
        self.demand = demand
        self.capacity = capacity
        self.params = params or RuleParams()

    def evaluate(self, reps: Iterable[Rep]) -> list[Finding]:
        """Per-rep findings of some reps, in rep order, then rule order, right leg before left
        (every finding has its ``rep``).

        Parameters
        ----------
        reps : iterable of Rep
            Completed reps (``coxa.analysis.Rep``) with their ``exercise`` and
            ``hip_reference``.

        Returns
        -------
        list of Finding
        """
        findings: list[Finding] = []
        for rep in reps:
            legs = [rep.legs[s] for s in ("r", "l") if s in rep.legs]
            for leg in legs:
                findings.extend(self._demand_and_capacity(rep, leg))
            for leg in legs:
                finding = self._pelvis(rep, leg)
                if finding is not None:
                    findings.append(finding)
            for leg in legs:
                finding = self._front_knee(rep, leg)
                if finding is not None:
                    findings.append(finding)
            finding = self._asymmetry(rep)
            if finding is not None:
                findings.append(finding)
        return findings

    def evaluate_session(self, reps: Iterable[Rep]) -> tuple[list[Finding], list[str]]:
        """Session findings (``rep`` None) of a session's reps, and notes on every comparison
        that gave none.

        ``set_asymmetry``: in unilateral work (reps with one lead leg among two instrumented
        legs: split squats, step-ups, hinges, 90/90) the lead leg's ``peak_hip_rotation_deg``
        in the reps led by the right leg is compared with the lead leg's in the reps led by the
        left, per exercise and hip reference (different exercises are never compared). It
        fires when the difference of the two means is beyond ``asymmetry_threshold_deg`` plus
        the margin of a difference of two means (``docs/analysis.md``); it needs
        ``set_asymmetry_min_reps`` reps with a value on each side. Bilateral reps (a squat:
        both legs lead) are left to the per-rep ``asymmetry`` rule.

        Parameters
        ----------
        reps : iterable of Rep
            The session's completed reps, of one or more exercises and sets.

        Returns
        -------
        findings : list of Finding
            In the order the exercises first appear.
        notes : list of str
            One line per compared exercise that gave no finding (the numbers, or why it was
            not compared).
        """
        groups: dict[tuple[str, str], list[Rep]] = {}
        for rep in reps:
            groups.setdefault((rep.exercise, rep.hip_reference), []).append(rep)
        findings: list[Finding] = []
        notes: list[str] = []
        for group in groups.values():
            finding, note = self._set_asymmetry(group)
            if finding is not None:
                findings.append(finding)
            if note:
                notes.append(note)
        return findings, notes

    def _rotation_name(self, rep: Rep) -> str:
        if rep.hip_reference == "room":
            return "femoral rotation (relative to the room, no pelvis board)"
        return "hip internal rotation"

    def _demand_and_capacity(self, rep: Rep, leg: LegRep) -> list[Finding]:
        p = self.params
        ir = leg.peak_hip_rotation_deg
        flexion = leg.hip_flexion_bottom_deg
        if math.isnan(ir) or self.capacity is None:
            return []
        cap = self.capacity.at(leg.side, flexion)
        if not cap.found:
            _log.debug("rep %d %s: no capacity: %s", rep.index, leg.side, cap.basis)
            return []
        name = self._rotation_name(rep)
        where = f"Rep {rep.index}, {_LEG[leg.side]} leg"
        rep_error = p.rep_error_deg(rep.exercise, rep.hip_reference)
        cap_error = math.hypot(p.capacity_error_deg, cap.sd_deg)
        findings: list[Finding] = []
        limb: DemandLimb = "lead" if leg.lead else "trail"
        row = self.demand.lookup(rep.exercise, limb, p.population)
        if row is not None and row.has_mean and row.status in p.demand_statuses:
            shortfall = row.mean_deg - ir
            margin = p.margin_sigmas * rep_error
            capacity_low = cap.ir_deg - p.margin_sigmas * cap_error
            if capacity_low >= row.mean_deg and shortfall > p.demand_shortfall_deg + margin:
                findings.append(
                    Finding(
                        rule="short_of_demand",
                        side=leg.side,
                        rep=rep.index,
                        message=(
                            f"{where}: {name} reached {ir:.1f} deg, {shortfall:.1f} deg short of "
                            f"the {row.mean_deg:.1f} deg this exercise asks of the {limb} leg "
                            f"({row.status}: {row.reference}); more than the "
                            f"{p.demand_shortfall_deg:.1f} deg allowed plus the "
                            f"{margin:.1f} deg measurement margin. The athlete's capacity at "
                            f"{flexion:.0f} deg hip flexion is {cap.ir_deg:.1f} deg "
                            f"({cap.basis}), so the range is there and this rep did not use it."
                        ),
                        values={
                            "hip_rotation_deg": ir,
                            "demand_deg": row.mean_deg,
                            "shortfall_deg": shortfall,
                            "threshold_deg": p.demand_shortfall_deg,
                            "margin_deg": margin,
                            "capacity_deg": cap.ir_deg,
                            "hip_flexion_deg": flexion,
                        },
                    )
                )
        elif row is None or not row.has_mean:
            _log.debug(
                "rep %d %s: no demand value for %s %s", rep.index, leg.side, rep.exercise, limb
            )
        gap = ir - cap.ir_deg
        margin = p.margin_sigmas * math.hypot(rep_error, cap_error)
        if gap > -p.capacity_reserve_deg + margin:
            relation = "beyond" if gap > 0 else "within reach of"
            findings.append(
                Finding(
                    rule="at_capacity",
                    side=leg.side,
                    rep=rep.index,
                    message=(
                        f"{where}: {name} reached {ir:.1f} deg, {relation} the athlete's "
                        f"capacity of {cap.ir_deg:.1f} deg at {flexion:.0f} deg hip flexion "
                        f"({cap.basis}), {gap:+.1f} deg from it: closer than the "
                        f"{p.capacity_reserve_deg:.1f} deg reserve by more than the "
                        f"{margin:.1f} deg measurement margin. The rep works at the end of the "
                        "measured range."
                    ),
                    values={
                        "hip_rotation_deg": ir,
                        "capacity_deg": cap.ir_deg,
                        "capacity_sd_deg": cap.sd_deg,
                        "difference_deg": gap,
                        "reserve_deg": p.capacity_reserve_deg,
                        "margin_deg": margin,
                        "hip_flexion_deg": flexion,
                    },
                )
            )
        return findings

    def _pelvis(self, rep: Rep, leg: LegRep) -> Finding | None:
        p = self.params
        if rep.hip_reference != "pelvis":
            return None
        d_rot = leg.pelvis_rotation_change_deg
        d_obl = leg.pelvis_obliquity_change_deg
        flexion = leg.hip_flexion_bottom_deg
        if any(math.isnan(v) for v in (d_rot, d_obl, flexion)):
            return None
        carried = pelvic_rotation_about_femur_deg(leg.side, flexion, d_rot, d_obl)
        margin = p.margin_sigmas * p.pelvis_change_error_deg
        if not carried > p.pelvis_threshold_deg + margin:
            return None
        hip_change = leg.peak_hip_rotation_deg - leg.hip_rotation_start_deg
        return Finding(
            rule="pelvis_compensation",
            side=leg.side,
            rep=rep.index,
            message=(
                f"Rep {rep.index}, {_LEG[leg.side]} leg: the pelvis turned "
                f"{d_rot:+.1f} deg and tilted sideways {d_obl:+.1f} deg from the start of the "
                f"rep to its bottom, at {flexion:.0f} deg hip flexion; that carries the "
                f"{_LEG[leg.side]} thigh {carried:.1f} deg into internal rotation in the room "
                f"(or, with the foot planted, turns the hip {carried:.1f} deg out of it), more "
                f"than the {p.pelvis_threshold_deg:.1f} deg allowed plus the {margin:.1f} deg "
                f"measurement margin: the pelvis is doing rotation the hip should do. The hip "
                f"itself rotated {hip_change:+.1f} deg."
            ),
            values={
                "pelvis_rotation_change_deg": d_rot,
                "pelvis_obliquity_change_deg": d_obl,
                "hip_flexion_deg": flexion,
                "pelvic_rotation_about_femur_deg": carried,
                "hip_rotation_change_deg": hip_change,
                "threshold_deg": p.pelvis_threshold_deg,
                "margin_deg": margin,
            },
        )

    def _front_knee(self, rep: Rep, leg: LegRep) -> Finding | None:
        p = self.params
        if not leg.lead or rep.exercise not in p.knee_back_exercises:
            return None
        start = leg.shank_inclination_start_deg
        bottom = leg.shank_inclination_bottom_deg
        fall = start - bottom
        margin = p.margin_sigmas * p.shank_inclination_error_deg
        if math.isnan(fall) or not fall > p.knee_back_threshold_deg + margin:
            return None
        return Finding(
            rule="front_knee_back",
            side=leg.side,
            rep=rep.index,
            message=(
                f"Rep {rep.index}, {_LEG[leg.side]} (front) leg: the knee drifted back: the "
                f"shank leaned {start:.1f} deg forward at the start and {bottom:.1f} deg at the "
                f"bottom, {fall:.1f} deg less, more than the {p.knee_back_threshold_deg:.1f} deg "
                f"allowed plus the {margin:.1f} deg measurement margin. Drive the front knee "
                "forward over the toes."
            ),
            values={
                "shank_inclination_start_deg": start,
                "shank_inclination_bottom_deg": bottom,
                "fall_deg": fall,
                "threshold_deg": p.knee_back_threshold_deg,
                "margin_deg": margin,
            },
        )

    def _asymmetry(self, rep: Rep) -> Finding | None:
        p = self.params
        if "r" not in rep.legs or "l" not in rep.legs:
            return None
        right, left = rep.legs["r"], rep.legs["l"]
        if right.lead != left.lead:
            return None
        diff = right.peak_hip_rotation_deg - left.peak_hip_rotation_deg
        error = p.rep_error_deg(rep.exercise, rep.hip_reference)
        margin = p.margin_sigmas * math.hypot(error, error)
        if math.isnan(diff) or not abs(diff) > p.asymmetry_threshold_deg + margin:
            return None
        low: Side = "l" if diff > 0 else "r"
        low_leg, high_leg = rep.legs[low], rep.legs[_OTHER[low]]
        name = self._rotation_name(rep)
        return Finding(
            rule="asymmetry",
            side=low,
            rep=rep.index,
            message=(
                f"Rep {rep.index}: {name} {low_leg.peak_hip_rotation_deg:.1f} deg on the "
                f"{_LEG[low]} leg against {high_leg.peak_hip_rotation_deg:.1f} deg on the "
                f"{_LEG[_OTHER[low]]}, {abs(diff):.1f} deg less on the {_LEG[low]}: more than "
                f"the {p.asymmetry_threshold_deg:.1f} deg allowed plus the {margin:.1f} deg "
                "measurement margin of a left/right difference."
            ),
            values={
                "hip_rotation_r_deg": right.peak_hip_rotation_deg,
                "hip_rotation_l_deg": left.peak_hip_rotation_deg,
                "difference_deg": diff,
                "threshold_deg": p.asymmetry_threshold_deg,
                "margin_deg": margin,
            },
        )

    def _set_asymmetry(self, reps: list[Rep]) -> tuple[Finding | None, str]:
        """The ``set_asymmetry`` finding of one exercise's reps (one hip reference), or the
        note saying why there is none ("" for bilateral reps, which the rule leaves alone)."""
        p = self.params
        first = reps[0]
        values: dict[Side, list[float]] = {"r": [], "l": []}
        one_leg = 0
        for rep in reps:
            leads = rep.lead_sides
            if len(rep.legs) < 2:
                one_leg += 1
            elif len(leads) == 1:
                value = rep.legs[leads[0]].peak_hip_rotation_deg
                if math.isfinite(value):
                    values[leads[0]].append(value)
        head = f"set_asymmetry, {first.exercise}"
        n_r, n_l = len(values["r"]), len(values["l"])
        if n_r + n_l == 0:
            if one_leg:
                return None, (
                    f"{head}: not compared: only one leg is instrumented, so the lead leg of "
                    "a rep cannot be told"
                )
            return None, ""
        if min(n_r, n_l) < p.set_asymmetry_min_reps:
            return None, (
                f"{head}: not compared: {n_r} reps led by the right leg and {n_l} led by the "
                f"left with a value; at least {p.set_asymmetry_min_reps} on each side are needed"
            )
        mean_r, sd_r = statistics.fmean(values["r"]), statistics.stdev(values["r"])
        mean_l, sd_l = statistics.fmean(values["l"]), statistics.stdev(values["l"])
        diff = mean_r - mean_l
        rep_error = p.rep_error_deg(first.exercise, first.hip_reference)
        random_error = p.ir_random_error_deg
        systematic = math.sqrt(rep_error**2 - random_error**2)
        # Per side: the systematic error stays whole, the rep-to-rep scatter (the observed SD,
        # never believed below the random measurement error) shrinks with the reps.
        variance = (
            2 * systematic**2
            + (max(sd_r, random_error) ** 2 / n_r)
            + (max(sd_l, random_error) ** 2 / n_l)
        )
        margin = p.margin_sigmas * math.sqrt(variance)
        name = self._rotation_name(first)
        numbers = (
            f"{name} of the lead leg {mean_r:.1f} ± {sd_r:.1f} deg (mean ± SD of {n_r} reps) "
            f"leading with the right leg, {mean_l:.1f} ± {sd_l:.1f} deg ({n_l} reps) leading "
            "with the left"
        )
        limit = f"the {p.asymmetry_threshold_deg:.1f} deg allowed plus the {margin:.1f} deg margin"
        if not abs(diff) > p.asymmetry_threshold_deg + margin:
            return None, (
                f"{head}: {numbers}: {abs(diff):.1f} deg apart, within {limit}: no asymmetry "
                "beyond the measurement noise"
            )
        low: Side = "l" if diff > 0 else "r"
        finding = Finding(
            rule="set_asymmetry",
            side=low,
            rep=None,
            message=(
                f"{first.exercise}, sets led by the right against the left leg: {numbers}; "
                f"{abs(diff):.1f} deg less on the {_LEG[low]}: more than {limit} of a "
                f"difference of two set means ({systematic:.1f} deg systematic error per leg, "
                "from calibration, heading and soft tissue, which more reps do not average "
                "out, and the rep-to-rep scatter, which they do)."
            ),
            values={
                "hip_rotation_r_deg": mean_r,
                "sd_r_deg": sd_r,
                "n_r": float(n_r),
                "hip_rotation_l_deg": mean_l,
                "sd_l_deg": sd_l,
                "n_l": float(n_l),
                "difference_deg": diff,
                "threshold_deg": p.asymmetry_threshold_deg,
                "margin_deg": margin,
                "systematic_error_deg": systematic,
                "random_error_deg": random_error,
            },
        )
        return finding, ""
