"""OpenSim ``.mot`` joint-angle files: the real OpenSense IK output, old-style files, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.io import AngleFile, FormatError, read_mot
from tests.io.strategies import damaged

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_MOT = ROOT.parent / "shared" / "data" / "opensense_example" / "opensense_ik_7.25-15s.mot"
needs_example = pytest.mark.skipif(
    not EXAMPLE_MOT.is_file(),
    reason=f"OpenSense IK example not found at {EXAMPLE_MOT} (see ../shared/data/README.md)",
)

# An old-style (version 1) file: title line, sizes, a comment, space-separated table.
VALID_LINES = [
    "Coordinates",  # 1
    "version=1",  # 2
    "nRows=3",  # 3
    "nColumns=3",  # 4
    "inDegrees=no",  # 5
    "",  # 6
    "Units are S.I. units (second, meters, Newtons, ...)",  # 7
    "endheader",  # 8
    "time   hip_rotation_r\tknee_angle_r",  # 9
    "0.0    0.1\t-0.2",  # 10
    "0.5    0.2   1e-3",  # 11
    "1.0\t\t0.3  0.4",  # 12
]


def _write(tmp_path: Path, lines: list[str], name: str = "f.mot") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _replace(number: int, text: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [text if i == number else line for i, line in enumerate(lines, 1)]


def _delete(number: int) -> Callable[[list[str]], list[str]]:
    return lambda lines: [line for i, line in enumerate(lines, 1) if i != number]


def test_an_old_style_file_reads(tmp_path: Path) -> None:
    angles = read_mot(_write(tmp_path, VALID_LINES))
    np.testing.assert_array_equal(angles.t_s, [0.0, 0.5, 1.0])
    assert list(angles.columns) == ["hip_rotation_r", "knee_angle_r"]
    np.testing.assert_array_equal(angles.columns["hip_rotation_r"], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(angles.columns["knee_angle_r"], [-0.2, 1e-3, 0.4])
    assert angles.in_degrees is False
    assert angles.notes == ("Coordinates", "Units are S.I. units (second, meters, Newtons, ...)")
    assert angles.header == {"version": "1", "nRows": "3", "nColumns": "3", "inDegrees": "no"}


def test_crlf_and_case_of_in_degrees(tmp_path: Path) -> None:
    lines = _replace(5, "inDegrees=YES")(VALID_LINES)
    path = tmp_path / "crlf.mot"
    path.write_bytes(("\r\n".join(line + "  " for line in lines) + "\r\n\r\n").encode())
    angles = read_mot(path)
    assert angles.in_degrees is True
    np.testing.assert_array_equal(angles.columns["knee_angle_r"], [-0.2, 1e-3, 0.4])


ERROR_CASES = [
    ("no endheader", _delete(8), 11, None, "endheader"),
    ("no inDegrees", _delete(5), 7, None, "inDegrees"),
    ("inDegrees maybe", _replace(5, "inDegrees=maybe"), 5, None, "yes or no"),
    ("quaternion file", _replace(2, "DataType=Quaternion"), 2, None, "DataType=double"),
    ("nRows wrong", _replace(3, "nRows=4"), 3, None, "nRows=4 but the table has 3"),
    ("nRows text", _replace(3, "nRows=three"), 3, None, "whole number"),
    ("nColumns wrong", _replace(4, "nColumns=2"), 4, None, "nColumns=2"),
    ("time not first", _replace(9, "t a b"), 9, None, "'time'"),
    ("only time", lambda lines: [*lines[:8], "time", "0"], 9, None, "no columns"),
    ("field missing", _replace(11, "0.5 0.2"), 11, None, "2 fields where 3"),
    ("comma decimal", _replace(11, "0.5 0,2 1"), 11, "hip_rotation_r", "'0,2'"),
    ("NaN", _replace(12, "1.0 NaN 0.4"), 12, "hip_rotation_r", "NaN"),
    ("infinite", _replace(12, "1.0 0.3 -inf"), 12, "knee_angle_r", "infinite"),
    ("time back", _replace(12, "0.25 0.3 0.4"), 12, "time", "does not increase"),
    ("no rows", lambda lines: lines[:9], 9, None, "no data rows"),
]


@pytest.mark.parametrize(
    ("damage", "line", "column", "words"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_errors_name_file_line_and_column(
    tmp_path: Path,
    damage: Callable[[list[str]], list[str]],
    line: int,
    column: str | None,
    words: str,
) -> None:
    path = _write(tmp_path, damage(VALID_LINES))
    with pytest.raises(FormatError) as caught:
        read_mot(path)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    assert str(error).startswith(f"{path}, line {line}")
    assert words in str(error)


@given(text=damaged("\n".join(VALID_LINES) + "\n"))
@settings(max_examples=300)
def test_damaged_files_parse_or_raise_format_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("damaged") / "d.mot"
    path.write_bytes(text.encode("utf-8"))
    result = _read_or_error(path)
    if isinstance(result, FormatError):
        assert result.line is None or 1 <= result.line <= len(text.splitlines()) + 1
    else:
        assert np.all(np.diff(result.t_s) > 0)
        assert all(
            np.isfinite(v).all() and v.shape == result.t_s.shape for v in result.columns.values()
        )


def _read_or_error(path: Path) -> AngleFile | FormatError:
    try:
        return read_mot(path)
    except FormatError as error:
        return error


@st.composite
def mot_tables(draw: st.DrawFn) -> tuple[list[str], np.ndarray]:
    """A random .mot text (tabs, runs of spaces) and the numbers it holds."""
    n = draw(st.integers(1, 20))
    k = draw(st.integers(1, 6))
    finite = st.floats(allow_nan=False, allow_infinity=False)
    values = np.array(draw(st.lists(finite, min_size=n * k, max_size=n * k))).reshape(n, k)
    steps = np.array(draw(st.lists(st.floats(1e-6, 1e3), min_size=n, max_size=n)))
    t_s = draw(st.floats(-1e3, 1e3)) + np.cumsum(steps)
    table = np.column_stack([t_s, values])
    gap = st.sampled_from(["\t", " ", "  ", " \t", "\t\t "])
    lines = ["inDegrees=yes", "endheader"]
    names = ["time", *[f"q{i}" for i in range(k)]]
    lines.append("".join(name + draw(gap) for name in names).rstrip())
    for row in table.tolist():
        fmt = draw(st.sampled_from(["{!r}", "{:.17e}", "{:.17g}"]))
        lines.append(draw(gap).lstrip("\t") + "".join(fmt.format(x) + draw(gap) for x in row))
    return lines, table


@given(mot_tables())
@settings(max_examples=150)
def test_random_tables_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[list[str], np.ndarray]
) -> None:
    lines, table = case
    angles = read_mot(_write(tmp_path_factory.mktemp("mot"), lines))
    np.testing.assert_array_equal(angles.t_s, table[:, 0])
    for i, values in enumerate(angles.columns.values(), start=1):
        np.testing.assert_array_equal(values, table[:, i])


@needs_example
def test_the_opensense_ik_output_parses() -> None:
    angles = read_mot(EXAMPLE_MOT)
    assert angles.in_degrees is True
    assert angles.header["DataType"] == "double"
    for side in "rl":
        for name in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle"):
            assert f"{name}_{side}" in angles.columns
    assert angles.t_s[0] == 7.25
    assert angles.t_s[-1] == 15.0
    np.testing.assert_allclose(np.diff(angles.t_s), 0.01, atol=1e-9)
    # ranges in this window stated in ../shared/data/README.md
    hip_rotation = angles.columns["hip_rotation_r"]
    assert hip_rotation.min() == pytest.approx(-33.8, abs=0.05)
    assert hip_rotation.max() == pytest.approx(13.7, abs=0.05)
    knee = angles.columns["knee_angle_r"]
    assert knee.min() == pytest.approx(0.0, abs=0.5)
    assert knee.max() == pytest.approx(60.0, abs=0.5)


@needs_example
def test_the_ik_values_match_the_text() -> None:
    angles = read_mot(EXAMPLE_MOT)
    lines = EXAMPLE_MOT.read_text(encoding="utf-8").splitlines()
    start = lines.index("endheader") + 1
    names = lines[start].split("\t")
    assert ["time", *angles.columns] == names
    assert angles.t_s.size == len(lines) - start - 1
    for row in (0, 400, angles.t_s.size - 1):
        fields = [float(x) for x in lines[start + 1 + row].split("\t")]
        assert angles.t_s[row] == fields[0]
        for name, value in zip(names[1:], fields[1:], strict=True):
            assert angles.columns[name][row] == value
