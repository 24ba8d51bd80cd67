# MicroPython script (utime, asyncio.sleep_ms, the fake machine API are not CPython's).
# pyright: reportAttributeAccessIssue=false, reportMissingImports=false, reportCallIssue=false
"""The real board firmware (``coxa_fw.main.Shell``) with its radio bridged to the host.

Run by ``_bridge.py`` in the MicroPython unix port::

    micropython tests/sources/bridge/mp_bridge_board.py <config.json>

with ``MICROPYPATH=.frozen:tests/sources/bridge:tests/firmware/fakes:firmware:host/coxa``.
The firmware is unchanged: its ``bluetooth`` module is ``bridge_bluetooth`` (its calls and IRQ
events travel over a TCP socket on 127.0.0.1 to the host's bumble peripheral); ``machine`` is
the fake of ``tests/firmware/fakes`` with an LSM6DSOX register model on I2C bus 0, read by the
firmware's own driver; ``time`` is the real ``utime`` (everything runs in real time). A
"world" task pushes the recorded raw counts into the model at the chip's output data rate
once the firmware has configured it, and reports when they are used up.

On the host's STOP message the shell stops and the truth is written to ``cfg["truth"]`` (JSON):
every sample in the firmware's FIFO (wire bytes, quaternion mode), its ordinals, the samples
pushed into the IMU, and the counters of the app and of ``BlePeripheral``.

Config keys: ``port``, ``profile``, ``segment``, ``board_id``, ``counts`` (file of 12-byte raw
samples, sensor axes), ``secrets``, ``log``, ``truth``, ``window`` (notifications in flight
before ENOMEM).
"""

import sys

import utime

sys.modules["time"] = utime  # asyncio, the driver and the shell all run on real time

import asyncio  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
from binascii import hexlify  # noqa: E402

import bridge_bluetooth  # noqa: E402

sys.modules["bluetooth"] = bridge_bluetooth

import imu_models  # noqa: E402
import machine  # noqa: E402

from coxa_fw import main as shell_main  # noqa: E402
from coxa_fw import profiles  # noqa: E402

EAGAIN = 11
_QREC = 15


class NoUsb:
    """A USB CDC port nobody opened: nothing to read, writes taken and forgotten."""

    def readinto(self, buf):
        return 0

    def write(self, data):
        return len(data)


class Wire:
    """The socket to the host: non-blocking writes through a buffer, framed reads."""

    def __init__(self, stream):
        self.stream = stream
        self.sock = stream.s
        self.out = bytearray()

    def send(self, data):
        self.out.extend(data)
        self.flush()

    def flush(self):
        while len(self.out):
            try:
                n = self.sock.write(self.out)
            except OSError as e:
                if e.args[0] != EAGAIN:
                    raise
                n = None
            if not n:
                return
            self.out = self.out[n:]

    async def flusher(self, state):
        while state["run"] or len(self.out):
            self.flush()
            await asyncio.sleep_ms(2)

    async def read(self):
        head = await self.stream.readexactly(3)
        n, kind = struct.unpack("<HB", head)
        body = await self.stream.readexactly(n - 1) if n > 1 else b""
        return kind, body


class Counts:
    """Raw IMU counts, 12 bytes per sample (gx, gy, gz, ax, ay, az, i16 LE), from a file."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        self.total = len(self.data) // 12

    def sample(self, j):
        return struct.unpack_from("<hhhhhh", self.data, 12 * j)


async def world(shell, model, counts, state):
    """Push the counts into the IMU model at its data rate (real time) once it runs."""
    app = shell.app
    while state["run"] and not app.imu_ok:
        await asyncio.sleep_ms(5)
    odr_hz = app.imu.odr_hz
    t0 = utime.ticks_us()
    j = 0
    while state["run"] and j < counts.total:
        due = int(utime.ticks_diff(utime.ticks_us(), t0) * odr_hz / 1000000) + 1
        while j < due and j < counts.total:
            v = counts.sample(j)
            model.push_sample(v[0], v[1], v[2], v[3], v[4], v[5])
            j += 1
        await asyncio.sleep_ms(5)
    state["pushed"] = j
    # the firmware reads its IMU FIFO every few ms: wait until it has every sample
    for _ in range(200):
        if app.fifo.next_k >= j:
            break
        await asyncio.sleep_ms(5)
    bridge_bluetooth.event("imu_done", pushed=j, newest_k=app.fifo.newest_k)


async def host_reader(link, shell, state):
    try:
        while state["run"]:
            kind, body = await link.read()
            if kind == bridge_bluetooth.H_STOP:
                break
            bridge_bluetooth.deliver(kind, body)
    except EOFError:
        pass  # the host went away: stop as well
    state["run"] = False
    shell.stop()


def write_truth(path, shell, state):
    app = shell.app
    fifo = app.fifo
    ble = shell.ble
    rec = bytearray(21)
    samples = bytearray()
    for k in range(fifo.oldest_k, fifo.next_k):
        fifo.record_into(rec, 0, k)
        samples.extend(rec[0:_QREC])
    truth = {
        "oldest_k": fifo.oldest_k,
        "next_k": fifo.next_k,
        "samples": hexlify(samples).decode(),
        "unsent_wanted": fifo.unsent_wanted(),
        "samples_dropped": app.samples_dropped(),
        "pushed": state["pushed"],
        "imu_errors": app.imu_errors,
        "bonds": ble.secrets.bond_count(),
        "ble": {
            "connections": ble.connections,
            "advertisements": ble.advertisements,
            "frames_sent": ble.frames_sent,
            "packets_sent": ble.packets_sent,
            "frames_lost": ble.frames_lost,
            "enomem": ble.enomem,
            "notify_errors": ble.notify_errors,
            "control_packets": ble.control_packets,
            "control_errors": ble.control_errors,
            "control_overruns": ble.control_overruns,
            "status_dropped": ble.status_dropped,
        },
        "bridge": bridge_bluetooth.counters,
    }
    with open(path, "w") as f:
        f.write(json.dumps(truth))


async def run(cfg):
    stream = await asyncio.open_connection("127.0.0.1", cfg["port"])
    link = Wire(stream[0])
    bridge_bluetooth.attach(link.send)
    bridge_bluetooth.window = cfg.get("window", bridge_bluetooth.DEFAULT_WINDOW)
    state = {"run": True, "pushed": 0}

    machine.reset_all()
    profile = profiles.get_profile(cfg["profile"])
    model = imu_models.Lsm6dsoxModel(profile["imu"]["type"])
    machine.attach(profile["i2c"]["bus"], profile["imu"]["address"], model)
    battery = profile.get("battery")
    if battery:
        machine.set_adc_uv(battery["adc_pin"], 1950000)  # 3.9 V behind the divider
    log = cfg["log"]
    shell = shell_main.Shell(
        cfg["profile"],
        cfg["segment"],
        board_id=cfg["board_id"],
        log_echo=False,
        usb_stream=NoUsb(),
        secrets_path=cfg["secrets"],
        log_path=log,
        log_old_path=log + ".1",
    )
    tasks = [
        asyncio.create_task(link.flusher(state)),
        asyncio.create_task(host_reader(link, shell, state)),
        asyncio.create_task(world(shell, model, Counts(cfg["counts"]), state)),
    ]
    await shell.main()
    state["run"] = False
    write_truth(cfg["truth"], shell, state)
    bridge_bluetooth.event("stopped")
    await tasks[0]
    for t in tasks[1:]:
        t.cancel()
    await asyncio.sleep_ms(0)


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    asyncio.run(run(cfg))


main()
