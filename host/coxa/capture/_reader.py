"""Reading capture files: header checks, record scanning, recovery after damage."""

from __future__ import annotations

import json
import logging
import mmap
import os
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self, cast

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
    CaptureRecord,
)

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Damage:
    """A span of a capture that holds no intact record.

    Attributes
    ----------
    offset : int
        Byte offset in the file where the span starts (where an intact record was expected).
    record_index : int
        Number of intact records before the span: the index the next intact record gets.
    bytes_skipped : int
        Length of the span, bytes.
    reason : str
        Why the bytes at ``offset`` are not an intact record (``'CRC mismatch'``, ``'no record
        marker'``, ``'payload length over the limit'``, ``'record runs past the end of the
        file'``).
    """

    offset: int
    record_index: int
    bytes_skipped: int
    reason: str


@dataclass(frozen=True)
class CaptureReport:
    """What reading a capture found.

    Attributes
    ----------
    path : pathlib.Path
    records : int
        Intact records returned.
    payload_bytes : int
        Sum of their payload lengths, bytes.
    file_bytes : int
        Size of the file when it was opened, bytes.
    header_bytes : int
        Size of the header, bytes (records start here).
    end_offset : int
        Bytes examined so far; equals ``file_bytes`` once the records were read to the end.
    damaged : tuple of Damage
        Damaged spans followed by intact records (reading resumed after each).
    tail : Damage or None
        A damaged span running to the end of the file (a torn or truncated final record, or
        trailing garbage), dropped; None if the file ends on a record boundary.
    """

    path: Path
    records: int
    payload_bytes: int
    file_bytes: int
    header_bytes: int
    end_offset: int
    damaged: tuple[Damage, ...]
    tail: Damage | None

    @property
    def truncated_at(self) -> int | None:
        """Byte offset of the torn tail, or None."""
        return None if self.tail is None else self.tail.offset

    @property
    def complete(self) -> bool:
        """True once every byte of the file was examined."""
        return self.end_offset == self.file_bytes

    @property
    def clean(self) -> bool:
        """True if the whole file was read and held only intact records."""
        return self.complete and not self.damaged and self.tail is None


@dataclass(frozen=True, eq=False)
class Capture:
    """A capture read whole into memory (:func:`read_capture`).

    Attributes
    ----------
    path : pathlib.Path
    format_version : int
        Capture format version of the file.
    created_wall_ns : int
        Creation wall-clock time, nanoseconds since the Unix epoch (informational).
    metadata : dict
        The session description from the header (a JSON object).
    records : list of CaptureRecord
        Every intact record, in file order.
    report : CaptureReport
    """

    path: Path
    format_version: int
    created_wall_ns: int
    metadata: dict[str, Any]
    records: list[CaptureRecord]
    report: CaptureReport


