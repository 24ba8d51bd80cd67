"""A simulated rig: motion -> IMU samples -> virtual boards -> radio -> BLE packets at the host."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from coxa.body import (
    NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ,
    SEGMENT_OF_PLACEMENT,
    SEGMENTS,
    BoardPlacementName,
    SegmentName,
)
from coxa.sim._board import BoardOutput, BoardSpec, packetize, run_board
from coxa.sim._imu import ImuParams, ImuRecording, MotionTruth, synthesize_imu
from coxa.sim._motion import Motion, MotionParams, RepTruth
from coxa.sim._mounting import SensorMount, default_mount, random_mount
from coxa.sim._radio import RadioParams, transmit

Mounting = Literal["nominal", "realistic"]

_PLACEMENT_OF_SEGMENT: dict[SegmentName, BoardPlacementName] = {
    segment: placement for placement, segment in SEGMENT_OF_PLACEMENT.items()
}


@dataclass(frozen=True)
class RigParams:
    """A simulated session: which boards, how they are worn, their IMUs and their radio links.

    Attributes
    ----------
    motion : MotionParams
        The exercise set (ground truth).
    segments : tuple of str
        Segments that carry a board. Default: all five.
    mounting : {'nominal', 'realistic'}
        ``'nominal'``: boards sit exactly at the product's nominal placement
        (:data:`coxa.body.NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ`). ``'realistic'``: the simulator's
        default straps, turned 23-32 deg off nominal (:func:`coxa.sim.default_mount`).
        Boards sit at the default strap sites either way.
    mount_seed : int or None
        None (default): ``mounting`` decides. An int: each board's strap is the nominal
        placement turned by a random rotation, angle uniform in ``[0, mount_max_deg]``
        about a random axis, drawn from this seed and the segment
        (:func:`coxa.sim.random_mount`); needs ``mounting='nominal'``.
    mount_max_deg : float
        Largest random angle off nominal with ``mount_seed``, degrees, in [0, 180].
        Default 30 [assumption: the range the fusion-core accuracy tests must cover].
    imu : ImuParams
        IMU error model of every board; each board's clock offset is drawn from ``seed``.
    radio : RadioParams
        Link model of every board.
    seed : int
        Root seed of board ids, clock offsets, IMU errors and radio draws.
    host_epoch_us : int
        Host monotonic clock at true time 0, microseconds.
    """

    motion: MotionParams = field(default_factory=MotionParams)
    segments: tuple[SegmentName, ...] = SEGMENTS
    mounting: Mounting = "nominal"
    imu: ImuParams = field(default_factory=ImuParams)
    radio: RadioParams = field(default_factory=RadioParams)
    seed: int = 0
    host_epoch_us: int = 1_000_000_000
    mount_seed: int | None = None
    mount_max_deg: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.mount_max_deg <= 180.0:
            raise ValueError(f"mount_max_deg must be within [0, 180], got {self.mount_max_deg}")
        if self.mount_seed is not None and self.mount_seed < 0:
            raise ValueError(f"mount_seed must be >= 0, got {self.mount_seed}")
        if self.mount_seed is not None and self.mounting != "nominal":
            raise ValueError(
                "mount_seed turns the nominal placement at random: use mounting='nominal' "
                f"with it, not {self.mounting!r}"
            )


@dataclass(frozen=True)
class RigPacket:
    """One BLE notification as the host receives it.

    Attributes
    ----------
    t_rx_us : int
        Host receive time, microseconds.
    board_id : int
        The board whose connection delivered it.
    packet : bytes
        Notification payload (protocol v1 packet).
    """

    t_rx_us: int
    board_id: int
    packet: bytes


@dataclass(frozen=True, eq=False)
class RigRecording:
    """Everything a simulated session produced, with its truth.

    Attributes
    ----------
    params : RigParams
    motion : Motion
        Ground-truth motion.
    truth : RepTruth
        Per-rep ground truth.
    boards : dict of int to BoardSpec
        Board id to its spec.
    segments_by_board : dict of int to str
        Board id to the segment it is worn on.
    imu : dict of int to ImuRecording
        Board id to its IMU samples and truth.
    outputs : dict of int to BoardOutput
        Board id to the frames it sent.
    packets : list of RigPacket
        Every delivered notification of every board, in host receive order.
    lost_packets : int
        Notifications lost on the radio.
    """

    params: RigParams
    motion: Motion
    truth: RepTruth
    boards: dict[int, BoardSpec]
    segments_by_board: dict[int, SegmentName]
    imu: dict[int, ImuRecording]
    outputs: dict[int, BoardOutput]
    packets: list[RigPacket]
    lost_packets: int

    @property
    def duration_s(self) -> float:
        """Length of the session, seconds."""
        return self.motion.duration_s


def _mount(segment: SegmentName, params: RigParams) -> SensorMount:
    """The strap of one segment: at the default site, turned as the parameters say."""
    if params.mount_seed is not None:
        return random_mount(segment, seed=params.mount_seed, max_angle_deg=params.mount_max_deg)
    realistic = default_mount(segment)
    if params.mounting == "realistic":
        return realistic
    q = NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment]
    return replace(
        realistic, quat_segment_sensor_wxyz=(float(q[0]), float(q[1]), float(q[2]), float(q[3]))
    )


@dataclass(frozen=True, eq=False)
class BoardStreams:
    """What the boards of a rig produced while a motion was performed (the board fields of
    :class:`RigRecording`, with the same meanings)."""

    boards: dict[int, BoardSpec]
    segments_by_board: dict[int, SegmentName]
    imu: dict[int, ImuRecording]
    outputs: dict[int, BoardOutput]
    packets: list[RigPacket]
    lost_packets: int


def record_boards(motion: MotionTruth, params: RigParams) -> BoardStreams:
    """The boards of ``params`` strapped on an athlete performing ``motion`` (``params.motion``
    is not read): board ids, clock offsets, IMU, firmware frames and radio, deterministically
    from ``params.seed``, every notification in host receive order."""
    root = np.random.SeedSequence(params.seed)
    ids_seed, *board_seeds = root.spawn(1 + len(params.segments))
    id_rng = np.random.default_rng(ids_seed)
    board_ids = [int(b) for b in id_rng.choice(1 << 16, size=len(params.segments), replace=False)]
    boards: dict[int, BoardSpec] = {}
    segments: dict[int, SegmentName] = {}
    imu: dict[int, ImuRecording] = {}
    outputs: dict[int, BoardOutput] = {}
    rx_times: list[np.ndarray] = []
    rx_boards: list[np.ndarray] = []
    rx_packets: list[bytes] = []
    lost = 0
    for segment, board_id, board_seed in zip(params.segments, board_ids, board_seeds, strict=True):
        imu_seed, clock_seed, radio_seed = board_seed.spawn(3)
        clock_rng = np.random.default_rng(clock_seed)
        clock = replace(params.imu.clock, offset_us=int(clock_rng.integers(0, 1 << 32)))
        board_imu = replace(params.imu, clock=clock)
        recording = synthesize_imu(motion, _mount(segment, params), board_imu, seed=imu_seed)
        spec = BoardSpec(
            board_id=board_id,
            placement=_PLACEMENT_OF_SEGMENT[segment],
            seq_start=int(clock_rng.integers(0, 1 << 32)),
        )
        period_us = round(1e6 / params.imu.rate_hz)
        output = run_board(
            spec,
            recording.t_s,
            recording.t_us,
            period_us,
            recording.gyr_rad_s,
            recording.acc_m_s2,
            np.asarray(recording.gyr_clipped.any(axis=1), dtype=np.bool_),
            np.asarray(recording.acc_clipped.any(axis=1), dtype=np.bool_),
        )
        packets, t_queued = packetize(output.frames, output.t_queued_s, params.radio.att_mtu)
        t_arrival_s, delivered = transmit(t_queued, params.radio, np.random.default_rng(radio_seed))
        lost += int(np.count_nonzero(~delivered))
        rx_times.append(np.rint(t_arrival_s[delivered] * 1e6).astype(np.int64))
        rx_boards.append(np.full(int(np.count_nonzero(delivered)), board_id))
        rx_packets.extend(p for p, ok in zip(packets, delivered.tolist(), strict=True) if ok)
        boards[board_id] = spec
        segments[board_id] = segment
        imu[board_id] = recording
        outputs[board_id] = output
    t_all = np.concatenate(rx_times) + params.host_epoch_us
    board_all = np.concatenate(rx_boards)
    order = np.argsort(t_all, kind="stable")
    times: list[int] = t_all[order].tolist()
    board_of: list[int] = board_all[order].tolist()
    indices: list[int] = order.tolist()
    packets_out = [
        RigPacket(t_rx_us, board_id, rx_packets[i])
        for t_rx_us, board_id, i in zip(times, board_of, indices, strict=True)
    ]
    return BoardStreams(boards, segments, imu, outputs, packets_out, lost)


def simulate_rig(params: RigParams) -> RigRecording:
    """Run a simulated session end to end, deterministically from ``params.seed``."""
    motion = Motion(params.motion)
    streams = record_boards(motion, params)
    return RigRecording(
        params=params,
        motion=motion,
        truth=motion.rep_truth,
        boards=streams.boards,
        segments_by_board=streams.segments_by_board,
        imu=streams.imu,
        outputs=streams.outputs,
        packets=streams.packets,
        lost_packets=streams.lost_packets,
    )
