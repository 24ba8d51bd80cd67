# pyright: reportAttributeAccessIssue=false
"""Heap bytes allocated by ``App.step()`` and by the link side, per sample (MicroPython).

Run by ``test_app_heap.py`` under ``-X heapsize=...`` with the app rig (register model on the
fake bus, real driver, real AHRS, the full 6000-sample FIFO)::

    micropython -X heapsize=256k tests/firmware/mp_app_heap.py <counts.bin> <chip> <profile>

Method: the garbage collector is disabled; ``gc.mem_alloc()`` is read right before and right
after every ``App.step()`` (and every ``next_frame_into``) and the differences are summed, so
what the test harness allocates between calls (the register model's sample pushes, the
host's decoding) is not counted; ``gc.collect()`` runs between calls every few iterations.
Measured after a warm-up (IMU up, streaming, first period estimates, AHRS rebuilt at the real
rate). Also reported: the heap taken by the modules the board runs (wire, the app modules,
the AHRS, the driver) and by the ``App`` itself, and the size of one float object. Prints one
line ``HEAP {json}``.
"""

import gc
import json
import sys


def _alloc():
    gc.collect()
    return gc.mem_alloc()


def main():
    import time  # the fake clock

    counts_path, chip, profile = sys.argv[1], sys.argv[2], sys.argv[3]
    m0 = _alloc()
    # the modules the board imports for sampling (ble.py and main.py not included)
    wire = __import__("wire")
    for name in ("ahrs", "app", "fifo", "framer", "profiles", "sampler"):
        __import__("coxa_fw." + name)
    __import__("coxa_fw.drivers.icm42688")
    __import__("coxa_fw.drivers.lsm6dsox")
    m1 = _alloc()
    # the test harness
    __import__("imu_models")
    __import__("machine")
    from mp_app_rig import Rig  # pyright: ignore[reportMissingImports]

    m2 = _alloc()
    base = m2
    cfg = {"profile": profile, "chip": chip, "link": "ble", "frames_per_poll": 4}
    rig = Rig(time, counts_path, cfg)
    app = rig.app
    m3 = _alloc()
    x = 1.5
    gc.disable()
    f0 = gc.mem_alloc()
    y = x * 3.0
    f1 = gc.mem_alloc()
    gc.enable()
    float_bytes = f1 - f0
    del y
    while rig.t_start < 0:
        rig.poll()
    rig.host.command(wire.OP_START_STREAM)
    # warm-up: 3 s of samples
    rig.run_for(3000000)
    gc.collect()
    used = gc.mem_alloc()
    free = gc.mem_free()
    gc.disable()
    step_bytes = 0
    step_calls = 0
    samples = 0
    frame_bytes = 0
    frames = 0
    buf = bytearray(wire.MAX_FRAME_BYTES)
    it = 0
    t = rig.t
    while not rig.done_producing():
        it += 1
        t.advance_us(4000 + (it * 7919) % 12000)
        rig._produce()
        a0 = gc.mem_alloc()
        n = app.step()
        a1 = gc.mem_alloc()
        step_bytes += a1 - a0
        step_calls += 1
        samples += n
        while True:
            a0 = gc.mem_alloc()
            m = app.next_frame_into(buf, wire.MAX_FRAME_BYTES, 0)
            a1 = gc.mem_alloc()
            if m == 0:
                break
            frame_bytes += a1 - a0
            frames += 1
        if it % 8 == 0:
            gc.collect()
    gc.enable()
    print(
        "HEAP "
        + json.dumps(
            {
                "modules_bytes": m1 - m0,
                "harness_bytes": m2 - m1,
                "rig_and_app_bytes": m3 - m2,
                "float_bytes": float_bytes,
                "base_bytes": base,
                "used_bytes": used,
                "free_bytes": free,
                "fifo_bytes": app.fifo.ring_bytes,
                "samples": samples,
                "step_calls": step_calls,
                "step_bytes": step_bytes,
                "frames": frames,
                "frame_bytes": frame_bytes,
                "imu_errors": app.imu_errors,
            }
        )
    )


main()
