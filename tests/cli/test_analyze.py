"""``coxa analyze``: simulated sessions written as OpenSense ``.sto`` files and as coxa raw
captures, analysed through the command line and compared with the simulator's truth; bad
files, unusable column subsets, refused calibrations and the atomic output.

Every run goes through :func:`coxa.cli.main` in process, except one run of the installed
``coxa`` command.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from coxa import wire
from coxa.body import SEGMENTS, SegmentName
from coxa.capture import CaptureWriter, LinkKind, read_capture, sim_metadata, write_sim_capture
from coxa.cli import main
from coxa.fusion import AngleTable, FusionCore
from coxa.geometry import FloatArray, Side, quat_from_axis_angle, quat_multiply
from coxa.io import AngleFile, read_angles_csv, write_opensense_sto
from coxa.sim import (
    ImuParams,
    Motion,
    MotionParams,
    MotionState,
    RigParams,
    RigRecording,
    random_mount,
    simulate_rig,
)
from coxa.sources import LinkDecoder

#: Three squats after a 3 s standing rest (19 s).
MOTION = MotionParams(exercise="squat", reps=3, seed=0)
RATE_HZ = 100.0
#: Every board reports in a world of its own, turned about the vertical (deg), as boards
#: without a shared heading reference do.
HEADING_DEG: dict[SegmentName, float] = {
    "pelvis": 40.0,
    "femur_r": -75.0,
    "femur_l": 130.0,
    "tibia_r": 10.0,
    "tibia_l": -160.0,
}
#: Largest error of the joint angles against the truth: exact orientations, straps up to 30 deg
#: off nominal, calibration on the first row (the neutral standing pose), degrees [assumption:
#: "a few degrees"; measured at most 0.6].
STO_TOLERANCE_DEG = 2.0
#: The same for a simulated capture: the boards' own 6D filter with clean IMUs and nominal
#: straps, automatic standing rest, degrees [assumption; measured at most 0.7].
CAPTURE_TOLERANCE_DEG = 2.0
JOINT_ANGLES = tuple(
    f"{name}_{side}"
    for side in ("r", "l")
    for name in ("hip_flexion", "hip_rotation", "knee_angle")
)


@functools.cache
def motion() -> Motion:
    return Motion(MOTION)


@functools.cache
def sto_quats() -> tuple[FloatArray, dict[str, FloatArray]]:
    """Times (s) and the ``<segment>_imu`` columns of the simulated squats, plus a torso column
    that coxa does not model."""
    m = motion()
    t_s = np.arange(int(m.duration_s * RATE_HZ) + 1) / RATE_HZ
    state = m.evaluate(t_s)
    columns: dict[str, FloatArray] = {}
    for segment in SEGMENTS:
        turn = quat_from_axis_angle(np.array([0.0, 0.0, 1.0]), math.radians(HEADING_DEG[segment]))
        sensor = quat_multiply(
            state.quat_world_wxyz(segment), random_mount(segment, seed=5).quat_wxyz
        )
        columns[f"{segment}_imu"] = quat_multiply(turn, sensor)
    columns["torso_imu"] = columns["pelvis_imu"].copy()
    return t_s, columns


def write_sto(path: Path, columns: tuple[str, ...] | None = None, rows: int | None = None) -> Path:
    """The simulated squats as an OpenSense file, with some columns and the first rows only."""
    t_s, quats = sto_quats()
    names = tuple(quats) if columns is None else columns
    n = t_s.size if rows is None else rows
    write_opensense_sto(path, t_s[:n], {name: quats[name][:n] for name in names}, RATE_HZ)
    return path


def truth_deg(state: MotionState, name: str) -> FloatArray:
    joint, side_text = name.rsplit("_", 1)
    side: Side = "r" if side_text == "r" else "l"
    index = {"hip_flexion": 0, "hip_rotation": 2, "knee_angle": 0}[joint]
    angles = state.hip_angles_deg(side) if joint.startswith("hip") else state.knee_angles_deg(side)
    return angles[:, index]


def analyze(*args: str | Path) -> int:
    return main(["analyze", *map(str, args)])


def max_error_deg(result: AngleFile, t_true_s: FloatArray) -> dict[str, float]:
    state = motion().evaluate(t_true_s)
    return {
        name: float(np.nanmax(np.abs(result.columns[name] - truth_deg(state, name))))
        for name in JOINT_ANGLES
    }


# --------------------------------------------------------------------------- OpenSense .sto
def test_sto_round_trip_tracks_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sto = write_sto(tmp_path / "squats.sto")
    out = tmp_path / "angles.csv"
    assert analyze(sto, "--out", out) == 0
    printed = capsys.readouterr().out
    result = read_angles_csv(out)
    t_s, _ = sto_quats()
    # One row per 10 ms from the calibration pose (the first row) to the last sample.
    np.testing.assert_allclose(result.t_s, t_s, atol=1e-9)
    expected = {
        "pelvis_tilt",
        "pelvis_list",
        "pelvis_rotation",
        *(
            f"{name}_{side}"
            for side in ("r", "l")
            for name in (
                "hip_flexion",
                "hip_adduction",
                "hip_rotation",
                "knee_angle",
                "knee_adduction",
                "knee_rotation",
                "shank_rotation",
            )
        ),
    }
    assert set(result.columns) == expected
    for name, error in max_error_deg(result, result.t_s).items():
        assert error < STO_TOLERANCE_DEG, name
    # Something moved: the squats reach deep knee flexion.
    assert np.nanmax(result.columns["knee_angle_r"]) > 60.0
    assert f"rows: {t_s.size}" in printed
    assert "ignored columns: torso_imu" in printed
    # Written through a temporary file, with the permissions a plain open gives, none left over.
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["angles.csv", "squats.sto"]
    assert "first row" in printed
    assert "hip reference: pelvis" in printed


@pytest.mark.parametrize(
    "columns",
    [
        c
        for k in range(1, len(SEGMENTS) + 1)
        for c in itertools.combinations([f"{s}_imu" for s in SEGMENTS], k)
    ],
    ids=lambda c: "+".join(name.removesuffix("_imu") for name in c),
)
def test_any_subset_with_a_thigh_and_shank_pair(
    columns: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every subset of the five columns: analysed (with the angles its segments give) iff it
    holds a thigh and the shank of the same leg; otherwise a clear refusal and no output."""
    segments = {name.removesuffix("_imu") for name in columns}
    legs = [side for side in ("r", "l") if {f"femur_{side}", f"tibia_{side}"} <= segments]
    out = tmp_path / "angles.csv"
    status = analyze(write_sto(tmp_path / "subset.sto", columns), "--out", out)
    captured = capsys.readouterr()
    if not legs:
        assert status == 2
        assert "a thigh and the shank of the same leg are needed" in captured.err
        assert "subset.sto" in captured.err
        assert not out.exists()
        return
    assert status == 0, captured.err
    expected: set[str] = set()
    if "pelvis" in segments:
        expected |= {"pelvis_tilt", "pelvis_list", "pelvis_rotation"}
    for side in ("r", "l"):
        if f"femur_{side}" in segments:
            expected |= {f"hip_flexion_{side}", f"hip_adduction_{side}", f"hip_rotation_{side}"}
    for side in legs:
        expected |= {
            f"knee_angle_{side}",
            f"knee_adduction_{side}",
            f"knee_rotation_{side}",
            f"shank_rotation_{side}",
        }
    result = read_angles_csv(out)
    assert set(result.columns) == expected
    reference = "pelvis" if "pelvis" in segments else "room"
    assert f"hip reference: {reference}" in captured.out
    state = motion().evaluate(result.t_s)
    for side in legs:
        knee = result.columns[f"knee_angle_{side}"] - truth_deg(state, f"knee_angle_{side}")
        assert np.nanmax(np.abs(knee)) < STO_TOLERANCE_DEG


