"""Shared helpers of the fusion-core tests: cached simulated sessions, truth-based
orientation-only (``.sto``-like) sample blocks, and feeding and comparison helpers.

Simulating a rig costs about 40 µs per sample and board, so the sessions are built once per
test process (``functools.cache``) and shared by the test modules of this folder.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np

from coxa.body import SegmentName
from coxa.fusion import (
    AngleTable,
    FusionCore,
    FusionParams,
    SampleBlock,
    blocks_from_orientations,
)
from coxa.geometry import FloatArray, quat_from_axis_angle, quat_multiply
from coxa.sim import (
    ImuParams,
    Motion,
    MotionParams,
    RadioParams,
    RigParams,
    RigRecording,
    SensorMount,
    simulate_rig,
)
from coxa.sources import LinkDecoder, ReceivedFrame

Radio = Literal["clean", "lossy"]
T = TypeVar("T")

#: Host monotonic clock at true time 0 of every session built here, microseconds.
HOST_EPOCH_US = 1_000_000_000
#: Long-run packet loss of the lossy radio (bursts of 4 packets on average).
LOSS_FRACTION = 0.05

#: The simulated session: a 3 s standing rest, then 7 squats (39 s in all). The offline core
#: calibrates once the 30 s movement window after the rest has arrived (about 34 s) and makes a
#: row final 30 s after its time, so offline rows come both before and at ``finish()``.
SESSION_MOTION = MotionParams(exercise="squat", reps=7, seed=0)
#: Seeds whose sessions calibrate: a loss burst may wipe out the initial rest of one board,
#: which is a correct refusal but no use for these tests (checked by the tests themselves).
_RIG_SEED: dict[Radio, int] = {"clean": 3, "lossy": 4}


@dataclass(frozen=True, eq=False)
class SimSession:
    """A simulated session and the frames the host decoded from it.

    Attributes
    ----------
    rec : RigRecording
        The session with its truth.
    frames : tuple of ReceivedFrame
        Every decoded data frame, in host receive order.
    """

    rec: RigRecording
    frames: tuple[ReceivedFrame, ...]

    def subset(
        self, segments: Sequence[SegmentName], t_end_s: float | None = None
    ) -> tuple[dict[int, SegmentName], list[ReceivedFrame]]:
        """The boards of some segments and their frames received before ``t_end_s`` (true s)."""
        boards: dict[int, SegmentName] = {
            b: s for b, s in self.rec.segments_by_board.items() if s in segments
        }
        end_us = np.inf if t_end_s is None else HOST_EPOCH_US + t_end_s * 1e6
        frames = [f for f in self.frames if f.frame.board_id in boards and f.t_rx_us < end_us]
        return boards, frames


@functools.cache
def sim_session(radio: Radio) -> SimSession:
    """The shared simulated session: five boards strapped 10-30 deg off nominal, typical IMU
    errors, and a lossless (``'clean'``) or a 5 % bursty-loss (``'lossy'``) radio."""
    params = RigParams(
        motion=SESSION_MOTION,
        mounting="realistic",
        imu=ImuParams(),
        radio=RadioParams() if radio == "clean" else RadioParams.lossy(LOSS_FRACTION),
        seed=_RIG_SEED[radio],
        host_epoch_us=HOST_EPOCH_US,
    )
    rec = simulate_rig(params)
    return SimSession(rec, tuple(decode(rec)))


@functools.cache
def offline_run(radio: Radio) -> tuple[FusionCore, AngleTable, AngleTable]:
    """The shared session fed whole to a core with the offline parameters: the core (after
    ``finish()``), the rows of the update and the rows of ``finish()``."""
    session = sim_session(radio)
    core = FusionCore(session.rec.segments_by_board, FusionParams.offline())
    before = core.update_frames(session.frames)
    return core, before, core.finish()


def decode(rec: RigRecording) -> list[ReceivedFrame]:
    """Decode a session's packets as the host's link decoders would."""
    links = {board_id: LinkDecoder(board_id) for board_id in rec.boards}
    frames: list[ReceivedFrame] = []
    for packet in rec.packets:
        frame = links[packet.board_id].push(packet.t_rx_us, packet.packet)
        if frame is not None:
            frames.append(frame)
    return frames


def truth_blocks(
    motion: Motion,
    mounts: Mapping[SegmentName, SensorMount],
    heading_rad: Mapping[SegmentName, float],
    rate_hz: float = 100.0,
) -> tuple[dict[int, SegmentName], list[SampleBlock]]:
    """Orientation-only sample blocks (no gyroscope), as read from an OpenSense ``.sto`` file
    (through :func:`coxa.fusion.blocks_from_orientations`).

    Each board reports its sensor frame in a world frame of its own, turned by
    ``heading_rad[segment]`` about the vertical:
    ``Rz(heading) ⊗ q_world_segment(t) ⊗ q_segment_sensor``, sampled exactly on true time
    ``t``, stamped with host time ``HOST_EPOCH_US + t``.

    Returns
    -------
    segments_by_board : dict of int to str
    blocks : list of SampleBlock
        One block per board covering the whole motion.
    """
    n = int(np.floor(motion.duration_s * rate_hz)) + 1
    t_s = np.arange(n) / rate_hz
    state = motion.evaluate(t_s)
    quats: dict[SegmentName, FloatArray] = {}
    for segment, mount in mounts.items():
        turn = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), heading_rad[segment])
        quats[segment] = quat_multiply(
            turn, quat_multiply(state.quat_world_wxyz(segment), mount.quat_wxyz)
        )
    return blocks_from_orientations(HOST_EPOCH_US * 1e-6 + t_s, quats)


def split_at(items: Sequence[T], cuts: Sequence[int]) -> list[list[T]]:
    """Consecutive batches of ``items`` between sorted cut indices (repeated cuts give empty
    batches); the batches together hold every item once, in order."""
    bounds = [0, *sorted(cuts), len(items)]
    return [list(items[a:b]) for a, b in itertools.pairwise(bounds)]


def feed_frames(core: FusionCore, batches: Sequence[Sequence[ReceivedFrame]]) -> AngleTable:
    """Every row a core returns for frame batches, ``finish()`` included."""
    tables = [core.update_frames(batch) for batch in batches]
    tables.append(core.finish())
    return AngleTable.concatenate(tables)


def feed_blocks(core: FusionCore, batches: Sequence[Sequence[SampleBlock]]) -> AngleTable:
    """Every row a core returns for sample-block batches, ``finish()`` included."""
    tables = [core.update(batch) for batch in batches]
    tables.append(core.finish())
    return AngleTable.concatenate(tables)


def assert_same_rows(actual: AngleTable, expected: AngleTable) -> None:
    """Bit-identical rows: times, every angle column and every segment orientation (NaN equal
    to NaN)."""
    np.testing.assert_array_equal(actual.t_us, expected.t_us)
    assert sorted(actual.angles_deg) == sorted(expected.angles_deg)
    for name, column in expected.angles_deg.items():
        np.testing.assert_array_equal(actual.angles_deg[name], column, err_msg=name)
    assert sorted(actual.quat_world_segment_wxyz) == sorted(expected.quat_world_segment_wxyz)
    for name, quat in expected.quat_world_segment_wxyz.items():
        np.testing.assert_array_equal(actual.quat_world_segment_wxyz[name], quat, err_msg=name)
    assert actual.hip_reference == expected.hip_reference


def true_time_s(t_us: FloatArray) -> FloatArray:
    """True session time of host times, seconds."""
    return (np.asarray(t_us, dtype=np.float64) - HOST_EPOCH_US) * 1e-6
