"""Raw capture files: every BLE notification and serial chunk exactly as the host received it.

A capture (suffix ``.coxa``) is one append-only file: a header (magic, format version, creation
time, JSON metadata) and CRC-checked records (host receive time, link id, link kind, payload).
Readers recover everything intact around torn tails and damaged spans. Byte layout, recovery
rules and guarantees: ``docs/capture.md``.
"""

from coxa.capture._format import (
    FORMAT_VERSION,
    MAGIC,
    MAX_METADATA_BYTES,
    MAX_PAYLOAD_BYTES,
    RECORD_MARKER,
    RECORD_OVERHEAD,
    SUFFIX,
    CaptureError,
    CaptureRecord,
    LinkKind,
)
from coxa.capture._reader import (
    Capture,
    CaptureIterator,
    CaptureReport,
    Damage,
    iter_capture,
    read_capture,
)
from coxa.capture._session import capture_packets, sim_metadata, write_sim_capture
from coxa.capture._writer import DEFAULT_FLUSH_INTERVAL_S, CaptureWriter, encode_header

__all__ = [
    "DEFAULT_FLUSH_INTERVAL_S",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_METADATA_BYTES",
    "MAX_PAYLOAD_BYTES",
    "RECORD_MARKER",
    "RECORD_OVERHEAD",
    "SUFFIX",
    "Capture",
    "CaptureError",
    "CaptureIterator",
    "CaptureRecord",
    "CaptureReport",
    "CaptureWriter",
    "Damage",
    "LinkKind",
    "capture_packets",
    "encode_header",
    "iter_capture",
    "read_capture",
    "sim_metadata",
    "write_sim_capture",
]
