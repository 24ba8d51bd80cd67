# MicroPython script: the fake time/asyncio APIs (ticks, sleep_ms, advance_ms) are not CPython's.
# pyright: reportAttributeAccessIssue=false, reportCallIssue=false, reportOptionalMemberAccess=false
"""BLE peripheral scenarios, run unchanged on the MicroPython unix port and on CPython.

Each ``scenario_*`` function builds a board (``coxa_fw.ble.BlePeripheral`` on the fake
``bluetooth.BLE`` of ``tests/firmware/fakes/bluetooth.py``) with an app and a virtual clock,
plays a central against it (host ``wire.Reassembler`` per characteristic, commands fragmented
with ``wire.fragment``) and raises ``AssertionError`` when the board misbehaves.

Under MicroPython (``MICROPYPATH=.frozen:tests/firmware/fakes:firmware:host/coxa``)::

    micropython tests/firmware/mp_ble_scenarios.py <scratch dir> [scenario ...]

prints ``PASS <name>`` / ``FAIL <name>: <reason>`` per scenario and, last,
``BLE_SCENARIOS passed <n> failed <m>``; the exit status is 0 only when all passed. On CPython
``tests/firmware/test_ble.py`` imports this module (with the fake module installed as
``bluetooth`` and ``coxa.wire`` as ``wire``) and runs each scenario as its own test.

Two apps drive the board. The ``app_*`` scenarios use the real ``coxa_fw.app.App`` with its
LSM6DSOX driver on the fake ``machine.I2C`` (``imu_models.Lsm6dsoxModel`` fed with samples)
and the fake ``time`` module as clock. The others use ``StandInApp`` below: a small
deterministic app with the same interface (``next_frame_into``, ``on_command``,
``pending_status_into``, ``status_into``, ``bonded``/``pairing_mode``) whose sample values are
a function of the sequence number, so the central checks every decoded sample, not only its
sequence number, and can tell what the app was asked.
"""

import sys

try:
    import wire  # pyright: ignore[reportMissingImports]
except ImportError:  # CPython with the coxa package installed
    from coxa import wire

import bluetooth  # pyright: ignore[reportMissingImports]  # the fake, on MICROPYPATH / sys.modules

from coxa_fw import ble  # pyright: ignore[reportMissingImports]

try:  # CPython: test_ble.py registers tests/firmware/fakes/time.py under this name
    import coxa_fake_time as vtime  # pyright: ignore[reportMissingImports]
except ImportError:  # MicroPython: tests/firmware/fakes/time.py shadows the built-in time
    import time as vtime

BOARD_ID = 0x1A2B
SEGMENT = wire.SEGMENT_THIGH_R
RATE_HZ = 200
PERIOD_US = 5000
FW = (0, 1, 0)
SCRATCH = "."


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


# ============================================================================================
# Virtual clock (MicroPython ticks semantics: wrap at 2**30)
# ============================================================================================

_TICKS_MASK = 0x3FFFFFFF
_TICKS_HALF = 0x20000000


