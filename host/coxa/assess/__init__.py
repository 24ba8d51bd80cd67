"""Clinical hip tests: prone, seated and supine hip internal rotation and the active straight
leg raise, measured with the shank as a pointer about the femoral axis.

See ``docs/assessment.md`` for how to run each test, what is measured and how, the reference
values with their status and the measured accuracy.
"""

from coxa.assess._capacity import stored_capacity_points, to_capacity_points
from coxa.assess._history import Change, change_since_previous, store_result
from coxa.assess._measure import (
    AssessParams,
    ClinicalTestAnalysis,
    SideResult,
    Trial,
    pointer_rotation_deg,
    thigh_elevation_deg,
)
from coxa.assess._protocols import PROTOCOLS, TEST_IDS, ClinicalTest, TestId, protocol
from coxa.assess._references import (
    REFERENCES_VERSION,
    STATUSES,
    Band,
    Comparison,
    Reference,
    ReferenceFileError,
    References,
    Status,
    compare,
    load_references,
    parse_references,
)
from coxa.assess._sim import (
    CLINICAL_FUSION,
    OUTPUT_RATE_HZ,
    SimulatedTest,
    clinical_motion,
    clinical_session,
    simulate_clinical_test,
    true_values_deg,
)

__all__ = [
    "CLINICAL_FUSION",
    "OUTPUT_RATE_HZ",
    "PROTOCOLS",
    "REFERENCES_VERSION",
    "STATUSES",
    "TEST_IDS",
    "AssessParams",
    "Band",
    "Change",
    "ClinicalTest",
    "ClinicalTestAnalysis",
    "Comparison",
    "Reference",
    "ReferenceFileError",
    "References",
    "SideResult",
    "SimulatedTest",
    "Status",
    "TestId",
    "Trial",
    "change_since_previous",
    "clinical_motion",
    "clinical_session",
    "compare",
    "load_references",
    "parse_references",
    "pointer_rotation_deg",
    "protocol",
    "simulate_clinical_test",
    "store_result",
    "stored_capacity_points",
    "thigh_elevation_deg",
    "to_capacity_points",
    "true_values_deg",
]
