"""OpenSim joint-angle files (``.mot``, and ``.sto`` with plain numbers)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from coxa.geometry import FloatArray
from coxa.io._table import PathLike, RawTable, check_time, parse_numbers, read_lines, split_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AngleFile:
    """A table of joint coordinates over time (OpenSim ``.mot`` or a coxa angles CSV).

    Attributes
    ----------
    t_s : ndarray, shape (n,)
        Sample times, strictly increasing, seconds.
    columns : dict of str to ndarray, shape (n,)
        One array per column after ``time``, in file order (e.g. ``"hip_rotation_r"``).
        Rotational coordinates are in degrees if ``in_degrees`` and radians otherwise;
        translational ones (``pelvis_tx``) are in metres either way.
    in_degrees : bool
        The header's ``inDegrees``.
    header : dict of str to str
        All ``key=value`` header lines.
    notes : tuple of str
        Header lines that are not ``key=value`` (e.g. the title line of old files).
    """

    t_s: FloatArray
    columns: dict[str, FloatArray]
    in_degrees: bool
    header: dict[str, str]
    notes: tuple[str, ...]


def read_mot(path: PathLike) -> AngleFile:
    """Read an OpenSim ``.mot`` (or numeric ``.sto``) file of joint coordinates.

    Header: ``key=value`` lines up to ``endheader``; ``inDegrees=yes|no`` is required;
    ``nRows`` and ``nColumns`` (``time`` included), when present, must match the table;
    ``DataType``, when present, must be ``double``. Then a row of column names starting with
    ``time`` and one row of numbers per sample, fields separated by tabs or spaces. CRLF line
    ends and trailing whitespace are accepted.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    AngleFile

    Raises
    ------
    FormatError
        On any departure from the format, naming the file, line and column (missing
        ``endheader``, missing or bad ``inDegrees``, ``nRows``/``nColumns`` mismatch, wrong field
        count, non-numeric, NaN or infinite value, time not strictly increasing, no data rows).
    """
    table = split_table(str(path), read_lines(path), None)
    in_degrees = _in_degrees(table)
    data_type = table.header.get("DataType", "double")
    if data_type != "double":
        raise table.fail(
            f"DataType={data_type}: a joint-angle file holds plain numbers (DataType=double)",
            table.header_line["DataType"],
        )
    if len(table.columns) < 2:
        raise table.fail("no columns after 'time'", table.columns_line)
    values = parse_numbers(table, None, 1)
    t_s = np.ascontiguousarray(values[:, 0])
    check_time(table.source, t_s, table.first_row_line)
    _check_declared_size(table, "nColumns", len(table.columns))
    _check_declared_size(table, "nRows", len(table.rows))
    logger.debug("read %s: %d rows x %d columns", table.source, t_s.size, values.shape[1] - 1)
    return AngleFile(
        t_s=t_s,
        columns={
            name: np.ascontiguousarray(values[:, i])
            for i, name in enumerate(table.columns[1:], start=1)
        },
        in_degrees=in_degrees,
        header=table.header,
        notes=table.notes,
    )


def _in_degrees(table: RawTable) -> bool:
    text = table.header.get("inDegrees")
    if text is None:
        raise table.fail(
            "no inDegrees=yes|no in the header: the angle unit is unknown", table.endheader_line
        )
    answer = text.lower()
    if answer not in ("yes", "no"):
        raise table.fail(f"inDegrees={text}: expected yes or no", table.header_line["inDegrees"])
    return answer == "yes"


def _check_declared_size(table: RawTable, key: str, actual: int) -> None:
    text = table.header.get(key)
    if text is None:
        return
    line = table.header_line[key]
    try:
        declared = int(text)
    except ValueError:
        raise table.fail(f"{key}={text} is not a whole number", line) from None
    if declared != actual:
        raise table.fail(f"{key}={declared} but the table has {actual}", line)