class FakeClock:
    """``time``-like: ``ticks_ms``, ``ticks_us``, ``ticks_add``, ``ticks_diff``; moved by hand."""

    def __init__(self, start_us=0):
        self.us = start_us

    def ticks_us(self):
        return self.us & _TICKS_MASK

    def ticks_ms(self):
        return (self.us // 1000) & _TICKS_MASK

    def ticks_add(self, t, delta):
        return (t + delta) & _TICKS_MASK

    def ticks_diff(self, a, b):
        d = (a - b) & _TICKS_MASK
        if d >= _TICKS_HALF:
            d -= _TICKS_MASK + 1
        return d

    def advance_ms(self, ms):
        self.us += ms * 1000


# ============================================================================================
# Stand-in app core
# ============================================================================================


def sample_values(seq):
    """The stand-in's sample for a sequence number: (qw, qx, qy, qz, gx, gy, gz, flags)."""
    return (
        16384 - seq % 1000,
        seq % 3000 - 1500,
        (seq * 7) % 2000 - 1000,
        -(seq % 512),
        seq % 100,
        -(seq % 50),
        seq % 7,
        seq & wire.SAMPLE_AT_REST,
    )


class StandInApp:
    """Deterministic app core with the interface ``ble.py`` drives (no AHRS, no IMU)."""

    def __init__(self, board_id=BOARD_ID, segment=SEGMENT, capacity=6000):
        self.board_id = board_id
        self.segment = segment
        self.capacity = capacity
        self.next_seq = 0
        self.live_next = 0
        self.backfill = []
        self.streaming = False
        self.status_requested = False
        self.bonded = False
        self.pairing_mode = False
        self.commands = []

    def step(self, n=1):
        self.next_seq += n
        if not self.streaming:
            self.live_next = self.next_seq
        return n

    def oldest_seq(self):
        old = self.next_seq - self.capacity
        return old if old > 0 else 0

    def _frame(self, buf, max_frame_bytes, kind, seq0, available):
        per = (max_frame_bytes - wire.DATA_HEADER_BYTES) // wire.QUAT_SAMPLE_BYTES
        if per > wire.MAX_SAMPLES_QUAT:
            per = wire.MAX_SAMPLES_QUAT
        n = available if available < per else per
        o = wire.data_header_into(
            buf, 0, kind, self.board_id, seq0, (seq0 * PERIOD_US) & 0xFFFFFFFF, PERIOD_US, n, False
        )
        for i in range(n):
            v = sample_values(seq0 + i)
            o = wire.sample_into(buf, o, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7])
        return o, n

    def next_frame_into(self, buf, max_frame_bytes, link=0):
        while self.backfill:
            entry = self.backfill[0]
            if entry[0] < self.oldest_seq():
                skip = self.oldest_seq() - entry[0]
                entry[0] += skip
                entry[1] -= skip
            if entry[1] <= 0:
                self.backfill.pop(0)
                continue
            end, n = self._frame(buf, max_frame_bytes, wire.KIND_DATA_BACKFILL, entry[0], entry[1])
            entry[0] += n
            entry[1] -= n
            if entry[1] <= 0:
                self.backfill.pop(0)
            return end
        if not self.streaming or self.live_next >= self.next_seq:
            return 0
        end, n = self._frame(
            buf,
            max_frame_bytes,
            wire.KIND_DATA_LIVE,
            self.live_next,
            self.next_seq - self.live_next,
        )
        self.live_next += n
        return end

    def on_command(self, data, trusted=True, link=0):
        reject = wire.reject_command(data)
        if reject is not None:
            return reject.encode()
        try:
            cmd = wire.decode_command(data)
        except wire.ProtocolError:
            return b""
        self.commands.append((cmd.opcode, trusted))
        op = cmd.opcode
        if not trusted:
            return wire.encode_ack(op, cmd.token, wire.RESULT_NOT_PERMITTED)
        if op == wire.OP_START_STREAM:
            if not self.streaming:
                self.live_next = self.next_seq
            self.streaming = True
        elif op == wire.OP_STOP_STREAM:
            self.streaming = False
        elif op == wire.OP_BACKFILL:
            first = cmd.args[0]
            count = cmd.args[1]
            oldest = self.oldest_seq()
            if first < oldest:
                count -= oldest - first
                first = oldest
            if first + count > self.next_seq:
                count = self.next_seq - first
            if count <= 0:
                return wire.encode_ack(op, cmd.token, wire.RESULT_UNAVAILABLE)
            self.backfill.append([first, count])
            return wire.encode_ack(op, cmd.token, wire.RESULT_OK, first, count)
        elif op == wire.OP_TIME_PING:
            return wire.encode_ack(op, cmd.token, wire.RESULT_OK, cmd.args[0], 12345)
        elif op == wire.OP_GET_STATUS:
            self.status_requested = True
        return wire.encode_ack(op, cmd.token, wire.RESULT_OK)

    def pending_status_into(self, buf, link=0):
        if not self.status_requested:
            return 0
        self.status_requested = False
        return self.status_into(buf)

    def status_into(self, buf):
        state = wire.STATE_STREAMING if self.streaming else 0
        if self.bonded:
            state |= wire.STATE_BONDED
        if self.pairing_mode:
            state |= wire.STATE_PAIRING_MODE
        return wire.status_into(
            buf,
            0,
            self.board_id,
            self.segment,
            FW[0],
            FW[1],
            FW[2],
            3900,
            self.next_seq - self.oldest_seq(),
            self.capacity,
            0,
            wire.TEMPERATURE_UNKNOWN,
            RATE_HZ,
            wire.MODE_QUAT,
            state,
            (self.next_seq - 1) & 0xFFFFFFFF,
        )


# ============================================================================================
# The central (host side, through the fake stack)
# ============================================================================================


