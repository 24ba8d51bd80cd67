"""The board firmware's own AHRS (``coxa_fw.ahrs``), run on the host for the virtual boards.

The firmware is dialect-neutral MicroPython code without type annotations; this module is the
one typed crossing point, so simulated streams carry exactly the firmware's behaviour (the
same integer arithmetic gives bit-identical quaternions on CPython and on MicroPython).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Protocol, cast

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import FloatArray


class _Ahrs(Protocol):
    q: Sequence[float]

    def update(self, gx: float, gy: float, gz: float, ax: float, ay: float, az: float) -> int: ...


def run_firmware_ahrs(
    rate_hz: float, gyr_rad_s: FloatArray, acc_m_s2: FloatArray
) -> tuple[FloatArray, NDArray[np.uint8]]:
    """Filter a recording sample by sample with a fresh ``coxa_fw.ahrs.Ahrs6D``.

    Parameters
    ----------
    rate_hz : float
        Sample rate the board runs the filter at, Hz.
    gyr_rad_s, acc_m_s2 : ndarray, shape (n, 3)
        IMU samples in the sensor frame.

    Returns
    -------
    quat_wxyz : ndarray, shape (n, 4)
        Orientation after each sample (sensor in the filter's own world frame).
    flags : ndarray of uint8, shape (n,)
        The filter's per-sample flags (wire ``SAMPLE_AT_REST``, ``SAMPLE_FILTER_RESET``).
    """
    from coxa_fw.ahrs import Ahrs6D  # the firmware package ships beside coxa

    ahrs = cast(_Ahrs, Ahrs6D(rate_hz))
    update = ahrs.update
    n = gyr_rad_s.shape[0]
    # The loop runs the firmware once per sample, so it carries nothing else: the filter's
    # float32 outputs are appended as they are (array('f') to array('f') is a copy) and
    # widened to float64 once at the end, exactly as assigning them row by row would.
    quat_f32 = array("f")
    extend = quat_f32.extend
    flags: list[int] = []
    add_flags = flags.append
    rows: list[list[float]] = np.concatenate([gyr_rad_s, acc_m_s2], axis=1).tolist()
    for gx, gy, gz, ax, ay, az in rows:
        add_flags(update(gx, gy, gz, ax, ay, az))
        extend(ahrs.q)
    quat = np.asarray(quat_f32, dtype=np.float32).astype(np.float64).reshape(n, 4)
    return quat, np.array(flags, dtype=np.uint8)