def test_malformed_sto_names_the_line_and_keeps_the_old_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sto = write_sto(tmp_path / "broken.sto")
    lines = sto.read_text().splitlines()
    header_end = lines.index("endheader") + 2  # 1-based line of the column names
    bad_line = header_end + 101
    cells = lines[bad_line - 1].split("\t")
    cells[2] = cells[2].rsplit(",", 1)[0]  # a quaternion with 3 numbers
    lines[bad_line - 1] = "\t".join(cells)
    sto.write_text("\n".join(lines) + "\n")
    out = tmp_path / "angles.csv"
    out.write_text("earlier result\n")
    assert analyze(sto, "--out", out) == 2
    captured = capsys.readouterr()
    assert f"broken.sto, line {bad_line}" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert out.read_text() == "earlier result\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".angles")] == []


def test_missing_file_and_a_non_sto_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "angles.csv"
    assert analyze(tmp_path / "absent.sto", "--out", out) == 2
    assert "cannot read" in capsys.readouterr().err
    mot = tmp_path / "angles.mot"
    mot.write_text("inDegrees=yes\nDataType=double\nendheader\ntime\tknee_angle_r\n0\t1\n")
    assert analyze(mot, "--out", out) == 2
    assert "angles.mot" in capsys.readouterr().err
    assert not out.exists()


