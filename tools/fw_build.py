"""Compile the board firmware for the ESP32-S3 with ``mpy-cross`` into ``build/firmware/``.

Every module under ``firmware/coxa_fw/`` becomes ``build/firmware/coxa_fw/<name>.mpy`` and
``host/coxa/wire.py`` (the wire protocol the board shares with the host) becomes
``build/firmware/wire.mpy``. All modules are compiled with ``-march=xtensawin`` (the
ESP32-S3's Xtensa LX7 with the windowed ABI); the hot-path modules in :data:`NATIVE_MODULES`
also get ``-X emit=native`` (machine code instead of bytecode: faster, about twice the size).

Usage::

    python tools/fw_build.py                 # build into build/firmware/
    python tools/fw_build.py --out DIR -O 2  # another folder, bytecode optimisation level 2
    python tools/fw_build.py --list          # print what would be compiled and how

The ``.mpy`` files need a MicroPython on the board that loads mpy v6 (MicroPython 1.23 or
later; this build uses the pinned ``mpy-cross``, currently 1.29).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = ROOT / "firmware"
PACKAGE_DIR = FIRMWARE_DIR / "coxa_fw"
WIRE_PATH = ROOT / "host" / "coxa" / "wire.py"
DEFAULT_OUT = ROOT / "build" / "firmware"
ARCH = "xtensawin"

NATIVE_MODULES: tuple[str, ...] = (
    "coxa_fw/ahrs.py",
    "coxa_fw/fifo.py",
    "coxa_fw/framer.py",
)
"""Modules compiled with ``-X emit=native`` (paths as deployed): the per-sample hot paths."""


@dataclass(frozen=True)
class Module:
    """One source file and where it goes on the board."""

    source: Path
    target: str  # path on the board, e.g. "coxa_fw/ble.py" or "wire.py"

    @property
    def native(self) -> bool:
        return self.target in NATIVE_MODULES

    @property
    def mpy_target(self) -> str:
        return self.target[: -len(".py")] + ".mpy"


@dataclass(frozen=True)
class Result:
    """Outcome of compiling one module."""

    module: Module
    ok: bool
    message: str


def firmware_modules() -> list[Module]:
    """Every firmware module plus wire.py, in a stable order."""
    modules = [
        Module(path, path.relative_to(FIRMWARE_DIR).as_posix())
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]
    modules.append(Module(WIRE_PATH, "wire.py"))
    return modules


def mpy_cross_executable() -> str:
    """The ``mpy-cross`` of this venv (next to the interpreter), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.is_file():
        return str(beside)
    found = shutil.which("mpy-cross")
    if found is None:
        raise FileNotFoundError(
            "mpy-cross not found; install the firmware dependency group (make test does)"
        )
    return found


def compile_command(module: Module, out_file: Path, opt: int = 0) -> list[str]:
    """The mpy-cross command line for one module."""
    cmd = [mpy_cross_executable(), f"-march={ARCH}"]
    if module.native:
        cmd += ["-X", "emit=native"]
    if opt:
        cmd.append(f"-O{opt}")
    cmd += ["-s", module.target, "-o", str(out_file), str(module.source)]
    return cmd


def compile_modules(out_dir: Path, opt: int = 0) -> list[Result]:
    """Compile every module into ``out_dir`` (board layout); return one result per module."""
    results: list[Result] = []
    for module in firmware_modules():
        out_file = out_dir / module.mpy_target
        out_file.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            compile_command(module, out_file, opt),
            capture_output=True,
            text=True,
            check=False,
        )
        ok = proc.returncode == 0 and out_file.is_file()
        message = (proc.stderr + proc.stdout).strip()
        results.append(Result(module, ok, message))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("-O", dest="opt", type=int, default=0, help="mpy-cross -O level")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    args = parser.parse_args(argv)
    if args.list:
        for module in firmware_modules():
            kind = "native" if module.native else "bytecode"
            print(f"{module.target:28s} {kind}")
        return 0
    if args.out.exists():
        shutil.rmtree(args.out)
    results = compile_modules(args.out, args.opt)
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED {r.module.target}:\n{r.message}", file=sys.stderr)
    native = sum(1 for r in results if r.module.native)
    print(
        f"fw_build: {len(results) - len(failed)}/{len(results)} modules compiled for "
        f"{ARCH} ({native} native) into {args.out}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