class Central:
    """A host: reassembles notifications per characteristic, decodes and records frames."""

    def __init__(self, fake, board, check_content=True):
        self.fake = fake
        self.board = board
        self.check_content = check_content
        h = board.handles
        self.h_data = h[0]
        self.h_control = h[1]
        self.h_status = h[2]
        self.h_battery = h[3]
        self.conn = -1
        self.mtu = 23
        self.token = 0
        self.ctrl_counter = 0
        self.data_rx = wire.Reassembler()
        self.status_rx = wire.Reassembler()
        self.live = {}
        self.backfilled = {}
        self.frames = 0
        self.positions = {}
        self.max_packet = 0
        self.first_counters = []
        self.acks = []
        self.statuses = []
        self.battery = []

    def connect(self, mtu=247):
        self.conn = self.fake.central_connect()
        self.data_rx = wire.Reassembler()
        self.status_rx = wire.Reassembler()
        self.ctrl_counter = 0
        self.mtu = 23
        self._new_link = True
        if mtu:
            self.mtu = self.fake.exchange_mtu(self.conn, mtu)
        return self.conn

    def disconnect(self):
        self.fake.central_disconnect(self.conn)
        self.conn = -1

    def command(self, opcode, *args):
        self.token = (self.token + 1) & 0xFF
        frame = wire.encode_command(opcode, self.token, *args)
        packets, self.ctrl_counter = wire.fragment(frame, self.mtu, self.ctrl_counter)
        for p in packets:
            self.fake.central_write(self.conn, self.h_control, p)
        return self.token

    def collect(self):
        for conn, handle, value in self.fake.take_notifications():
            check(conn == self.conn, "notification on a connection that is gone")
            n = len(value)
            if handle == self.h_data:
                if n > self.max_packet:
                    self.max_packet = n
                pos = value[0] >> 6
                self.positions[pos] = self.positions.get(pos, 0) + 1
                if self._new_link:
                    self.first_counters.append(value[0] & 63)
                    self._new_link = False
                frame = self.data_rx.push(value)
                if frame is not None:
                    self._data_frame(frame)
            elif handle == self.h_status:
                check(n <= self.mtu - 3, "status packet longer than ATT_MTU - 3")
                frame = self.status_rx.push(value)
                if frame is not None:
                    kind = wire.frame_kind(frame)
                    if kind == wire.KIND_ACK:
                        self.acks.append(wire.decode_ack(frame))
                    elif kind == wire.KIND_STATUS:
                        self.statuses.append(wire.decode_status(frame))
                    else:
                        raise AssertionError("frame kind %d on the status characteristic" % kind)
            elif handle == self.h_battery:
                self.battery.append(value[0])
            else:
                raise AssertionError("notification on unexpected handle %d" % handle)

    def _data_frame(self, frame):
        df = wire.decode_data_frame(frame)
        expect(df.board_id, BOARD_ID, "board id in data frame")
        self.frames += 1
        for i in range(df.count):
            seq = df.sample_seq(i)
            if self.check_content:
                v = sample_values(seq)
                q = df.quat_q14[4 * i : 4 * i + 4]
                g = df.gyr_raw[3 * i : 3 * i + 3]
                got = (q[0], q[1], q[2], q[3], g[0], g[1], g[2], df.flags[i])
                expect(got, v, "sample %d content" % seq)
                expect(df.sample_t_us(i), (seq * PERIOD_US) & 0xFFFFFFFF, "sample %d time" % seq)
            if df.is_backfill:
                self.backfilled[seq] = True
            else:
                check(seq not in self.live, "sample %d sent live twice" % seq)
                self.live[seq] = True

    def ack(self, token):
        for a in self.acks:
            if a.token == token:
                return a
        raise AssertionError("no ack for the command with token %d" % token)

    def received(self):
        """Sorted sequence numbers received (live or backfill)."""
        seqs = {}
        for s in self.live:
            seqs[s] = True
        for s in self.backfilled:
            seqs[s] = True
        return sorted(seqs)

    def missing(self, upto, first=0):
        """Ranges ``[first, count]`` in first..upto-1 received neither live nor backfilled."""
        out = []
        start = -1
        for s in range(first, upto):
            have = s in self.live or s in self.backfilled
            if not have and start < 0:
                start = s
            elif have and start >= 0:
                out.append([start, s - start])
                start = -1
        if start >= 0:
            out.append([start, upto - start])
        return out


GYR_RAD_S = (0.01, -0.02, 0.05)
ACC_M_S2 = (0.0, 0.0, 9.80665)
PROFILE = "coxa-s3-lsm6dsox"


def make_real_app(clock):
    """The real App on the fake I2C bus with an LSM6DSOX model; returns (app, model)."""
    import imu_models  # pyright: ignore[reportMissingImports]
    import machine  # pyright: ignore[reportMissingImports]

    from coxa_fw import profiles  # pyright: ignore[reportMissingImports]
    from coxa_fw.app import App  # pyright: ignore[reportMissingImports]

    machine.reset_all()
    profile = profiles.get_profile(PROFILE)
    model = machine.attach(
        profile["i2c"]["bus"], profile["imu"]["address"], imu_models.Lsm6dsoxModel()
    )
    i2c = machine.I2C(profile["i2c"]["bus"])
    imu = profiles.open_imu(i2c, profile, RATE_HZ)
    app = App(imu, clock, BOARD_ID, SEGMENT, rate_hz=RATE_HZ, fw_version=FW)
    return app, model


