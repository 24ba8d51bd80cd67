"""Shared reading of OpenSim-style text tables.

The layout is: ``key=value`` header lines, a line ``endheader``, a row of column names starting
with ``time``, then one row of numbers per sample. Every problem raises :class:`FormatError`
naming the file, the line (1-based, as an editor shows it) and the column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coxa.geometry import FloatArray

PathLike = str | os.PathLike[str]

#: Rows parsed per step on the fast path (bounds the memory of its token lists). [assumption]
PARSE_CHUNK_ROWS = 4096


class FormatError(ValueError):
    """A file that breaks its format.

    Parameters
    ----------
    source : str
        The file name (or a description of the stream).
    reason : str
        What is wrong, in words.
    line : int or None
        1-based line number, when the problem has one.
    column : str or None
        Column name, when the problem has one.
    """

    def __init__(
        self, source: str, reason: str, line: int | None = None, column: str | None = None
    ) -> None:
        where = source
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.reason = reason
        self.line = line
        self.column = column

    def __reduce__(self) -> tuple[type[FormatError], tuple[str, str, int | None, str | None]]:
        return (type(self), (self.source, self.reason, self.line, self.column))


def split_lines(source: str, data: bytes) -> list[str]:
    """Decode UTF-8 text (a byte-order mark is allowed) into lines without line ends.

    CRLF and CR line ends count as LF; trailing whitespace is removed from every line; the empty
    piece after a final line end is dropped, so ``len(result)`` is the number of the last line.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(source, "not UTF-8 text", data[: exc.start].count(b"\n") + 1) from exc
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if lines and not lines[-1]:
        lines.pop()
    return lines


def read_lines(path: PathLike) -> list[str]:
    """Lines of a UTF-8 text file, as :func:`split_lines` returns them."""
    return split_lines(str(path), Path(path).read_bytes())


def check_column_names(source: str, names: list[str], line: int) -> tuple[str, ...]:
    """Check a row of column names: ``time`` first, no empty or repeated name."""
    if names[0] != "time":
        raise FormatError(source, f"the first column must be 'time', found {names[0]!r}", line)
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            raise FormatError(source, f"column name number {position} is empty", line)
        if name in seen:
            raise FormatError(source, "column name repeated", line, name)
        seen.add(name)
    return tuple(names)


def check_time(source: str, t_s: FloatArray, first_line: int) -> None:
    """Check that sample times (one per row, rows from ``first_line`` on) strictly increase."""
    back = np.flatnonzero(np.diff(t_s) <= 0.0)
    if back.size:
        row = int(back[0]) + 1
        raise FormatError(
            source,
            f"time {t_s[row]!r} s does not increase (previous row: {t_s[row - 1]!r} s)",
            first_line + row,
            "time",
        )


@dataclass(frozen=True)
class RawTable:
    """An OpenSim text table split into header, column names and data rows (not yet numbers).

    Attributes
    ----------
    source : str
        File name, for error messages.
    header : dict of str to str
        ``key=value`` header lines, keys and values stripped of surrounding whitespace.
    header_line : dict of str to int
        Line number of each header key.
    notes : tuple of str
        Non-blank header lines that are not ``key=value`` (an old-style title, comments).
    endheader_line : int
        Line number of ``endheader``.
    columns : tuple of str
        Column names, ``time`` first.
    columns_line : int
        Line number of the column names.
    rows : list of str
        Data rows (trailing whitespace removed; blank lines at the end of the file dropped).
    """

    source: str
    header: dict[str, str]
    header_line: dict[str, int]
    notes: tuple[str, ...]
    endheader_line: int
    columns: tuple[str, ...]
    columns_line: int
    rows: list[str]

    @property
    def first_row_line(self) -> int:
        """Line number of the first data row."""
        return self.columns_line + 1

    def fail(self, reason: str, line: int | None = None, column: str | None = None) -> FormatError:
        """A :class:`FormatError` about this file (to raise)."""
        return FormatError(self.source, reason, line, column)


def split_table(source: str, lines: list[str], delimiter: str | None) -> RawTable:
    """Split the lines of an OpenSim table file into header, column names and data rows.

    Parameters
    ----------
    source : str
        File name, for error messages.
    lines : list of str
        The file's lines (from :func:`read_lines`).
    delimiter : str or None
        Field separator of the column-name row; None splits on runs of whitespace.
    """
    if not lines:
        raise FormatError(source, "the file is empty")
    end = next((i for i, line in enumerate(lines) if line.strip() == "endheader"), None)
    if end is None:
        raise FormatError(
            source, "no 'endheader' line: reached the end of the file in the header", len(lines)
        )
    header: dict[str, str] = {}
    header_line: dict[str, int] = {}
    notes: list[str] = []
    for number, raw in enumerate(lines[:end], start=1):
        text = raw.strip()
        key, equals, value = text.partition("=")
        key = key.strip()
        if equals and key:
            if key in header:
                raise FormatError(
                    source,
                    f"header key {key!r} repeated (first on line {header_line[key]})",
                    number,
                )
            header[key] = value.strip()
            header_line[key] = number
        elif text:
            notes.append(text)
    names_index = end + 1
    while names_index < len(lines) and not lines[names_index].strip():
        names_index += 1
    if names_index == len(lines):
        raise FormatError(source, "no row of column names after 'endheader'", end + 1)
    names_line = names_index + 1
    raw_names = lines[names_index].strip()
    parts = raw_names.split(delimiter) if delimiter is not None else raw_names.split()
    columns = check_column_names(source, [name.strip() for name in parts], names_line)
    rows = lines[names_index + 1 :]
    while rows and not rows[-1]:
        rows.pop()
    if not rows:
        raise FormatError(source, "the table has no data rows after the column names", names_line)
    return RawTable(
        source=source,
        header=header,
        header_line=header_line,
        notes=tuple(notes),
        endheader_line=end + 1,
        columns=columns,
        columns_line=names_line,
        rows=rows,
    )


