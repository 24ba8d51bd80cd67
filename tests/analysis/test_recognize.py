"""Exercise recognition: features on synthetic sets with known values, the scorer's decisions,
bad input, and Hypothesis-drawn simulated sets of every exercise through the whole host path.

The simulated sets are those of ``tools/recognize_accuracy.py`` (which draws them with
``tools/rep_accuracy.py``'s set model), shortened to three reps per set; the seeds are drawn
from 10000 up, disjoint from the seeds the default prototypes were derived from (1000-1014)
and from those the tool measures (0 up). Each example takes about 3-5 s to simulate and fuse;
``COXA_RECOGNITION_EXAMPLES`` sets the examples per exercise and test (default 1). The noisy
cases are marked slow.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st

from coxa.analysis import (
    EXERCISE_IDS,
    RECOGNITION_FEATURES,
    ExerciseId,
    FeatureRange,
    Prototype,
    RecognizeParams,
    exercise_features,
    recognize_exercise,
)
from coxa.fusion import AngleTable, joint_angles_deg
from coxa.geometry import QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, quat_from_axis_angle, quat_multiply
from tests.support.tools import load_tool

EXAMPLES = int(os.environ.get("COXA_RECOGNITION_EXAMPLES", "1"))
RATE_HZ = 100.0
TOP_S, DOWN_S, BOTTOM_S, UP_S = 1.0, 1.5, 0.6, 1.3


tool = load_tool("recognize_accuracy")


# --- synthetic sets -------------------------------------------------------------------------


def _progress(reps: int) -> np.ndarray:
    """Rep progress per row: 0 at the top, 1 at the bottom; raised-cosine descent and ascent,
    pauses at the top and the bottom, a top pause after the last rep."""

    def ramp(seconds: float) -> np.ndarray:
        x = np.linspace(0.0, 1.0, int(seconds * RATE_HZ), endpoint=False)
        return 0.5 - 0.5 * np.cos(np.pi * x)

    one = np.concatenate(
        [
            np.zeros(int(TOP_S * RATE_HZ)),
            ramp(DOWN_S),
            np.ones(int(BOTTOM_S * RATE_HZ)),
            1.0 - ramp(UP_S),
        ]
    )
    return np.concatenate([*([one] * reps), np.zeros(int(TOP_S * RATE_HZ))])


#: Column -> (top, bottom) of a synthetic set, degrees; ``lead`` side first.
Pose = dict[str, tuple[float, float]]


def _table(pose: Pose, reps: int = 4, lead: str = "r", pelvis: bool = True) -> AngleTable:
    """A set whose every column moves from its top to its bottom value with the same progress.

    ``pose`` keys: ``lead_knee``, ``lead_hip``, ``other_knee``, ``other_hip``, ``lead_rot``,
    ``other_rot`` and, with a pelvis board, ``tilt`` and ``turn`` (``pelvis_rotation``).
    """
    s = _progress(reps)
    other = "l" if lead == "r" else "r"

    def col(key: str) -> np.ndarray:
        top, bottom = pose.get(key, (0.0, 0.0))
        return top + (bottom - top) * s

    angles = {
        f"knee_angle_{lead}": col("lead_knee"),
        f"hip_flexion_{lead}": col("lead_hip"),
        f"hip_rotation_{lead}": col("lead_rot"),
        f"knee_angle_{other}": col("other_knee"),
        f"hip_flexion_{other}": col("other_hip"),
        f"hip_rotation_{other}": col("other_rot"),
    }
    if pelvis:
        angles |= {
            "pelvis_tilt": col("tilt"),
            "pelvis_rotation": col("turn"),
            "pelvis_list": np.zeros(s.size),
        }
    t_us = np.arange(s.size, dtype=np.float64) * (1e6 / RATE_HZ)
    return AngleTable(t_us, angles, {}, "pelvis" if pelvis else "room")


HINGE: Pose = {
    "lead_knee": (10.0, 25.0),
    "lead_hip": (10.0, 75.0),
    "other_knee": (15.0, 35.0),
    "other_hip": (-9.0, 58.0),
    "tilt": (0.0, -55.0),
}
SQUAT: Pose = {
    "lead_knee": (0.0, 100.0),
    "lead_hip": (0.0, 80.0),
    "other_knee": (0.0, 100.0),
    "other_hip": (0.0, 79.0),
    "tilt": (0.0, -13.0),
}


@st.composite
def poses(draw: st.DrawFn) -> Pose:
    """Tops and bottoms of a rep led by the lead knee: every other knee and hip column stays
    at or below it (so the depth signal is the lead knee, linear in the rep progress), and
    the lead hip ends deeper than the other one (so the lead leg is known)."""
    knee_top = draw(st.floats(0.0, 20.0))
    knee_bottom = knee_top + draw(st.floats(30.0, 120.0))
    lead_hip_top = draw(st.floats(-5.0, knee_top))
    lead_hip = lead_hip_top + draw(st.floats(6.0, min(90.0, knee_bottom - lead_hip_top)))
    return {
        "lead_knee": (knee_top, knee_bottom),
        "lead_hip": (lead_hip_top, lead_hip),
        "other_knee": (draw(st.floats(0.0, knee_top)), draw(st.floats(0.0, knee_bottom))),
        "other_hip": (
            draw(st.floats(-35.0, min(10.0, knee_top))),
            lead_hip - draw(st.floats(1.0, 100.0)),
        ),
        "tilt": (0.0, draw(st.floats(-60.0, 10.0))),
        "turn": (0.0, draw(st.floats(-15.0, 15.0))),
        "lead_rot": (0.0, draw(st.floats(-15.0, 20.0))),
        "other_rot": (0.0, draw(st.floats(-15.0, 20.0))),
    }


def _change(pose: Pose, key: str) -> float:
    top, bottom = pose.get(key, (0.0, 0.0))
    return bottom - top


@settings(max_examples=40, deadline=None)
@given(pose=poses(), reps=st.integers(1, 5), lead=st.sampled_from(["r", "l"]))
def test_features_of_synthetic_sets_are_the_constructed_values(
    pose: Pose, reps: int, lead: str
) -> None:
    """Every column moves with the same progress ``s``, so the ratios are exact. The depth is
    the lead knee, so the bottom window (depth within 5 deg of its peak) holds ``s >= 1 -
    5/Δknee`` and the top window (within 3 deg of the top) ``s <= 3/Δknee``: a bottom value is
    within ``|Δcolumn| * 5/Δknee`` of the constructed one, a top value within ``* 3/Δknee``."""
    f = exercise_features(_table(pose, reps, lead))
    assert f["reps"] == reps
    knee_lead, hip_lead = _change(pose, "lead_knee"), _change(pose, "lead_hip")
    assert f["knee_to_hip"] == pytest.approx(knee_lead / hip_lead, rel=1e-9)
    assert f["other_to_lead_knee"] == pytest.approx(
        _change(pose, "other_knee") / knee_lead, rel=1e-9, abs=1e-12
    )
    bottom_reach, top_reach = 5.0 / knee_lead, 3.0 / knee_lead

    def near(value: float, expected: float, reach: float) -> None:
        assert abs(value - expected) <= reach + 1e-9, (value, expected, reach)

    bottom = {k: v[1] for k, v in pose.items()}
    near(
        f["hip_asymmetry_deg"],
        bottom["lead_hip"] - bottom["other_hip"],
        abs(hip_lead - _change(pose, "other_hip")) * bottom_reach,
    )
    near(
        f["rear_minus_front_knee_deg"],
        bottom["other_knee"] - bottom["lead_knee"],
        abs(_change(pose, "other_knee") - knee_lead) * bottom_reach,
    )
    near(f["other_hip_top_deg"], pose["other_hip"][0], abs(_change(pose, "other_hip")) * top_reach)
    both = bottom_reach + top_reach
    near(f["forward_tilt_deg"], -_change(pose, "tilt"), abs(_change(pose, "tilt")) * both)
    toward_lead = -1.0 if lead == "r" else 1.0
    turn = _change(pose, "turn")
    near(f["turn_toward_lead_deg"], toward_lead * turn, abs(turn) * both)
    seated_at_bottom = (
        min(bottom["lead_hip"], bottom["other_hip"]) >= 50.0
        and min(bottom["lead_knee"], bottom["other_knee"]) >= 60.0
    )
    assert (f["seated_fraction"] > 0.0) == seated_at_bottom


def test_radio_gaps_change_the_features_little() -> None:
    """Bursts of lost rows (10 % of the set) are bridged: every feature within 1 deg (0.02 for
    the ratios) of the gap-free set's."""
    table = _table(HINGE)
    rng = np.random.default_rng(7)
    lost = np.zeros(table.n_rows, dtype=bool)
    while lost.mean() < 0.1:
        start = int(rng.integers(0, table.n_rows - 30))
        lost[start : start + int(rng.integers(5, 30))] = True
    gappy = AngleTable(
        table.t_us,
        {k: np.where(lost, np.nan, v) for k, v in table.angles_deg.items()},
        {},
        "pelvis",
    )
    clean, with_gaps = exercise_features(table), exercise_features(gappy)
    assert with_gaps["reps"] == clean["reps"]
    for name in RECOGNITION_FEATURES:
        tol = 1.0 if name.endswith("_deg") else 0.02
        assert with_gaps[name] == pytest.approx(clean[name], abs=tol, nan_ok=True), name