def _read_header(
    path: Path, file: BinaryIO, file_bytes: int
) -> tuple[int, int, dict[str, Any], int]:
    """Check and parse the header: (version, created_wall_ns, metadata, header bytes)."""
    fixed = file.read(HEADER_FIXED.size)
    if fixed[: len(MAGIC)] != MAGIC[: len(fixed)]:
        raise CaptureError(f"{path}: not a coxa capture (it does not start with the capture magic)")
    if len(fixed) < HEADER_FIXED.size:
        raise CaptureError(f"{path}: truncated capture header ({file_bytes} bytes in the file)")
    _, version, _flags, created_wall_ns, meta_len = HEADER_FIXED.unpack(fixed)
    if version != FORMAT_VERSION:
        raise CaptureError(
            f"{path}: unsupported capture format version {version} (this reader reads "
            f"{FORMAT_VERSION})"
        )
    if meta_len > MAX_METADATA_BYTES:
        raise CaptureError(f"{path}: damaged capture header (metadata length {meta_len})")
    rest = file.read(meta_len + CRC.size)
    if len(rest) < meta_len + CRC.size:
        raise CaptureError(f"{path}: truncated capture header ({file_bytes} bytes in the file)")
    blob = rest[:meta_len]
    (crc,) = CRC.unpack_from(rest, meta_len)
    if zlib.crc32(blob, zlib.crc32(fixed)) != crc:
        raise CaptureError(f"{path}: damaged capture header (CRC mismatch)")
    try:
        metadata: object = json.loads(blob.decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise CaptureError(f"{path}: capture metadata is not valid UTF-8 JSON: {err}") from err
    if not isinstance(metadata, dict):
        raise CaptureError(f"{path}: capture metadata is not a JSON object")
    header_bytes = HEADER_FIXED.size + meta_len + CRC.size
    return version, created_wall_ns, cast(dict[str, Any], metadata), header_bytes


def _record_at(buf: mmap.mmap, pos: int, size: int) -> tuple[CaptureRecord | None, int, str]:
    """The record at ``pos`` if intact; else None, its claimed end and why it is not."""
    end = pos + RECORD_OVERHEAD
    if end > size:
        start = buf[pos : pos + len(RECORD_MARKER)]
        if not RECORD_MARKER.startswith(start):
            return None, end, "no record marker"
        return None, end, "record runs past the end of the file"
    head = buf[pos : pos + RECORD_HEAD.size]
    marker, n, t_rx_ns, link_id, kind, _flags = RECORD_HEAD.unpack(head)
    end += n
    if marker != RECORD_MARKER:
        return None, end, "no record marker"
    if n > MAX_PAYLOAD_BYTES:
        return None, end, "payload length over the limit"
    if end > size:
        return None, end, "record runs past the end of the file"
    payload = buf[pos + RECORD_HEAD.size : end - CRC.size]
    if zlib.crc32(payload, zlib.crc32(head)) != CRC.unpack_from(buf, end - CRC.size)[0]:
        return None, end, "CRC mismatch"
    return CaptureRecord(t_rx_ns, link_id, kind, payload), end, ""


def _resync(buf: mmap.mmap, pos: int, claimed_end: int | None, size: int) -> int | None:
    """Offset of the next intact record after damage at ``pos``, or None if there is none.

    The record's own length is tried first when only its CRC failed (a damaged payload keeps
    the next record where the length says); otherwise, or if nothing intact is there, the file
    is scanned for the record marker and the first candidate whose CRC checks out wins.
    """
    if claimed_end is not None and _record_at(buf, claimed_end, size)[0] is not None:
        return claimed_end
    candidate = buf.find(RECORD_MARKER, pos + 1)
    while candidate != -1:
        if _record_at(buf, candidate, size)[0] is not None:
            return candidate
        candidate = buf.find(RECORD_MARKER, candidate + 1)
    return None


class CaptureIterator:
    """Stream the records of a capture (:func:`iter_capture`); the header is checked at once.

    The file is memory-mapped as it is when opened (records appended later are not seen), so
    memory use does not grow with the file. Iterating yields every intact record in file
    order; :attr:`report` describes what was examined so far. The map is released when the
    records are exhausted, on :meth:`close`, or at the end of a ``with`` block.

    Attributes
    ----------
    path : pathlib.Path
    format_version : int
    created_wall_ns : int
    metadata : dict
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._map: mmap.mmap | None = None
        with open(self.path, "rb") as file:
            self._file_bytes = os.fstat(file.fileno()).st_size
            self.format_version, self.created_wall_ns, self.metadata, self._header_bytes = (
                _read_header(self.path, file, self._file_bytes)
            )
            if self._file_bytes > self._header_bytes:
                self._map = mmap.mmap(file.fileno(), self._file_bytes, access=mmap.ACCESS_READ)
        self._records = 0
        self._payload_bytes = 0
        self._offset = self._header_bytes
        self._damaged: list[Damage] = []
        self._tail: Damage | None = None
        self._scanner = self._scan()

    def __iter__(self) -> Iterator[CaptureRecord]:
        return self._scanner

    def __next__(self) -> CaptureRecord:
        return next(self._scanner)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the file map; iteration ends. Calling it again does nothing."""
        self._scanner.close()
        if self._map is not None:
            self._map.close()
            self._map = None

    @property
    def report(self) -> CaptureReport:
        """What was found so far (complete once the iterator is exhausted)."""
        return CaptureReport(
            path=self.path,
            records=self._records,
            payload_bytes=self._payload_bytes,
            file_bytes=self._file_bytes,
            header_bytes=self._header_bytes,
            end_offset=self._offset,
            damaged=tuple(self._damaged),
            tail=self._tail,
        )

    def _scan(self) -> Generator[CaptureRecord, None, None]:
        buf = self._map
        if buf is None:
            return
        size = self._file_bytes
        pos = self._header_bytes
        # The loop inlines _record_at's checks for intact records (a function call per record
        # costs a third of the time); anything else goes to _record_at for the reason.
        head_bytes = RECORD_HEAD.size
        unpack_head = RECORD_HEAD.unpack
        unpack_crc = CRC.unpack_from
        crc32 = zlib.crc32
        make_record = CaptureRecord._make
        try:
            while pos < size:
                head = buf[pos : pos + head_bytes]
                if len(head) == head_bytes:
                    marker, n, t_rx_ns, link_id, kind, _flags = unpack_head(head)
                    end = pos + RECORD_OVERHEAD + n
                    if marker == RECORD_MARKER and n <= MAX_PAYLOAD_BYTES and end <= size:
                        payload = buf[pos + head_bytes : end - 4]
                        if crc32(payload, crc32(head)) == unpack_crc(buf, end - 4)[0]:
                            self._records += 1
                            self._payload_bytes += n
                            self._offset = pos = end
                            yield make_record((t_rx_ns, link_id, kind, payload))
                            continue
                _, end, reason = _record_at(buf, pos, size)
                claimed_end = end if reason == "CRC mismatch" else None
                resume = _resync(buf, pos, claimed_end, size)
                damage = Damage(
                    pos, self._records, (size if resume is None else resume) - pos, reason
                )
                if resume is None:
                    self._tail = damage
                    _LOG.warning(
                        "%s: dropped %d bytes at the end from offset %d (%s)",
                        self.path,
                        damage.bytes_skipped,
                        pos,
                        reason,
                    )
                    pos = size
                else:
                    self._damaged.append(damage)
                    _LOG.warning(
                        "%s: skipped %d damaged bytes at offset %d before record %d (%s)",
                        self.path,
                        damage.bytes_skipped,
                        pos,
                        self._records,
                        reason,
                    )
                    pos = resume
                self._offset = pos
        finally:
            buf.close()
            self._map = None


def iter_capture(path: str | os.PathLike[str]) -> CaptureIterator:
    """Open a capture for streaming: check its header, then iterate over its intact records.

    Raises
    ------
    CaptureError
        If the file is not a capture, has an unsupported format version, or a damaged header.
    OSError
        If the file cannot be opened.
    """
    return CaptureIterator(path)


def read_capture(path: str | os.PathLike[str]) -> Capture:
    """Read a whole capture: header, every intact record, and a report of any damage.

    Damage never raises once the header is good: a torn or truncated final record (or trailing
    garbage) is reported in ``report.tail`` and dropped; damage in the middle is reported in
    ``report.damaged`` and reading resumes at the next intact record (see ``docs/capture.md``).

    Raises
    ------
    CaptureError
        If the file is not a capture, has an unsupported format version, or a damaged header.
    OSError
        If the file cannot be opened.
    """
    with iter_capture(path) as stream:
        records = list(stream)
        return Capture(
            path=stream.path,
            format_version=stream.format_version,
            created_wall_ns=stream.created_wall_ns,
            metadata=stream.metadata,
            records=records,
            report=stream.report,
        )
