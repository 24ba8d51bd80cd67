"""``coxa assess`` end to end with a simulated athlete and boards (``--sim``)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from coxa.cli import BleEnvironment, main
from coxa.sources.virtual import VirtualRadio
from coxa.store import Catalog
from tests.cli.test_ble import FAST, SCAN, _samples  # pyright: ignore[reportPrivateUsage]

_ROW = re.compile(
    r"^  (right|left)\s+((?:-?\d+\.\d, )*-?\d+\.\d)\s+(-?\d+\.\d)\s+(-?\d+\.\d|-)\s+", re.MULTILINE
)
_HISTORY = re.compile(
    r"^history, (right|left): (-?\d+\.\d) deg on .* -> change ([+-]\d+\.\d) deg: "
    r"(within noise|possible|beyond noise) \(MDC 5\.4-7\.8 deg \[src\]\)$",
    re.MULTILINE,
)


def _assess(project: Path, *extra: str) -> list[str]:
    return ["assess", "--sim", "--project", str(project), *extra]


def _rows(out: str) -> dict[str, tuple[list[float], float]]:
    rows: dict[str, tuple[list[float], float]] = {}
    for side, trials, mean, _ in _ROW.findall(out):
        rows[side] = ([float(v) for v in trials.split(", ")], float(mean))
    return rows


def test_guided_test_both_sides_stored_then_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "p"
    args = ["prone-ir", "--side", "both", "--athlete", "A01", "--sim-value", "30"]
    assert main(_assess(project, *args)) == 0
    first = capsys.readouterr().out
    for step in ("Lie face down", "Bend the tested knee to 90 deg", "three slow squats"):
        assert step in first
    assert first.count("  trial 1: ") == 2
    assert first.count("  trial 3: ") == 2
    rows = _rows(first)
    assert set(rows) == {"right", "left"}
    for trials, mean in rows.values():
        assert len(trials) == 3
        assert mean == pytest.approx(sum(trials) / 3, abs=0.06)
        assert 25.0 < mean < 35.0  # the simulated 30 deg, two deg spread
    assert "asymmetry right - left:" in first
    assert "coaching target 45 deg [src]" in first
    assert "population mean 35 deg [src]" in first
    assert "capacity point, right: IR" in first
    assert "history," not in first
    assert "stored for athlete A01" in first
    with Catalog.in_project(project) as catalog:
        stored = catalog.assessments("A01", "prone-ir")
        assert [e.side for e in stored] == ["r", "l"]
        assert stored[0].mean_deg == pytest.approx(rows["right"][1], abs=0.06)
        assert stored[0].hip_reference == "pelvis"

    args = ["prone-ir", "--side", "right", "--athlete", "A01", "--sim-value", "42"]
    assert main(_assess(project, *args, "--seed", "4")) == 0
    second = capsys.readouterr().out
    (history,) = _HISTORY.findall(second)
    side, previous, change, verdict = history
    new_mean = _rows(second)["right"][1]
    assert side == "right"
    assert float(previous) == pytest.approx(rows["right"][1], abs=0.06)
    assert float(change) == pytest.approx(new_mean - rows["right"][1], abs=0.11)
    assert verdict == "beyond noise"  # about 12 deg more
    with Catalog.in_project(project) as catalog:
        assert len(catalog.assessments("A01", "prone-ir", "r")) == 2


def test_pelvic_lift_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["seated-ir", "--side", "left", "--trials", "2", "--sim-pelvis-lift", "7"]
    assert main(_assess(tmp_path, *args, "--no-store")) == 0
    out = capsys.readouterr().out
    assert out.count("! pelvic lift: the pelvis moved") == 2
    assert "not stored (--no-store)" in out
    assert "coaching target 30-45 deg [src]" in out


def test_without_a_pelvis_board_the_output_says_relative_to_the_room(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_assess(tmp_path, "prone-ir", "--side", "right", "--sim-no-pelvis")) == 0
    out = capsys.readouterr().out
    assert "femoral rotation relative to the room (no pelvis board)" in out
    assert "no pelvis board: pelvic lift not checked" in out
    assert "not stored: no --athlete given" in out


def test_no_trial_found_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["prone-ir", "--side", "right", "--trials", "1", "--sim-value", "2", "--athlete", "A"]
    assert main(_assess(tmp_path, *args)) == 1
    out = capsys.readouterr().out
    assert "no trial found" in out
    with Catalog.in_project(tmp_path) as catalog:
        assert catalog.assessments("A") == []


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "prone-ir", "--side", "right", "--project", str(tmp_path)]) == 2
    assert "--rig NAME" in capsys.readouterr().err
    args = ["prone-ir", "--side", "right", "--rig", "nope"]
    assert main(_assess(tmp_path, *args)) == 2  # both --sim and --rig
    assert (
        main(["assess", "prone-ir", "--side", "right", "--rig", "nope", "--project", str(tmp_path)])
        == 2
    )
    assert "nope" in capsys.readouterr().err
    bad = tmp_path / "refs.toml"
    bad.write_text("version = 7\n", encoding="utf-8")
    assert main(_assess(tmp_path, "aslr", "--side", "left", "--references", str(bad))) == 2
    assert "refs.toml" in capsys.readouterr().err
    for wrong in (["--trials", "0"], ["--side", "up"], ["--sim-value", "nan"]):
        with pytest.raises(SystemExit) as caught:
            main(_assess(tmp_path, "prone-ir", "--side", "right", *wrong))
        assert caught.value.code == 2


@pytest.mark.parametrize(
    ("test", "value", "reference"),
    [
        ("supine-ir", 28.0, "coaching target 30-45 deg [derived]"),
        ("aslr", 75.0, "coaching target 70 deg [not found]"),
    ],
)
def test_supine_tests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], test: str, value: float, reference: str
) -> None:
    args = [test, "--side", "left", "--trials", "2", "--sim-value", str(value), "--no-store"]
    assert main(_assess(tmp_path, *args)) == 0
    out = capsys.readouterr().out
    trials, mean = _rows(out)["left"]
    assert len(trials) == 2
    assert mean == pytest.approx(value, abs=3.0)
    assert reference in out
    assert "capacity point" in out if test == "supine-ir" else "capacity point" not in out


@pytest.fixture
def radio_env() -> Iterator[BleEnvironment]:
    """A thigh and a shank board (two squats) on the virtual radio, and the CLI's environment
    for it (as ``tests/cli/test_ble.py``)."""

    async def start() -> VirtualRadio:
        radio = VirtualRadio()
        radio.add_board(_samples()["femur_r"])
        radio.add_board(_samples()["tibia_r"])
        await radio.start()
        return radio

    with asyncio.Runner() as runner:
        radio = runner.run(start())
        try:
            yield BleEnvironment(
                backend=radio.backend, params=FAST, connect_wait_s=15.0, loop=runner
            )
        finally:
            runner.run(radio.stop())


def test_a_ble_rig_is_recorded_and_measured(
    radio_env: BleEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rig path end to end on virtual boards, as far as they go: the recording is made and
    kept in the catalog, and a recording without a calibration fails with the reason."""
    project = ["--project", str(tmp_path)]
    assert main(["rig", "create", "lab", "--yes", *SCAN, *project], ble=radio_env) == 0
    capsys.readouterr()
    args = ["assess", "prone-ir", "--side", "right", "--rig", "lab", "--duration", "3"]
    assert main([*args, "--athlete", "A01", *project], ble=radio_env) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "recording 3 s" in out, captured.err
    # 3 s of standing: no calibration movement yet, so no angles, said plainly.
    assert "coxa assess: no joint angles:" in captured.err
    [capture] = list((tmp_path / "captures").glob("A01_prone-ir-right_*.coxa"))
    with Catalog.in_project(tmp_path) as catalog:
        [entry] = catalog.captures()
        assert entry.path == str(capture.resolve())
        assert entry.status == "complete"
        assert catalog.assessments("A01") == []  # nothing measured, nothing stored
