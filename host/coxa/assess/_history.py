"""An athlete's history of clinical test results in the project catalog, and the change of a
new result against the test's minimal detectable change."""

from __future__ import annotations

import math
from dataclasses import dataclass

from coxa.assess._measure import SideResult
from coxa.assess._references import References
from coxa.store import Catalog


@dataclass(frozen=True)
class Change:
    """A new result against the athlete's previous one of the same test and side.

    Attributes
    ----------
    previous_mean_deg : float
        The previous result's mean, degrees.
    previous_wall_ns : int
        When it was measured, ns since the Unix epoch.
    previous_hip_reference : {'pelvis', 'room'}
    change_deg : float
        New mean minus the previous one, degrees.
    verdict : str
        The change against the test's minimal detectable change: ``'within noise'``,
        ``'possible'`` (between the low and high MDC) or ``'beyond noise'``.
    comparable : bool
        Both measured with the same reference (with or both without a pelvis board).
    """

    previous_mean_deg: float
    previous_wall_ns: int
    previous_hip_reference: str
    change_deg: float
    verdict: str
    comparable: bool


def store_result(
    catalog: Catalog,
    result: SideResult,
    athlete: str,
    measured_wall_ns: int,
    capture: str | None = None,
) -> int:
    """Store one side's result in the catalog; return its id.

    Raises
    ------
    coxa.store.CatalogError
        The catalog refused it.
    """
    return catalog.add_assessment(
        athlete=athlete,
        test=result.test,
        side=result.side,
        measured_wall_ns=measured_wall_ns,
        trials_deg=result.values_deg,
        mean_deg=result.mean_deg,
        sd_deg=result.sd_deg,
        hip_flexion_deg=result.hip_flexion_deg,
        hip_reference=result.hip_reference,
        flags=result.all_flags,
        capture=capture,
    )


def change_since_previous(
    catalog: Catalog,
    athlete: str,
    result: SideResult,
    references: References,
    before_wall_ns: int,
) -> Change | None:
    """The change of a result since the athlete's latest earlier result of the same test and
    side with a mean (None if there is none).

    Parameters
    ----------
    before_wall_ns : int
        Only results measured before this time count (the new result's own time).
    """
    earlier = [
        entry
        for entry in catalog.assessments(athlete, result.test, result.side)
        if entry.measured_wall_ns < before_wall_ns and math.isfinite(entry.mean_deg)
    ]
    if not earlier:
        return None
    previous = earlier[-1]
    change = result.mean_deg - previous.mean_deg
    return Change(
        previous_mean_deg=previous.mean_deg,
        previous_wall_ns=previous.measured_wall_ns,
        previous_hip_reference=previous.hip_reference,
        change_deg=change,
        verdict=references.noise.classify(change),
        comparable=previous.hip_reference == result.hip_reference,
    )
