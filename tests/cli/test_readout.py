"""Rendering of the live panel and the summary."""

from __future__ import annotations

import io
import math
from dataclasses import replace

from coxa.analysis import Finding, LegRep, Rep
from coxa.cli._readout import (
    LiveState,
    TerminalPanel,
    TruthRep,
    findings_by_rep,
    render_live,
    render_summary,
    rep_lines,
)
from coxa.cli._session import SessionPanel
from coxa.geometry import Side


def _state(reps: int) -> LiveState:
    return LiveState(
        t_s=3.25,
        status="streaming",
        hip_reference="room",
        rotation_deg={"r": 12.34, "l": math.nan},
        knee_deg={"r": 80.0, "l": 79.5},
        reps=reps,
        in_rep=True,
    )


def test_live_panel_shows_values_and_missing_ones() -> None:
    lines = render_live(_state(2))
    text = "\n".join(lines)
    assert "femoral rot." in text  # no pelvis board: not called hip IR
    assert "+12.3°" in text
    assert "--" in lines[3]
    assert "reps: 2" in lines[0]


def test_panel_redraws_in_place_on_a_terminal() -> None:
    out = io.StringIO()
    panel = TerminalPanel(out, in_place=True)
    panel.show(_state(1))
    panel.show(_state(2))
    assert out.getvalue().count("\x1b[4F") == 1


def test_summary_compares_with_truth() -> None:
    nan = float("nan")
    leg = LegRep(
        side="r",
        lead=True,
        t_start_us=0.0,
        t_bottom_us=1e6,
        t_end_us=2e6,
        peak_hip_rotation_deg=21.0,
        hip_rotation_excursion_deg=nan,
        hip_rotation_start_deg=nan,
        peak_knee_deg=90.0,
        peak_hip_flexion_deg=80.0,
        hip_flexion_bottom_deg=nan,
        shank_inclination_start_deg=nan,
        shank_inclination_bottom_deg=nan,
        knee_valgus_proxy_deg=nan,
        pelvis_rotation_change_deg=nan,
        pelvis_obliquity_change_deg=nan,
        pelvis_tilt_change_deg=nan,
        eccentric_s=nan,
        concentric_s=nan,
    )
    rep = Rep(1, 0.0, 2e6, {"r": leg}, "squat", "pelvis")
    lines = render_summary([rep], "pelvis", [TruthRep({"r": 20.0}, {"r": 90.0})])
    assert lines[0] == "reps: 1"
    assert any("+1.00" in line for line in lines)
    assert lines[-1].endswith("median 1.00°, max 1.00°")


def _leg(side: Side, lead: bool, ir_deg: float) -> LegRep:
    nan = float("nan")
    return LegRep(
        side=side,
        lead=lead,
        t_start_us=0.0,
        t_bottom_us=1e6,
        t_end_us=2e6,
        peak_hip_rotation_deg=ir_deg,
        hip_rotation_excursion_deg=8.0,
        hip_rotation_start_deg=nan,
        peak_knee_deg=90.0,
        peak_hip_flexion_deg=80.0,
        hip_flexion_bottom_deg=78.0,
        shank_inclination_start_deg=nan,
        shank_inclination_bottom_deg=nan,
        knee_valgus_proxy_deg=nan,
        pelvis_rotation_change_deg=nan,
        pelvis_obliquity_change_deg=nan,
        pelvis_tilt_change_deg=nan,
        eccentric_s=nan,
        concentric_s=nan,
    )


def _finding(rule: str, side: Side | None, rep: int) -> Finding:
    return Finding(rule, side, rep, f"Rep {rep}: {rule} because of the numbers", {})


def test_rep_block_names_the_lead_leg_and_every_finding() -> None:
    rep = Rep(
        2, 0.0, 2.5e6, {"l": _leg("l", False, 3.0), "r": _leg("r", True, 11.5)}, "hinge", "room"
    )
    lines = rep_lines(rep, [_finding("at_capacity", "r", 2)])
    assert lines[0] == "rep 2 (hinge, 2.5 s)"
    assert lines[1].startswith("  right lead  knee ")  # right first, the lead leg marked
    assert "femoral rot.  +11.5°" in lines[1]  # no pelvis board: not called hip IR
    assert lines[2].startswith("  left        knee ")
    assert lines[3] == "  ! at_capacity: Rep 2: at_capacity because of the numbers"
    assert rep_lines(rep, [])[-1] == "  no findings"


def test_summary_findings_column_and_reasons() -> None:
    reps = [
        Rep(
            1, 0.0, 2e6, {"r": _leg("r", True, 10.0), "l": _leg("l", True, 2.0)}, "squat", "pelvis"
        ),
        Rep(
            2, 3e6, 5e6, {"r": _leg("r", True, 10.0), "l": _leg("l", True, 9.0)}, "squat", "pelvis"
        ),
    ]
    findings = {1: [_finding("asymmetry", "l", 1), _finding("note", None, 1)], 2: []}
    lines = render_summary(reps, "pelvis", findings=findings)
    assert lines[1].endswith("findings")
    assert lines[2].endswith("  note")  # rep 1 right: only the finding about both legs
    assert lines[3].endswith("  asymmetry, note")
    assert lines[4].endswith("  -")
    assert lines[6] == "findings: 2:"
    assert lines[7] == "  asymmetry: Rep 1: asymmetry because of the numbers"


def test_summary_lists_session_findings_and_notes_after_the_reps() -> None:
    reps = [
        Rep(1, 0.0, 2e6, {"r": _leg("r", True, 20.0), "l": _leg("l", False, 2.0)}, "hinge", "room")
    ]
    per_rep = {1: [_finding("front_knee_back", "r", 1)]}
    session = [Finding("set_asymmetry", "l", None, "hinge, sets led by ...: 9.0 deg less", {})]
    notes = ["set_asymmetry, step_up: not compared: ..."]
    lines = render_summary(
        reps, "room", findings=per_rep, session_findings=session, session_notes=notes
    )
    assert lines[-5:] == [
        "findings: 1:",
        "  front_knee_back: Rep 1: front_knee_back because of the numbers",
        "across reps and sets: 1 finding:",
        "  set_asymmetry: hinge, sets led by ...: 9.0 deg less",
        "  (set_asymmetry, step_up: not compared: ...)",
    ]
    # A session finding is about no single rep: not in any rep's findings column.
    assert lines[3].endswith("  front_knee_back")
    assert lines[4].endswith("  -")
    # Nothing to say across the reps: no such block; the per-rep findings by rep number.
    assert not any(line.startswith("across") for line in render_summary(reps, "room"))
    assert findings_by_rep(reps, [*session, *per_rep[1]]) == per_rep
    assert findings_by_rep([*reps, replace(reps[0], index=2)], []) == {1: [], 2: []}


def test_rep_blocks_print_above_the_panel() -> None:
    out = io.StringIO()
    panel = SessionPanel(out, in_place=True)
    panel.show(["panel a", "panel b"])
    panel.log(["rep 1"])
    text = out.getvalue()
    # Back over the panel, the rep line, then the panel again below it.
    assert text.endswith("\x1b[2F\x1b[2Krep 1\n\x1b[2Kpanel a\n\x1b[2Kpanel b\n")
    plain = io.StringIO()
    appended = SessionPanel(plain, in_place=False)
    appended.show(["panel"])
    appended.log(["rep 1"])
    assert plain.getvalue() == "panel\nrep 1\n"
