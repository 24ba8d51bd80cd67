"""Accuracy of the clinical tests on simulated athletes measured by simulated boards through
the product's path.

Each example simulates a whole session in one recording (``coxa.assess.clinical_session``:
stand still, three calibration squats, get into the test position, one trial) with a
Hypothesis-drawn knee flexion of 70-110 deg, a femur tilted up to 20 deg off the test position
(with a pelvis board in any direction, hip flexion and adduction offsets; without one in its
sagittal plane) and hip IR; the boards run the firmware's 6D filter, their packets cross the
radio, and the fusion core calibrates, corrects the headings and gives the angles
(``coxa.assess.simulate_clinical_test``). Twice:

1. **the method**, boards without sensor errors: the shank-as-pointer value is within 2 deg of
   the true hip IR over the same samples, and the naive reading, the shin's tilt from the
   vertical (what an inclinometer strapped on the shin shows, exact only at 90 deg of knee
   flexion with a level femur), implemented here as the reference of what not to do, is off by
   more than 2 deg whenever the geometry says it must be (its error on the true orientations
   over 2.5 deg); deterministic corner cases show it failing where the pointer passes, and both
   agreeing at the protocol's position;
2. **with board errors**: the simulator's typical MEMS errors with two changes. The initial
   gyro bias is clipped at :data:`GYR_BIAS_MAX_DEG_S` per axis, the bound of the fusion core's
   accuracy tests (``tools/accuracy_table.py``). The accelerometer bias SD is
   :data:`ACC_BIAS_MG`: boards that ran the firmware's accelerometer calibration
   (docs/firmware.md; its fit is within 0.1 mg on simulated boards, and the 2 mg allow for the
   offset's drift with temperature since, see ``tools/assess_accuracy.py``). With the
   datasheet-typical 20 mg of an uncalibrated board the tilt error is about 1 deg per axis,
   which the standing calibration cannot absorb in a lying or seated posture (up to 4.4 deg,
   ``docs/assessment.md``). Bound :data:`BOARD_BOUND_DEG`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from coxa.assess import (
    ClinicalTestAnalysis,
    SideResult,
    SimulatedTest,
    clinical_motion,
    clinical_session,
    protocol,
    simulate_clinical_test,
    true_values_deg,
)
from coxa.fusion import AngleTable
from coxa.geometry import FloatArray, Side, quat_rotate
from coxa.sim import ImuParams, MotionParams

#: Accelerometer bias SD of the simulated boards, mg (see the module docstring).
ACC_BIAS_MG = 2.0
#: Bound of each axis's initial gyro bias, deg/s (see the module docstring).
GYR_BIAS_MAX_DEG_S = 0.5
#: The accuracy the issue asks of the clinical tests, degrees.
BOUND_DEG = 2.0
#: Bound of the method (error-free boards) through the fusion core, degrees: the issue's 2 deg
#: [``tools/assess_accuracy.py --models clean``, 30 drawn sessions: median 0.07, 90th
#: percentile 0.14, max 0.53 deg, see docs/assessment.md].
METHOD_BOUND_DEG = BOUND_DEG
#: Bound with board errors, degrees: the issue's 2 deg [``tools/assess_accuracy.py --models
#: acc2``, 40 drawn sessions with an unclipped gyro bias: median 0.60, 90th percentile 1.49,
#: max 1.81 deg, see docs/assessment.md].
BOARD_BOUND_DEG = BOUND_DEG
#: Naive error on the true orientations above which the naive reading must fail the bound on
#: the measured ones too, degrees (0.5 deg of margin for the error-free boards' quantisation).
NAIVE_MUST_FAIL_DEG = BOUND_DEG + 0.5
CLEAN = ImuParams.clean()
IMU = dataclasses.replace(
    ImuParams(),
    acc_bias_sd_m_s2=ACC_BIAS_MG * 9.80665e-3,
    gyr_bias_max_rad_s=math.radians(GYR_BIAS_MAX_DEG_S),
)

RotationTest = Literal["prone-ir", "seated-ir", "supine-ir"]


def naive_shin_tilt_deg(table: AngleTable, test: RotationTest, side: Side) -> FloatArray:
    """What NOT to do: the shin's tilt from the vertical (unsigned), degrees, ``(m,)``."""
    down = -quat_rotate(table.quat_world_segment_wxyz[f"tibia_{side}"], np.array([0, 1.0, 0]))
    vertical = 1.0 if test == "prone-ir" else -1.0  # prone the shin points up, seated down
    assert test != "supine-ir", "supine the shin is level: its tilt says nothing"
    return np.degrees(np.arccos(np.clip(vertical * down[:, 2], -1.0, 1.0)))


