"""The CLI's calls into the BLE layer (:mod:`coxa.sources`) in a :class:`BleEnvironment`, each
failure turned into one clear error for the user."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Self

from bleak.exc import BleakError

from coxa.cli._common import EXIT_FAILED, CommandError, describe_segment
from coxa.cli._env import BleEnvironment
from coxa.sources import (
    Arrival,
    BleBoard,
    BleLinkError,
    BleLinkStats,
    BleSource,
    BoardHealth,
    FoundBoard,
    identify_board,
    pair_board,
    scan_boards,
)
from coxa.store import Bond, Rig

_POLL_S = 0.05
"""Period of the check that every board of a rig is streaming, at the start of a session, s."""

_BLE_ERRORS = (BleakError, BleLinkError, RuntimeError, OSError)
"""What the BLE layer raises when a board or the stack fails (``TimeoutError`` is an
``OSError``)."""


class BleUnavailableError(CommandError):
    """The BLE layer cannot be used here, or a BLE operation failed (the message says why);
    exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_FAILED)


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__


async def scan(ble: BleEnvironment, timeout_s: float) -> list[FoundBoard]:
    """Boards advertising protocol v1 nearby: strongest signal first, then by board id."""
    try:
        found = await scan_boards(timeout_s, ble.backend)
    except _BLE_ERRORS as err:
        raise BleUnavailableError(
            f"BLE scan failed: {_reason(err)} (is there a Bluetooth adapter, switched on? On "
            "Linux the BlueZ service must be running)"
        ) from err

    def order(board: FoundBoard) -> tuple[float, int]:
        rssi = -board.rssi_dbm if not math.isnan(board.rssi_dbm) else math.inf
        return rssi, board.board_id

    return sorted(found, key=order)


async def identify(ble: BleEnvironment, address: str, duration_s: int) -> bool:
    """Make a board blink (IDENTIFY) so the user can tell which one it is; True if it did."""
    try:
        return await identify_board(address, duration_s, ble.backend, ble.params)
    except _BLE_ERRORS as err:
        raise BleUnavailableError(f"{address}: IDENTIFY failed: {_reason(err)}") from err


async def pair(ble: BleEnvironment, board: FoundBoard) -> Bond:
    """Pair and bond with a board (LE Secure Connections); return the bond to store (the
    keys stay with the operating system's BLE stack)."""
    address = board.address
    try:
        status = await pair_board(address, ble.backend, ble.params)
    except _BLE_ERRORS as err:
        raise BleUnavailableError(f"{address}: pairing failed: {_reason(err)}") from err
    if status.board_id != board.board_id:
        raise BleUnavailableError(
            f"{address}: paired, but the board reports id {status.board_id}, not the "
            f"{board.board_id} it advertised"
        )
    return Bond(board_id=status.board_id, address=address, bonded_ns=time.time_ns())


def source(rig: Rig, bonds: Sequence[Bond], ble: BleEnvironment) -> RigBleSource:
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
    inner = BleSource(boards, params=ble.params, backend=ble.backend)
    return RigBleSource(inner, boards, ble.connect_wait_s)


class RigBleSource:
    """A rig's :class:`coxa.sources.BleSource` for a session (a :class:`coxa.sources.Source`).

    Entering it waits until every board of the rig streams; a board that does not within
    ``connect_wait_s`` (switched off, out of range, another board at its address, a bond the
    board no longer accepts) ends the start with a :class:`BleUnavailableError` naming each
    such board and its last error, before anything is recorded. Everything else is the
    inner source's.

    Parameters
    ----------
    source : coxa.sources.BleSource
        The rig's links (not yet entered).
    boards : sequence of coxa.sources.BleBoard
        The rig's boards, as given to ``source``.
    connect_wait_s : float
        Longest wait for every board to stream, s.
    """

    def __init__(
        self, source: BleSource, boards: Sequence[BleBoard], connect_wait_s: float
    ) -> None:
        self._source = source
        self._boards = {b.board_id: b for b in boards}
        self._connect_wait_s = connect_wait_s

    @property
    def segments_by_board(self) -> Mapping[int, str]:
        """The body segment of every board of the rig."""
        return self._source.segments_by_board

    def health(self) -> Mapping[int, BoardHealth]:
        """The current state of every board's link."""
        return self._source.health()

    def stats(self) -> Mapping[int, BleLinkStats]:
        """Link details of every board (rejections, failed attempts, last error)."""
        return self._source.stats()

    def request_stop(self) -> None:
        """End the session (the boards' last samples are fetched first)."""
        self._source.request_stop()

    async def __aenter__(self) -> Self:
        await self._source.__aenter__()
        try:
            await self._wait_streaming()
        except BaseException:
            await self._source.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._source.__aexit__(exc_type, exc, traceback)

    def __aiter__(self) -> AsyncIterator[Arrival]:
        return self._source.__aiter__()

    async def _wait_streaming(self) -> None:
        deadline = time.monotonic() + self._connect_wait_s
        reached: set[int] = set()
        while True:
            reached |= {b for b, h in self._source.health().items() if h.connected}
            if len(reached) == len(self._boards):
                return
            if time.monotonic() >= deadline:
                raise BleUnavailableError(self._unreachable(reached))
            await asyncio.sleep(_POLL_S)

    def _unreachable(self, reached: set[int]) -> str:
        stats = self._source.stats()
        lines = [
            f"{len(self._boards) - len(reached)} of the rig's {len(self._boards)} boards did "
            f"not start streaming within {self._connect_wait_s:g} s:"
        ]
        for board_id, board in self._boards.items():
            if board_id in reached:
                continue
            s = stats.get(board_id)
            where = f"  board {board_id} ({describe_segment(board.segment)}) at {board.address}"
            if s is not None and s.rejected:
                lines.append(
                    f"{where}: refused {s.rejected} times: {s.last_error} (another board at "
                    "this address, or a bond the board no longer has: create the rig again)"
                )
            elif s is not None and s.failed_attempts:
                lines.append(
                    f"{where}: not reachable, {s.failed_attempts} failed attempts, last error: "
                    f"{s.last_error} (is it switched on, charged and in range? 'coxa scan' "
                    "lists the boards advertising)"
                )
            else:
                lines.append(
                    f"{where}: not connected yet (no attempt of its own failed: the radio was "
                    "busy with the other boards' attempts)"
                )
        return "\n".join(lines)
