"""Terminal readout: a live panel per leg, a block per completed rep with its findings, and
the end-of-set summary table."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from coxa.analysis import Finding, Rep
from coxa.fusion import HipReference
from coxa.geometry import Side

_SIDE_NAMES: dict[Side, str] = {"r": "right", "l": "left"}


def rotation_label(hip_reference: HipReference) -> str:
    """Column title of the rotation angle: hip IR needs a pelvis board."""
    return "hip IR" if hip_reference == "pelvis" else "femoral rot."


def _deg(value: float, signed: bool = True) -> str:
    if math.isnan(value):
        return "   --  "
    return f"{value:+6.1f}°" if signed else f"{value:6.1f}°"


@dataclass(frozen=True)
class LiveState:
    """What the live panel shows at one moment.

    Attributes
    ----------
    t_s : float
        Session time, seconds.
    status : str
        One-line status (calibrating, streaming, ...).
    hip_reference : {'pelvis', 'room'}
    rotation_deg, knee_deg : dict of side to float
        Latest hip (or femoral) internal rotation and knee flexion, degrees (NaN if unknown).
    reps : int
        Reps counted so far.
    in_rep : bool
        Whether a rep is under way.
    """

    t_s: float
    status: str
    hip_reference: HipReference
    rotation_deg: dict[Side, float]
    knee_deg: dict[Side, float]
    reps: int
    in_rep: bool


def render_live(state: LiveState) -> list[str]:
    """Lines of the live panel (always the same number of lines)."""
    label = rotation_label(state.hip_reference)
    phase = "in rep" if state.in_rep else "between reps"
    lines = [
        f"t = {state.t_s:6.1f} s   {state.status:<44} reps: {state.reps:<3} ({phase})",
        f"          {label:>13}   knee flexion",
    ]
    for side in ("r", "l"):
        rotation = state.rotation_deg.get(side, math.nan)
        knee = state.knee_deg.get(side, math.nan)
        lines.append(f"  {_SIDE_NAMES[side]:<6}  {_deg(rotation):>13}   {_deg(knee, False):>12}")
    return lines


class TerminalPanel:
    """Redraws the live panel in place on a terminal, or appends lines to a plain stream.

    Parameters
    ----------
    stream : text stream
        Where to write (standard output for the CLI).
    in_place : bool
        Redraw over the previous panel with ANSI cursor movement (a terminal), instead of
        appending (a pipe or a log file).
    """

    def __init__(self, stream: TextIO, in_place: bool) -> None:
        self._stream = stream
        self._in_place = in_place
        self._drawn = 0

    def show(self, state: LiveState) -> None:
        """Draw the panel for ``state``."""
        lines = render_live(state)
        if self._in_place and self._drawn:
            self._stream.write(f"\x1b[{self._drawn}F")
        for line in lines:
            self._stream.write(("\x1b[2K" if self._in_place else "") + line + "\n")
        self._drawn = len(lines)
        self._stream.flush()


@dataclass(frozen=True)
class TruthRep:
    """Simulated truth of one rep, for the demo's comparison column.

    Attributes
    ----------
    peak_hip_rotation_deg : dict of side to float
        True peak hip internal rotation per leg, degrees.
    peak_knee_deg : dict of side to float
        True peak knee flexion per leg, degrees.
    """

    peak_hip_rotation_deg: dict[Side, float]
    peak_knee_deg: dict[Side, float]


def findings_by_rep(reps: Sequence[Rep], findings: Iterable[Finding]) -> dict[int, list[Finding]]:
    """Per-rep findings by rep number, every rep with an entry (possibly empty); session
    findings (``rep`` None) are left out."""
    out: dict[int, list[Finding]] = {rep.index: [] for rep in reps}
    for finding in findings:
        if finding.rep is not None:
            out.setdefault(finding.rep, []).append(finding)
    return out


def leg_findings(findings: Sequence[Finding], side: Side) -> list[Finding]:
    """The findings about one leg (a finding about no leg in particular is about both)."""
    return [f for f in findings if f.side is None or f.side == side]


def rep_lines(rep: Rep, findings: Sequence[Finding]) -> list[str]:
    """A completed rep as it appears in the live readout: one line per leg, then each finding
    in plain words (or that there is none)."""
    label = rotation_label(rep.hip_reference)
    lines = [f"rep {rep.index} ({rep.exercise}, {rep.duration_s:.1f} s)"]
    for side, leg in sorted(rep.legs.items(), key=lambda item: item[0] != "r"):
        lead = " lead" if leg.lead and len(rep.legs) > 1 else ""
        lines.append(
            f"  {_SIDE_NAMES[side]:<5}{lead:<5}  knee {_deg(leg.peak_knee_deg, False)}  "
            f"hip flex {_deg(leg.hip_flexion_bottom_deg, False)}  "
            f"{label} {_deg(leg.peak_hip_rotation_deg)} (excursion "
            f"{_deg(leg.hip_rotation_excursion_deg, False).strip()})"
        )
    lines += [f"  ! {f.rule}: {f.message}" for f in findings]
    if not findings:
        lines.append("  no findings")
    return lines


def render_summary(
    reps: Sequence[Rep],
    hip_reference: HipReference,
    truth: Sequence[TruthRep] | None = None,
    findings: Mapping[int, Sequence[Finding]] | None = None,
    session_findings: Sequence[Finding] = (),
    session_notes: Sequence[str] = (),
) -> list[str]:
    """Lines of the per-rep summary; with ``truth``, a truth and an error column per value;
    with ``findings`` (per rep number), a column of each leg's finding rules and every
    finding's reason in plain words below the table; then the session findings
    (:meth:`coxa.analysis.FindingRules.evaluate_session`: comparisons across reps and sets)
    and the notes on the comparisons that gave none, when there are any."""
    label = rotation_label(hip_reference)
    lines = [f"reps: {len(reps)}"]
    if hip_reference == "room":
        lines.append("(no pelvis board: rotation is the femur relative to the room)")
    header = f"{'rep':>3}  {'leg':<5}  {'dur s':>5}  {'knee flex':>9}  {label + ' peak':>18}"
    if truth is not None:
        header += f"  {'truth':>7}  {'error':>6}"
    if findings is not None:
        header += "  findings"
    lines.append(header)
    errors: list[float] = []
    for i, rep in enumerate(reps):
        true_rep = truth[i] if truth is not None and i < len(truth) else None
        for side, leg in sorted(rep.legs.items(), key=lambda item: item[0] != "r"):
            row = (
                f"{rep.index:>3}  {_SIDE_NAMES[side]:<5}  {rep.duration_s:5.2f}  "
                f"{_deg(leg.peak_knee_deg, False):>9}  {_deg(leg.peak_hip_rotation_deg):>18}"
            )
            if true_rep is not None and side in true_rep.peak_hip_rotation_deg:
                true_value = true_rep.peak_hip_rotation_deg[side]
                error = leg.peak_hip_rotation_deg - true_value
                errors.append(abs(error))
                row += f"  {_deg(true_value):>7}  {error:+6.2f}"
            elif truth is not None:
                row += f"  {'':>7}  {'':>6}"
            if findings is not None:
                rules = [f.rule for f in leg_findings(findings.get(rep.index, ()), side)]
                row += "  " + (", ".join(rules) if rules else "-")
            lines.append(row)
    if findings is not None:
        every = [f for rep in reps for f in findings.get(rep.index, ())]
        lines.append(f"findings: {len(every)}" + (":" if every else ""))
        lines += [f"  {f.rule}: {f.message}" for f in every]
    if session_findings or session_notes:
        count = len(session_findings)
        lines.append(f"across reps and sets: {count} finding{'' if count == 1 else 's'}:")
        lines += [f"  {f.rule}: {f.message}" for f in session_findings]
        lines += [f"  ({note})" for note in session_notes]
    if truth is not None:
        lines.append(f"simulated reps: {len(truth)}")
        if errors:
            errors.sort()
            median = errors[len(errors) // 2]
            lines.append(
                f"{label} peak error vs truth: median {median:.2f}°, max {errors[-1]:.2f}°"
            )
    return lines
