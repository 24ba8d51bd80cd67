"""Decoded data frames with their host receive time, and their conversion to sample arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.geometry import FloatArray


@dataclass(frozen=True)
class ReceivedFrame:
    """A decoded data frame and the host time at which it arrived.

    Attributes
    ----------
    t_rx_us : int
        Host receive time, microseconds (monotonic host clock).
    frame : coxa.wire.DataFrame
        The decoded frame.
    """

    t_rx_us: int
    frame: wire.DataFrame


def frame_arrays(frame: wire.DataFrame) -> tuple[FloatArray, FloatArray, NDArray[np.uint8]]:
    """Samples of a data frame as arrays in SI units.

    Returns
    -------
    quat_wxyz : ndarray, shape (n, 4)
        Orientation quaternions (renormalised after fixed-point rounding).
    gyr_rad_s : ndarray, shape (n, 3)
        Gyroscope, rad/s, sensor frame.
    flags : ndarray of uint8, shape (n,)
        Per-sample flags (``coxa.wire.SAMPLE_*``).
    """
    quat = np.asarray(frame.quat_q14, dtype=np.float64).reshape(-1, 4) / wire.Q14_ONE
    quat /= np.linalg.norm(quat, axis=1, keepdims=True)
    gyr = np.asarray(frame.gyr_raw, dtype=np.float64).reshape(-1, 3) * wire.GYR_RAD_S_PER_LSB
    flags = np.asarray(frame.flags, dtype=np.uint8)
    return quat, gyr, flags
