"""``coxa scan``, ``coxa rig``, ``coxa live``, ``coxa record``, ``coxa replay`` and
``coxa capture check`` end to end with simulated boards (``--sim``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coxa import wire
from coxa.capture import read_capture, write_sim_capture
from coxa.cli import main
from coxa.sim import MotionParams, RadioParams, RigParams, RigRecording, simulate_rig
from coxa.sources import LinkDecoder, default_sim_rig
from coxa.store import Catalog

_DIGEST = re.compile(r"^angle table: (\d+) rows, sha256 ([0-9a-f]{64})$", re.MULTILINE)


def _digest(out: str) -> tuple[int, str]:
    match = _DIGEST.search(out)
    assert match is not None, out
    return int(match.group(1)), match.group(2)


def test_issue_example_record_check_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "DIR"
    args = ["record", "--sim", "--boards", "7", "--duration", "60", "--loss", "0.05"]
    args += ["--disconnects", "3", "--out", str(out_dir), "--athlete", "A01"]
    args += ["--exercise", "squat", "--no-live", "--project", str(tmp_path / "p")]
    args += ["--angles", str(tmp_path / "live.csv")]
    assert main(args) == 0
    recorded = capsys.readouterr().out
    assert "samples lost: 0" in recorded.splitlines()
    rows, digest = _digest(recorded)
    assert rows > 5000
    assert re.search(r"^reps: (\d+)$", recorded, re.MULTILINE)
    [capture] = list(out_dir.glob("*.coxa"))

    assert main(["capture", "check", str(out_dir)]) == 0
    checked = capsys.readouterr().out
    assert "samples lost: 0" in checked.splitlines()
    assert checked.count("0 missing") == 7

    angles = tmp_path / "replay.csv"
    assert main(["replay", str(capture), "--no-live", "--angles", str(angles)]) == 0
    assert _digest(capsys.readouterr().out) == (rows, digest)
    assert angles.read_bytes() == (tmp_path / "live.csv").read_bytes()

    with Catalog.in_project(tmp_path / "p") as catalog:
        [entry] = catalog.captures()
    assert (entry.athlete, entry.exercise, entry.status, entry.samples_lost) == (
        "A01",
        "squat",
        "complete",
        0,
    )
    assert entry.path == str(capture.resolve())


def test_rigs_scan_live_and_env_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COXA_PROJECT", str(tmp_path / "env-project"))
    expected = default_sim_rig(4, 3)
    assert main(["scan", "--sim", "--boards", "4", "--seed", "3"]) == 0
    scanned = capsys.readouterr().out
    assert all(f"id {b:5d}" in scanned for b in expected)
    assert "cxTR" in scanned  # the advertised name of the right thigh
    spare = list(expected)[1]
    create = ["rig", "create", "legs", "--sim", "--boards", "4", "--seed", "3"]
    assert main([*create, "--assign", f"{spare}=unassigned"]) == 0
    assert main(create) == 2  # the name is taken
    assert "exists" in capsys.readouterr().err
    assert main(["rig", "list"]) == 0
    assert "legs  (sim, 4 boards" in capsys.readouterr().out
    assert main(["rig", "show", "legs"]) == 0
    shown = capsys.readouterr().out
    assert f"{spare:5d}  extra (not fused)" in shown
    assert (tmp_path / "env-project" / "catalog.sqlite").exists()

    # A live session of the rig (the rig's boards, its unassigned board recorded but not fused).
    assert main(["live", "--sim", "--rig", "legs", "--duration", "8", "--no-live"]) == 0
    live = capsys.readouterr().out
    assert "samples lost: 0" in live
    assert all(f"{b:5d}" in live for b in expected)

    out_dir = tmp_path / "caps"
    record = ["record", "--sim", "--rig", "legs", "--duration", "6", "--athlete", "Z"]
    assert main([*record, "--exercise", "step_up", "--out", str(out_dir), "--no-live"]) == 0
    [capture] = list(out_dir.glob("Z_step_up_*.coxa"))
    metadata = read_capture(capture).metadata
    assert metadata["rig_name"] == "legs"
    assert {int(b) for b in metadata["rig"]} | set(metadata["extra_boards"]) == set(expected)
    assert metadata["extra_boards"] == [spare]

    assert main(["rig", "delete", "legs"]) == 0
    assert main(["rig", "show", "legs"]) == 2


def test_lost_samples_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A capture with holes (a simulated session recorded without any backfill).
    recording = simulate_rig(
        RigParams(
            motion=MotionParams(reps=1),
            segments=("femur_r", "tibia_r"),
            radio=RadioParams.lossy(0.1),
            seed=2,
        )
    )
    lossy = tmp_path / "lossy.coxa"
    write_sim_capture(lossy, recording)
    sent = {b: sum(f[14] for f in out.frames) for b, out in recording.outputs.items()}
    assert main(["capture", "check", str(lossy)]) == 1
    out = capsys.readouterr().out
    found = [int(n) for n in re.findall(r": (\d+) samples,", out)]
    missing = int(re.findall(r"^samples lost: (\d+)$", out, re.MULTILINE)[0])
    assert 0 < missing == sum(sent.values()) - sum(found) - _lost_at_the_ends(recording)

    not_capture = tmp_path / "notes.coxa"
    not_capture.write_text("hello")
    assert main(["capture", "check", str(not_capture)]) == 2
    assert "not a coxa capture" in capsys.readouterr().err
    assert main(["capture", "check", str(tmp_path / "missing")]) == 2
    assert main(["replay", str(not_capture), "--no-live"]) == 2
    assert (
        main(["record", "--athlete", "A", "--exercise", "squat", "--project", str(tmp_path)]) == 2
    )
    assert "--sim" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["record", "--sim", "--loss", "1.5", "--athlete", "A", "--exercise", "squat"])


def _lost_at_the_ends(recording: RigRecording) -> int:
    """Samples of frames lost before a board's first or after its last delivered frame (not
    visible in a capture)."""
    total = 0
    for board_id, output in recording.outputs.items():
        link = LinkDecoder(board_id)
        seqs = [
            f.frame.seq0
            for p in recording.packets
            if p.board_id == board_id and (f := link.push(p.t_rx_us, p.packet)) is not None
        ]
        frames = [wire.decode_data_frame(f) for f in output.frames]
        first = next(i for i, f in enumerate(frames) if f.seq0 == seqs[0])
        last = next(i for i, f in enumerate(frames) if f.seq0 == seqs[-1])
        total += sum(f.count for f in frames[:first]) + sum(f.count for f in frames[last + 1 :])
    return total
