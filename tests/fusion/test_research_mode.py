"""Research mode of the fusion core: orientation re-fused on the host from raw samples (vqf).

The boards' own orientations are replaced by garbage, so only a core that really re-fuses the
raw gyroscope and accelerometer samples can follow the truth.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from coxa.body import SegmentName
from coxa.fusion import AngleTable, FusionCore, FusionParams, SampleBlock
from coxa.sim import ImuParams, Motion, MotionParams, default_mount, synthesize_imu
from tests.fusion.conftest import HOST_EPOCH_US, true_time_s

SEGMENTS: tuple[SegmentName, ...] = ("pelvis", "femur_r", "tibia_r", "femur_l", "tibia_l")
MOTION = MotionParams(exercise="squat", reps=4, seed=5)
#: Every simulated IMU error except the accelerometer bias, which no 6D filter can observe.
IMU = ImuParams(acc_bias_sd_m_s2=0.0, acc_bias_walk_m_s2_rts=0.0)


@functools.cache
def raw_blocks() -> tuple[dict[int, SegmentName], tuple[SampleBlock, ...]]:
    """One block per board: raw samples, identity orientations, received as sampled."""
    motion = Motion(MOTION)
    blocks: list[SampleBlock] = []
    for board_id, segment in enumerate(SEGMENTS):
        rec = synthesize_imu(motion, default_mount(segment), IMU, seed=board_id)
        n = rec.t_s.size
        t_host_us = (HOST_EPOCH_US + rec.t_s * 1e6).astype(np.int64)
        blocks.append(
            SampleBlock(
                board_id=board_id,
                seq=np.arange(n, dtype=np.int64),
                t_device_us=rec.t_us,
                t_rx_us=t_host_us + 20_000,
                quat_wxyz=np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)),
                gyr_rad_s=rec.gyr_rad_s,
                acc_m_s2=rec.acc_m_s2,
                flags=np.zeros(n, dtype=np.uint8),
            )
        )
    return dict(enumerate(SEGMENTS)), tuple(blocks)


def fuse(params: FusionParams, blocks: tuple[SampleBlock, ...]) -> AngleTable:
    boards, _ = raw_blocks()
    core = FusionCore(boards, params)
    return AngleTable.concatenate([core.update(blocks), core.finish()])


def test_vqf_mode_follows_the_truth_from_raw_samples_alone() -> None:
    _, blocks = raw_blocks()
    table = fuse(FusionParams.offline(orientation="vqf"), blocks)
    state = Motion(MOTION).evaluate(true_time_s(table.t_us))
    for side in ("r", "l"):
        knee = table.angles_deg[f"knee_angle_{side}"] - state.knee_angles_deg(side)[:, 0]
        hip_ir = table.angles_deg[f"hip_rotation_{side}"] - state.hip_angles_deg(side)[:, 2]
        assert np.sqrt(np.nanmean(knee**2)) < 2.0, side
        assert np.sqrt(np.nanmean(hip_ir**2)) < 2.5, side
        assert np.mean(np.isfinite(knee)) > 0.9


def test_board_mode_on_the_same_blocks_cannot_calibrate() -> None:
    """The discriminating case: the boards' identity orientations never move."""
    _, blocks = raw_blocks()
    with pytest.raises(ValueError, match=r"knee|move"):
        fuse(FusionParams.offline(), blocks)


def test_vqf_mode_needs_raw_samples() -> None:
    _, blocks = raw_blocks()
    no_raw = tuple(
        SampleBlock(b.board_id, b.seq, b.t_device_us, b.t_rx_us, b.quat_wxyz, None, None, b.flags)
        for b in blocks
    )
    with pytest.raises(ValueError, match="raw"):
        fuse(FusionParams.offline(orientation="vqf"), no_raw)


def test_vqf_mode_drops_samples_behind_the_refusion_and_counts_them() -> None:
    boards, blocks = raw_blocks()
    core = FusionCore(boards, FusionParams.offline(orientation="vqf"))
    first = [b.select(slice(0, 2000)) for b in blocks]
    core.update(first)
    core.update([blocks[0].select(slice(0, 2100))])  # 2000 repeated samples, 100 new ones
    assert core.stats.late[0] == 2000
