"""Append-only writer of capture files."""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

from coxa.capture._format import (
    CRC,
    FORMAT_VERSION,
    HEADER_FIXED,
    MAGIC,
    MAX_METADATA_BYTES,
    MAX_PAYLOAD_BYTES,
    RECORD_HEAD,
    RECORD_MARKER,
    RECORD_OVERHEAD,
    CaptureError,
)

_LOG = logging.getLogger(__name__)

DEFAULT_FLUSH_INTERVAL_S = 1.0
"""Default time between automatic sync points, seconds [assumption: a crash loses at most about
one second of data, and ``fsync`` runs about once a second]."""

_BUFFER_BYTES = 1 << 16
"""Size of the write buffer, bytes [assumption]."""


def encode_header(metadata: Mapping[str, Any], created_wall_ns: int) -> bytes:
    """Bytes of a capture header: fixed part, metadata JSON and header CRC.

    Parameters
    ----------
    metadata : mapping of str to JSON values
        Session description, stored as a UTF-8 JSON object.
    created_wall_ns : int
        Creation wall-clock time, nanoseconds since the Unix epoch (informational).

    Raises
    ------
    CaptureError
        If the metadata is not JSON-serialisable (NaN and infinities included) or too large.
    """
    try:
        blob = json.dumps(
            dict(metadata), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise CaptureError(f"capture metadata is not JSON-serialisable: {err}") from err
    if len(blob) > MAX_METADATA_BYTES:
        raise CaptureError(
            f"capture metadata is {len(blob)} bytes of JSON, more than {MAX_METADATA_BYTES}"
        )
    head = HEADER_FIXED.pack(MAGIC, FORMAT_VERSION, 0, created_wall_ns, len(blob)) + blob
    return head + CRC.pack(zlib.crc32(head))


def _fsync_directory(path: Path) -> None:
    """Make the new file's directory entry durable (POSIX only; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CaptureWriter:
    """Write a capture: one header, then records appended one by one.

    The file is created exclusively (an existing file is never overwritten) and the header is
    synced to disk before the constructor returns. Records go through a write buffer; a *sync
    point* (:meth:`flush`: flush the buffer, then ``os.fsync``) happens automatically in
    :meth:`append` once ``flush_interval_s`` has elapsed since the previous one, and on
    :meth:`close`. Every record appended before the last sync point survives a crash of the
    process or the machine; a record being written at the moment of a crash is at worst a torn
    tail, which readers report and drop. Not thread-safe: one writer per file.

    Parameters
    ----------
    path : str or os.PathLike
        File to create (suffix ``.coxa`` by convention; not enforced).
    metadata : mapping of str to JSON values
        Session description stored in the header (see ``docs/capture.md`` for the usual keys).
    flush_interval_s : float
        Longest time between automatic sync points, seconds; 0 syncs after every record,
        ``math.inf`` only on :meth:`flush` and :meth:`close`. Default 1.0 [assumption].
    clock_ns : callable returning int
        Monotonic clock that measures the interval, nanoseconds. Default
        ``time.monotonic_ns`` (inject a fake one in tests).
    wall_clock_ns : callable returning int
        Wall clock of the header's creation time, nanoseconds since the Unix epoch. Default
        ``time.time_ns``.

    Attributes
    ----------
    path : pathlib.Path
    records : int
        Records appended.
    bytes_written : int
        File size once the buffer is flushed (header included), bytes.
    synced_records, synced_bytes : int
        Records and file bytes covered by the last sync point.

    Raises
    ------
    CaptureError
        If ``path`` exists, or the metadata cannot be stored.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, Any],
        *,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if math.isnan(flush_interval_s) or flush_interval_s < 0:
            raise ValueError(f"flush_interval_s must be >= 0, got {flush_interval_s}")
        self.path = Path(path)
        header = encode_header(metadata, wall_clock_ns())
        try:
            self._file: BinaryIO = open(self.path, "xb", buffering=_BUFFER_BYTES)  # noqa: SIM115
        except FileExistsError as err:
            raise CaptureError(f"{self.path}: file exists; a capture is never overwritten") from err
        self._interval_ns = flush_interval_s * 1e9
        self._clock_ns = clock_ns
        self.records = 0
        self.bytes_written = 0
        self.synced_records = 0
        self.synced_bytes = 0
        self._last_sync_ns = 0
        self._closed = False
        try:
            self._file.write(header)
            self.bytes_written = len(header)
            self.flush()
            _fsync_directory(self.path)
        except OSError:
            # No header on disk (disk full, I/O error): leave no half-made capture behind.
            self._closed = True
            self._file.close()
            self.path.unlink(missing_ok=True)
            raise
        _LOG.info("capture %s created", self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def append(self, t_rx_ns: int, link_id: int, kind: int, payload: bytes) -> None:
        """Append one record; a sync point follows if ``flush_interval_s`` has elapsed.

        Parameters
        ----------
        t_rx_ns : int
            Host receive time, nanoseconds (monotonic host clock), int64.
        link_id : int
            The board connection that delivered the payload, 0..65535 (BLE: the board id).
        kind : int
            :class:`LinkKind` of the payload, 0..255.
        payload : bytes-like
            The bytes as received, at most ``MAX_PAYLOAD_BYTES``.

        Raises
        ------
        CaptureError
            If the writer is closed or a field is out of range (nothing is written then).
        """
        if self._closed:
            raise CaptureError(f"{self.path}: append to a closed capture")
        n = len(payload)
        if n > MAX_PAYLOAD_BYTES:
            raise CaptureError(
                f"{self.path}: payload of {n} bytes exceeds the record limit {MAX_PAYLOAD_BYTES}"
            )
        try:
            head = RECORD_HEAD.pack(RECORD_MARKER, n, t_rx_ns, link_id, kind, 0)
        except struct.error as err:
            raise CaptureError(
                f"{self.path}: record fields out of range (t_rx_ns int64 {t_rx_ns}, link_id u16 "
                f"{link_id}, kind u8 {kind}): {err}"
            ) from err
        crc = zlib.crc32(payload, zlib.crc32(head))
        self._file.write(b"".join((head, payload, CRC.pack(crc))))
        self.records += 1
        self.bytes_written += n + RECORD_OVERHEAD
        if self._clock_ns() - self._last_sync_ns >= self._interval_ns:
            self.flush()

    def flush(self) -> None:
        """Sync point: flush the write buffer and ``os.fsync`` the file."""
        if self._closed:
            raise CaptureError(f"{self.path}: flush of a closed capture")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._last_sync_ns = self._clock_ns()
        self.synced_records = self.records
        self.synced_bytes = self.bytes_written

    def close(self) -> None:
        """Final sync point, then close the file. Calling it again does nothing."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._file.close()
        _LOG.info("capture %s closed: %d records", self.path, self.records)
