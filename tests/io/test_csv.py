"""The angles CSV: exact layout, round trips with NaN, writer and reader errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import ArrayLike

from coxa.io import AngleFile, FormatError, read_angles_csv, write_angles_csv
from tests.io.strategies import damaged

#: Largest relative rounding of 6 significant digits (half a unit in the 6th digit).
SIX_DIGITS_RTOL = 5e-6


def test_layout_of_a_small_file() -> None:
    out = io.StringIO()
    write_angles_csv(
        out,
        [0.0, 0.01, 0.025],
        {
            "hip_rotation_r": [12.345678, np.nan, -0.000123456789],
            "knee_angle_r": [90.0, 1234567.0, -0.0],
        },
    )
    assert out.getvalue() == (
        "time,hip_rotation_r,knee_angle_r\n"
        "0.0,12.3457,90\n"
        "0.01,,1.23457e+06\n"
        "0.025,-0.000123457,-0\n"
    )


def test_columns_choose_and_order_what_is_written(tmp_path: Path) -> None:
    path = tmp_path / "angles.csv"
    angles = {"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]}
    write_angles_csv(path, [1.0, 2.0], angles, columns=["c", "a"])
    assert path.read_text(encoding="utf-8").splitlines() == ["time,c,a", "1.0,5,1", "2.0,6,2"]
    back = read_angles_csv(path)
    assert list(back.columns) == ["c", "a"]
    assert back.in_degrees is True


@st.composite
def angle_tables(draw: st.DrawFn) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    n = draw(st.integers(0, 30))
    names = draw(
        st.lists(
            st.text("abcdefghijklmnopqrstuvwxyz_ÄΩ0123456789 ", min_size=1, max_size=12).filter(
                lambda name: name != "time" and name.strip() == name
            ),
            max_size=5,
            unique=True,
        )
    )
    steps = np.array(draw(st.lists(st.floats(1e-9, 1e3), min_size=n, max_size=n)))
    t_s = draw(st.floats(-1e5, 1e5)) + np.cumsum(steps)
    angle = st.one_of(
        st.floats(-1e6, 1e6),
        st.just(float("nan")),
        st.floats(-1e-3, 1e-3),
    )
    angles = {
        name: np.array(draw(st.lists(angle, min_size=n, max_size=n)), dtype=float) for name in names
    }
    return t_s, angles


@given(angle_tables())
@settings(max_examples=200)
def test_write_then_read_round_trips(case: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
    t_s, angles = case
    buffer = io.StringIO()
    write_angles_csv(buffer, t_s, angles)
    buffer.seek(0)
    back = read_angles_csv(buffer)
    np.testing.assert_array_equal(back.t_s, t_s)
    assert list(back.columns) == list(angles)
    for name, values in angles.items():
        read = back.columns[name]
        np.testing.assert_array_equal(np.isnan(read), np.isnan(values))
        known = ~np.isnan(values)
        np.testing.assert_allclose(read[known], values[known], rtol=SIX_DIGITS_RTOL, atol=0)


@pytest.mark.parametrize(
    ("t_s", "angles", "columns", "words"),
    [
        ([[0.0]], {"a": [1.0]}, None, "1-D"),
        ([0.0, 0.0], {"a": [1.0, 2.0]}, None, "increasing"),
        ([0.0, np.inf], {"a": [1.0, 2.0]}, None, "finite"),
        ([0.0], {"a": [np.inf]}, None, "infinite"),
        ([0.0], {"a": [1.0, 2.0]}, None, "shape"),
        ([0.0], {"a": [1.0]}, ["b"], "not in angles_deg"),
        ([0.0], {"a": [1.0]}, ["a", "a"], "repeated"),
        ([0.0], {"a,b": [1.0]}, None, "comma"),
        ([0.0], {'a"': [1.0]}, None, "quote"),
        ([0.0], {"a\nb": [1.0]}, None, "line end"),
        ([0.0], {"time": [1.0]}, None, "'time'"),
        ([0.0], {"": [1.0]}, None, "empty"),
        ([0.0], {" a": [1.0]}, None, "whitespace"),
    ],
)
def test_writer_rejects_bad_input(
    tmp_path: Path,
    t_s: ArrayLike,
    angles: dict[str, ArrayLike],
    columns: list[str] | None,
    words: str,
) -> None:
    with pytest.raises(ValueError, match=words):
        write_angles_csv(tmp_path / "bad.csv", t_s, angles, columns)
    assert not (tmp_path / "bad.csv").exists()


VALID = ["time,hip_rotation_r,knee_angle_r", "0.0,1.5,", "0.01,,2", "0.02,3,4"]


@pytest.mark.parametrize(
    ("lines", "line", "column", "words"),
    [
        ([], None, None, "empty"),
        (["t,a", "0,1"], 1, None, "'time'"),
        (["time,a,a", "0,1,2"], 1, "a", "repeated"),
        (["time,,b", "0,1,2"], 1, None, "empty"),
        ([*VALID[:2], "0.01,2", VALID[3]], 3, None, "2 fields where 3"),
        ([*VALID[:2], "", VALID[3]], 3, None, "1 fields where 3"),
        ([*VALID[:3], "0.02,3,x"], 4, "knee_angle_r", "'x' is not a number"),
        ([*VALID[:3], "0.02,inf,4"], 4, "hip_rotation_r", "infinite"),
        ([*VALID[:3], ",3,4"], 4, "time", "time must be a number"),
        ([*VALID[:3], "0.01,3,4"], 4, "time", "does not increase"),
    ],
)
def test_reader_errors_name_line_and_column(
    tmp_path: Path, lines: list[str], line: int | None, column: str | None, words: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("".join(text + "\n" for text in lines), encoding="utf-8")
    with pytest.raises(FormatError) as caught:
        read_angles_csv(path)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert str(caught.value).startswith(str(path))
    assert words in str(caught.value)


def test_reader_accepts_crlf_and_a_blank_tail(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(("\r\n".join(VALID) + "\r\n\r\n").encode("utf-8"))
    back = read_angles_csv(path)
    np.testing.assert_array_equal(back.t_s, [0.0, 0.01, 0.02])
    np.testing.assert_array_equal(back.columns["hip_rotation_r"], [1.5, np.nan, 3.0])
    np.testing.assert_array_equal(back.columns["knee_angle_r"], [np.nan, 2.0, 4.0])


def test_a_stream_error_names_the_stream() -> None:
    with pytest.raises(FormatError, match=r"^<stream>, line 2"):
        read_angles_csv(io.StringIO("time,a\n0,b\n"))


@given(text=damaged("\n".join(VALID) + "\n"))
@settings(max_examples=300)
def test_damaged_files_parse_or_raise_format_error(text: str) -> None:
    result = _read_or_error(text)
    if isinstance(result, FormatError):
        assert result.line is None or 1 <= result.line <= len(text.splitlines()) + 1
    else:
        assert np.all(np.diff(result.t_s) > 0)
        assert all(not np.isinf(v).any() for v in result.columns.values())


def _read_or_error(text: str) -> AngleFile | FormatError:
    try:
        return read_angles_csv(io.StringIO(text))
    except FormatError as error:
        return error
