"""Recording: a source's records into a raw capture (before anything else), then through the
fusion pipeline to the readout; replay through the same pipeline; capture checks.

See ``docs/recording.md``.
"""

from coxa.record._check import BoardCheck, CaptureCheck, check_capture
from coxa.record._pipeline import DEFAULT_EXERCISE, Pipeline, session_exercise, table_digest
from coxa.record._recorder import (
    Progress,
    Recorder,
    RecordParams,
    RecordResult,
    capture_metadata,
)

__all__ = [
    "DEFAULT_EXERCISE",
    "BoardCheck",
    "CaptureCheck",
    "Pipeline",
    "Progress",
    "RecordParams",
    "RecordResult",
    "Recorder",
    "capture_metadata",
    "check_capture",
    "session_exercise",
    "table_digest",
]
