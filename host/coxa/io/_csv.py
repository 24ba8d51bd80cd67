"""The coxa angles CSV: ``time`` in seconds, then joint angles in degrees, one row per sample."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
from numpy.typing import ArrayLike

from coxa.geometry import FloatArray
from coxa.io._mot import AngleFile
from coxa.io._table import FormatError, PathLike, check_column_names, check_time, split_lines

logger = logging.getLogger(__name__)

#: Time column format: the shortest decimal text that reads back to the same double (Python's
#: ``repr``), so times round-trip exactly and stay strictly increasing. [assumption]
TIME_FORMAT = "%r"
#: Angle format: 6 significant digits (at most 0.5e-5 relative rounding, 0.0005 deg at 100 deg),
#: far finer than any IMU joint angle. [assumption]
ANGLE_FORMAT = "%.6g"
#: Rows formatted per chunk (bounds the memory of the text buffer). [assumption]
WRITE_CHUNK_ROWS = 8192

_FORBIDDEN_IN_NAMES = frozenset(',"\r\n')


def write_angles_csv(
    target: PathLike | TextIO,
    t_s: ArrayLike,
    angles_deg: Mapping[str, ArrayLike],
    columns: Sequence[str] | None = None,
) -> None:
    """Write joint angles as CSV.

    The first line is ``time,<column>,...``; then one line per sample: time in seconds with
    :data:`TIME_FORMAT`, angles in degrees with :data:`ANGLE_FORMAT`, NaN (no angle) as an empty
    cell. Lines end with ``\\n``; nothing is quoted.

    Parameters
    ----------
    target : str, os.PathLike or text stream
        File to create (overwritten if present) or an open text stream (left open).
    t_s : array_like, shape (n,)
        Sample times, finite and strictly increasing, seconds.
    angles_deg : mapping of str to array_like, shape (n,)
        Angles per column name, degrees; finite or NaN.
    columns : sequence of str, optional
        Which columns to write, in this order; default: all of ``angles_deg`` in its order.
        Names must be unique, non-empty, not ``time``, without surrounding whitespace, and free
        of commas, quotes and line ends.

    Raises
    ------
    ValueError
        On bad input (shapes, infinite values, time not increasing, bad or missing names).
    """
    times = np.asarray(t_s, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"t_s must be 1-D, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0.0):
        raise ValueError("t_s must be finite and strictly increasing")
    names = list(angles_deg) if columns is None else list(columns)
    _check_names(names)
    table = np.empty((times.size, 1 + len(names)))
    table[:, 0] = times
    for i, name in enumerate(names, start=1):
        if name not in angles_deg:
            raise ValueError(f"column {name!r} is not in angles_deg")
        values = np.asarray(angles_deg[name], dtype=np.float64)
        if values.shape != times.shape:
            raise ValueError(f"column {name!r}: shape {values.shape}, expected {times.shape}")
        if np.any(np.isinf(values)):
            raise ValueError(f"column {name!r} holds an infinite angle")
        table[:, i] = values
    if isinstance(target, (str, os.PathLike)):
        with Path(target).open("w", encoding="utf-8", newline="\n") as out:
            _write_table(out, names, table)
    else:
        _write_table(target, names, table)
    logger.debug("wrote angles CSV: %d rows x %d columns", times.size, len(names))


def _write_table(out: TextIO, names: list[str], table: FloatArray) -> None:
    row_format = ",".join([TIME_FORMAT] + [ANGLE_FORMAT] * len(names)) + "\n"
    out.write(",".join(["time", *names]) + "\n")
    for start in range(0, table.shape[0], WRITE_CHUNK_ROWS):
        rows = table[start : start + WRITE_CHUNK_ROWS].tolist()
        # The time cell is never NaN, so every NaN cell follows a comma.
        out.write("".join([row_format % tuple(row) for row in rows]).replace(",nan", ","))


def _check_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if (
            not name
            or name == "time"
            or name.strip() != name
            or _FORBIDDEN_IN_NAMES.intersection(name)
        ):
            raise ValueError(
                f"column name {name!r} is empty, 'time', starts or ends with whitespace, "
                "or holds a comma, quote or line end"
            )
        if name in seen:
            raise ValueError(f"column name {name!r} repeated")
        seen.add(name)


def read_angles_csv(source: PathLike | TextIO) -> AngleFile:
    """Read an angles CSV written by :func:`write_angles_csv`.

    Parameters
    ----------
    source : str, os.PathLike or text stream
        The file, or an open text stream (read to its end, left open).

    Returns
    -------
    AngleFile
        ``in_degrees`` True, empty ``header`` and ``notes``; empty cells read as NaN.

    Raises
    ------
    FormatError
        Naming the line and column: no header line, header not starting with ``time``, empty or
        repeated names, wrong field count, a non-numeric or infinite cell, an empty or NaN time,
        time not strictly increasing.
    """
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        lines = split_lines(name, Path(source).read_bytes())
    else:
        name = str(getattr(source, "name", "<stream>"))
        lines = split_lines(name, source.read().encode("utf-8"))
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise FormatError(name, "the file is empty: no header line")
    columns = check_column_names(name, [c.strip() for c in lines[0].split(",")], 1)
    values = np.empty((len(lines) - 1, len(columns)))
    for row, text in enumerate(lines[1:]):
        line = row + 2
        cells = text.split(",")
        if len(cells) != len(columns):
            raise FormatError(name, f"{len(cells)} fields where {len(columns)} belong", line)
        values[row] = [
            _cell(name, cell, line, column) for cell, column in zip(cells, columns, strict=True)
        ]
    empty_time = np.flatnonzero(np.isnan(values[:, 0]))
    if empty_time.size:
        raise FormatError(name, "time must be a number", int(empty_time[0]) + 2, "time")
    t_s = np.ascontiguousarray(values[:, 0])
    check_time(name, t_s, 2)
    return AngleFile(
        t_s=t_s,
        columns={c: np.ascontiguousarray(values[:, i]) for i, c in enumerate(columns[1:], 1)},
        in_degrees=True,
        header={},
        notes=(),
    )


def _cell(source: str, cell: str, line: int, column: str) -> float:
    """One CSV cell: empty is NaN; otherwise a finite number."""
    if not cell:
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        raise FormatError(source, f"{cell!r} is not a number", line, column) from None
    if math.isinf(value):
        raise FormatError(source, "an infinite number is not allowed", line, column)
    return value
