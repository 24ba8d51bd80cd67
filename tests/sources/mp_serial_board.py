"""The board firmware's USB serial side on a pseudo-terminal, for ``test_serial.py``.

Run under the MicroPython unix port with its standard input and output connected to the
master side of a pty (the host opens the slave with pyserial)::

    micropython tests/sources/mp_serial_board.py <config.json>

with ``MICROPYPATH=.frozen:tests/firmware/fakes:firmware:host/coxa:tests/firmware``. The app
(``coxa_fw.app.App``: real driver on the fake IMU register model, real AHRS, FIFO and framer)
runs on the virtual clock of ``tests/firmware/fakes/time.py``; :class:`coxa_fw.usb.SerialLink`
writes its COBS packets to the pty. The board waits for the host's START_STREAM before it
takes any sample, streams the recorded IMU counts, then serves the host (backfill, status)
until STOP_STREAM or ``idle_ms`` of silence.

Configuration keys: ``counts`` (raw IMU counts file, see ``mp_app_rig.Counts``), ``profile``,
``board_id``, ``summary`` (where the JSON summary goes: standard output is the pty),
``inject`` (``[[after_packet, hex], ...]``: bytes written to the port right after that many
complete packets, e.g. garbage, a truncated packet, a frame of another protocol version),
``idle_ms``, ``presample`` (samples the board takes after its boot before it serves the port:
a board that has been sampling since it came out of a reset while the host reopens its port),
``reboot_after`` (the board stops taking samples after this many, sends what it took, writes
its summary and exits: a reset; the test starts the next boot on a new pty).
"""

import json
import select
import sys
import time  # the fake virtual clock (tests/firmware/fakes/time.py)

import utime  # pyright: ignore[reportMissingImports]  (the real clock)
from mp_app_rig import LINK_USB, Rig  # pyright: ignore[reportMissingImports]

from coxa_fw.usb import SerialLink  # pyright: ignore[reportMissingImports]


class PtyStream:
    """Standard input/output as the non-blocking stream :class:`SerialLink` expects."""

    def __init__(self, inject):
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)
        self.packets = 0
        self.injected = 0
        self.inject = inject

    def readinto(self, buf):
        n = 0
        while n < len(buf) and self._poll.poll(0):
            self._in.readinto(self._one)  # pyright: ignore[reportAttributeAccessIssue]
            buf[n] = self._one[0]
            n += 1
        return n

    def write(self, data):
        self._out.write(data)
        if len(data) and data[len(data) - 1] == 0:
            self.packets += 1
            while self.inject and self.inject[0][0] <= self.packets:
                self._out.write(bytes.fromhex(self.inject.pop(0)[1]))
                self.injected += 1
        return len(data)


def taken(app):
    """Samples the app has taken since its boot."""
    return app.sampler.k - app.fifo.first_seq


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    rig = Rig(time, cfg["counts"], cfg)
    app = rig.app
    stream = PtyStream(list(cfg.get("inject", [])))
    link = SerialLink(stream, app, LINK_USB)
    # Bring the IMU up (virtual time runs, no samples yet).
    for _ in range(1000):
        if rig.t_start >= 0:
            break
        rig.poll()
    # Sample before serving the port (the host's commands wait in the pty).
    presample = cfg.get("presample", 0)
    while taken(app) < presample and not rig.done_producing():
        rig.t.advance_us(5000)
        rig._produce()
        app.step()
    # Wait (in real time, virtual time standing) for the host to start the stream.
    t_wait = utime.ticks_ms()
    while not app.streaming():
        link.poll()
        link.pump(0)
        utime.sleep_ms(1)
        if utime.ticks_diff(utime.ticks_ms(), t_wait) > 20000:
            raise OSError("the host never sent START_STREAM")
    # Stream the recording.
    reboot_after = cfg.get("reboot_after")
    while not rig.done_producing():
        if reboot_after is not None and taken(app) >= reboot_after:
            break
        rig.t.advance_us(5000)
        rig._produce()
        app.step()
        link.poll()
        link.pump(4)
    if reboot_after is not None:
        # Send the last live frames (no more samples: 300 ms of virtual time, six times the
        # framer's live age), then reset.
        for _ in range(60):
            rig.t.advance_us(5000)
            link.poll()
            link.pump(4)
        write_summary(cfg, app, link, stream)
        return
    # Serve the host until it stops the stream or goes quiet.
    idle_ms = cfg.get("idle_ms", 8000)
    t_idle = utime.ticks_ms()
    while app.streaming() and utime.ticks_diff(utime.ticks_ms(), t_idle) < idle_ms:
        rig.t.advance_us(5000)
        if link.poll():
            t_idle = utime.ticks_ms()
        if link.pump(8):
            t_idle = utime.ticks_ms()
        utime.sleep_ms(1)
    write_summary(cfg, app, link, stream)


def write_summary(cfg, app, link, stream):
    framer = app.framers[LINK_USB]
    summary = {
        "samples_taken": taken(app),
        "first_seq": app.fifo.first_seq,
        "frames_sent": link.frames_sent,
        "frames_live": framer.frames_live,
        "frames_backfill": framer.frames_backfill,
        "commands": link.commands,
        "rx_errors": link.rx_errors,
        "injected": stream.injected,
        "stopped": not app.streaming(),
    }
    with open(cfg["summary"], "w") as f:
        f.write(json.dumps(summary))


main()