def test_without_a_pelvis_board_the_pelvis_features_are_not_used() -> None:
    """Room reference: the pelvis features and the knee-to-hip ratio (the hip columns are
    thigh inclinations) are NaN, the others are computed."""
    f = exercise_features(_table(SQUAT, pelvis=False))
    for name in ("forward_tilt_deg", "turn_toward_lead_deg", "knee_to_hip"):
        assert math.isnan(f[name]), name
    assert f["hip_asymmetry_deg"] == pytest.approx(1.0, abs=0.1)
    assert f["other_to_lead_knee"] == pytest.approx(1.0)


def test_thigh_inclination_comes_from_the_femur_orientation_when_present() -> None:
    """Seated: both thighs at least 50 deg from the vertical and both knees at least 60 deg;
    with femur orientations the thighs' inclination is read from them, not the hip columns."""
    n = 600
    t_us = np.arange(n, dtype=np.float64) * 1e4
    bent = {f"{j}_{s}": np.full(n, 90.0) for j in ("knee_angle", "hip_flexion") for s in "rl"}
    bent |= {"hip_rotation_r": np.zeros(n), "hip_rotation_l": np.zeros(n)}
    assert exercise_features(AngleTable(t_us, bent))["seated_fraction"] == 1.0
    # The neutral standing femur (long axis up) is not seated; the identity orientation puts
    # the femur's long (Y) axis along the horizontal world Y axis: seated.
    upright = np.tile(QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, (n, 1))
    level = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    for quat, expected in ((upright, 0.0), (level, 1.0)):
        quats = {"femur_r": quat, "femur_l": quat}
        f = exercise_features(AngleTable(t_us, bent, quats))
        assert f["seated_fraction"] == expected


