"""The FIFO's viper helpers on the MicroPython unix port (``mp_app_units.py``): the same
Q14 results as ``coxa.wire`` on CPython, and no heap allocation in the FIFO's hot path."""

from __future__ import annotations

import json
import random
import re
import struct
from pathlib import Path

import pytest

from coxa import wire
from tests.firmware.app_sim import FIRMWARE, HERE, WIRE_DIR
from tests.support.micropython import run_micropython

SUMMARY = re.compile(r"^UNITS passed (\d+) failed (\d+)$", re.MULTILINE)


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


@pytest.mark.micropython
def test_viper_helpers_on_micropython(tmp_path: Path) -> None:
    rng = random.Random(5)
    specials = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1.99997, 3.0517578125e-05, 1e-9]
    specials += [float("inf"), float("-inf"), 0.70710678, 1.0000001, 32767 / 16384, -1e30]
    specials += [(i + 0.5) / 16384 for i in range(-5, 5)]
    values = specials + [rng.uniform(-2.5, 2.5) for _ in range(400)]
    values += [rng.uniform(-1e-4, 1e-4) for _ in range(40)]
    cases = []
    for i in range(0, len(values) - 3, 4):
        q = [f32(v) for v in values[i : i + 4]]
        bits = list(struct.unpack("<IIII", struct.pack("<ffff", *q)))
        cases.append([bits, [wire.float_to_q14(v) for v in q]])
    cases_path = tmp_path / "cases.json"
    cases_path.write_text(json.dumps(cases))
    out = run_micropython(HERE / "mp_app_units.py", FIRMWARE, WIRE_DIR, args=[str(cases_path)])
    m = SUMMARY.search(out)
    assert m is not None, out
    assert (int(m.group(1)), int(m.group(2))) == (len(cases) + 2, 0), out
