"""Heap bytes allocated per sample by ``App.step()`` on the MicroPython unix port.

``mp_app_heap.py`` runs the app rig (LSM6DSOX register model on the fake bus, the real
driver, AHRS and app with its 6000-sample FIFO) under ``-X heapsize=448k`` and sums
``gc.mem_alloc()`` differences across each ``step()`` and each ``next_frame_into()`` with the
collector disabled. The unix port is 64-bit: a float object takes 32 bytes there (16 on the
ESP32-S3) and code objects about twice what they take on the board, hence a heap larger than
the board's ~256 kB (the figures are in ``docs/firmware.md``).

Target (issue #3): under 256 bytes per sample; the stretch goal is zero. The app itself
allocates nothing per sample; the six float objects it hands to ``Ahrs6D.update`` (whose
interface takes floats) are the whole of it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.firmware.app_sim import HERE, MP_PATH, lsm6dsox_odr_hz, make_squat_counts
from tests.support.micropython import micropython_env, micropython_executable

HEAP = re.compile(r"^HEAP (\{.*\})$", re.MULTILINE)
HEAPSIZE = "448k"


def run_heap_script(tmp_path: Path) -> dict[str, int]:
    data = make_squat_counts("lsm6dsox", [[1, 0, 0], [0, 1, 0], [0, 0, 1]], lsm6dsox_odr_hz(200))
    counts = tmp_path / "counts.bin"
    counts.write_bytes(data.counts)
    cmd = [
        str(micropython_executable()),
        "-X",
        f"heapsize={HEAPSIZE}",
        str(HERE / "mp_app_heap.py"),
        str(counts),
        "lsm6dsox",
        "coxa-s3-lsm6dsox",
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env=micropython_env(MP_PATH), check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = HEAP.search(proc.stdout)
    assert m is not None, proc.stdout
    return json.loads(m.group(1))


@pytest.mark.micropython
def test_step_heap_per_sample(tmp_path: Path) -> None:
    h = run_heap_script(tmp_path)
    per_sample = h["step_bytes"] / h["samples"]
    print(
        f"\nMicroPython heap: {per_sample:.1f} B per sample in App.step() "
        f"({per_sample / h['float_bytes']:.2f} float objects of {h['float_bytes']} B), "
        f"{h['frame_bytes']} B in {h['frames']} next_frame_into calls; "
        f"modules {h['modules_bytes']} B, rig+app {h['rig_and_app_bytes']} B "
        f"(FIFO records {h['fifo_bytes']} B), free {h['free_bytes']} B of {HEAPSIZE}"
    )
    assert h["imu_errors"] == 0
    assert h["samples"] > 3000
    assert per_sample < 256
    # nothing but the six floats handed to the AHRS
    assert per_sample <= 6 * h["float_bytes"]
    assert h["frame_bytes"] == 0