# --- recognition decisions ---------------------------------------------------------------------


def _ninety_ninety(n_swings: int = 4) -> AngleTable:
    """Seated on the floor, hips and knees held near 90 deg, the hips counter-rotating
    between 35 deg IR and 45 deg ER."""
    s = _progress(n_swings)
    swing = -45.0 + 80.0 * s
    n = s.size
    angles = {
        "hip_flexion_r": np.full(n, 100.0),
        "hip_flexion_l": np.full(n, 102.0),
        "knee_angle_r": np.full(n, 90.0) + 2.0 * s,
        "knee_angle_l": np.full(n, 91.0),
        "hip_rotation_r": swing,
        "hip_rotation_l": -10.0 - swing,
    }
    return AngleTable(np.arange(n, dtype=np.float64) * 1e4, angles, {}, "pelvis")


def test_synthetic_hinge_squat_and_90_90_are_recognised_with_a_reason() -> None:
    cases: tuple[tuple[AngleTable, ExerciseId], ...] = (
        (_table(HINGE), "hinge"),
        (_table(SQUAT, lead="l"), "squat"),
        (_ninety_ninety(), "90_90"),
    )
    for table, expected in cases:
        r = recognize_exercise(table)
        assert r.exercise == expected, r.reason
        assert r.confident, r.reason
        assert r.reason.startswith(f"Looks like {expected}:")
        assert set(r.scores) == set(EXERCISE_IDS) == set(r.penalties)
        assert sum(r.scores.values()) == pytest.approx(1.0)
        assert max(r.scores, key=lambda e: r.scores[e]) == expected
        assert r.margin == pytest.approx(sorted(r.penalties.values())[1] - r.penalties[expected])


