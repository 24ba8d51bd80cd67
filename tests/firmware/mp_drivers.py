"""IMU drivers against the register models, on MicroPython (or CPython).

Run by ``test_drivers.py`` under the MicroPython unix port with
``MICROPYPATH=.frozen:tests/firmware/fakes:firmware``::

    micropython tests/firmware/mp_drivers.py

Prints ``OK <check>`` or ``FAIL <check>: <reason>`` per check, ``ALLOC <what> bytes=<n>
samples=<m>`` for the heap measurements (MicroPython only: ``gc.mem_alloc`` around the read
loop with the collector disabled), and last ``CHECKS <passed> FAILED <failed>``. Exit status
0 only if every check passed.
"""

import gc
import sys

import imu_models  # pyright: ignore[reportMissingImports]
import machine  # pyright: ignore[reportMissingImports]

from coxa_fw import profiles  # pyright: ignore[reportMissingImports]
from coxa_fw.drivers.icm42688 import ICM42688  # pyright: ignore[reportMissingImports]
from coxa_fw.drivers.lsm6dsox import LSM6DSOX  # pyright: ignore[reportMissingImports]

CHIPS = ("lsm6dsox-ga", "lsm6dsox-ag", "ism330dhcx", "icm42688")
RESULTS = [0, 0]


class CheckError(Exception):
    pass


def expect(what, got, want):
    if got != want:
        raise CheckError(f"{what}: got {got!r}, want {want!r}")


def expect_raises(what, error, fn, *args):
    try:
        fn(*args)
    except error as exc:
        return exc
    raise CheckError(f"{what}: no {error.__name__} raised")


def setup(chip, rate_hz=200, address=None):
    """A fresh bus with one model; returns (i2c, model, driver)."""
    machine.reset_all()
    i2c = machine.I2C(0, scl=machine.Pin(9), sda=machine.Pin(8), freq=400000)
    if chip == "icm42688":
        address = 0x68 if address is None else address
        model = machine.attach(0, address, imu_models.Icm42688Model())
        driver = ICM42688(i2c, address, rate_hz, settle_ms=0)
    else:
        address = 0x6A if address is None else address
        name, _, order = chip.partition("-")
        model = machine.attach(0, address, imu_models.Lsm6dsoxModel(name, order or "ga"))
        driver = LSM6DSOX(i2c, address, rate_hz, settle_ms=0)
    return i2c, model, driver


def sample(k):
    """Distinct raw values per sample; gyro and accel tied together so mispairing shows."""
    return ((k * 7) % 30000, -k, k - 1000, 2 * k + 1, -(k * 7) % 30000, 5 - k)


def unpack(buf, n):
    out = []
    for s in range(n):
        vals = []
        for i in range(6):
            o = 12 * s + 2 * i
            v = buf[o] | (buf[o + 1] << 8)
            vals.append(v - 65536 if v > 32767 else v)
        out.append(tuple(vals))
    return out


def drain(driver, per_read=16):
    buf = bytearray(12 * 16)
    got = []
    while True:
        n = driver.read_fifo_into(buf, per_read)
        if n == 0:
            return got
        got.extend(unpack(buf, n))


# -- checks ---------------------------------------------------------------------------------
def check_identity():
    for chip, want in (("lsm6dsox-ga", "LSM6DSOX"), ("ism330dhcx", "ISM330DHCX")):
        expect(chip, setup(chip)[2].chip, want)
    expect("icm42688", setup("icm42688", address=0x69)[2].chip, "ICM-42688-P")
    machine.reset_all()
    i2c = machine.I2C(0)
    machine.attach(0, 0x6A, imu_models.Icm42688Model())
    machine.attach(0, 0x68, imu_models.Lsm6dsoxModel())
    exc = expect_raises("LSM driver on an ICM", ValueError, LSM6DSOX, i2c, 0x6A)
    if "ICM-42688-P" not in str(exc):
        raise CheckError(f"message does not name the ICM-42688-P: {exc}")
    exc = expect_raises("ICM driver on an LSM", ValueError, ICM42688, i2c, 0x68)
    if "LSM6DSOX" not in str(exc):
        raise CheckError(f"message does not name the LSM6DSOX: {exc}")
    exc = expect_raises("nothing at 0x6B", OSError, LSM6DSOX, i2c, 0x6B)
    expect("errno", exc.args[0], 19)
    exc = expect_raises("nothing at 0x69", OSError, ICM42688, i2c, 0x69)
    expect("errno", exc.args[0], 19)


def check_configuration():
    for chip in CHIPS:
        rates = (100, 200, 500, 1000) if chip == "icm42688" else (100, 200, 400)
        for rate in rates:
            _, model, driver = setup(chip, rate)
            expect(f"{chip} {rate} Hz problems", model.problems(), [])
            nominal = model.odr_hz()
            if abs(driver.odr_hz - nominal) > 0.01 * nominal:
                raise CheckError(f"{chip} odr_hz {driver.odr_hz!r} vs {nominal!r}")


