"""Expected hip internal rotation (IR) demand per exercise and limb: a versioned, user-editable
TOML data file.

The package ships ``coxa/analysis/data/demand.toml``, seeded from the domain notes (section 6):
almost nothing is published, so most rows say ``status = "not found"`` and carry no mean. A
researcher edits a copy and passes its path to :func:`load_demand`. The file format, each row's
keys and the policy that decides when a row may lead to a finding are in ``docs/analysis.md``.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, cast, get_args

DemandStatus = Literal["source", "derived", "assumption", "not found"]
DemandLimb = Literal["lead", "trail"]

#: Allowed values of a row's ``status``.
DEMAND_STATUSES: tuple[DemandStatus, ...] = get_args(DemandStatus)
#: Allowed values of a row's ``limb``.
DEMAND_LIMBS: tuple[DemandLimb, ...] = get_args(DemandLimb)
#: Highest file format version this code reads.
DEMAND_FORMAT_VERSION = 1
#: Name of the shipped file inside the package.
SHIPPED_DEMAND = "data/demand.toml"

_EXERCISE_ID = re.compile(r"^[a-z0-9_]+$")
_ROW_HEADER = re.compile(r"^\s*\[\[\s*row\s*\]\]")
_REQUIRED = ("exercise", "limb", "status", "reference")
_OPTIONAL = (
    "population",
    "mean_deg",
    "sd_deg",
    "hip_flexion_deg",
    "hip_flexion_status",
    "excursion_deg",
    "doi",
    "note",
)
#: Plausible ranges of the angle keys, degrees; values outside are refused (wrong units?).
_RANGES_DEG = {
    "mean_deg": (-90.0, 90.0),
    "sd_deg": (0.0, 45.0),
    "hip_flexion_deg": (-30.0, 150.0),
    "excursion_deg": (0.0, 120.0),
}


class DemandFileError(ValueError):
    """A demand file that cannot be used; the message names the file and the row."""


@dataclass(frozen=True)
class DemandRow:
    """Expected hip IR of one limb in one exercise.

    Attributes
    ----------
    exercise : str
        Exercise id, ``_`` for ``-`` (``'squat'``, ``'split_squat'``, ``'ffe_split_squat'``,
        ``'step_up'``, ``'crossover_step_up'``, ``'hinge'``, ``'90_90'``, or a new one).
    limb : {'lead', 'trail'}
        ``'lead'``: working, front or stepping-up leg (both legs of a bilateral squat).
    population : str
        Who the numbers describe (``'all'``, ``'men'``, ``'women'``, ...).
    status : {'source', 'derived', 'assumption', 'not found'}
        How the mean was obtained; ``'not found'`` rows have no mean.
    mean_deg : float
        Expected peak hip IR, degrees (NaN for ``'not found'``).
    sd_deg : float
        Spread between people, degrees (NaN when not given).
    hip_flexion_deg : tuple of float or None
        Hip flexion at which the demand applies, ``(low, high)`` degrees (equal for one value).
    hip_flexion_status : str or None
        Status of ``hip_flexion_deg`` (same values as ``status``).
    excursion_deg : tuple of float or None
        Hip IR range within a rep, ``(low, high)`` degrees.
    reference : str
        Where the numbers come from, in words.
    doi : str or None
        DOI of the source, when there is one.
    note : str or None
        Free text.
    source : str
        File and line of the row (for messages).
    """

    exercise: str
    limb: DemandLimb
    population: str
    status: DemandStatus
    mean_deg: float
    sd_deg: float
    hip_flexion_deg: tuple[float, float] | None
    hip_flexion_status: DemandStatus | None
    excursion_deg: tuple[float, float] | None
    reference: str
    doi: str | None
    note: str | None
    source: str

    @property
    def has_mean(self) -> bool:
        """Whether the row gives an expected value."""
        return not math.isnan(self.mean_deg)

    def describe(self) -> str:
        """One line for messages: mean, status and reference."""
        who = "" if self.population == "all" else f", {self.population}"
        if not self.has_mean:
            return f"{self.exercise} ({self.limb}{who}): not found"
        doi = f", doi:{self.doi}" if self.doi else ""
        sd = f" +/- {self.sd_deg:.1f}" if not math.isnan(self.sd_deg) else ""
        return (
            f"{self.exercise} ({self.limb}{who}): {self.mean_deg:.1f}{sd} deg "
            f"[{self.status}] {self.reference}{doi}"
        )


@dataclass(frozen=True)
class DemandTable:
    """The rows of a demand file.

    Attributes
    ----------
    version : int
        The file's ``version``.
    rows : tuple of DemandRow
    path : str
        Where the rows were read from.
    """

    version: int
    rows: tuple[DemandRow, ...]
    path: str

    def lookup(
        self, exercise: str, limb: DemandLimb, population: str | None = None
    ) -> DemandRow | None:
        """The row of an exercise and limb.

        Parameters
        ----------
        exercise : str
            Exercise id (``-`` and ``_`` are the same).
        limb : {'lead', 'trail'}
        population : str, optional
            Preferred population; a row for ``'all'`` is used when there is none for it.
            Without one, the ``'all'`` row, or the only row of that exercise and limb.

        Returns
        -------
        DemandRow or None
            None when the file has no row for it, or several rows and no way to choose.
        """
        key = exercise.replace("-", "_")
        rows = [r for r in self.rows if r.exercise == key and r.limb == limb]
        for wanted in (population, "all"):
            match = [r for r in rows if r.population == wanted]
            if match:
                return match[0]
        return rows[0] if population is None and len(rows) == 1 else None


def _line_of_rows(text: str) -> list[int]:
    """1-based line of each ``[[row]]`` header, in order."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if _ROW_HEADER.match(line)]


