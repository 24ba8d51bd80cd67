"""A virtual BLE radio: bumble controllers on one in-process link, a host central, boards.

Every device (the host's central and each virtual board) is a bumble ``Device`` with its own
virtual ``Controller`` on one ``LocalLink``: advertising, scanning, connections, ATT MTU
exchange, LE Secure Connections pairing with bonding, GATT reads, writes and notifications go
through the real bumble host and controller code. What the virtual controller does not model:
radio timing, PHY and data-length updates, scan responses (``docs/ble.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self

from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from coxa import wire
from coxa.sources._ble_params import BleBackend
from coxa.sources.virtual._bleak import VirtualBleakClient, VirtualBleakScanner
from coxa.sources.virtual._board import (
    BoardFaults,
    VirtualBoard,
    VirtualBoardParams,
    board_address,
)
from coxa.sources.virtual._samples import BoardSamples

_LOG = logging.getLogger(__name__)

CENTRAL_ADDRESS = "C6:0A:FF:FF:00:01"
"""Random static address of the host's central on a virtual radio."""


def _device(controller: Controller, address: str, name: str) -> Device:
    return Device(
        name=name,
        address=Address(address, Address.RANDOM_DEVICE_ADDRESS),
        host=Host(controller, AsyncPipeSink(controller)),
    )


