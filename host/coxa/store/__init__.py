"""The project catalog (SQLite): rigs and their boards, BLE bonds, athletes, captures and
clinical test results.

A project is a folder (``--project DIR``, ``COXA_PROJECT``, default ``./coxa-project``) holding
``catalog.sqlite``; the schema is versioned (``PRAGMA user_version``) and upgraded by ordered
migration steps when a catalog is opened. See ``docs/recording.md``.
"""

from coxa.store._catalog import (
    CATALOG_NAME,
    AssessmentEntry,
    Bond,
    CaptureEntry,
    CaptureStatus,
    Catalog,
    LinkName,
    Rig,
    RigBoard,
)
from coxa.store._migrations import MIGRATIONS, SCHEMA_VERSION, CatalogError, Migration, migrate

__all__ = [
    "CATALOG_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AssessmentEntry",
    "Bond",
    "CaptureEntry",
    "CaptureStatus",
    "Catalog",
    "CatalogError",
    "LinkName",
    "Migration",
    "Rig",
    "RigBoard",
    "migrate",
]