def _range(value: object, key: str, where: str) -> tuple[float, float]:
    if isinstance(value, bool):
        raise DemandFileError(f"{where}: {key} must be a number in degrees, got {value!r}")
    if isinstance(value, int | float):
        return float(value), float(value)
    if isinstance(value, list):
        items = cast(list[object], value)
        if len(items) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in items
        ):
            low, high = (float(cast(float, v)) for v in items)
            if low > high:
                raise DemandFileError(f"{where}: {key} range [{low}, {high}] is reversed")
            return low, high
    raise DemandFileError(
        f"{where}: {key} must be a number or a [low, high] pair in degrees, got {value!r}"
    )


def _number(value: object, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DemandFileError(f"{where}: {key} must be a number in degrees, got {value!r}")
    return float(value)


def _text(value: object, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DemandFileError(f"{where}: {key} must be non-empty text, got {value!r}")
    return value


def _status(value: object, key: str, where: str) -> DemandStatus:
    if value not in DEMAND_STATUSES:
        raise DemandFileError(
            f"{where}: {key} must be one of {', '.join(DEMAND_STATUSES)}, got {value!r}"
        )
    return value


def _check_range(values: tuple[float, float], key: str, where: str) -> None:
    low, high = _RANGES_DEG[key]
    for v in values:
        if not (low <= v <= high) or not math.isfinite(v):
            raise DemandFileError(
                f"{where}: {key} = {v} is outside [{low}, {high}] degrees (angles are in "
                "degrees, not radians)"
            )


def _parse_row(raw: Mapping[str, object], where: str) -> DemandRow:
    for key in raw:
        if key in _REQUIRED or key in _OPTIONAL:
            continue
        if key.endswith(("_rad", "_radians")) or key in {"mean", "sd", "hip_flexion"}:
            raise DemandFileError(
                f"{where}: key {key!r}: angles are given in degrees in keys ending in _deg "
                "(mean_deg, sd_deg, hip_flexion_deg, excursion_deg)"
            )
        raise DemandFileError(
            f"{where}: unknown key {key!r}; allowed: {', '.join(_REQUIRED + _OPTIONAL)}"
        )
    for key in _REQUIRED:
        if key not in raw:
            raise DemandFileError(f"{where}: missing key {key!r}")
    exercise = _text(raw["exercise"], "exercise", where).replace("-", "_")
    if not _EXERCISE_ID.match(exercise):
        raise DemandFileError(
            f"{where}: exercise must be lower-case letters, digits and _, got {exercise!r}"
        )
    limb = raw["limb"]
    if limb not in DEMAND_LIMBS:
        raise DemandFileError(
            f"{where}: limb must be one of {', '.join(DEMAND_LIMBS)}, got {limb!r}"
        )
    status = _status(raw["status"], "status", where)
    nan = float("nan")
    mean_deg = nan
    if "mean_deg" in raw:
        if status == "not found":
            raise DemandFileError(
                f"{where}: a 'not found' row has no mean_deg (give the status of the value)"
            )
        mean_deg = _number(raw["mean_deg"], "mean_deg", where)
        _check_range((mean_deg, mean_deg), "mean_deg", where)
    elif status != "not found":
        raise DemandFileError(f"{where}: status {status!r} needs mean_deg")
    sd_deg = nan
    if "sd_deg" in raw:
        sd_deg = _number(raw["sd_deg"], "sd_deg", where)
        _check_range((sd_deg, sd_deg), "sd_deg", where)
    ranges: dict[str, tuple[float, float] | None] = {}
    for key in ("hip_flexion_deg", "excursion_deg"):
        ranges[key] = None
        if key in raw:
            ranges[key] = _range(raw[key], key, where)
            _check_range(ranges[key] or (0.0, 0.0), key, where)
    flexion_status: DemandStatus | None = None
    if "hip_flexion_status" in raw:
        if ranges["hip_flexion_deg"] is None:
            raise DemandFileError(f"{where}: hip_flexion_status without hip_flexion_deg")
        flexion_status = _status(raw["hip_flexion_status"], "hip_flexion_status", where)
    optional_text = {
        key: _text(raw[key], key, where) if key in raw else None
        for key in ("population", "doi", "note")
    }
    return DemandRow(
        exercise=exercise,
        limb=limb,
        population=optional_text["population"] or "all",
        status=status,
        mean_deg=mean_deg,
        sd_deg=sd_deg,
        hip_flexion_deg=ranges["hip_flexion_deg"],
        hip_flexion_status=flexion_status,
        excursion_deg=ranges["excursion_deg"],
        reference=_text(raw["reference"], "reference", where),
        doi=optional_text["doi"],
        note=optional_text["note"],
        source=where,
    )


def parse_demand(text: str, name: str) -> DemandTable:
    """Parse the text of a demand file.

    Parameters
    ----------
    text : str
        TOML text.
    name : str
        File name used in messages.

    Returns
    -------
    DemandTable

    Raises
    ------
    DemandFileError
        On a TOML syntax error, a missing or newer ``version``, a row with a missing or unknown
        key, a bad status or limb, an angle outside its plausible range in degrees, or two rows
        for the same exercise, limb and population; the message names the file and the row.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DemandFileError(f"{name}: not valid TOML: {exc}") from exc
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DemandFileError(f"{name}: needs a top-level integer `version` >= 1, got {version!r}")
    if version > DEMAND_FORMAT_VERSION:
        raise DemandFileError(
            f"{name}: version {version} is newer than this coxa reads ({DEMAND_FORMAT_VERSION})"
        )
    extra = sorted(set(data) - {"version", "row"})
    if extra:
        raise DemandFileError(f"{name}: unknown top-level keys {extra}; rows go in [[row]] tables")
    raw_rows = data.get("row", [])
    if not isinstance(raw_rows, list):
        raise DemandFileError(f"{name}: rows must be [[row]] tables")
    lines = _line_of_rows(text)
    rows: list[DemandRow] = []
    seen: dict[tuple[str, str, str], str] = {}
    for i, raw in enumerate(cast(list[object], raw_rows)):
        line = f" line {lines[i]}" if i < len(lines) else ""
        where = f"{name}{line} (row {i + 1})"
        if not isinstance(raw, dict):
            raise DemandFileError(f"{where}: a row must be a table")
        row = _parse_row(cast(dict[str, object], raw), where)
        key = (row.exercise, row.limb, row.population)
        if key in seen:
            raise DemandFileError(
                f"{where}: a second row for exercise {row.exercise!r}, limb {row.limb!r}, "
                f"population {row.population!r} (first at {seen[key]})"
            )
        seen[key] = where
        rows.append(row)
    return DemandTable(version=version, rows=tuple(rows), path=name)


def load_demand(path: str | Path | None = None) -> DemandTable:
    """Read a demand file: the shipped one, or a user's copy.

    Parameters
    ----------
    path : str or Path, optional
        A user's demand file. None: the file shipped in the package.

    Returns
    -------
    DemandTable

    Raises
    ------
    DemandFileError
        When the file cannot be read or is not a valid demand file (see :func:`parse_demand`).
    """
    if path is None:
        shipped = resources.files("coxa.analysis").joinpath(SHIPPED_DEMAND)
        return parse_demand(shipped.read_text(encoding="utf-8"), f"coxa/analysis/{SHIPPED_DEMAND}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DemandFileError(f"{path}: cannot read the demand file: {exc}") from exc
    return parse_demand(text, str(path))
