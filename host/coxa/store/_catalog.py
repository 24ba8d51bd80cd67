"""The project catalog: rigs and their boards, bonds, athletes and captures, in SQLite."""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from coxa.store._migrations import SCHEMA_VERSION, CatalogError, migrate, schema_version

_LOG = logging.getLogger(__name__)

CATALOG_NAME = "catalog.sqlite"
"""File name of the catalog inside a project folder."""

LinkName = Literal["ble", "serial", "sim"]
CaptureStatus = Literal["recording", "complete", "interrupted"]

_LINKS: tuple[LinkName, ...] = ("ble", "serial", "sim")


@dataclass(frozen=True)
class RigBoard:
    """One board of a rig.

    Attributes
    ----------
    board_id : int
        u16 board id.
    segment : str
        Body segment (``coxa.body.SEGMENTS``) or ``'unassigned'``.
    address : str or None
        BLE address, if known.
    port : str or None
        Serial port, for a serial rig.
    """

    board_id: int
    segment: str
    address: str | None = None
    port: str | None = None


@dataclass(frozen=True)
class Rig:
    """A named set of boards with their body segments.

    Attributes
    ----------
    name : str
    link : {'ble', 'serial', 'sim'}
        How the boards are reached (``'sim'``: simulated boards).
    boards : tuple of RigBoard
        In the order they were given.
    created_ns : int
        Wall-clock creation time, ns since the Unix epoch.
    note : str
    """

    name: str
    link: LinkName
    boards: tuple[RigBoard, ...]
    created_ns: int
    note: str = ""

    @property
    def segments_by_board(self) -> dict[int, str]:
        """Board id -> segment."""
        return {b.board_id: b.segment for b in self.boards}


@dataclass(frozen=True)
class Bond:
    """A BLE bond stored when a board was paired.

    Attributes
    ----------
    board_id : int
    address : str
        The board's BLE address.
    bonded_ns : int
        Wall-clock time of the pairing, ns.
    keys : bytes or None
        Opaque key material of the BLE stack (None when the operating system keeps it).
    """

    board_id: int
    address: str
    bonded_ns: int
    keys: bytes | None = None


@dataclass(frozen=True)
class CaptureEntry:
    """A capture known to the catalog.

    Attributes
    ----------
    id : int
    path : str
        The capture file (absolute).
    rig : str or None
        Name of the rig recorded (None if the rig was deleted since, or none was used).
    athlete : str or None
        Athlete code.
    exercise : str or None
    started_wall_ns : int
    status : {'recording', 'complete', 'interrupted'}
        ``'recording'`` stays if the recorder never finished (a crash): check the file.
    duration_s, records, bytes, samples_lost : float or int or None
        Filled in when the recording ends.
    """

    id: int
    path: str
    rig: str | None
    athlete: str | None
    exercise: str | None
    started_wall_ns: int
    status: CaptureStatus
    duration_s: float | None
    records: int | None
    bytes: int | None
    samples_lost: int | None


@dataclass(frozen=True)
class AssessmentEntry:
    """A stored clinical test result of one side (``coxa assess``).

    Attributes
    ----------
    id : int
    athlete : str
        Athlete code.
    test : str
        Test id (``'prone-ir'``, ``'seated-ir'``, ``'supine-ir'``, ``'aslr'``).
    side : {'r', 'l'}
    measured_wall_ns : int
        Wall-clock time of the measurement, ns since the Unix epoch.
    trials_deg : tuple of float
        The value of each trial, degrees (NaN: the trial gave no value).
    mean_deg, sd_deg : float
        Mean and sample SD of the valid trials, degrees (NaN when undefined).
    hip_flexion_deg : float
        Hip flexion during the trials' end positions, degrees (NaN if unknown).
    hip_reference : {'pelvis', 'room'}
        ``'room'``: no pelvis board, the value is relative to the room (pelvis assumed still).
    flags : tuple of str
        Warnings of the measurement (pelvic lift, knee out of range, ...).
    capture : str or None
        The capture file the trials came from, if one was recorded.
    """

    id: int
    athlete: str
    test: str
    side: Literal["r", "l"]
    measured_wall_ns: int
    trials_deg: tuple[float, ...]
    mean_deg: float
    sd_deg: float
    hip_flexion_deg: float
    hip_reference: Literal["pelvis", "room"]
    flags: tuple[str, ...]
    capture: str | None


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _float_or_nan(value: object) -> float:
    return math.nan if value is None else float(value)  # pyright: ignore[reportArgumentType]


