"""``coxa_fw.app.App`` on CPython with a stand-in IMU driver: every protocol v1 command, the
trust gate, status fields, IMU errors with back-off and recovery, links kept apart, and the
small-int discipline of the 32-bit board."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from coxa import wire
from tests.firmware.app_sim import FirmwareEnv, StandInImu, firmware_env

U32 = 1 << 32
AT_REST = (0, 0, 0, 0, 0, 2048)  # wire scale: 1 g up


@pytest.fixture(scope="module")
def fw_env() -> Iterator[FirmwareEnv]:
    yield from firmware_env()


def moving(j: int) -> tuple[int, ...]:
    return (3000 if (j // 50) % 2 else -3000, 0, 0, 0, 0, 2048)


class Board:
    """An app on a stand-in IMU and the fake clock."""

    def __init__(
        self,
        env: FirmwareEnv,
        sample: Callable[[int], tuple[int, ...]] | None = None,
        factory: bool = True,
        **kw: Any,
    ) -> None:
        self.t = env.ftime
        self.t.reset(1_000_000)
        self.imus: list[StandInImu] = []
        self.sample = sample or (lambda j: AT_REST)
        self.factory_error: type[Exception] | None = None
        self.factory_calls = 0
        imu = self._new_imu(200)
        app_mod = env.module("coxa_fw.app")
        kw.setdefault("fifo_capacity", 600)
        kw.setdefault("battery_mv", lambda: 3700)
        self.app = app_mod.App(
            imu,
            self.t,
            0x1A2B,
            wire.SEGMENT_THIGH_R,
            imu_factory=self._factory if factory else None,
            **kw,
        )
        self.buf = bytearray(wire.MAX_FRAME_BYTES)

    def _new_imu(self, rate: int) -> StandInImu:
        imu = StandInImu(1e6 / rate, t0_us=self.t.now_us(), sample=self.sample)
        self.imus.append(imu)
        return imu

    def _factory(self, rate: int) -> StandInImu:
        self.factory_calls += 1
        if self.factory_error is not None:
            raise self.factory_error("factory refuses")
        return self._new_imu(rate)

    @property
    def imu(self) -> StandInImu:
        return self.imus[-1]

    def run(self, ms: int, step_ms: int = 10) -> int:
        n = 0
        for _ in range(ms // step_ms):
            self.t.advance_us(step_ms * 1000)
            for imu in self.imus:
                imu.produce(self.t.now_us())
            n += self.app.step()
        return n

    def command(self, opcode: int, *args: int, trusted: bool = True, link: int = 0) -> wire.Ack:
        data = wire.encode_command(opcode, 9, *args)
        return wire.decode_ack(self.app.on_command(data, trusted, link))

    def status(self) -> wire.Status:
        n = self.app.status_into(self.buf)
        return wire.decode_status(self.buf[:n])

    def frames(self, link: int = 0, mfb: int = wire.MAX_FRAME_BYTES) -> list[wire.DataFrame]:
        out = []
        while True:
            n = self.app.next_frame_into(self.buf, mfb, link)
            if n == 0:
                return out
            out.append(wire.decode_data_frame(self.buf[:n]))


@pytest.fixture
def board(fw_env: FirmwareEnv) -> Board:
    return Board(fw_env)


def test_stream_start_stop_and_modes(board: Board) -> None:
    board.run(200)
    assert board.frames() == []  # not streaming
    assert board.command(wire.OP_START_STREAM).ok
    assert board.status().state & wire.STATE_STREAMING
    board.run(300)
    frames = board.frames()
    assert frames
    assert all(not f.raw and f.kind == wire.KIND_DATA_LIVE for f in frames)
    assert board.command(wire.OP_SET_MODE, wire.MODE_QUAT_RAW).ok
    board.run(100)
    frames = board.frames()
    assert frames
    assert all(f.raw for f in frames)
    assert frames[-1].acc_m_s2(0)[2] == pytest.approx(9.80665, rel=1e-3)
    assert board.status().mode == wire.MODE_QUAT_RAW
    assert board.command(wire.OP_STOP_STREAM).ok
    board.run(100)
    assert board.frames() == []
    assert not board.status().state & wire.STATE_STREAMING


def test_set_rate(board: Board) -> None:
    board.run(100)
    assert board.command(wire.OP_SET_RATE, 200).ok  # unchanged
    assert board.factory_calls == 0
    assert board.command(wire.OP_SET_RATE, 100).ok
    assert board.factory_calls == 1
    assert board.status().rate_hz == 100
    assert board.app.sampler.period_p16 == 160000
    assert board.app.ahrs.rate_hz == pytest.approx(100)
    n = board.run(1000)
    assert 95 <= n <= 105
    assert board.command(wire.OP_SET_RATE, 400).ok
    assert 390 <= board.run(1000) <= 410
    ack = board.command(wire.OP_SET_RATE, 250)
    assert ack.result == wire.RESULT_UNSUPPORTED
    bad = wire.reject_command(bytes([1, 0x10, wire.OP_SET_RATE, 3, 0, 0]))
    assert bad is not None
    raw = board.app.on_command(bytes([1, 0x10, wire.OP_SET_RATE, 3, 0, 0]))
    assert wire.decode_ack(raw).result == wire.RESULT_BAD_ARGUMENT
    # the driver has no such rate (e.g. the ICM-42688-P and 400 Hz): unsupported, unchanged
    board.factory_error = ValueError
    assert board.command(wire.OP_SET_RATE, 200).result == wire.RESULT_UNSUPPORTED
    assert board.status().rate_hz == 400
    assert board.app.imu_ok
    # the bus fails while reconfiguring: accepted, reported, retried at the new rate
    board.factory_error = OSError
    assert board.command(wire.OP_SET_RATE, 200).ok
    st = board.status()
    assert st.rate_hz == 200
    assert st.state & wire.STATE_IMU_ERROR
    board.factory_error = None
    board.run(500)
    assert not board.status().state & wire.STATE_IMU_ERROR
    assert board.imu.period_us == 5000


def test_set_rate_without_factory(fw_env: FirmwareEnv) -> None:
    b = Board(fw_env, factory=False)
    assert b.command(wire.OP_SET_RATE, 200).ok
    assert b.command(wire.OP_SET_RATE, 100).result == wire.RESULT_UNSUPPORTED


def test_identify(board: Board) -> None:
    assert not board.app.identifying()
    assert board.command(wire.OP_IDENTIFY, 2).ok
    assert board.app.identifying()
    assert board.status().state & wire.STATE_IDENTIFYING
    board.run(1900)
    assert board.app.identifying()
    board.run(200)
    assert not board.app.identifying()
    assert board.app.identify_until_ms is None
    assert board.command(wire.OP_IDENTIFY, 5).ok
    assert board.command(wire.OP_IDENTIFY, 0).ok
    assert not board.app.identifying()


def test_time_ping_reports_the_board_clock(fw_env: FirmwareEnv) -> None:
    b = Board(fw_env, start_us=U32 - 1_000_000)
    v0 = b.t.now_us()
    for dt in (0, 123_456, 2_000_000, 5_000_000):
        b.run(dt // 1000) if dt else None
        b.t.advance_us(17)
        ack = b.command(wire.OP_TIME_PING, 0xDEADBEEF)
        assert ack.ok
        assert ack.arg("host_token") == 0xDEADBEEF
        assert ack.arg("board_t_us") == (U32 - 1_000_000 + b.t.now_us() - v0) % U32


def test_backfill_commands(board: Board) -> None:
    board.run(1000)
    st = board.status()
    newest = st.newest_seq
    ack = board.command(wire.OP_BACKFILL, newest - 99, 50)
    assert ack.ok
    assert (ack.arg("first_seq"), ack.arg("count")) == (newest - 99, 50)
    ack = board.command(wire.OP_BACKFILL, newest - 10, 1000)
    assert (ack.arg("first_seq"), ack.arg("count")) == (newest - 10, 11)
    assert board.command(wire.OP_BACKFILL, newest + 1, 5).result == wire.RESULT_UNAVAILABLE
    frames = board.frames()
    assert [(f.seq0, f.count, f.is_backfill) for f in frames] == [
        (newest - 99, 15, True),
        (newest - 84, 15, True),
        (newest - 69, 15, True),
        (newest - 54, 5, True),
        (newest - 10, 11, True),
    ]
    for _ in range(8):  # eight ranges queue per link
        assert board.command(wire.OP_BACKFILL, newest - 50, 3).ok
    assert board.command(wire.OP_BACKFILL, newest - 50, 3).result == wire.RESULT_BUSY


def test_zero_at_rest(fw_env: FirmwareEnv) -> None:
    b = Board(fw_env, sample=moving)
    b.run(2500)
    assert not b.app.last_flags & wire.SAMPLE_AT_REST
    assert b.command(wire.OP_ZERO_AT_REST).result == wire.RESULT_BUSY
    b.imu.sample = lambda j: AT_REST
    b.run(3000)
    assert b.app.last_flags & wire.SAMPLE_AT_REST
    assert b.command(wire.OP_START_STREAM).ok
    assert b.command(wire.OP_ZERO_AT_REST).ok
    b.run(100)
    frames = b.frames(mfb=100)
    assert frames[0].flags[0] & wire.SAMPLE_FILTER_RESET
    assert not any(f & wire.SAMPLE_FILTER_RESET for f in frames[0].flags[1:])


def test_get_status_and_status_fields(board: Board) -> None:
    assert board.app.pending_status_into(board.buf) == 0
    assert board.command(wire.OP_GET_STATUS).ok
    n = board.app.pending_status_into(board.buf)
    assert n == wire.STATUS_BYTES
    assert board.app.pending_status_into(board.buf) == 0
    st = wire.decode_status(board.buf[:n])
    assert st.newest_seq == 0  # nothing taken yet
    board.run(1000)
    st = board.status()
    assert (st.board_id, st.segment) == (0x1A2B, wire.SEGMENT_THIGH_R)
    assert (st.fw_major, st.fw_minor, st.fw_patch) == (0, 1, 0)
    assert st.battery_mv == 3700
    assert st.temperature_c() == pytest.approx(31.25)
    assert st.fifo_capacity == 600
    assert 195 <= st.fifo_fill <= 201
    assert st.newest_seq == st.fifo_fill - 1
    assert st.rate_hz == 200
    assert st.mode == wire.MODE_QUAT
    assert st.state == 0
    assert st.samples_dropped == 0
    board.app.bonded = True
    board.app.pairing_mode = True
    board.app.charging = True
    assert board.status().state == wire.STATE_BONDED | wire.STATE_PAIRING_MODE | wire.STATE_CHARGING


def test_battery_reading_variants(fw_env: FirmwareEnv) -> None:
    assert Board(fw_env, battery_mv=None).status().battery_mv == 0

    def broken() -> int:
        raise OSError(5)

    assert Board(fw_env, battery_mv=broken).status().battery_mv == 0
    assert Board(fw_env, battery_mv=lambda: 70000).status().battery_mv == 0xFFFF


def test_samples_dropped_counts_wanted_unsent_samples(board: Board) -> None:
    board.run(5000)  # 1000 samples, FIFO of 600, nobody streaming: nothing "dropped"
    assert board.status().samples_dropped == 0
    assert board.command(wire.OP_START_STREAM).ok
    board.run(5000)  # streaming, but the link takes nothing for 5 s
    dropped = board.status().samples_dropped
    assert 390 <= dropped <= 410
    board.frames()  # live skips to the newest samples; the rest waits for backfill
    newest = board.status().newest_seq
    assert board.command(wire.OP_BACKFILL, newest - 599, 600).ok
    board.frames()
    board.run(1000)
    board.frames()
    assert board.status().samples_dropped == dropped


def test_trust_gate(board: Board) -> None:
    for op, args in [
        (wire.OP_START_STREAM, ()),
        (wire.OP_STOP_STREAM, ()),
        (wire.OP_SET_RATE, (100,)),
        (wire.OP_SET_MODE, (1,)),
        (wire.OP_TIME_PING, (1,)),
        (wire.OP_BACKFILL, (0, 1)),
        (wire.OP_ZERO_AT_REST, ()),
    ]:
        ack = board.command(op, *args, trusted=False)
        assert ack.result == wire.RESULT_NOT_PERMITTED, op
    assert board.command(wire.OP_GET_STATUS, trusted=False).ok
    assert board.command(wire.OP_IDENTIFY, 1, trusted=False).ok
    assert not board.app.streaming()
    assert board.status().rate_hz == 200


def test_malformed_commands(board: Board) -> None:
    app = board.app
    unknown = wire.decode_ack(app.on_command(bytes([1, 0x10, 0x7E, 4])))
    assert (unknown.opcode, unknown.token, unknown.result) == (0x7E, 4, wire.RESULT_UNSUPPORTED)
    short = wire.decode_ack(app.on_command(bytes([1, 0x10, wire.OP_BACKFILL, 5, 1, 2])))
    assert short.result == wire.RESULT_BAD_ARGUMENT
    assert app.on_command(bytes([2, 0x10, 1, 1])) == b""  # another protocol version
    assert app.on_command(wire.encode_ack(1, 1, 0)) == b""  # not a command
    assert app.on_command(b"") == b""
    assert app.on_command(bytes([1])) == b""


def test_imu_error_backoff_and_recovery(board: Board) -> None:
    app = board.app
    board.run(500)
    board.imu.fail = True
    board.factory_error = OSError
    board.run(10)
    assert not app.imu_ok
    assert app.imu_errors == 1
    st = board.status()
    assert st.state & wire.STATE_IMU_ERROR
    assert st.temperature_centi_c == wire.TEMPERATURE_UNKNOWN
    # retries after 100, 200, 400, 800, 1600 ms (never blocking)
    calls = []
    for _ in range(320):
        board.run(10)
        calls.append(board.factory_calls)
    changes = [i for i in range(1, len(calls)) if calls[i] != calls[i - 1]]
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    assert gaps[:3] == [20, 40, 80]
    board.factory_error = None
    board.run(3300)  # the next retry, 3.2 s after the last
    assert app.imu_ok
    assert app.imu_recoveries == 1
    assert not board.status().state & wire.STATE_IMU_ERROR
    assert board.command(wire.OP_START_STREAM).ok
    board.run(200)
    assert board.frames()


def test_imu_error_without_factory_reads_again(fw_env: FirmwareEnv) -> None:
    b = Board(fw_env, factory=False)
    b.run(300)
    b.imu.fail = True
    b.run(300)
    assert not b.app.imu_ok
    b.imu.fail = False
    b.run(300)
    assert b.app.imu_ok
    assert b.app.imu_recoveries == 1
    assert b.command(wire.OP_START_STREAM).ok
    b.run(300)
    frames = b.frames(mfb=100)
    assert frames


def test_stalled_imu_is_an_error(board: Board) -> None:
    board.run(300)
    board.imu.period_us = 1e12  # the chip stops producing samples without a bus error
    board.imu.t0_us = board.t.now_us()
    board.run(700)
    assert board.app.imu_stalls == 1
    assert board.app.imu_errors >= 1
    board.run(500)
    assert board.app.imu_ok  # a new driver (factory) produces again


def test_links_are_independent(board: Board) -> None:
    assert board.command(wire.OP_START_STREAM, link=0).ok
    board.run(500)
    assert board.frames(link=1) == []
    live0 = board.frames(link=0)
    assert live0
    newest = board.status().newest_seq
    ack = board.command(wire.OP_BACKFILL, newest - 20, 20, link=1)
    assert ack.ok
    frames1 = board.frames(link=1)
    assert all(f.is_backfill for f in frames1)
    assert sum(f.count for f in frames1) == 20
    assert board.frames(link=0) == []


def _ints(obj: Any, seen: set[int], path: str, out: list[str]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, bool):
        return
    if isinstance(obj, int):
        if not -(1 << 30) <= obj < (1 << 30):
            out.append(f"{path} = {obj}")
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _ints(v, seen, f"{path}[{i}]", out)
        return
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("coxa_fw"):
        for k, v in vars(obj).items():
            _ints(v, seen, f"{path}.{k}", out)


def test_state_stays_in_small_ints(fw_env: FirmwareEnv) -> None:
    """On the 32-bit board an int beyond +-2**30 is a heap object: the steady state must not
    create any, even with the device clock past 2**30 us and wrapping at 2**32."""
    b = Board(fw_env, sample=moving, start_us=U32 - 2_000_000)
    assert b.command(wire.OP_START_STREAM).ok
    for _ in range(8):
        b.run(1000)
        b.frames()
        b.frames(mfb=61)
    newest = b.status().newest_seq
    b.command(wire.OP_BACKFILL, newest - 100, 100)
    b.frames()
    bad: list[str] = []
    _ints(b.app, set(), "app", bad)
    assert bad == []
    assert b.app.sampler.dclock.t_us() < 10_000_000  # it wrapped
