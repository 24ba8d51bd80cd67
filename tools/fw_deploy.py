"""Deploy the coxa firmware to a board over USB with ``mpremote``.

Steps (each one ``mpremote`` call; ``--dry-run`` prints them instead of running them):

1. build the ``.mpy`` files (``tools/fw_build.py``) into ``build/firmware/`` -- or, with
   ``--source``, stage the ``.py`` sources -- plus ``host/coxa/wire.py`` as ``wire``;
2. on the board, delete the old ``/coxa_fw`` package and ``/wire.py``/``/wire.mpy`` (a stale
   ``.py`` would shadow a new ``.mpy``); bond secrets and logs stay;
3. copy the package and wire, then a launcher ``main.py`` that runs
   ``coxa_fw.main.run(PROFILE, SEGMENT)`` with the chosen hardware profile and body segment,
   and a small ``boot.py``;
4. hard-reset the board so the launcher starts.

Usage::

    python tools/fw_deploy.py --profile coxa-s3-lsm6dsox --segment thigh_r --port /dev/ttyACM0
    python tools/fw_deploy.py --profile coxa-s3-lsm6dsox --segment pelvis --dry-run
    python tools/fw_deploy.py --profile devkit-s3-ism330dhcx --segment shank_l --source

The profile names the hardware (``firmware/coxa_fw/profiles.py``); the segment is where the
board is worn (``pelvis``, ``thigh_l``, ``thigh_r``, ``shank_l``, ``shank_r``) and goes into its
advertised name. The board id is the low 16 bits of the chip's unique id unless
``--board-id`` sets it.

MicroPython itself must be on the board first (``docs/firmware.md``, "Flashing MicroPython").
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fw_build

SEGMENT_NAMES = ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r")  # wire.SEGMENT_NAMES

ROOT = fw_build.ROOT
STAGE_DIR = ROOT / "build" / "deploy"
PROFILES_PATH = fw_build.PACKAGE_DIR / "profiles.py"

CLEANUP_SNIPPET = """import os
def _rm(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for name in os.listdir(p):
            _rm(p + "/" + name)
        os.rmdir(p)
    else:
        os.remove(p)
for _p in ("/coxa_fw", "/wire.py", "/wire.mpy"):
    _rm(_p)
"""

LAUNCHER_TEMPLATE = """# Written by tools/fw_deploy.py: start the coxa firmware (profile, segment).
PROFILE = {profile!r}
SEGMENT = {segment!r}
BOARD_ID = {board_id!r}
LOG_ECHO = {log_echo!r}

try:
    from coxa_fw import main as _coxa
except ImportError as e:
    print("coxa: firmware not installed:", e)
else:
    _coxa.run(PROFILE, SEGMENT, board_id=BOARD_ID, log_echo=LOG_ECHO)
"""

BOOT_TEXT = """# Written by tools/fw_deploy.py.
import micropython

micropython.alloc_emergency_exception_buf(128)
"""


def mpremote_executable() -> str:
    beside = Path(sys.executable).parent / "mpremote"
    if beside.is_file():
        return str(beside)
    return shutil.which("mpremote") or "mpremote"


def known_profiles() -> list[str] | None:
    """Profile names from ``firmware/coxa_fw/profiles.py`` (None if it is not there yet)."""
    if not PROFILES_PATH.is_file():
        return None
    spec = importlib.util.spec_from_file_location("_coxa_fw_profiles", PROFILES_PATH)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception:  # a profile module that needs the board: skip the check
        return None
    profiles = getattr(module, "PROFILES", None)
    return sorted(profiles) if isinstance(profiles, dict) else None


def stage(
    source: bool,
    profile: str,
    segment: str,
    log_echo: bool,
    stage_dir: Path,
    board_id: int | None = None,
) -> Path:
    """Lay out what goes on the board in ``stage_dir``; return it."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    if source:
        for module in fw_build.firmware_modules():
            dest = stage_dir / module.target
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(module.source, dest)
    else:
        results = fw_build.compile_modules(stage_dir)
        failed = [r for r in results if not r.ok]
        if failed:
            for r in failed:
                print(f"mpy-cross FAILED {r.module.target}:\n{r.message}", file=sys.stderr)
            raise SystemExit(1)
    (stage_dir / "main.py").write_text(
        LAUNCHER_TEMPLATE.format(
            profile=profile, segment=segment, board_id=board_id, log_echo=log_echo
        ),
        encoding="utf-8",
    )
    (stage_dir / "boot.py").write_text(BOOT_TEXT, encoding="utf-8")
    return stage_dir


def commands(port: str, stage_dir: Path, source: bool) -> list[list[str]]:
    """The mpremote command lines that put ``stage_dir`` on the board and restart it."""
    mp = [mpremote_executable(), "connect", port]
    wire_name = "wire.py" if source else "wire.mpy"
    return [
        [*mp, "exec", CLEANUP_SNIPPET],
        [*mp, "fs", "cp", "-r", str(stage_dir / "coxa_fw"), ":"],
        [*mp, "fs", "cp", str(stage_dir / wire_name), ":" + wire_name],
        [*mp, "fs", "cp", str(stage_dir / "boot.py"), ":boot.py"],
        [*mp, "fs", "cp", str(stage_dir / "main.py"), ":main.py"],
        [*mp, "reset"],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--profile", required=True, help="board profile (profiles.PROFILES)")
    parser.add_argument(
        "--segment", required=True, choices=SEGMENT_NAMES, help="where the board is worn"
    )
    parser.add_argument(
        "--board-id", type=lambda t: int(t, 0), default=None, help="u16 id (default: chip id)"
    )
    parser.add_argument(
        "--port", default="auto", help="serial port, e.g. /dev/ttyACM0 or COM5 (default: auto)"
    )
    parser.add_argument("--source", action="store_true", help="deploy .py sources, not .mpy")
    parser.add_argument(
        "--no-log-echo",
        action="store_true",
        help="do not echo log lines on the USB console (tools/fw_log.py --follow needs them)",
    )
    parser.add_argument("--stage-dir", type=Path, default=STAGE_DIR, help=argparse.SUPPRESS)
    parser.add_argument(
        "--dry-run", action="store_true", help="print the mpremote commands, change nothing"
    )
    args = parser.parse_args(argv)

    profiles = known_profiles()
    if profiles is not None and args.profile not in profiles:
        parser.error(f"unknown profile {args.profile!r}; known: {', '.join(profiles)}")

    cmds = commands(args.port, args.stage_dir, args.source)
    if args.dry_run:
        what = "copy the .py sources" if args.source else "python tools/fw_build.py"
        print(
            f"# stage into {args.stage_dir} ({what}; launcher: profile {args.profile!r}, "
            f"segment {args.segment!r})"
        )
        for cmd in cmds:
            print(shlex.join(cmd))
        return 0

    if args.board_id is not None and not 0 <= args.board_id <= 0xFFFF:
        parser.error("--board-id must be 0..0xFFFF")
    stage(
        args.source,
        args.profile,
        args.segment,
        not args.no_log_echo,
        args.stage_dir,
        args.board_id,
    )
    for cmd in cmds:
        print("+ " + shlex.join(cmd[:4] + (["..."] if cmd[3] == "exec" else cmd[4:])))
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0:
            print(f"fw_deploy: failed ({proc.returncode}): {shlex.join(cmd)}", file=sys.stderr)
            return proc.returncode
    print(
        f"fw_deploy: {args.profile!r} as {args.segment} deployed to {args.port}; board restarting"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
