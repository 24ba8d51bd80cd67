"""The asyncio shell (``firmware/coxa_fw/main.py``) on the MicroPython unix port.

``mp_ble_main.py`` builds the whole board (profile, I2C, app, BLE, USB, LED, button, watchdog)
on the fake ``machine``/``bluetooth``/``time`` modules and runs the shell's tasks on
MicroPython's asyncio: a central streams over BLE, the IMU is unplugged and plugged back (the
shell keeps running, reports IMU_ERROR, recovers), and a dying task starves the watchdog.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.micropython import run_micropython

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SUMMARY = re.compile(r"^MAIN_SMOKE passed (\d+) failed (\d+)$", re.MULTILINE)


@pytest.mark.micropython
def test_shell_runs_streams_recovers_and_starves_the_watchdog(tmp_path: Path) -> None:
    out = run_micropython(
        HERE / "mp_ble_main.py",
        HERE / "fakes",
        HERE,
        ROOT / "firmware",
        ROOT / "host" / "coxa",
        args=[str(tmp_path)],
        timeout=60,
    )
    m = SUMMARY.search(out)
    assert m is not None, out
    assert int(m.group(2)) == 0, out
    assert int(m.group(1)) >= 20, out
