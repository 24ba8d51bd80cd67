"""Plain async BLE helpers for the rig manager: scan for boards, blink one, pair one."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from coxa import wire
from coxa.sources._ble_link import BleLinkError, BoardSession
from coxa.sources._ble_params import PLATFORM_BACKEND, BleBackend, BleParams

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class FoundBoard:
    """A coxa board seen while scanning.

    Attributes
    ----------
    address : str
        Bluetooth address as bleak reports it.
    board_id : int
        u16 board id from the advertised name.
    segment_hint : str
        Wire segment the board says it is set up for (``'thigh_r'``...), from its name.
    rssi_dbm : float
        Strongest signal seen, dBm (NaN when the stack gives none).
    name : str
        Advertised name, e.g. ``'cxTR1A2B'``.
    fw_version : tuple of int, or None
        Firmware version from the scan response, when the stack delivered one.
    """

    address: str
    board_id: int
    segment_hint: str
    rssi_dbm: float
    name: str
    fw_version: tuple[int, int, int] | None = None


def found_board(device: BLEDevice, adv: AdvertisementData) -> FoundBoard | None:
    """A :class:`FoundBoard` from one advertisement, or None if it is not a coxa board."""
    if wire.SERVICE_UUID not in [u.lower() for u in adv.service_uuids]:
        return None
    try:
        board_id, segment = wire.parse_board_name(adv.local_name)
    except wire.ProtocolError:
        return None
    fw: tuple[int, int, int] | None = None
    payload = adv.manufacturer_data.get(wire.MANUFACTURER_COMPANY_ID)
    if payload is not None:
        try:
            scan = wire.parse_manufacturer_data(payload)
            fw = (scan.fw_major, scan.fw_minor, scan.fw_patch)
        except wire.ProtocolError:
            fw = None
    return FoundBoard(
        address=device.address,
        board_id=board_id,
        segment_hint=wire.segment_name(segment),
        rssi_dbm=float(adv.rssi),
        name=str(adv.local_name),
        fw_version=fw,
    )


async def scan_boards(timeout_s: float, backend: BleBackend | None = None) -> list[FoundBoard]:
    """Scan for coxa boards for ``timeout_s`` seconds.

    Boards are recognised by their advertising payload (the coxa service UUID and a
    ``cx<segment><id>`` name, ``docs/protocol.md``); anything else is left out.

    Returns
    -------
    list of FoundBoard
        One per address, strongest signal first.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    found: dict[str, FoundBoard] = {}

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        board = found_board(device, adv)
        if board is None:
            return
        old = found.get(board.address)
        if old is None or board.rssi_dbm > old.rssi_dbm or math.isnan(old.rssi_dbm):
            found[board.address] = board

    scanner = (backend or PLATFORM_BACKEND).make_scanner(on_advertisement, [wire.SERVICE_UUID])
    async with scanner:
        await asyncio.sleep(timeout_s)
    return sorted(found.values(), key=lambda b: -b.rssi_dbm if not math.isnan(b.rssi_dbm) else 0)


async def _command_once(
    address: str,
    opcode: int,
    args: tuple[int, ...],
    backend: BleBackend | None,
    params: BleParams,
    pair: bool,
) -> wire.Ack:
    client = (backend or PLATFORM_BACKEND).make_client(address, params.connect_timeout_s)
    async with client:
        if pair:
            await asyncio.wait_for(client.pair(), params.connect_timeout_s)
        async with BoardSession(client, params.command_timeout_s) as session:
            ack = await session.command(opcode, *args)
    if ack is None:
        raise BleLinkError(f"{address}: no answer to opcode {opcode}")
    return ack


async def identify_board(
    address: str,
    duration_s: int = 5,
    backend: BleBackend | None = None,
    params: BleParams | None = None,
    bonded: bool = False,
) -> bool:
    """Make a board blink (IDENTIFY) for ``duration_s`` seconds (0 stops it).

    IDENTIFY is allowed on an unbonded link, so a board can be picked out before pairing.

    Returns
    -------
    bool
        True if the board acknowledged.

    Raises
    ------
    BleLinkError, bleak.exc.BleakError
        The board could not be reached.
    """
    if not 0 <= duration_s <= 255:
        raise ValueError(f"duration_s must be within 0..255, got {duration_s}")
    p = params or BleParams()
    ack = await _command_once(address, wire.OP_IDENTIFY, (duration_s,), backend, p, bonded)
    return ack.ok


async def pair_board(
    address: str, backend: BleBackend | None = None, params: BleParams | None = None
) -> wire.Status:
    """Pair with a board (LE Secure Connections) and bond, while its pairing window is open.

    The central's side of pairing can end before the board has stored the bond (the board
    completes when the central's last keys arrive, and acts on the new bond in its main
    loop): the board is asked for its status (GET_STATUS, never the cached read value) until
    it reports the bond, at most ``connect_timeout_s``.

    Returns
    -------
    coxa.wire.Status
        The board's status after pairing: ``STATE_BONDED`` set, ``STATE_PAIRING_MODE``
        clear (a new bond closes the board's pairing window).

    Raises
    ------
    BleLinkError
        The board refused (pairing window closed), or does not report the bond.
    """
    p = params or BleParams()
    client = (backend or PLATFORM_BACKEND).make_client(address, p.connect_timeout_s)
    async with client:
        try:
            await asyncio.wait_for(client.pair(), p.connect_timeout_s)
        except (BleakError, TimeoutError) as err:
            raise BleLinkError(
                f"{address} refused pairing (press its button to open the pairing window): {err}"
            ) from err
        async with BoardSession(client, p.command_timeout_s) as session:
            status = await _bond_reported(session, p)
    if not _bond_stored(status):
        raise BleLinkError(
            f"{address} paired but does not report the bond (state bits {status.state:#04x} "
            f"after {p.connect_timeout_s:g} s)"
        )
    _LOG.info("paired with board %#06x at %s", status.board_id, address)
    return status


def _bond_stored(status: wire.Status) -> bool:
    """True if a status says a (new) bond is stored: bonded, pairing window closed."""
    return bool(status.state & wire.STATE_BONDED) and not status.state & wire.STATE_PAIRING_MODE


async def _bond_reported(session: BoardSession, params: BleParams) -> wire.Status:
    """The board's fresh status, asked for every ``poll_interval_s`` until it reports the
    bond or ``connect_timeout_s`` passed (then the last one)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + params.connect_timeout_s
    while True:
        status = await session.request_status()
        if _bond_stored(status) or loop.time() >= deadline:
            return status
        await asyncio.sleep(params.poll_interval_s)
