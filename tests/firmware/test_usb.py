"""``coxa_fw.usb.SerialLink`` on CPython: COBS+CRC round trips with the app, the open gate,
bad packets, partial and failing writes, DTR. (Streaming a whole squat set over the serial
link, with a dropout and backfill, is in ``test_app_e2e.py`` on both runtimes.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from coxa import wire
from tests.firmware.app_sim import FirmwareEnv, firmware_env
from tests.firmware.test_app import Board


@pytest.fixture(scope="module")
def fw_env() -> Iterator[FirmwareEnv]:
    yield from firmware_env()


class Stream:
    """Fake serial port: ``rx`` host -> board; writes land in ``tx``."""

    def __init__(self, chunk: int = 1 << 20) -> None:
        self.rx = bytearray()
        self.tx = bytearray()
        self.chunk = chunk  # most bytes one write accepts
        self.fail_writes = 0
        self.writes = 0

    def readinto(self, buf: bytearray) -> int | None:
        n = min(len(buf), len(self.rx))
        if n == 0:
            return None
        buf[:n] = self.rx[:n]
        del self.rx[:n]
        return n

    def write(self, data: Any) -> int | None:
        self.writes += 1
        if self.fail_writes:
            self.fail_writes -= 1
            raise OSError(5, "gone")
        n = min(len(data), self.chunk)
        if n == 0:
            return None
        self.tx.extend(bytes(data[:n]))
        return n


class DtrStream(Stream):
    def __init__(self) -> None:
        super().__init__()
        self.dtr_level = False

    def dtr(self) -> bool:
        return self.dtr_level


class Host:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.deframer = wire.SerialDeframer()
        self.token = 0

    def send(self, opcode: int, *args: int) -> None:
        self.token = (self.token + 1) & 0xFF
        self.stream.rx.extend(wire.serial_encode(wire.encode_command(opcode, self.token, *args)))

    def receive(self) -> list[Any]:
        data = bytes(self.stream.tx)
        self.stream.tx.clear()
        return [wire.decode_frame(f) for f in self.deframer.feed(data)]


@pytest.fixture
def rig(fw_env: FirmwareEnv) -> tuple[Board, Any, Stream, Host]:
    board = Board(fw_env)
    usb = fw_env.module("coxa_fw.usb")
    stream = Stream()
    link = usb.SerialLink(stream, board.app, 1)
    return board, link, stream, Host(stream)


def test_silent_until_a_host_sends_a_command(rig: tuple[Board, Any, Stream, Host]) -> None:
    board, link, stream, host = rig
    assert board.command(wire.OP_START_STREAM, link=1).ok  # e.g. left streaming
    board.run(500)
    link.poll()
    assert link.pump() == 0
    assert stream.writes == 0
    assert not link.opened
    host.send(wire.OP_GET_STATUS)
    assert link.poll() == 1
    assert link.opened
    got = host.receive()
    assert isinstance(got[0], wire.Ack)
    assert got[0].ok
    assert got[0].opcode == wire.OP_GET_STATUS
    assert isinstance(got[1], wire.Status)
    link.pump(100)
    frames = [f for f in host.receive() if isinstance(f, wire.DataFrame)]
    assert frames
    assert all(f.size() <= wire.MAX_FRAME_BYTES for f in frames)


def test_command_round_trip(rig: tuple[Board, Any, Stream, Host]) -> None:
    board, link, _, host = rig
    board.run(300)
    host.send(wire.OP_SET_MODE, wire.MODE_QUAT_RAW)
    host.send(wire.OP_TIME_PING, 42)
    host.send(wire.OP_START_STREAM)
    link.poll()
    acks = host.receive()
    assert [a.opcode for a in acks] == [wire.OP_SET_MODE, wire.OP_TIME_PING, wire.OP_START_STREAM]
    assert all(a.ok for a in acks)
    assert acks[1].arg("host_token") == 42
    board.run(300)
    link.pump(100)
    frames = host.receive()
    assert frames
    assert all(isinstance(f, wire.DataFrame) and f.raw and not f.is_backfill for f in frames)
    first = frames[0].seq0
    host.send(wire.OP_BACKFILL, first - 30, 30)
    link.poll()
    ack = host.receive()[0]
    assert ack.ok
    assert (ack.arg("first_seq"), ack.arg("count")) == (first - 30, 30)
    link.pump(100)
    back = [f for f in host.receive() if isinstance(f, wire.DataFrame) and f.is_backfill]
    assert sum(f.count for f in back) == 30
    assert back[0].seq0 == first - 30


def test_bad_packets_are_skipped(rig: tuple[Board, Any, Stream, Host]) -> None:
    _, link, stream, host = rig
    good = wire.serial_encode(wire.encode_command(wire.OP_GET_STATUS, 1))
    bad = bytearray(good)
    bad[3] ^= 0x40  # CRC mismatch
    stream.rx.extend(b"\x00\x00garbage\x00" + bad + good)
    stream.rx.extend(wire.serial_encode(wire.encode_ack(wire.OP_GET_STATUS, 1, 0)))  # not a command
    stream.rx.extend(wire.serial_encode(bytes([1, 0x10, 0x55, 7])))  # unknown opcode
    assert link.poll() == 2
    assert link.rx_errors == 2
    got = host.receive()
    assert [type(f).__name__ for f in got] == ["Ack", "Status", "Ack"]
    assert got[2].result == wire.RESULT_UNSUPPORTED


def test_partial_writes_keep_packets_whole(fw_env: FirmwareEnv) -> None:
    board = Board(fw_env)
    stream = Stream(chunk=7)
    link = fw_env.module("coxa_fw.usb").SerialLink(stream, board.app, 1)
    host = Host(stream)
    host.send(wire.OP_START_STREAM)
    link.poll()
    total = 0
    for _ in range(100):
        board.run(20)
        link.poll()
        link.pump(4)
        total += sum(f.count for f in host.receive() if isinstance(f, wire.DataFrame))
    assert host.deframer.errors == 0
    assert total > 300
    assert link.frames_sent > 20


def test_write_errors_drop_the_packet(rig: tuple[Board, Any, Stream, Host]) -> None:
    board, link, stream, host = rig
    host.send(wire.OP_START_STREAM)
    link.poll()
    host.receive()
    board.run(200)
    stream.fail_writes = 1
    link.pump(1)
    assert link.tx_errors == 1
    assert link.frames_lost == 1
    board.run(200)
    link.pump(10)
    frames = [f for f in host.receive() if isinstance(f, wire.DataFrame)]
    assert frames
    assert host.deframer.errors == 0


def test_dtr_opens_and_closes(fw_env: FirmwareEnv) -> None:
    board = Board(fw_env)
    stream = DtrStream()
    link = fw_env.module("coxa_fw.usb").SerialLink(stream, board.app, 1)
    assert board.command(wire.OP_START_STREAM, link=1).ok
    board.run(200)
    link.poll()
    assert link.pump() == 0
    stream.dtr_level = True
    link.poll()
    assert link.opened
    assert link.pump() > 0
    stream.dtr_level = False
    link.poll()
    assert not link.opened
    board.run(200)
    assert link.pump() == 0


def test_send_status(rig: tuple[Board, Any, Stream, Host]) -> None:
    _, link, _, host = rig
    assert not link.send_status()
    host.send(wire.OP_IDENTIFY, 3)
    link.poll()
    host.receive()
    assert link.send_status()
    st = host.receive()[0]
    assert isinstance(st, wire.Status)
    assert st.state & wire.STATE_IDENTIFYING
