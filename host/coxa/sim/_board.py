"""Virtual board: IMU samples -> the firmware's AHRS -> protocol v1 frames -> BLE packets.

Frame headers are written by :func:`coxa.wire.data_header_into`; the samples of a whole
recording are packed at once into protocol v1's little-endian sample layout (quaternion mode
``<hhhhhhhB``: Q14 w, x, y, z, gyro x, y, z, flags; raw mode ``<hhhhhhhBhhh``: plus the
accelerometer), which ``tests/sim/test_board.py`` checks frame by frame against
:func:`coxa.wire.encode_data_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.body import BoardPlacementName
from coxa.geometry import FloatArray
from coxa.sim._firmware_ahrs import run_firmware_ahrs


@dataclass(frozen=True)
class BoardSpec:
    """Identity and settings of one virtual board.

    Attributes
    ----------
    board_id : int
        u16 board id, as a real board derives it from its MAC address.
    placement : str
        Wire segment name (``pelvis``, ``thigh_r``, ``thigh_l``, ``shank_r``, ``shank_l``).
    raw_mode : bool
        Send the accelerometer too (``MODE_QUAT_RAW``).
    seq_start : int
        Sequence number of the first sample, u32 (set near 2**32 to exercise wrap-around).
    """

    board_id: int
    placement: BoardPlacementName
    raw_mode: bool = False
    seq_start: int = 0


@dataclass(frozen=True)
class BoardOutput:
    """What a virtual board sent.

    Attributes
    ----------
    frames : list of bytes
        Encoded data frames in the order sent.
    t_queued_s : ndarray, shape (n_frames,)
        True time each frame was handed to the radio (its newest sample's time), seconds.
    quat_wxyz : ndarray, shape (n_samples, 4)
        The on-board AHRS's orientation per sample, before fixed-point rounding.
    """

    frames: list[bytes]
    t_queued_s: FloatArray
    quat_wxyz: FloatArray


def sample_flags(
    ahrs_flags: NDArray[np.uint8], gyr_clipped: NDArray[np.bool_], acc_clipped: NDArray[np.bool_]
) -> NDArray[np.uint8]:
    """Per-sample wire flags: the AHRS's own plus the saturation flags, shape ``(n,)``."""
    flags = ahrs_flags.astype(np.int64)
    flags |= np.where(gyr_clipped, wire.SAMPLE_GYR_CLIPPED, 0)
    flags |= np.where(acc_clipped, wire.SAMPLE_ACC_CLIPPED, 0)
    return flags.astype(np.uint8)


#: One quaternion-mode sample of protocol v1 (``wire.QUAT_SAMPLE_BYTES`` bytes).
_QUAT_SAMPLE = np.dtype([("quat", "<i2", (4,)), ("gyr", "<i2", (3,)), ("flags", "u1")])
#: One raw-mode sample of protocol v1 (``wire.RAW_SAMPLE_BYTES`` bytes).
_RAW_SAMPLE = np.dtype(
    [("quat", "<i2", (4,)), ("gyr", "<i2", (3,)), ("flags", "u1"), ("acc", "<i2", (3,))]
)


def _pack_samples(
    quat_q14: NDArray[np.int64],
    gyr_raw: NDArray[np.int64],
    flags: NDArray[np.uint8],
    acc_raw: NDArray[np.int64] | None,
) -> bytes:
    """All samples in protocol v1 layout, back to back (values already in range)."""
    if np.any(flags > 0x0F):
        raise wire.ProtocolError(f"sample flags must be within 0..15, got {int(flags.max())}")
    packed = np.empty(flags.shape[0], dtype=_QUAT_SAMPLE if acc_raw is None else _RAW_SAMPLE)
    packed["quat"] = quat_q14
    packed["gyr"] = gyr_raw
    packed["flags"] = flags
    if acc_raw is not None:
        packed["acc"] = acc_raw
    return packed.tobytes()


def to_fixed_point(scaled: FloatArray) -> NDArray[np.int64]:
    """Round half away from zero and clamp to +-32767, as ``coxa.wire``'s converters do."""
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    return np.clip(rounded, -32767, 32767).astype(np.int64)


def run_board(
    spec: BoardSpec,
    t_true_s: FloatArray,
    t_device_us: NDArray[np.int64],
    period_us: int,
    gyr_rad_s: FloatArray,
    acc_m_s2: FloatArray,
    gyr_clipped: NDArray[np.bool_],
    acc_clipped: NDArray[np.bool_],
) -> BoardOutput:
    """Run the firmware's AHRS on a board's IMU samples and pack them into protocol v1 frames.

    Parameters
    ----------
    spec : BoardSpec
    t_true_s : ndarray, shape (n,)
        True time of each sample, seconds.
    t_device_us : ndarray of int64, shape (n,)
        The board's accumulated microsecond counter at each sample (wrapped to u32 on the wire).
    period_us : int
        Nominal sample period the board declares, microseconds.
    gyr_rad_s, acc_m_s2 : ndarray, shape (n, 3)
        IMU readings in the sensor frame.
    gyr_clipped, acc_clipped : ndarray of bool, shape (n,)
        Saturation per sample.
    """
    quat, ahrs_flags = run_firmware_ahrs(1e6 / period_us, gyr_rad_s, acc_m_s2)
    flags = sample_flags(ahrs_flags, gyr_clipped, acc_clipped)
    quat_q14 = to_fixed_point(quat * wire.Q14_ONE)
    gyr_raw = to_fixed_point(gyr_rad_s / wire.GYR_RAD_S_PER_LSB)
    acc_raw = to_fixed_point(acc_m_s2 / wire.ACC_M_S2_PER_LSB)
    per_frame = wire.samples_per_frame(spec.raw_mode)
    sample_bytes = wire.RAW_SAMPLE_BYTES if spec.raw_mode else wire.QUAT_SAMPLE_BYTES
    payload = _pack_samples(quat_q14, gyr_raw, flags, acc_raw if spec.raw_mode else None)
    n = t_true_s.size
    starts = np.arange(0, n, per_frame)
    ends = np.minimum(starts + per_frame, n)
    t0_us = (t_device_us[starts] % (1 << 32)).tolist()
    header = bytearray(wire.DATA_HEADER_BYTES)
    frames: list[bytes] = []
    for start, end, t0 in zip(starts.tolist(), ends.tolist(), t0_us, strict=True):
        wire.data_header_into(
            header,
            0,
            wire.KIND_DATA_LIVE,
            spec.board_id,
            (spec.seq_start + start) % (1 << 32),
            t0,
            period_us,
            end - start,
            spec.raw_mode,
        )
        frames.append(bytes(header) + payload[start * sample_bytes : end * sample_bytes])
    t_queued = np.asarray(t_true_s[ends - 1], dtype=np.float64)
    return BoardOutput(frames=frames, t_queued_s=t_queued, quat_wxyz=quat)


def packetize(
    frames: list[bytes], t_queued_s: FloatArray, att_mtu: int
) -> tuple[list[bytes], FloatArray]:
    """Split frames into BLE notifications (protocol v1 packets) for an ATT MTU.

    Returns
    -------
    packets : list of bytes
    t_queued_s : ndarray, shape (n_packets,)
        Each packet inherits its frame's queue time.
    """
    packets: list[bytes] = []
    times: list[float] = []
    counter = 0
    for frame, t_s in zip(frames, t_queued_s.tolist(), strict=True):
        frame_packets, counter = wire.fragment(frame, att_mtu, counter)
        packets.extend(frame_packets)
        times.extend([t_s] * len(frame_packets))
    return packets, np.asarray(times)
