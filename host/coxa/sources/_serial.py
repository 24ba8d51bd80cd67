"""Boards on USB serial ports (pyserial) as a :class:`~coxa.sources.Source`.

One port per board. Each port has a reader thread that opens it (again, with backoff, after
the board was unplugged), reads whatever arrives and hands the chunks to the event loop with
their ``time.monotonic_ns()`` receive time. Every chunk becomes one ``LinkKind.SERIAL`` record
exactly as read (COBS packets are not aligned to chunks), and is decoded by the port's
:class:`SerialLinkDecoder`, the same decoder a replay of the capture uses.

Protocol on each port (``docs/protocol.md``): the host sends ``0x00`` (flushes the board's
partial packet) and GET_STATUS, learns the board id from the status frame (a port whose board
is not the one the rig expects is refused), then START_STREAM. It asks for BACKFILL from its
last contiguous sequence number whenever it sees a gap, polls the status every few seconds
(the newest sample tells it about a lost tail), and on :meth:`SerialSource.request_stop` reads
the status once more, waits for the last backfills and sends STOP_STREAM.

Reboots: every status frame on a serial link answers a GET_STATUS, so it is fresh, and each
one (above all the one asked for when a port reopens: a board on native USB that resets drops
off the bus) goes through :meth:`BoardMonitor.on_connect_status`. When the board's sequence
restarted (its FIFO is empty, or its newest sample is behind the stream or further ahead than
the time since the last frame explains; the status frame carries no boot counter or uptime)
the monitor writes off what the previous boot still missed and tracks the new boot from the
oldest sample its FIFO holds (backfilled like any gap), and the source starts the stream again.
Status frames, acks and data frames are applied in the order the board sent them.

Chunks read before the board id is known are held and recorded once it is known. After a
reconnection the decoder is not reset, as a replay cannot know about it either: a packet torn
by the unplugging is one bad packet, and its samples come back by backfill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self, cast

from coxa import wire
from coxa.capture import CaptureRecord, LinkKind
from coxa.sources._frames import ReceivedFrame
from coxa.sources._monitor import BoardMonitor, MonitorParams
from coxa.sources._rigs import UNASSIGNED_SEGMENT
from coxa.sources._serial_decode import SerialLinkDecoder
from coxa.sources._source import Arrival, BoardHealth

_LOG = logging.getLogger(__name__)


class SerialPortLike(Protocol):
    """What the source needs of an open port (a ``serial.Serial``)."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SerialPort:
    """One board's port.

    Attributes
    ----------
    port : str
        Device name (``/dev/ttyACM0``, ``COM3``) or a pyserial URL.
    board_id : int or None
        The board expected on it (None: whichever board answers).
    segment : str
        Its body segment (``UNASSIGNED_SEGMENT`` if none).
    """

    port: str
    board_id: int | None = None
    segment: str = UNASSIGNED_SEGMENT


@dataclass(frozen=True)
class SerialParams:
    """Settings of the serial links.

    Attributes
    ----------
    baudrate : int
        Line rate for real UARTs (USB CDC ignores it). Default 921600 [assumption].
    read_timeout_s : float
        Longest wait of one read, s (bounds the reaction to a stop). Default 0.05
        [assumption].
    handshake_timeout_s : float
        GET_STATUS is sent again when no status came back after this long, s. Default 2
        [assumption].
    reconnect_s : tuple of float
        First and longest wait between attempts to reopen a port, s (doubling). Default
        (0.5, 5) [assumption].
    status_every_s : float
        Period of the GET_STATUS polls while streaming, s. Default 5 [assumption].
    drain_s : float
        Longest wait for the last backfills after a stop request, s. Default 5
        [assumption].
    tick_s : float
        Period of the housekeeping (backfill retries, polls), s. Default 0.25 [assumption].
    monitor : MonitorParams
    """

    baudrate: int = 921_600
    read_timeout_s: float = 0.05
    handshake_timeout_s: float = 2.0
    reconnect_s: tuple[float, float] = (0.5, 5.0)
    status_every_s: float = 5.0
    drain_s: float = 5.0
    tick_s: float = 0.25
    monitor: MonitorParams = field(default_factory=MonitorParams)


