"""One connected board through bleak: status notifications, commands and their acks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from coxa import wire

_LOG = logging.getLogger(__name__)

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
"""Bluetooth SIG Battery Level characteristic (Battery Service 0x180F)."""


class BleLinkError(RuntimeError):
    """A board link could not be set up or used (the message says which board and why)."""


def _characteristic(client: BleakClient, uuid: str) -> BleakGATTCharacteristic:
    char = client.services.get_characteristic(uuid)
    if char is None:
        raise BleLinkError(f"{client.address}: no characteristic {uuid}: not a coxa board")
    return char


class BoardSession:
    """Commands and status of one connected board (protocol v1 control and status).

    The status characteristic's notification callback only timestamps and enqueues; a task
    of this session reassembles the packets, matches acks to waiting commands by token and
    keeps the newest status frame. :meth:`request_status` asks the board for a fresh status
    (GET_STATUS); :meth:`read_status` reads the characteristic's value, which a board (or a
    central stack) may serve from a cache.

    Parameters
    ----------
    client : bleak.BleakClient
        A connected client.
    command_timeout_s : float
        Wait for an ack, seconds.
    on_status : callable, optional
        Called with every status frame received.
    """

    def __init__(
        self,
        client: BleakClient,
        command_timeout_s: float,
        on_status: Callable[[wire.Status], None] | None = None,
    ) -> None:
        self.client = client
        self.command_timeout_s = command_timeout_s
        self.status: wire.Status | None = None
        self.protocol_errors = 0
        self._on_status = on_status
        self._control = _characteristic(client, wire.CONTROL_CHAR_UUID)
        self._status_char = _characteristic(client, wire.STATUS_CHAR_UUID)
        self.data_char = _characteristic(client, wire.DATA_CHAR_UUID)
        self._queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._reassembler = wire.Reassembler()
        self._waiting: dict[int, asyncio.Future[wire.Ack]] = {}
        self._status_after: dict[int, asyncio.Future[wire.Status]] = {}  # GET_STATUS tokens
        self._status_next: list[asyncio.Future[wire.Status]] = []  # acked, status due
        self._token = 0
        self._counter = 0
        self._task: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()

    async def __aenter__(self) -> BoardSession:
        self._task = asyncio.get_running_loop().create_task(self._consume())
        await self.client.start_notify(self._status_char, self._enqueue)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for future in [*self._waiting.values(), *self._status_after.values()]:
            future.cancel()
        for waiter in self._status_next:
            waiter.cancel()
        self._waiting.clear()
        self._status_after.clear()
        self._status_next.clear()

    def _enqueue(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._queue.put_nowait((time.monotonic_ns(), bytes(data)))

    async def _consume(self) -> None:
        while True:
            _, packet = await self._queue.get()
            try:
                frame_bytes = self._reassembler.push(packet)
                if frame_bytes is None:
                    continue
                frame = wire.decode_frame(frame_bytes)
            except wire.ProtocolError as err:
                self.protocol_errors += 1
                _LOG.warning("%s: bad status packet: %s", self.client.address, err)
                continue
            if isinstance(frame, wire.Ack):
                future = self._waiting.pop(frame.token, None)
                if future is not None and not future.done():
                    future.set_result(frame)
                waiter = self._status_after.pop(frame.token, None)
                if waiter is not None and frame.ok:
                    self._status_next.append(waiter)  # the status frame follows this ack
            elif isinstance(frame, wire.Status):
                self.status = frame
                waiters, self._status_next = self._status_next, []
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(frame)
                if self._on_status is not None:
                    self._on_status(frame)
            else:
                self.protocol_errors += 1
                _LOG.warning("%s: %s on the status characteristic", self.client.address, frame)

    async def command(self, opcode: int, *args: int) -> wire.Ack | None:
        """Send a command; return its ack, or None when none came within the timeout."""
        return await self._command(opcode, args, None)

    async def _command(
        self,
        opcode: int,
        args: tuple[int, ...],
        status_waiter: asyncio.Future[wire.Status] | None,
    ) -> wire.Ack | None:
        token = self._token
        self._token = (self._token + 1) & 0xFF
        frame = wire.encode_command(opcode, token, *args)
        future: asyncio.Future[wire.Ack] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        if status_waiter is not None:
            self._status_after[token] = status_waiter
        try:
            async with self._write_lock:
                packets, self._counter = wire.fragment(frame, self.client.mtu_size, self._counter)
                for packet in packets:
                    await self.client.write_gatt_char(self._control, packet, response=True)
            return await asyncio.wait_for(future, self.command_timeout_s)
        except TimeoutError:
            _LOG.info("%s: no ack for opcode %d", self.client.address, opcode)
            return None
        finally:
            self._waiting.pop(token, None)
            self._status_after.pop(token, None)

    async def request_status(self) -> wire.Status:
        """Ask the board for its status now (GET_STATUS) and return the status frame that
        follows the ack: the board's state at this moment, never a cached value.

        Raises
        ------
        BleLinkError
            No ack, a failed ack, or no status frame after the ack within the timeout.
        """
        waiter: asyncio.Future[wire.Status] = asyncio.get_running_loop().create_future()
        try:
            ack = await self._command(wire.OP_GET_STATUS, (), waiter)
            if ack is None:
                raise BleLinkError(f"{self.client.address}: no answer to GET_STATUS")
            if not ack.ok:
                raise BleLinkError(f"{self.client.address}: GET_STATUS failed ({ack.result_name})")
            try:
                status = await asyncio.wait_for(waiter, self.command_timeout_s)
            except TimeoutError as err:
                raise BleLinkError(
                    f"{self.client.address}: no status frame after the GET_STATUS ack"
                ) from err
        finally:
            if waiter in self._status_next:
                self._status_next.remove(waiter)
            waiter.cancel()
        self.status = status
        return status

    async def read_status(self) -> wire.Status:
        """Read the status characteristic (one complete packet carrying a status frame).

        The value is whatever the board last wrote there (the firmware refreshes it about
        once a second and on connection) and may come from a stack's cache: use
        :meth:`request_status` where the value must be current.
        """
        value = await self.client.read_gatt_char(self._status_char)
        try:
            frame = wire.Reassembler().push(bytes(value))
            if frame is None:
                raise wire.ProtocolError("status read value is not one complete packet")
            status = wire.decode_status(frame)
        except wire.ProtocolError as err:
            raise BleLinkError(f"{self.client.address}: unreadable status: {err}") from err
        self.status = status
        return status

    async def battery_pct(self) -> float | None:
        """The Battery Level characteristic, percent (None when the board has none)."""
        char = self.client.services.get_characteristic(BATTERY_LEVEL_UUID)
        if char is None:
            return None
        try:
            value = await self.client.read_gatt_char(char)
        except BleakError:
            return None
        return float(value[0]) if len(value) == 1 else None
