"""Byte layout of a coxa capture file (format version 1); prose in ``docs/capture.md``."""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

SUFFIX = ".coxa"
"""File name suffix of a capture."""

MAGIC = b"\x89COXA\r\n\x1a"
"""First 8 bytes of every capture: a non-ASCII byte, the name, CR LF and DOS end-of-file, so
text-mode transfers and newline translation are caught (the PNG idea)."""

FORMAT_VERSION = 1
"""Version of the capture file format this module writes and reads."""

RECORD_MARKER = b"\xc0\xa5\x5a\x0c"
"""First 4 bytes of every record; lets a reader find the next record after damage."""

MAX_METADATA_BYTES = 1 << 24
"""Largest metadata blob, bytes (16 MiB) [assumption: far above any real rig description]."""

MAX_PAYLOAD_BYTES = 1 << 20
"""Largest record payload, bytes (1 MiB) [assumption: a BLE notification is at most 244 bytes and
a serial read chunk a few kB; the bound keeps a damaged length field from being believed]."""

HEADER_FIXED = struct.Struct("<8sHHqI")
"""magic, format version, header flags (0), creation wall-clock time ns, metadata length."""

RECORD_HEAD = struct.Struct("<4sIqHBB")
"""marker, payload length, t_rx_ns, link id, link kind, record flags (0)."""

CRC = struct.Struct("<I")
"""CRC-32 (``zlib.crc32``) trailing the header and every record."""

RECORD_OVERHEAD = RECORD_HEAD.size + CRC.size
"""Bytes of a record besides its payload (24)."""

I64_MIN = -(1 << 63)
I64_MAX = (1 << 63) - 1


class LinkKind(IntEnum):
    """What a record's payload is.

    Values 2-255 are reserved for later kinds; readers return records of any kind unchanged.
    """

    BLE = 0
    """One BLE notification payload: a protocol v1 packet (see ``coxa.wire.Reassembler``)."""
    SERIAL = 1
    """A raw chunk of bytes as read from a serial port (COBS frames, not aligned to frames)."""


class CaptureRecord(NamedTuple):
    """One notification or serial chunk, exactly as the host received it.

    Attributes
    ----------
    t_rx_ns : int
        Host receive time, nanoseconds (monotonic host clock; int64).
    link_id : int
        The board connection that delivered it (u16; for BLE the board id).
    kind : int
        Payload kind (u8), a :class:`LinkKind` value.
    payload : bytes
        The bytes received, unchanged.
    """

    t_rx_ns: int
    link_id: int
    kind: int
    payload: bytes


class CaptureError(ValueError):
    """A capture file cannot be created or is not a readable capture (the message names it)."""
