"""Host side of one board link: BLE packets in, decoded frames with receive times out."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from coxa import wire
from coxa.sources._frames import ReceivedFrame

_LOG = logging.getLogger(__name__)


class LinkDecoder:
    """Reassemble and decode the data-characteristic packets of one board connection.

    Malformed frames are counted and logged, never raised: one bad notification must not stop
    a recording (the raw capture keeps the bytes for later inspection).

    Parameters
    ----------
    board_id : int
        The board this link belongs to; frames claiming another id are counted as errors.

    Attributes
    ----------
    frames : int
        Data frames decoded.
    protocol_errors : int
        Frames that failed to decode or belonged to another board.
    last_error : str
        Message of the most recent error ('' if none).
    """

    def __init__(self, board_id: int) -> None:
        self.board_id = board_id
        self.frames = 0
        self.protocol_errors = 0
        self.last_error = ""
        self._reassembler = wire.Reassembler()

    @property
    def lost_packets(self) -> int:
        """Packets the counter says were lost on the link."""
        return self._reassembler.lost_packets

    def push(self, t_rx_us: int, packet: bytes) -> ReceivedFrame | None:
        """Feed one notification; return a data frame when one completes."""
        try:
            frame_bytes = self._reassembler.push(packet)
            if frame_bytes is None:
                return None
            frame = wire.decode_frame(frame_bytes)
        except wire.ProtocolError as err:
            self._error(str(err))
            return None
        if not isinstance(frame, wire.DataFrame):
            self._error(f"unexpected {type(frame).__name__} on the data characteristic")
            return None
        if frame.board_id != self.board_id:
            self._error(f"frame from board {frame.board_id} on the link of {self.board_id}")
            return None
        self.frames += 1
        return ReceivedFrame(t_rx_us=t_rx_us, frame=frame)

    def _error(self, message: str) -> None:
        self.protocol_errors += 1
        self.last_error = message
        _LOG.warning("board %d: %s", self.board_id, message)


class ReceivedPacket(Protocol):
    """A BLE notification as the host received it (e.g. :class:`coxa.sim.RigPacket`)."""

    @property
    def t_rx_us(self) -> int: ...

    @property
    def board_id(self) -> int: ...

    @property
    def packet(self) -> bytes: ...


def decode_packets(packets: Iterable[ReceivedPacket]) -> list[ReceivedFrame]:
    """Decode notifications of any boards, in arrival order, with one :class:`LinkDecoder`
    per board: the data frames with their receive times (malformed ones counted and logged by
    the decoders)."""
    links: dict[int, LinkDecoder] = {}
    frames: list[ReceivedFrame] = []
    for packet in packets:
        link = links.get(packet.board_id)
        if link is None:
            link = links[packet.board_id] = LinkDecoder(packet.board_id)
        frame = link.push(packet.t_rx_us, packet.packet)
        if frame is not None:
            frames.append(frame)
    return frames