def test_declared_squat_on_hinge_data_warns_in_plain_words() -> None:
    r = recognize_exercise(_table(HINGE))
    warning = r.mismatch_warning("squat")
    assert warning is not None
    assert warning.startswith("The set was declared as squat but it moves like hinge")
    assert "lead knee excursion over lead hip flexion excursion 0.23" in warning
    assert "Check the declared exercise" in warning
    assert r.mismatch_warning("hinge") is None
    with pytest.raises(ValueError, match="unknown exercise 'lunge'"):
        r.mismatch_warning("lunge")


def test_no_warning_when_the_recognition_is_not_confident() -> None:
    """A crossover step-up and a step-up differ only in the pelvis turn: without a pelvis board
    they tie, the recognition is not confident, and a declared crossover step-up is not
    contradicted."""
    step_up: Pose = {
        "lead_knee": (0.0, 90.0),
        "lead_hip": (0.0, 79.0),
        "other_knee": (0.0, 5.0),
        "other_hip": (0.0, -5.0),
    }
    r = recognize_exercise(_table(step_up, pelvis=False))
    assert r.exercise == "step_up"
    assert not r.confident
    assert r.margin == 0.0
    assert "crossover_step_up fits as well" in r.reason
    assert "No pelvis board" in r.reason
    # Without a pelvis board the hip columns are the femur relative to the room, named so.
    assert "lead minus other femoral flexion (relative to the room) at the bottom" in r.reason
    assert "lead minus other hip flexion" not in r.reason
    assert r.mismatch_warning("crossover-step-up") is None
    turned = recognize_exercise(_table(step_up | {"turn": (0.0, -10.0)}, lead="r"))
    assert turned.exercise == "crossover_step_up"
    assert turned.confident
    assert "lead minus other hip flexion at the bottom" in turned.reason


@pytest.mark.parametrize("flexion_deg", [0.0, 90.0])
def test_standing_or_sitting_still_is_not_recognised(flexion_deg: float) -> None:
    """Neither quiet standing nor sitting still on the floor (no 90/90 swing) is an
    exercise."""
    n = 1000
    angles = {
        f"{j}_{s}": np.full(n, flexion_deg) for j in ("knee_angle", "hip_flexion") for s in "rl"
    }
    angles |= {"hip_rotation_r": np.full(n, 3.0), "hip_rotation_l": np.full(n, -2.0)}
    r = recognize_exercise(AngleTable(np.arange(n, dtype=np.float64) * 1e4, angles))
    assert r.exercise is None
    assert not r.confident
    assert r.reason.startswith("No rep found")
    assert "the hips do not counter-rotate" in r.reason
    assert r.features["reps"] == 0
    assert math.isnan(r.features["swing_to_depth"])
    assert r.mismatch_warning("squat") is None


# --- bad input ---------------------------------------------------------------------------------


def test_a_table_without_knee_columns_is_refused() -> None:
    table = _table(SQUAT)
    angles = {k: v for k, v in table.angles_deg.items() if not k.startswith("knee_angle")}
    with pytest.raises(ValueError, match=r"both legs instrumented.*knee_angle_r, knee_angle_l"):
        recognize_exercise(AngleTable(table.t_us, angles))


def test_a_table_with_an_empty_column_is_refused() -> None:
    table = _table(SQUAT)
    angles = dict(table.angles_deg) | {"hip_rotation_l": np.full(table.n_rows, np.nan)}
    with pytest.raises(ValueError, match="no finite value in hip_rotation_l"):
        recognize_exercise(AngleTable(table.t_us, angles))


@pytest.mark.parametrize("rows", [0, 1, 250])
def test_a_too_short_table_is_refused(rows: int) -> None:
    table = _table(SQUAT)
    short = AngleTable(table.t_us[:rows], {k: v[:rows] for k, v in table.angles_deg.items()})
    with pytest.raises(ValueError, match=r"two rows|too short"):
        recognize_exercise(short)


def test_times_must_increase() -> None:
    table = _table(SQUAT)
    t_us = table.t_us.copy()
    t_us[100] = t_us[99]
    with pytest.raises(ValueError, match="strictly increasing"):
        recognize_exercise(AngleTable(t_us, table.angles_deg))


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="min_prominence_deg must be > 0"):
        RecognizeParams(min_prominence_deg=0.0)
    with pytest.raises(ValueError, match="one prototype per exercise"):
        RecognizeParams(prototypes=RecognizeParams().prototypes[:-1])
    with pytest.raises(ValueError, match="unknown feature 'depth'"):
        FeatureRange("depth", 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="low <= high and tolerance > 0"):
        FeatureRange("knee_to_hip", 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="low <= high and tolerance > 0"):
        FeatureRange("knee_to_hip", 0.0, 1.0, 0.0)


