"""Time per sample of the board app on the MicroPython unix port, bytecode and native.

Runs ``tests/firmware/mp_app_bench.py`` (the real ``App``, ``Ahrs6D``, sampler, FIFO and
framer, fed by a stand-in IMU that copies precomputed samples) under the pinned MicroPython
unix port, once with the bytecode emitter and once with ``-X emit=native``, ``--repeat``
times each, and prints the medians: microseconds per sample for ``App.step()`` and its parts,
per data frame, and the share of the sample period they use at 200 and 400 Hz.

These are figures for this machine's CPU. The ESP32-S3 (240 MHz Xtensa LX7) runs MicroPython
bytecode a few tens of times slower than a desktop core; scale accordingly (and measure on a
board: ``mpremote run`` of the same script with the modules deployed).

Usage::

    python tools/bench_firmware.py             # 20 s of samples per run, 3 runs per emitter
    python tools/bench_firmware.py --seconds 5 --repeat 1 --json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "firmware" / "mp_app_bench.py"
PATH = [
    ROOT / "tests" / "firmware" / "fakes",
    ROOT / "firmware",
    ROOT / "host" / "coxa",
    ROOT / "tests" / "firmware",
]
BENCH = re.compile(r"^BENCH (\{.*\})$", re.MULTILINE)
KEYS = (
    ("step_us_per_sample", "App.step() per sample"),
    ("ahrs_update_us", "  Ahrs6D.update"),
    ("load_us", "  Sampler.load (decode, axes, scales)"),
    ("fifo_push_us", "  SampleFifo.push"),
    ("frame_us", "next_frame_into per frame"),
    ("frame_us_per_sample", "next_frame_into per sample"),
)


def micropython() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if not exe.is_file():
        raise SystemExit(f"no MicroPython unix port at {exe}; run `make test` once to install it")
    return str(exe)


def run_once(native: bool, seconds: float) -> dict[str, float]:
    cmd = [micropython()]
    if native:
        cmd += ["-X", "emit=native"]
    cmd += [str(SCRIPT), str(seconds)]
    env = {"MICROPYPATH": ":".join([".frozen", *(str(p) for p in PATH)])}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    m = BENCH.search(proc.stdout)
    if proc.returncode != 0 or m is None:
        raise SystemExit(f"benchmark failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(m.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="samples per run, in s")
    parser.add_argument("--repeat", type=int, default=3, help="runs per emitter")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    for name, native in (("bytecode", False), ("native", True)):
        runs = [run_once(native, args.seconds) for _ in range(args.repeat)]
        results[name] = {k: statistics.median(r[k] for r in runs) for k, _ in KEYS}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"MicroPython unix port, {args.repeat} run(s) of {args.seconds:g} s, medians, us")
    print(f"{'':40s} {'bytecode':>10s} {'native':>10s}")
    for key, label in KEYS:
        print(f"{label:40s} {results['bytecode'][key]:10.2f} {results['native'][key]:10.2f}")
    for rate in (200, 400):
        per = 1e6 / rate
        cells = []
        for name in ("bytecode", "native"):
            used = results[name]["step_us_per_sample"] + results[name]["frame_us_per_sample"]
            cells.append(f"{100.0 * used / per:9.2f}%")
        print(f"{f'share of the {per:.0f} us period at {rate} Hz':40s} {cells[0]} {cells[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
