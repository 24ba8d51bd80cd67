"""Composite sessions: segments placed in time, smooth transitions, one recording of one rig."""

from __future__ import annotations

import numpy as np
import pytest

from coxa.geometry import quat_angle_rad
from coxa.sim import (
    Motion,
    MotionParams,
    RigParams,
    SessionMotion,
    SessionParams,
    simulate_rig,
    simulate_session,
)

SQUAT = MotionParams(exercise="squat", reps=2, rest_after_s=1.0, seed=2)
PRONE = MotionParams(exercise="prone_ir", reps=2, hip_ir_bottom_deg=30.0, seed=2)
SESSION = SessionParams((SQUAT, PRONE), transition_s=3.0)
_SEGMENTS = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")


def test_segments_are_the_motions_shifted_in_time() -> None:
    session = SessionMotion(SESSION)
    squat, prone = Motion(SQUAT), Motion(PRONE)
    assert session.start_t_s.tolist() == [0.0, squat.duration_s + 3.0]
    assert session.duration_s == pytest.approx(squat.duration_s + 3.0 + prone.duration_s)
    local = np.linspace(0.0, prone.duration_s, 50)
    got = session.evaluate(local + session.start_t_s[1])
    want = prone.evaluate(local)
    for segment in _SEGMENTS:
        # Equal up to the rounding of the time shift.
        assert np.allclose(
            getattr(got, f"quat_world_{segment}_wxyz"),
            getattr(want, f"quat_world_{segment}_wxyz"),
            rtol=0.0,
            atol=1e-9,
        )
    assert np.allclose(got.hip_angles_r_deg, want.hip_angles_r_deg, rtol=0.0, atol=1e-7)
    # Reps numbered through the session, per-segment truth shifted.
    assert set(got.rep_index[got.rep_index >= 0].tolist()) == {2, 3}
    squat_truth, prone_truth = session.rep_truths
    assert np.array_equal(squat_truth.bottom_t_s, squat.rep_truth.bottom_t_s)
    assert np.allclose(prone_truth.bottom_t_s, prone.rep_truth.bottom_t_s + session.start_t_s[1])


def test_the_transition_is_smooth_and_still_at_both_ends() -> None:
    session = SessionMotion(SESSION)
    t0, t1 = float(session.end_t_s[0]), float(session.start_t_s[1])
    step = 1e-3
    t = np.arange(t0 - 0.5, t1 + 0.5, step)
    state = session.evaluate(t)
    inside = (t > t0) & (t < t1)
    assert np.all(session.segment_of(t)[inside] == -1)
    assert np.all(state.rep_index[inside] == -1)
    for segment in _SEGMENTS:
        q = getattr(state, f"quat_world_{segment}_wxyz")
        speed = quat_angle_rad(q[:-1], q[1:]) / step
        assert speed.max() < 2.0  # rad/s: no jump anywhere
        # Still at both ends (minimum-jerk): slow within 50 ms of each end.
        near_ends = (np.abs(t[:-1] - t0) < 0.05) | (np.abs(t[:-1] - t1) < 0.05)
        assert speed[near_ends].max() < 0.01
    # The pelvis pitched forward by 90 deg, the knee bent to the test's 90 deg.
    pelvis = state.quat_world_pelvis_wxyz
    assert np.degrees(quat_angle_rad(pelvis[0], pelvis[-1])) == pytest.approx(90.0, abs=0.5)
    assert state.knee_angles_r_deg[-1, 0] == pytest.approx(90.0, abs=1e-6)
    knee = state.knee_angles_r_deg[inside, 0]
    assert np.all(np.diff(knee) >= -1e-9)  # bends monotonically, never overextends
    # The knee's axial rotation follows its flexion by the screw-home law, as within a
    # segment (a knee that turned about the tibia beyond the screw-home range would not be
    # the hinge the calibration and the heading correction rely on).
    flexion = state.knee_angles_r_deg[inside, 0]
    expected = SQUAT.screw_home_deg * np.clip(flexion / SQUAT.screw_home_range_deg, 0.0, 1.0)
    beyond = flexion >= SQUAT.screw_home_range_deg
    assert np.any(beyond)
    np.testing.assert_allclose(state.knee_angles_r_deg[inside, 2][beyond], expected[beyond])
    # Rigid skeleton: the thigh keeps its length through the transition.
    thigh = np.linalg.norm(state.position_knee_r_m - state.position_hip_r_m, axis=1)
    assert np.ptp(thigh) < 1e-9


def test_one_segment_records_as_simulate_rig() -> None:
    motion = MotionParams(exercise="squat", reps=1, seed=4)
    rig = RigParams(motion=motion, segments=("femur_r", "tibia_r"), seed=5, mount_seed=6)
    expected = simulate_rig(rig)
    got = simulate_session(SessionParams((motion,)), rig)
    assert got.boards == expected.boards
    assert [(p.t_rx_us, p.board_id, p.packet) for p in got.packets] == [
        (p.t_rx_us, p.board_id, p.packet) for p in expected.packets
    ]
    assert got.lost_packets == expected.lost_packets


def test_a_session_is_one_recording_of_the_same_boards() -> None:
    rig = RigParams(segments=("pelvis", "femur_r", "tibia_r"), seed=1)
    recording = simulate_session(SESSION, rig)
    assert recording.duration_s == pytest.approx(SessionMotion(SESSION).duration_s)
    assert set(recording.segments_by_board.values()) == {"pelvis", "femur_r", "tibia_r"}
    for board_id, imu in recording.imu.items():
        assert imu.t_s[0] == pytest.approx(0.0, abs=0.01)
        assert imu.t_s[-1] == pytest.approx(recording.duration_s, abs=0.01)
        assert len(recording.outputs[board_id].frames) > 0
    times = [p.t_rx_us for p in recording.packets]
    assert times == sorted(times)


def test_bad_sessions_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one segment"):
        SessionParams(())
    with pytest.raises(ValueError, match="transition_s"):
        SessionParams((SQUAT, PRONE), transition_s=0.0)
    with pytest.raises(ValueError, match="one transition_s per transition"):
        SessionParams((SQUAT, PRONE), transition_s=(1.0, 2.0))
