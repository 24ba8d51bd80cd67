"""Exercise analysis: rep segmentation and per-rep values."""

from coxa.analysis._capacity import Capacity, CapacityAt, CapacityPoint
from coxa.analysis._demand import (
    DEMAND_STATUSES,
    DemandFileError,
    DemandLimb,
    DemandRow,
    DemandStatus,
    DemandTable,
    load_demand,
)
from coxa.analysis._exercise_params import EXERCISE_IDS, ExerciseId, RepParams, exercise_id
from coxa.analysis._findings import FINDING_RULES, Finding
from coxa.analysis._metrics import LegRep
from coxa.analysis._recognize import (
    RECOGNITION_FEATURES,
    FeatureRange,
    Prototype,
    Recognition,
    RecognizeParams,
    exercise_features,
    recognize_exercise,
)
from coxa.analysis._reps import Rep, RepCounter, segment_reps
from coxa.analysis._rules import FindingRules, RuleParams, pelvic_rotation_about_femur_deg

__all__ = [
    "DEMAND_STATUSES",
    "EXERCISE_IDS",
    "FINDING_RULES",
    "RECOGNITION_FEATURES",
    "Capacity",
    "CapacityAt",
    "CapacityPoint",
    "DemandFileError",
    "DemandLimb",
    "DemandRow",
    "DemandStatus",
    "DemandTable",
    "ExerciseId",
    "FeatureRange",
    "Finding",
    "FindingRules",
    "LegRep",
    "Prototype",
    "Recognition",
    "RecognizeParams",
    "Rep",
    "RepCounter",
    "RepParams",
    "RuleParams",
    "exercise_features",
    "exercise_id",
    "load_demand",
    "pelvic_rotation_about_femur_deg",
    "recognize_exercise",
    "segment_reps",
]
