"""Stream a simulated recording through each IMU model and driver (MicroPython or CPython).

Run by ``test_drivers.py``::

    micropython tests/firmware/mp_squat.py <st.bin> <icm.bin> <out_dir>

``st.bin`` and ``icm.bin`` hold the same N samples (gx, gy, gz, ax, ay, az as little-endian
int16) in the counts of the ST chips and of the ICM-42688-P, made on CPython from
``coxa.sim``. For every chip the samples are pushed into the
register model in bursts of irregular length (1..37 ODR ticks between reads; on the ST chips
the last slot of every other burst is left half written, so the driver meets odd leftovers in
the middle of the stream) and read back with ``read_fifo_into``. The driver's output (12 bytes
per sample, same layout) goes to ``<out_dir>/<chip>.bin``; one JSON line per chip reports the
sample count, the driver's scale attributes and its counters.
"""

import json
import sys

import imu_models  # pyright: ignore[reportMissingImports]
import machine  # pyright: ignore[reportMissingImports]

from coxa_fw.drivers.icm42688 import ICM42688  # pyright: ignore[reportMissingImports]
from coxa_fw.drivers.lsm6dsox import LSM6DSOX  # pyright: ignore[reportMissingImports]

CHIPS = ("lsm6dsox-ga", "lsm6dsox-ag", "ism330dhcx", "icm42688")


def run(chip, data, out_path):
    machine.reset_all()
    i2c = machine.I2C(0, freq=400000)
    if chip == "icm42688":
        model = machine.attach(0, 0x68, imu_models.Icm42688Model())
        driver = ICM42688(i2c, 0x68, 200, settle_ms=0)
    else:
        name, _, order = chip.partition("-")
        model = machine.attach(0, 0x6B, imu_models.Lsm6dsoxModel(name, order or "ga"))
        driver = LSM6DSOX(i2c, 0x6B, 200, settle_ms=0)
    problems = model.problems()
    total = len(data) // 12
    buf = bytearray(12 * 16)
    out = bytearray(len(data))
    got = 0
    pushed = 0
    burst = 0
    odd_reads = 0
    while pushed < total or driver.fifo_samples():
        burst += 1
        size = 1 + (burst * 11) % 37
        for j in range(size):
            if pushed == total:
                break
            o = 12 * pushed
            vals = []
            for i in range(6):
                v = data[o + 2 * i] | (data[o + 2 * i + 1] << 8)
                vals.append(v - 65536 if v > 32767 else v)
            pushed += 1
            if chip == "icm42688":
                model.push_sample(*vals)
            else:
                model.push_sample(*vals, hold_second=(j == size - 1 and burst % 2 == 0))
        if pushed == total and chip != "icm42688":
            model.release()
        if chip != "icm42688" and model.words_in_fifo % 2:
            odd_reads += 1
        per_read = 1 + burst % 16
        while True:
            n = driver.read_fifo_into(buf, per_read)
            if n == 0:
                break
            out[12 * got : 12 * (got + n)] = buf[: 12 * n]
            got += n
    with open(out_path, "wb") as f:
        f.write(out[: 12 * got])
    summary = {
        "chip": chip,
        "samples": got,
        "gyr_rad_s_per_lsb": driver.gyr_rad_s_per_lsb,
        "acc_m_s2_per_lsb": driver.acc_m_s2_per_lsb,
        "overflows": driver.overflows,
        "dropped": driver.dropped,
        "odd_reads": odd_reads,
        "problems": problems,
    }
    print(json.dumps(summary))


def main():
    with open(sys.argv[1], "rb") as f:
        st_counts = f.read()
    with open(sys.argv[2], "rb") as f:
        icm_counts = f.read()
    for chip in CHIPS:
        data = icm_counts if chip == "icm42688" else st_counts
        run(chip, data, sys.argv[3] + "/" + chip + ".bin")


main()
