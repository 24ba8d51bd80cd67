"""The live processing chain after a source: fusion core, rep counter, findings, latest
values."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Mapping

import numpy as np

from coxa.analysis import EXERCISE_IDS, ExerciseId, Finding, FindingRules, Rep, RepCounter
from coxa.fusion import AngleTable, CalibrationError, FusionCore, FusionParams, HipReference
from coxa.geometry import Side
from coxa.sources import ReceivedFrame, fused_segments

_LOG = logging.getLogger(__name__)

#: Exercise of a session that does not name one (the recorder's choice before sessions
#: named their exercise).
DEFAULT_EXERCISE: ExerciseId = "squat"


def session_exercise(name: object) -> tuple[ExerciseId | None, str]:
    """The rep counter's exercise for a session's ``exercise`` metadata, and a note for the user.

    A known analysis id (``-`` accepted for ``_``) is counted as that exercise; no name at all
    as :data:`DEFAULT_EXERCISE`; any other name (a clinical test such as ``prone_ir``, a free
    name) gets no rep counting, because counting it as some other exercise would report reps
    and findings that mean nothing.

    Parameters
    ----------
    name : object
        The metadata value (None when absent).

    Returns
    -------
    exercise : str or None
        Exercise id, or None: no rep counting.
    note : str
        Empty when the name was a known exercise; otherwise what was chosen and why.
    """
    if name is None or name == "":
        return DEFAULT_EXERCISE, f"no exercise named: reps counted as {DEFAULT_EXERCISE}s"
    if isinstance(name, str):
        key = name.replace("-", "_")
        for known in EXERCISE_IDS:
            if known == key:
                return known, ""
    return None, (
        f"exercise {name!r} is not one the rep analysis knows "
        f"({', '.join(EXERCISE_IDS)}): no rep counting"
    )


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
    exercise : str or None
        Exercise id of the rep counter (:data:`coxa.analysis.EXERCISE_IDS`); None: no rep
        counting. Default ``'squat'``.
    rules : coxa.analysis.FindingRules, optional
        Rules applied to every completed rep; None: no findings.

    Attributes
    ----------
    core : coxa.fusion.FusionCore or None
        None when the rig has no thigh and shank of one leg (nothing to fuse).
    counter : coxa.analysis.RepCounter or None
        None without rep counting.
    rules : coxa.analysis.FindingRules or None
    findings : dict of int to list of Finding
        Findings per rep number (every counted rep has an entry, possibly empty).
    calibration_error : coxa.fusion.CalibrationError or None
        Why there are no angles, if :meth:`finish` found no calibration.
    latest_rotation_deg, latest_knee_deg : dict of side to float
        Newest finite hip (femoral) rotation and knee flexion per leg, degrees.
    """

    def __init__(
        self,
        segments_by_board: Mapping[int, str],
        params: FusionParams | None = None,
        exercise: str | None = DEFAULT_EXERCISE,
        rules: FindingRules | None = None,
    ) -> None:
        rig = fused_segments(segments_by_board)
        present = set(rig.values())
        has_leg = any({f"femur_{s}", f"tibia_{s}"} <= present for s in ("r", "l"))
        self.core = FusionCore(rig, params) if has_leg else None
        self.counter = RepCounter(exercise) if exercise is not None else None
        self.rules = rules
        self.findings: dict[int, list[Finding]] = {}
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
    def reps(self) -> list[Rep]:
        """Every rep so far (none without rep counting)."""
        return self.counter.reps if self.counter is not None else []

    @property
    def in_rep(self) -> bool:
        """Whether a rep is under way."""
        return self.counter is not None and self.counter.in_rep

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
        if self.counter is None:
            return []
        reps = self.counter.update(table)
        for rep in reps:
            found = self.rules.evaluate([rep]) if self.rules is not None else []
            self.findings[rep.index] = found
            for finding in found:
                _LOG.debug("%s", finding.message)
        return reps

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
