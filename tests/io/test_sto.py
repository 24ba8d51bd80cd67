"""OpenSense quaternion ``.sto`` files: the real example, round trips, and every error path."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import ArrayLike

from coxa.body import SEGMENTS
from coxa.io import (
    FormatError,
    QuaternionTable,
    read_opensense_sto,
    segment_of_opensense_column,
    write_opensense_sto,
)
from tests.io.strategies import damaged

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT.parent / "shared" / "data" / "opensense_example"
EXAMPLE_STO = EXAMPLE_DIR / "walking_orientations.sto"
needs_example = pytest.mark.skipif(
    not EXAMPLE_STO.is_file(),
    reason=f"OpenSense example not found at {EXAMPLE_STO} (see ../shared/data/README.md)",
)

# A small valid file; tests damage one line and expect the error to name it (1-based).
VALID_LINES = [
    "DataRate=100",  # 1
    "DataType=Quaternion",  # 2
    "version=3",  # 3
    "OpenSimVersion=4.6",  # 4
    "endheader",  # 5
    "time\tpelvis_imu\tfemur_r_imu",  # 6
    "0\t1,0,0,0\t0.5,0.5,0.5,0.5",  # 7
    "0.01\t0,1,0,0\t0.5,-0.5,0.5,0.5",  # 8
    "0.02\t0,0,1,0\t0,0,0,1",  # 9
]


def _write(tmp_path: Path, lines: list[str], name: str = "f.sto") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _replace(number: int, text: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [text if i == number else line for i, line in enumerate(lines, 1)]


def _delete(number: int) -> Callable[[list[str]], list[str]]:
    return lambda lines: [line for i, line in enumerate(lines, 1) if i != number]


def _keep(count: int) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines[:count]


def _insert(before: int, text: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: [*lines[: before - 1], text, *lines[before - 1 :]]


ERROR_CASES = [
    # (id, damage, line, column, words in the message)
    ("no endheader", _delete(5), 8, None, "endheader"),
    ("DataType double", _replace(2, "DataType=double"), 2, None, "DataType=Quaternion"),
    ("no DataType", _delete(2), 4, None, "no DataType"),
    ("no DataRate", _delete(1), 4, None, "no DataRate"),
    ("DataRate text", _replace(1, "DataRate=fast"), 1, None, "DataRate=fast"),
    ("DataRate negative", _replace(1, "DataRate=-100"), 1, None, "positive"),
    ("header key twice", _insert(4, "version=4"), 4, None, "repeated"),
    ("no column names", _keep(5), 5, None, "column names"),
    ("no rows", _keep(6), 6, None, "no data rows"),
    ("time not first", _replace(6, "t\tpelvis_imu\tfemur_r_imu"), 6, None, "'time'"),
    ("column twice", _replace(6, "time\tpelvis_imu\tpelvis_imu"), 6, "pelvis_imu", "repeated"),
    ("empty column name", _replace(6, "time\t\tfemur_r_imu"), 6, None, "empty"),
    ("only time", lambda lines: [*lines[:5], "time", "0", "1"], 6, None, "no IMU columns"),
    ("field missing", _replace(8, "0.01\t0,1,0,0"), 8, None, "2 fields where 3"),
    ("field extra", _replace(8, "0.01\t0,1,0,0\t0,1,0,0\t0,1,0,0"), 8, None, "4 fields"),
    ("blank line", _insert(8, ""), 8, None, "blank line"),
    ("not a number", _replace(8, "0.01\t0,1,0,0\t0.5,-0.5,x,0.5"), 8, "femur_r_imu", "'x'"),
    ("time not a number", _replace(9, "0.0x\t0,0,1,0\t0,0,0,1"), 9, "time", "'0.0x'"),
    ("three numbers", _replace(9, "0.02\t0,0,1\t0,0,0,1"), 9, "pelvis_imu", "3 comma"),
    ("five numbers", _replace(9, "0.02\t0,0,1,0\t0,0,0,1,0"), 9, "femur_r_imu", "5 comma"),
    ("3 and 5 numbers", _replace(9, "0.02\t0,0,1\t0,0,0,0,1"), 9, "pelvis_imu", "3 comma"),
    ("empty number", _replace(7, "0\t1,,0,0\t0.5,0.5,0.5,0.5"), 7, "pelvis_imu", "''"),
    ("NaN", _replace(8, "0.01\tnan,1,0,0\t0.5,-0.5,0.5,0.5"), 8, "pelvis_imu", "NaN"),
    ("infinite time", _replace(9, "inf\t0,0,1,0\t0,0,0,1"), 9, "time", "infinite"),
    ("time repeats", _replace(9, "0.01\t0,0,1,0\t0,0,0,1"), 9, "time", "does not increase"),
    ("time goes back", _replace(8, "-1\t0,1,0,0\t0.5,-0.5,0.5,0.5"), 8, "time", "increase"),
    ("norm large", _replace(8, "0.01\t0,1.2,0,0\t0.5,-0.5,0.5,0.5"), 8, "pelvis_imu", "norm"),
    ("norm small", _replace(9, "0.02\t0,0,1,0\t0,0,0,0.8"), 9, "femur_r_imu", "norm 0.8"),
    ("norm zero", _replace(9, "0.02\t0,0,1,0\t0,0,0,0"), 9, "femur_r_imu", "norm 0"),
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
        read_opensense_sto(path)
    error = caught.value
    assert (error.line, error.column) == (line, column)
    message = str(error)
    assert str(path) in message
    assert f"line {line}" in message
    if column is not None:
        assert repr(column) in message
    assert words in message


def test_format_errors_survive_pickling(tmp_path: Path) -> None:
    path = _write(tmp_path, _replace(8, "0.01\t0,x,0,0\t0,0,0,1")(VALID_LINES))
    with pytest.raises(FormatError) as caught:
        read_opensense_sto(path)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(copy, FormatError)
    assert str(copy) == str(caught.value)
    assert (copy.source, copy.line, copy.column) == (str(path), 8, "pelvis_imu")


def test_the_valid_file_reads(tmp_path: Path) -> None:
    table = read_opensense_sto(_write(tmp_path, VALID_LINES))
    np.testing.assert_array_equal(table.t_s, [0.0, 0.01, 0.02])
    assert list(table.quat_wxyz) == ["pelvis_imu", "femur_r_imu"]
    np.testing.assert_array_equal(table.quat_wxyz["pelvis_imu"], np.eye(4)[:3])
    np.testing.assert_array_equal(table.quat_wxyz["femur_r_imu"][2], [0.0, 0.0, 0.0, 1.0])
    assert table.data_rate_hz == 100.0
    assert table.header["OpenSimVersion"] == "4.6"
    assert set(table.by_segment()) == {"pelvis", "femur_r"}


def test_empty_and_non_utf8_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sto"
    empty.write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        read_opensense_sto(empty)
    latin = tmp_path / "latin.sto"
    latin.write_bytes("\n".join(VALID_LINES[:2]).encode() + b"\nname=caf\xe9\n")
    with pytest.raises(FormatError, match="UTF-8") as caught:
        read_opensense_sto(latin)
    assert caught.value.line == 3


def test_crlf_trailing_whitespace_notes_and_blank_tail_are_accepted(tmp_path: Path) -> None:
    plain = read_opensense_sto(_write(tmp_path, VALID_LINES))
    messy = ["An OpenSense export", *[line + " \t " for line in VALID_LINES], "", "  "]
    path = tmp_path / "crlf.sto"
    path.write_bytes("\r\n".join(messy).encode("utf-8"))
    table = read_opensense_sto(path)
    np.testing.assert_array_equal(table.t_s, plain.t_s)
    for name, quat in plain.quat_wxyz.items():
        np.testing.assert_array_equal(table.quat_wxyz[name], quat)
    assert table.notes == ("An OpenSense export",)
    assert table.header == plain.header


def test_nearly_unit_quaternions_are_normalised(tmp_path: Path) -> None:
    lines = [*VALID_LINES[:6], "0\t0.95,0,0,0\t0,0,0,1.05", "0.01\t0,0.7,0,0.7\t0,0,0,1"]
    table = read_opensense_sto(_write(tmp_path, lines))
    np.testing.assert_allclose(table.quat_wxyz["pelvis_imu"][0], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(table.quat_wxyz["femur_r_imu"][0], [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(table.quat_wxyz["pelvis_imu"][1], [0, 0.5**0.5, 0, 0.5**0.5])


def test_a_rate_that_disagrees_with_the_time_steps_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="coxa.io"):
        read_opensense_sto(_write(tmp_path, VALID_LINES, "ok.sto"))
        assert not caplog.records
        read_opensense_sto(_write(tmp_path, _replace(1, "DataRate=50")(VALID_LINES), "x.sto"))
    assert any("DataRate=50" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("segment", SEGMENTS)
def test_segment_columns_map_to_segments(segment: str) -> None:
    assert segment_of_opensense_column(f"{segment}_imu") == segment


@pytest.mark.parametrize("name", ["torso_imu", "calcn_r_imu", "pelvis", "femur_r", "imu", ""])
def test_other_columns_map_to_nothing(name: str) -> None:
    assert segment_of_opensense_column(name) is None


# ------------------------------------------------------------------------------------------
# round trips
# ------------------------------------------------------------------------------------------

COLUMN_NAMES = [f"{s}_imu" for s in SEGMENTS] + ["torso_imu", "calcn_r_imu", "board-7", "Ä_imu"]


@st.composite
def orientation_tables(draw: st.DrawFn) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    n = draw(st.integers(1, 40))
    names = draw(st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=6, unique=True))
    start_s = draw(st.floats(-1e4, 1e4))
    steps_s = draw(st.lists(st.floats(1e-3, 10.0), min_size=n - 1, max_size=n - 1).map(np.array))
    t_s = start_s + np.concatenate([[0.0], np.cumsum(steps_s)])
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    quats: dict[str, np.ndarray] = {}
    for name in names:
        q = rng.normal(size=(n, 4))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        # off-unit by up to the accepted margin, to exercise normalisation
        quats[name] = q * draw(st.floats(0.91, 1.09))
    rate_hz = draw(st.floats(0.01, 10_000.0))
    return t_s, quats, rate_hz


@given(orientation_tables())
@settings(max_examples=150)
def test_write_then_read_round_trips(
    tmp_path_factory: pytest.TempPathFactory,
    case: tuple[np.ndarray, dict[str, np.ndarray], float],
) -> None:
    t_s, quats, rate_hz = case
    path = tmp_path_factory.mktemp("sto") / "round.sto"
    write_opensense_sto(path, t_s, quats, rate_hz)
    table = read_opensense_sto(path)
    np.testing.assert_array_equal(table.t_s, t_s)
    assert table.data_rate_hz == rate_hz
    assert list(table.quat_wxyz) == list(quats)
    for name, quat in quats.items():
        unit = quat / np.linalg.norm(quat, axis=1, keepdims=True)
        np.testing.assert_allclose(table.quat_wxyz[name], unit, rtol=0, atol=2e-15)
    assert table.header["DataType"] == "Quaternion"


@pytest.mark.parametrize(
    ("t_s", "quats", "rate_hz", "words"),
    [
        ([], {"pelvis_imu": np.zeros((0, 4))}, 100.0, "non-empty"),
        ([[0.0]], {"pelvis_imu": [[1, 0, 0, 0]]}, 100.0, "1-D"),
        ([0.0, 0.0], {"pelvis_imu": [[1, 0, 0, 0]] * 2}, 100.0, "increasing"),
        ([0.0, np.nan], {"pelvis_imu": [[1, 0, 0, 0]] * 2}, 100.0, "finite"),
        ([0.0], {}, 100.0, "empty"),
        ([0.0], {"pelvis_imu": [[1, 0, 0, 0]]}, 0.0, "positive"),
        ([0.0], {"pelvis_imu": [[1, 0, 0, 0]]}, float("nan"), "positive"),
        ([0.0], {"pelvis imu": [[1, 0, 0, 0]]}, 100.0, "whitespace"),
        ([0.0], {"a,b": [[1, 0, 0, 0]]}, 100.0, "comma"),
        ([0.0], {"time": [[1, 0, 0, 0]]}, 100.0, "'time'"),
        ([0.0], {"": [[1, 0, 0, 0]]}, 100.0, "empty"),
        ([0.0], {"pelvis_imu": [[1, 0, 0]]}, 100.0, "shape"),
        ([0.0, 1.0], {"pelvis_imu": [[1, 0, 0, 0]]}, 100.0, "shape"),
        ([0.0], {"pelvis_imu": [[2, 0, 0, 0]]}, 100.0, "norms"),
        ([0.0], {"pelvis_imu": [[np.nan, 0, 0, 0]]}, 100.0, "norms"),
    ],
)
def test_writer_rejects_what_the_reader_would(
    tmp_path: Path, t_s: ArrayLike, quats: dict[str, ArrayLike], rate_hz: float, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        write_opensense_sto(tmp_path / "bad.sto", t_s, quats, rate_hz)
    assert not (tmp_path / "bad.sto").exists()


@given(text=damaged("\n".join(VALID_LINES) + "\n"))
@settings(max_examples=300)
def test_damaged_files_parse_or_raise_format_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("damaged") / "d.sto"
    path.write_bytes(text.encode("utf-8"))
    result = _read_or_error(path)
    if isinstance(result, FormatError):
        assert result.line is None or 1 <= result.line <= len(text.splitlines()) + 1
    else:
        _check_consistent(result)


def _read_or_error(path: Path) -> QuaternionTable | FormatError:
    try:
        return read_opensense_sto(path)
    except FormatError as error:
        return error


def _check_consistent(table: QuaternionTable) -> None:
    assert table.t_s.ndim == 1
    assert np.all(np.diff(table.t_s) > 0)
    for quat in table.quat_wxyz.values():
        assert quat.shape == (table.t_s.size, 4)
        np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1.0, atol=1e-12)


# ------------------------------------------------------------------------------------------
# the real OpenSense example
# ------------------------------------------------------------------------------------------


@needs_example
def test_the_opensense_example_parses() -> None:
    table = read_opensense_sto(EXAMPLE_STO)
    assert list(table.quat_wxyz) == [
        "torso_imu",
        "pelvis_imu",
        "tibia_r_imu",
        "femur_r_imu",
        "tibia_l_imu",
        "femur_l_imu",
        "calcn_r_imu",
        "calcn_l_imu",
    ]
    assert table.data_rate_hz == 100.0
    assert table.header["DataType"] == "Quaternion"
    assert table.header["version"] == "3"
    assert table.header["OpenSimVersion"].startswith("4.6")
    # about 24 s at 100 Hz (data README), one row per line after the 6 header/name lines
    rows = len(EXAMPLE_STO.read_text(encoding="utf-8").splitlines()) - 6
    assert table.t_s.size == rows
    assert table.t_s[0] == 0.0
    assert 23.0 < table.t_s[-1] < 25.0
    np.testing.assert_allclose(np.diff(table.t_s), 0.01, atol=1e-9)
    assert set(table.by_segment()) == set(SEGMENTS)
    _check_consistent(table)


@needs_example
def test_the_example_values_match_the_text() -> None:
    table = read_opensense_sto(EXAMPLE_STO)
    lines = EXAMPLE_STO.read_text(encoding="utf-8").splitlines()
    names = lines[5].split("\t")
    for row in (0, 1234, table.t_s.size - 1):
        fields = lines[6 + row].split("\t")
        assert table.t_s[row] == float(fields[0])
        for name, cell in zip(names[1:], fields[1:], strict=True):
            quat = np.array([float(x) for x in cell.split(",")])
            np.testing.assert_allclose(table.quat_wxyz[name][row], quat, rtol=0, atol=1e-12)
