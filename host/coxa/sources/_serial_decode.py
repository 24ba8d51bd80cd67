"""Decoding of one USB serial link: COBS packets in, data frames, acks and status frames out."""

from __future__ import annotations

import logging

from coxa import wire
from coxa.sources._frames import ReceivedFrame

_LOG = logging.getLogger(__name__)


class SerialLinkDecoder:
    """Split the byte stream of one board's serial port into frames and decode them.

    Feed it every chunk exactly as read from the port (any chunking). Bad packets (COBS or
    CRC errors, truncated or over-long packets, garbage between packets), frames of another
    protocol version, frames that do not decode and data frames of another board are counted
    and logged, never raised, and never cost a good frame after them (the deframer
    resynchronises at the next ``0x00``).

    Parameters
    ----------
    board_id : int or None
        The board on this port; None until known (then data frames are taken from any board,
        and :attr:`board_id` is set by the owner once a status frame names it).

    Attributes
    ----------
    frames : int
        Data frames decoded.
    bad_packets : int
        Packets the deframer skipped (COBS, CRC, length).
    unsupported_version : int
        Frames of another protocol version.
    bad_frames : int
        Frames with a good CRC that do not decode (or are commands, which a host never gets).
    foreign_frames : int
        Data frames of another board than :attr:`board_id`.
    last_error : str
        Message of the most recent error ('' if none).
    """

    def __init__(self, board_id: int | None = None) -> None:
        self.board_id = board_id
        self.frames = 0
        self.unsupported_version = 0
        self.bad_frames = 0
        self.foreign_frames = 0
        self.last_error = ""
        self._deframer = wire.SerialDeframer()
        self._reported_bad = 0

    @property
    def bad_packets(self) -> int:
        """Packets the deframer skipped."""
        return self._deframer.errors

    @property
    def protocol_errors(self) -> int:
        """Everything counted as bad on this link."""
        return self.bad_packets + self.unsupported_version + self.bad_frames + self.foreign_frames

    def reset(self) -> None:
        """Drop a partial packet (the port was reopened)."""
        self._deframer.reset()

    def feed(
        self, t_rx_us: int, chunk: bytes
    ) -> tuple[list[ReceivedFrame], list[wire.Ack | wire.Status]]:
        """Consume one chunk; return the data frames and the acks/status frames it completed."""
        frames: list[ReceivedFrame] = []
        control: list[wire.Ack | wire.Status] = []
        for item in self.feed_in_order(t_rx_us, chunk):
            if isinstance(item, ReceivedFrame):
                frames.append(item)
            else:
                control.append(item)
        return frames, control

    def feed_in_order(
        self, t_rx_us: int, chunk: bytes
    ) -> list[ReceivedFrame | wire.Ack | wire.Status]:
        """Consume one chunk; return the data frames, acks and status frames it completed, in
        the order the board sent them (a status between data frames tells where a reboot
        starts: the frames after it belong to the new boot)."""
        items: list[ReceivedFrame | wire.Ack | wire.Status] = []
        for raw in self._deframer.feed(chunk):
            try:
                frame = wire.decode_frame(raw)
            except wire.UnsupportedVersionError as err:
                self.unsupported_version += 1
                self._error(str(err))
                continue
            except wire.ProtocolError as err:
                self.bad_frames += 1
                self._error(str(err))
                continue
            if isinstance(frame, wire.DataFrame):
                if self.board_id is not None and frame.board_id != self.board_id:
                    self.foreign_frames += 1
                    self._error(f"frame from board {frame.board_id} on the port of {self.board_id}")
                    continue
                self.frames += 1
                items.append(ReceivedFrame(t_rx_us=t_rx_us, frame=frame))
            elif isinstance(frame, wire.Command):
                self.bad_frames += 1
                self._error("a command frame from the board side")
            else:
                items.append(frame)
        if self._deframer.errors != self._reported_bad:
            self._reported_bad = self._deframer.errors
            self._error(f"bad serial packet: {self._deframer.last_error}")
        return items

    def _error(self, message: str) -> None:
        self.last_error = message
        _LOG.warning("serial link of board %s: %s", self.board_id, message)
