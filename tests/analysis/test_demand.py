"""The demand data file: the shipped file, round trips of drawn rows, errors that name the row."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.analysis import (
    DEMAND_STATUSES,
    EXERCISE_IDS,
    DemandFileError,
    DemandLimb,
    load_demand,
)
from coxa.analysis._demand import DEMAND_FORMAT_VERSION, DEMAND_LIMBS, parse_demand

TomlValue = str | float | list[float]


def _toml(rows: list[dict[str, TomlValue]], version: object = 1) -> str:
    """A small TOML writer for the row tables (strings, numbers, number pairs)."""

    def value(v: TomlValue) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(repr(float(x)) for x in v) + "]"
        return repr(float(v))

    lines = [f"version = {version}", ""]
    for row in rows:
        lines += ["# a comment line", "[[row]]", *(f"{k} = {value(v)}" for k, v in row.items())]
        lines.append("")
    return "\n".join(lines)


def _header_lines(text: str) -> list[int]:
    """1-based lines of the ``[[row]]`` headers."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if line == "[[row]]"]


def _row(exercise: str = "squat", limb: str = "lead", **extra: TomlValue) -> dict[str, TomlValue]:
    row: dict[str, TomlValue] = {
        "exercise": exercise,
        "limb": limb,
        "status": "assumption",
        "mean_deg": 10.0,
        "reference": "test row",
    }
    row.update(extra)
    return row


def test_shipped_file_loads_and_every_row_has_a_status() -> None:
    table = load_demand()
    assert table.version == DEMAND_FORMAT_VERSION
    assert table.rows
    for row in table.rows:
        assert row.status in DEMAND_STATUSES
        assert row.reference.strip()
        assert row.has_mean == (row.status != "not found"), row.source
        if row.status == "source":
            assert row.doi, f"{row.source}: a sourced row needs its DOI"
    # Every exercise the analysis knows has a row for its lead leg.
    for exercise in EXERCISE_IDS:
        assert table.lookup(exercise, "lead") is not None, exercise


def test_shipped_file_holds_the_sourced_single_leg_squat_values() -> None:
    """The one sourced row of the domain notes (section 6), by population."""
    table = load_demand()
    men = table.lookup("single_leg_squat", "lead", "men")
    women = table.lookup("single_leg_squat", "lead", "women")
    assert men is not None
    assert women is not None
    assert (men.mean_deg, men.sd_deg) == (-1.8, 5.7)
    assert (women.mean_deg, women.sd_deg) == (3.0, 7.3)
    assert men.excursion_deg == (11.0, 13.0)
    assert men.doi == "10.1186/s12891-015-0739-3"
    # Two populations and no 'all' row: no choice without a population.
    assert table.lookup("single_leg_squat", "lead") is None
    step = table.lookup("step-up", "lead")
    assert step is not None
    assert step.status == "not found"
    assert step.hip_flexion_deg == (66.0, 93.0)
    assert step.hip_flexion_status == "source"


finite_deg = st.floats(-80.0, 80.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    mean=finite_deg,
    sd=st.floats(0.0, 40.0),
    flexion=st.lists(st.floats(-20.0, 140.0), min_size=2, max_size=2).map(sorted),
    status=st.sampled_from(["source", "derived", "assumption"]),
    exercise=st.sampled_from([*EXERCISE_IDS, "new_drill"]),
    limb=st.sampled_from(DEMAND_LIMBS),
)
def test_drawn_row_round_trips(
    mean: float, sd: float, flexion: list[float], status: str, exercise: str, limb: DemandLimb
) -> None:
    text = _toml(
        [
            _row(
                exercise.replace("_", "-") if exercise == "step_up" else exercise,
                limb,
                status=status,
                mean_deg=mean,
                sd_deg=sd,
                hip_flexion_deg=flexion,
                population="women",
            )
        ]
    )
    table = parse_demand(text, "mine.toml")
    (row,) = table.rows
    assert row.exercise == exercise
    assert (row.limb, row.status, row.population) == (limb, status, "women")
    assert (row.mean_deg, row.sd_deg) == (mean, sd)
    assert row.hip_flexion_deg == tuple(flexion)
    assert table.lookup(exercise, limb, "women") is row
    assert table.lookup(exercise, limb, "men") is None
    assert row.source == f"mine.toml line {_header_lines(text)[0]} (row 1)"


