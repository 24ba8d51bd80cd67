"""Replay of a raw capture as a :class:`~coxa.sources.Source`.

The records come back exactly as they were captured and are decoded exactly as the live
sources decode them (one :class:`~coxa.sources.LinkDecoder` per BLE link, one
:class:`SerialLinkDecoder` per serial link, in capture order), so the frames, and everything
the pipeline makes of them, are those of the live session, bit for bit.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from coxa.capture import (
    CaptureError,
    CaptureIterator,
    CaptureRecord,
    CaptureReport,
    LinkKind,
    iter_capture,
)
from coxa.sources._frames import ReceivedFrame
from coxa.sources._link import LinkDecoder
from coxa.sources._monitor import BoardMonitor
from coxa.sources._rigs import UNASSIGNED_SEGMENT
from coxa.sources._serial_decode import SerialLinkDecoder
from coxa.sources._source import Arrival, BoardHealth

_YIELD_EVERY = 256
"""Records between two returns to the event loop when replaying as fast as possible."""


def capture_rig(metadata: Mapping[str, Any], path: str | os.PathLike[str]) -> dict[int, str]:
    """Board id -> segment of a capture: its ``rig`` metadata plus its ``extra_boards``.

    Raises
    ------
    coxa.capture.CaptureError
        If the ``rig`` metadata is missing or not a map of decimal board ids to names.
    """
    rig: object = metadata.get("rig")
    if not isinstance(rig, dict):
        raise CaptureError(f"{path}: no 'rig' metadata (board id -> segment) in the capture")
    out: dict[int, str] = {}
    for key, value in cast("dict[object, object]", rig).items():
        if not (isinstance(key, str) and key.isdigit() and isinstance(value, str)):
            raise CaptureError(f"{path}: the 'rig' metadata maps {key!r} to {value!r}")
        out[int(key)] = value
    extra: object = metadata.get("extra_boards", [])
    if isinstance(extra, list):
        for board in cast("list[object]", extra):
            if isinstance(board, int) and board not in out:
                out[board] = UNASSIGNED_SEGMENT
    return out


class ReplaySource:
    """The records of a capture file, as a source.

    Parameters
    ----------
    path : str or os.PathLike
        The capture.
    speed : float or None
        None: as fast as possible. A factor: paced to the records' receive times (1.0 = real
        time).
    segments : mapping of int to str, optional
        Board -> segment; default the capture's ``rig`` metadata.

    Attributes
    ----------
    metadata : dict
        The capture's header metadata (after entering).
    report : coxa.capture.CaptureReport or None
        What the reader found (damage, torn tail), once the iteration ended.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        speed: float | None = None,
        segments: Mapping[int, str] | None = None,
    ) -> None:
        if speed is not None and not speed > 0.0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.path = Path(path)
        self.speed = speed
        self._given = dict(segments) if segments is not None else None
        self._segments: dict[int, str] = {}
        self._stream: CaptureIterator | None = None
        self.metadata: dict[str, Any] = {}
        self.report: CaptureReport | None = None
        self._ble: dict[int, LinkDecoder] = {}
        self._serial: dict[int, SerialLinkDecoder] = {}
        self._monitors: dict[int, BoardMonitor] = {}

    @property
    def segments_by_board(self) -> Mapping[int, str]:
        """Segment of every board of the captured rig."""
        return dict(self._segments)

    def health(self) -> Mapping[int, BoardHealth]:
        """Per board, as seen in the capture so far (connected while it is being replayed)."""
        out: dict[int, BoardHealth] = {}
        for board_id, monitor in self._monitors.items():
            errors = 0
            if board_id in self._ble:
                errors += self._ble[board_id].protocol_errors
            if board_id in self._serial:
                errors += self._serial[board_id].protocol_errors
            monitor.protocol_errors = errors
            out[board_id] = monitor.health()
        return out

    async def __aenter__(self) -> Self:
        stream = iter_capture(self.path)
        self._stream = stream
        self.metadata = dict(stream.metadata)
        if self._given is not None:
            self._segments = self._given
        else:
            try:
                self._segments = capture_rig(self.metadata, self.path)
            except CaptureError:
                stream.close()
                raise
        for board_id in self._segments:
            self._monitors[board_id] = BoardMonitor(board_id)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self.report = self._stream.report
            self._stream.close()

    def __aiter__(self) -> AsyncIterator[Arrival]:
        if self._stream is None:
            raise RuntimeError("enter the source (async with) before iterating it")
        return self._run(self._stream)

    def _decode(self, t_rx_us: int, link_id: int, kind: int, payload: bytes) -> list[ReceivedFrame]:
        if kind == LinkKind.BLE:
            link = self._ble.get(link_id)
            if link is None:
                link = self._ble[link_id] = LinkDecoder(link_id)
            frame = link.push(t_rx_us, payload)
            return [] if frame is None else [frame]
        if kind == LinkKind.SERIAL:
            serial = self._serial.get(link_id)
            if serial is None:
                serial = self._serial[link_id] = SerialLinkDecoder(link_id)
            return serial.feed(t_rx_us, payload)[0]
        return []

    async def _run(self, stream: CaptureIterator) -> AsyncIterator[Arrival]:
        records: Iterator[CaptureRecord] = iter(stream)
        started = time.monotonic()
        t_first: int | None = None
        count = 0
        for record in records:
            t_rx_us = record.t_rx_ns // 1000
            frames = self._decode(t_rx_us, record.link_id, record.kind, record.payload)
            monitor = self._monitors.get(record.link_id)
            if monitor is not None:
                monitor.connected = True
                for frame in frames:
                    monitor.on_frame(frame)
            if self.speed is not None:
                if t_first is None:
                    t_first = record.t_rx_ns
                due = (record.t_rx_ns - t_first) / 1e9 / self.speed
                wait = due - (time.monotonic() - started)
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                count += 1
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            yield Arrival(record=record, frames=tuple(frames))
        self.report = stream.report
        for monitor in self._monitors.values():
            monitor.connected = False
