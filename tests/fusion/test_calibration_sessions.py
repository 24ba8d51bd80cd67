"""Calibration on whole sessions whose functional window holds more than the calibration squats:
sitting on a table edge with hip hikes, or lying on the back with the hips flexed. The pelvis's
own axis and its sign must come from the squats (the pelvis tilting forward as the hips flex),
and the knee's screw-home rotation must not turn the shank's heading."""

from __future__ import annotations

import numpy as np
import pytest

from coxa.assess import clinical_motion, clinical_session, simulate_clinical_test
from coxa.geometry import Side, quat_angle_rad
from coxa.sim import ImuParams


@pytest.mark.parametrize(
    ("test", "side", "lift_deg"), [("seated-ir", "r", 8.0), ("supine-ir", "l", 0.0)]
)
def test_segments_follow_the_truth_after_the_squats(test: str, side: Side, lift_deg: float) -> None:
    motion = clinical_motion(test, side, trials=2, ir_deg=30.0, pelvis_lift_deg=lift_deg, seed=4)
    simulated = simulate_clinical_test(
        clinical_session(motion), imu=ImuParams.clean(), seed=4, mount_seed=4
    )
    table = simulated.table
    in_test = table.t_us >= simulated.test_start_us
    t_s = np.clip(simulated.true_time_s(table.t_us[in_test]), 0.0, simulated.motion.duration_s)
    state = simulated.motion.evaluate(t_s)
    for segment in ("pelvis", f"femur_{side}", f"tibia_{side}"):
        fused = table.quat_world_segment_wxyz[segment][in_test]
        true = state.quat_world_wxyz(segment)  # type: ignore[arg-type]
        # The common world is the truth's (headings from the standing rest, facing +X), so
        # the whole orientation is compared: a reversed pelvis axis, a mirrored hike or a
        # shank heading off by the screw-home rotation would all show here.
        error = np.degrees(quat_angle_rad(fused, true))
        assert np.nanmax(error) < 1.0, (segment, float(np.nanmax(error)))
