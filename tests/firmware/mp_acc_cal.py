# pyright: reportAttributeAccessIssue=false
"""Harness for the accelerometer calibration tests (``test_acc_cal.py``), dialect-neutral.

Runs the real :class:`coxa_fw.app.App` (sampler, AHRS, FIFO) with a
:class:`coxa_fw.acc_cal.AccCal` on a virtual clock (``tests/firmware/fakes/time.py``) and an
IMU driver that hands out recorded raw counts (12 bytes per sample: gx, gy, gz, ax, ay, az as
i16 LE, board axes, wire scales) at the configured rate. The same functions run on CPython
(the test imports this module with the fake ``time`` passed in) and on the MicroPython unix
port::

    MICROPYPATH=.frozen:tests/firmware/fakes:firmware:host/coxa:tests/firmware \\
        micropython tests/firmware/mp_acc_cal.py run <counts> <cal file|-> <quat out|-> <load 0/1>
    micropython tests/firmware/mp_acc_cal.py heap <counts> <cal file>
    micropython tests/firmware/mp_acc_cal.py load <cal file>

``run`` prints ``RESULT {json}`` (calibration state and log lines) and writes per sample the
AHRS quaternion (4 float32, w x y z) and flags (1 byte); the calibration file is loaded first
with ``load`` = 1. ``heap`` prints ``HEAP {json}``: heap bytes of every ``App.step()`` and
``App.calibrate()`` with the collector off, and the free heap after collections through the
run (calibration loaded from the file and applied, rests collected and fits run as they
come; ``late_*``: the free heap over the last two thirds). ``load`` prints
``RESULT {json}`` after ``AccCal.load`` of the file.
"""

import gc
import json
import sys

import wire  # pyright: ignore[reportMissingImports]

from coxa_fw.acc_cal import AccCal  # pyright: ignore[reportMissingImports]
from coxa_fw.ahrs import Ahrs6D  # pyright: ignore[reportMissingImports]
from coxa_fw.app import App  # pyright: ignore[reportMissingImports]

RATE_HZ = 200


_CHUNK = 256  # samples buffered from the file


class CountsImu:
    """IMU driver interface over a counts file: sample ``j`` exists once the virtual clock
    has passed ``t0 + (j + 1) * period``. Reads copy from a buffer that :meth:`refill` tops
    up from the file; they allocate nothing when the buffer holds enough (the heap harness
    refills between steps)."""

    gyr_rad_s_per_lsb = wire.GYR_RAD_S_PER_LSB
    acc_m_s2_per_lsb = wire.ACC_M_S2_PER_LSB

    def __init__(self, clock, path, rate_hz):
        self.odr_hz = rate_hz
        self._clock = clock
        self._f = open(path, "rb")
        self._f.seek(0, 2)
        self.total = self._f.tell() // 12
        self._f.seek(0)
        self._t0 = clock.now_us()
        self._period_us = 1000000 // rate_hz
        self.taken = 0
        self._chunk = bytearray(12 * _CHUNK)
        self._pos = 0  # byte offset of the next sample in the chunk
        self._end = 0  # bytes held
        self.refill()

    def refill(self):
        """Move the unread samples to the start of the buffer and fill it up."""
        c = self._chunk
        if self._pos:
            rest = self._end - self._pos
            c[0:rest] = c[self._pos : self._end]
            self._pos = 0
            self._end = rest
        if self._end < len(c):
            got = self._f.readinto(memoryview(c)[self._end :])
            if got:
                self._end += got

    def fifo_samples(self):
        due = (self._clock.now_us() - self._t0) // self._period_us
        if due > self.total:
            due = self.total
        return due - self.taken

    def read_fifo_into(self, buf, max_samples):
        n = self.fifo_samples()
        if n > max_samples:
            n = max_samples
        if n > len(buf) // 12:
            n = len(buf) // 12
        if n <= 0:
            return 0
        if self._end - self._pos < 12 * n:
            self.refill()
        c = self._chunk
        o = self._pos
        for k in range(12 * n):
            buf[k] = c[o + k]
        self._pos = o + 12 * n
        self.taken += n
        return n

    def temperature_c(self):
        return 25.0

    def done(self):
        return self.taken >= self.total

    def close(self):
        self._f.close()


