"""The live processing chain after a source: fusion core, rep counter, latest values."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

import numpy as np

from coxa.analysis import Rep, RepCounter
from coxa.fusion import AngleTable, CalibrationError, FusionCore, FusionParams, HipReference
from coxa.geometry import Side
from coxa.sources import ReceivedFrame, fused_segments


class Pipeline:
    """Frames in, joint angles and reps out: the same object live and on a replay.

    The fusion core gives the same rows for any split of its input (``docs/fusion.md``), so a
    replay of a capture, fed in any batches, gives the rows of the live run bit for bit.

    Parameters
    ----------
    segments_by_board : mapping of int to str
        The rig; boards not on a body segment the core knows are left out.
    params : coxa.fusion.FusionParams, optional
        Live defaults if omitted.
    exercise : str
        Exercise id of the rep counter (:data:`coxa.analysis.EXERCISE_IDS`). Default
        ``'squat'``.

    Attributes
    ----------
    core : coxa.fusion.FusionCore or None
        None when the rig has no thigh and shank of one leg (nothing to fuse).
    counter : coxa.analysis.RepCounter
    calibration_error : coxa.fusion.CalibrationError or None
        Why there are no angles, if :meth:`finish` found no calibration.
    latest_rotation_deg, latest_knee_deg : dict of side to float
        Newest finite hip (femoral) rotation and knee flexion per leg, degrees.
    """

    def __init__(
        self,
        segments_by_board: Mapping[int, str],
        params: FusionParams | None = None,
        exercise: str = "squat",
    ) -> None:
        rig = fused_segments(segments_by_board)
        present = set(rig.values())
        has_leg = any({f"femur_{s}", f"tibia_{s}"} <= present for s in ("r", "l"))
        self.core = FusionCore(rig, params) if has_leg else None
        self.counter = RepCounter(exercise)
        self.calibration_error: CalibrationError | None = None
        self.latest_rotation_deg: dict[Side, float] = {}
        self.latest_knee_deg: dict[Side, float] = {}
        self._tables: list[AngleTable] = []
        self._rows = 0

    @property
    def hip_reference(self) -> HipReference:
        """``'pelvis'`` with a pelvis board, else ``'room'``."""
        return self.core.hip_reference if self.core is not None else "room"

    @property
    def calibrated(self) -> bool:
        """Whether the core has calibrated (angles are coming)."""
        return self.core is not None and self.core.calibration is not None

    @property
    def rows(self) -> int:
        """Rows produced so far."""
        return self._rows

    def update(self, frames: Iterable[ReceivedFrame]) -> list[Rep]:
        """Feed decoded frames; return the reps they completed."""
        if self.core is None:
            return []
        return self._take(self.core.update_frames(frames))

    def finish(self) -> list[Rep]:
        """End of the session: the last rows; a missing calibration is kept, not raised."""
        if self.core is None:
            return []
        try:
            table = self.core.finish()
        except CalibrationError as err:
            self.calibration_error = err
            return []
        return self._take(table)

    def _take(self, table: AngleTable) -> list[Rep]:
        if table.n_rows:
            self._tables.append(table)
            self._rows += table.n_rows
            for side in ("r", "l"):
                for name, store in (
                    (f"hip_rotation_{side}", self.latest_rotation_deg),
                    (f"knee_angle_{side}", self.latest_knee_deg),
                ):
                    values = table.angles_deg.get(name)
                    if values is not None and values.size and not math.isnan(values[-1]):
                        store[side] = float(values[-1])
        return self.counter.update(table)

    def table(self) -> AngleTable:
        """Every row produced, in order."""
        return AngleTable.concatenate(self._tables)


def table_digest(table: AngleTable) -> str:
    """SHA-256 of a table's exact bits (times, column names, angles): equal digests mean
    bit-identical tables."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(table.t_us, dtype=np.float64).tobytes())
    for name in sorted(table.angles_deg):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(table.angles_deg[name], dtype=np.float64).tobytes())
    return digest.hexdigest()
