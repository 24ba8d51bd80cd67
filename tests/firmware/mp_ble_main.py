# MicroPython script: the fake time/asyncio APIs (ticks, sleep_ms, advance_ms) are not CPython's.
# pyright: reportAttributeAccessIssue=false, reportCallIssue=false, reportOptionalMemberAccess=false
"""The asyncio shell (``coxa_fw/main.py``) on the MicroPython unix port, all hardware faked.

Run with ``MICROPYPATH=.frozen:tests/firmware/fakes:tests/firmware:firmware:host/coxa`` (the
fake ``machine``, ``bluetooth`` and ``time`` modules shadow the real ones)::

    micropython tests/firmware/mp_ble_main.py <scratch dir>

A "world" task moves the fake clock and produces IMU samples (a small fake driver with the
firmware's IMU driver interface: the shell is tested here, the drivers in their own tests)
while the shell's own tasks run on MicroPython's asyncio. A central connects over the fake
BLE stack and streams; then the IMU is unplugged (the shell keeps running and reports
IMU_ERROR), plugged back (recovery), and finally a task is made to die (the watchdog is no
longer fed). Prints ``OK <check>`` lines and ``MAIN_SMOKE passed <n> failed <m>``; exit status
0 only if all passed.
"""

import sys
import time as vtime  # the fake (tests/firmware/fakes/time.py): the shell's clock

# asyncio's scheduler (and the drivers' start-up sleeps) must run on real time: the virtual
# clock only moves when the "world" task moves it.
import utime  # pyright: ignore[reportMissingImports]

sys.modules["time"] = utime

import asyncio  # noqa: E402

import bluetooth  # noqa: E402  # pyright: ignore[reportMissingImports]
import machine  # noqa: E402  # pyright: ignore[reportMissingImports]
import wire  # noqa: E402  # pyright: ignore[reportMissingImports]
from mp_ble_scenarios import Central  # noqa: E402  # pyright: ignore[reportMissingImports]

from coxa_fw import main as shell_main  # noqa: E402  # pyright: ignore[reportMissingImports]

PROFILE = "coxa-s3-lsm6dsox"
results = []


def ok(cond, what):
    results.append((bool(cond), what))
    print(("OK " if cond else "FAILED ") + what)


class FakeUsb:
    """A USB CDC stream nobody has opened: nothing to read, writes taken."""

    def __init__(self):
        self.written = bytearray()

    def readinto(self, buf):
        return 0

    def write(self, data):
        self.written.extend(data)
        return len(data)


class FakeImu:
    """The IMU driver interface over a sample counter the world task fills."""

    gyr_rad_s_per_lsb = wire.GYR_RAD_S_PER_LSB
    acc_m_s2_per_lsb = wire.ACC_M_S2_PER_LSB
    odr_hz = 200

    def __init__(self, state):
        self.state = state

    def fifo_samples(self):
        if not self.state["imu"]:
            raise OSError(19)  # ENODEV: nothing answers on the bus
        return self.state["pending"]

    def read_fifo_into(self, buf, max_samples):
        n = self.fifo_samples()
        if n > max_samples:
            n = max_samples
        if n > len(buf) // 12:
            n = len(buf) // 12
        for i in range(n):
            o = 12 * i
            for j in range(12):
                buf[o + j] = 0
            buf[o + 4] = 20  # gz
            buf[o + 10] = 0x00  # az = 2048 (1 g)
            buf[o + 11] = 0x08
        self.state["pending"] -= n
        return n

    def temperature_c(self):
        return 25.0


async def world(state):
    while state["run"]:
        if state["imu"]:
            state["pending"] += 2
        vtime.advance_ms(10)
        await asyncio.sleep_ms(10)


async def scenario(scratch):
    machine.reset_all()
    vtime.reset()
    state = {"run": True, "imu": True, "pending": 0}
    shell_main.profiles.open_imu = lambda i2c, profile, rate_hz=200: FakeImu(state)
    fake = bluetooth.BLE()
    usb = FakeUsb()
    shell = shell_main.Shell(
        PROFILE,
        "thigh_r",
        board_id=0x1A2B,
        log_echo=False,
        ble=fake,
        usb_stream=usb,
        secrets_path=scratch + "/main.secrets",
        log_path=scratch + "/log.txt",
        log_old_path=scratch + "/log.1.txt",
        clock=vtime,
    )
    ok(shell.app.imu_ok, "IMU found at start")
    expect_adv = wire.encode_advertising(0x1A2B, wire.SEGMENT_THIGH_R)
    ok(fake.advertising is not None and fake.advertising[1] == expect_adv, "advertising")
    w = asyncio.create_task(world(state))
    m = asyncio.create_task(shell.main(wdt_timeout_ms=8000, period_ms=50))
    await asyncio.sleep_ms(50)
    ok(shell.led_code() == shell_main.LED_PAIRING, "LED: pairing mode (no bond yet)")
    c = Central(fake, shell.ble, check_content=False)
    c.connect(247)
    await asyncio.sleep_ms(30)
    ok(shell.led_code() == shell_main.LED_PAIRING, "still pairing mode after connect")
    c.command(wire.OP_START_STREAM)
    await asyncio.sleep_ms(1200)
    c.collect()
    ok(c.acks and c.acks[0].ok, "START_STREAM acked OK")
    got = c.received()
    ok(len(got) > 100, "samples streamed over BLE (%d)" % len(got))
    ok(got and not c.missing(got[-1] + 1, got[0]), "sequence numbers contiguous")
    ok(len(c.statuses) >= 1, "periodic status frame on the status characteristic")
    ok(machine.watchdogs and machine.watchdogs[0].feeds > 5, "watchdog fed while healthy")
    shell.ble.leave_pairing_mode()
    await asyncio.sleep_ms(50)
    ok(shell.led_code() == shell_main.LED_STREAMING, "LED: streaming")
    ok(not usb.written, "nothing written to USB before a host opened it")

    # IMU unplugged: the app reports, the shell keeps running
    state["imu"] = False
    await asyncio.sleep_ms(900)
    c.collect()
    ok(not shell.app.imu_ok, "IMU error detected")
    ok(shell.led_code() == shell_main.LED_IMU_ERROR, "LED: IMU error")
    ok(c.statuses[-1].state & wire.STATE_IMU_ERROR, "status reports IMU_ERROR")
    feeds = machine.watchdogs[0].feeds
    await asyncio.sleep_ms(200)
    ok(machine.watchdogs[0].feeds > feeds, "watchdog still fed during an IMU error")
    state["imu"] = True
    await asyncio.sleep_ms(1500)
    ok(shell.app.imu_ok, "IMU recovered after re-plugging")

    # a dead task stops the watchdog feeding
    def broken():
        raise RuntimeError("simulated bug")

    shell.ble.pump = broken
    await asyncio.sleep_ms(150)
    feeds = machine.watchdogs[0].feeds
    await asyncio.sleep_ms(300)
    ok(machine.watchdogs[0].feeds == feeds, "watchdog starved after a task died")
    shell.stop()
    state["run"] = False
    await m
    await w
    with open(scratch + "/log.txt") as f:
        log = f.read()
    for text in ("boot: coxa", "ble: connected", "imu: error", "imu: recovered", "task ble died"):
        ok(text in log, "log has %r" % text)


def main(argv):
    scratch = argv[1] if len(argv) > 1 else "."
    asyncio.run(scenario(scratch))
    failed = sum(1 for r in results if not r[0])
    print("MAIN_SMOKE passed %d failed %d" % (len(results) - failed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
