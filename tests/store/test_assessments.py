"""The catalog's clinical test results (schema step 3): stored, read back, kept on upgrade."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from coxa.store import CATALOG_NAME, MIGRATIONS, Catalog, CatalogError, migrate


def _add(catalog: Catalog, **changes: object) -> int:
    fields: dict[str, object] = {
        "athlete": "A01",
        "test": "prone-ir",
        "side": "r",
        "measured_wall_ns": 100,
        "trials_deg": (31.0, math.nan, 33.5),
        "mean_deg": 32.25,
        "sd_deg": 1.77,
        "hip_flexion_deg": 0.5,
        "hip_reference": "pelvis",
        "flags": ("trial 2: pelvic lift",),
        "capture": "/x.coxa",
    }
    fields |= changes
    return catalog.add_assessment(**fields)  # type: ignore[arg-type]


def test_results_are_stored_and_read_back_oldest_first(tmp_path: Path) -> None:
    with Catalog.in_project(tmp_path) as catalog:
        _add(catalog, measured_wall_ns=300, mean_deg=40.0)
        first = _add(catalog)
        _add(catalog, side="l", measured_wall_ns=200)
        _add(catalog, test="seated-ir", measured_wall_ns=250)
        _add(catalog, athlete="B02", mean_deg=math.nan, sd_deg=math.nan, capture=None)
        entries = catalog.assessments("A01", "prone-ir", "r")
        assert [e.measured_wall_ns for e in entries] == [100, 300]
        entry = entries[0]
        assert entry.id == first
        assert (entry.athlete, entry.test, entry.side) == ("A01", "prone-ir", "r")
        assert entry.trials_deg[0] == 31.0
        assert math.isnan(entry.trials_deg[1])  # NaN survives as NULL
        assert entry.mean_deg == 32.25
        assert entry.flags == ("trial 2: pelvic lift",)
        assert entry.capture == "/x.coxa"
        assert entry.hip_reference == "pelvis"
        assert len(catalog.assessments("A01")) == 4
        other = catalog.assessments("B02")[0]
        assert math.isnan(other.mean_deg)
        assert other.capture is None
        assert catalog.assessments("nobody") == []
        assert "B02" in catalog.athletes()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"athlete": ""}, "athlete"),
        ({"test": ""}, "test id"),
        ({"side": "x"}, "side"),
        ({"hip_reference": "thigh"}, "hip reference"),
    ],
)
def test_bad_results_are_refused(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with Catalog.in_project(tmp_path) as catalog:
        with pytest.raises(CatalogError, match=message):
            _add(catalog, **changes)
        assert catalog.assessments("A01") == []


def test_an_unreadable_row_names_the_catalog_and_the_row(tmp_path: Path) -> None:
    with Catalog.in_project(tmp_path) as catalog:
        row = _add(catalog)
    db = sqlite3.connect(tmp_path / CATALOG_NAME)
    db.execute("UPDATE assessments SET trials_deg = 'not json' WHERE id = ?", (row,))
    db.commit()
    db.close()
    with Catalog.in_project(tmp_path) as catalog, pytest.raises(CatalogError) as caught:
        catalog.assessments("A01")
    assert CATALOG_NAME in str(caught.value)
    assert f"assessment {row}" in str(caught.value)


def test_upgrade_to_step_3_keeps_athletes_and_adds_the_table(tmp_path: Path) -> None:
    step = next(m for m in MIGRATIONS if "clinical test" in m.summary)
    path = tmp_path / CATALOG_NAME
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, str(path), target=step.version - 1)
    db.execute("INSERT INTO athletes (code, created_ns) VALUES ('A01', 1)")
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'assessments'").fetchall()
    db.close()
    with Catalog(path) as catalog:
        assert catalog.schema_version >= step.version
        _add(catalog)
        assert catalog.athletes() == ["A01"]  # the athlete was reused, not added twice
        assert len(catalog.assessments("A01")) == 1
