"""Trials, end points, pelvic lift, knee check and trial SD on simulated clinical tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.assess import (
    AssessParams,
    ClinicalTestAnalysis,
    SideResult,
    SimulatedTest,
    clinical_motion,
    protocol,
    true_values_deg,
)
from coxa.fusion import AngleTable
from coxa.geometry import Side
from tests.assess.test_accuracy import BOARD_BOUND_DEG, IMU, examples, simulate

LIFT = AssessParams().lift_threshold_deg


def run(
    test: str,
    side: Side,
    *,
    trials: int = 3,
    ir_deg: float = 30.0,
    spread_deg: float = 0.0,
    knee_deg: float | None = None,
    lift_deg: float = 0.0,
    lift_onset: float = 0.0,
    pelvis: bool = True,
    seed: int = 1,
) -> tuple[SimulatedTest, SideResult]:
    motion = clinical_motion(
        test,
        side,
        trials=trials,
        ir_deg=ir_deg,
        ir_spread_deg=spread_deg,
        knee_deg=knee_deg,
        pelvis_lift_deg=lift_deg,
        seed=seed,
        pelvis_excursion_onset=lift_onset,
    )
    simulated = simulate(motion, pelvis, IMU, seed)
    return simulated, ClinicalTestAnalysis(test).measure(simulated.table, side, trials)


def true_hold_deg(simulated: SimulatedTest, test: str, hold_us: tuple[float, float]) -> float:
    t = simulated.table.t_us
    rows = t[(t >= hold_us[0]) & (t <= hold_us[1])]
    return float(np.mean(true_values_deg(simulated, protocol(test), rows)["value"]))


@settings(examples, max_examples=4)
@given(
    test=st.sampled_from(["prone-ir", "seated-ir"]),
    side=st.sampled_from(["r", "l"]),
    lift_deg=st.floats(4.5, 10.0),
    lift_onset=st.floats(0.0, 0.6),
    seed=st.integers(0, 2**16),
)
def test_pelvic_lift_is_detected_and_the_value_taken_at_its_onset(
    test: str, side: Side, lift_deg: float, lift_onset: float, seed: int
) -> None:
    """The pelvis rolls or hikes by ``lift_deg`` at the end position, starting when the hip
    IR passes ``lift_onset`` of it."""
    simulated, result = run(
        test, side, trials=2, lift_deg=lift_deg, lift_onset=lift_onset, seed=seed
    )
    assert len(result.trials) == 2
    for trial in result.trials:
        assert trial.pelvic_lift, trial
        assert any("pelvic lift" in flag for flag in trial.flags)
        assert trial.pelvis_change_deg > LIFT
        # The value is the hip IR before the lift: at its onset when the pelvis lifted on the
        # way out, or the end position's hold up to the onset when it lifted during the hold.
        truth = true_hold_deg(simulated, test, trial.t_hold_us)
        assert abs(trial.value_deg - truth) <= BOARD_BOUND_DEG
        true_pelvis = true_values_deg(
            simulated, protocol(test), np.array([trial.t_start_us, trial.t_hold_us[1]])
        )
        moved = max(
            abs(true_pelvis[c][1] - true_pelvis[c][0]) for c in ("pelvis_yaw", "pelvis_obliquity")
        )
        assert moved < LIFT + 1.0  # nothing after the true pelvis crossed the threshold
        if trial.t_hold_us[0] == trial.t_hold_us[1]:  # taken at the onset, on the way out
            assert trial.t_hold_us[0] == trial.t_end_point_us
            assert abs(moved - LIFT) < 1.0  # onset where the true pelvis crossed the threshold
            assert trial.value_deg < trial.peak_deg - 0.5  # stopped before the end position


@settings(examples, max_examples=4)
@given(
    test=st.sampled_from(["prone-ir", "seated-ir"]),
    side=st.sampled_from(["r", "l"]),
    lift_deg=st.floats(0.0, 1.5),
    seed=st.integers(0, 2**16),
)
def test_no_pelvic_lift_without_one(test: str, side: Side, lift_deg: float, seed: int) -> None:
    simulated, result = run(test, side, trials=2, lift_deg=lift_deg, seed=seed)
    assert len(result.trials) == 2
    for trial in result.trials:
        assert not trial.pelvic_lift, trial.flags
        assert trial.pelvis_change_deg < LIFT
        assert (
            abs(trial.value_deg - true_hold_deg(simulated, test, trial.t_hold_us))
            <= BOARD_BOUND_DEG
        )
    assert result.all_flags == ()


def test_without_a_pelvis_board_a_lift_is_not_seen_and_said_so() -> None:
    _, lifted = run("prone-ir", "r", trials=1, lift_deg=8.0, pelvis=False)
    assert not lifted.trials[0].pelvic_lift
    assert math.isnan(lifted.trials[0].pelvis_change_deg)
    assert lifted.hip_reference == "room"
    assert any("no pelvis board" in flag for flag in lifted.flags)
    assert "relative to the room" in lifted.label
    # The roll adds to the room reading (domain notes section 3): about 8 deg more.
    _, still = run("prone-ir", "r", trials=1, pelvis=False)
    assert lifted.mean_deg - still.mean_deg == pytest.approx(8.0, abs=1.0)


@pytest.mark.parametrize("side", ["r", "l"])
def test_three_trials_mean_and_sd_follow_the_truth(side: Side) -> None:
    simulated, result = run("seated-ir", side, ir_deg=35.0, spread_deg=4.0, seed=1)
    assert len(result.trials) == 3
    truths = [true_hold_deg(simulated, "seated-ir", t.t_hold_us) for t in result.trials]
    assert np.std(truths, ddof=1) > 1.0  # the drawn trials differ
    assert result.sd_deg == pytest.approx(float(np.std(result.values_deg, ddof=1)))
    assert result.sd_deg == pytest.approx(float(np.std(truths, ddof=1)), abs=0.5)
    assert result.mean_deg == pytest.approx(float(np.mean(truths)), abs=BOARD_BOUND_DEG)
    assert [t.index for t in result.trials] == [0, 1, 2]
    assert all(
        a.t_end_us <= b.t_start_us
        for a, b in zip(result.trials[:-1], result.trials[1:], strict=True)
    )
    assert result.hip_flexion_deg == pytest.approx(90.0, abs=3.0)


def test_knee_out_of_range_is_flagged_with_its_value() -> None:
    _, bent = run("prone-ir", "r", trials=1, knee_deg=70.0)
    flags = bent.trials[0].flags
    assert any(flag.startswith("knee at 7") for flag in flags), flags
    assert bent.trials[0].knee_deg == pytest.approx(70.0, abs=BOARD_BOUND_DEG)
    _, near = run("prone-ir", "r", trials=1, knee_deg=95.0)
    assert not any("knee" in flag for flag in near.trials[0].flags)


def test_fewer_trials_than_asked_are_flagged() -> None:
    simulated, _ = run("prone-ir", "r", trials=2)
    result = ClinicalTestAnalysis("prone-ir").measure(simulated.table, "r", 3)
    assert "2 trials found, 3 asked for" in result.flags


def test_no_movement_gives_no_trial_and_says_why() -> None:
    simulated, _ = run("prone-ir", "r", trials=1, ir_deg=2.0)
    result = ClinicalTestAnalysis("prone-ir").measure(simulated.table, "r", 1)
    assert result.trials == ()
    assert math.isnan(result.mean_deg)
    assert any("no trial found" in flag for flag in result.flags)


def test_rows_out_of_the_test_position_are_ignored() -> None:
    """A prone test read as a seated one: the shank points up, never down, so no trial."""
    simulated, _ = run("prone-ir", "r", trials=1)
    result = ClinicalTestAnalysis("seated-ir").measure(simulated.table, "r", 1)
    assert result.trials == ()


def test_a_table_without_the_leg_is_a_clear_error() -> None:
    table = AngleTable(t_us=np.arange(3.0))
    with pytest.raises(ValueError, match="femur_r"):
        ClinicalTestAnalysis("prone-ir").measure(table, "r")


def test_unknown_test_and_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown clinical test"):
        ClinicalTestAnalysis("prone")
    with pytest.raises(ValueError, match="rest_fraction"):
        AssessParams(rest_fraction=0.6)
    with pytest.raises(ValueError, match="lift_threshold_deg"):
        AssessParams(lift_threshold_deg=0.0)
