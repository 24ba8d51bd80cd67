"""Input of the fusion core: consecutive samples of one board, in SI units and unwrapped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import FloatArray

Int64Array = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class SampleBlock:
    """Samples of one board, as decoded from its frames (or read from a file).

    Every array has one row per sample, in the order received. Sequence numbers and device time
    are already unwrapped (64-bit), so blocks of one board can be compared across wrap-arounds.

    Attributes
    ----------
    board_id : int
        Board identity.
    seq : ndarray of int64, shape (n,)
        Unwrapped sample sequence numbers.
    t_device_us : ndarray of int64, shape (n,)
        Unwrapped board-clock time of each sample, microseconds.
    t_rx_us : ndarray of int64, shape (n,)
        Host receive time of the frame that carried each sample, microseconds (host monotonic
        clock). Files without a receive time use the sample time itself.
    quat_wxyz : ndarray, shape (n, 4)
        Board orientation: sensor frame relative to the board's own Z-up world frame (whose
        heading is arbitrary and differs between boards), unit quaternions.
    gyr_rad_s : ndarray, shape (n, 3), or None
        Gyroscope in the sensor frame, rad/s; None for orientation-only inputs.
    acc_m_s2 : ndarray, shape (n, 3), or None
        Accelerometer in the sensor frame, m/s²; None unless the board streams raw samples.
    flags : ndarray of uint8, shape (n,)
        Per-sample wire flags (``coxa.wire.SAMPLE_*``).
    """

    board_id: int
    seq: Int64Array
    t_device_us: Int64Array
    t_rx_us: Int64Array
    quat_wxyz: FloatArray
    gyr_rad_s: FloatArray | None
    acc_m_s2: FloatArray | None
    flags: NDArray[np.uint8]

    def __post_init__(self) -> None:
        n = self.seq.shape[0]
        shapes = {
            "t_device_us": (self.t_device_us.shape, (n,)),
            "t_rx_us": (self.t_rx_us.shape, (n,)),
            "quat_wxyz": (self.quat_wxyz.shape, (n, 4)),
            "flags": (self.flags.shape, (n,)),
        }
        if self.gyr_rad_s is not None:
            shapes["gyr_rad_s"] = (self.gyr_rad_s.shape, (n, 3))
        if self.acc_m_s2 is not None:
            shapes["acc_m_s2"] = (self.acc_m_s2.shape, (n, 3))
        for name, (shape, expected) in shapes.items():
            if shape != expected:
                raise ValueError(f"SampleBlock.{name} has shape {shape}, expected {expected}")

    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.seq.shape[0])

    def select(self, rows: NDArray[np.bool_] | slice) -> SampleBlock:
        """The block's samples at ``rows`` (a boolean mask or a slice)."""
        return SampleBlock(
            board_id=self.board_id,
            seq=self.seq[rows],
            t_device_us=self.t_device_us[rows],
            t_rx_us=self.t_rx_us[rows],
            quat_wxyz=self.quat_wxyz[rows],
            gyr_rad_s=None if self.gyr_rad_s is None else self.gyr_rad_s[rows],
            acc_m_s2=None if self.acc_m_s2 is None else self.acc_m_s2[rows],
            flags=self.flags[rows],
        )