class Rig:
    """Board + app + fake stack + clock + central (``real``: the real App on fakes)."""

    def __init__(self, name, bonds=0, real=False, **kwargs):
        self.real = real
        self.model = None
        if real:
            vtime.reset()
            self.clock = vtime
            self.app, self.model = make_real_app(vtime)
        else:
            self.clock = FakeClock()
            self.app = StandInApp()
        self.taken = 0
        self.fake = bluetooth.BLE()
        self.path = SCRATCH + "/" + name + ".secrets"
        remove(self.path)
        if bonds:
            store = ble.SecretStore(self.path)
            for i in range(bonds):
                store.set(ble.SEC_TYPE_PEER, bond_key(i), b"peer-ltk-%d" % i)
                store.set(ble.SEC_TYPE_OUR, bond_key(i), b"our-ltk-%d" % i)
            store.save()
        self.log = []
        self.board = ble.BlePeripheral(
            self.fake,
            self.app,
            BOARD_ID,
            SEGMENT,
            fw_version=FW,
            secrets_path=self.path,
            time_module=self.clock,
            log=self.log.append,
            **kwargs,
        )
        self.central = Central(self.fake, self.board, check_content=not real)

    def step(self, n):
        """``n`` sample periods pass; the app takes the samples."""
        if self.real:
            for _ in range(n):
                self.model.push_si(GYR_RAD_S, ACC_M_S2)
            self.clock.advance_ms(n * PERIOD_US // 1000)
            self.taken += self.app.step()
        else:
            self.clock.advance_ms(n * PERIOD_US // 1000)
            self.taken += self.app.step(n)

    def pump(self, rounds=1):
        sent = 0
        for _ in range(rounds):
            sent += self.board.pump()
            self.central.collect()
        return sent

    def run(self, steps, samples_per_step=2, storm_every=0, storm_len=0):
        """Sample, pump and collect for ``steps`` steps of ``samples_per_step`` samples."""
        for i in range(steps):
            self.step(samples_per_step)
            if storm_every and i % storm_every == 0:
                self.fake.enomem_storm(storm_len + (i * 7) % (storm_len + 1))
            self.board.pump()
            self.central.collect()

    def drain(self, max_rounds=2000):
        """Pump until nothing more is sent (no new samples)."""
        for _ in range(max_rounds):
            sent = self.board.pump()
            self.central.collect()
            if sent == 0 and self.fake.enomem_left == 0 and not self.board._data.busy():
                if self.board.pump() == 0:
                    self.central.collect()
                    return
        raise AssertionError("board kept sending after %d rounds" % max_rounds)

    def backfill_gaps(self):
        """Ask for every missing range with BACKFILL; return the number of commands."""
        c = self.central
        got = c.received()
        check(got, "nothing arrived")
        gaps = c.missing(got[-1] + 1, got[0])
        for first, count in gaps:
            token = c.command(wire.OP_BACKFILL, first, count)
            self.pump()
            check(c.ack(token).ok, "BACKFILL acked OK")
            self.drain()
        return len(gaps)

    def all_arrived(self):
        """Every sample from the first received on arrived; the newest ones too."""
        c = self.central
        got = c.received()
        check(got, "nothing arrived")
        miss = c.missing(got[-1] + 1, got[0])
        check(not miss, "samples missing: %r" % (miss[:5],))
        if self.real:
            # the app hands out a live frame once it has ~50 ms of samples
            check(got[-1] >= self.taken - 16, "newest samples never sent")
        else:
            expect(got[0], 0, "first sample")
            expect(got[-1], self.taken - 1, "newest sample")


def bond_key(i):
    return bytes([0, 0xC0 + i, 1, 2, 3, 4, 5])


def remove(path):
    import os

    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


def start_stream(rig):
    token = rig.central.command(wire.OP_START_STREAM)
    rig.pump()
    a = rig.central.ack(token)
    expect(a.result, wire.RESULT_OK, "START_STREAM result")


# ============================================================================================
# Scenarios
# ============================================================================================


def scenario_advertising():
    rig = Rig("adv")
    adv = rig.fake.advertising
    check(adv is not None, "board is not advertising after start")
    interval, data, resp, connectable = adv
    check(connectable, "advertising is not connectable")
    expect(len(data), wire.ADV_BYTES, "advertising length")
    expect(wire.parse_advertising(data), (BOARD_ID, SEGMENT), "parsed advertising")
    name = rig.board.name
    check(len(name) <= 8, "advertised name longer than 8 characters")
    expect(name, "cxTR1A2B", "board name")
    expect(rig.fake.config_values["gap_name"], name, "GAP device name")
    sr = wire.parse_scan_response(resp)
    expect((sr.board_id, sr.segment), (BOARD_ID, SEGMENT), "scan response identity")
    expect((sr.fw_major, sr.fw_minor, sr.fw_patch), FW, "scan response firmware")
    expect(sr.protocol_version, wire.PROTOCOL_VERSION, "scan response protocol version")
    check(interval > 0, "advertising interval")


def scenario_services():
    rig = Rig("services")
    f = rig.fake
    check(f.is_active, "radio not active")
    check(f.handler is not None, "no IRQ handler")
    expect(f.config_values["mtu"], 247, "preferred MTU")
    expect(f.config_values["bond"], True, "bond config")
    expect(f.config_values["le_secure"], True, "le_secure config")
    expect(f.config_values["io"], ble.IO_NO_INPUT_OUTPUT, "io capability")
    expect(len(f.services), 2, "number of services")
    expect(f.services[0][0], bluetooth.UUID(wire.SERVICE_UUID), "coxa service UUID")
    expect(f.services[1][0], bluetooth.UUID(0x180F), "battery service UUID")
    data = f.characteristic(wire.DATA_CHAR_UUID)
    control = f.characteristic(wire.CONTROL_CHAR_UUID)
    status = f.characteristic(wire.STATUS_CHAR_UUID)
    level = f.characteristic(bluetooth.UUID(0x2A19))
    check(data and control and status and level, "a characteristic is missing")
    expect(data.flags, bluetooth.FLAG_NOTIFY, "data flags")
    expect(control.flags, bluetooth.FLAG_WRITE | bluetooth.FLAG_WRITE_NO_RESPONSE, "control flags")
    expect(status.flags, bluetooth.FLAG_NOTIFY | bluetooth.FLAG_READ, "status flags")
    expect(level.flags, bluetooth.FLAG_READ | bluetooth.FLAG_NOTIFY, "battery level flags")
    expect(level.service_uuid, bluetooth.UUID(0x180F), "battery level service")
    expect(
        rig.board.handles,
        (data.value_handle, control.value_handle, status.value_handle, level.value_handle),
        "value handles",
    )
    check(f.buffers[control.value_handle] >= wire.MAX_BLE_PAYLOAD_BYTES, "control buffer")
    # the status read value is a complete packet carrying the current status frame
    value = f.central_read(status.value_handle)
    expect(value[0], 0, "status read packet header")
    st = wire.decode_status(value[1:])
    expect(st.board_id, BOARD_ID, "status board id")
    check(st.state & wire.STATE_PAIRING_MODE, "no bond yet: status says pairing mode")


def _stream(mtu, name, real=False):
    rig = Rig(name, bonds=1, real=real)
    check(not rig.board.pairing_mode, "bonded board must not start in pairing mode")
    c = rig.central
    c.connect(mtu)
    rig.pump()
    expect(rig.board.mtu, mtu, "board's view of the MTU")
    rig.fake.encryption_update(c.conn, encrypted=True, bonded=True)
    check(rig.board.link_trusted, "bonded, encrypted link is trusted")
    start_stream(rig)
    rig.run(300)
    rig.drain()
    check(rig.taken >= 590, "samples taken: %d" % rig.taken)
    rig.all_arrived()
    expect(len(c.backfilled), 0, "nothing needed backfill")
    expect(rig.fake.truncated_notifications, 0, "notifications truncated by the stack")
    check(c.max_packet <= wire.ble_payload_bytes(mtu), "packet longer than the MTU allows")
    expect(rig.board.frames_lost, 0, "frames lost")
    expect(c.data_rx.lost_packets, 0, "packets lost")
    expect(c.data_rx.discarded_frames, 0, "frames discarded by the reassembler")
    return rig


def _check_mtu247(rig):
    c = rig.central
    expect(list(c.positions.keys()), [wire.PACKET_COMPLETE], "MTU 247: only complete packets")
    expect(c.first_counters, [0], "packet counter starts at 0")


def _check_mtu23(rig):
    c = rig.central
    for pos in (wire.PACKET_FIRST, wire.PACKET_MIDDLE, wire.PACKET_LAST):
        check(c.positions.get(pos, 0) > 0, "MTU 23: no packet at position %d" % pos)
    expect(c.max_packet, 20, "MTU 23: packets fill ATT_MTU - 3")


def scenario_stream_mtu247():
    _check_mtu247(_stream(247, "mtu247"))


def scenario_stream_mtu23():
    _check_mtu23(_stream(23, "mtu23"))


def scenario_app_stream_mtu247():
    _check_mtu247(_stream(247, "app_mtu247", real=True))


def scenario_app_stream_mtu23():
    _check_mtu23(_stream(23, "app_mtu23", real=True))


def scenario_stream_mtu_default():
    # the central never exchanges the MTU: the board stays at 23 and fragments
    rig = Rig("nomtu")
    c = rig.central
    c.connect(mtu=0)
    rig.pump()
    expect(rig.board.mtu, 23, "MTU without exchange")
    check(rig.fake.mtu_requests, "board asks for the MTU exchange itself")
    start_stream(rig)
    rig.run(50)
    rig.drain()
    rig.all_arrived()
    expect(rig.fake.truncated_notifications, 0, "notifications truncated by the stack")


def _storm(mtu, name, real=False):
    rig = Rig(name, real=real)  # no bond: pairing mode at start, the first central is trusted
    c = rig.central
    c.connect(mtu)
    start_stream(rig)
    rig.run(400, samples_per_step=3, storm_every=5, storm_len=25)
    rig.drain()
    check(rig.board.enomem > 0, "the storm raised no ENOMEM")
    expect(rig.board.enomem, rig.fake.enomem_raised, "ENOMEM counted once per refusal")
    expect(rig.board.notify_errors, 0, "ENOMEM is not an error")
    expect(rig.board.frames_lost, 0, "no frame lost to ENOMEM")
    expect(c.data_rx.lost_packets, 0, "no packet lost to ENOMEM")
    if real:
        # the app may skip live samples the link could not take; they come by backfill
        rig.backfill_gaps()
    else:
        expect(len(c.received()), rig.taken, "every sample arrived live")
    rig.all_arrived()
    expect(rig.fake.truncated_notifications, 0, "notifications truncated by the stack")


def scenario_enomem_storm_mtu247():
    _storm(247, "storm247")


def scenario_enomem_storm_mtu23():
    _storm(23, "storm23")


def scenario_app_enomem_storm_mtu247():
    _storm(247, "app_storm247", real=True)


def scenario_app_enomem_storm_mtu23():
    _storm(23, "app_storm23", real=True)


def _dropout(name, real=False):
    # a disconnection in the middle of a fragmented frame loses that frame; the host gets
    # the samples back with BACKFILL on the next connection
    rig = Rig(name, real=real)
    c = rig.central
    c.connect(23)
    start_stream(rig)
    rig.run(100)
    rig.step(15)
    rig.board.pump()  # packets_per_pump < fragments of a full frame: frame stays in flight
    c.collect()
    check(rig.board._data.busy(), "a frame is in flight")
    c.disconnect()
    rig.run(20)  # samples keep coming while nobody is connected
    check(rig.fake.advertising is not None, "re-advertising after the dropout")
    expect(rig.board.frames_lost, 1, "frames lost by the dropout")
    c.connect(23)
    rig.run(50)
    rig.drain()
    got = c.received()
    check(c.missing(got[-1] + 1, got[0]), "the dropout left a gap")
    check(rig.backfill_gaps() > 0, "BACKFILL commands sent")
    rig.all_arrived()
    check(c.backfilled, "some samples arrived by backfill")


def scenario_dropout_backfill():
    _dropout("dropout")


def scenario_app_dropout_backfill():
    _dropout("app_dropout", real=True)


def scenario_app_untrusted_link():
    rig = Rig("app_untrusted", bonds=1, real=True)
    c = rig.central
    c.connect(247)
    rig.pump()
    t = c.command(wire.OP_START_STREAM)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_NOT_PERMITTED, "unbonded link: START_STREAM")
    check(not rig.app.streaming(), "refused command had an effect")
    t = c.command(wire.OP_GET_STATUS)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_OK, "GET_STATUS is allowed untrusted")
    st = c.statuses[-1]
    check(st.state & wire.STATE_BONDED, "status: the board has a bond")
    check(not st.state & wire.STATE_PAIRING_MODE, "status: not in pairing mode")
    rig.board.enter_pairing_mode()
    t = c.command(wire.OP_START_STREAM)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_OK, "pairing mode: START_STREAM")
    check(rig.app.streaming(), "streaming")