def check_rates_rejected():
    machine.reset_all()
    i2c = machine.I2C(0)
    machine.attach(0, 0x6A, imu_models.Lsm6dsoxModel())
    machine.attach(0, 0x68, imu_models.Icm42688Model())
    expect_raises("LSM 300 Hz", ValueError, LSM6DSOX, i2c, 0x6A, 300)
    expect_raises("ICM 400 Hz", ValueError, ICM42688, i2c, 0x68, 400)
    expect("bus transfers", i2c.transfers, 0)


def check_round_trip():
    for chip in CHIPS:
        _, model, driver = setup(chip)
        for per_read in (1, 7, 16):
            want = [sample(k) for k in range(per_read, per_read + 100)]
            for s in want:
                model.push_sample(*s)
            expect(f"{chip} fifo_samples", driver.fifo_samples(), 100)
            expect(f"{chip} samples, {per_read} per read", drain(driver, per_read), want)
        expect(f"{chip} overflows", driver.overflows, 0)


def check_odd_leftover():
    for chip in ("lsm6dsox-ga", "lsm6dsox-ag"):
        _, model, driver = setup(chip)
        for k in range(3):
            model.push_sample(*sample(k), hold_second=(k == 2))
        expect("words", model.words_in_fifo, 5)
        expect("fifo_samples before", driver.fifo_samples(), 2)
        expect("first read", drain(driver), [sample(0), sample(1)])
        model.release()
        expect("fifo_samples after", driver.fifo_samples(), 1)
        expect("second read", drain(driver), [sample(2)])
        expect("dropped", driver.dropped, 0)


def check_overflow():
    for chip in CHIPS:
        _, model, driver = setup(chip)
        capacity = 128 if chip == "icm42688" else 256
        for k in range(capacity + 50):
            model.push_sample(*sample(k))
        got = drain(driver)
        expect(f"{chip} overflows", driver.overflows, 1)
        expect(f"{chip} kept", got, [sample(k) for k in range(50, capacity + 50)])


def check_axis_map():
    code = profiles.axis_map([[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    buf = bytearray(24)
    for i, v in enumerate((1, 2, 3, -32768, 5, 6, 7, 8, 9, 10, 11, 12)):
        buf[2 * i] = v & 0xFF
        buf[2 * i + 1] = (v >> 8) & 0xFF
    profiles.apply_axis_map_into(buf, 2, code)
    expect("mapped", unpack(buf, 2), [(2, -1, 3, 5, 32767, 6), (8, -7, 9, 11, -10, 12)])
    expect_raises("reflection", ValueError, profiles.axis_map, [[1, 0, 0], [0, 1, 0], [0, 0, -1]])


def measure(label, driver, model, pushes, per_read, hold=False):
    for k in range(pushes):
        if hold:
            model.push_sample(*sample(k), hold_second=(k % 5 == 4))
        else:
            model.push_sample(*sample(k))
    buf = bytearray(12 * 16)
    code = profiles.axis_map([[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    mem_alloc = getattr(gc, "mem_alloc", None)  # MicroPython only
    if mem_alloc is None:
        print(f"ALLOC {label} skipped (no gc.mem_alloc)")
        return
    gc.collect()
    gc.disable()
    try:
        before = mem_alloc()
        got = 0
        while True:
            driver.fifo_samples()
            n = driver.read_fifo_into(buf, per_read)
            if n == 0:
                break
            profiles.apply_axis_map_into(buf, n, code)
            got += n
        after = mem_alloc()
    finally:
        gc.enable()
    print(f"ALLOC {label} bytes={after - before} samples={got}")
    if after - before:
        raise CheckError(f"{label} allocated {after - before} bytes")


def check_no_allocation():
    for chip in CHIPS:
        pushes = 120 if chip == "icm42688" else 250
        for per_read in (1, 16):
            _, model, driver = setup(chip)
            measure(f"{chip} per_read={per_read}", driver, model, pushes, per_read)
        if chip != "icm42688":
            _, model, driver = setup(chip)
            measure(f"{chip} odd-leftovers", driver, model, pushes, 3, hold=True)


def main():
    checks = (
        ("identity", check_identity),
        ("configuration", check_configuration),
        ("rates_rejected", check_rates_rejected),
        ("round_trip", check_round_trip),
        ("odd_leftover", check_odd_leftover),
        ("overflow", check_overflow),
        ("axis_map", check_axis_map),
        ("no_allocation", check_no_allocation),
    )
    for name, fn in checks:
        try:
            fn()
        except Exception as exc:  # report every failing check, keep going
            RESULTS[1] += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}")
        else:
            RESULTS[0] += 1
            print(f"OK {name}")
    print(f"CHECKS {RESULTS[0]} FAILED {RESULTS[1]}")
    sys.exit(1 if RESULTS[1] else 0)


main()
