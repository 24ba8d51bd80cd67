"""Test rig for ``coxa_fw.app`` (dialect-neutral: MicroPython unix port and CPython).

A virtual clock (``tests/firmware/fakes/time.py``), an IMU register model on the fake I2C bus
(``fakes/imu_models.py``, ``fakes/machine.py``) fed with recorded raw counts at the chip's own
sample rate, the real driver (``coxa_fw.drivers``), the real AHRS and :class:`coxa_fw.app.App`;
a BLE-like link (takes frames with ``App.next_frame_into``, can lose them or be away) or the
USB :class:`coxa_fw.usb.SerialLink` on a fake stream; and a scripted host that sends commands,
watches live sequence numbers and asks for BACKFILL when it sees a gap.

Everything the host receives (and every command it sends, and every frame a link lost) is
recorded; :meth:`Rig.write_records` stores them as ``<BBQH`` headers (record kind, link,
virtual time in us, length) followed by the bytes, for the CPython side to decode with
``coxa.wire``.

MicroPython: ``MICROPYPATH=.frozen:tests/firmware/fakes:firmware:host/coxa:tests/firmware``
(the fake ``time.py`` shadows the built-in; ``utime`` stays the real one). CPython: pass the
fake time module in, ``machine`` and ``imu_models`` importable, ``coxa.wire`` as ``wire``.
"""

import struct

import imu_models  # pyright: ignore[reportMissingImports]
import machine  # pyright: ignore[reportMissingImports]
import wire  # pyright: ignore[reportMissingImports]

from coxa_fw import profiles  # pyright: ignore[reportMissingImports]
from coxa_fw.app import App  # pyright: ignore[reportMissingImports]
from coxa_fw.usb import SerialLink  # pyright: ignore[reportMissingImports]

REC_RX = 1  # a frame the host received
REC_TX = 2  # a command the host sent
REC_LOST = 3  # a data frame the link took from the app and lost
REC_HEADER = "<BBQH"
REC_HEADER_BYTES = 12

LINK_BLE = 0
LINK_USB = 1


class Counts:
    """Raw IMU counts, 12 bytes per sample (gx, gy, gz, ax, ay, az, i16 LE, sensor axes),
    read from a file one sample at a time (so the rig's heap holds no recording)."""

    def __init__(self, path):
        self._f = open(path, "rb")
        self._f.seek(0, 2)
        self.total = self._f.tell() // 12
        self._f.seek(0)
        self._buf = bytearray(12)
        self.next = 0

    def read(self):
        """The next sample as a 6-tuple of ints."""
        self._f.readinto(self._buf)
        self.next += 1
        return struct.unpack_from("<hhhhhh", self._buf, 0)

    def close(self):
        self._f.close()


def _lcg(state):
    return (state * 1103515245 + 12345) & 0x7FFFFFFF


class FakeStream:
    """Both ends of a serial port: ``rx`` host -> board, ``tx`` board -> host."""

    def __init__(self):
        self.rx = bytearray()
        self.tx = bytearray()
        self.away = False  # host not listening: written bytes vanish
        self.written = 0

    def readinto(self, buf):
        n = len(self.rx)
        if n == 0:
            return None
        if n > len(buf):
            n = len(buf)
        buf[0:n] = self.rx[0:n]
        self.rx = self.rx[n:]
        return n

    def write(self, data):
        n = len(data)
        self.written += n
        if not self.away:
            self.tx.extend(bytes(data))
        return n


class Host:
    """Scripted host of one link: commands out, gap detection on live frames."""

    def __init__(self):
        self.expected = None
        self.token = 0
        self.queue = []
        self.live_frames = 0
        self.backfill_frames = 0
        self.acks = []
        self.status = []

    def command(self, opcode, *args):
        self.token = (self.token + 1) & 0xFF
        self.queue.append(wire.encode_command(opcode, self.token, *args))

    def on_frame(self, frame):
        kind = frame[1]
        if kind == wire.KIND_DATA_LIVE:
            self.live_frames += 1
            seq0 = struct.unpack_from("<I", frame, 4)[0]
            count = frame[14]
            if self.expected is not None:
                gap = wire.seq_diff(seq0, self.expected)
                start = self.expected
                while gap > 0:
                    n = gap if gap < 0xFFFF else 0xFFFF
                    self.command(wire.OP_BACKFILL, start, n)
                    start = wire.seq_add(start, n)
                    gap -= n
            self.expected = wire.seq_add(seq0, count)
        elif kind == wire.KIND_DATA_BACKFILL:
            self.backfill_frames += 1
        elif kind == wire.KIND_ACK:
            self.acks.append(bytes(frame))
        elif kind == wire.KIND_STATUS:
            self.status.append(bytes(frame))


