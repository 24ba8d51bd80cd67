"""End-to-end run of the board app on a virtual clock (MicroPython unix port or CPython).

Run by ``test_app_e2e.py``::

    micropython tests/firmware/mp_app_e2e.py <config.json>

with ``MICROPYPATH=.frozen:tests/firmware/fakes:firmware:host/coxa:tests/firmware``. On CPython
the test imports this module and calls :func:`run` with the fake ``time`` module.

The configuration (written by the test) names a file of raw IMU counts (12 bytes per sample,
sensor axes, made with ``coxa.sim``), the board profile and link, and a script of events
relative to the first sample (milliseconds): ``dropouts`` ``[start, lossy_until, end]`` (the
link loses the frames it takes until ``lossy_until``, then is away until ``end``), ``faults``
``[start, end]`` (every I2C transfer fails), ``status_ms`` (GET_STATUS requests), ``ping_ms``
(TIME_PING period), ``mode`` (``quat`` or ``raw``). The host starts with GET_STATUS, SET_MODE
and START_STREAM, asks for BACKFILL whenever live sequence numbers jump, and ends with
GET_STATUS. Everything it received goes to ``out`` (see ``mp_app_rig.Rig.write_records``); one
line ``E2E {json}`` summarises the counters.
"""

import json

import machine  # pyright: ignore[reportMissingImports]
import wire  # pyright: ignore[reportMissingImports]
from mp_app_rig import Rig  # pyright: ignore[reportMissingImports]

FAULT_TRANSFERS = 1000000000


def _inside(rel_ms, windows, i):
    return any(w[0] <= rel_ms < w[i] for w in windows)


def run(ftime, cfg):
    rig = Rig(ftime, cfg["counts"], cfg)
    host = rig.host
    for _ in range(1000):
        if rig.t_start >= 0:
            break
        rig.poll()
    if rig.t_start < 0:
        raise OSError("the IMU never came up")
    host.command(wire.OP_GET_STATUS)
    if cfg.get("mode", "quat") == "raw":
        host.command(wire.OP_SET_MODE, wire.MODE_QUAT_RAW)
    host.command(wire.OP_START_STREAM)
    dropouts = cfg.get("dropouts", [])
    faults = cfg.get("faults", [])
    status_ms = list(cfg.get("status_ms", []))
    ping_ms = cfg.get("ping_ms", 0)
    next_ping = ping_ms if ping_ms else -1
    faulty = False
    while not rig.done_producing():
        rel_ms = (rig.now_us() - rig.t_start) // 1000
        rig.lossy = _inside(rel_ms, dropouts, 1)
        rig.away = not rig.lossy and _inside(rel_ms, dropouts, 2)
        f = _inside(rel_ms, faults, 1)
        if f != faulty:
            faulty = f
            machine.inject_fault(0, FAULT_TRANSFERS if f else 0)
        if status_ms and rel_ms >= status_ms[0]:
            status_ms.pop(0)
            host.command(wire.OP_GET_STATUS)
        if next_ping >= 0 and rel_ms >= next_ping:
            next_ping += ping_ms
            host.command(wire.OP_TIME_PING, (rig.now_us() * 7) & 0xFFFFFFFF)
        rig.poll()
    rig.lossy = False
    rig.away = False
    if faulty:
        machine.inject_fault(0, 0)
    host.command(wire.OP_GET_STATUS)
    rig.run_to_end()
    rig.write_records(cfg["out"])
    summary = rig.summary()
    print("E2E " + json.dumps(summary))
    return summary


def main():
    import sys
    import time  # the fake (tests/firmware/fakes/time.py shadows the built-in)

    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    run(time, cfg)


if __name__ == "__main__":
    main()
