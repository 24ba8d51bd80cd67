"""Hypothesis strategies and helpers for capture files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from coxa.capture import RECORD_OVERHEAD, CaptureRecord, CaptureWriter

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
METADATA = st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6)

RECORDS = st.builds(
    CaptureRecord,
    t_rx_ns=st.integers(-(2**63), 2**63 - 1),
    link_id=st.integers(0, 0xFFFF),
    kind=st.integers(0, 0xFF),
    payload=st.binary(max_size=300),
)

#: A few fixed records of different sizes (empty payload included) for exhaustive damage tests.
FIXED_RECORDS = [
    CaptureRecord(1_000_000_000 + 5_000 * i, 0x1A2B + i % 3, i % 2, bytes(range(i * 7 % 250)))
    for i in range(8)
]
FIXED_METADATA: dict[str, Any] = {"athlete": "A01", "rig": {"6699": "femur_r"}, "link_kind": "ble"}


def write(path: Path, records: list[CaptureRecord], metadata: dict[str, Any]) -> None:
    """Write ``records`` to a new capture at ``path``."""
    with CaptureWriter(path, metadata) as writer:
        for r in records:
            writer.append(r.t_rx_ns, r.link_id, r.kind, r.payload)


def record_offsets(header_bytes: int, records: list[CaptureRecord]) -> list[int]:
    """Byte offset of every record and, last, of the end of the file."""
    offsets = [header_bytes]
    for r in records:
        offsets.append(offsets[-1] + RECORD_OVERHEAD + len(r.payload))
    return offsets
