"""The reference values file, the comparisons, the history and the capacity points."""

from __future__ import annotations

import math
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coxa.analysis import Capacity, CapacityPoint
from coxa.assess import (
    STATUSES,
    TEST_IDS,
    ReferenceFileError,
    SideResult,
    Trial,
    change_since_previous,
    compare,
    load_references,
    parse_references,
    store_result,
    stored_capacity_points,
    to_capacity_points,
)
from coxa.store import Catalog
from tests.conftest import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "host" / "coxa" / "assess" / "data" / "references.toml"


def test_shipped_references_cover_every_test_with_a_status() -> None:
    refs = load_references()
    assert refs.version == 1
    for test in TEST_IDS:
        assert refs.of(test), test
    for ref in refs.values:
        assert ref.status in STATUSES
        assert ref.reference
    # domain notes section 3
    prone = {r.kind: r for r in refs.of("prone-ir")}
    assert prone["coaching target"].low_deg == 45.0
    assert prone["population mean"].low_deg == 35.0
    seated = {r.kind: (r.low_deg, r.high_deg) for r in refs.of("seated-ir")}
    assert seated == {"coaching target": (30.0, 45.0), "population mean": (28.0, 38.0)}
    assert all(r.status == "derived" for r in refs.of("supine-ir"))
    (aslr,) = refs.of("aslr")
    assert (aslr.low_deg, aslr.status) == (70.0, "not found")
    assert (refs.noise.low_deg, refs.noise.high_deg, refs.noise.status) == (5.4, 7.8, "src")
    assert (refs.asymmetry.low_deg, refs.asymmetry.high_deg) == (5.0, 8.0)
    assert refs.asymmetry.status == "assumption"
    assert load_references(SHIPPED).values == refs.values


def _toml(**changes: str) -> str:
    text = SHIPPED.read_text(encoding="utf-8")
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("version = 1", "version = 2", "version 2"),
        (
            'status = "src"\nreference = "coaching articles: about',
            'status = "sure"\nreference = "x',
            "reference #1: status",
        ),
        ("low_deg = 30.0", "low_deg = 50.0", "reference #3: low_deg is above"),
        ("low_deg = 45.0", 'low_deg = "45"', "reference #1: low_deg must be a number"),
        ("[noise]", "[noise_]", r"missing table \[noise\]"),
        ("mdc_low_deg = 5.4", "mdc_low_deg = 9.0", "mdc_low_deg <= mdc_high_deg"),
        ("version = 1", "version = = 1", "not valid TOML"),
    ],
)
def test_malformed_reference_files_name_the_file_and_entry(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(_toml(**{old: new}), encoding="utf-8")
    with pytest.raises(ReferenceFileError, match=message) as caught:
        load_references(path)
    assert "mine.toml" in str(caught.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReferenceFileError, match="cannot read"):
        load_references(tmp_path / "absent.toml")


def test_an_edited_copy_is_used() -> None:
    edited = _toml(**{"low_deg = 45.0\nhigh_deg = 45.0": "low_deg = 50.0\nhigh_deg = 50.0"})
    refs = parse_references(edited, "copy")
    assert {r.kind: r.low_deg for r in refs.of("prone-ir")}["coaching target"] == 50.0
    assert tomllib.loads(SHIPPED.read_text(encoding="utf-8"))["version"] == refs.version


def test_comparisons_with_ranges_and_single_values() -> None:
    refs = load_references()
    seated = refs.of("seated-ir")
    verdicts = {c.reference.kind: (c.verdict, c.difference_deg) for c in compare(26.0, seated)}
    assert verdicts == {"coaching target": ("below", -4.0), "population mean": ("below", -2.0)}
    verdicts = {c.reference.kind: c.verdict for c in compare(40.0, seated)}
    assert verdicts == {"coaching target": "within", "population mean": "above"}
    assert all(c.verdict == "unknown" for c in compare(math.nan, seated))
    assert refs.noise.classify(-5.0) == "within noise"
    assert refs.noise.classify(6.0) == "possible"
    assert refs.noise.classify(-8.1) == "beyond noise"
    assert refs.noise.classify(math.nan) == "unknown"


def _result(
    mean: float, side: str = "r", test: str = "prone-ir", reference: str = "pelvis"
) -> SideResult:
    trial = Trial(0, 0.0, 1.0, 2.0, (1.0, 1.5), mean, mean + 1, 90.0, 1.0, 0.5, False, ())
    return SideResult(test, side, reference, (trial,), mean, math.nan, 1.0, ())  # type: ignore[arg-type]


def test_history_change_against_the_mdc(tmp_path: Path) -> None:
    refs = load_references()
    with Catalog.in_project(tmp_path) as catalog:
        assert change_since_previous(catalog, "A01", _result(30.0), refs, 10**18) is None
        store_result(catalog, _result(30.0), "A01", 100)
        store_result(catalog, _result(45.0, side="l"), "A01", 150)
        store_result(catalog, _result(33.0), "A01", 200)
        store_result(catalog, _result(math.nan), "A01", 250)  # no mean: not a previous result
        change = change_since_previous(catalog, "A01", _result(41.5), refs, 300)
        assert change is not None
        assert change.previous_mean_deg == 33.0
        assert change.previous_wall_ns == 200
        assert change.change_deg == pytest.approx(8.5)
        assert change.verdict == "beyond noise"
        assert change.comparable
        earlier = change_since_previous(catalog, "A01", _result(34.0, reference="room"), refs, 200)
        assert earlier is not None
        assert earlier.previous_mean_deg == 30.0  # only results before the given time
        assert earlier.verdict == "within noise"
        assert not earlier.comparable  # room vs pelvis reference


def test_capacity_points_of_rotation_tests_only(tmp_path: Path) -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    results = [_result(31.0), _result(70.0, test="aslr"), _result(math.nan, side="l")]
    (point,) = to_capacity_points(results, at)
    assert isinstance(point, CapacityPoint)
    assert (point.side, point.ir_deg, point.hip_flexion_deg) == ("r", 31.0, 1.0)
    assert (point.sd_deg, point.test, point.measured_at) == (0.0, "prone_ir", at)
    capacity = Capacity((point,))
    assert capacity.at("r", 5.0).ir_deg == pytest.approx(31.0)
    with Catalog.in_project(tmp_path) as catalog:
        store_result(catalog, _result(28.0, test="seated-ir"), "A01", 2 * 10**18)
        store_result(catalog, _result(75.0, test="aslr"), "A01", 3 * 10**18)
        (stored,) = stored_capacity_points(catalog, "A01")
    assert (stored.test, stored.ir_deg, stored.side) == ("seated_ir", 28.0, "r")
    assert stored.measured_at == datetime.fromtimestamp(2e9, UTC)
