"""Clinical test results as capacity points for the exercise rules (``coxa.analysis``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from coxa.analysis import CapacityPoint
from coxa.assess._measure import SideResult
from coxa.assess._protocols import protocol
from coxa.store import Catalog


def _point(
    side: str, hip_flexion_deg: float, ir_deg: float, sd_deg: float, test: str, at: datetime
) -> CapacityPoint | None:
    """A point, or None when a number it needs is missing (a result without trials)."""
    known = protocol(test)
    if known.measure != "pointer" or not (math.isfinite(ir_deg) and math.isfinite(hip_flexion_deg)):
        return None
    return CapacityPoint(
        side="r" if side == "r" else "l",
        hip_flexion_deg=hip_flexion_deg,
        ir_deg=ir_deg,
        sd_deg=sd_deg if math.isfinite(sd_deg) else 0.0,
        test=known.sim_exercise,
        measured_at=at,
    )


def to_capacity_points(results: Iterable[SideResult], measured_at: datetime) -> list[CapacityPoint]:
    """The capacity points of the rotation tests among ``results``: the mean IR at the
    measured hip flexion, the trial SD (0 for a single trial), the test id in the analysis's
    spelling (``'prone_ir'``). The straight leg raise measures no rotation and results without
    trials have no value: both are left out."""
    points = (
        _point(r.side, r.hip_flexion_deg, r.mean_deg, r.sd_deg, r.test, measured_at)
        for r in results
    )
    return [p for p in points if p is not None]


def stored_capacity_points(catalog: Catalog, athlete: str) -> list[CapacityPoint]:
    """Every stored rotation test result of an athlete as a capacity point, oldest first
    (:class:`coxa.analysis.Capacity` uses the newest of each test and side).

    Raises
    ------
    coxa.store.CatalogError
        A stored row cannot be read.
    """
    points = (
        _point(
            e.side,
            e.hip_flexion_deg,
            e.mean_deg,
            e.sd_deg,
            e.test,
            datetime.fromtimestamp(e.measured_wall_ns / 1e9, UTC),
        )
        for e in catalog.assessments(athlete)
    )
    return [p for p in points if p is not None]