def _true_table(simulated: SimulatedTest, side: Side) -> AngleTable:
    """The simulated test's true tibia orientations, as a table (for the naive geometry)."""
    t_s = simulated.true_time_s(simulated.table.t_us)
    state = simulated.motion.evaluate(np.clip(t_s, 0.0, simulated.motion.duration_s))
    return AngleTable(
        t_us=simulated.table.t_us,
        quat_world_segment_wxyz={f"tibia_{side}": state.quat_world_tibia_wxyz(side)},
    )


def simulate(motion: MotionParams, pelvis: bool, imu: ImuParams, seed: int) -> SimulatedTest:
    """A clinical session around the test ``motion`` through the fusion core."""
    return simulate_clinical_test(
        clinical_session(motion), pelvis_board=pelvis, imu=imu, seed=seed, mount_seed=seed
    )


def _hold_rows(table: AngleTable, hold_us: tuple[float, float]) -> NDArray[np.bool_]:
    return (table.t_us >= hold_us[0]) & (table.t_us <= hold_us[1])


def measure(
    test: RotationTest,
    side: Side,
    knee_deg: float,
    ir_deg: float,
    seed: int,
    pelvis: bool,
    tilt_deg: tuple[float, float] = (0.0, 0.0),
    imu: ImuParams = IMU,
) -> tuple[SimulatedTest, SideResult]:
    motion = clinical_motion(
        test,
        side,
        trials=1,
        ir_deg=ir_deg,
        knee_deg=knee_deg,
        seed=seed,
        hip_flexion_offset_deg=tilt_deg[0],
        hip_adduction_offset_deg=tilt_deg[1],
    )
    simulated = simulate(motion, pelvis, imu, seed)
    return simulated, ClinicalTestAnalysis(test).measure(simulated.table, side, 1)


def errors_deg(
    test: RotationTest,
    side: Side,
    knee_deg: float,
    ir_deg: float,
    seed: int,
    pelvis: bool,
    tilt_deg: tuple[float, float] = (0.0, 0.0),
    imu: ImuParams = IMU,
) -> tuple[float, float, float]:
    """Pointer error, naive error on the measured orientations and naive error on the true
    ones (NaN supine), degrees, over the trial's hold."""
    simulated, result = measure(test, side, knee_deg, ir_deg, seed, pelvis, tilt_deg, imu)
    assert len(result.trials) == 1, result.all_flags
    trial = result.trials[0]
    assert not trial.pelvic_lift, trial.flags
    rows = _hold_rows(simulated.table, trial.t_hold_us)
    truth = float(
        np.mean(
            true_values_deg(simulated, protocol(test), simulated.table.t_us[rows])["hip_rotation"]
        )
    )
    if test == "supine-ir":
        return trial.value_deg - truth, math.nan, math.nan
    naive = float(np.mean(naive_shin_tilt_deg(simulated.table, test, side)[rows]))
    naive_true = float(np.mean(naive_shin_tilt_deg(_true_table(simulated, side), test, side)[rows]))
    return trial.value_deg - truth, naive - truth, naive_true - truth


#: A femur tilted off the test position: size up to 20 deg, any direction.
femur_tilts = st.tuples(st.floats(0.0, 20.0), st.floats(0.0, 2.0 * math.pi)).map(
    lambda t: (t[0] * math.cos(t[1]), t[0] * math.sin(t[1]))
)


