"""Files coxa reads and writes: OpenSense quaternion ``.sto``, OpenSim ``.mot``, angles CSV.

See ``docs/formats.md``.
"""

from coxa.io._compare import AngleAgreement, compare_angles
from coxa.io._csv import ANGLE_FORMAT, TIME_FORMAT, read_angles_csv, write_angles_csv
from coxa.io._mot import AngleFile, read_mot
from coxa.io._sto import (
    QUAT_NORM_RANGE,
    QuaternionTable,
    read_opensense_sto,
    segment_of_opensense_column,
    write_opensense_sto,
)
from coxa.io._table import FormatError

__all__ = [
    "ANGLE_FORMAT",
    "QUAT_NORM_RANGE",
    "TIME_FORMAT",
    "AngleAgreement",
    "AngleFile",
    "FormatError",
    "QuaternionTable",
    "compare_angles",
    "read_angles_csv",
    "read_mot",
    "read_opensense_sto",
    "segment_of_opensense_column",
    "write_angles_csv",
    "write_opensense_sto",
]