def scenario_untrusted_link():
    rig = Rig("untrusted", bonds=1)
    c = rig.central
    c.connect(247)
    rig.pump()
    check(rig.fake.pair_requests, "board requests security on connect")
    t = c.command(wire.OP_START_STREAM)
    check(not rig.app.commands, "command handled inside the IRQ")
    rig.pump()
    a = c.ack(t)
    expect(a.result, wire.RESULT_NOT_PERMITTED, "unbonded link, no pairing mode")
    check(not rig.app.streaming, "refused command had an effect (stand-in)")
    # a new bond outside pairing mode is refused, even if the stack then reports "bonded"
    ok = rig.fake.set_secret(ble.SEC_TYPE_PEER, bond_key(7), b"intruder")
    expect(ok, False, "new bond outside pairing mode")
    rig.fake.encryption_update(c.conn, encrypted=True, bonded=True)
    t = c.command(wire.OP_START_STREAM)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_NOT_PERMITTED, "refused bond is not trusted")
    # button: pairing mode
    rig.board.enter_pairing_mode()
    t = c.command(wire.OP_START_STREAM)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_OK, "pairing mode: trusted")
    # the window closes after its timeout
    rig.clock.advance_ms(ble.DEFAULT_PAIRING_TIMEOUT_MS + 1)
    check(not rig.board.pairing_mode, "pairing mode timed out")
    t = c.command(wire.OP_STOP_STREAM)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_NOT_PERMITTED, "after the pairing timeout")
    c.disconnect()
    rig.pump()
    # a bonded central (known keys) on a new link: trusted once encrypted
    c.connect(247)
    rig.pump()
    t = c.command(wire.OP_STOP_STREAM)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_NOT_PERMITTED, "before encryption")
    rig.fake.encryption_update(c.conn, encrypted=True, bonded=True)
    t = c.command(wire.OP_STOP_STREAM)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_OK, "bonded and encrypted")
    trusted = [entry[1] for entry in rig.app.commands]  # type: ignore[union-attr]
    expect(trusted, [False, False, True, False, False, True], "trusted flags passed to the app")