def test_no_movement_is_a_refused_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first 2.5 s only (the standing rest): nothing to find the axes from, exit 3."""
    sto = write_sto(tmp_path / "still.sto", rows=250)
    out = tmp_path / "angles.csv"
    assert analyze(sto, "--out", out) == 3
    captured = capsys.readouterr()
    assert "calibration refused" in captured.err
    assert "still.sto" in captured.err
    assert not out.exists()


def test_calibration_time_outside_the_data_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sto = write_sto(tmp_path / "squats.sto")
    out = tmp_path / "angles.csv"
    assert analyze(sto, "--out", out, "--calibration-time", "-2") == 3
    assert "calibration time" in capsys.readouterr().err
    assert analyze(sto, "--out", out, "--calibration-time", "500") == 3
    assert "calibration time 500.00 s" in capsys.readouterr().err
    assert not out.exists()


def test_given_and_automatic_calibration_agree_in_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Inside the initial standing rest every pose is the same neutral pose, so a given time
    there and the automatic rest give the same angles as the first row."""
    sto = write_sto(tmp_path / "squats.sto")
    results: dict[str, AngleFile] = {}
    for label, extra in (
        ("first", []),
        ("given", ["--calibration-time", "1.5"]),
        ("auto", ["--calibration-time", "auto"]),
    ):
        out = tmp_path / f"{label}.csv"
        assert analyze(sto, "--out", out, *extra) == 0
        results[label] = read_angles_csv(out)
    printed = capsys.readouterr().out
    assert "pose at t = 1.500 s (given)" in printed
    assert "automatic" in printed
    first = results["first"]
    for label in ("given", "auto"):
        other = results[label]
        # Rows start at the calibration pose; compare where both have rows.
        common, mine, theirs = np.intersect1d(
            np.round(first.t_s * 100), np.round(other.t_s * 100), return_indices=True
        )
        assert common.size > 1000
        for name in JOINT_ANGLES:
            np.testing.assert_allclose(
                other.columns[name][theirs], first.columns[name][mine], atol=0.5, err_msg=name
            )


def test_segments_option_is_for_captures_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sto = write_sto(tmp_path / "squats.sto")
    assert analyze(sto, "--out", tmp_path / "a.csv", "--segments", "1=femur_r") == 2
    assert "--segments applies to captures only" in capsys.readouterr().err


def test_output_may_not_replace_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sto = write_sto(tmp_path / "squats.sto")
    before = sto.read_bytes()
    assert analyze(sto, "--out", sto) == 2
    assert "is the input file itself" in capsys.readouterr().err
    assert sto.read_bytes() == before


def test_unwritable_output_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sto = write_sto(tmp_path / "squats.sto")
    assert analyze(sto, "--out", tmp_path / "no such folder" / "a.csv") == 1
    assert "cannot write" in capsys.readouterr().err


