"""The athlete's hip internal rotation (IR) capacity per side, from their clinical tests.

Each clinical test gives a point: the IR the athlete reached at the hip flexion of the test
(prone near 0 deg, seated and supine near 90 deg). The capacity at another hip flexion is
interpolated linearly between the tests of that side and held flat for at most
``max_extrapolation_deg`` beyond the outermost test [assumption: IR range changes with hip
flexion, but how is not known well enough to extrapolate a trend]. Further away there is no
capacity, and the estimate says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from coxa.geometry import Side

_SIDE_NAMES: dict[Side, str] = {"r": "right", "l": "left"}


@dataclass(frozen=True)
class CapacityPoint:
    """One clinical test result of one side.

    Attributes
    ----------
    side : {'r', 'l'}
    hip_flexion_deg : float
        Hip flexion of the test position, degrees (prone about 0, seated or supine about 90).
    ir_deg : float
        Hip internal rotation reached (mean of the trials), degrees.
    sd_deg : float
        Standard deviation of the trials, degrees (>= 0; 0 for a single trial).
    test : str
        Test id (``'prone_ir'``, ``'seated_ir'``, ``'supine_ir'``, ...).
    measured_at : datetime or None
        When the test was done; the newest result of a test is used.
    """

    side: Side
    hip_flexion_deg: float
    ir_deg: float
    sd_deg: float
    test: str
    measured_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.side not in _SIDE_NAMES:
            raise ValueError(f"side must be 'r' or 'l', got {self.side!r}")
        for name in ("hip_flexion_deg", "ir_deg", "sd_deg"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        if self.sd_deg < 0:
            raise ValueError(f"sd_deg must be >= 0, got {self.sd_deg}")
        if not self.test:
            raise ValueError("test must name the clinical test")


@dataclass(frozen=True)
class CapacityAt:
    """The capacity of one side at one hip flexion.

    Attributes
    ----------
    side : {'r', 'l'}
    hip_flexion_deg : float
        Where it was asked, degrees.
    ir_deg : float
        Capacity, degrees; NaN when no test is close enough.
    sd_deg : float
        Trial SD carried over from the tests, degrees; NaN when none.
    basis : str
        In words: which tests it comes from and how, or why there is none.
    """

    side: Side
    hip_flexion_deg: float
    ir_deg: float
    sd_deg: float
    basis: str

    @property
    def found(self) -> bool:
        """Whether a test close enough in hip flexion exists."""
        return not math.isnan(self.ir_deg)


@dataclass(frozen=True)
class Capacity:
    """Hip IR capacity per side from clinical tests.

    The newest result of each test and side is used (results without a date count as older
    than dated ones; among equals, the later in ``points``). Tests of one side less than
    ``merge_within_deg`` apart in hip flexion (seated and supine) are averaged into one anchor.

    Attributes
    ----------
    points : tuple of CapacityPoint
    max_extrapolation_deg : float
        How far beyond the outermost test of a side the capacity is still given (held at that
        test's value), degrees. Default 20 [assumption].
    merge_within_deg : float
        Tests closer than this in hip flexion are averaged, degrees. Default 10 [assumption].
    """

    points: tuple[CapacityPoint, ...]
    max_extrapolation_deg: float = 20.0
    merge_within_deg: float = 10.0

    def __post_init__(self) -> None:
        if self.max_extrapolation_deg < 0 or self.merge_within_deg < 0:
            raise ValueError("max_extrapolation_deg and merge_within_deg must be >= 0")

    def newest(self, side: Side) -> list[CapacityPoint]:
        """The newest result of each test of one side, sorted by hip flexion."""
        latest: dict[str, tuple[int, CapacityPoint]] = {}
        for order, point in enumerate(self.points):
            if point.side != side:
                continue
            previous = latest.get(point.test)
            if previous is None or _newer(point, order, *previous):
                latest[point.test] = (order, point)
        return sorted((p for _, p in latest.values()), key=lambda p: p.hip_flexion_deg)

    def anchors(self, side: Side) -> list[tuple[float, float, float, str]]:
        """Interpolation anchors of one side: hip flexion, IR, SD (degrees) and the tests."""
        groups: list[list[CapacityPoint]] = []
        for point in self.newest(side):
            if groups and point.hip_flexion_deg - groups[-1][0].hip_flexion_deg < (
                self.merge_within_deg
            ):
                groups[-1].append(point)
            else:
                groups.append([point])
        anchors: list[tuple[float, float, float, str]] = []
        for group in groups:
            flexion = float(np.mean([p.hip_flexion_deg for p in group]))
            ir = float(np.mean([p.ir_deg for p in group]))
            sd = float(np.sqrt(np.mean([p.sd_deg**2 for p in group])))
            names = " and ".join(f"{p.test} {p.ir_deg:.1f} deg" for p in group)
            anchors.append((flexion, ir, sd, f"{names} at {flexion:.0f} deg hip flexion"))
        return anchors

    def at(self, side: Side, hip_flexion_deg: float) -> CapacityAt:
        """The capacity of one side at a hip flexion.

        Parameters
        ----------
        side : {'r', 'l'}
        hip_flexion_deg : float
            Hip flexion of the movement, degrees (NaN gives no capacity).

        Returns
        -------
        CapacityAt
            With ``ir_deg`` NaN and the reason in ``basis`` when no test is close enough.
        """
        nan = float("nan")
        name = _SIDE_NAMES[side]
        anchors = self.anchors(side)
        if not anchors:
            return CapacityAt(
                side, hip_flexion_deg, nan, nan, f"no clinical IR test of the {name} hip"
            )
        if math.isnan(hip_flexion_deg):
            return CapacityAt(side, hip_flexion_deg, nan, nan, "hip flexion unknown")
        flexions = [a[0] for a in anchors]
        low, high = flexions[0], flexions[-1]
        tests = "; ".join(a[3] for a in anchors)
        if not (
            low - self.max_extrapolation_deg <= hip_flexion_deg <= high + self.max_extrapolation_deg
        ):
            return CapacityAt(
                side,
                hip_flexion_deg,
                nan,
                nan,
                f"no {name} hip IR test within {self.max_extrapolation_deg:.0f} deg of "
                f"{hip_flexion_deg:.0f} deg hip flexion (tests: {tests})",
            )
        ir = float(np.interp(hip_flexion_deg, flexions, [a[1] for a in anchors]))
        sd = float(np.interp(hip_flexion_deg, flexions, [a[2] for a in anchors]))
        if hip_flexion_deg <= low or hip_flexion_deg >= high or len(anchors) == 1:
            nearest = anchors[0] if hip_flexion_deg <= low else anchors[-1]
            basis = f"{nearest[3]}"
        else:
            i = int(np.searchsorted(flexions, hip_flexion_deg))
            basis = f"interpolated between {anchors[i - 1][3]} and {anchors[i][3]}"
        return CapacityAt(side, hip_flexion_deg, ir, sd, basis)


def _newer(point: CapacityPoint, order: int, other_order: int, other: CapacityPoint) -> bool:
    if point.measured_at is None and other.measured_at is not None:
        return False
    if (
        point.measured_at is not None
        and other.measured_at is not None
        and point.measured_at != other.measured_at
    ):
        return point.measured_at > other.measured_at
    return order > other_order
