"""Joint-angle table of one output block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from coxa.geometry import FloatArray

HipReference = Literal["pelvis", "room"]


@dataclass(frozen=True)
class AngleBlock:
    """Joint angles on the output time grid.

    Attributes
    ----------
    t_us : ndarray, shape (m,)
        Host-clock time of each row, microseconds.
    angles_deg : dict of str to ndarray, shape (m,)
        Columns named as OpenSim's Rajagopal model (``hip_rotation_r``, ``knee_angle_l``, ...),
        degrees; NaN where a board's data is missing.
    hip_reference : {'pelvis', 'room'}
        ``'pelvis'`` when a pelvis board is calibrated; ``'room'`` when the hip columns are the
        femur relative to the room (the pelvis assumed to keep its calibration pose): then
        ``hip_rotation_*`` is femoral rotation, not hip internal rotation.
    """

    t_us: FloatArray
    angles_deg: dict[str, FloatArray] = field(default_factory=dict[str, FloatArray])
    hip_reference: HipReference = "room"

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.t_us.size)

    @staticmethod
    def empty(hip_reference: HipReference = "room") -> AngleBlock:
        """A block with no rows."""
        return AngleBlock(t_us=np.empty(0), hip_reference=hip_reference)
