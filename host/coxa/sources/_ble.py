"""The BLE source: every board of a rig over bleak, with reconnection and backfill.

Each board of the rig gets one task of its own that connects (one lock around connect for the
whole source, since a central stack makes one connection attempt at a time), verifies the
board (its id; the bond when the rig paired with it), subscribes, starts the stream and then
asks for backfill of every sequence gap until the link drops, after which it reconnects with
exponential back-off. Notification callbacks only timestamp (``time.monotonic_ns``) and
enqueue; decoding happens in the iterator, which also applies the boards' status frames to
their :class:`~coxa.sources.BoardMonitor` in stream order (a reboot check right after each
connection, with a status the board gave then). :meth:`BleSource.request_stop` drains the
boards and ends the iteration. How it works and why: ``docs/ble.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from coxa import wire
from coxa.capture import CaptureRecord, LinkKind
from coxa.sources._ble_link import BleLinkError, BoardSession
from coxa.sources._ble_params import PLATFORM_BACKEND, BleBackend, BleBoard, BleParams
from coxa.sources._link import LinkDecoder
from coxa.sources._monitor import BoardMonitor
from coxa.sources._source import Arrival, BoardHealth

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class BleLinkStats:
    """Details of one board's link beyond :class:`coxa.sources.BoardHealth`.

    Attributes
    ----------
    board_id : int
    samples : int
        Distinct samples received (all boots).
    duplicates : int
        Samples received more than once (duplicated notifications, overlapping backfill).
    stale : int
        Samples from before the start of their boot's stream, not adjacent to it (ignored).
    reboots : int
        Board reboots detected (the sequence restarted).
    rejected : int
        Connections refused by this side: wrong board id, bond missing or not accepted,
        control commands not permitted.
    failed_attempts : int
        Connection attempts that failed for any reason (rejections included).
    att_mtu : int
        ATT MTU of the current or last connection.
    last_error : str
        Why the last attempt failed or the link ended ('' if never).
    """

    board_id: int
    samples: int
    duplicates: int
    stale: int
    reboots: int
    rejected: int
    failed_attempts: int
    att_mtu: int
    last_error: str


@dataclass
class _StatusNote:
    """A board status for its monitor, queued with the data so that the iterator applies it
    in stream order (after every frame received before it)."""

    board_id: int
    status: wire.Status
    t_ns: int
    connect: bool  # taken right after a (re)connection: compare with the stream (reboot?)
    applied: asyncio.Future[bool] | None = None  # set to "rebooted" once applied


_Data = tuple[int, int, bytes]  # (t_rx_ns, board_id, payload)
_Item = _Data | _StatusNote | None


class _LinkState:
    """Mutable per-board link state (owned by the board's task)."""

    def __init__(self, board: BleBoard, params: BleParams) -> None:
        self.board = board
        self.decoder = LinkDecoder(board.board_id)
        self.monitor = BoardMonitor(board.board_id, params.monitor_params())
        self.sessions = 0
        self.rejected = 0
        self.failed_attempts = 0
        self.att_mtu = wire.MIN_ATT_MTU
        self.last_error = ""
        self.status_errors = 0
        self.synced = False  # the connection's first status is applied: notes may follow
        self.status_ns = 0  # host time of the latest status frame of this board
        self.finished = False  # drained after a stop request


class BleSource:
    """Frames from the boards of a rig over BLE (implements :class:`coxa.sources.Source`
    and :class:`coxa.sources.StoppableSource`).

    Parameters
    ----------
    boards : sequence of BleBoard
        The rig: only these addresses are connected, and each must report its board id
        (and, when ``bonded``, encrypt the link with the rig's bond).
    params : BleParams, optional
        Timeouts, back-off, backfill settings.
    backend : BleBackend, optional
        bleak backend classes; bleak's platform backend by default. Tests and the simulation
        pass ``coxa.sources.virtual.VirtualRadio(...).backend``.

    Notes
    -----
    Arrivals carry every data-characteristic notification as received (duplicates too), so
    the raw capture and its replay see exactly the same bytes; the frames of an arrival are
    what :class:`coxa.sources.LinkDecoder` makes of them. Status and ack packets are
    handled by the source and not delivered. The iteration ends after :meth:`request_stop`
    (once the boards are drained) or when the source is closed.
    """

    def __init__(
        self,
        boards: Sequence[BleBoard],
        params: BleParams | None = None,
        backend: BleBackend | None = None,
    ) -> None:
        if not boards:
            raise ValueError("a BLE source needs at least one board")
        addresses = [b.address.upper() for b in boards]
        ids = [b.board_id for b in boards]
        if len(set(addresses)) != len(addresses) or len(set(ids)) != len(ids):
            raise ValueError("every board of a rig needs its own address and board id")
        self.params = params or BleParams()
        self.backend = backend or PLATFORM_BACKEND
        self._links = {b.board_id: _LinkState(b, self.params) for b in boards}
        self._segments = {b.board_id: b.segment for b in boards}
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._closing = asyncio.Event()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # ends a back-off wait: closing or stopping
        self._stop_deadline_ns = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._abort: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running = 0
        self._ended = False  # the end of the iteration is queued

    # ------------------------------------------------------------------------------------
    # Source interface
    # ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        loop = self._loop = asyncio.get_running_loop()
        self._closing.clear()
        self._stopping.clear()
        self._wake.clear()
        self._ended = False
        for state in self._links.values():
            state.finished = False
        self._running = len(self._links)
        self._tasks = [
            loop.create_task(self._run_board(state), name=f"ble board {board_id}")
            for board_id, state in self._links.items()
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._wake.set()
        if self._abort is not None:
            self._abort.cancel()
            self._abort = None
        tasks, self._tasks = self._tasks, []
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.params.command_timeout_s + 1.0)
            for task in pending:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._end_iteration()

    def _end_iteration(self) -> None:
        """Queue the end of the iteration (once), after every item already queued."""
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Arrival]:
        return self._arrivals()

    def request_stop(self) -> None:
        """Finish the session: every connected board is sent STOP_STREAM and GET_STATUS,
        the samples it took up to then and that are still missing are asked for by backfill
        (at most ``drain_s``; a board that dropped is reconnected for it within that time),
        then each link is closed and the iteration ends once every notification received
        has been delivered. Call it from the event loop's thread; calling it again does
        nothing."""
        if self._stopping.is_set():
            return
        self._stop_deadline_ns = time.monotonic_ns() + round(self.params.drain_s * 1e9)
        self._stopping.set()
        self._wake.set()
        if self._loop is not None:
            # a connection attempt may outlast drain_s: its task is ended after a grace time
            grace_s = self.params.drain_s + self.params.command_timeout_s + 1.0
            self._abort = self._loop.call_later(grace_s, self._abort_boards)

    def _abort_boards(self) -> None:
        self._abort = None
        for task in self._tasks:
            if not task.done():
                _LOG.warning("%s: still busy after the stop request, cancelled", task.get_name())
                task.cancel()

    async def _arrivals(self) -> AsyncIterator[Arrival]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, _StatusNote):
                self._apply_note(item)
                continue
            t_rx_ns, board_id, payload = item
            yield self._arrival(t_rx_ns, board_id, payload)

    def _arrival(self, t_rx_ns: int, board_id: int, payload: bytes) -> Arrival:
        state = self._links[board_id]
        frame = state.decoder.push(t_rx_ns // 1000, payload)
        frames = () if frame is None else (frame,)
        if frame is not None:
            state.monitor.on_frame(frame)
        record = CaptureRecord(t_rx_ns, board_id, LinkKind.BLE, payload)
        return Arrival(record=record, frames=frames)

    def _apply_note(self, note: _StatusNote) -> None:
        monitor = self._links[note.board_id].monitor
        rebooted = False
        if note.connect:
            rebooted = monitor.on_connect_status(note.status, note.t_ns)
        else:
            monitor.on_status(note.status, note.t_ns)
        if note.applied is not None and not note.applied.done():
            note.applied.set_result(rebooted)

    @property
    def segments_by_board(self) -> Mapping[int, str]:
        """The body segment of every board of the rig."""
        return dict(self._segments)

    def health(self) -> Mapping[int, BoardHealth]:
        """The current state of every board's link."""
        now_ns = time.monotonic_ns()
        out: dict[int, BoardHealth] = {}
        for board_id, state in self._links.items():
            state.monitor.protocol_errors = state.decoder.protocol_errors + state.status_errors
            out[board_id] = state.monitor.health(now_ns)
        return out

    def stats(self) -> Mapping[int, BleLinkStats]:
        """Link details of every board (duplicates, reboots, rejections, MTU, last error)."""
        return {
            board_id: BleLinkStats(
                board_id=board_id,
                samples=state.monitor.received,
                duplicates=state.monitor.duplicates,
                stale=state.monitor.stale,
                reboots=state.monitor.reboots,
                rejected=state.rejected,
                failed_attempts=state.failed_attempts,
                att_mtu=state.att_mtu,
                last_error=state.last_error,
            )
            for board_id, state in self._links.items()
        }

    # ------------------------------------------------------------------------------------
    # One board's link
    # ------------------------------------------------------------------------------------

    def _stop_due(self, state: _LinkState) -> bool:
        """True once a stopping source is done with this board: drained, never connected,
        or out of time."""
        if not self._stopping.is_set():
            return False
        return (
            state.finished or state.sessions == 0 or time.monotonic_ns() >= self._stop_deadline_ns
        )

    async def _run_board(self, state: _LinkState) -> None:
        try:
            await self._reconnect_loop(state)
        finally:
            self._running -= 1
            if self._running == 0:
                self._end_iteration()  # after every notification already queued

    async def _reconnect_loop(self, state: _LinkState) -> None:
        p = self.params
        backoff_s = p.backoff_initial_s
        while not self._closing.is_set() and not self._stop_due(state):
            streamed = False
            try:
                streamed = await self._connection(state)
            except (BleakError, BleLinkError, TimeoutError) as err:
                state.failed_attempts += 1
                state.last_error = str(err) or type(err).__name__
                _LOG.warning("board %d: %s", state.board.board_id, state.last_error)
            if self._closing.is_set() or self._stop_due(state):
                break
            if streamed:
                backoff_s = p.backoff_initial_s
            wait_s, waker = backoff_s, self._wake
            if self._stopping.is_set():  # reconnect for the drain, until its deadline
                left_s = (self._stop_deadline_ns - time.monotonic_ns()) / 1e9
                wait_s, waker = min(wait_s, max(0.0, left_s)), self._closing
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waker.wait(), wait_s)
            if not streamed:
                backoff_s = min(backoff_s * p.backoff_factor, p.backoff_max_s)

    async def _connection(self, state: _LinkState) -> bool:
        """One connection: set up, stream, backfill until it drops; True if it streamed."""
        p = self.params
        board = state.board
        dropped = asyncio.Event()

        def on_disconnect(_client: BleakClient) -> None:
            dropped.set()

        client = self.backend.make_client(board.address, p.connect_timeout_s, on_disconnect)
        state.synced = False
        async with contextlib.AsyncExitStack() as stack:
            async with self._lock:
                await asyncio.wait_for(stack.enter_async_context(client), p.connect_timeout_s)
            state.att_mtu = client.mtu_size
            if state.att_mtu < p.att_mtu:
                _LOG.info("board %d: ATT MTU %d", board.board_id, state.att_mtu)
            if board.bonded:
                try:
                    await asyncio.wait_for(client.pair(), p.connect_timeout_s)
                except (BleakError, TimeoutError) as err:
                    state.rejected += 1
                    raise BleLinkError(
                        f"{board.address} did not encrypt the link with the rig's bond: {err}"
                    ) from err
            session = await stack.enter_async_context(
                BoardSession(client, p.command_timeout_s, self._status_listener(state))
            )
            # A fresh status (GET_STATUS), never the characteristic's value: that may be the
            # one cached before the link dropped, which would make a plain reconnection look
            # like a reboot (the sequence behind what was received).
            status = await session.request_status()
            if status.board_id != board.board_id:
                state.rejected += 1
                raise BleLinkError(
                    f"{board.address} reports board {status.board_id:#06x}, the rig expects "
                    f"{board.board_id:#06x}: rejected"
                )
            await self._note_status(state, status, connect=True)
            battery = await session.battery_pct()
            if battery is not None:
                state.monitor.battery_pct = battery
            await client.start_notify(session.data_char, self._data_listener(board.board_id))
            ack = await session.command(wire.OP_START_STREAM)
            if ack is None:
                raise BleLinkError(f"{board.address}: no answer to START_STREAM")
            if ack.result == wire.RESULT_NOT_PERMITTED:
                state.rejected += 1
                raise BleLinkError(
                    f"{board.address} refuses control commands on this link (bonded to "
                    "another host, or not paired while its pairing window is closed)"
                )
            if not ack.ok:
                raise BleLinkError(f"{board.address}: START_STREAM failed ({ack.result})")
            if state.sessions > 0:
                state.monitor.reconnects += 1
            state.sessions += 1
            state.monitor.connected = True
            try:
                await self._stream(state, session, dropped)
            finally:
                state.monitor.connected = False
                state.synced = False
            if dropped.is_set():
                state.last_error = "link dropped"
                _LOG.info("board %d: link dropped, reconnecting", board.board_id)
            elif client.is_connected and not state.finished:
                with contextlib.suppress(BleakError):
                    await session.command(wire.OP_STOP_STREAM)
        return True

    async def _note_status(self, state: _LinkState, status: wire.Status, connect: bool) -> bool:
        """Queue ``status`` for the board's monitor and wait until the iterator applied it
        (in stream order: after every frame received before it); True if it showed a
        reboot. Without a consumer the wait ends after ``command_timeout_s``."""
        applied: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        state.status_ns = time.monotonic_ns()
        note = _StatusNote(state.board.board_id, status, state.status_ns, connect, applied)
        self._queue.put_nowait(note)
        try:
            rebooted = await asyncio.wait_for(applied, self.params.command_timeout_s)
        except TimeoutError:
            _LOG.debug("board %d: status not applied yet (no consumer?)", state.board.board_id)
            rebooted = False
        state.synced = True
        return rebooted

    async def _stream(
        self, state: _LinkState, session: BoardSession, dropped: asyncio.Event
    ) -> None:
        p = self.params
        status_ns = round(p.status_interval_s * 1e9)
        while not dropped.is_set() and not self._closing.is_set():
            if self._stopping.is_set():
                await self._drain(state, session, dropped)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dropped.wait(), p.poll_interval_s)
            if time.monotonic_ns() - state.status_ns >= status_ns and not dropped.is_set():
                # No status notification for a while: read the value. It may lag behind
                # (a cache), which is harmless here: a status only ever announces samples.
                state.status_ns = time.monotonic_ns()
                try:
                    status = await session.read_status()
                except (BleakError, BleLinkError) as err:
                    _LOG.debug("board %d: status read failed: %s", state.board.board_id, err)
                else:
                    if status.board_id == state.board.board_id:
                        self._queue.put_nowait(
                            _StatusNote(state.board.board_id, status, state.status_ns, False)
                        )
            await self._backfill(state, session, dropped)

    async def _backfill(
        self, state: _LinkState, session: BoardSession, dropped: asyncio.Event
    ) -> None:
        """Send the BACKFILL commands the monitor finds due and hand it the answers."""
        monitor = state.monitor
        for from_seq, count in monitor.backfill_requests(time.monotonic_ns()):
            if dropped.is_set() or self._closing.is_set():
                break
            try:
                ack = await session.command(wire.OP_BACKFILL, from_seq, count)
            except BleakError:
                ack = None
            monitor.on_backfill_ack(from_seq, count, ack, time.monotonic_ns())
            if ack is not None and not ack.ok:
                _LOG.info(
                    "board %d: backfill of %d samples from %d: %s",
                    state.board.board_id,
                    count,
                    from_seq,
                    ack.result_name,
                )

    async def _drain(
        self, state: _LinkState, session: BoardSession, dropped: asyncio.Event
    ) -> None:
        """After a stop request: no more live frames, then collect every sample the board
        took up to now (its status says which) until none is missing or time is up."""
        p = self.params
        try:
            await session.command(wire.OP_STOP_STREAM)
            status = await session.request_status()
        except (BleakError, BleLinkError) as err:
            _LOG.info("board %d: final status failed: %s", state.board.board_id, err)
            return
        await self._note_status(state, status, connect=False)
        monitor = state.monitor
        while not dropped.is_set() and not self._closing.is_set():
            if not monitor.tracker.gaps() or time.monotonic_ns() >= self._stop_deadline_ns:
                break
            await self._backfill(state, session, dropped)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dropped.wait(), p.poll_interval_s)
        if dropped.is_set():
            return
        state.finished = True
        missing = monitor.tracker.missing()
        if missing:
            _LOG.warning(
                "board %d: stopped with %d samples still missing", state.board.board_id, missing
            )

    def _data_listener(self, board_id: int) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        queue = self._queue

        def on_data(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            queue.put_nowait((time.monotonic_ns(), board_id, bytes(data)))

        return on_data

    def _status_listener(self, state: _LinkState) -> Callable[[wire.Status], None]:
        queue = self._queue

        def on_status(status: wire.Status) -> None:
            if status.board_id != state.board.board_id:
                state.status_errors += 1
            elif state.synced:  # the board's periodic status: its newest sample
                state.status_ns = time.monotonic_ns()
                queue.put_nowait(_StatusNote(state.board.board_id, status, state.status_ns, False))

        return on_status
