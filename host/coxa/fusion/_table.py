"""Output of the fusion core: joint angles and segment orientations on the output time grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from coxa.geometry import FloatArray

HipReference = Literal["pelvis", "room"]


@dataclass(frozen=True, eq=False)
class AngleTable:
    """Rows of the output grid.

    Attributes
    ----------
    t_us : ndarray, shape (m,)
        Host-clock time of each row, microseconds.
    angles_deg : dict of str to ndarray, shape (m,)
        Joint angles named as OpenSim's Rajagopal model (``hip_flexion_r``,
        ``hip_adduction_r``, ``hip_rotation_r``, ``knee_angle_r``, ``knee_adduction_r``,
        ``knee_rotation_r``, the same with ``_l``, ``pelvis_tilt``, ``pelvis_list``,
        ``pelvis_rotation``), plus ``shank_rotation_r``/``_l`` (the shank as a pointer about the
        femoral long axis, used by the clinical IR tests), degrees; NaN where data is missing.
    quat_world_segment_wxyz : dict of str to ndarray, shape (m, 4)
        Orientation of each calibrated segment in the common world frame (Z up, X the athlete's
        facing at the last standing rest).
    hip_reference : {'pelvis', 'room'}
        ``'pelvis'`` when a pelvis board is calibrated; ``'room'`` when the hip columns are the
        femur relative to the room (the pelvis assumed to keep its standing pose): then
        ``hip_rotation_*`` is femoral rotation, not hip internal rotation.
    """

    t_us: FloatArray
    angles_deg: dict[str, FloatArray] = field(default_factory=dict[str, FloatArray])
    quat_world_segment_wxyz: dict[str, FloatArray] = field(default_factory=dict[str, FloatArray])
    hip_reference: HipReference = "room"

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.t_us.size)

    @staticmethod
    def empty(hip_reference: HipReference = "room") -> AngleTable:
        """A table with no rows."""
        return AngleTable(t_us=np.empty(0), hip_reference=hip_reference)

    @staticmethod
    def concatenate(tables: Sequence[AngleTable]) -> AngleTable:
        """Rows of several tables in order (the columns of the first non-empty table).

        A single non-empty table is returned as it is (its arrays are not copied).
        """
        filled = [table for table in tables if table.t_us.size]
        if not filled:
            return AngleTable.empty(tables[-1].hip_reference if tables else "room")
        if len(filled) == 1:
            return filled[0]
        first = filled[0]
        return AngleTable(
            t_us=np.concatenate([table.t_us for table in filled]),
            angles_deg={
                name: np.concatenate([table.angles_deg[name] for table in filled])
                for name in first.angles_deg
            },
            quat_world_segment_wxyz={
                name: np.concatenate([table.quat_world_segment_wxyz[name] for table in filled])
                for name in first.quat_world_segment_wxyz
            },
            hip_reference=filled[-1].hip_reference,
        )
