"""Accuracy of the clinical hip IR tests through the product's path, on drawn simulated sessions.

Each session is one recording (``coxa.assess.clinical_session``: stand still, three calibration
squats, get into the test position, one trial) of a drawn test (prone, seated and supine hip IR
in turn, with and without a pelvis board), side, knee flexion 70-110 deg, femur tilted up to
20 deg off the test position (with a pelvis board in any direction; without one in its
sagittal plane) and hip IR 15-45 deg. The boards run the firmware's 6D filter, the packets cross
the radio, and the fusion core calibrates, corrects the headings and gives the angles
(``coxa.assess.simulate_clinical_test``); the trial's value is compared with the true hip IR
over the same hold. One row per board error model.

Usage::

    .venv/bin/python tools/assess_accuracy.py                 # 30 sessions per model
    .venv/bin/python tools/assess_accuracy.py --sessions 6 --models clean acc5
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
from collections.abc import Sequence

import numpy as np

from coxa.assess import (
    ClinicalTestAnalysis,
    clinical_motion,
    clinical_session,
    protocol,
    simulate_clinical_test,
    true_values_deg,
)
from coxa.fusion import CalibrationError
from coxa.sim import ImuParams

_G_M_S2 = 9.80665
#: Board error models: the simulator's defaults (accelerometer bias SD 20 mg, an uncalibrated
#: board), accelerometer offsets left by the firmware's calibration (docs/firmware.md,
#: "Accelerometer calibration": its fit is within 0.1 mg on simulated boards; 2 mg
#: [assumption] allows a 20 deg C change since the calibration at about 0.1 mg per deg C, the
#: order of the typical zero-g drift MEMS datasheets give; 5 mg a poorer calibration), none
#: at all, and error-free boards (the method alone).
MODELS: dict[str, ImuParams] = {
    "default": ImuParams(),
    "acc5": dataclasses.replace(ImuParams(), acc_bias_sd_m_s2=5e-3 * _G_M_S2),
    "acc2": dataclasses.replace(ImuParams(), acc_bias_sd_m_s2=2e-3 * _G_M_S2),
    "acc0": dataclasses.replace(ImuParams(), acc_bias_sd_m_s2=0.0),
    "clean": ImuParams.clean(),
}
TESTS = ("prone-ir", "seated-ir", "supine-ir")
BOUND_DEG = 2.0


def session_errors_deg(imu: ImuParams, sessions: int, seed: int) -> tuple[list[float], int]:
    """Signed errors (measured - true hip IR, degrees) of ``sessions`` drawn sessions, and
    the number of sessions without a usable trial (calibration refused or no trial found)."""
    rng = np.random.default_rng(seed)
    errors: list[float] = []
    failed = 0
    for k in range(sessions):
        test = TESTS[k % 3]
        pelvis = (k // 3) % 2 == 0
        side = "r" if rng.random() < 0.5 else "l"
        knee_deg = float(rng.uniform(70.0, 110.0))
        size_deg, direction = float(rng.uniform(0.0, 20.0)), float(rng.uniform(0.0, 2 * math.pi))
        if pelvis:
            tilt = (size_deg * math.cos(direction), size_deg * math.sin(direction))
        else:
            tilt = (math.copysign(size_deg, math.cos(direction)), 0.0)
        ir_deg = float(rng.uniform(15.0, 45.0))
        draw = int(rng.integers(0, 2**16))
        motion = clinical_motion(
            test,
            side,
            trials=1,
            ir_deg=ir_deg,
            knee_deg=knee_deg,
            seed=draw,
            hip_flexion_offset_deg=tilt[0],
            hip_adduction_offset_deg=tilt[1],
        )
        try:
            simulated = simulate_clinical_test(
                clinical_session(motion), pelvis_board=pelvis, imu=imu, seed=draw, mount_seed=draw
            )
        except CalibrationError:
            failed += 1
            continue
        result = ClinicalTestAnalysis(test).measure(simulated.table, side, 1)
        if len(result.trials) != 1:
            failed += 1
            continue
        trial = result.trials[0]
        t_us = simulated.table.t_us
        rows = (t_us >= trial.t_hold_us[0]) & (t_us <= trial.t_hold_us[1])
        truth = true_values_deg(simulated, protocol(test), t_us[rows])["hip_rotation"]
        errors.append(trial.value_deg - float(np.mean(truth)))
    return errors, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Print the accuracy table; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30, help="sessions per model")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error("--sessions must be at least 1")
    logging.basicConfig(level=logging.ERROR)
    print("| board errors | sessions | median | p90 | max (deg) | within 2 deg | no trial |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        errors, failed = session_errors_deg(MODELS[name], args.sessions, args.seed)
        size = np.abs(np.array(errors))
        if size.size == 0:
            print(f"| {name} | {args.sessions} | - | - | - | - | {failed} |")
            continue
        within = 100.0 * float(np.mean(size <= BOUND_DEG))
        print(
            f"| {name} | {size.size} | {np.median(size):.2f} | {np.percentile(size, 90):.2f} "
            f"| {size.max():.2f} | {within:.0f} % | {failed} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