def test_an_internal_error_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: FusionCore) -> AngleTable:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(FusionCore, "finish", broken)
    sto = write_sto(tmp_path / "squats.sto")
    out = tmp_path / "angles.csv"
    assert analyze(sto, "--out", out) == 4
    err = capsys.readouterr().err
    assert "internal error while analysing" in err
    assert "RuntimeError: simulated bug" in err
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("bad", ["abc", "nan", "inf"])
def test_bad_calibration_time_is_an_argument_error(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        analyze(tmp_path / "x.sto", "--out", tmp_path / "a.csv", "--calibration-time", bad)
    assert exit_info.value.code == 2
    assert "--calibration-time" in capsys.readouterr().err


# --------------------------------------------------------------------------- coxa captures
@functools.cache
def rig_recording() -> RigRecording:
    """The same squats through five simulated boards (their own 6D filter), clean IMUs."""
    return simulate_rig(RigParams(motion=MOTION, imu=ImuParams.clean(), seed=2))


def write_capture(path: Path, metadata: dict[str, object] | None = None) -> Path:
    write_sim_capture(path, rig_recording(), metadata)
    return path


def true_time_s(t_s: FloatArray) -> FloatArray:
    """True session time of the capture's host receive clock, seconds."""
    return t_s - rig_recording().params.host_epoch_us * 1e-6


def test_capture_round_trip_tracks_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_capture(tmp_path / "session.coxa")
    out = tmp_path / "angles.csv"
    assert analyze(capture, "--out", out) == 0
    printed = capsys.readouterr().out
    result = read_angles_csv(out)
    t_true = true_time_s(result.t_s)
    # Rows start at the automatically found standing rest, inside the initial 3 s rest, and
    # run to the end of the session on a 10 ms grid.
    assert 0.0 <= t_true[0] < 3.0
    assert t_true[-1] > motion().duration_s - 0.5
    np.testing.assert_allclose(np.diff(result.t_s), 0.01, atol=1e-6)
    assert {*JOINT_ANGLES, "pelvis_tilt", "hip_adduction_r"} <= set(result.columns)
    for name, error in max_error_deg(result, t_true).items():
        assert error < CAPTURE_TOLERANCE_DEG, name
    assert "coxa capture" in printed
    assert "automatic" in printed
    for board_id, segment in rig_recording().segments_by_board.items():
        assert f"{board_id}={segment}" in printed


def test_capture_without_rig_metadata_needs_segments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the board -> segment map: a clear refusal; with ``--segments`` (placement names
    accepted) the same rows as from the metadata."""
    recording = rig_recording()
    bare = write_capture(tmp_path / "bare.coxa", {"rig": None})
    out = tmp_path / "angles.csv"
    assert analyze(bare, "--out", out) == 2
    assert "--segments" in capsys.readouterr().err
    assert not out.exists()
    placement = {"femur_r": "thigh_r", "femur_l": "thigh_l", "tibia_r": "shank_r"}
    segments = ",".join(
        f"{board_id}={placement.get(segment, segment)}"
        for board_id, segment in recording.segments_by_board.items()
    )
    assert analyze(bare, "--out", out, "--segments", segments) == 0
    with_metadata = tmp_path / "meta.csv"
    assert analyze(write_capture(tmp_path / "meta.coxa"), "--out", with_metadata) == 0
    assert out.read_text() == with_metadata.read_text()


def test_capture_with_a_damaged_header_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = write_capture(tmp_path / "session.coxa")
    data = bytearray(capture.read_bytes())
    data[30] ^= 0xFF  # inside the JSON metadata: the header CRC fails
    capture.write_bytes(bytes(data))
    assert analyze(capture, "--out", tmp_path / "a.csv") == 2
    err = capsys.readouterr().err
    assert "session.coxa" in err
    assert "Traceback" not in err


def test_capture_rig_without_a_leg_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = rig_recording()
    rig = {
        str(b): s
        for b, s in recording.segments_by_board.items()
        if s in ("pelvis", "femur_r", "tibia_l")
    }
    capture = write_capture(tmp_path / "session.coxa", {"rig": rig})
    assert analyze(capture, "--out", tmp_path / "a.csv") == 2
    err = capsys.readouterr().err
    assert "a thigh and the shank of the same leg are needed" in err
    assert "femur_r, pelvis, tibia_l" in err


def write_serial_capture(path: Path, seed: int) -> tuple[int, int]:
    """The frames of :func:`rig_recording` as a USB serial capture, as ``coxa record`` stores
    one: each board's byte stream (COBS packets, plus an ack, a status frame and a garbage
    packet from the first board) cut into chunks at random places, a packet's final delimiter
    read at the host time its frame was complete over BLE, and the boards' chunks in the
    order their frames completed there. Returns the chunks written and the garbage packets."""
    recording = rig_recording()
    links = {board_id: LinkDecoder(board_id) for board_id in recording.boards}
    completed: list[tuple[int, int, bytes]] = []  # (t_rx_us, board, serial packet)
    for packet in recording.packets:
        received = links[packet.board_id].push(packet.t_rx_us, packet.packet)
        if received is not None:
            encoded = wire.serial_encode(received.frame.encode())
            completed.append((received.t_rx_us, packet.board_id, encoded))
    first = completed[0][1]
    extra = [
        wire.serial_encode(wire.encode_ack(wire.OP_START_STREAM, 1, wire.RESULT_OK)),
        b"\x17garbage \xff\x00",
        wire.serial_encode(
            wire.encode_status(first, 0, 0, 1, 0, 3900, 12, 6000, 0, 0, 100, 0, 1, 77)
        ),
    ]
    rng = np.random.default_rng(seed)
    # Per board: the bytes of the next packet already sent in an earlier chunk.
    sent_ahead: dict[int, int] = dict.fromkeys(recording.boards, 0)
    following: dict[int, list[bytes]] = {}
    for _, board_id, encoded in completed:
        following.setdefault(board_id, []).append(encoded)
    position = dict.fromkeys(recording.boards, 0)
    metadata = sim_metadata(recording) | {"link_kind": "serial"}
    chunks = 0
    with CaptureWriter(path, metadata, flush_interval_s=math.inf) as capture:
        for t_rx_us, board_id, encoded in completed:
            k = position[board_id]
            position[board_id] = k + 1
            chunk = encoded[sent_ahead[board_id] :]
            if board_id == first and k < len(extra):
                chunk += extra[k]
            later = following[board_id]
            if k + 1 < len(later):
                cut = int(rng.integers(0, len(later[k + 1])))  # never the whole next packet
                chunk += later[k + 1][:cut]
                sent_ahead[board_id] = cut
            # A chunk may also arrive in two reads at the same time.
            split = int(rng.integers(1, len(chunk) + 1))
            for part in (chunk[:split], chunk[split:]):
                if part:
                    capture.append(t_rx_us * 1000, board_id, LinkKind.SERIAL, part)
                    chunks += 1
    return chunks, 1


def test_serial_capture_analyzes_as_the_same_frames_over_ble(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ble = write_capture(tmp_path / "ble.coxa")
    serial = tmp_path / "serial.coxa"
    chunks, garbage = write_serial_capture(serial, seed=3)
    records = read_capture(serial).records
    assert len(records) == chunks
    assert {r.kind for r in records} == {LinkKind.SERIAL}
    assert sum(not r.payload.endswith(b"\x00") for r in records) > chunks / 3  # packets cut
    ble_out, serial_out = tmp_path / "ble.csv", tmp_path / "serial.csv"
    assert analyze(ble, "--out", ble_out) == 0
    capsys.readouterr()
    assert analyze(serial, "--out", serial_out) == 0
    printed = capsys.readouterr().out
    assert f"{chunks} USB serial)" in printed
    assert f"{garbage} serial protocol errors ({garbage} bad packets" in printed
    # The same angles, bit for bit, as the same frames received over BLE ...
    assert serial_out.read_bytes() == ble_out.read_bytes()
    # ... and those track the truth (so the comparison is not between two empty tables).
    result = read_angles_csv(serial_out)
    assert result.t_s.size > 1000
    for name, error in max_error_deg(result, true_time_s(result.t_s)).items():
        assert error < CAPTURE_TOLERANCE_DEG, name


def test_serial_capture_of_another_board_is_refused_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Serial records of boards outside the rig: nothing to fuse, said so (not a crash)."""
    serial = tmp_path / "serial.coxa"
    write_serial_capture(serial, seed=4)
    rig = {"1": "femur_r", "2": "tibia_r"}
    source = read_capture(serial)
    other = tmp_path / "other.coxa"
    with CaptureWriter(other, source.metadata | {"rig": rig}) as capture:
        for record in source.records:
            capture.append(record.t_rx_ns, record.link_id, record.kind, record.payload)
    assert analyze(other, "--out", tmp_path / "a.csv") == 2
    err = capsys.readouterr().err
    assert f"no data frame from the rig's boards ({len(source.records)} records" in err
    assert f"{len(source.records)} from other boards" in err


# --------------------------------------------------------------------------- installed command
def test_installed_command(tmp_path: Path) -> None:
    """The ``coxa`` script of this environment: same CSV as in process, summary on stdout."""
    command = Path(sys.executable).parent / "coxa"
    if not command.exists():
        pytest.skip(f"no installed coxa command beside {sys.executable}")
    sto = write_sto(tmp_path / "squats.sto", ("femur_l_imu", "tibia_l_imu"))
    in_process = tmp_path / "in_process.csv"
    assert analyze(sto, "--out", in_process) == 0
    out = tmp_path / "angles.csv"
    done = subprocess.run(
        [str(command), "analyze", str(sto), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hip reference: room" in done.stdout
    assert out.read_text() == in_process.read_text()
