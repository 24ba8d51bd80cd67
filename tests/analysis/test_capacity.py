"""The athlete's IR capacity at a hip flexion, from clinical test points."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.analysis import Capacity, CapacityPoint

ir_deg = st.floats(-10.0, 70.0, allow_nan=False)
sd_deg = st.floats(0.0, 8.0, allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(
    prone=ir_deg,
    seated=ir_deg,
    prone_sd=sd_deg,
    seated_sd=sd_deg,
    prone_flexion=st.floats(-5.0, 10.0),
    seated_flexion=st.floats(80.0, 100.0),
    side=st.sampled_from(["r", "l"]),
    fraction=st.floats(0.0, 1.0),
)
def test_interpolates_between_prone_and_seated(
    prone: float,
    seated: float,
    prone_sd: float,
    seated_sd: float,
    prone_flexion: float,
    seated_flexion: float,
    side: str,
    fraction: float,
) -> None:
    assert side in ("r", "l")
    other = "l" if side == "r" else "r"
    capacity = Capacity(
        (
            CapacityPoint(side, prone_flexion, prone, prone_sd, "prone_ir"),
            CapacityPoint(side, seated_flexion, seated, seated_sd, "seated_ir"),
            CapacityPoint(other, 90.0, 99.0, 0.0, "seated_ir"),  # never used for `side`
        )
    )
    flexion = prone_flexion + fraction * (seated_flexion - prone_flexion)
    at = capacity.at(side, flexion)
    assert at.found
    assert at.ir_deg == pytest.approx(prone + fraction * (seated - prone), abs=1e-9)
    assert at.sd_deg == pytest.approx(prone_sd + fraction * (seated_sd - prone_sd), abs=1e-9)
    assert "prone_ir" in at.basis or "seated_ir" in at.basis
    # Held flat up to max_extrapolation_deg beyond the outermost tests, none further away.
    reach = capacity.max_extrapolation_deg
    assert capacity.at(side, seated_flexion + reach - 1e-6).ir_deg == pytest.approx(seated)
    assert capacity.at(side, prone_flexion - reach + 1e-6).ir_deg == pytest.approx(prone)
    beyond = capacity.at(side, seated_flexion + reach + 1e-6)
    assert not beyond.found
    assert math.isnan(beyond.ir_deg)
    name = "right" if side == "r" else "left"
    assert f"no {name} hip IR test within" in beyond.basis
    assert not capacity.at(side, prone_flexion - reach - 1e-6).found


@settings(max_examples=40, deadline=None)
@given(ir=ir_deg, flexion=st.floats(0.0, 100.0), offset=st.floats(-60.0, 60.0))
def test_single_test_covers_only_its_neighbourhood(
    ir: float, flexion: float, offset: float
) -> None:
    capacity = Capacity((CapacityPoint("r", flexion, ir, 2.0, "prone_ir"),))
    at = capacity.at("r", flexion + offset)
    assert at.found == (abs(offset) <= capacity.max_extrapolation_deg)
    if at.found:
        assert at.ir_deg == ir
        assert "prone_ir" in at.basis
    assert not capacity.at("l", flexion).found
    assert capacity.at("l", flexion).basis == "no clinical IR test of the left hip"
    assert not capacity.at("r", math.nan).found


def test_newest_result_of_each_test_is_used() -> None:
    day = datetime(2026, 3, 1)
    points = (
        CapacityPoint("r", 0.0, 40.0, 1.0, "prone_ir", day + timedelta(days=7)),
        CapacityPoint("r", 0.0, 30.0, 1.0, "prone_ir", day),
        CapacityPoint("r", 0.0, 20.0, 1.0, "prone_ir", None),
    )
    assert Capacity(points).at("r", 0.0).ir_deg == 40.0
    # Without dates the later point wins.
    undated = (
        CapacityPoint("r", 0.0, 20.0, 1.0, "prone_ir"),
        CapacityPoint("r", 0.0, 25.0, 1.0, "prone_ir"),
    )
    assert Capacity(undated).at("r", 0.0).ir_deg == 25.0


def test_seated_and_supine_are_averaged() -> None:
    capacity = Capacity(
        (
            CapacityPoint("l", 0.0, 40.0, 3.0, "prone_ir"),
            CapacityPoint("l", 88.0, 30.0, 2.0, "seated_ir"),
            CapacityPoint("l", 92.0, 34.0, 4.0, "supine_ir"),
        )
    )
    at = capacity.at("l", 90.0)
    assert at.ir_deg == pytest.approx(32.0)
    assert at.sd_deg == pytest.approx(math.sqrt((4.0 + 16.0) / 2))
    assert "seated_ir 30.0 deg and supine_ir 34.0 deg" in at.basis
    mid = capacity.at("l", 45.0)
    assert mid.ir_deg == pytest.approx(36.0)
    assert mid.basis.startswith("interpolated between prone_ir 40.0 deg at 0 deg hip flexion")


def test_bad_points_are_refused() -> None:
    with pytest.raises(ValueError, match="sd_deg"):
        CapacityPoint("r", 0.0, 30.0, -1.0, "prone_ir")
    with pytest.raises(ValueError, match="ir_deg"):
        CapacityPoint("r", 0.0, math.nan, 1.0, "prone_ir")
    with pytest.raises(ValueError, match="side"):
        CapacityPoint("x", 0.0, 30.0, 1.0, "prone_ir")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="test"):
        CapacityPoint("r", 0.0, 30.0, 1.0, "")
    with pytest.raises(ValueError, match="max_extrapolation_deg"):
        Capacity((), max_extrapolation_deg=-1.0)
