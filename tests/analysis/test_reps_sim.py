"""Rep counts, peak hip rotation and online == offline on Hypothesis-drawn simulated sets
through the whole host path (virtual boards, radio, link decoding, fusion core).

The set model, the truth (the peak-IR definition applied to the simulator's true angles) and
the comparison are those of ``tools/rep_accuracy.py`` (the tool that prints the measured table
of ``docs/analysis.md``), loaded here so both use one definition. Each example is a session of
two short sets of one drawn exercise (about 2-5 s to simulate and fuse); shrinking is off, so
the first failing example is reported as drawn. ``COXA_ACCURACY_EXAMPLES`` sets the examples
per test (default 6).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from coxa.analysis import RepCounter, segment_reps
from tests.analysis.test_reps import _split, same_reps
from tests.support.tools import load_tool

EXAMPLES = int(os.environ.get("COXA_ACCURACY_EXAMPLES", "6"))
#: Peak-IR bounds of issue 6, degrees.
CLEAN_BOUND_DEG = 2.0
NOISY_BOUND_DEG = 4.0
#: Exercises whose fused hip rotation misses the noisy bound on some draws of the noisy model,
#: so their noisy peak IR is not bounded here (the count, the lead leg and online == offline
#: still are): 90/90 is done seated, and the noisy model's boards have an uncalibrated 20 mg
#: accelerometer bias, whose tilt error the standing calibration cannot absorb in a seated
#: posture (the clinical tests' limit, docs/assessment.md). Measured with
#: tools/rep_accuracy.py, 8 noisy 90/90 sets: peak IR error max 7.95 deg; the same sets with
#: a 2 mg bias (boards that ran the firmware's accelerometer calibration): max 2.77 deg.
NOISY_LIMITED: tuple[str, ...] = ("90_90",)


ra = load_tool("rep_accuracy")

sim_sets = settings(
    max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate]
)


@st.composite
def rep_sets(draw: st.DrawFn, case: str) -> Any:
    """A set of a drawn exercise within the tool's ranges."""
    exercise = draw(st.sampled_from(ra.SIM_EXERCISES))
    noisy = case != "clean"
    pelvis = exercise != "squat" or draw(st.booleans())
    return ra.RepSet(
        exercise=exercise,
        case=case,
        pelvis=pelvis,
        reps=draw(st.integers(*ra.REPS_RANGE)),
        depth_fraction=draw(st.floats(0.0, 1.0)),
        hip_ir_deg=draw(st.floats(*ra.ir_range(exercise, working=True))),
        hip_ir_other_deg=draw(st.floats(*ra.ir_range(exercise, working=False))),
        ir_spread_deg=draw(st.floats(0.0, ra.IR_SPREAD_MAX_DEG)),
        depth_spread_deg=draw(st.floats(0.0, ra.DEPTH_SPREAD_MAX_DEG)),
        descent_s=draw(st.floats(*ra.DESCENT_RANGE_S)),
        bottom_pause_s=draw(st.floats(*ra.BOTTOM_PAUSE_RANGE_S)),
        ascent_s=draw(st.floats(*ra.ASCENT_RANGE_S)),
        top_pause_s=draw(st.floats(*ra.TOP_PAUSE_RANGE_S)),
        side=draw(st.sampled_from(["r", "l"])),
        seed=draw(st.integers(0, 2**31 - 1)),
        mount_seed=draw(st.integers(0, 2**31 - 1)),
        gyr_bias_sd_deg_s=draw(st.floats(0.0, 2 * ra.GYR_BIAS_MAX_DEG_S)) if noisy else 0.0,
        drift_ppm=draw(st.floats(-ra.DRIFT_MAX_PPM, ra.DRIFT_MAX_PPM)) if noisy else 0.0,
        loss_fraction=draw(st.floats(0.0, ra.LOSS_MAX)) if noisy else 0.0,
    )


def check(rep_set: Any, cuts: list[int], bound_deg: float, limited: tuple[str, ...] = ()) -> None:
    recording = ra.simulate(rep_set)
    table = ra.fuse(recording)
    reps = segment_reps(table, rep_set.exercise)
    result = ra.evaluate(recording, reps)
    problems: list[str] = []
    if not result.exact:
        problems.append(f"found {result.found_reps} reps of {result.true_reps}")
    if not result.lead_correct:
        problems.append("wrong lead leg")
    worst = float(np.max(np.abs(result.ir_errors_deg))) if result.ir_errors_deg else np.inf
    if rep_set.exercise not in limited and not worst <= bound_deg:
        problems.append(f"peak IR error {worst:.2f} deg over {bound_deg} deg")
    counter = RepCounter(rep_set.exercise)
    fraction = np.array(sorted(cuts)) * table.n_rows // 1000
    online = [rep for part in _split(table, list(fraction)) for rep in counter.update(part)]
    if not same_reps(reps, online):
        problems.append("online reps differ from the offline ones")
    assert not problems, f"{rep_set}\n" + "\n".join(problems)


@sim_sets
@given(rep_set=rep_sets("clean"), cuts=st.lists(st.integers(1, 999), max_size=30))
def test_clean_sets_count_exactly_and_peak_ir_within_2_deg(rep_set: Any, cuts: list[int]) -> None:
    """Error-free IMUs and radio: every rep found, lead leg right, peak IR within 2 deg of the
    truth, the same reps for the rows fed in drawn blocks."""
    check(rep_set, cuts, CLEAN_BOUND_DEG)


@sim_sets
@given(rep_set=rep_sets("noisy"), cuts=st.lists(st.integers(1, 999), max_size=30))
def test_noisy_sets_count_exactly_and_peak_ir_within_4_deg(rep_set: Any, cuts: list[int]) -> None:
    """Typical IMU noise, gyro bias, clock drift and bursty loss: every rep found, lead leg
    right, peak IR within 4 deg of the truth (but in :data:`NOISY_LIMITED`), online ==
    offline."""
    check(rep_set, cuts, NOISY_BOUND_DEG, NOISY_LIMITED)