def test_prototypes_can_be_replaced() -> None:
    """A prototype set that expects a hinge's features of the squat makes the hinge a squat."""
    params = RecognizeParams()
    by_id = {p.exercise: p for p in params.prototypes}
    swapped = [
        Prototype("squat", by_id["hinge"].ranges),
        Prototype("hinge", by_id["squat"].ranges),
        *(p for p in params.prototypes if p.exercise not in ("squat", "hinge")),
    ]
    r = recognize_exercise(_table(HINGE), replace(params, prototypes=tuple(swapped)))
    assert r.exercise == "squat"


@settings(max_examples=20, deadline=None)
@given(facing_deg=st.floats(-170.0, 170.0), seed=st.integers(0, 2**31 - 1))
def test_removing_the_pelvis_board_gives_the_room_hip_angles(facing_deg: float, seed: int) -> None:
    """A pelvis in the neutral pose facing the room's forward direction: the hip angles
    relative to the room (the fusion core's reference without a pelvis board, recovered from
    the pelvis columns by ``recognize_accuracy.without_pelvis_board``) are those relative to
    the pelvis."""
    rng = np.random.default_rng(seed)
    n = 50
    facing_rad = np.full(n, math.radians(facing_deg))
    pelvis = quat_multiply(
        quat_from_axis_angle([0.0, 0.0, 1.0], facing_rad), QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ
    )
    quats = {"pelvis": pelvis}
    for segment in ("femur_r", "femur_l", "tibia_r", "tibia_l"):
        q = rng.normal(size=(n, 4))
        quats[segment] = q / np.linalg.norm(q, axis=1, keepdims=True)
    table = AngleTable(np.arange(n, dtype=np.float64), joint_angles_deg(quats, facing_rad), quats)
    table = replace(table, hip_reference="pelvis")
    room = tool.without_pelvis_board(table)
    assert room.hip_reference == "room"
    assert "pelvis" not in room.quat_world_segment_wxyz
    assert not any(name.startswith("pelvis_") for name in room.angles_deg)
    for name in ("hip_flexion_r", "hip_adduction_l", "hip_rotation_r", "knee_angle_l"):
        np.testing.assert_allclose(room.angles_deg[name], table.angles_deg[name], atol=1e-6)


# --- simulated sets through the whole host path -------------------------------------------------

sim_sets = settings(
    max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate]
)


def _check_simulated(exercise: str, case: str, seed: int) -> None:
    """The recognised exercise is the simulated one, as recorded and (but for the crossover
    step-up, which needs the pelvis turn) with the pelvis board removed
    (``recognize_accuracy.without_pelvis_board``)."""
    rep_set = tool.rep_accuracy.RepSet.draw(exercise, case, seed)
    rep_set = replace(rep_set, reps=min(rep_set.reps, 3))
    outcomes: list[Any] = tool.recognize_set(rep_set)
    # A set the fusion core refuses to calibrate is the fusion's business (tests/fusion), not
    # the recognition's: draw another.
    assume(outcomes[0].recognition is not None)
    problems = [
        f"{o.variant}: found {o.found} (confident {o.recognition.confident}): "
        f"{o.recognition.reason}"
        for o in outcomes
        if not o.correct and not (o.variant != "as recorded" and exercise == "crossover_step_up")
    ]
    assert not problems, f"{rep_set}\n" + "\n".join(problems)


@pytest.mark.parametrize("exercise", EXERCISE_IDS)
@sim_sets
@given(seed=st.integers(10_000, 2**31 - 1))
def test_clean_simulated_sets_are_recognised(exercise: str, seed: int) -> None:
    _check_simulated(exercise, "clean", seed)


@pytest.mark.slow
@pytest.mark.parametrize("exercise", EXERCISE_IDS)
@sim_sets
@given(seed=st.integers(10_000, 2**31 - 1), case=st.sampled_from(["noisy", "noisy+drift"]))
def test_noisy_simulated_sets_are_recognised(exercise: str, seed: int, case: str) -> None:
    _check_simulated(exercise, case, seed)
