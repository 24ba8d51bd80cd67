"""Motion simulator: ground-truth kinematics of squats, split squats, step-ups, hinges, 90/90
transitions, the clinical hip IR tests and the active straight leg raise, and the IMU signals
that boards strapped on the segments would measure.

See ``docs/simulator.md`` for what is simulated, the parameters with their labelled defaults,
how to use it and the limitations.
"""

from coxa.sim._board import BoardOutput, BoardSpec, packetize, run_board, to_fixed_point
from coxa.sim._clock import ClockParams, SampleTimes, sample_times
from coxa.sim._exercises import EXERCISES, TEMPLATES, Exercise, ExerciseTemplate, Ramp
from coxa.sim._imu import ImuParams, ImuRecording, synthesize_imu, synthesize_rig
from coxa.sim._motion import Motion, MotionParams, MotionState, RepTruth, TruthColumns
from coxa.sim._mounting import SensorMount, default_mount, default_mounts, random_mount
from coxa.sim._profiles import RepSchedule, minimum_jerk
from coxa.sim._radio import RadioParams, transmit
from coxa.sim._rig import Mounting, RigPacket, RigParams, RigRecording, simulate_rig
from coxa.sim._sequence import SessionMotion, SessionParams, SessionRecording, simulate_session
from coxa.sim._skeleton import Anthropometry
from coxa.sim._softtissue import STA_AXIS_IN_FEMUR

__all__ = [
    "EXERCISES",
    "STA_AXIS_IN_FEMUR",
    "TEMPLATES",
    "Anthropometry",
    "BoardOutput",
    "BoardSpec",
    "ClockParams",
    "Exercise",
    "ExerciseTemplate",
    "ImuParams",
    "ImuRecording",
    "Motion",
    "MotionParams",
    "MotionState",
    "Mounting",
    "RadioParams",
    "Ramp",
    "RepSchedule",
    "RepTruth",
    "RigPacket",
    "RigParams",
    "RigRecording",
    "SampleTimes",
    "SensorMount",
    "SessionMotion",
    "SessionParams",
    "SessionRecording",
    "TruthColumns",
    "default_mount",
    "default_mounts",
    "minimum_jerk",
    "packetize",
    "random_mount",
    "run_board",
    "sample_times",
    "simulate_rig",
    "simulate_session",
    "synthesize_imu",
    "synthesize_rig",
    "to_fixed_point",
    "transmit",
]