class Catalog:
    """The SQLite catalog of a project folder.

    Opening creates the file if needed and brings its schema to :data:`SCHEMA_VERSION`; a
    catalog that had an older schema is first copied to ``catalog.sqlite.v<N>.bak``.

    Parameters
    ----------
    path : str or os.PathLike
        The catalog file (``<project>/catalog.sqlite``, see :meth:`in_project`).

    Raises
    ------
    CatalogError
        Not an SQLite catalog, or a newer schema.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as err:
            raise CatalogError(f"{self.path}: cannot open the catalog: {err}") from err
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            found = schema_version(self._db)
            if 0 < found < SCHEMA_VERSION:
                self._backup(found)
            migrate(self._db, str(self.path))
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise CatalogError(f"{self.path}: not a coxa catalog: {err}") from err
        except CatalogError:
            self._db.close()
            raise

    @staticmethod
    def in_project(project: str | os.PathLike[str]) -> Catalog:
        """Open (or create) the catalog of a project folder, creating the folder if needed."""
        folder = Path(project)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CatalogError(f"cannot create the project folder {folder}: {err}") from err
        return Catalog(folder / CATALOG_NAME)

    def _backup(self, version: int) -> None:
        target = self.path.with_name(f"{self.path.name}.v{version}.bak")
        copy = sqlite3.connect(target)
        try:
            self._db.backup(copy)
        finally:
            copy.close()
        _LOG.info("%s: schema version %d saved to %s before upgrading", self.path, version, target)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    @property
    def schema_version(self) -> int:
        """The catalog's schema version."""
        return schema_version(self._db)

    # ------------------------------------------------------------------ rigs
    def create_rig(
        self, name: str, link: LinkName, boards: Sequence[RigBoard], note: str = ""
    ) -> Rig:
        """Store a new rig (and its boards, if new to the catalog).

        Raises
        ------
        CatalogError
            Empty name, unknown link, no boards, a board twice, two boards on one segment,
            or a rig of that name exists.
        """
        name = name.strip()
        if not name:
            raise CatalogError("a rig needs a name")
        if link not in _LINKS:
            raise CatalogError(f"unknown link {link!r} (one of {', '.join(_LINKS)})")
        if not boards:
            raise CatalogError(f"rig {name!r}: no boards")
        ids = [b.board_id for b in boards]
        if len(set(ids)) != len(ids):
            raise CatalogError(f"rig {name!r}: a board is given twice: {ids}")
        segments = [b.segment for b in boards if b.segment != "unassigned"]
        if len(set(segments)) != len(segments):
            raise CatalogError(f"rig {name!r}: two boards on one segment: {segments}")
        now = time.time_ns()
        with _Transaction(self._db):
            if self._db.execute("SELECT 1 FROM rigs WHERE name = ?", (name,)).fetchone():
                raise CatalogError(f"a rig named {name!r} exists already")
            cursor = self._db.execute(
                "INSERT INTO rigs (name, link, created_ns, note) VALUES (?, ?, ?, ?)",
                (name, link, now, note),
            )
            rig_id = cursor.lastrowid
            for board in boards:
                if not 0 <= board.board_id <= 0xFFFF:
                    raise CatalogError(f"board id {board.board_id} is not a u16")
                self._db.execute(
                    """INSERT INTO boards (board_id, address, port, first_seen_ns)
                       VALUES (?, ?, ?, ?)
                       ON CONFLICT (board_id) DO UPDATE SET
                         address = coalesce(excluded.address, address),
                         port = coalesce(excluded.port, port)""",
                    (board.board_id, board.address, board.port, now),
                )
                self._db.execute(
                    "INSERT INTO rig_boards (rig_id, board_id, segment) VALUES (?, ?, ?)",
                    (rig_id, board.board_id, board.segment),
                )
        _LOG.info("rig %s created with %d boards", name, len(boards))
        return self.rig(name)

    def rig(self, name: str) -> Rig:
        """The rig of that name.

        Raises
        ------
        CatalogError
            No such rig.
        """
        row = self._db.execute(
            "SELECT id, name, link, created_ns, note FROM rigs WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            known = ", ".join(r.name for r in self.rigs()) or "none"
            raise CatalogError(f"no rig named {name!r} in {self.path} (rigs: {known})")
        return self._rig_of(row)

    def rigs(self) -> list[Rig]:
        """Every rig, by name."""
        rows = self._db.execute(
            "SELECT id, name, link, created_ns, note FROM rigs ORDER BY name"
        ).fetchall()
        return [self._rig_of(row) for row in rows]

    def _rig_of(self, row: tuple[int, str, LinkName, int, str]) -> Rig:
        boards = self._db.execute(
            """SELECT rb.board_id, rb.segment, b.address, b.port FROM rig_boards rb
               JOIN boards b ON b.board_id = rb.board_id WHERE rb.rig_id = ? ORDER BY rb.rowid""",
            (row[0],),
        ).fetchall()
        return Rig(
            name=row[1],
            link=row[2],
            boards=tuple(RigBoard(int(b[0]), str(b[1]), b[2], b[3]) for b in boards),
            created_ns=int(row[3]),
            note=str(row[4]),
        )

    def delete_rig(self, name: str) -> None:
        """Remove a rig (its captures stay, without a rig).

        Raises
        ------
        CatalogError
            No such rig.
        """
        with _Transaction(self._db):
            cursor = self._db.execute("DELETE FROM rigs WHERE name = ?", (name,))
            if cursor.rowcount == 0:
                raise CatalogError(f"no rig named {name!r} in {self.path}")
        _LOG.info("rig %s deleted", name)

    # ------------------------------------------------------------------ bonds
    def add_bond(self, bond: Bond) -> None:
        """Store (or replace) the bond of a board."""
        with _Transaction(self._db):
            self._db.execute(
                """INSERT INTO boards (board_id, address, first_seen_ns) VALUES (?, ?, ?)
                   ON CONFLICT (board_id) DO UPDATE SET address = excluded.address""",
                (bond.board_id, bond.address, bond.bonded_ns),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO bonds (board_id, address, bonded_ns, keys) "
                "VALUES (?, ?, ?, ?)",
                (bond.board_id, bond.address, bond.bonded_ns, bond.keys),
            )

    def bonds(self) -> list[Bond]:
        """Every stored bond, by board id."""
        rows = self._db.execute(
            "SELECT board_id, address, bonded_ns, keys FROM bonds ORDER BY board_id"
        ).fetchall()
        return [Bond(int(r[0]), str(r[1]), int(r[2]), r[3]) for r in rows]

    def delete_bond(self, board_id: int) -> bool:
        """Forget a board's bond; return whether there was one."""
        with _Transaction(self._db):
            cursor = self._db.execute("DELETE FROM bonds WHERE board_id = ?", (board_id,))
        return cursor.rowcount > 0

    # ------------------------------------------------------------------ athletes
    def athletes(self) -> list[str]:
        """Every athlete code, sorted."""
        rows = self._db.execute("SELECT code FROM athletes ORDER BY code").fetchall()
        return [str(r[0]) for r in rows]

    def _athlete_id(self, code: str) -> int:
        """Id of an athlete, added if new (inside a transaction)."""
        row = self._db.execute("SELECT id FROM athletes WHERE code = ?", (code,)).fetchone()
        if row is not None:
            return int(row[0])
        cursor = self._db.execute(
            "INSERT INTO athletes (code, created_ns) VALUES (?, ?)", (code, time.time_ns())
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    # ------------------------------------------------------------------ captures
    def add_capture(
        self,
        path: str | os.PathLike[str],
        *,
        rig: str | None,
        athlete: str | None,
        exercise: str | None,
        started_wall_ns: int,
    ) -> int:
        """Register a capture being recorded; return its id.

        Raises
        ------
        CatalogError
            The path is registered already, or the rig does not exist.
        """
        where = str(Path(path).resolve())
        with _Transaction(self._db):
            rig_id: int | None = None
            if rig is not None:
                row = self._db.execute("SELECT id FROM rigs WHERE name = ?", (rig,)).fetchone()
                if row is None:
                    raise CatalogError(f"no rig named {rig!r} in {self.path}")
                rig_id = int(row[0])
            athlete_id = self._athlete_id(athlete) if athlete else None
            try:
                cursor = self._db.execute(
                    """INSERT INTO captures
                       (path, rig_id, athlete_id, exercise, started_wall_ns, status)
                       VALUES (?, ?, ?, ?, ?, 'recording')""",
                    (where, rig_id, athlete_id, exercise, started_wall_ns),
                )
            except sqlite3.IntegrityError as err:
                raise CatalogError(f"{where} is in the catalog already") from err
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_capture(
        self,
        capture_id: int,
        *,
        status: CaptureStatus,
        duration_s: float,
        records: int,
        bytes_written: int,
        samples_lost: int | None,
    ) -> None:
        """Store how a recording ended."""
        with _Transaction(self._db):
            self._db.execute(
                """UPDATE captures SET status = ?, duration_s = ?, records = ?, bytes = ?,
                   samples_lost = ? WHERE id = ?""",
                (status, duration_s, records, bytes_written, samples_lost, capture_id),
            )

    def captures(self, athlete: str | None = None) -> list[CaptureEntry]:
        """Captures, oldest first (of one athlete if given)."""
        query = """SELECT c.id, c.path, r.name, a.code, c.exercise, c.started_wall_ns, c.status,
                          c.duration_s, c.records, c.bytes, c.samples_lost
                   FROM captures c LEFT JOIN rigs r ON r.id = c.rig_id
                   LEFT JOIN athletes a ON a.id = c.athlete_id"""
        args: tuple[str, ...] = ()
        if athlete is not None:
            query += " WHERE a.code = ?"
            args = (athlete,)
        rows = self._db.execute(query + " ORDER BY c.started_wall_ns, c.id", args).fetchall()
        return [CaptureEntry(*row) for row in rows]

    # ------------------------------------------------------------------ assessments
    def add_assessment(
        self,
        *,
        athlete: str,
        test: str,
        side: Literal["r", "l"],
        measured_wall_ns: int,
        trials_deg: Sequence[float],
        mean_deg: float,
        sd_deg: float,
        hip_flexion_deg: float,
        hip_reference: Literal["pelvis", "room"],
        flags: Sequence[str] = (),
        capture: str | None = None,
    ) -> int:
        """Store one side's clinical test result; return its id (the athlete is added if new).

        NaN values are stored as NULL and read back as NaN.

        Raises
        ------
        CatalogError
            An empty athlete or test, an unknown side or hip reference.
        """
        if not athlete:
            raise CatalogError("an assessment needs an athlete code")
        if not test:
            raise CatalogError("an assessment needs a test id")
        if side not in ("r", "l"):
            raise CatalogError(f"side must be 'r' or 'l', got {side!r}")
        if hip_reference not in ("pelvis", "room"):
            raise CatalogError(f"hip reference must be 'pelvis' or 'room', got {hip_reference!r}")
        trials = json.dumps([_finite_or_none(float(v)) for v in trials_deg])
        with _Transaction(self._db):
            athlete_id = self._athlete_id(athlete)
            cursor = self._db.execute(
                """INSERT INTO assessments
                   (athlete_id, test, side, measured_wall_ns, trials_deg, mean_deg, sd_deg,
                    hip_flexion_deg, hip_reference, flags, capture)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    athlete_id,
                    test,
                    side,
                    measured_wall_ns,
                    trials,
                    _finite_or_none(mean_deg),
                    _finite_or_none(sd_deg),
                    _finite_or_none(hip_flexion_deg),
                    hip_reference,
                    json.dumps(list(flags)),
                    capture,
                ),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def assessments(
        self, athlete: str, test: str | None = None, side: Literal["r", "l"] | None = None
    ) -> list[AssessmentEntry]:
        """An athlete's stored clinical test results, oldest first (of one test and side if
        given).

        Raises
        ------
        CatalogError
            A stored row that cannot be read (names the catalog and the row id).
        """
        query = """SELECT s.id, a.code, s.test, s.side, s.measured_wall_ns, s.trials_deg,
                          s.mean_deg, s.sd_deg, s.hip_flexion_deg, s.hip_reference, s.flags,
                          s.capture
                   FROM assessments s JOIN athletes a ON a.id = s.athlete_id
                   WHERE a.code = ?"""
        args: list[str] = [athlete]
        if test is not None:
            query += " AND s.test = ?"
            args.append(test)
        if side is not None:
            query += " AND s.side = ?"
            args.append(side)
        rows = self._db.execute(query + " ORDER BY s.measured_wall_ns, s.id", args).fetchall()
        entries: list[AssessmentEntry] = []
        for row in rows:
            try:
                trials = tuple(_float_or_nan(v) for v in json.loads(row[5]))
                flags = tuple(str(f) for f in json.loads(row[10]))
            except (TypeError, ValueError) as err:
                raise CatalogError(
                    f"{self.path}: assessment {row[0]} is unreadable: {err}"
                ) from err
            entries.append(
                AssessmentEntry(
                    id=int(row[0]),
                    athlete=str(row[1]),
                    test=str(row[2]),
                    side=row[3],
                    measured_wall_ns=int(row[4]),
                    trials_deg=trials,
                    mean_deg=_float_or_nan(row[6]),
                    sd_deg=_float_or_nan(row[7]),
                    hip_flexion_deg=_float_or_nan(row[8]),
                    hip_reference=row[9],
                    flags=flags,
                    capture=row[11],
                )
            )
        return entries


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
