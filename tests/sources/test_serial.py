"""``SerialSource`` over a pseudo-terminal, with the real firmware's serial side running in the
MicroPython unix port (``mp_serial_board.py``): the app, its driver on the fake IMU, its AHRS,
FIFO, framer and :class:`coxa_fw.usb.SerialLink` write COBS packets to the pty master; the host
opens the slave with pyserial.

The board injects a garbage packet, a truncated packet and a frame of protocol version 2
between its packets: each is counted under its own counter, and every good frame the firmware
sent still arrives (no sample is missing, none needed backfill). The chunks recorded by the
source, replayed from a capture, decode into exactly the same frames.

Through a test "cable" (the source's ``open_port``, which can unplug the port): a board that
resets mid-stream and comes back on a new pty is one reboot, with every sample of both boots
and none lost; a cable unplugged for a moment is a reconnection, not a reboot. A scripted port
checks that a status and the frames after it in one chunk are applied in the board's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import os
import pty
import subprocess
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coxa import wire
from coxa.capture import CaptureWriter, LinkKind
from coxa.sources import (
    ReplaySource,
    SerialParams,
    SerialPort,
    SerialPortLike,
    SerialSource,
    open_serial_port,
)
from tests.firmware.app_sim import MP_PATH, make_squat_counts
from tests.support.micropython import micropython_env, micropython_executable

HERE = Path(__file__).resolve().parent
BOARD_ID = 0x2C3D


def _injections() -> list[list[object]]:
    """Bytes the board writes between its packets (after packet n): garbage, a truncated
    data packet, a well-formed frame of protocol version 2."""
    frame = wire.encode_data_frame(
        wire.KIND_DATA_LIVE, BOARD_ID, 7, 0, 5000, [16384, 0, 0, 0], [0, 0, 0], [0]
    )
    packet = wire.serial_encode(frame)
    newer = wire.serial_encode(bytes([2]) + frame[1:])
    return [
        [5, (b"\x17garbage \xff\xfe" + b"\x00").hex()],
        [40, (packet[:11] + b"\x00").hex()],
        [90, newer.hex()],
    ]


class _PtyBoard:
    """The firmware running under MicroPython on the master side of a new pty."""

    def __init__(self, directory: Path, counts: bytes, **config: object) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        counts_path = directory / "counts.bin"
        counts_path.write_bytes(counts)
        self.summary_path = directory / "summary.json"
        config_path = directory / "config.json"
        config_path.write_text(
            json.dumps(
                {
                    "counts": str(counts_path),
                    "profile": "coxa-s3-lsm6dsox",
                    "board_id": BOARD_ID,
                    "link": "usb",
                    "summary": str(self.summary_path),
                    "idle_ms": 8000,
                    **config,
                }
            )
        )
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.process = subprocess.Popen(
            [str(micropython_executable()), str(HERE / "mp_serial_board.py"), str(config_path)],
            stdin=self.master,
            stdout=self.master,
            stderr=subprocess.PIPE,
            env=micropython_env([*MP_PATH, HERE]),
        )

    def finish(self, timeout_s: float = 20.0) -> dict[str, Any]:
        """Wait for the board's exit; its summary (fails with its stderr if it failed)."""
        self.process.wait(timeout_s)
        stderr = self.process.stderr.read().decode() if self.process.stderr else ""
        assert self.process.returncode == 0, stderr
        return json.loads(self.summary_path.read_text())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@functools.cache
def _squat_counts() -> bytes:
    """Raw IMU counts of one squat on the right thigh (12 bytes per sample)."""
    return make_squat_counts("lsm6dsox", [[1, 0, 0], [0, 1, 0], [0, 0, 1]], 200.0, reps=1).counts


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """The firmware on a pty, injecting bad packets; yields the slave's name, the summary
    path, the process."""
    pty_board = _PtyBoard(tmp_path, _squat_counts(), inject=_injections())
    try:
        yield pty_board.port, pty_board.summary_path, pty_board.process
    finally:
        pty_board.close()


