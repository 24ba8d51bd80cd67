"""The BLE paths of the CLI (``coxa scan``, ``coxa rig create``, ``coxa live`` and ``coxa record``
of a BLE rig, then ``coxa capture check``), run in process through :func:`coxa.cli.main` against
simulated boards on the virtual radio (``coxa.sources.virtual``: bumble controllers behind a
bleak backend). Nothing of coxa is replaced: the radio is the only fake, handed to the CLI as
its :class:`coxa.cli.BleEnvironment`.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from coxa import wire
from coxa.capture import LinkKind, read_capture
from coxa.cli import BleEnvironment, main
from coxa.sim import MotionParams, RigParams, simulate_rig
from coxa.sources import BleParams
from coxa.sources.virtual import BoardSamples, VirtualBoard, VirtualRadio, board_samples
from coxa.store import Catalog, RigBoard

#: Quick reconnection for tests (the defaults suit a real radio).
FAST = BleParams(
    backoff_initial_s=0.05,
    backoff_max_s=0.4,
    connect_timeout_s=3.0,
    status_interval_s=0.25,
    backfill_retry_s=0.3,
)

#: Scan time of every command, s (the virtual boards advertise every 20 ms).
SCAN = ["--timeout", "1"]


@functools.cache
def _samples() -> dict[str, BoardSamples]:
    """A right thigh, a right shank and a left thigh: about 16 s of two squats at 200 Hz."""
    recording = simulate_rig(
        RigParams(motion=MotionParams(reps=2), segments=("femur_r", "tibia_r", "femur_l"), seed=4)
    )
    by_id = {s.board_id: s for s in board_samples(recording)}
    return {segment: by_id[b] for b, segment in recording.segments_by_board.items()}


@dataclass
class Air:
    """A virtual radio with a rig's boards on, and the CLI's environment for it."""

    runner: asyncio.Runner
    radio: VirtualRadio
    thigh: VirtualBoard
    shank: VirtualBoard
    env: BleEnvironment

    def stranger(self) -> VirtualBoard:
        """Power on a third board (a left thigh) that is not in any rig."""

        async def power_on() -> VirtualBoard:
            board = self.radio.add_board(_samples()["femur_l"])  # bumble needs the loop
            await board.start()
            return board

        return self.runner.run(power_on())


@pytest.fixture
def air() -> Iterator[Air]:
    async def start() -> tuple[VirtualRadio, VirtualBoard, VirtualBoard]:
        radio = VirtualRadio()
        thigh = radio.add_board(_samples()["femur_r"])
        shank = radio.add_board(_samples()["tibia_r"])
        await radio.start()
        return radio, thigh, shank

    with asyncio.Runner() as runner:
        radio, thigh, shank = runner.run(start())
        env = BleEnvironment(backend=radio.backend, params=FAST, connect_wait_s=15.0, loop=runner)
        try:
            yield Air(runner, radio, thigh, shank, env)
        finally:
            runner.run(radio.stop())


def _project(tmp_path: Path) -> list[str]:
    return ["--project", str(tmp_path / "project")]


def test_scan_and_interactive_rig_create(
    air: Air, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = air.stranger()
    boards = (air.thigh, air.shank, stranger)
    assert main(["scan", *SCAN], ble=air.env) == 0
    scanned = capsys.readouterr().out
    assert "3 boards" in scanned.splitlines()
    for board in boards:
        assert wire.board_name(board.board_id, board.placement) in scanned
        assert f"id {board.board_id:5d}" in scanned
        assert board.address in scanned

    # The list is numbered by signal, then board id (the virtual radio's RSSI is constant).
    number = {b.board_id: i for i, b in enumerate(sorted(boards, key=lambda b: b.board_id), 1)}
    answers = [
        f"{number[air.shank.board_id]}, {number[air.thigh.board_id]}",
        "shank_r",  # the shank blinks first (the order chosen): a placement name is accepted
        "",  # the thigh keeps the segment it advertises
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(answers) + "\n"))
    assert main(["rig", "create", "lab", *SCAN, *_project(tmp_path)], ble=air.env) == 0
    created = capsys.readouterr().out
    assert f"board {air.shank.board_id} is blinking" in created
    assert "rig 'lab' created (ble, 2 boards)" in created

    assert air.thigh.identify_count == air.shank.identify_count == 1
    assert air.thigh.bonded
    assert air.shank.bonded
    assert (stranger.connections, stranger.identify_count, stranger.bonded) == (0, 0, False)
    with Catalog.in_project(tmp_path / "project") as catalog:
        rig = catalog.rig("lab")
        bonds = catalog.bonds()
    assert rig.link == "ble"
    assert list(rig.boards) == [
        RigBoard(air.shank.board_id, "tibia_r", address=air.shank.address),
        RigBoard(air.thigh.board_id, "femur_r", address=air.thigh.address),
    ]
    assert {(b.board_id, b.address) for b in bonds} == {
        (air.thigh.board_id, air.thigh.address),
        (air.shank.board_id, air.shank.address),
    }
    assert main(["rig", "show", "lab", *_project(tmp_path)]) == 0
    assert capsys.readouterr().out.count("bonded") == 2

    # A bad answer is refused before anything is paired.
    monkeypatch.setattr("sys.stdin", io.StringIO("0,9\n"))
    assert main(["rig", "create", "other", *SCAN, *_project(tmp_path)], ble=air.env) == 2
    assert "not a choice of boards" in capsys.readouterr().err
    # Two boards on one segment: refused at the second answer.
    both = f"{number[air.thigh.board_id]},{number[air.shank.board_id]}"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{both}\nfemur_r\nthigh_r\n"))
    assert main(["rig", "create", "other", *SCAN, *_project(tmp_path)], ble=air.env) == 2
    assert f"segment femur_r is taken by board {air.thigh.board_id}" in capsys.readouterr().err
    with Catalog.in_project(tmp_path / "project") as catalog:
        assert [r.name for r in catalog.rigs()] == ["lab"]
    assert not stranger.bonded


def test_record_a_ble_rig_then_check_the_capture(
    air: Air, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    assert main(["rig", "create", "lab", "--yes", *SCAN, *project], ble=air.env) == 0
    capsys.readouterr()
    stranger = air.stranger()  # on air during the sessions, not in the rig

    assert (
        main(["live", "--rig", "lab", "--duration", "1.5", "--no-live", *project], ble=air.env) == 0
    )
    live = capsys.readouterr().out
    assert "samples lost: 0" in live.splitlines()

    out_dir = tmp_path / "captures"
    record = ["record", "--rig", "lab", "--duration", "3", "--no-live", "--out", str(out_dir)]
    assert main([*record, "--athlete", "A01", "--exercise", "squat", *project], ble=air.env) == 0
    recorded = capsys.readouterr().out
    assert "samples lost: 0" in recorded.splitlines()
    assert "failed connection attempts" not in recorded
    [capture] = list(out_dir.glob("A01_squat_*.coxa"))

    assert main(["capture", "check", str(out_dir)]) == 0
    checked = capsys.readouterr().out
    assert "samples lost: 0" in checked.splitlines()
    found = {
        int(m.group(1)): int(m.group(2))
        for m in re.finditer(r"^  board (\d+): (\d+) samples, .*, 0 missing", checked, re.M)
    }
    assert set(found) == {air.thigh.board_id, air.shank.board_id}
    assert all(n > 450 for n in found.values()), found  # 3 s at 200 Hz

    contents = read_capture(capture)
    assert contents.report.clean
    assert contents.metadata["rig_name"] == "lab"
    assert contents.metadata["link_kind"] == "ble"
    assert contents.metadata["rig"] == {
        str(air.thigh.board_id): "femur_r",
        str(air.shank.board_id): "tibia_r",
    }
    assert {r.link_id for r in contents.records} == {air.thigh.board_id, air.shank.board_id}
    assert {r.kind for r in contents.records} == {LinkKind.BLE}
    # The board that is not in the rig was never connected: nothing of it in the capture.
    assert stranger.connections == 0

    with Catalog.in_project(tmp_path / "project") as catalog:
        [entry] = catalog.captures()
    assert (entry.rig, entry.status, entry.samples_lost) == ("lab", "complete", 0)


def test_a_board_not_of_the_rig_at_a_rig_address_is_refused_and_counted(
    air: Air, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stranger = air.stranger()
    impostor_id = 0x7777
    with Catalog.in_project(tmp_path / "project") as catalog:
        # The rig's shank was swapped for another board at the same address.
        catalog.create_rig(
            "swapped",
            "ble",
            [
                RigBoard(air.thigh.board_id, "femur_r", address=air.thigh.address),
                RigBoard(impostor_id, "tibia_r", address=stranger.address),
            ],
        )
    out_dir = tmp_path / "captures"
    record = ["record", "--rig", "swapped", "--duration", "2", "--no-live"]
    record += ["--out", str(out_dir), "--athlete", "A01", "--exercise", "squat"]
    env = replace(air.env, connect_wait_s=8.0)  # the rig's own board streams well before
    assert main([*record, *_project(tmp_path)], ble=env) == 1
    err = capsys.readouterr().err
    assert f"board {impostor_id} (tibia_r) at {stranger.address}: refused" in err
    refused = int(re.findall(rf"board {impostor_id} .*: refused (\d+) times", err)[0])
    assert refused >= 1
    assert f"reports board {stranger.board_id:#06x}" in err
    assert f"board {air.thigh.board_id} " not in err  # the rig's own board was fine
    assert stranger.connections >= refused
    assert not stranger.streaming  # it was never asked to stream
    assert list(out_dir.glob("*.coxa")) == []  # nothing recorded
    with Catalog.in_project(tmp_path / "project") as catalog:
        assert catalog.captures() == []


def test_unreachable_board_and_refused_pairing_are_clear_errors(
    air: Air, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    assert main(["rig", "create", "lab", "--yes", *SCAN, *project], ble=air.env) == 0
    assert main(["rig", "create", "lab", "--yes", *SCAN, *project], ble=air.env) == 2
    assert "exists already" in capsys.readouterr().err

    # The host lost its keys; the boards keep their bonds, so their pairing windows stay shut.
    air.runner.run(air.radio.forget_bond(air.thigh.address))
    assert main(["rig", "create", "again", "--yes", *SCAN, *project], ble=air.env) == 1
    err = capsys.readouterr().err
    assert f"{air.thigh.address}: pairing failed" in err
    assert "press its button to open the pairing window" in err
    assert air.thigh.refused_pairings >= 1

    # The shank is switched off: the session does not start, and says which board is missing.
    air.runner.run(air.shank.stop())
    out_dir = tmp_path / "captures"
    record = ["record", "--rig", "lab", "--duration", "2", "--no-live", "--out", str(out_dir)]
    impatient = replace(air.env, connect_wait_s=4.0)
    assert main([*record, "--athlete", "A", "--exercise", "squat", *project], ble=impatient) == 1
    err = capsys.readouterr().err
    assert "did not start streaming within 4 s" in err
    assert f"board {air.shank.board_id} (tibia_r) at {air.shank.address}: not reachable" in err
    assert "switched on" in err
    assert list(out_dir.glob("*.coxa")) == []

    # Nothing on air at all.
    air.runner.run(air.thigh.stop())
    assert main(["scan", *SCAN], ble=air.env) == 0
    assert "0 boards" in capsys.readouterr().out.splitlines()
    assert main(["rig", "create", "empty", "--yes", *SCAN, *project], ble=air.env) == 1
    assert "no board found" in capsys.readouterr().err