def scenario_app_pairing_new_bond():
    rig = Rig("app_pairing", real=True)
    check(rig.board.pairing_mode, "no bond: pairing mode at start")
    c = rig.central
    c.connect(247)
    rig.pump()
    ok = rig.fake.set_secret(ble.SEC_TYPE_OUR, bond_key(1), b"our keys")
    expect(ok, True, "our secret stored in pairing mode")
    ok = rig.fake.set_secret(ble.SEC_TYPE_PEER, bond_key(1), b"peer keys")
    expect(ok, True, "peer secret stored in pairing mode")
    rig.fake.encryption_update(c.conn, encrypted=True, bonded=True)
    rig.pump()
    check(not rig.board.pairing_mode, "a new bond closes the pairing window")
    check(rig.board.bonded, "board is bonded")
    check(rig.board.link_trusted, "the new bond's link is trusted")
    expect(rig.board.secrets.saves, 1, "secrets saved once, outside the IRQ")
    t = c.command(wire.OP_GET_STATUS)
    rig.pump()
    expect(c.ack(t).result, wire.RESULT_OK, "GET_STATUS ack")
    check(c.statuses, "a status frame follows the GET_STATUS ack")
    st = c.statuses[-1]
    check(st.state & wire.STATE_BONDED, "status: bonded")
    check(not st.state & wire.STATE_PAIRING_MODE, "status: pairing mode off")


