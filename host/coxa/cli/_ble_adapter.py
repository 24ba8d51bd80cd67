"""The one place where the CLI reaches the BLE layer (``coxa.sources._ble*``).

Imports are lazy, so every command works (with ``--sim``, serial rigs and replays) on a machine
without a BLE stack, and a missing or failing BLE layer is a clear error, not a crash.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any

from coxa.sources import Source
from coxa.store import Bond, Rig


class BleUnavailableError(RuntimeError):
    """The BLE layer cannot be used here, or a BLE operation failed (the message says why)."""


@dataclass(frozen=True)
class FoundBoard:
    """A board seen in a scan.

    Attributes
    ----------
    board_id : int
    segment : str
        The placement the board advertises (wire segment name: ``thigh_r``, ...).
    address : str
        BLE address.
    rssi_dbm : float
        Signal strength, dBm (NaN when unknown).
    """

    board_id: int
    segment: str
    address: str
    rssi_dbm: float


def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"coxa.sources.{name}")
    except ImportError as err:
        raise BleUnavailableError(
            f"BLE is not available ({err}); use --sim, a serial rig, or install the BLE stack"
        ) from err


async def scan(timeout_s: float) -> list[FoundBoard]:
    """Boards advertising protocol v1 nearby."""
    try:
        found: list[Any] = await _module("_ble_tools").scan_boards(timeout_s)
    except (RuntimeError, OSError) as err:
        raise BleUnavailableError(f"BLE scan failed: {err}") from err
    return [
        FoundBoard(
            board_id=int(b.board_id),
            segment=str(b.segment_hint),
            address=str(b.address),
            rssi_dbm=float(b.rssi_dbm),
        )
        for b in found
    ]


async def identify(address: str, duration_s: int) -> bool:
    """Make a board blink (IDENTIFY) so the user can tell which one it is; True if it did."""
    try:
        return bool(await _module("_ble_tools").identify_board(address, duration_s))
    except (RuntimeError, OSError) as err:
        raise BleUnavailableError(f"{address}: IDENTIFY failed: {err}") from err


async def pair(address: str) -> Bond:
    """Pair and bond with a board (LE Secure Connections); return the bond to store (the
    keys stay with the operating system's BLE stack)."""
    try:
        status: Any = await _module("_ble_tools").pair_board(address)
    except (RuntimeError, OSError) as err:
        raise BleUnavailableError(f"{address}: pairing failed: {err}") from err
    return Bond(board_id=int(status.board_id), address=address, bonded_ns=time.time_ns())


def source(rig: Rig, bonds: list[Bond]) -> Source:
    """A source streaming the boards of a BLE rig (bonded boards must use their bond)."""
    ble, params = _module("_ble"), _module("_ble_params")
    bonded = {b.board_id for b in bonds}
    missing = [b.board_id for b in rig.boards if not b.address]
    if missing:
        raise BleUnavailableError(f"rig {rig.name!r}: boards without a BLE address: {missing}")
    boards = [
        params.BleBoard(b.address, b.board_id, b.segment, bonded=b.board_id in bonded)
        for b in rig.boards
    ]
    return ble.BleSource(boards)
