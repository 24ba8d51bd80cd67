"""Rendering of the live panel and the summary."""

from __future__ import annotations

import io
import math

from coxa.analysis import LegRep, Rep
from coxa.cli._readout import LiveState, TerminalPanel, TruthRep, render_live, render_summary


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
