"""Run ``coxa_fw.ahrs.Ahrs6D`` under MicroPython for tests/firmware/test_ahrs.py and
tools/bench_ahrs.py (MICROPYPATH must include ``firmware``).

Inputs are little-endian float64 records of six values (gx gy gz rad/s, ax ay az m/s^2).

    micropython ahrs_mp_run.py replay RATE_HZ IN OUT
        writes, per sample, the 16 bytes of ``q`` (float32 w x y z), the 12 bytes of
        ``bias`` (float32 x y z) and one flags byte
    micropython ahrs_mp_run.py heap RATE_HZ IN WARMUP
        prints ``heap_bytes <b> updates <n>``: mem_alloc() growth over the updates after
        the first WARMUP samples (collector disabled while they run; works in a small heap)
    micropython ahrs_mp_run.py time RATE_HZ IN REPEATS
        prints ``us_per_update <t1> <t2> ...``: mean time of one update, per repeat
"""

import gc
import struct
import sys
import time

from coxa_fw.ahrs import Ahrs6D  # pyright: ignore[reportMissingImports]

ticks_us = time.ticks_us  # pyright: ignore[reportAttributeAccessIssue]
ticks_diff = time.ticks_diff  # pyright: ignore[reportAttributeAccessIssue]
mem_alloc = gc.mem_alloc  # pyright: ignore[reportAttributeAccessIssue]


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    rows = []
    for i in range(len(data) // 48):
        rows.append(struct.unpack_from("<6d", data, 48 * i))
    return rows


def replay(rate, in_path, out_path, chunk=200):
    """Filter the inputs chunk by chunk (any length fits the default heap)."""
    ahrs = Ahrs6D(rate)
    q = ahrs.q
    bias = ahrs.bias
    buf = bytearray(48 * chunk)
    out = bytearray(29 * chunk)
    with open(in_path, "rb") as f, open(out_path, "wb") as g:
        while True:
            got = f.readinto(buf) // 48
            if not got:
                break
            for i in range(got):
                r = struct.unpack_from("<6d", buf, 48 * i)
                flags = ahrs.update(r[0], r[1], r[2], r[3], r[4], r[5])
                o = 29 * i
                out[o : o + 16] = bytes(q)
                out[o + 16 : o + 28] = bytes(bias)
                out[o + 28] = flags
            g.write(memoryview(out)[: 29 * got])


def heap(rate, path, warmup, chunk=200):
    """Heap growth of the updates alone: the inputs are unpacked into float objects chunk by
    chunk with the collector on; each chunk's updates then run with it off."""
    ahrs = Ahrs6D(rate)
    update = ahrs.update
    total = 0
    count = 0
    index = 0
    buf = bytearray(48 * chunk)
    with open(path, "rb") as f:
        while True:
            got = f.readinto(buf)
            if not got:
                break
            rows = [struct.unpack_from("<6d", buf, 48 * i) for i in range(got // 48)]
            gc.collect()
            gc.disable()
            before = mem_alloc()
            for i in range(len(rows)):
                r = rows[i]
                if index + i == warmup:
                    before = mem_alloc()
                update(r[0], r[1], r[2], r[3], r[4], r[5])
            after = mem_alloc()
            gc.enable()
            if index + len(rows) > warmup:
                total += after - before
                count += index + len(rows) - max(index, warmup)
            index += len(rows)
            rows = None
    print("heap_bytes", total, "updates", count)


def timing(rate, rows, repeats):
    n = len(rows)
    results = []
    for _ in range(repeats):
        ahrs = Ahrs6D(rate)
        update = ahrs.update
        gc.collect()
        t0 = ticks_us()
        for i in range(n):
            r = rows[i]
            update(r[0], r[1], r[2], r[3], r[4], r[5])
        results.append(ticks_diff(ticks_us(), t0) / n)
    print("us_per_update", " ".join(str(t) for t in results))


def main():
    mode = sys.argv[1]
    rate = float(sys.argv[2])
    if mode == "replay":
        replay(rate, sys.argv[3], sys.argv[4])
    elif mode == "heap":
        heap(rate, sys.argv[3], int(sys.argv[4]))
    elif mode == "time":
        timing(rate, load(sys.argv[3]), int(sys.argv[4]))
    else:
        raise ValueError("unknown mode")


main()