class _Recorder:
    """``ahrs_factory`` whose filters write every sample's quaternion and flags to a file."""

    def __init__(self, path):
        self.f = open(path, "wb") if path else None
        self.buf = bytearray(17)

    def __call__(self, rate_hz):
        f = self.f
        b = self.buf
        if f is None:
            return Ahrs6D(rate_hz)

        class Recording(Ahrs6D):
            def update(self, gx, gy, gz, ax, ay, az):
                flags = Ahrs6D.update(self, gx, gy, gz, ax, ay, az)
                b[0:16] = bytes(self.q)
                b[16] = flags
                f.write(b)
                return flags

        return Recording(rate_hz)

    def close(self):
        if self.f is not None:
            self.f.close()


def _poll_us(it):
    return 7000 + (it * 7919) % 9000  # 7-16 ms, never a multiple of the period


def state(cal):
    """The calibration's state as a JSON-able dict."""
    return {
        "valid": cal.valid,
        "offset_m_s2": [cal.offset_m_s2[0], cal.offset_m_s2[1], cal.offset_m_s2[2]],
        "scale": [cal.scale[0], cal.scale[1], cal.scale[2]],
        "model": cal.model,
        "rests_used": cal.rests_used,
        "residual_m_s2": cal.residual_m_s2,
        "slots": cal.slots,
        "reason": cal.reason,
        "fit_model": cal.fit_model,
        "spread": cal.spread,
        "leverage_mg": cal.leverage_mg,
        "rests_seen": cal.rests_seen,
        "rests_ignored": cal.rests_ignored,
        "fits": cal.fits,
        "accepted": cal.accepted,
        "saves": cal.saves,
        "load_error": cal.load_error,
    }


def run(clock, counts_path, cal_path, quat_path, load):
    """Feed the counts through the app with a calibration (``cal_path`` None: without);
    return ``state(cal)`` plus the log lines (``"log"``) and the sample count."""
    clock.reset(1000000)
    logs = []
    cal = None
    if cal_path is not None:
        cal = AccCal(cal_path, log=logs.append)
        if load:
            cal.load()
    imu = CountsImu(clock, counts_path, RATE_HZ)
    rec = _Recorder(quat_path)
    app = App(
        imu,
        clock,
        0x1A2B,
        wire.SEGMENT_THIGH_R,
        RATE_HZ,
        ahrs_factory=rec,
        fifo_capacity=1000,
        acc_cal=cal,
    )
    it = 0
    samples = 0
    while not imu.done():
        it += 1
        clock.advance_us(_poll_us(it))
        samples += app.step()
        app.calibrate()
    rec.close()
    imu.close()
    out = state(cal) if cal is not None else {"valid": False, "log": [], "samples": 0}
    out["log"] = logs
    out["samples"] = samples
    out["imu_errors"] = app.imu_errors
    return out


