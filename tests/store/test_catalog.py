"""The project catalog: rigs, bonds, athletes, captures; schema migrations from every older
version (with data in it), refusal of a newer schema and of a file that is not a catalog."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from coxa.store import (
    CATALOG_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    Bond,
    Catalog,
    CatalogError,
    RigBoard,
    migrate,
)

BOARDS = (
    RigBoard(10, "pelvis", address="AA:BB"),
    RigBoard(11, "femur_r"),
    RigBoard(12, "tibia_r"),
    RigBoard(13, "unassigned"),
    RigBoard(14, "unassigned"),
)


def test_rigs_round_trip_and_rules(tmp_path: Path) -> None:
    with Catalog.in_project(tmp_path / "proj") as catalog:
        assert catalog.schema_version == SCHEMA_VERSION
        rig = catalog.create_rig("lab", "ble", BOARDS, note="two spares")
        assert rig.boards == BOARDS
        assert rig.segments_by_board[11] == "femur_r"
        assert catalog.rig("lab") == rig
        catalog.create_rig("bench", "serial", [RigBoard(11, "femur_l", port="/dev/ttyACM0")])
        assert [r.name for r in catalog.rigs()] == ["bench", "lab"]
        # A board shared by two rigs keeps what is known about it.
        assert catalog.rig("lab").boards[1].port == "/dev/ttyACM0"
        for bad, message in (
            (lambda: catalog.create_rig("lab", "ble", BOARDS), "exists"),
            (lambda: catalog.create_rig(" ", "ble", BOARDS), "name"),
            (lambda: catalog.create_rig("x", "ble", []), "no boards"),
            (lambda: catalog.create_rig("x", "wifi", BOARDS), "unknown link"),  # pyright: ignore[reportArgumentType]
            (lambda: catalog.create_rig("x", "ble", [BOARDS[1], BOARDS[1]]), "twice"),
            (
                lambda: catalog.create_rig("x", "ble", [BOARDS[1], RigBoard(9, "femur_r")]),
                "one segment",
            ),
            (lambda: catalog.create_rig("x", "ble", [RigBoard(70000, "pelvis")]), "u16"),
            (lambda: catalog.rig("nope"), "no rig named"),
            (lambda: catalog.delete_rig("nope"), "no rig named"),
        ):
            with pytest.raises(CatalogError, match=message):
                bad()
        assert [r.name for r in catalog.rigs()] == ["bench", "lab"]  # failed creates left nothing
        catalog.delete_rig("bench")
        assert [r.name for r in catalog.rigs()] == ["lab"]


def test_bonds_athletes_captures(tmp_path: Path) -> None:
    with Catalog(tmp_path / CATALOG_NAME) as catalog:
        catalog.create_rig("lab", "ble", BOARDS)
        catalog.add_bond(Bond(10, "AA:BB", 5, b"\x01\x02"))
        catalog.add_bond(Bond(10, "AA:BC", 6, None))  # re-paired: replaced
        assert catalog.bonds() == [Bond(10, "AA:BC", 6, None)]
        first = catalog.add_capture(
            tmp_path / "a.coxa", rig="lab", athlete="A01", exercise="squat", started_wall_ns=1
        )
        catalog.add_capture(
            tmp_path / "b.coxa", rig=None, athlete="A02", exercise=None, started_wall_ns=2
        )
        with pytest.raises(CatalogError, match="already"):
            catalog.add_capture(
                tmp_path / "a.coxa", rig="lab", athlete="A01", exercise="squat", started_wall_ns=3
            )
        with pytest.raises(CatalogError, match="no rig"):
            catalog.add_capture(
                tmp_path / "c.coxa", rig="gone", athlete=None, exercise=None, started_wall_ns=3
            )
        catalog.finish_capture(
            first, status="complete", duration_s=60.0, records=10, bytes_written=99, samples_lost=0
        )
        assert catalog.athletes() == ["A01", "A02"]
        entry = catalog.captures(athlete="A01")[0]
        assert (entry.rig, entry.status, entry.records, entry.samples_lost) == (
            "lab",
            "complete",
            10,
            0,
        )
        catalog.delete_rig("lab")
        assert catalog.captures()[0].rig is None  # the capture stays, without its rig
        assert catalog.delete_bond(10)
        assert not catalog.delete_bond(10)


def _fill(db: sqlite3.Connection, version: int) -> None:
    """Rows valid at schema ``version``."""
    if version >= 1:
        db.execute("INSERT INTO boards (board_id, first_seen_ns) VALUES (11, 1)")
        db.execute("INSERT INTO rigs (name, link, created_ns) VALUES ('old', 'sim', 1)")
        db.execute("INSERT INTO rig_boards VALUES (1, 11, 'femur_r')")
    if version == 1:
        for path, athlete, t in (
            ("/a.coxa", "A01", 5),
            ("/b.coxa", "A01", 3),
            ("/c.coxa", None, 4),
        ):
            db.execute(
                "INSERT INTO captures (path, rig_id, athlete, started_wall_ns, status) "
                "VALUES (?, 1, ?, ?, 'complete')",
                (path, athlete, t),
            )


@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_upgrade_from_every_older_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / CATALOG_NAME
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, str(path), target=version)
    assert db.execute("PRAGMA user_version").fetchone()[0] == version
    _fill(db, version)
    db.close()
    with Catalog(path) as catalog:
        assert catalog.schema_version == SCHEMA_VERSION
        if version >= 1:
            assert catalog.rig("old").boards == (RigBoard(11, "femur_r"),)
            assert (tmp_path / f"{CATALOG_NAME}.v{version}.bak").exists()
        if version == 1:
            assert catalog.athletes() == ["A01"]
            assert [(c.path, c.athlete) for c in catalog.captures()] == [
                ("/b.coxa", "A01"),
                ("/c.coxa", None),
                ("/a.coxa", "A01"),
            ]
        # and it works as a new one does
        catalog.create_rig("new", "sim", [RigBoard(12, "tibia_r")])
    assert len(MIGRATIONS) == SCHEMA_VERSION
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


def test_newer_schema_and_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / CATALOG_NAME
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(CatalogError, match="newer than this coxa"):
        Catalog(path)
    text = tmp_path / "notes.txt"
    text.write_text("not a database, just some text that is long enough " * 20)
    with pytest.raises(CatalogError, match=r"notes\.txt"):
        Catalog(text)


def test_failed_migration_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / CATALOG_NAME
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, str(path), target=1)
    db.execute("CREATE TABLE athletes (x INTEGER)")  # collides with step 2
    with pytest.raises(CatalogError, match="schema version 2"):
        migrate(db, str(path))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