class Rig:
    """One board, one link, one host, on a virtual clock.

    ``cfg`` keys (all optional but ``profile``): ``profile`` (board profile name), ``chip``
    (model: ``lsm6dsox``, ``ism330dhcx``, ``icm42688``; default from the profile), ``rate_hz``,
    ``odr_ppm`` (the chip's true rate error beyond what the driver knows), ``freq_fine``
    (LSM6DSOX trim register), ``t0_us`` (virtual clock at start), ``start_us``, ``first_seq``,
    ``fifo_capacity``, ``link`` (``ble`` or ``usb``), ``max_frame_bytes``, ``frames_per_poll``,
    ``poll_us`` ([min, max] poll interval), ``seed``, ``board_id``, ``segment``.
    """

    def __init__(self, ftime, counts_path, cfg):
        self.t = ftime
        self.cfg = cfg
        self.counts = Counts(counts_path)
        self.total = self.counts.total
        profile = profiles.get_profile(cfg["profile"])
        self.profile = profile
        chip = cfg.get("chip", profile["imu"]["type"])
        self.chip = chip
        addr = profile["imu"]["address"]
        machine.reset_all()
        ftime.reset(cfg.get("t0_us", 1000000))
        if chip == "icm42688":
            model = imu_models.Icm42688Model()
        else:
            model = imu_models.Lsm6dsoxModel(chip, "ga", cfg.get("freq_fine", 0))
        self.model = model
        machine.attach(0, addr, model)
        i2c = machine.I2C(0, freq=400000)
        self.i2c = i2c
        self.factory_calls = 0

        def factory(rate_hz):
            self.factory_calls += 1
            if chip == "icm42688":
                from coxa_fw.drivers.icm42688 import ICM42688  # pyright: ignore

                return ICM42688(i2c, addr, rate_hz, settle_ms=0)
            from coxa_fw.drivers.lsm6dsox import LSM6DSOX  # pyright: ignore

            return LSM6DSOX(i2c, addr, rate_hz, settle_ms=0)

        self.rate_hz = cfg.get("rate_hz", 200)
        self.v_app = ftime.now_us()  # device time = start_us + (virtual - v_app), mod 2**32
        self.app = App(
            None,
            ftime,
            cfg.get("board_id", 0x1A2B),
            cfg.get("segment", wire.SEGMENT_THIGH_R),
            self.rate_hz,
            fw_version=(0, 1, 0),
            imu_factory=factory,
            axis_map=profile["imu"]["board_from_sensor"],
            battery_mv=lambda: 3900,
            fifo_capacity=cfg.get("fifo_capacity", 6000),
            first_seq=cfg.get("first_seq", 0),
            start_us=cfg.get("start_us", 0),
        )
        self.link = cfg.get("link", "ble")
        self.max_frame_bytes = cfg.get("max_frame_bytes", wire.MAX_FRAME_BYTES)
        self.frames_per_poll = cfg.get("frames_per_poll", 4)
        self.poll_us = cfg.get("poll_us", [4000, 16000])
        self.seed = cfg.get("seed", 1) & 0x7FFFFFFF
        self.host = Host()
        self.records = []
        self.frame = bytearray(wire.MAX_FRAME_BYTES)
        self.status_buf = bytearray(wire.STATUS_BYTES)
        self.stream = None
        self.serial = None
        if self.link == "usb":
            self.stream = FakeStream()
            self.serial = SerialLink(self.stream, self.app, LINK_USB)
            self._deframer = wire.SerialDeframer()
        self.lossy = False  # the link takes frames and loses them
        self.away = False  # the link is gone: takes nothing, delivers nothing
        self.frames_lost = 0
        # sample production starts once the IMU is up
        self.j = 0
        self.t_start = -1
        self.p1024 = 0
        self.device_at_start = 0
        self.step_samples = 0

    # ---------------------------------------------------------------------------------------
    def now_us(self):
        return self.t.now_us()

    def _record(self, kind, link, data):
        self.records.append((kind, link, self.t.now_us(), bytes(data)))

    def _start_production(self):
        imu = self.app.imu
        odr = getattr(imu, "odr_hz", self.rate_hz)
        ppm = self.cfg.get("odr_ppm", 0)
        true_hz = odr * (1.0 + ppm * 1e-6)
        self.p1024 = int(1024e6 / true_hz + 0.5)
        self.t_start = self.t.now_us()

    def sample_time_us(self, j):
        """Virtual time at which sample ``j`` is produced."""
        return self.t_start + ((j * self.p1024) >> 10)

    def _produce(self):
        if self.t_start < 0:
            return
        now = self.t.now_us()
        counts = self.counts
        model = self.model
        while self.j < self.total and self.sample_time_us(self.j) <= now:
            v = counts.read()
            model.push_sample(v[0], v[1], v[2], v[3], v[4], v[5])
            self.j += 1

    def done_producing(self):
        return self.j >= self.total

    def poll(self, step=True):
        """One loop iteration: advance the clock, produce, step, serve the link."""
        self.seed = _lcg(self.seed)
        lo, hi = self.poll_us[0], self.poll_us[1]
        dt = lo + self.seed % (hi - lo + 1)
        self.t.advance_us(dt)
        self._produce()
        if step:
            self.step_samples += self.app.step()
            if self.t_start < 0 and self.app.imu_ok:
                self._start_production()
        self.serve()

    def serve(self):
        if self.link == "usb":
            self._serve_usb()
        else:
            self._serve_ble()

    def _serve_ble(self):
        host = self.host
        app = self.app
        if self.away:
            return
        while host.queue:
            cmd = host.queue.pop(0)
            self._record(REC_TX, LINK_BLE, cmd)
            ack = app.on_command(cmd, True, LINK_BLE)
            if ack:
                self._record(REC_RX, LINK_BLE, ack)
                host.on_frame(ack)
            n = app.pending_status_into(self.status_buf, LINK_BLE)
            if n:
                self._record(REC_RX, LINK_BLE, self.status_buf[0:n])
                host.on_frame(self.status_buf[0:n])
        for _ in range(self.frames_per_poll):
            n = app.next_frame_into(self.frame, self.max_frame_bytes, LINK_BLE)
            if n == 0:
                break
            if self.lossy:
                self.frames_lost += 1
                self._record(REC_LOST, LINK_BLE, self.frame[0:n])
                continue
            self._record(REC_RX, LINK_BLE, self.frame[0:n])
            host.on_frame(self.frame[0:n])

    def _serve_usb(self):
        host = self.host
        stream = self.stream
        link = self.serial
        if stream is None or link is None:
            return
        stream.away = self.away or self.lossy
        if not self.away:
            while host.queue:
                cmd = host.queue.pop(0)
                self._record(REC_TX, LINK_USB, cmd)
                stream.rx.extend(wire.serial_encode(cmd))
        link.poll()
        link.pump(self.frames_per_poll)
        if stream.tx:
            data = bytes(stream.tx)
            stream.tx = bytearray()
            for frame in self._deframer.feed(data):
                self._record(REC_RX, LINK_USB, frame)
                host.on_frame(frame)

    # ---------------------------------------------------------------------------------------
    def run_until(self, t_us, step=True):
        while self.t.now_us() < t_us:
            self.poll(step)

    def run_for(self, dt_us, step=True):
        self.run_until(self.t.now_us() + dt_us, step)

    def run_to_end(self):
        while not self.done_producing():
            self.poll()
        # let the last samples through, then drain the link without sampling
        self.run_for(200000)
        idle = 0
        while idle < 20:
            before = len(self.records)
            self.poll(step=False)
            idle = idle + 1 if len(self.records) == before and not self.host.queue else 0

    def write_records(self, path):
        with open(path, "wb") as f:
            for kind, link, t_us, data in self.records:
                f.write(struct.pack(REC_HEADER, kind, link, t_us, len(data)))
                f.write(data)

    def summary(self):
        app = self.app
        s = app.sampler
        fr = app.framers[LINK_USB if self.link == "usb" else LINK_BLE]
        imu = app.imu
        return {
            "samples_produced": self.j,
            "samples_taken": s.k - app.fifo.first_seq,
            "t_start_us": self.t_start,
            "p1024": self.p1024,
            "period_p16": s.period_p16,
            "overruns": s.overruns,
            "lost": s.lost,
            "fifo_dropped": app.fifo.dropped,
            "fifo_count": app.fifo.count,
            "imu_errors": app.imu_errors,
            "imu_recoveries": app.imu_recoveries,
            "imu_stalls": app.imu_stalls,
            "frames_lost": self.frames_lost,
            "frames_live": fr.frames_live,
            "frames_backfill": fr.frames_backfill,
            "live_skipped": fr.live_skipped,
            "backfill_skipped": fr.backfill_skipped,
            "driver_dropped": getattr(imu, "dropped", 0),
            "driver_overflows": getattr(imu, "overflows", 0),
            "factory_calls": self.factory_calls,
            "v_app_us": self.v_app,
            "start_us": self.cfg.get("start_us", 0),
            "ahrs_rebuilds": app.ahrs_rebuilds,
            "ahrs_rate_hz": app.ahrs.rate_hz,
        }