def scenario_secrets_persist():
    rig = Rig("persist")
    f = rig.fake
    check(rig.board.pairing_mode, "pairing mode")
    f.set_secret(ble.SEC_TYPE_OUR, b"\x00AAAAAA", b"our-1")
    f.set_secret(ble.SEC_TYPE_PEER, b"\x00AAAAAA", b"peer-1")
    f.set_secret(ble.SEC_TYPE_CCCD, b"\x00AAAAAA\x10", b"\x01\x00")
    f.set_secret(10, b"", b"local irk")
    check(rig.board.secrets.dirty, "IRQ only marks the store dirty")
    expect(rig.board.secrets.saves, 0, "no file write inside the IRQ")
    rig.pump()
    expect(rig.board.secrets.saves, 1, "saved by the pump")
    # a fresh boot reads them back
    fake2 = bluetooth.BLE()
    board2 = ble.BlePeripheral(
        fake2, StandInApp(), BOARD_ID, SEGMENT, secrets_path=rig.path, time_module=FakeClock()
    )
    check(board2.bonded, "bond reloaded")
    check(not board2.pairing_mode, "bonded board starts outside pairing mode")
    expect(fake2.get_secret(ble.SEC_TYPE_PEER, 0, b"\x00AAAAAA"), b"peer-1", "peer by key")
    expect(fake2.get_secret(ble.SEC_TYPE_OUR, 0, None), b"our-1", "our by index")
    expect(fake2.get_secret(ble.SEC_TYPE_OUR, 1, None), None, "index past the end")
    expect(fake2.get_secret(10, 0, None), b"local irk", "other secret types")
    expect(fake2.get_secret(ble.SEC_TYPE_CCCD, 0, b"\x00AAAAAA\x10"), b"\x01\x00", "cccd")
    expect(fake2.get_secret(ble.SEC_TYPE_PEER, 0, b"\x00BBBBBB"), None, "unknown key")
    # deleting (value None) is persisted too
    expect(fake2.set_secret(ble.SEC_TYPE_PEER, b"\x00AAAAAA", None), True, "delete")
    expect(fake2.set_secret(ble.SEC_TYPE_PEER, b"\x00AAAAAA", None), False, "delete again")
    board2.pump()
    store = ble.SecretStore(rig.path)
    expect(store.load(), 3, "records after the delete")
    expect(store.bond_count(), 0, "no bond left")
    # corrupt file: empty store, board keeps working
    with open(rig.path, "wb") as fh:
        fh.write(b"CXS1\x02\x07\xff")
    store = ble.SecretStore(rig.path)
    expect(store.load(), 0, "corrupt store")
    check(store.load_error is not None, "corrupt store reports why")
    board3 = ble.BlePeripheral(
        bluetooth.BLE(),
        StandInApp(),
        BOARD_ID,
        SEGMENT,
        secrets_path=rig.path,
        time_module=FakeClock(),
    )
    check(board3.pairing_mode, "corrupt store: no bond, pairing mode")
    # forget_bonds (long button press)
    board2.forget_bonds()
    expect(ble.SecretStore(rig.path).load(), 0, "bonds forgotten on disk")
    check(board2.pairing_mode, "forgetting bonds opens pairing mode")


def scenario_readvertise():
    rig = Rig("readv")
    f = rig.fake
    first = f.advertising
    c = rig.central
    c.connect(247)
    check(f.advertising is None, "the stack stops advertising on connect")
    start_stream(rig)
    rig.run(10)
    c.disconnect()
    rig.pump()
    expect(f.advertising, first, "re-advertising with the same payloads")
    expect(rig.board.advertisements, 2, "advertising starts")
    check(not rig.board.connected, "board knows it is disconnected")
    c.connect(23)
    rig.run(10)
    rig.drain()
    expect(c.first_counters, [0, 0], "packet counters restart at 0 on each connection")
    expect(rig.board.connections, 2, "connections")


def scenario_status_and_battery():
    rig = Rig("status")
    c = rig.central
    c.connect(23)
    rig.pump()
    check(rig.board.send_status(), "status queued")
    rig.board.set_battery_percent(87)
    rig.board.set_battery_percent(87)
    rig.pump()
    expect(len(c.statuses), 1, "periodic status at MTU 23 (fragmented)")
    st = c.statuses[0]
    check(st.state & wire.STATE_PAIRING_MODE, "status: pairing mode")
    expect(c.battery, [87], "battery notified once per change")
    expect(rig.fake.values[c.h_battery], b"\x57", "battery level value")
    rig.board.set_battery_percent(150)
    rig.pump()
    expect(c.battery, [87, 100], "battery clamped to 100")
    t = c.command(wire.OP_TIME_PING, 0xDEADBEEF)
    rig.pump()
    a = c.ack(t)
    expect(a.arg("host_token"), 0xDEADBEEF, "TIME_PING echo")


def read_status_value(rig):
    """The status characteristic's read value, as a central reads it (a complete packet)."""
    value = rig.fake.central_read(rig.central.h_status)
    expect(value[0], 0, "status read packet header")
    return wire.decode_status(value[1:])


