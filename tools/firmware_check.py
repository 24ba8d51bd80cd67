"""``make firmware-check``: the board build checks, summarised on ONE line.

1. Every firmware module (``firmware/coxa_fw/**``) and ``host/coxa/wire.py`` compiles with
   ``mpy-cross -march=xtensawin`` (plus ``-X emit=native`` for ``fw_build.NATIVE_MODULES``),
   exactly as ``tools/fw_build.py`` builds them, into a temporary folder.
2. pyright (``firmware/pyrightconfig.json``: ``firmware/`` and wire.py, standard mode) reports
   no error against the ESP32-S3 MicroPython stubs. The stubs are installed into
   ``build/stubs`` with ``pip install --target`` when absent (never into the venv, where they
   would shadow ``time``, ``asyncio`` and more); ``--stubs-dir`` picks another folder.

Details of any failure go to stderr; stdout gets one line, e.g.::

    firmware-check: PASS  mpy-cross 12/12 modules (xtensawin, 3 native)  pyright 0 errors,
    0 warnings in 13 files (micropython-esp32-esp32-generic-s3-stubs==1.29.0.post1)

(one line on the terminal; wrapped here).

The exit status is 0 only when both checks pass.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fw_build

ROOT = fw_build.ROOT
STUBS_PACKAGE = "micropython-esp32-esp32-generic-s3-stubs"
STUBS_VERSION = "1.29.0.post1"
STUBS_REQUIREMENT = f"{STUBS_PACKAGE}=={STUBS_VERSION}"
DEFAULT_STUBS_DIR = ROOT / "build" / "stubs"
PYRIGHT_CONFIG = ROOT / "firmware" / "pyrightconfig.json"


def stubs_installed(stubs_dir: Path) -> bool:
    """True if ``stubs_dir`` holds the pinned stubs version."""
    dist = STUBS_PACKAGE.replace("-", "_")
    return (stubs_dir / f"{dist}-{STUBS_VERSION}.dist-info").is_dir()


def install_stubs(stubs_dir: Path) -> None:
    """``pip install --target stubs_dir`` the pinned stubs (replacing whatever is there)."""
    if stubs_dir.exists():
        shutil.rmtree(stubs_dir)
    stubs_dir.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(stubs_dir),
            STUBS_REQUIREMENT,
        ],
        check=True,
    )


def pyright_executable() -> str:
    beside = Path(sys.executable).parent / "pyright"
    if beside.is_file():
        return str(beside)
    found = shutil.which("pyright")
    if found is None:
        raise FileNotFoundError("pyright not found; install the lint dependency group")
    return found


def run_pyright(stubs_dir: Path) -> tuple[int, int, int, list[str]]:
    """Run pyright on the firmware config; return (errors, warnings, files, messages)."""
    config = PYRIGHT_CONFIG
    if stubs_dir.resolve() != DEFAULT_STUBS_DIR.resolve():
        # same settings, other stubs folder: a sibling config pointing there
        text = PYRIGHT_CONFIG.read_text(encoding="utf-8")
        lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("//")]
        settings: dict[str, Any] = json.loads("\n".join(lines))
        settings["stubPath"] = str(stubs_dir.resolve())
        settings["typeshedPath"] = str(stubs_dir.resolve())
        config = PYRIGHT_CONFIG.parent / ".pyrightconfig.firmware-check.json"
        config.write_text(json.dumps(settings), encoding="utf-8")
    try:
        proc = subprocess.run(
            [pyright_executable(), "--outputjson", "-p", str(config)],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
    finally:
        if config != PYRIGHT_CONFIG:
            config.unlink(missing_ok=True)
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return 1, 0, 0, [f"pyright did not run: {proc.stderr.strip() or proc.stdout.strip()}"]
    summary = report.get("summary", {})
    messages: list[str] = []
    for diag in report.get("generalDiagnostics", []):
        if diag.get("severity") not in ("error", "warning"):
            continue
        rel = Path(diag.get("file", "?"))
        with contextlib.suppress(ValueError):
            rel = rel.relative_to(ROOT)
        line = diag.get("range", {}).get("start", {}).get("line", -1) + 1
        rule = diag.get("rule", "")
        messages.append(
            f"{rel}:{line}: {diag['severity']}: {diag.get('message', '')}"
            + (f" ({rule})" if rule else "")
        )
    return (
        int(summary.get("errorCount", 0)),
        int(summary.get("warningCount", 0)),
        int(summary.get("filesAnalyzed", 0)),
        messages,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stubs-dir", type=Path, default=DEFAULT_STUBS_DIR)
    parser.add_argument(
        "--no-install", action="store_true", help="fail instead of installing missing stubs"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="coxa-fw-check-") as tmp:
        results = fw_build.compile_modules(Path(tmp))
    compiled = sum(1 for r in results if r.ok)
    native = sum(1 for r in results if r.module.native)
    for r in results:
        if not r.ok:
            print(f"mpy-cross FAILED {r.module.target}:\n{r.message}", file=sys.stderr)
    build_ok = compiled == len(results)
    build_part = f"mpy-cross {compiled}/{len(results)} modules ({fw_build.ARCH}, {native} native)"

    pyright_ok = False
    if not stubs_installed(args.stubs_dir) and not args.no_install:
        try:
            install_stubs(args.stubs_dir)
        except subprocess.CalledProcessError as exc:
            print(f"installing {STUBS_REQUIREMENT} failed: {exc}", file=sys.stderr)
    if stubs_installed(args.stubs_dir):
        errors, warnings, files, messages = run_pyright(args.stubs_dir)
        for m in messages:
            print(m, file=sys.stderr)
        pyright_ok = errors == 0
        pyright_part = (
            f"pyright {errors} errors, {warnings} warnings in {files} files ({STUBS_REQUIREMENT})"
        )
    else:
        pyright_part = f"pyright NOT RUN (no {STUBS_REQUIREMENT} in {args.stubs_dir})"

    ok = build_ok and pyright_ok
    print(f"firmware-check: {'PASS' if ok else 'FAIL'}  {build_part}  {pyright_part}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