def open_serial_port(port: str, baudrate: int, timeout_s: float) -> SerialPortLike:
    """Open ``port`` with pyserial (a device name or a pyserial URL)."""
    import serial  # only needed when a serial port is used

    return serial.serial_for_url(port, baudrate=baudrate, timeout=timeout_s)


PortOpener = Callable[[str, int, float], SerialPortLike]


@dataclass
class _Link:
    """One port: its connection, decoder and the host's view of its board."""

    spec: SerialPort
    board_id: int | None
    monitor: BoardMonitor | None = None
    decoder: SerialLinkDecoder | None = None
    probe: SerialLinkDecoder = field(default_factory=SerialLinkDecoder)
    held: list[tuple[int, bytes]] = field(default_factory=list[tuple[int, bytes]])
    conn: SerialPortLike | None = None
    streaming: bool = False
    failed: str = ""
    token: int = 0
    tokens: dict[int, tuple[int, int, int]] = field(default_factory=dict[int, tuple[int, int, int]])
    status_due_ns: int = 0
    status_asked_ns: int = 0
    final_status: bool = False
    opened_once: bool = False


_Event = tuple[str, _Link, int, object]


class SerialSource:
    """Boards on serial ports, one port each.

    Parameters
    ----------
    ports : sequence of SerialPort
    params : SerialParams, optional
    open_port : callable, optional
        ``open_port(port, baudrate, timeout_s)`` returning an open port; default
        :func:`open_serial_port` (pyserial).

    Attributes
    ----------
    errors : list of str
        Ports refused or given up (their messages).
    """

    def __init__(
        self,
        ports: Sequence[SerialPort],
        params: SerialParams | None = None,
        open_port: PortOpener | None = None,
    ) -> None:
        if not ports:
            raise ValueError("a serial source needs at least one port")
        names = [p.port for p in ports]
        if len(set(names)) != len(names):
            raise ValueError(f"a port is given twice: {names}")
        self.params = params or SerialParams()
        self._open = open_port or open_serial_port
        self._links = [_Link(spec=p, board_id=p.board_id) for p in ports]
        for link in self._links:
            if link.board_id is not None:
                self._adopt(link, link.board_id)
        self._queue: asyncio.Queue[_Event] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stopping_at: float | None = None
        self._iterated = False
        self.errors: list[str] = []

    # ------------------------------------------------------------------ Source interface
    @property
    def segments_by_board(self) -> Mapping[int, str]:
        """Segment of every board whose id is known."""
        return {
            link.board_id: link.spec.segment for link in self._links if link.board_id is not None
        }

    def health(self) -> Mapping[int, BoardHealth]:
        """Current link state of every board whose id is known."""
        out: dict[int, BoardHealth] = {}
        for link in self._links:
            if link.monitor is not None and link.board_id is not None:
                errors = link.probe.protocol_errors if link.decoder is None else 0
                if link.decoder is not None:
                    errors = link.decoder.protocol_errors
                link.monitor.protocol_errors = errors
                out[link.board_id] = link.monitor.health()
        return out

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        for link in self._links:
            thread = threading.Thread(
                target=self._reader, args=(link,), name=f"coxa-serial-{link.spec.port}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for link in self._links:
            if link.streaming:
                self._send(link, wire.OP_STOP_STREAM)
        self._stop.set()
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 2.0)

    def __aiter__(self) -> AsyncIterator[Arrival]:
        if self._queue is None:
            raise RuntimeError("enter the source (async with) before iterating it")
        if self._iterated:
            raise RuntimeError("a SerialSource can be iterated once")
        self._iterated = True
        return self._run(self._queue)

    def request_stop(self) -> None:
        """End the session: read every board's status, wait for the last backfills (at most
        ``drain_s``), then end the iteration."""
        if self._stopping_at is None:
            self._stopping_at = time.monotonic()
            for link in self._links:
                if link.streaming:
                    link.final_status = False
                    self._send(link, wire.OP_GET_STATUS)

    # ------------------------------------------------------------------ decoder counts
    def decoders(self) -> dict[int, SerialLinkDecoder]:
        """The decoder of every board whose id is known (its error counters)."""
        return {
            link.board_id: link.decoder
            for link in self._links
            if link.board_id is not None and link.decoder is not None
        }

    def monitors(self) -> dict[int, BoardMonitor]:
        """The monitor of every board whose id is known (its counts: reboots, duplicates,
        samples per boot)."""
        return {
            link.board_id: link.monitor
            for link in self._links
            if link.board_id is not None and link.monitor is not None
        }

    # ------------------------------------------------------------------ reader threads
    def _post(self, event: _Event) -> None:
        loop, queue = self._loop, self._queue
        if loop is not None and queue is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, event)

    def _reader(self, link: _Link) -> None:
        first_s, longest_s = self.params.reconnect_s
        delay = first_s
        while not self._stop.is_set():
            try:
                conn = self._open(link.spec.port, self.params.baudrate, self.params.read_timeout_s)
            except OSError as err:
                self._post(("error", link, 0, f"cannot open {link.spec.port}: {err}"))
                self._stop.wait(delay)
                delay = min(2 * delay, longest_s)
                continue
            delay = first_s
            self._post(("up", link, 0, conn))
            try:
                while not self._stop.is_set():
                    data = conn.read(max(1, conn.in_waiting))
                    if data:
                        self._post(("data", link, time.monotonic_ns(), data))
            except OSError as err:
                self._post(("down", link, 0, f"{link.spec.port}: {err}"))
            finally:
                with contextlib.suppress(OSError):
                    conn.close()

    # ------------------------------------------------------------------ event loop side
    async def _run(self, queue: asyncio.Queue[_Event]) -> AsyncIterator[Arrival]:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), self.params.tick_s)
            except TimeoutError:
                event = None
            if event is not None:
                for arrival in self._handle(event):
                    yield arrival
            self._tick(time.monotonic_ns())
            if self._done():
                return

    def _done(self) -> bool:
        if self._stopping_at is None:
            return all(link.failed for link in self._links)
        if time.monotonic() - self._stopping_at >= self.params.drain_s:
            return True
        for link in self._links:
            if link.failed or not link.streaming or link.monitor is None:
                continue
            if not link.final_status or link.monitor.tracker.gaps():
                return False
        return True

    def _handle(self, event: _Event) -> list[Arrival]:
        what, link, t_ns, data = event
        if link.failed:
            return []
        if what == "up":
            self._connected(link, cast("SerialPortLike", data))
        elif what in ("down", "error"):
            self._disconnected(link, str(data))
        elif isinstance(data, bytes):
            return self._chunk(link, t_ns, data)
        return []

    def _connected(self, link: _Link, conn: SerialPortLike) -> None:
        link.conn = conn
        if link.monitor is not None:
            if link.opened_once:
                link.monitor.reconnects += 1
            link.monitor.connected = True
        link.opened_once = True
        _LOG.info("serial port %s open", link.spec.port)
        self._write(link, b"\x00")
        # On a reopen, the answer tells whether the board rebooted meanwhile (_control).
        self._send(link, wire.OP_GET_STATUS)
        if link.decoder is not None and link.streaming:
            self._send(link, wire.OP_START_STREAM)

    def _disconnected(self, link: _Link, message: str) -> None:
        if link.conn is not None or link.monitor is None or link.monitor.connected:
            _LOG.warning("serial link lost: %s", message)
        link.conn = None
        if link.monitor is not None:
            link.monitor.connected = False

    def _chunk(self, link: _Link, t_ns: int, data: bytes) -> list[Arrival]:
        if link.decoder is None:
            link.held.append((t_ns, data))
            for control in link.probe.feed(t_ns // 1000, data)[1]:
                if isinstance(control, wire.Status):
                    return self._identified(link, control)
            return []
        return [self._record(link, t_ns, data)]

    def _identified(self, link: _Link, status: wire.Status) -> list[Arrival]:
        """The first status frame of a port whose board was not known."""
        if link.spec.board_id is not None and status.board_id != link.spec.board_id:
            self._fail(link, f"board {status.board_id}, not the rig's board {link.spec.board_id}")
            return []
        self._adopt(link, status.board_id)
        held, link.held = link.held, []
        return [self._record(link, t_ns, chunk) for t_ns, chunk in held]

    def _adopt(self, link: _Link, board_id: int) -> None:
        link.board_id = board_id
        link.decoder = SerialLinkDecoder(board_id)
        link.monitor = BoardMonitor(board_id, self.params.monitor)
        link.monitor.connected = link.conn is not None

    def _fail(self, link: _Link, message: str) -> None:
        text = f"serial port {link.spec.port}: {message}"
        _LOG.error(text)
        self.errors.append(text)
        link.failed = text
        if link.conn is not None:
            self._send(link, wire.OP_STOP_STREAM)

    def _record(self, link: _Link, t_ns: int, data: bytes) -> Arrival:
        decoder, monitor, board_id = link.decoder, link.monitor, link.board_id
        assert decoder is not None
        assert monitor is not None
        assert board_id is not None
        frames: list[ReceivedFrame] = []
        # In the order the board sent them: the frames after a status that shows a reboot
        # belong to the new boot.
        for item in decoder.feed_in_order(t_ns // 1000, data):
            if isinstance(item, ReceivedFrame):
                monitor.on_frame(item)
                frames.append(item)
            else:
                self._control(link, monitor, item, t_ns)
        return Arrival(CaptureRecord(t_ns, board_id, LinkKind.SERIAL, data), tuple(frames))

    def _control(
        self, link: _Link, monitor: BoardMonitor, item: wire.Ack | wire.Status, t_ns: int
    ) -> None:
        if isinstance(item, wire.Status):
            if item.board_id != link.board_id:
                self._fail(link, f"now board {item.board_id}, was board {link.board_id}")
                return
            link.status_asked_ns = 0
            link.final_status = self._stopping_at is not None
            monitor.battery_pct = _battery_pct(item.battery_mv)
            if not link.streaming and self._stopping_at is None:
                link.streaming = True
                monitor.tracker.expect_from(wire.seq_add(item.newest_seq, 1))
                self._send(link, wire.OP_START_STREAM)
            elif monitor.on_connect_status(item, t_ns):
                # A status on a serial link always answers a GET_STATUS (no cached value), so
                # every one, above all the one asked for when the port (re)opens, is checked
                # for a reboot. A board out of a reset does not stream, and answers to the
                # backfill requests of its previous boot would be about other samples.
                link.tokens = {
                    token: asked
                    for token, asked in link.tokens.items()
                    if asked[0] != wire.OP_BACKFILL
                }
                if self._stopping_at is None:
                    self._send(link, wire.OP_START_STREAM)
            return
        asked = link.tokens.pop(item.token, None)
        if asked is None:
            return
        opcode, from_seq, count = asked
        if opcode == wire.OP_BACKFILL:
            monitor.on_backfill_ack(from_seq, count, item)
        elif not item.ok:
            _LOG.warning(
                "board %s refused %s: %s",
                link.board_id,
                wire.OPCODE_NAMES.get(opcode, opcode),
                item.result_name,
            )

    def _tick(self, now_ns: int) -> None:
        for link in self._links:
            if link.failed or link.conn is None:
                continue
            if link.status_asked_ns and now_ns - link.status_asked_ns > _s_ns(
                self.params.handshake_timeout_s
            ):
                self._send(link, wire.OP_GET_STATUS)
            monitor = link.monitor
            if monitor is None or not link.streaming:
                continue
            if self._stopping_at is None and now_ns >= link.status_due_ns:
                self._send(link, wire.OP_GET_STATUS)
            for from_seq, count in monitor.backfill_requests(now_ns):
                self._send(link, wire.OP_BACKFILL, from_seq, count)

    def _send(self, link: _Link, opcode: int, *args: int) -> None:
        link.token = (link.token + 1) & 0xFF
        link.tokens[link.token] = (opcode, args[0] if args else 0, args[1] if len(args) > 1 else 0)
        if opcode == wire.OP_GET_STATUS:
            now = time.monotonic_ns()
            link.status_asked_ns = now
            link.status_due_ns = now + _s_ns(self.params.status_every_s)
        self._write(link, wire.serial_encode(wire.encode_command(opcode, link.token, *args)))

    def _write(self, link: _Link, data: bytes) -> None:
        conn = link.conn
        if conn is None:
            return
        try:
            conn.write(data)
        except OSError as err:  # the reader thread reports the port as gone
            _LOG.debug("write to %s failed: %s", link.spec.port, err)


def _s_ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _battery_pct(battery_mv: int) -> float:
    """Charge of a single-cell LiPo from its voltage: linear from 3.3 V (0 %) to 4.2 V (100 %)
    [assumption: a rough open-circuit mapping]; NaN when not measured (0 mV)."""
    if battery_mv == 0:
        return math.nan
    return min(100.0, max(0.0, (battery_mv - 3300) / 9.0))
