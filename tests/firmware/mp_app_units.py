# pyright: reportAttributeAccessIssue=false
"""MicroPython checks of the FIFO's viper helpers (run by ``test_app_units.py``)::

    micropython tests/firmware/mp_app_units.py <cases.json>

``cases.json`` holds float32 quaternion components (as their bit patterns: JSON has no
infinity) and the Q14 integers CPython's ``wire.float_to_q14`` gives for them. Checks
``q14_into`` (viper: reads the float32 bits) against them, ``copy_bytes``, and that both,
and ``SampleFifo.push``/``copy_into``, allocate nothing. Prints ``UNITS passed N failed M``
and one ``FAIL ...`` line per failure.
"""

import gc
import json
import struct
import sys
from array import array

from coxa_fw import fifo  # pyright: ignore[reportMissingImports]


class Timeline:
    def __init__(self):
        self.break_k = -1
        self.st_hi = 1
        self.st_lo = 2
        self.st_p16 = 80000

    def stamp(self, k):
        pass


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    failed = 0
    passed = 0
    buf = bytearray(8)
    for bits, want in cases:
        q = array("f", struct.unpack("<ffff", struct.pack("<IIII", *bits)))
        fifo.q14_into(q, buf, 0)
        got = list(struct.unpack("<hhhh", buf))
        if got != want:
            failed += 1
            print("FAIL q14 %r: got %r want %r" % (list(q), got, want))
        else:
            passed += 1
    src = bytearray(range(200))
    dst = bytearray(50)
    fifo.copy_bytes(dst, 3, src, 100, 21)
    if bytes(dst[3:24]) != bytes(src[100:121]) or dst[2] != 0 or dst[24] != 0:
        failed += 1
        print("FAIL copy_bytes")
    else:
        passed += 1
    # allocation: helpers and the FIFO's per-sample path
    tl = Timeline()
    ring = fifo.SampleFifo(64, tl, 0, chunk_samples=10)
    q = array("f", [0.5, -0.5, 0.25, 1.0])
    frame = bytearray(243)
    for _ in range(100):  # warm up (first calls)
        ring.push(q, 1, 2, 3, 1, 4, 5, 6)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for i in range(1000):
        fifo.q14_into(q, buf, 0)
        fifo.copy_bytes(dst, 0, src, 0, 21)
        ring.push(q, i & 0x7FFF, 2, 3, 1, 4, 5, 6)
        ring.copy_into(frame, 16, ring.next_k - 10, 10, (i & 1) == 1)
    a1 = gc.mem_alloc()
    gc.enable()
    if a1 - a0 != 0:
        failed += 1
        print("FAIL allocation: %d bytes in 1000 rounds" % (a1 - a0))
    else:
        passed += 1
    print("UNITS passed %d failed %d" % (passed, failed))


main()