def parse_numbers(table: RawTable, delimiter: str | None, cell_size: int) -> FloatArray:
    """Parse the data rows into finite numbers.

    Parameters
    ----------
    table : RawTable
        The split file.
    delimiter : str or None
        Field separator, one ASCII character other than a comma (``"\\t"``), or None for runs
        of spaces and tabs.
    cell_size : int
        Numbers per data cell after ``time``: 1, or e.g. 4 for ``w,x,y,z`` cells (comma-separated;
        only with a delimiter).

    Returns
    -------
    ndarray, shape (n_rows, 1 + (n_columns - 1) * cell_size)
        ``time`` then the numbers of each cell in column order.
    """
    values = _parse_fast(table, delimiter, cell_size)
    if values is None:
        values = _parse_by_cell(table, delimiter, cell_size)
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        row, index = (int(i) for i in bad[0])
        column = table.columns[0 if index == 0 else 1 + (index - 1) // cell_size]
        kind = "NaN" if np.isnan(values[row, index]) else "an infinite number"
        raise table.fail(f"{kind} is not allowed here", table.first_row_line + row, column)
    return values


def _parse_fast(table: RawTable, delimiter: str | None, cell_size: int) -> FloatArray | None:
    """Many rows per step; None when any row is malformed (:func:`_parse_by_cell` says where)."""
    n_fields = len(table.columns)
    width = 1 + (n_fields - 1) * cell_size
    out = np.empty((len(table.rows), width))
    for start in range(0, len(table.rows), PARSE_CHUNK_ROWS):
        rows = table.rows[start : start + PARSE_CHUNK_ROWS]
        joined = "\n".join(rows)
        if delimiter is None:
            row = r"[ \t]*[^\s]+(?:[ \t]+[^\s]+)" + f"{{{n_fields - 1}}}"
            if re.fullmatch(f"{row}(?:\n{row})*", joined) is None:
                return None
            tokens = joined.split()
        else:
            if not _separators_match(joined, len(rows), n_fields, delimiter, cell_size):
                return None
            tokens = joined.replace(delimiter, ",").replace("\n", ",").split(",")
        try:
            flat = np.fromiter(map(float, tokens), dtype=np.float64, count=len(tokens))
        except ValueError:
            return None
        out[start : start + len(rows)] = flat.reshape(len(rows), width)
    return out


def _separators_match(
    joined: str, n_rows: int, n_fields: int, delimiter: str, cell_size: int
) -> bool:
    """Whether delimiters, commas and line ends in ``joined`` follow the layout, in order."""
    data = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
    found = data[(data == ord(delimiter)) | (data == ord(",")) | (data == ord("\n"))]
    row = (delimiter + "," * (cell_size - 1)) * (n_fields - 1)
    expected = np.frombuffer("\n".join([row] * n_rows).encode("utf-8"), dtype=np.uint8)
    return np.array_equal(found, expected)


def _parse_by_cell(table: RawTable, delimiter: str | None, cell_size: int) -> FloatArray:
    """Row by row and cell by cell, raising at the first malformed row or cell."""
    columns = table.columns
    n_fields = len(columns)
    out = np.empty((len(table.rows), 1 + (n_fields - 1) * cell_size))
    split: Callable[[str], list[str]] = (
        (lambda text: text.split(delimiter)) if delimiter is not None else str.split
    )
    for row, text in enumerate(table.rows):
        line = table.first_row_line + row
        fields = split(text)
        if len(fields) != n_fields:
            what = "a blank line" if not text.strip() else f"{len(fields)} fields"
            raise table.fail(f"{what} where {n_fields} fields (one per column) belong", line)
        out[row, 0] = _number(table, fields[0], line, columns[0])
        for field in range(1, n_fields):
            parts = fields[field].split(",") if cell_size > 1 else [fields[field]]
            if len(parts) != cell_size:
                raise table.fail(
                    f"cell {fields[field]!r} holds {len(parts)} comma-separated numbers, "
                    f"not {cell_size}",
                    line,
                    columns[field],
                )
            start = 1 + (field - 1) * cell_size
            for offset, part in enumerate(parts):
                out[row, start + offset] = _number(table, part, line, columns[field])
    return out


def _number(table: RawTable, text: str, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise table.fail(f"{text!r} is not a number", line, column) from None