def scenario_status_value_on_connect():
    # a central reading the status right after a reconnection gets the newest sample taken,
    # not the value of the last periodic status before the drop (the host would take the
    # sequence behind what it received for a reboot)
    rig = Rig("stvalue", bonds=1)
    c = rig.central
    c.connect(247)
    rig.pump()
    rig.fake.encryption_update(c.conn, encrypted=True, bonded=True)
    start_stream(rig)
    rig.run(50)
    check(rig.board.send_status(), "periodic status queued")
    rig.pump()
    expect(read_status_value(rig).newest_seq, rig.taken - 1, "value after a periodic status")
    before = rig.taken - 1
    rig.run(30)  # streamed on, no periodic status meanwhile
    c.disconnect()
    rig.pump()
    rig.step(20)
    rig.pump()
    c.connect(247)
    rig.pump()
    st = read_status_value(rig)
    check(st.newest_seq > before, "the read value is the one from before the drop")
    expect(st.newest_seq, rig.taken - 1, "newest sample in the read value after reconnecting")
    expect(st.fifo_fill, rig.taken, "FIFO fill in the read value")


def scenario_status_value_on_new_bond():
    # the bond completes just as the pairing window times out: the pump finds the window
    # already closed, and must still publish BONDED in the read value
    rig = Rig("stbond")
    c = rig.central
    c.connect(247)
    rig.pump()
    st = read_status_value(rig)
    check(st.state & wire.STATE_PAIRING_MODE, "no bond: pairing mode in the read value")
    check(not st.state & wire.STATE_BONDED, "no bond yet")
    rig.clock.advance_ms(ble.DEFAULT_PAIRING_TIMEOUT_MS - 1)
    expect(rig.fake.set_secret(ble.SEC_TYPE_OUR, bond_key(2), b"our keys"), True, "our keys")
    expect(rig.fake.set_secret(ble.SEC_TYPE_PEER, bond_key(2), b"peer keys"), True, "peer keys")
    rig.fake.encryption_update(c.conn, encrypted=True, bonded=True)
    rig.clock.advance_ms(2)  # the window has timed out when the pump runs
    rig.pump()
    check(rig.board.bonded, "bond stored")
    st = read_status_value(rig)
    check(st.state & wire.STATE_BONDED, "BONDED in the read value after the new bond")
    check(not st.state & wire.STATE_PAIRING_MODE, "pairing mode off in the read value")


def scenario_bad_control():
    rig = Rig("badctl")
    c = rig.central
    c.connect(247)
    rig.pump()
    f = rig.fake
    f.central_write(c.conn, c.h_control, b"\x00")  # a header without frame bytes
    rig.pump()
    expect(rig.board.control_errors, 1, "malformed packet counted")
    c.ctrl_counter = 1
    f.central_write(c.conn, c.h_control, bytes([1, 1, 0x10, 0x7F, 9]))  # unknown opcode
    rig.pump()
    a = c.acks[-1]
    expect((a.opcode, a.token, a.result), (0x7F, 9, wire.RESULT_UNSUPPORTED), "unknown opcode")
    # an app that raises does not take the radio down
    rig.app.on_command = _raise
    c.ctrl_counter = 2
    c.command(wire.OP_GET_STATUS)
    rig.pump()
    expect(rig.board.control_errors, 2, "app exception counted")
    # more writes than the IRQ ring holds before a pump: overruns are counted, none crash
    for _ in range(12):
        c.command(wire.OP_STOP_STREAM)
    check(rig.board.control_overruns > 0, "ring overrun counted")
    rig.pump()


def _raise(data, trusted):
    raise RuntimeError("app bug")


SCENARIOS = (
    scenario_advertising,
    scenario_services,
    scenario_stream_mtu247,
    scenario_stream_mtu23,
    scenario_app_stream_mtu247,
    scenario_app_stream_mtu23,
    scenario_stream_mtu_default,
    scenario_enomem_storm_mtu247,
    scenario_enomem_storm_mtu23,
    scenario_app_enomem_storm_mtu247,
    scenario_app_enomem_storm_mtu23,
    scenario_dropout_backfill,
    scenario_app_dropout_backfill,
    scenario_untrusted_link,
    scenario_app_untrusted_link,
    scenario_app_pairing_new_bond,
    scenario_secrets_persist,
    scenario_readvertise,
    scenario_status_and_battery,
    scenario_status_value_on_connect,
    scenario_status_value_on_new_bond,
    scenario_bad_control,
)


def name_of(fn):
    return fn.__name__[len("scenario_") :]


def main(argv):
    global SCRATCH
    if len(argv) > 1:
        SCRATCH = argv[1]
    wanted = argv[2:]
    passed = 0
    failed = 0
    for fn in SCENARIOS:
        name = name_of(fn)
        if wanted and name not in wanted:
            continue
        try:
            fn()
        except Exception as e:  # report every scenario, then fail
            failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)  # pyright: ignore[reportAttributeAccessIssue]
            continue
        passed += 1
        print("PASS %s" % name)
    print("BLE_SCENARIOS passed %d failed %d" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