def heap(clock, counts_path, cal_path):
    """Heap bytes of ``step()`` and ``calibrate()`` (collector off around each call), the
    longest ``calibrate()`` in real microseconds, and the free heap after a collection every
    50 polls (MicroPython only: ``gc.mem_alloc``, ``utime``)."""
    import utime  # pyright: ignore[reportMissingImports]  # the real clock (fit durations)

    ticks_us = utime.ticks_us
    ticks_diff = utime.ticks_diff
    clock.reset(1000000)
    lines = [0]

    def count(_text):
        lines[0] += 1

    cal = AccCal(cal_path, log=count)
    cal.load()
    imu = CountsImu(clock, counts_path, RATE_HZ)
    app = App(imu, clock, 0x1A2B, wire.SEGMENT_THIGH_R, RATE_HZ, fifo_capacity=1000, acc_cal=cal)
    x = 1.5
    gc.collect()
    gc.disable()
    f0 = gc.mem_alloc()
    y = x * 3.0
    float_bytes = gc.mem_alloc() - f0
    gc.enable()
    del y
    it = 0
    warm = 0
    while warm < 2 * RATE_HZ:  # 2 s: first calls, AHRS up
        it += 1
        clock.advance_us(_poll_us(it))
        warm += app.step()
        app.calibrate()
    step_bytes = 0
    samples = 0
    odd_steps = 0
    cal_bytes = 0
    cal_calls = 0
    applied = 0
    cal_max_bytes = 0
    cal_max_us = 0
    free_min = 0
    free_max = 0
    free_first = -1
    free_last = 0
    late_min = 0
    late_max = 0
    late = -1
    mark = imu.total // 3  # the first third fills every slot and fit buffer
    gc.collect()
    while not imu.done():
        it += 1
        clock.advance_us(_poll_us(it))
        if gc.mem_free() < 65536:  # room for a step with the collector off
            gc.collect()
        imu.refill()  # outside the measurement
        gc.disable()
        a0 = gc.mem_alloc()
        n = app.step()
        a1 = gc.mem_alloc()
        gc.enable()
        step_bytes += a1 - a0
        samples += n
        if a1 - a0 != 6 * float_bytes * n:
            odd_steps += 1
        if cal._ready or cal._fit_due:  # a fit may run: all the room it can get
            gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        t0 = ticks_us()
        if app.calibrate():
            applied += 1
        dt = ticks_diff(ticks_us(), t0)
        a1 = gc.mem_alloc()
        gc.enable()
        cal_bytes += a1 - a0
        cal_calls += 1
        if a1 - a0 > cal_max_bytes:
            cal_max_bytes = a1 - a0
        if dt > cal_max_us:
            cal_max_us = dt
        if it % 50 == 0:
            gc.collect()
            free_last = gc.mem_free()
            if free_first < 0:
                free_first = free_last
                free_min = free_last
                free_max = free_last
            elif free_last < free_min:
                free_min = free_last
            elif free_last > free_max:
                free_max = free_last
            if imu.taken >= mark:
                if late < 0:
                    late = free_last
                    late_min = late
                    late_max = late
                elif free_last < late_min:
                    late_min = free_last
                elif free_last > late_max:
                    late_max = free_last
    imu.close()
    return {
        "float_bytes": float_bytes,
        "samples": samples,
        "step_bytes": step_bytes,
        "odd_steps": odd_steps,
        "calibrate_bytes": cal_bytes,
        "calibrate_calls": cal_calls,
        "calibrate_max_bytes": cal_max_bytes,
        "calibrate_max_us": cal_max_us,
        "applied": applied,
        "fits": cal.fits,
        "rests_seen": cal.rests_seen,
        "valid": cal.valid,
        "log_lines": lines[0],
        "free_min": free_min,
        "free_max": free_max,
        "free_first": free_first,
        "free_last": free_last,
        "late_min": late_min,
        "late_max": late_max,
        "imu_errors": app.imu_errors,
    }


def load_only(cal_path):
    logs = []
    cal = AccCal(cal_path, log=logs.append)
    cal.load()
    out = state(cal)
    out["log"] = logs
    return out


def main(argv):
    import time as clock  # the fake (tests/firmware/fakes first on MICROPYPATH)

    mode = argv[1]
    if mode == "run":
        cal_path = None if argv[3] == "-" else argv[3]
        quat_path = None if argv[4] == "-" else argv[4]
        out = run(clock, argv[2], cal_path, quat_path, argv[5] == "1")
        print("RESULT " + json.dumps(out))
    elif mode == "heap":
        print("HEAP " + json.dumps(heap(clock, argv[2], argv[3])))
    elif mode == "load":
        print("RESULT " + json.dumps(load_only(argv[2])))
    else:
        raise ValueError("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
