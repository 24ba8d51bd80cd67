"""The one interface of every frame source: BLE, USB serial, replay of a capture, simulation.

A source is an async context manager (it opens and closes its links) and an async iterator of
:class:`Arrival`: one notification or serial chunk exactly as received (the record the raw
capture stores, written before any processing) together with the data frames it completed,
already decoded and stamped with the host receive time. Everything above the source layer
(recorder, fusion pipeline, readout) sees only this interface, so it runs unchanged on
hardware, on a replayed capture and on simulated boards.

Sources of live boards (BLE, serial, simulation) are also a :class:`StoppableSource`: they
stream until asked to stop, and a stop request collects what the boards still owe before the
iteration ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from coxa.capture import CaptureRecord
from coxa.sources._frames import ReceivedFrame


@dataclass(frozen=True)
class Arrival:
    """What a source delivers for one received notification or serial chunk.

    Attributes
    ----------
    record : coxa.capture.CaptureRecord
        The bytes as received, with the host receive time (ns), the link id (the board id for
        BLE) and the link kind: what the raw capture appends.
    frames : tuple of ReceivedFrame
        The data frames this record completed (none for a fragment, several for a serial
        chunk), decoded, in arrival order.
    """

    record: CaptureRecord
    frames: tuple[ReceivedFrame, ...]


@dataclass(frozen=True)
class BoardHealth:
    """The live state of one board's link, for the readout and the logs.

    Attributes
    ----------
    board_id : int
    connected : bool
    samples_per_s : float
        Samples received over the last few seconds, per second.
    lost_samples : int
        Samples known missing (sequence gaps) and not recovered by backfill.
    backfill_pending : int
        Samples asked for by backfill and not yet received.
    clock_offset_us : float
        Host time minus board time at the latest sample, microseconds (NaN before the clock
        mapping has enough samples).
    clock_drift_ppm : float
        Rate of the board clock against the host clock, parts per million (NaN as above).
    rssi_dbm : float
        Received signal strength, dBm (NaN when the link does not report it).
    battery_pct : float
        Battery charge, percent (NaN when unknown).
    protocol_errors : int
        Malformed or foreign frames counted and dropped on this link.
    reconnects : int
        Connections re-established after a drop.
    """

    board_id: int
    connected: bool
    samples_per_s: float
    lost_samples: int
    backfill_pending: int
    clock_offset_us: float
    clock_drift_ppm: float
    rssi_dbm: float
    battery_pct: float
    protocol_errors: int
    reconnects: int


class Source(Protocol):
    """An open set of board links delivering :class:`Arrival` items.

    Use as ``async with source: async for arrival in source: ...``. Iteration ends when the
    source is exhausted (a replay or a simulation of fixed length) or closed.
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[Arrival]: ...

    @property
    def segments_by_board(self) -> Mapping[int, str]:
        """The body segment of every board of the rig."""
        ...

    def health(self) -> Mapping[int, BoardHealth]:
        """The current state of every board's link."""
        ...


@runtime_checkable
class StoppableSource(Source, Protocol):
    """A :class:`Source` of live boards, which streams until it is asked to stop.

    ``BleSource``, ``SerialSource`` and ``SimSource`` implement it; a replay ends by itself.
    """

    def request_stop(self) -> None:
        """Ask for the end of the session and return at once.

        The source reads each board's newest sample (a status), asks for the samples still
        missing up to it (backfill, for at most the source's ``drain_s``), stops the boards'
        streams (at the latest when it is closed) and ends the iteration, after delivering
        every arrival already received. Calling it again does nothing.
        """
        ...
