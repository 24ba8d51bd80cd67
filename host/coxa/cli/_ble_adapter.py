"""The CLI's calls into the BLE layer (:mod:`coxa.sources`), each failure turned into one
clear error for the user."""

from __future__ import annotations

import time

from coxa.sources import (
    BleBoard,
    BleSource,
    FoundBoard,
    Source,
    identify_board,
    pair_board,
    scan_boards,
)
from coxa.store import Bond, Rig


class BleUnavailableError(RuntimeError):
    """The BLE layer cannot be used here, or a BLE operation failed (the message says why)."""


async def scan(timeout_s: float) -> list[FoundBoard]:
    """Boards advertising protocol v1 nearby."""
    try:
        return await scan_boards(timeout_s)
    except (RuntimeError, OSError) as err:
        raise BleUnavailableError(f"BLE scan failed: {err}") from err


async def identify(address: str, duration_s: int) -> bool:
    """Make a board blink (IDENTIFY) so the user can tell which one it is; True if it did."""
    try:
        return await identify_board(address, duration_s)
    except (RuntimeError, OSError) as err:
        raise BleUnavailableError(f"{address}: IDENTIFY failed: {err}") from err


async def pair(address: str) -> Bond:
    """Pair and bond with a board (LE Secure Connections); return the bond to store (the
    keys stay with the operating system's BLE stack)."""
    try:
        status = await pair_board(address)
    except (RuntimeError, OSError) as err:
        raise BleUnavailableError(f"{address}: pairing failed: {err}") from err
    return Bond(board_id=status.board_id, address=address, bonded_ns=time.time_ns())


def source(rig: Rig, bonds: list[Bond]) -> Source:
    """A source streaming the boards of a BLE rig (bonded boards must use their bond)."""
    bonded = {b.board_id for b in bonds}
    boards = [
        BleBoard(b.address, b.board_id, b.segment, bonded=b.board_id in bonded)
        for b in rig.boards
        if b.address
    ]
    if len(boards) != len(rig.boards):
        missing = [b.board_id for b in rig.boards if not b.address]
        raise BleUnavailableError(f"rig {rig.name!r}: boards without a BLE address: {missing}")
    return BleSource(boards)
