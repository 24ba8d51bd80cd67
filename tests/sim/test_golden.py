"""Pinned output of short fixed-seed sessions: speed-ups of the simulator must not move a bit.

The digests were computed with the simulator as it was before its hot paths were optimised
(issue #4), so any later change that alters a sample, a packet or a truth value fails here.
Two digests per session:

- ``wire``: what the host receives (packet bytes, receive times, board ids, losses) and the
  frames each board sent. Everything in it is quantised (Q14 quaternions of the firmware's
  fixed-point AHRS, gyro LSBs, whole microseconds), so it does not depend on the last bit of a
  float and holds on any machine.
- ``float``: every float array of the recording (true and measured IMU signals, biases, the
  board filter's quaternions before rounding, the per-rep truth). Bit-exact floats of
  transcendental functions can differ between NumPy builds and CPU instruction sets, so this
  digest is only checked on the NumPy version it was pinned with.

If a change is *meant* to alter the output, recompute with :func:`session_digests` and say why
in the commit.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from coxa.sim import (
    ClockParams,
    ImuParams,
    MotionParams,
    RadioParams,
    RigParams,
    RigRecording,
    simulate_rig,
)

#: NumPy version the ``float`` digests were computed with.
PINNED_NUMPY = "2.4.6"

SESSIONS: dict[str, RigParams] = {
    # Everything on: realistic mountings, thigh wobble (both parts), fast clock, bursty loss,
    # per-rep spreads, the planted rear leg of the FFE split squat.
    "ffe_split_squat_lossy_wobble": RigParams(
        motion=MotionParams(
            exercise="ffe_split_squat",
            reps=2,
            rest_before_s=2.0,
            rest_after_s=1.0,
            depth_spread_deg=3.0,
            hip_ir_spread_deg=2.0,
            seed=5,
        ),
        mounting="realistic",
        imu=ImuParams(
            thigh_sta_gain_deg_per_m_s2=0.5,
            thigh_sta_deg_per_knee_flexion_deg=0.05,
            clock=ClockParams(drift_ppm=-80.0),
        ),
        radio=RadioParams.lossy(0.1, mean_burst_packets=3.0),
        seed=7,
    ),
    # The defaults: nominal mountings, lossless radio.
    "squat_defaults": RigParams(
        motion=MotionParams(reps=1, rest_before_s=2.0, rest_after_s=1.0), seed=3
    ),
}

PINNED: dict[str, tuple[str, str]] = {
    "ffe_split_squat_lossy_wobble": (
        "de999b727b870ab600a576782722a8be08e3b8a4bb90eab3d74ff8429395e8e7",
        "118ba93d988e76e0f368523f7899a6f80c74e18a539ceffd063119e0700b517e",
    ),
    "squat_defaults": (
        "dea9860b3c1b7b7c4c7054edfd49c50af7599bdb362b35db3251e5cf03ad8ab3",
        "dfe29505f66faf25b7b37a593fa3786f78cc1a29b42e6f82f1fead30ee9971dc",
    ),
}


def _update_array(digest: hashlib._Hash, array: np.ndarray) -> None:
    contiguous = np.ascontiguousarray(array)
    digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
    digest.update(contiguous.tobytes())


def session_digests(rec: RigRecording) -> tuple[str, str]:
    """``(wire, float)`` SHA-256 hex digests of a simulated session (see the module doc)."""
    wire = hashlib.sha256()
    for packet in rec.packets:
        wire.update(f"{packet.t_rx_us},{packet.board_id},{len(packet.packet)};".encode())
        wire.update(packet.packet)
    wire.update(f"lost {rec.lost_packets};".encode())
    floats = hashlib.sha256()
    for board_id in sorted(rec.outputs):
        spec = rec.boards[board_id]
        wire.update(f"{board_id},{spec.placement},{spec.seq_start};".encode())
        output = rec.outputs[board_id]
        for frame in output.frames:
            wire.update(len(frame).to_bytes(2, "little"))
            wire.update(frame)
        _update_array(wire, rec.imu[board_id].t_us)
        _update_array(floats, output.t_queued_s)
        _update_array(floats, output.quat_wxyz)
        imu = rec.imu[board_id]
        for array in (
            imu.t_s,
            imu.gyr_rad_s,
            imu.acc_m_s2,
            imu.gyr_clipped,
            imu.acc_clipped,
            imu.quat_world_sensor_wxyz,
            imu.gyr_true_rad_s,
            imu.acc_true_m_s2,
            imu.gyr_bias_rad_s,
            imu.acc_bias_m_s2,
        ):
            _update_array(floats, array)
    truth = rec.truth
    for array in (
        truth.start_t_s,
        truth.bottom_t_s,
        truth.end_t_s,
        truth.hip_ir_peak_r_deg,
        truth.hip_ir_peak_l_deg,
        truth.hip_ir_bottom_r_deg,
        truth.hip_ir_bottom_l_deg,
        truth.hip_flexion_peak_r_deg,
        truth.hip_flexion_peak_l_deg,
        truth.knee_flexion_peak_r_deg,
        truth.knee_flexion_peak_l_deg,
    ):
        _update_array(floats, array)
    return wire.hexdigest(), floats.hexdigest()


@pytest.fixture(scope="module", params=sorted(SESSIONS))
def session(request: pytest.FixtureRequest) -> tuple[str, tuple[str, str]]:
    name: str = request.param
    return name, session_digests(simulate_rig(SESSIONS[name]))


def test_wire_output_is_pinned(session: tuple[str, tuple[str, str]]) -> None:
    name, (wire, _) = session
    assert wire == PINNED[name][0], f"{name}: packets or frames changed"


def test_float_output_is_pinned(session: tuple[str, tuple[str, str]]) -> None:
    if np.__version__ != PINNED_NUMPY:
        pytest.skip(f"float digests were pinned with NumPy {PINNED_NUMPY}, not {np.__version__}")
    name, (_, floats) = session
    assert floats == PINNED[name][1], f"{name}: IMU signals, board quaternions or truth changed"