BAD_ROWS: list[tuple[dict[str, TomlValue], str]] = [
    ({"status": "published"}, "status must be one of"),
    ({"mean_rad": 0.2}, "degrees"),
    ({"mean": 5.0}, "degrees"),
    ({"mean_deg": 120.0}, "outside"),
    ({"sd_deg": -1.0}, "outside"),
    ({"hip_flexion_deg": [90.0, 60.0]}, "reversed"),
    ({"hip_flexion_deg": "ninety"}, "hip_flexion_deg"),
    ({"limb": "front"}, "limb must be"),
    ({"colour": "red"}, "unknown key"),
    ({"status": "not found"}, "no mean_deg"),
    ({"exercise": "Split Squat"}, "lower-case"),
    ({"reference": ""}, "reference"),
    ({"hip_flexion_status": "source"}, "without hip_flexion_deg"),
]


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(1, 6),
    data=st.data(),
    bad=st.sampled_from(BAD_ROWS),
)
def test_errors_name_the_file_line_and_row(
    n_rows: int, data: st.DataObject, bad: tuple[dict[str, TomlValue], str]
) -> None:
    broken = data.draw(st.integers(0, n_rows - 1), label="broken row")
    rows = [_row(f"drill_{i}") for i in range(n_rows)]
    change, expected = bad
    rows[broken].update(change)
    text = _toml(rows)
    header_lines = _header_lines(text)
    with pytest.raises(DemandFileError) as caught:
        parse_demand(text, "user/demand.toml")
    message = str(caught.value)
    assert message.startswith(f"user/demand.toml line {header_lines[broken]} (row {broken + 1})")
    assert expected in message


def test_missing_keys_are_named() -> None:
    for key in ("exercise", "limb", "status", "reference"):
        row = _row()
        del row[key]
        with pytest.raises(DemandFileError, match=rf"row 1\): missing key '{key}'"):
            parse_demand(_toml([row]), "d.toml")
    row = _row()
    del row["mean_deg"]
    with pytest.raises(DemandFileError, match="needs mean_deg"):
        parse_demand(_toml([row]), "d.toml")


def test_file_level_errors() -> None:
    with pytest.raises(DemandFileError, match=r"^d\.toml: needs a top-level integer `version`"):
        parse_demand(_toml([_row()], version='"one"'), "d.toml")
    with pytest.raises(DemandFileError, match="newer than this coxa reads"):
        parse_demand(_toml([_row()], version=DEMAND_FORMAT_VERSION + 1), "d.toml")
    with pytest.raises(DemandFileError, match=r"^d\.toml: not valid TOML"):
        parse_demand("version = 1\n[[row]\n", "d.toml")
    with pytest.raises(DemandFileError, match="unknown top-level keys"):
        parse_demand("version = 1\nrows = 3\n", "d.toml")
    text = _toml([_row(), _row(sd_deg=3.0)])
    second = _header_lines(text)[1]
    with pytest.raises(
        DemandFileError, match=rf"line {second} \(row 2\): a second row .*first at d"
    ):
        parse_demand(text, "d.toml")


def test_user_file_by_path(tmp_path: Path) -> None:
    path = tmp_path / "demand.toml"
    path.write_text(_toml([_row("squat", "lead", mean_deg=12.5, status="derived")]))
    table = load_demand(path)
    row = table.lookup("squat", "lead")
    assert row is not None
    assert row.mean_deg == 12.5
    assert row.source == f"{path} line {_header_lines(path.read_text())[0]} (row 1)"
    assert math.isnan(row.sd_deg)
    with pytest.raises(DemandFileError, match="cannot read the demand file"):
        load_demand(tmp_path / "absent.toml")
