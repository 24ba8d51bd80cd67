"""Reference values of the clinical tests (a versioned data file) and the comparisons with them."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, cast

Status = Literal["src", "derived", "assumption", "not found"]
STATUSES: tuple[Status, ...] = ("src", "derived", "assumption", "not found")
#: Schema version of the reference file this code reads.
REFERENCES_VERSION = 1


class ReferenceFileError(ValueError):
    """A reference file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Reference:
    """A reference value (or range) of one test.

    Attributes
    ----------
    test : str
        Test id.
    kind : str
        What it is (``'coaching target'``, ``'population mean'``).
    low_deg, high_deg : float
        The value, or the range, degrees (equal for a single value).
    status : {'src', 'derived', 'assumption', 'not found'}
    reference : str
        Where it comes from.
    """

    test: str
    kind: str
    low_deg: float
    high_deg: float
    status: Status
    reference: str

    @property
    def text(self) -> str:
        """The value for people: ``'45 deg'`` or ``'30-45 deg'``."""
        if self.low_deg == self.high_deg:
            return f"{self.low_deg:g} deg"
        return f"{self.low_deg:g}-{self.high_deg:g} deg"


@dataclass(frozen=True)
class Band:
    """A noise band: below ``low_deg`` a difference is noise, above ``high_deg`` it is beyond
    the noise, between the two it may be real."""

    low_deg: float
    high_deg: float
    status: Status
    reference: str

    def classify(self, difference_deg: float) -> str:
        """``'within noise'``, ``'possible'`` or ``'beyond noise'`` (``'unknown'`` for NaN)."""
        size = abs(difference_deg)
        if not math.isfinite(size):
            return "unknown"
        if size < self.low_deg:
            return "within noise"
        if size <= self.high_deg:
            return "possible"
        return "beyond noise"


@dataclass(frozen=True)
class References:
    """The reference file: values per test, the test noise (MDC) and the asymmetry band.

    Attributes
    ----------
    version : int
    source : str
        The file read.
    values : tuple of Reference
    noise : Band
        Minimal detectable change of a test between sessions.
    asymmetry : Band
        Difference between the sides that is flagged.
    """

    version: int
    source: str
    values: tuple[Reference, ...]
    noise: Band
    asymmetry: Band

    def of(self, test: str) -> tuple[Reference, ...]:
        """The reference values of a test."""
        return tuple(r for r in self.values if r.test == test)


def _number(entry: Mapping[str, object], key: str, where: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReferenceFileError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


def _text(entry: Mapping[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ReferenceFileError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _status(entry: Mapping[str, object], where: str) -> Status:
    value = entry.get("status")
    for status in STATUSES:
        if value == status:
            return status
    raise ReferenceFileError(f"{where}: status must be one of {STATUSES}, got {value!r}")


def _band(data: Mapping[str, object], key: str, low: str, high: str, source: str) -> Band:
    entry = data.get(key)
    if not isinstance(entry, dict):
        raise ReferenceFileError(f"{source}: missing table [{key}]")
    table = cast(dict[str, object], entry)
    where = f"{source} [{key}]"
    band = Band(
        _number(table, low, where),
        _number(table, high, where),
        _status(table, where),
        _text(table, "reference", where),
    )
    if not 0.0 <= band.low_deg <= band.high_deg:
        raise ReferenceFileError(f"{where}: need 0 <= {low} <= {high}")
    return band


def parse_references(text: str, source: str) -> References:
    """Read reference values from TOML text.

    Raises
    ------
    ReferenceFileError
        Not TOML, another version, a missing or malformed entry (named).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ReferenceFileError(f"{source}: not valid TOML: {err}") from err
    version = data.get("version")
    if version != REFERENCES_VERSION:
        raise ReferenceFileError(
            f"{source}: reference file version {version!r}, this coxa reads version "
            f"{REFERENCES_VERSION}"
        )
    entries = data.get("reference", [])
    if not isinstance(entries, list):
        raise ReferenceFileError(f"{source}: 'reference' must be an array of tables")
    values: list[Reference] = []
    for k, raw in enumerate(cast(list[object], entries)):
        where = f"{source} reference #{k + 1}"
        if not isinstance(raw, dict):
            raise ReferenceFileError(f"{where}: must be a table")
        entry = cast(dict[str, object], raw)
        value = Reference(
            test=_text(entry, "test", where),
            kind=_text(entry, "kind", where),
            low_deg=_number(entry, "low_deg", where),
            high_deg=_number(entry, "high_deg", where),
            status=_status(entry, where),
            reference=_text(entry, "reference", where),
        )
        if value.low_deg > value.high_deg:
            raise ReferenceFileError(f"{where}: low_deg is above high_deg")
        values.append(value)
    return References(
        version=REFERENCES_VERSION,
        source=source,
        values=tuple(values),
        noise=_band(data, "noise", "mdc_low_deg", "mdc_high_deg", source),
        asymmetry=_band(data, "asymmetry", "low_deg", "high_deg", source),
    )


def load_references(path: str | Path | None = None) -> References:
    """The reference values: a file of the user's, or the one shipped with the package.

    Raises
    ------
    ReferenceFileError
        The file cannot be read or is malformed.
    """
    if path is None:
        shipped = resources.files("coxa.assess").joinpath("data", "references.toml")
        return parse_references(shipped.read_text(encoding="utf-8"), "references.toml (shipped)")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ReferenceFileError(f"cannot read {path}: {err}") from err
    return parse_references(text, str(path))


@dataclass(frozen=True)
class Comparison:
    """A result compared with a reference value.

    Attributes
    ----------
    reference : Reference
    difference_deg : float
        Result minus the nearest end of the reference range (0 inside it), degrees.
    verdict : str
        ``'below'``, ``'within'`` or ``'above'`` (``'unknown'`` without a result).
    """

    reference: Reference
    difference_deg: float
    verdict: str


def compare(mean_deg: float, references: Sequence[Reference]) -> list[Comparison]:
    """Compare a result with each reference value of its test."""
    out: list[Comparison] = []
    for ref in references:
        if not math.isfinite(mean_deg):
            out.append(Comparison(ref, math.nan, "unknown"))
        elif mean_deg < ref.low_deg:
            out.append(Comparison(ref, mean_deg - ref.low_deg, "below"))
        elif mean_deg > ref.high_deg:
            out.append(Comparison(ref, mean_deg - ref.high_deg, "above"))
        else:
            out.append(Comparison(ref, 0.0, "within"))
    return out
