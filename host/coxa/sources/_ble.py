"""The BLE source: every board of a rig over bleak, with reconnection and backfill.

Each board of the rig gets one task of its own that connects (one lock around connect for the
whole source, since a central stack makes one connection attempt at a time), verifies the
board (its id; the bond when the rig paired with it), subscribes, starts the stream and then
asks for backfill of every sequence gap until the link drops, after which it reconnects with
exponential back-off. Notification callbacks only timestamp (``time.monotonic_ns``) and
enqueue; decoding happens in the iterator. How it works and why: ``docs/ble.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
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
from coxa.sources._ble_track import SeqTracker
from coxa.sources._link import LinkDecoder
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
        Samples from before the tracked range of the current boot (ignored by the tracker).
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


class _LinkState:
    """Mutable per-board link state (owned by the board's task)."""

    def __init__(self, board: BleBoard, params: BleParams) -> None:
        self.board = board
        self.decoder = LinkDecoder(board.board_id)
        self.tracker = SeqTracker(params)
        self.connected = False
        self.sessions = 0
        self.reconnects = 0
        self.rejected = 0
        self.failed_attempts = 0
        self.att_mtu = wire.MIN_ATT_MTU
        self.last_error = ""
        self.battery_pct = math.nan
        self.status_errors = 0


class BleSource:
    """Frames from the boards of a rig over BLE (implements :class:`coxa.sources.Source`).

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
    handled by the source and not delivered.
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
        self._queue: asyncio.Queue[tuple[int, int, bytes] | None] = asyncio.Queue()
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------------------------
    # Source interface
    # ------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._closing.clear()
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
        tasks, self._tasks = self._tasks, []
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.params.command_timeout_s + 1.0)
            for task in pending:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Arrival]:
        return self._arrivals()

    async def _arrivals(self) -> AsyncIterator[Arrival]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            t_rx_ns, board_id, payload = item
            yield self._arrival(t_rx_ns, board_id, payload)

    def _arrival(self, t_rx_ns: int, board_id: int, payload: bytes) -> Arrival:
        state = self._links[board_id]
        frame = state.decoder.push(t_rx_ns // 1000, payload)
        frames = () if frame is None else (frame,)
        if frame is not None:
            state.tracker.add(frame.frame, t_rx_ns)
        record = CaptureRecord(t_rx_ns, board_id, LinkKind.BLE, payload)
        return Arrival(record=record, frames=frames)

    @property
    def segments_by_board(self) -> Mapping[int, str]:
        """The body segment of every board of the rig."""
        return dict(self._segments)

    def health(self) -> Mapping[int, BoardHealth]:
        """The current state of every board's link."""
        now_ns = time.monotonic_ns()
        out: dict[int, BoardHealth] = {}
        for board_id, state in self._links.items():
            tracker = state.tracker
            offset_us, drift_ppm = tracker.clock()
            out[board_id] = BoardHealth(
                board_id=board_id,
                connected=state.connected,
                samples_per_s=tracker.rate(now_ns),
                lost_samples=tracker.lost,
                backfill_pending=tracker.backfill_pending,
                clock_offset_us=offset_us,
                clock_drift_ppm=drift_ppm,
                rssi_dbm=math.nan,
                battery_pct=state.battery_pct,
                protocol_errors=state.decoder.protocol_errors + state.status_errors,
                reconnects=state.reconnects,
            )
        return out

    def stats(self) -> Mapping[int, BleLinkStats]:
        """Link details of every board (duplicates, reboots, rejections, MTU, last error)."""
        return {
            board_id: BleLinkStats(
                board_id=board_id,
                samples=state.tracker.samples,
                duplicates=state.tracker.duplicates,
                stale=state.tracker.stale,
                reboots=state.tracker.reboots,
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

    async def _run_board(self, state: _LinkState) -> None:
        p = self.params
        backoff_s = p.backoff_initial_s
        while not self._closing.is_set():
            streamed = False
            try:
                streamed = await self._connection(state)
            except (BleakError, BleLinkError, TimeoutError) as err:
                state.failed_attempts += 1
                state.last_error = str(err) or type(err).__name__
                _LOG.warning("board %d: %s", state.board.board_id, state.last_error)
            if self._closing.is_set():
                break
            if streamed:
                backoff_s = p.backoff_initial_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), backoff_s)
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
            status = await session.read_status()
            if status.board_id != board.board_id:
                state.rejected += 1
                raise BleLinkError(
                    f"{board.address} reports board {status.board_id:#06x}, the rig expects "
                    f"{board.board_id:#06x}: rejected"
                )
            self._check_reboot(state, status)
            battery = await session.battery_pct()
            if battery is not None:
                state.battery_pct = battery
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
                state.reconnects += 1
            state.sessions += 1
            state.connected = True
            try:
                await self._stream(state, session, dropped)
            finally:
                state.connected = False
            if dropped.is_set():
                state.last_error = "link dropped"
                _LOG.info("board %d: link dropped, reconnecting", board.board_id)
            elif client.is_connected:
                with contextlib.suppress(BleakError):
                    await session.command(wire.OP_STOP_STREAM)
        return True

    async def _stream(
        self, state: _LinkState, session: BoardSession, dropped: asyncio.Event
    ) -> None:
        p = self.params
        tracker = state.tracker
        status_ns = round(p.status_interval_s * 1e9)
        next_status_ns = time.monotonic_ns() + status_ns
        while not dropped.is_set() and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dropped.wait(), p.poll_interval_s)
            if time.monotonic_ns() >= next_status_ns and not dropped.is_set():
                next_status_ns = time.monotonic_ns() + status_ns
                try:
                    status = await session.read_status()
                except (BleakError, BleLinkError) as err:
                    _LOG.debug("board %d: status read failed: %s", state.board.board_id, err)
                else:
                    tracker.note_newest(status.newest_seq, time.monotonic_ns())
            for request in tracker.due_requests(time.monotonic_ns()):
                if dropped.is_set() or self._closing.is_set():
                    break
                try:
                    ack = await session.command(wire.OP_BACKFILL, request.from_seq, request.count)
                except BleakError:
                    ack = None
                tracker.on_backfill_ack(request, ack, time.monotonic_ns())
                if ack is not None and not ack.ok:
                    _LOG.info(
                        "board %d: backfill of %d samples from %d: result %d",
                        state.board.board_id,
                        request.count,
                        request.from_seq,
                        ack.result,
                    )

    def _check_reboot(self, state: _LinkState, status: wire.Status) -> None:
        tracker = state.tracker
        if not tracker.started:
            return
        last = tracker.last_rx_ns
        elapsed_s = 0.0 if last is None else (time.monotonic_ns() - last) * 1e-9
        if tracker.plausible_next(status.newest_seq, elapsed_s, status.rate_hz):
            return
        lost_before = tracker.lost
        first = wire.seq_add(status.newest_seq, 1 - status.fifo_fill) if status.fifo_fill else None
        tracker.start_boot(first, reboot=True)
        _LOG.warning(
            "board %d rebooted (sequence restarted at %d): %d samples of the previous boot "
            "written off; samples it took after the last one received cannot be counted",
            state.board.board_id,
            status.newest_seq,
            tracker.lost - lost_before,
        )

    def _data_listener(self, board_id: int) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        queue = self._queue

        def on_data(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            queue.put_nowait((time.monotonic_ns(), board_id, bytes(data)))

        return on_data

    @staticmethod
    def _status_listener(state: _LinkState) -> Callable[[wire.Status], None]:
        def on_status(status: wire.Status) -> None:
            if status.board_id != state.board.board_id:
                state.status_errors += 1

        return on_status