#: Each example simulates a session (about 2 s): no shrinking, the first failure is reported.
examples = settings(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def _sagittal_without_pelvis(tilt_deg: tuple[float, float], pelvis: bool) -> tuple[float, float]:
    """Relative to the room the reading is about the vertical: a femur tilted both up or down
    and sideways adds to it (docs/assessment.md); without a pelvis board the bound holds for
    tilts in the femur's own sagittal plane."""
    if pelvis:
        return tilt_deg
    return (math.copysign(math.hypot(*tilt_deg), tilt_deg[0]), 0.0)


trial_cases = {
    "test": st.sampled_from(["prone-ir", "seated-ir", "supine-ir"]),
    "side": st.sampled_from(["r", "l"]),
    "knee_deg": st.floats(70.0, 110.0),
    "tilt_deg": femur_tilts,
    "ir_deg": st.floats(15.0, 45.0),
    "seed": st.integers(0, 2**16),
    "pelvis": st.booleans(),
}


@settings(examples, max_examples=10)
@given(**trial_cases)
def test_pointer_within_2_deg_where_the_naive_tilt_fails(
    test: RotationTest,
    side: Side,
    knee_deg: float,
    tilt_deg: tuple[float, float],
    ir_deg: float,
    seed: int,
    pelvis: bool,
) -> None:
    """The method, on boards without sensor errors."""
    tilt_deg = _sagittal_without_pelvis(tilt_deg, pelvis)
    pointer, naive, naive_true = errors_deg(
        test, side, knee_deg, ir_deg, seed, pelvis, tilt_deg, CLEAN
    )
    assert abs(pointer) <= METHOD_BOUND_DEG, f"pointer off by {pointer:.2f} deg"
    if abs(naive_true) > NAIVE_MUST_FAIL_DEG:
        assert abs(naive) > BOUND_DEG, (naive, naive_true)


@settings(examples, max_examples=10)
@given(**trial_cases)
def test_pointer_with_board_errors(
    test: RotationTest,
    side: Side,
    knee_deg: float,
    tilt_deg: tuple[float, float],
    ir_deg: float,
    seed: int,
    pelvis: bool,
) -> None:
    tilt_deg = _sagittal_without_pelvis(tilt_deg, pelvis)
    pointer, _, _ = errors_deg(test, side, knee_deg, ir_deg, seed, pelvis, tilt_deg)
    assert abs(pointer) <= BOARD_BOUND_DEG, f"pointer off by {pointer:.2f} deg"


@settings(examples, max_examples=4)
@given(
    side=st.sampled_from(["r", "l"]),
    raise_deg=st.floats(40.0, 90.0),
    knee_deg=st.floats(0.0, 5.0),
    seed=st.integers(0, 2**16),
    pelvis=st.booleans(),
)
def test_straight_leg_raise_within_the_bound(
    side: Side, raise_deg: float, knee_deg: float, seed: int, pelvis: bool
) -> None:
    motion = clinical_motion("aslr", side, trials=1, ir_deg=raise_deg, knee_deg=knee_deg, seed=seed)
    simulated = simulate(motion, pelvis, IMU, seed)
    (trial,) = ClinicalTestAnalysis("aslr").measure(simulated.table, side, 1).trials
    rows = _hold_rows(simulated.table, trial.t_hold_us)
    truth = true_values_deg(simulated, protocol("aslr"), simulated.table.t_us[rows])
    assert abs(trial.value_deg - float(np.mean(truth["thigh_elevation"]))) <= BOARD_BOUND_DEG
    # The knee is a protocol check (flagged beyond 10 deg), not a measured result: its error
    # is the two boards' tilt errors in a lying pose.
    assert abs(trial.knee_deg - knee_deg) <= 2.0 * BOUND_DEG
    assert not any("knee" in flag for flag in trial.flags)


@pytest.mark.parametrize(("test", "knee_deg"), [("prone-ir", 70.0), ("seated-ir", 110.0)])
def test_the_naive_tilt_fails_where_the_pointer_does_not(
    test: RotationTest, knee_deg: float
) -> None:
    """The discriminating corner: 20 deg off the protocol's knee flexion, a small IR."""
    pointer, naive, naive_true = errors_deg(test, "r", knee_deg, 15.0, 7, True)
    assert abs(pointer) <= BOUND_DEG
    assert abs(naive_true) > NAIVE_MUST_FAIL_DEG
    assert abs(naive) > 2.0 * BOUND_DEG, naive


def test_both_agree_at_the_protocol_position() -> None:
    """At 90 deg of knee flexion with a level femur the shin's tilt is the rotation: the
    naive reading is wrong only off the protocol's position (the test is not rigged)."""
    pointer, naive, naive_true = errors_deg("prone-ir", "r", 90.0, 30.0, 3, False)
    assert abs(naive_true) < 1e-6
    assert abs(pointer) <= BOUND_DEG
    assert abs(naive) <= BOUND_DEG
