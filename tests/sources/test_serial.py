"""``SerialSource`` over a pseudo-terminal, with the real firmware's serial side running in the
MicroPython unix port (``mp_serial_board.py``): the app, its driver on the fake IMU, its AHRS,
FIFO, framer and :class:`coxa_fw.usb.SerialLink` write COBS packets to the pty master; the host
opens the slave with pyserial.

The board injects a garbage packet, a truncated packet and a frame of protocol version 2
between its packets: each is counted under its own counter, and every good frame the firmware
sent still arrives (no sample is missing, none needed backfill). The chunks recorded by the
source, replayed from a capture, decode into exactly the same frames.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from coxa import wire
from coxa.capture import CaptureWriter, LinkKind
from coxa.sources import ReplaySource, SerialParams, SerialPort, SerialSource
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


@pytest.fixture
def board(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """The firmware running on a pty; yields the slave's name, the summary path, the process."""
    counts = make_squat_counts("lsm6dsox", [[1, 0, 0], [0, 1, 0], [0, 0, 1]], 200.0, reps=1)
    counts_path = tmp_path / "counts.bin"
    counts_path.write_bytes(counts.counts)
    summary = tmp_path / "summary.json"
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "counts": str(counts_path),
                "profile": "coxa-s3-lsm6dsox",
                "board_id": BOARD_ID,
                "link": "usb",
                "summary": str(summary),
                "inject": _injections(),
                "idle_ms": 8000,
            }
        )
    )
    master, slave = pty.openpty()
    tty.setraw(slave)
    process = subprocess.Popen(
        [str(micropython_executable()), str(HERE / "mp_serial_board.py"), str(config)],
        stdin=master,
        stdout=master,
        stderr=subprocess.PIPE,
        env=micropython_env([*MP_PATH, HERE]),
    )
    try:
        yield os.ttyname(slave), summary, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
        os.close(master)
        os.close(slave)


async def _stream(source: SerialSource, quiet_s: float, limit_s: float) -> list[tuple[int, bytes]]:
    """Records of the session; stop once no data frame came for ``quiet_s``."""
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
            if not stopping and (now - last > quiet_s or now - started > limit_s):
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
