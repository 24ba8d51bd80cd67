# pyright: reportAttributeAccessIssue=false
"""Time per sample of the board app on the MicroPython unix port (run by
``tools/bench_firmware.py``; not a test)::

    micropython [-X emit=native] tests/firmware/mp_app_bench.py [seconds]

A stand-in IMU hands out precomputed samples (a slow rotation with noise-like wiggle) with a
plain byte copy, so the figures are the app's own work: ``App.step()`` (sampler, AHRS, FIFO)
per sample, ``next_frame_into`` per frame and per sample, and the parts one by one
(``Sampler.load``, ``Ahrs6D.update``, ``SampleFifo.push``). Wall time from ``utime.ticks_us``
(the real clock; the app runs on the fake ``time``). Prints one line ``BENCH {json}``.
"""

import gc
import json
import math
import struct
import sys
import time as ftime

import utime  # pyright: ignore[reportMissingImports] # the real clock (the fake time.py shadows ``time``)
import wire  # pyright: ignore[reportMissingImports]

from coxa_fw.app import App  # pyright: ignore[reportMissingImports]

N_SRC = 2000


class FastImu:
    gyr_rad_s_per_lsb = 0.070 * 3.141592653589793 / 180.0
    acc_m_s2_per_lsb = 0.488e-3 * 9.80665
    odr_hz = 208.33

    def __init__(self, t0):
        self.period = 1e6 / self.odr_hz
        self.t0 = t0
        self.produced = 0
        self.read = 0
        self.data = bytearray(12 * N_SRC)
        for j in range(N_SRC):
            a = 0.5 * math.sin(j * 0.01)
            w = 0.5 * math.cos(j * 0.01) * 0.01 * self.odr_hz
            g = int(w / self.gyr_rad_s_per_lsb)
            ax = int(9.80665 * math.sin(a) / self.acc_m_s2_per_lsb)
            az = int(9.80665 * math.cos(a) / self.acc_m_s2_per_lsb)
            struct.pack_into(
                "<hhhhhh", self.data, 12 * j, g, (j * 7) % 13 - 6, 3, ax, (j * 5) % 11 - 5, az
            )

    def produce(self, now):
        n = int((now - self.t0) / self.period) + 1
        if n > self.produced:
            self.produced = n

    def fifo_samples(self):
        return self.produced - self.read

    def read_fifo_into(self, buf, max_samples):
        n = self.produced - self.read
        if n > max_samples:
            n = max_samples
        j = self.read % N_SRC
        if j + n > N_SRC:
            n = N_SRC - j
        buf[0 : 12 * n] = self.data[12 * j : 12 * (j + n)]
        self.read += n
        return n

    def temperature_c(self):
        return 30.0


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    ftime.reset(1000000)
    imu = FastImu(ftime.now_us())
    app = App(imu, ftime, 0x1A2B, wire.SEGMENT_THIGH_R, 200)
    app.on_command(wire.encode_command(wire.OP_START_STREAM, 1))
    buf = bytearray(wire.MAX_FRAME_BYTES)
    # warm up 3 s
    for _ in range(300):
        ftime.advance_us(10000)
        imu.produce(ftime.now_us())
        app.step()
        while app.next_frame_into(buf, wire.MAX_FRAME_BYTES):
            pass
    gc.collect()
    gc.disable()  # no collection inside the timed calls (the float garbage is small)
    step_us = 0
    frame_us = 0
    frames = 0
    samples = 0
    framed = 0
    for _ in range(int(seconds * 100)):
        ftime.advance_us(10000)
        imu.produce(ftime.now_us())
        t0 = utime.ticks_us()
        n = app.step()
        t1 = utime.ticks_us()
        step_us += utime.ticks_diff(t1, t0)
        samples += n
        while True:
            t0 = utime.ticks_us()
            m = app.next_frame_into(buf, wire.MAX_FRAME_BYTES)
            t1 = utime.ticks_us()
            if m == 0:
                break
            frame_us += utime.ticks_diff(t1, t0)
            frames += 1
            framed += buf[14]
    gc.enable()
    gc.collect()
    # parts
    s = app.sampler
    ahrs = app.ahrs
    fifo = app.fifo
    si = s.si
    w = s.w
    reps = 2000
    t0 = utime.ticks_us()
    for _ in range(reps):
        s.load(0)
    load_us = utime.ticks_diff(utime.ticks_us(), t0) / reps
    t0 = utime.ticks_us()
    for _ in range(reps):
        ahrs.update(si[0], si[1], si[2], si[3], si[4], si[5])
    ahrs_us = utime.ticks_diff(utime.ticks_us(), t0) / reps
    q = ahrs.q
    t0 = utime.ticks_us()
    for _ in range(reps):
        fifo.push(q, w[0], w[1], w[2], 0, w[3], w[4], w[5])
    push_us = utime.ticks_diff(utime.ticks_us(), t0) / reps
    print(
        "BENCH "
        + json.dumps(
            {
                "samples": samples,
                "step_us_per_sample": step_us / samples,
                "frames": frames,
                "frame_us": frame_us / frames,
                "frame_us_per_sample": frame_us / framed,
                "load_us": load_us,
                "ahrs_update_us": ahrs_us,
                "fifo_push_us": push_us,
            }
        )
    )


main()