class _Cable:
    """The USB cable between the host and a pty board, as ``SerialSource``'s ``open_port``.

    Unplugged, the open port fails at its next read or write and opening fails, as when a
    USB device leaves the bus; plugged again, opening reaches ``path`` (a board that came back
    after a reset re-enumerates: here, the next boot's pty).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.plugged = True
        self.plugs = 0

    def open(self, port: str, baudrate: int, timeout_s: float) -> SerialPortLike:
        if not self.plugged:
            raise OSError(errno.ENODEV, f"{port}: no such device")
        return _PluggedPort(self, open_serial_port(self.path, baudrate, timeout_s))

    def unplug(self) -> None:
        self.plugged = False
        self.plugs += 1

    def plug(self, path: str | None = None) -> None:
        self.path = path or self.path
        self.plugged = True


class _PluggedPort:
    """A port opened through a :class:`_Cable`: gone once the cable was unplugged."""

    def __init__(self, cable: _Cable, port: SerialPortLike) -> None:
        self._cable = cable
        self._port = port
        self._plugs = cable.plugs

    def _check(self) -> None:
        if self._cable.plugs != self._plugs:
            raise OSError(errno.EIO, "device disconnected")

    @property
    def in_waiting(self) -> int:
        self._check()
        return self._port.in_waiting

    def read(self, size: int = 1) -> bytes:
        self._check()
        return self._port.read(size)

    def write(self, data: bytes, /) -> int | None:
        self._check()
        return self._port.write(data)

    def close(self) -> None:
        self._port.close()


async def _stream(
    source: SerialSource,
    quiet_s: float,
    limit_s: float,
    ready: Callable[[], bool] = lambda: True,
) -> list[tuple[int, bytes]]:
    """Records of the session; stop once no data frame came for ``quiet_s`` (and ``ready()``
    says the test's own steps are done)."""
    records: list[tuple[int, bytes]] = []
    started = last = time.monotonic()
    async with source:
        stopping = False
        async for arrival in source:
            records.append((arrival.record.t_rx_ns, arrival.record.payload))
            assert arrival.record.kind == LinkKind.SERIAL
            assert arrival.record.link_id == BOARD_ID
            now = time.monotonic()
            if arrival.frames:
                last = now
            quiet = now - last > quiet_s and ready()
            if not stopping and (quiet or now - started > limit_s):
                stopping = True
                source.request_stop()
        if not stopping:
            source.request_stop()
    return records


def test_firmware_over_a_pty(
    board: tuple[str, Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port, summary_path, process = board
    source = SerialSource(
        [SerialPort(port, BOARD_ID, "femur_r")], SerialParams(tick_s=0.1, drain_s=3.0)
    )
    # The source ends by itself once the stream is quiet (request_stop in _stream) ...
    records = asyncio.run(asyncio.wait_for(_stream(source, 1.5, 60.0), 90.0))
    process.wait(20)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert process.returncode == 0, stderr
    summary = json.loads(summary_path.read_text())
    assert summary["stopped"]  # the host's STOP_STREAM arrived
    assert summary["injected"] == 3
    decoder = source.decoders()[BOARD_ID]
    monitor = source.health()[BOARD_ID]
    # Every bad thing counted under its own counter ...
    assert decoder.bad_packets == 2
    assert decoder.unsupported_version == 1
    assert decoder.bad_frames == 0
    assert decoder.foreign_frames == 0
    assert monitor.protocol_errors == 3
    # ... and no good frame lost: every frame sent arrived, every sample, no backfill needed.
    assert decoder.frames == summary["frames_sent"]
    assert summary["frames_backfill"] == 0
    tracker = source._links[0].monitor.tracker  # pyright: ignore[reportPrivateUsage, reportOptionalMemberAccess]
    assert tracker.received == summary["samples_taken"] > 1500
    assert tracker.gaps() == []
    assert tracker.lost == 0
    assert tracker.first == summary["first_seq"]
    assert monitor.lost_samples == 0

    # The same chunks, captured and replayed, decode into the same frames.
    path = tmp_path / "serial.coxa"
    with CaptureWriter(path, {"rig": {str(BOARD_ID): "femur_r"}, "link_kind": "serial"}) as out:
        for t_ns, payload in records:
            out.append(t_ns, BOARD_ID, LinkKind.SERIAL, payload)

    async def replay() -> int:
        frames = 0
        async with ReplaySource(path) as replay:
            async for arrival in replay:
                frames += len(arrival.frames)
        return frames

    assert asyncio.run(replay()) == decoder.frames


#: Quick reconnection and status polls for the tests with an unplugged cable.
_REPLUG = SerialParams(tick_s=0.1, drain_s=3.0, reconnect_s=(0.1, 0.2), status_every_s=1.0)


async def _wait_for_samples(source: SerialSource, n: int, limit_s: float) -> None:
    """Wait until the host received ``n`` samples of the board (all boots)."""
    deadline = time.monotonic() + limit_s
    while (monitor := source.monitors().get(BOARD_ID)) is None or monitor.received < n:
        assert time.monotonic() < deadline, f"the host did not receive {n} samples in time"
        await asyncio.sleep(0.02)


def test_a_board_that_reboots_mid_stream(tmp_path: Path) -> None:
    """The board resets after 600 samples and drops off the bus; its next boot samples 150
    times before the host's port reopens. The host sees one reboot, backfills the new boot's
    first samples, and counts nothing lost: the sequence restart is neither a gap nor a run
    of duplicates."""
    first = _PtyBoard(tmp_path / "boot1", _squat_counts(), reboot_after=600)
    boards = [first]
    cable = _Cable(first.port)
    source = SerialSource(
        [SerialPort("usb-board", BOARD_ID, "femur_r")], _REPLUG, open_port=cable.open
    )
    summaries: list[dict[str, Any]] = []

    async def reset_the_board() -> None:
        summaries.append(await asyncio.to_thread(first.finish))
        # The board sent everything it took before its reset: wait until the host has it.
        await _wait_for_samples(source, summaries[0]["samples_taken"], 10.0)
        cable.unplug()
        first.close()
        second = _PtyBoard(tmp_path / "boot2", _squat_counts()[: 12 * 1000], presample=150)
        boards.append(second)
        await asyncio.sleep(0.3)
        cable.plug(second.port)

    async def main() -> None:
        reset = asyncio.get_running_loop().create_task(reset_the_board())
        await _stream(source, 1.5, 60.0, ready=reset.done)
        await reset

    try:
        asyncio.run(asyncio.wait_for(main(), 90.0))
        summaries.append(boards[1].finish())
    finally:
        for b in boards:
            b.close()
    taken1, taken2 = (int(s["samples_taken"]) for s in summaries)
    assert taken1 >= 600
    assert taken2 == 1000
    assert summaries[1]["stopped"]  # the host restarted the new boot's stream, then stopped it
    assert summaries[1]["frames_backfill"] > 0  # the samples taken before the port reopened
    monitor = source.monitors()[BOARD_ID]
    assert monitor.reboots == 1
    assert monitor.reconnects == 1
    # Every sample of both boots, none stale, none lost; the new boot tracked from its start.
    assert monitor.received == taken1 + taken2
    assert monitor.stale == 0
    assert monitor.lost == 0
    assert source.health()[BOARD_ID].lost_samples == 0
    assert monitor.tracker.first == summaries[1]["first_seq"]
    assert monitor.tracker.received == taken2
    assert monitor.tracker.gaps() == []


def test_a_reopened_port_is_not_a_reboot(tmp_path: Path) -> None:
    """The cable is unplugged for half a second mid-stream while the board keeps sampling:
    one reconnection, no reboot, and every sample arrives (what was in flight by backfill)."""
    board = _PtyBoard(tmp_path, _squat_counts()[: 12 * 1200])
    cable = _Cable(board.port)
    source = SerialSource(
        [SerialPort("usb-board", BOARD_ID, "femur_r")], _REPLUG, open_port=cable.open
    )

    async def unplug_for_a_while() -> None:
        await _wait_for_samples(source, 400, 30.0)
        cable.unplug()
        await asyncio.sleep(0.5)
        cable.plug()

    async def main() -> None:
        replug = asyncio.get_running_loop().create_task(unplug_for_a_while())
        await _stream(source, 1.5, 60.0, ready=replug.done)
        await replug

    try:
        asyncio.run(asyncio.wait_for(main(), 90.0))
        summary = board.finish()
    finally:
        board.close()
    monitor = source.monitors()[BOARD_ID]
    assert summary["stopped"]
    assert monitor.reconnects == 1
    assert monitor.reboots == 0
    assert monitor.received == summary["samples_taken"] == 1200
    assert monitor.lost == 0
    assert source.health()[BOARD_ID].lost_samples == 0
    assert monitor.tracker.first == summary["first_seq"]
    assert monitor.tracker.gaps() == []


def _status_packet(newest_seq: int, fifo_fill: int) -> bytes:
    status = wire.Status(
        board_id=BOARD_ID,
        segment=wire.SEGMENT_THIGH_R,
        fw_major=0,
        fw_minor=1,
        fw_patch=0,
        battery_mv=3900,
        fifo_fill=fifo_fill,
        fifo_capacity=6000,
        samples_dropped=0,
        temperature_centi_c=wire.TEMPERATURE_UNKNOWN,
        rate_hz=200,
        mode=wire.MODE_QUAT,
        state=0,
        newest_seq=newest_seq,
    )
    return wire.serial_encode(status.encode())


def _live_packet(seq0: int, count: int) -> bytes:
    """A live frame of ``count`` identity samples from ``seq0``, at 200 Hz."""
    quat_q14 = [16384, 0, 0, 0] * count
    frame = wire.encode_data_frame(
        wire.KIND_DATA_LIVE,
        BOARD_ID,
        seq0,
        seq0 * 5000,
        5000,
        quat_q14,
        [0] * 3 * count,
        [0] * count,
    )
    return wire.serial_encode(frame)


class _ScriptedBoard:
    """A board's port as scripted chunks (what the OS would hand over), one list per time the
    port is opened; after its chunks a session's port fails as unplugged, the last one stays
    open and quiet. What the host writes is ignored."""

    def __init__(self, sessions: list[list[bytes]]) -> None:
        self.sessions = sessions

    def open(self, port: str, baudrate: int, timeout_s: float) -> SerialPortLike:
        if not self.sessions:
            raise OSError(errno.ENODEV, f"{port}: no such device")
        chunks = self.sessions.pop(0)
        return _ScriptedPort(chunks, timeout_s, last=not self.sessions)


class _ScriptedPort:
    def __init__(self, chunks: list[bytes], timeout_s: float, last: bool) -> None:
        self._chunks = list(chunks)
        self._timeout_s = timeout_s
        self._last = last

    @property
    def in_waiting(self) -> int:
        return len(self._chunks[0]) if self._chunks else 0

    def read(self, size: int = 1) -> bytes:
        if self._chunks:
            return self._chunks.pop(0)
        if not self._last:
            raise OSError(errno.EIO, "device disconnected")
        time.sleep(self._timeout_s)
        return b""

    def write(self, data: bytes, /) -> int | None:
        return len(data)

    def close(self) -> None:
        pass


def test_the_frames_after_a_reboot_status_in_the_same_chunk_belong_to_the_new_boot() -> None:
    """Samples 100-199, then the port is lost; when it reopens, one chunk holds the rebooted
    board's status (samples 0-9 in its FIFO) and its live samples 10-19. The status applies
    before those frames: they are the new boot's, neither stale nor duplicates."""
    board = _ScriptedBoard(
        [
            [
                _status_packet(99, 100),
                b"".join(_live_packet(seq, 10) for seq in range(100, 200, 10)),
            ],
            [_status_packet(9, 10) + _live_packet(10, 10)],
        ]
    )
    params = SerialParams(tick_s=0.05, drain_s=0.3, reconnect_s=(0.05, 0.1))
    source = SerialSource([SerialPort("usb-board", BOARD_ID)], params, open_port=board.open)

    async def stop_once_seen() -> None:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            monitor = source.monitors().get(BOARD_ID)
            if monitor is not None and monitor.reboots and monitor.tracker.received:
                break
            await asyncio.sleep(0.02)
        source.request_stop()

    async def main() -> None:
        async with source:
            stopper = asyncio.get_running_loop().create_task(stop_once_seen())
            async for _ in source:
                pass
            await stopper

    asyncio.run(asyncio.wait_for(main(), 20.0))
    monitor = source.monitors()[BOARD_ID]
    assert monitor.reboots == 1
    assert monitor.received == 100 + 10
    assert (monitor.duplicates, monitor.stale, monitor.lost) == (0, 0, 0)
    assert monitor.tracker.first == 0  # the oldest sample of the new boot's FIFO
    assert monitor.tracker.received == 10
    assert monitor.tracker.gaps() == [(0, 10)]  # asked for by backfill
