"""``coxa demo`` end to end: simulated boards -> wire frames -> pipeline -> summary."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from coxa.cli import main

_ROW = re.compile(
    r"^\s*(\d+)\s+(right|left)\s+[\d.]+\s+([\d.]+)°\s+([+-][\d.]+)°\s+([+-][\d.]+)°"
    r"\s+([+-][\d.]+)\s+(\S.*)$"
)


def _rows(text: str) -> list[tuple[int, str, float, float, float]]:
    rows: list[tuple[int, str, float, float, float]] = []
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            rep, side, _knee, measured, truth, error, _findings = match.groups()
            rows.append((int(rep), side, float(measured), float(truth), float(error)))
    return rows


def _findings_column(text: str) -> dict[tuple[int, str], str]:
    """The findings column of each summary row, by rep and leg."""
    out: dict[tuple[int, str], str] = {}
    for line in text.splitlines():
        match = _ROW.match(line)
        if match:
            out[int(match.group(1)), match.group(2)] = match.group(7)
    return out


def test_issue_example_counts_five_reps_within_two_degrees(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--reps", "5", "--seed", "3", "--no-live"]) == 0
    out = capsys.readouterr().out
    assert "reps: 5" in out.splitlines()
    assert "simulated reps: 5" in out
    rows = _rows(out)
    assert {rep for rep, *_ in rows} == {1, 2, 3, 4, 5}
    assert {side for _, side, *_ in rows} == {"right", "left"}
    for _rep, _side, measured, truth, error in rows:
        assert abs(measured - truth) <= 2.0
        # Both columns are rounded to 0.1 deg, the error column to 0.01 deg.
        assert error == pytest.approx(measured - truth, abs=0.11)


@pytest.mark.parametrize(
    ("exercise", "reps", "seed"),
    [
        ("ffe_split_squat", 4, 1),
        ("step_up", 3, 2),
        ("squat", 2, 9),
        ("crossover-step-up", 2, 1),
        ("split_squat", 2, 4),
        ("hinge", 2, 5),
    ],
)
def test_rep_count_equals_the_simulated_one(
    exercise: str, reps: int, seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["demo", "--exercise", exercise, "--reps", str(reps), "--seed", str(seed), "--no-live"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"reps: {reps}" in out.splitlines()
    assert f"simulated reps: {reps}" in out


def test_summary_lists_each_finding_of_the_legs_it_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The simulated crossover step-up turns the pelvis toward the lead leg in every rep.
    assert main(["demo", "--exercise", "crossover_step_up", "--reps", "2", "--no-live"]) == 0
    out = capsys.readouterr().out
    column = _findings_column(out)
    assert len(column) == 4
    messages = re.findall(r"^  (\w+): Rep (\d+), (right|left)", out, re.MULTILINE)
    assert messages
    for rule, rep, side in messages:
        assert rule in column[int(rep), side].split(", ")
    assert re.search(r"^findings: (\d+)", out, re.MULTILINE)


@pytest.mark.parametrize("exercise", ["90_90", "prone_ir", "rest"])
def test_exercises_the_demo_cannot_calibrate_are_not_offered(
    exercise: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--exercise", exercise, "--no-live"])
    assert "invalid choice" in capsys.readouterr().err


def test_lossy_radio_and_no_pelvis_still_count_and_label_honestly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["demo", "--reps", "3", "--seed", "4", "--no-live", "--loss", "0.05", "--no-pelvis"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "reps: 3" in out.splitlines()
    assert "femoral rot." in out  # no pelvis board: not called hip IR
    assert "hip IR" not in out


def test_duration_cuts_the_session(capsys: pytest.CaptureFixture[str]) -> None:
    # 3 s standing rest + 5 s per rep: after 14 s two reps are complete.
    assert main(["demo", "--reps", "5", "--duration", "14", "--no-live"]) == 0
    out = capsys.readouterr().out
    assert "reps: 2" in out.splitlines()
    assert "simulated reps: 2" in out


def test_bad_arguments_exit_with_a_message() -> None:
    with pytest.raises(SystemExit, match="--loss"):
        main(["demo", "--loss", "0.9", "--no-live"])


def test_console_script_with_live_panel_on_a_pipe() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "coxa.cli", "demo", "--reps", "1", "--speed", "1000"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "calibrating: stand still" in done.stdout
    assert "streaming" in done.stdout
    assert "reps: 1" in done.stdout.splitlines()
