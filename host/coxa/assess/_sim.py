"""Simulated clinical tests, measured the way an athlete does them with real boards.

One simulated recording (:func:`coxa.sim.simulate_session`) holds the whole session: the
athlete stands still with the feet under the hips (the calibration's neutral pose), steps into
a squat stance and does a few slow squats (the functional calibration), then gets into the
test position (lies face down, sits on the table edge, lies on the back) and does the trials.
The boards are those of :func:`coxa.sim.simulate_rig` (IMU errors, the firmware's own 6D
filter, protocol v1 frames over the radio); the host decodes the packets and the fusion core
(:class:`coxa.fusion.FusionCore`, offline parameters) calibrates on the standing rest and the
squats, corrects the headings (knee hinge, re-anchoring at standing rests) and gives the angle
table the test is measured from, as with real boards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from coxa.assess._protocols import ClinicalTest, protocol
from coxa.body import SegmentName
from coxa.fusion import AngleTable, Calibration, FusionCore, FusionParams
from coxa.geometry import FloatArray, Side, quat_rotate
from coxa.sim import (
    ImuParams,
    MotionParams,
    RadioParams,
    RigParams,
    SessionMotion,
    SessionParams,
    simulate_session,
)
from coxa.sources import decode_packets

_Z = np.array([0.0, 0.0, 1.0])
#: Rate of the angle table, Hz (the fusion core's default output rate).
OUTPUT_RATE_HZ = 100.0
#: Fusion parameters of a clinical test, simulated or recorded with a rig: the whole
#: recording is analysed after its end, so the offline parameters (the whole functional
#: window before calibrating, heading corrections spread back) apply.
CLINICAL_FUSION = FusionParams.offline()
#: Standing still before the calibration squats, s [assumption: the 3 s the product asks for].
CALIBRATION_REST_S = 3.0
#: Slow squats of the calibration [assumption: the three the product asks for].
CALIBRATION_SQUATS = 3
#: Step from the feet-under-the-hips rest into the squat stance, s [assumption: one step].
STEP_S = 1.0
#: Standing still after the squats, before getting into the test position, s [assumption].
STAND_AFTER_S = 2.0
#: Getting into the test position (lying down, sitting down), s [assumption].
GET_INTO_POSITION_S = 4.0


@dataclass(frozen=True)
class SimulatedTest:
    """A simulated clinical session, measured, with its truth.

    Attributes
    ----------
    table : AngleTable
        The fusion core's angles, on a 100 Hz grid of host time (from the calibration rest
        on).
    motion : SessionMotion
        The ground-truth motion (calibration segments, then the test as the last segment).
    side : {'r', 'l'}
        The tested side.
    host_epoch_us : int
        Host time at true time 0, microseconds.
    calibration : Calibration
        What the fusion core's calibration found.
    """

    table: AngleTable
    motion: SessionMotion
    side: Side
    host_epoch_us: int
    calibration: Calibration

    def true_time_s(self, t_host_us: FloatArray) -> FloatArray:
        """True (motion) time of host times, seconds."""
        return (np.asarray(t_host_us, dtype=np.float64) - self.host_epoch_us) * 1e-6

    @property
    def test_start_us(self) -> float:
        """Host time where the test segment starts (the athlete is in position), us."""
        return float(self.motion.start_t_s[-1]) * 1e6 + self.host_epoch_us


def clinical_motion(
    test: str,
    side: Side = "r",
    *,
    trials: int = 3,
    ir_deg: float | None = None,
    ir_spread_deg: float = 0.0,
    knee_deg: float | None = None,
    pelvis_lift_deg: float = 0.0,
    seed: int = 0,
    **changes: object,
) -> MotionParams:
    """Motion parameters of a simulated clinical test.

    Parameters
    ----------
    test : str
        Test id.
    side : {'r', 'l'}
    trials : int
        Trials (the simulator's reps).
    ir_deg : float, optional
        End position of each trial (hip IR; for the straight leg raise the hip flexion the leg
        is raised to), degrees; default the simulator's.
    ir_spread_deg : float
        SD of the hip IR end position between trials, degrees (rotation tests only).
    knee_deg : float, optional
        Knee flexion held during the test, degrees; default the simulator's (90 in the
        rotation tests, 0 in the straight leg raise).
    pelvis_lift_deg : float
        Pelvis roll (prone: the simulator's pelvis yaw; supine: its obliquity) or hike (seated:
        obliquity) added at each trial's end position, growing with the movement, degrees.
    seed : int
    **changes
        Further :class:`coxa.sim.MotionParams` fields (e.g. a femur tilted off the test
        position: ``hip_flexion_offset_deg``, ``hip_adduction_offset_deg``).

    Raises
    ------
    ValueError
        An unknown test id, or motion parameters the simulator refuses.
    """
    p = protocol(test)
    lift = "pelvis_yaw_excursion_deg" if p.posture == "prone" else "pelvis_obliquity_excursion_deg"
    fields: dict[str, object] = {
        "exercise": p.sim_exercise,
        "side": side,
        "reps": trials,
        lift: pelvis_lift_deg,
        "seed": seed,
    }
    if p.measure == "pointer":
        fields |= {
            "depth_deg": knee_deg,
            "hip_ir_bottom_deg": ir_deg,
            "hip_ir_spread_deg": ir_spread_deg,
        }
    else:
        fields |= {"depth_deg": knee_deg, "hip_flexion_bottom_deg": ir_deg}
    fields |= changes
    return MotionParams(**fields)  # type: ignore[arg-type]


def clinical_session(
    test_motion: MotionParams, *, squats: int = CALIBRATION_SQUATS
) -> SessionParams:
    """The whole simulated session of a clinical test: stand still with the feet under the
    hips, step into a squat stance, ``squats`` slow squats, stand, get into the test position,
    the test (``test_motion``, see :func:`clinical_motion`).

    Raises
    ------
    ValueError
        ``squats`` < 1.
    """
    if squats < 1:
        raise ValueError(f"the calibration needs at least one squat, got {squats}")
    side, body, seed = test_motion.side, test_motion.body, test_motion.seed
    rest = MotionParams(
        exercise="rest",
        rest_before_s=CALIBRATION_REST_S,
        rest_after_s=0.0,
        side=side,
        body=body,
        seed=seed,
    )
    squat = MotionParams(
        exercise="squat",
        reps=squats,
        rest_before_s=0.0,
        rest_after_s=STAND_AFTER_S,
        side=side,
        body=body,
        seed=seed,
    )
    return SessionParams((rest, squat, test_motion), transition_s=(STEP_S, GET_INTO_POSITION_S))


def simulate_clinical_test(
    session: SessionParams,
    *,
    pelvis_board: bool = True,
    imu: ImuParams | None = None,
    seed: int = 0,
    mount_seed: int | None = None,
    mount_max_deg: float = 30.0,
    fusion: FusionParams = CLINICAL_FUSION,
) -> SimulatedTest:
    """Simulate a clinical session (see :func:`clinical_session`) measured by the boards it
    needs, and fuse it with the fusion core.

    Parameters
    ----------
    session : SessionParams
        The session; its last segment is the test.
    pelvis_board : bool
        Whether a pelvis board is worn (else the table's ``hip_reference`` is ``'room'``).
    imu : ImuParams, optional
        IMU error model; default the simulator's typical MEMS errors.
    seed : int
        Seed of the boards (ids, clocks, IMU errors, radio).
    mount_seed : int, optional
        Random straps up to ``mount_max_deg`` off the nominal placement (None: nominal).
    mount_max_deg : float
    fusion : FusionParams
        Fusion core parameters. Default :data:`CLINICAL_FUSION`.

    Returns
    -------
    SimulatedTest

    Raises
    ------
    coxa.fusion.CalibrationError
        The fusion core found no calibration in the session.
    """
    side = session.segments[-1].side
    segments: tuple[SegmentName, ...] = (("pelvis",) if pelvis_board else ()) + (
        f"femur_{side}",
        f"tibia_{side}",
    )  # type: ignore[assignment]
    rig = simulate_session(
        session,
        RigParams(
            segments=segments,
            imu=imu or ImuParams(),
            radio=RadioParams(),
            seed=seed,
            mount_seed=mount_seed,
            mount_max_deg=mount_max_deg,
        ),
    )
    frames = decode_packets(rig.packets)
    core = FusionCore(rig.segments_by_board, fusion)
    tables = [core.update_frames(frames), core.finish()]
    assert core.calibration is not None  # finish() raises otherwise
    return SimulatedTest(
        AngleTable.concatenate(tables),
        rig.motion,
        side,
        rig.params.host_epoch_us,
        core.calibration,
    )


def true_values_deg(
    simulated: SimulatedTest, test: ClinicalTest, t_host_us: FloatArray
) -> Mapping[str, FloatArray]:
    """The truth of a simulated test at host times: the tested hip's rotation and flexion, the
    knee flexion and the pelvis angles, degrees, each ``(m,)``."""
    side = simulated.side
    t_s = np.clip(simulated.true_time_s(t_host_us), 0.0, simulated.motion.duration_s)
    state = simulated.motion.evaluate(t_s)
    hip = state.hip_angles_deg(side)
    femur_axis = quat_rotate(state.quat_world_femur_wxyz(side), np.array([0.0, 1.0, 0.0]))
    elevation = np.degrees(np.arcsin(np.clip(-femur_axis @ _Z, -1.0, 1.0)))
    value = hip[:, 2] if test.measure == "pointer" else elevation
    return {
        "value": value,
        "hip_rotation": hip[:, 2],
        "hip_flexion": hip[:, 0],
        "thigh_elevation": elevation,
        "knee_flexion": state.knee_angles_deg(side)[:, 0],
        "pelvis_tilt": state.pelvis_angles_deg[:, 0],
        "pelvis_obliquity": state.pelvis_angles_deg[:, 1],
        "pelvis_yaw": state.pelvis_angles_deg[:, 2],
    }
