"""Schema of the project catalog, as ordered migration steps (``PRAGMA user_version``).

A catalog at version ``v`` has had exactly the steps ``MIGRATIONS[:v]`` applied. Opening one
applies the missing steps, each in its own transaction together with the new version number,
so a crash leaves the catalog at the old or the new version, never between. A step is never
edited once released: a change to the schema is a new step at the end.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

_LOG = logging.getLogger(__name__)


class CatalogError(ValueError):
    """A catalog that cannot be used (newer schema, not a catalog, bad request); the message
    names the file or the entry."""


@dataclass(frozen=True)
class Migration:
    """One schema step.

    Attributes
    ----------
    version : int
        Schema version after the step (1, 2, ...).
    summary : str
        What the step adds.
    statements : tuple of str
        SQL statements, run in order in one transaction.
    """

    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "rigs, boards, rig boards, bonds, captures",
        (
            """CREATE TABLE boards (
                board_id INTEGER PRIMARY KEY CHECK (board_id BETWEEN 0 AND 65535),
                address TEXT,
                port TEXT,
                fw_version TEXT,
                first_seen_ns INTEGER NOT NULL
            )""",
            """CREATE TABLE rigs (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
                link TEXT NOT NULL CHECK (link IN ('ble', 'serial', 'sim')),
                created_ns INTEGER NOT NULL,
                note TEXT NOT NULL DEFAULT ''
            )""",
            """CREATE TABLE rig_boards (
                rig_id INTEGER NOT NULL REFERENCES rigs (id) ON DELETE CASCADE,
                board_id INTEGER NOT NULL REFERENCES boards (board_id),
                segment TEXT NOT NULL,
                PRIMARY KEY (rig_id, board_id)
            )""",
            """CREATE UNIQUE INDEX rig_boards_segment ON rig_boards (rig_id, segment)
                WHERE segment != 'unassigned'""",
            """CREATE TABLE bonds (
                board_id INTEGER PRIMARY KEY REFERENCES boards (board_id) ON DELETE CASCADE,
                address TEXT NOT NULL,
                bonded_ns INTEGER NOT NULL,
                keys BLOB
            )""",
            """CREATE TABLE captures (
                id INTEGER PRIMARY KEY,
                path TEXT NOT NULL UNIQUE,
                rig_id INTEGER REFERENCES rigs (id) ON DELETE SET NULL,
                athlete TEXT,
                exercise TEXT,
                started_wall_ns INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('recording', 'complete', 'interrupted')),
                duration_s REAL,
                records INTEGER,
                bytes INTEGER,
                samples_lost INTEGER
            )""",
        ),
    ),
    Migration(
        2,
        "athletes as their own table; captures refer to them",
        (
            """CREATE TABLE athletes (
                id INTEGER PRIMARY KEY,
                code TEXT NOT NULL UNIQUE CHECK (length(code) > 0),
                created_ns INTEGER NOT NULL
            )""",
            """INSERT INTO athletes (code, created_ns)
                SELECT athlete, min(started_wall_ns) FROM captures
                WHERE athlete IS NOT NULL AND length(athlete) > 0 GROUP BY athlete""",
            "ALTER TABLE captures ADD COLUMN athlete_id INTEGER REFERENCES athletes (id)",
            """UPDATE captures SET athlete_id =
                (SELECT id FROM athletes WHERE athletes.code = captures.athlete)""",
            "ALTER TABLE captures DROP COLUMN athlete",
            "CREATE INDEX captures_athlete ON captures (athlete_id)",
        ),
    ),
    Migration(
        3,
        "clinical test results (coxa assess)",
        (
            """CREATE TABLE assessments (
                id INTEGER PRIMARY KEY,
                athlete_id INTEGER NOT NULL REFERENCES athletes (id),
                test TEXT NOT NULL CHECK (length(test) > 0),
                side TEXT NOT NULL CHECK (side IN ('r', 'l')),
                measured_wall_ns INTEGER NOT NULL,
                trials_deg TEXT NOT NULL,
                mean_deg REAL,
                sd_deg REAL,
                hip_flexion_deg REAL,
                hip_reference TEXT NOT NULL CHECK (hip_reference IN ('pelvis', 'room')),
                flags TEXT NOT NULL DEFAULT '',
                capture TEXT
            )""",
            """CREATE INDEX assessments_athlete_test
                ON assessments (athlete_id, test, side, measured_wall_ns)""",
        ),
    ),
)
"""Every schema step in order; ``MIGRATIONS[i].version == i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""Schema version this code writes and reads."""


def schema_version(connection: sqlite3.Connection) -> int:
    """The ``PRAGMA user_version`` of a database."""
    row = connection.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(connection: sqlite3.Connection, name: str, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing steps up to ``target``; return the version found before.

    Parameters
    ----------
    connection : sqlite3.Connection
        Opened with ``isolation_level=None`` (transactions are explicit here).
    name : str
        The catalog's file name, for messages.
    target : int
        Version to reach (tests build older catalogs with a lower one).

    Raises
    ------
    CatalogError
        The catalog is newer than this code, or a step failed (the catalog stays at the
        version of the last step that succeeded).
    """
    found = schema_version(connection)
    if found > SCHEMA_VERSION:
        raise CatalogError(
            f"{name}: catalog schema version {found} is newer than this coxa understands "
            f"({SCHEMA_VERSION}); update coxa"
        )
    for step in MIGRATIONS[found:target]:
        try:
            connection.execute("BEGIN IMMEDIATE")
            for statement in step.statements:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {step.version:d}")
            connection.execute("COMMIT")
        except sqlite3.Error as err:
            connection.execute("ROLLBACK")
            raise CatalogError(
                f"{name}: migration to schema version {step.version} ({step.summary}) failed: {err}"
            ) from err
        _LOG.info("%s: schema version %d (%s)", name, step.version, step.summary)
    return found
