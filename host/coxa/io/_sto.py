"""OpenSense quaternion orientation files (``.sto`` with ``DataType=Quaternion``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from coxa.body import SEGMENTS, SegmentName
from coxa.geometry import FloatArray
from coxa.io._table import (
    PathLike,
    RawTable,
    check_time,
    parse_numbers,
    read_lines,
    split_table,
)

logger = logging.getLogger(__name__)

#: Accepted range of a stored quaternion's norm; outside it the cell is an error, inside it the
#: quaternion is normalised. [assumption] OpenSim writes 16 significant digits (norm within 1e-15
#: of 1), so a larger deviation means a damaged cell or a wrong column layout; the 10 % margin
#: still admits exports rounded to 2-3 decimals.
QUAT_NORM_RANGE: tuple[float, float] = (0.9, 1.1)

#: Relative mismatch between ``DataRate`` and the median time step above which a warning is
#: logged. [assumption]
RATE_MISMATCH_WARN = 0.01

#: Rows formatted per chunk when writing (bounds the memory of the text buffer). [assumption]
WRITE_CHUNK_ROWS = 8192

_SEGMENT_OF_COLUMN: dict[str, SegmentName] = {f"{segment}_imu": segment for segment in SEGMENTS}


def segment_of_opensense_column(name: str) -> SegmentName | None:
    """The coxa segment an OpenSense IMU column follows, or None if coxa does not model it.

    ``pelvis_imu`` -> ``pelvis``, ``femur_r_imu`` -> ``femur_r``, ``tibia_l_imu`` -> ``tibia_l``
    and so on for :data:`coxa.body.SEGMENTS`; ``torso_imu``, ``calcn_r_imu`` and any other name
    give None.
    """
    return _SEGMENT_OF_COLUMN.get(name)


@dataclass(frozen=True)
class QuaternionTable:
    """Orientation streams read from an OpenSense quaternion file.

    Attributes
    ----------
    t_s : ndarray, shape (n,)
        Sample times, strictly increasing, seconds.
    quat_wxyz : dict of str to ndarray, shape (n, 4)
        Unit quaternions (scalar first) per column, in file order, e.g. ``"femur_r_imu"``. In
        OpenSense files each is the sensor frame relative to the ground frame of the recording.
    data_rate_hz : float
        The header's ``DataRate``, Hz.
    header : dict of str to str
        All ``key=value`` header lines (``DataRate``, ``DataType``, ``version``,
        ``OpenSimVersion`` and any other).
    notes : tuple of str
        Header lines that are not ``key=value``.
    """

    t_s: FloatArray
    quat_wxyz: dict[str, FloatArray]
    data_rate_hz: float
    header: dict[str, str]
    notes: tuple[str, ...]

    def by_segment(self) -> dict[SegmentName, FloatArray]:
        """The columns coxa models, keyed by segment (see :func:`segment_of_opensense_column`).

        Returns
        -------
        dict of SegmentName to ndarray, shape (n, 4)
        """
        out: dict[SegmentName, FloatArray] = {}
        for name, quat_wxyz in self.quat_wxyz.items():
            segment = segment_of_opensense_column(name)
            if segment is not None:
                out[segment] = quat_wxyz
        return out


def read_opensense_sto(path: PathLike) -> QuaternionTable:
    """Read an OpenSense quaternion ``.sto`` file.

    The header (``key=value`` lines up to ``endheader``) must hold ``DataType=Quaternion`` and a
    positive ``DataRate``. The table is tab-separated: ``time`` then one column per IMU, each
    cell ``w,x,y,z``. CRLF line ends and trailing whitespace are accepted.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    QuaternionTable

    Raises
    ------
    FormatError
        On any departure from the format, naming the file, line and column: missing
        ``endheader``, wrong ``DataType``, bad ``DataRate``, wrong field count, a cell without
        four comma-separated numbers, a non-numeric, NaN or infinite value, a quaternion norm
        outside :data:`QUAT_NORM_RANGE`, time not strictly increasing, no data rows.
    """
    table = split_table(str(path), read_lines(path), "\t")
    data_type = table.header.get("DataType")
    if data_type != "Quaternion":
        found = "no DataType" if data_type is None else f"DataType={data_type}"
        raise table.fail(
            f"{found} in the header; an orientation file has DataType=Quaternion",
            table.header_line.get("DataType", table.endheader_line),
        )
    data_rate_hz = _data_rate_hz(table)
    names = table.columns[1:]
    if not names:
        raise table.fail("no IMU columns after 'time'", table.columns_line)
    values = parse_numbers(table, "\t", 4)
    t_s = np.ascontiguousarray(values[:, 0])
    check_time(table.source, t_s, table.first_row_line)
    quats = values[:, 1:].reshape(t_s.size, len(names), 4)
    norms = np.sqrt(np.einsum("ijk,ijk->ij", quats, quats))
    low, high = QUAT_NORM_RANGE
    bad = np.argwhere((norms < low) | (norms > high))
    if bad.size:
        row, column = (int(i) for i in bad[0])
        raise table.fail(
            f"quaternion norm {norms[row, column]:.6g} is outside [{low}, {high}]",
            table.first_row_line + row,
            names[column],
        )
    quats = quats / norms[:, :, np.newaxis]
    _warn_on_rate_mismatch(table.source, t_s, data_rate_hz)
    logger.debug("read %s: %d rows x %d IMUs", table.source, t_s.size, len(names))
    return QuaternionTable(
        t_s=t_s,
        quat_wxyz={name: np.ascontiguousarray(quats[:, i]) for i, name in enumerate(names)},
        data_rate_hz=data_rate_hz,
        header=table.header,
        notes=table.notes,
    )


def _data_rate_hz(table: RawTable) -> float:
    text = table.header.get("DataRate")
    if text is None:
        raise table.fail("no DataRate in the header", table.endheader_line)
    try:
        rate_hz = float(text)
    except ValueError:
        rate_hz = math.nan
    if not (math.isfinite(rate_hz) and rate_hz > 0.0):
        raise table.fail(
            f"DataRate={text} is not a positive number of Hz", table.header_line["DataRate"]
        )
    return rate_hz


def _warn_on_rate_mismatch(source: str, t_s: FloatArray, data_rate_hz: float) -> None:
    if t_s.size < 2:
        return
    step_s = float(np.median(np.diff(t_s)))
    if abs(step_s * data_rate_hz - 1.0) > RATE_MISMATCH_WARN:
        logger.warning(
            "%s: DataRate=%g Hz but the median time step is %g s (%g Hz)",
            source,
            data_rate_hz,
            step_s,
            1.0 / step_s,
        )


def write_opensense_sto(
    path: PathLike,
    t_s: ArrayLike,
    quat_wxyz_by_column: Mapping[str, ArrayLike],
    data_rate_hz: float,
) -> None:
    """Write orientation streams as an OpenSense quaternion ``.sto`` file.

    Numbers are written with the shortest text that reads back to the same double, so
    :func:`read_opensense_sto` returns the times exactly and the quaternions normalised.

    Parameters
    ----------
    path : str or os.PathLike
        The file to create (overwritten if present).
    t_s : array_like, shape (n,)
        Sample times, finite and strictly increasing, seconds; n >= 1.
    quat_wxyz_by_column : mapping of str to array_like, shape (n, 4)
        Quaternions (scalar first) per column, written in mapping order. Names must be non-empty,
        not ``time``, and free of whitespace and commas (OpenSense uses ``<body>_imu``). Norms
        must lie in :data:`QUAT_NORM_RANGE`; the file holds them normalised.
    data_rate_hz : float
        Written as ``DataRate``, Hz; positive.

    Raises
    ------
    ValueError
        On input the reader would reject.
    """
    times = np.asarray(t_s, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"t_s must be a non-empty 1-D array, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0.0):
        raise ValueError("t_s must be finite and strictly increasing")
    if not (math.isfinite(data_rate_hz) and data_rate_hz > 0.0):
        raise ValueError(f"data_rate_hz must be positive, got {data_rate_hz}")
    if not quat_wxyz_by_column:
        raise ValueError("quat_wxyz_by_column is empty: an orientation file needs a column")
    blocks = [times[:, np.newaxis]]
    for name, quat in quat_wxyz_by_column.items():
        blocks.append(_checked_unit_quats(name, quat, times.size))
    table = np.hstack(blocks)
    names = "\t".join(["time", *quat_wxyz_by_column])
    cell = "%r,%r,%r,%r"
    row_format = "\t".join(["%r"] + [cell] * len(quat_wxyz_by_column)) + "\n"
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        out.write(f"DataRate={float(data_rate_hz)!r}\nDataType=Quaternion\nversion=3\nendheader\n")
        out.write(names + "\n")
        for start in range(0, times.size, WRITE_CHUNK_ROWS):
            rows = table[start : start + WRITE_CHUNK_ROWS].tolist()
            out.write("".join([row_format % tuple(row) for row in rows]))
    logger.debug("wrote %s: %d rows x %d IMUs", path, times.size, len(quat_wxyz_by_column))


def _checked_unit_quats(name: str, quat: ArrayLike, n: int) -> FloatArray:
    if not name or name == "time" or any(c.isspace() or c == "," for c in name):
        raise ValueError(f"column name {name!r} is empty, 'time', or holds whitespace or a comma")
    array = np.asarray(quat, dtype=np.float64)
    if array.shape != (n, 4):
        raise ValueError(f"column {name!r}: shape {array.shape}, expected ({n}, 4)")
    norms = np.linalg.norm(array, axis=1)
    low, high = QUAT_NORM_RANGE
    if not np.all((norms >= low) & (norms <= high)):
        raise ValueError(f"column {name!r}: quaternion norms must lie in [{low}, {high}]")
    return array / norms[:, np.newaxis]
