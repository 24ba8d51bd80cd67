"""``coxa record``/``coxa replay``/``coxa live`` count the reps of the session's exercise and
show each rep with its findings (against the athlete's capacity stored in the catalog); a
replay reads the exercise from the capture and prints the live run's reps and findings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coxa.capture import read_capture
from coxa.cli import main
from coxa.store import Catalog


def _store_capacity(project: Path, athlete: str, ir_deg: float) -> None:
    """Prone and seated hip IR of ``ir_deg`` on both sides."""
    with Catalog.in_project(project) as catalog:
        for side in ("r", "l"):
            for test, flexion in (("prone-ir", 0.0), ("seated-ir", 90.0)):
                catalog.add_assessment(
                    athlete=athlete,
                    test=test,
                    side=side,
                    measured_wall_ns=1_700_000_000 * 10**9,
                    trials_deg=(ir_deg,) * 3,
                    mean_deg=ir_deg,
                    sd_deg=0.0,
                    hip_flexion_deg=flexion,
                    hip_reference="pelvis",
                )


def _summary(out: str) -> list[str]:
    """The summary from 'exercise:' to the angle table's digest."""
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("exercise: ")))
    end = lines.index(next(line for line in lines if line.startswith("angle table: ")))
    return lines[start : end + 1]


def test_record_then_replay_show_the_same_reps_and_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    _store_capacity(project, "T1", 0.0)  # the simulated reps reach about 10 deg: at capacity
    out_dir = tmp_path / "caps"
    args = ["record", "--sim", "--exercise", "split-squat", "--athlete", "T1", "--no-live"]
    args += ["--project", str(project), "--out", str(out_dir), "--seed", "3", "--loss", "0.03"]
    assert main(args) == 0
    recorded = capsys.readouterr().out
    assert "capacity of T1, right hip: prone_ir 0.0 deg" in recorded
    summary = _summary(recorded)
    assert summary[0] == "exercise: split_squat"
    reps = int(re.findall(r"^reps: (\d+)$", recorded, re.MULTILINE)[0])
    assert reps == 5  # one simulated set
    assert re.search(r"^\s+1\s+right\s.*at_capacity", recorded, re.MULTILINE)
    assert re.search(r"^  at_capacity: Rep 1, ", recorded, re.MULTILINE)
    # The comparison across sets needs sets led by either leg: this session has one.
    assert summary[-3:-1] == [
        "across reps and sets: 0 findings:",
        "  (set_asymmetry, split_squat: not compared: 5 reps led by the right leg and 0 led by "
        "the left with a value; at least 3 on each side are needed)",
    ]
    [capture] = list(out_dir.glob("T1_split_squat_*.coxa"))
    assert read_capture(capture).metadata["exercise"] == "split_squat"

    replay = ["replay", str(capture), "--no-live", "--athlete", "T1", "--project", str(project)]
    assert main(replay) == 0
    assert _summary(capsys.readouterr().out) == summary
    # Without the athlete: the same reps, no capacity findings, and it says so.
    assert main(["replay", str(capture), "--no-live"]) == 0
    bare = capsys.readouterr().out
    assert "no capacity: no --athlete given" in bare
    assert not re.search(r"^  at_capacity: ", bare, re.MULTILINE)
    assert re.findall(r"^reps: (\d+)$", bare, re.MULTILINE) == [str(reps)]


def test_live_readout_shows_each_rep_with_its_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    _store_capacity(project, "T2", 0.0)
    args = ["live", "--sim", "--exercise", "split-squat", "--speed", "100", "--athlete", "T2"]
    assert main([*args, "--project", str(project)]) == 0
    out = capsys.readouterr().out
    blocks = re.findall(r"^rep (\d+) \(split_squat, [\d.]+ s\)$", out, re.MULTILINE)
    assert blocks == ["1", "2", "3", "4", "5"]  # each rep once, as it completes
    assert re.search(r"^  right lead  knee .* hip IR ", out, re.MULTILINE)
    assert re.search(r"^  ! at_capacity: Rep 1, ", out, re.MULTILINE)
    assert "reps: 5" in out.splitlines()
    assert "across reps and sets: 0 findings:" in out.splitlines()  # the final summary


def test_a_clinical_test_or_free_name_is_recorded_without_rep_counting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "caps"
    args = ["record", "--sim", "--exercise", "prone-ir", "--athlete", "T3", "--no-live"]
    args += ["--project", str(tmp_path / "p"), "--out", str(out_dir), "--duration", "12"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "exercise 'prone_ir' is not one the rep analysis knows" in out
    assert "no rep counting" in out
    assert not re.search(r"^reps: ", out, re.MULTILINE)
    [capture] = list(out_dir.glob("T3_prone_ir_*.coxa"))
    assert main(["replay", str(capture), "--no-live"]) == 0
    assert "no rep counting" in capsys.readouterr().out


def test_live_refuses_an_unknown_exercise(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["live", "--sim", "--exercise", "lunge", "--no-live"])
    assert exited.value.code == 2
    assert "known: squat, split-squat" in capsys.readouterr().err
