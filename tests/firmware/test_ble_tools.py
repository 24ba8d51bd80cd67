"""Board tooling: ``tools/fw_build.py``, ``fw_deploy.py``, ``fw_log.py``, ``firmware_check.py``.

No board is needed: builds go to a temporary folder, deployment is checked through its dry run
and its staged files (the launcher and the board-side cleanup run on the MicroPython unix port),
and the log follower reads a pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from coxa import wire
from tests.support.micropython import run_micropython_code
from tests.support.tools import load_tool

ROOT = Path(__file__).resolve().parent.parent.parent
MPY_ARCH_XTENSAWIN = 10
PROFILE = "coxa-s3-lsm6dsox"


@pytest.fixture(scope="module")
def fw_build() -> Any:
    return load_tool("fw_build")


@pytest.fixture(scope="module")
def fw_deploy() -> Any:
    return load_tool("fw_deploy")


@pytest.fixture(scope="module")
def fw_log() -> Any:
    return load_tool("fw_log")


@pytest.fixture(scope="module")
def firmware_check() -> Any:
    return load_tool("firmware_check")


# ---------------------------------------------------------------------------- fw_build


def test_build_compiles_every_module_for_the_esp32s3(fw_build: Any, tmp_path: Path) -> None:
    results = fw_build.compile_modules(tmp_path)
    failed = [(r.module.target, r.message) for r in results if not r.ok]
    assert not failed
    targets = {r.module.target for r in results}
    assert "wire.py" in targets
    assert "coxa_fw/ble.py" in targets
    sources = {
        p.relative_to(ROOT / "firmware").as_posix()
        for p in (ROOT / "firmware" / "coxa_fw").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert sources | {"wire.py"} == targets
    for r in results:
        header = (tmp_path / r.module.mpy_target).read_bytes()[:4]
        assert header[:2] == b"M\x06", r.module.target  # mpy v6
        arch = header[2] >> 2
        if r.module.native:
            assert arch == MPY_ARCH_XTENSAWIN, r.module.target
        else:
            assert arch == 0, r.module.target  # plain bytecode


def test_build_native_list_names_hot_paths(fw_build: Any) -> None:
    assert "coxa_fw/ahrs.py" in fw_build.NATIVE_MODULES
    assert all(m.startswith("coxa_fw/") for m in fw_build.NATIVE_MODULES)
    cmd = fw_build.compile_command(fw_build.Module(ROOT / "x.py", "coxa_fw/ahrs.py"), Path("o"))
    assert "-march=xtensawin" in cmd
    assert cmd[cmd.index("-X") + 1] == "emit=native"
    cmd = fw_build.compile_command(fw_build.Module(ROOT / "x.py", "coxa_fw/ble.py"), Path("o"))
    assert "-X" not in cmd


def test_build_reports_a_module_that_does_not_compile(
    fw_build: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("match x:\n    case 1:\n        pass\n", encoding="utf-8")
    monkeypatch.setattr(fw_build, "firmware_modules", lambda: [fw_build.Module(bad, "bad.py")])
    (result,) = fw_build.compile_modules(tmp_path / "out")
    assert not result.ok
    assert result.message


# ---------------------------------------------------------------------------- fw_deploy


def test_deploy_dry_run_prints_the_mpremote_commands(
    fw_deploy: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stage = tmp_path / "stage"
    args = ["--profile", PROFILE, "--segment", "thigh_r", "--port", "/dev/ttyACM7", "--dry-run"]
    assert fw_deploy.main([*args, "--stage-dir", str(stage)]) == 0
    out = capsys.readouterr().out
    assert not stage.exists(), "a dry run changes nothing"
    cmds = [shlex.split(line) for line in _command_lines(out)]
    assert len(cmds) == 6
    for cmd in cmds:
        assert Path(cmd[0]).name == "mpremote"
        assert cmd[1:3] == ["connect", "/dev/ttyACM7"]
    assert cmds[0][3] == "exec"
    assert "/coxa_fw" in cmds[0][4]
    assert cmds[1][3:] == ["fs", "cp", "-r", str(stage / "coxa_fw"), ":"]
    assert cmds[2][3:] == ["fs", "cp", str(stage / "wire.mpy"), ":wire.mpy"]
    assert cmds[3][3:] == ["fs", "cp", str(stage / "boot.py"), ":boot.py"]
    assert cmds[4][3:] == ["fs", "cp", str(stage / "main.py"), ":main.py"]
    assert cmds[5][3:] == ["reset"]


def _command_lines(out: str) -> list[str]:
    """Join the printed commands (the exec snippet spans lines inside its quotes)."""
    lines: list[str] = []
    buf = ""
    for line in out.splitlines():
        if line.startswith("#") and not buf:
            continue
        buf = f"{buf}\n{line}" if buf else line
        try:
            shlex.split(buf)
        except ValueError:
            continue  # an open quote: the command goes on
        lines.append(buf)
        buf = ""
    return lines


def test_deploy_source_mode_copies_wire_py(fw_deploy: Any, tmp_path: Path) -> None:
    cmds = fw_deploy.commands("auto", tmp_path, source=True)
    assert cmds[2][-2:] == [str(tmp_path / "wire.py"), ":wire.py"]


def test_deploy_rejects_an_unknown_profile(fw_deploy: Any) -> None:
    if fw_deploy.known_profiles() is None:
        pytest.skip("firmware/coxa_fw/profiles.py is not there yet")
    with pytest.raises(SystemExit) as info:
        fw_deploy.main(["--profile", "no-such-board", "--segment", "pelvis", "--dry-run"])
    assert info.value.code == 2


@pytest.mark.parametrize("source", [True, False])
def test_deploy_stage_lays_out_the_board(fw_deploy: Any, tmp_path: Path, source: bool) -> None:
    stage = fw_deploy.stage(source, PROFILE, "pelvis", True, tmp_path / "stage", 0x1A2B)
    ext = ".py" if source else ".mpy"
    assert (stage / f"wire{ext}").is_file()
    assert (stage / "coxa_fw" / f"__init__{ext}").is_file()
    assert (stage / "coxa_fw" / f"ble{ext}").is_file()
    assert not list(stage.rglob("__pycache__"))
    launcher = (stage / "main.py").read_text(encoding="utf-8")
    assert f"PROFILE = {PROFILE!r}" in launcher
    assert "SEGMENT = 'pelvis'" in launcher
    assert "BOARD_ID = 6699" in launcher
    compile(launcher, "main.py", "exec")
    compile((stage / "boot.py").read_text(encoding="utf-8"), "boot.py", "exec")


@pytest.mark.micropython
def test_deploy_launcher_runs_the_profile(fw_deploy: Any, tmp_path: Path) -> None:
    """The launcher imports coxa_fw.main and calls run(PROFILE, SEGMENT, ...)."""
    fake_pkg = tmp_path / "coxa_fw"
    fake_pkg.mkdir()
    (fake_pkg / "__init__.py").write_text("", encoding="utf-8")
    (fake_pkg / "main.py").write_text(
        "def run(profile, segment, board_id=None, log_echo=True):\n"
        "    print('RUN', profile, segment, board_id, log_echo)\n",
        encoding="utf-8",
    )
    launcher = fw_deploy.LAUNCHER_TEMPLATE.format(
        profile=PROFILE, segment="shank_l", board_id=None, log_echo=False
    )
    out = run_micropython_code(launcher, tmp_path)
    assert out.strip() == f"RUN {PROFILE} shank_l None False"


@pytest.mark.micropython
def test_deploy_cleanup_snippet_on_micropython(fw_deploy: Any, tmp_path: Path) -> None:
    board = tmp_path / "board"
    (board / "coxa_fw" / "drivers").mkdir(parents=True)
    for rel in ("coxa_fw/__init__.py", "coxa_fw/ble.mpy", "coxa_fw/drivers/x.py", "wire.py"):
        (board / rel).write_text("x = 1\n", encoding="utf-8")
    (board / "ble_secrets.bin").write_bytes(b"CXS1")
    (board / "log.txt").write_text("0.000 boot\n", encoding="utf-8")
    snippet = fw_deploy.CLEANUP_SNIPPET.replace('("/', f'("{board}/').replace(
        ', "/', f', "{board}/'
    )
    run_micropython_code(snippet)
    assert sorted(p.name for p in board.iterdir()) == ["ble_secrets.bin", "log.txt"]


# ---------------------------------------------------------------------------- fw_log


def test_log_dry_run(fw_log: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert fw_log.main(["--port", "/dev/ttyACM3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "connect /dev/ttyACM3 exec" in out
    assert out.rstrip().endswith("connect /dev/ttyACM3 reset")
    assert fw_log.main(["--port", "/dev/ttyACM3", "--dry-run", "--stay"]) == 0
    assert "reset" not in capsys.readouterr().out


@pytest.mark.micropython
def test_log_read_snippet_on_micropython(fw_log: Any, tmp_path: Path) -> None:
    (tmp_path / "log.1.txt").write_text("1.000 old\n" * 300, encoding="utf-8")
    (tmp_path / "log.txt").write_text("2.000 new\n", encoding="utf-8")
    out = run_micropython_code(fw_log.READ_SNIPPET, cwd=tmp_path)
    assert out == "1.000 old\n" * 300 + "2.000 new\n"
    (tmp_path / "log.1.txt").unlink()
    assert run_micropython_code(fw_log.READ_SNIPPET, cwd=tmp_path) == "2.000 new\n"


def test_log_echo_splitter_skips_frames(fw_log: Any) -> None:
    s = fw_log.EchoSplitter()
    frame = wire.serial_encode(wire.encode_ack(wire.OP_GET_STATUS, 1, wire.RESULT_OK))
    stream = b"\x00#LOG 0.120 ble: connected\n\x00" + frame + b"\x00#LOG 0.2"
    assert s.feed(stream) == ["0.120 ble: connected"]
    assert s.feed(b"50 ble: disconnected\n\x00") == ["0.250 ble: disconnected"]
    assert s.feed(b"garbage without delimiter" * 200) == []
    assert s.feed(b"\x00#LOG ok\n\x00") == ["ok"]


def test_log_follow_reads_the_console(fw_log: Any) -> None:
    master, slave = pty.openpty()
    lines: list[str] = []
    port = os.ttyname(slave)
    frame = wire.serial_encode(wire.encode_ack(wire.OP_STOP_STREAM, 3, wire.RESULT_OK))

    def board() -> None:
        time.sleep(0.3)
        os.write(master, b"\x00#LOG 1.000 ble: pairing mode for 120 s\n\x00" + frame)
        os.write(master, b"\x00#LOG 1.500 imu: ok\n\x00")

    t = threading.Thread(target=board)
    t.start()
    try:
        fw_log.follow(port, 115200, 1.2, lines.append)
    finally:
        t.join()
        os.close(master)
        os.close(slave)
    assert lines == ["1.000 ble: pairing mode for 120 s", "1.500 imu: ok"]


# ---------------------------------------------------------------------------- firmware_check


def test_firmware_check_prints_one_summary_line(
    firmware_check: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fw_build = sys.modules["fw_build"]
    mod = fw_build.Module(ROOT / "firmware" / "coxa_fw" / "ahrs.py", "coxa_fw/ahrs.py")
    monkeypatch.setattr(fw_build, "compile_modules", lambda out: [fw_build.Result(mod, True, "")])
    monkeypatch.setattr(firmware_check, "stubs_installed", lambda d: True)
    monkeypatch.setattr(firmware_check, "run_pyright", lambda d: (0, 0, 9, []))
    assert firmware_check.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("firmware-check: PASS  mpy-cross 1/1 modules (xtensawin, 1 native)")
    assert "pyright 0 errors, 0 warnings in 9 files" in out[0]

    monkeypatch.setattr(firmware_check, "run_pyright", lambda d: (2, 0, 9, ["a.py:1: error: x"]))
    assert firmware_check.main([]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("firmware-check: FAIL")
    assert "a.py:1: error: x" in captured.err

    monkeypatch.setattr(firmware_check, "stubs_installed", lambda d: False)
    assert firmware_check.main(["--no-install"]) == 1
    assert "pyright NOT RUN" in capsys.readouterr().out


def test_pyright_config_points_at_the_stubs_folder() -> None:
    import json

    text = (ROOT / "firmware" / "pyrightconfig.json").read_text(encoding="utf-8")
    config = json.loads("\n".join(ln for ln in text.splitlines() if not ln.startswith("//")))
    assert config["stubPath"] == config["typeshedPath"] == "../build/stubs"
    assert "../host/coxa/wire.py" in config["include"]
    assert "coxa_fw" in config["include"]