class VirtualRadio:
    """An in-process BLE radio with a host central and virtual boards.

    Use as ``async with VirtualRadio() as radio:`` after adding boards, and pass
    ``radio.backend`` wherever host code takes a bleak backend.

    Parameters
    ----------
    att_mtu : int
        ATT MTU the host central asks for in its exchange (23-517; the boards accept up to
        their own 247). Default 247 [src: protocol v1 recommended MTU].
    board_params : VirtualBoardParams
        Defaults of boards added without their own parameters.

    Attributes
    ----------
    boards : dict of str to VirtualBoard
        Boards by address.
    """

    def __init__(
        self,
        att_mtu: int = wire.RECOMMENDED_ATT_MTU,
        board_params: VirtualBoardParams | None = None,
    ) -> None:
        if not wire.MIN_ATT_MTU <= att_mtu <= wire.MAX_ATT_MTU:
            raise ValueError(f"att_mtu must be within 23..517, got {att_mtu}")
        self.att_mtu = att_mtu
        self.board_params = board_params or VirtualBoardParams()
        self.link = LocalLink()
        self.boards: dict[str, VirtualBoard] = {}
        self._central_controller = Controller("coxa-host", link=self.link)
        self._central = _device(self._central_controller, CENTRAL_ADDRESS, "coxa-host")
        self._central.keystore = MemoryKeyStore()
        # The host's own GATT server accepts no larger MTU either: a board that asks for more
        # (the firmware asks for 247 on every connection) gets att_mtu.
        self._central.gatt_server.max_mtu = att_mtu
        self._central.pairing_config_factory = self._pairing_config
        self._started = False
        self._connect_lock = asyncio.Lock()
        self._connecting: Address | None = None
        self._attempt_connection: Connection | None = None
        self._drops: set[asyncio.Task[None]] = set()
        self._scan_listeners: list[Callable[[Advertisement], None]] = []
        self._central.on(self._central.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._central.on(self._central.EVENT_CONNECTION, self._on_connection)
        scanner = type("VirtualBleakScanner", (VirtualBleakScanner,), {"radio": self})
        client = type("VirtualBleakClient", (VirtualBleakClient,), {"radio": self})
        self.backend = BleBackend(scanner=scanner, client=client)
        """The bleak backend classes bound to this radio."""

    @staticmethod
    def _pairing_config(_connection: Connection) -> PairingConfig:
        return PairingConfig(
            sc=True,
            mitm=False,
            bonding=True,
            delegate=PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
            identity_address_type=PairingConfig.AddressType.RANDOM,
        )

    def add_board(
        self,
        samples: BoardSamples,
        faults: BoardFaults | None = None,
        params: VirtualBoardParams | None = None,
        address: str | None = None,
    ) -> VirtualBoard:
        """Put a board on the radio; it powers on with :meth:`start` (or its own ``start``).

        Parameters
        ----------
        samples : BoardSamples
            What the board samples.
        faults : BoardFaults, optional
            Faults it injects (none by default).
        params : VirtualBoardParams, optional
            Its behaviour (the radio's ``board_params`` by default).
        address : str, optional
            Its random static address (derived from the board id by default).
        """
        address = address or board_address(samples.board_id)
        if address in self.boards or address == CENTRAL_ADDRESS:
            raise ValueError(f"address {address} is taken on this radio")
        name = wire.board_name(samples.board_id, samples.placement)
        device = _device(Controller(name, link=self.link), address, name)
        board = VirtualBoard(
            device, samples, params or self.board_params, faults or BoardFaults(), address
        )
        self.boards[address] = board
        return board

    async def start(self) -> None:
        """Power on the central and every board; boards advertise and start sampling."""
        if self._started:
            return
        await self._central.power_on()
        for board in self.boards.values():
            await board.start()
        self._started = True

    async def stop(self) -> None:
        """Stop every board and disconnect the central's links."""
        for board in self.boards.values():
            await board.stop()
        for connection in list(self._central.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        self._started = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------
    # Used by the bleak backend classes
    # ------------------------------------------------------------------------------------

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._scan_listeners):
            listener(advertisement)

    async def scan_start(self, listener: Callable[[Advertisement], None]) -> None:
        """Deliver advertising reports to ``listener`` (the central scans while any listens)."""
        await self.start()
        self._scan_listeners.append(listener)
        if len(self._scan_listeners) == 1:
            await self._central.start_scanning(filter_duplicates=False)

    async def scan_stop(self, listener: Callable[[Advertisement], None]) -> None:
        """Stop delivering to ``listener``; the central stops scanning when none is left."""
        with contextlib.suppress(ValueError):
            self._scan_listeners.remove(listener)
        if not self._scan_listeners and self._central.is_scanning:
            await self._central.stop_scanning()

    async def connect(self, address: Address, timeout_s: float) -> Connection:
        """Connect the central to ``address`` (one connection attempt at a time, as a stack).

        Raises
        ------
        TimeoutError
            ``address`` did not accept a connection within ``timeout_s`` seconds (a board
            that is switched off, out of range or connected elsewhere).
        """
        await self.start()
        async with self._connect_lock:
            self._connecting = address
            self._attempt_connection = None
            # The timeout is ours, not bumble's: bumble's own timeout sends LE Create
            # Connection Cancel and then waits for the attempt's completion event, which the
            # virtual controller never sends (bumble 0.0.236), so it would wait forever.
            attempt = asyncio.ensure_future(self._central.connect(address, timeout=None))
            try:
                # (asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the
                # caller's cancellation when the attempt completes in the same turn.)
                async with asyncio.timeout(timeout_s):
                    return await asyncio.shield(attempt)
            except BaseException:
                # Timed out, failed, or the caller gave up (BleSource bounds the whole set-up
                # itself): stop the controller first, then the host's attempt.
                await self._abandon(attempt)
                raise
            finally:
                self._connecting = None
                self._attempt_connection = None

    async def _abandon(self, attempt: asyncio.Future[Connection]) -> None:
        """End a connection attempt that failed, timed out or was given up, as a real
        controller and stack would.

        bumble 0.0.236's virtual ``Controller`` keeps ``pending_le_connection`` when the attempt
        is cancelled (``on_hci_le_create_connection_cancel_command`` only answers success) or
        abandoned by its host: every later LE Create Connection is then refused with
        COMMAND_DISALLOWED, and the controller would still connect to the board whenever it
        advertises again. ``pending_le_connection`` is a plain attribute of the controller
        (what its create-connection handlers set and test), so resetting it is what the cancel
        command should do; real controllers and stacks do not need this. It is reset before
        the host's attempt ends: bumble's ``Device`` cannot take the completion event of an
        attempt it no longer runs (it needs the attempt's own address type). A connection
        the controller made before (its event already on the way) is dropped.
        """
        self._central_controller.pending_le_connection = None
        attempt.cancel()
        await asyncio.wait({attempt})
        if not attempt.cancelled() and attempt.exception() is None:
            self._attempt_connection = attempt.result()
        if self._attempt_connection is not None:
            self._drop(self._attempt_connection)

    def _on_connection(self, connection: Connection) -> None:
        if self._connecting is not None and connection.peer_address == self._connecting:
            self._attempt_connection = connection
            return
        # A connection nobody waits for: bumble's Device announced it only after its attempt
        # had been abandoned (_abandon). Drop it, or the board would stay connected to nobody
        # and stop advertising.
        self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        """Disconnect an abandoned connection (in the background)."""
        _LOG.debug("dropping an abandoned connection to %s", connection.peer_address)

        async def disconnect() -> None:
            with contextlib.suppress(Exception):
                await connection.disconnect()

        task = asyncio.get_running_loop().create_task(disconnect())
        self._drops.add(task)
        task.add_done_callback(self._drops.discard)

    async def has_bond(self, address: Address) -> bool:
        """True if the central holds a bond with ``address``."""
        keystore = self._central.keystore
        return keystore is not None and await keystore.get(str(address)) is not None

    async def forget_bond(self, address: str) -> None:
        """Delete the central's bond with the board at ``address`` (bleak's ``unpair``)."""
        key = str(Address(address, Address.RANDOM_DEVICE_ADDRESS))
        keystore = self._central.keystore
        if keystore is not None and await keystore.get(key) is not None:
            await keystore.delete(key)
