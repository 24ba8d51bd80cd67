"""Accuracy of the rep segmentation and of the per-rep peak hip rotation against the simulator
(issue #6): rep-count exact rate, peak-IR error, online report delay, online == offline.

Each drawn *set* (:class:`RepSet`) is one short simulated session of one exercise: two sets of
3-6 reps with a 4 s standing rest between them and 3 s after them (one set for 90/90), drawn
depth within the exercise's range, drawn hip internal rotation of both legs with a per-rep
spread, drawn tempo, drawn working side, random strap mountings up to 30 deg off nominal. It
is run through the whole host path (virtual boards with the firmware's 6D filter, radio, link
decoding, the fusion core offline) and segmented with :func:`coxa.analysis.segment_reps`.
Three cases:

- ``clean``: error-free IMUs, no radio loss;
- ``noisy``: typical IMU noise, bias walk and scale errors, initial gyro bias up to 0.5 deg/s
  per axis, clock drift up to 100 ppm, bursty loss up to 10 % (the fusion core's "shipped"
  run of ``tools/accuracy_table.py``);
- ``noisy+drift``: as ``noisy`` with a residual heading drift of 0.1-0.5 deg/s injected per
  board (its ``shipped+drift`` run: a vertical gyro bias the boards' filter did not remove).

Squats are drawn with or without a pelvis board (without one the hip columns are femoral
rotation relative to the room and are compared with the femur relative to a neutral pelvis
facing +X); the other exercises always have one. Exercises that leave a knee almost straight
(step-ups, hinges) reuse the mounts of a separate calibration recording (five squats) with the
same straps, as the product asks.

Per set:

- **count exact**: as many reps found as simulated, each simulated rep's bottom time inside
  exactly one found rep;
- **every per-rep value** (:data:`METRICS`): found minus true per matched rep and leg, where the
  truth applies the same definitions (``docs/analysis.md``) to the simulator's true angles from
  the true rep start to its true end, on a 100 Hz grid (peak IR: the mean over the bottom
  window);
- **lead**: the found lead leg is the simulated working leg (unilateral exercises);
- **online delay** (``--online``): the session fused live (``FusionParams()``) and fed to a
  ``RepCounter`` every 50 ms of host time, as the live commands do; delay = host time at
  which a rep is reported minus its true end (negative: reported before the athlete was fully
  back). Reps that ended before the live core's first output (it calibrates on the first reps)
  are counted apart.

A 90/90 set is done seated on the floor: its recording starts standing still (the neutral pose
the reused calibration needs), then the athlete sits down and does the set, all in one
recording (``coxa.sim.simulate_session``).

``tests/analysis/test_reps_sim.py`` draws sets with Hypothesis through the same functions and
checks online == offline for drawn block splits; this tool runs a fixed set (set ``k`` of an
exercise and case drawn from seed ``k``) and prints the tables.

Usage::

    .venv/bin/python tools/rep_accuracy.py --online --jobs 2  # 8 sets per exercise and case
    .venv/bin/python tools/rep_accuracy.py --sets 3 --exercises squat hinge --online
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

import accuracy_table  # a sibling script (tools/ is first on sys.path)
from coxa.analysis import EXERCISE_IDS, LegRep, Rep, RepCounter, RepParams, segment_reps
from coxa.analysis._metrics import leg_rep
from coxa.body import SegmentName
from coxa.fusion import (
    AngleTable,
    Calibration,
    FrameUnpacker,
    FusionCore,
    FusionParams,
    joint_angles_deg,
)
from coxa.geometry import (
    FloatArray,
    Side,
)
from coxa.sim import (
    EXERCISES,
    TEMPLATES,
    ClockParams,
    ImuParams,
    Motion,
    MotionParams,
    RadioParams,
    RepTruth,
    RigParams,
    RigRecording,
    SessionMotion,
    SessionParams,
    SessionRecording,
    simulate_session,
)
from coxa.sources import ReceivedFrame, decode_packets

Case = Literal["clean", "noisy", "noisy+drift"]
CASES: tuple[Case, ...] = get_args(Case)

#: Exercises of the analysis that the simulator can simulate (all of them once it has them).
SIM_EXERCISES: tuple[str, ...] = tuple(e for e in EXERCISE_IDS if e in EXERCISES)
#: Hip internal rotation at the bottom of a rep, degrees [derived: published single-leg squat
#: peak IR means +- 2 SD, as tools/accuracy_table.py].
IR_RANGE_DEG = (-12.0, 18.0)
#: 90/90 transitions: the working hip swings from ER into IR, the other from IR into ER; bottom
#: IR of the working and the other hip, degrees [assumption: around the simulator's defaults
#: of 35 and -45 deg].
IR_90_90_RANGE_DEG = (20.0, 40.0)
IR_90_90_OTHER_RANGE_DEG = (-50.0, -30.0)
#: Per-rep SD of the IR and depth targets, degrees [assumption].
IR_SPREAD_MAX_DEG = 3.0
DEPTH_SPREAD_MAX_DEG = 4.0
#: Reps per set.
REPS_RANGE = (3, 6)
#: Each drawn session holds two sets with a standing neutral rest between them and a standing
#: rest after the last one (one set for 90/90, seated on the floor), seconds [assumption: what
#: a session looks like; the fusion core re-anchors the headings at standing rests of 2 s,
#: ``docs/fusion.md``].
SETS = 2
SET_REST_S = 4.0
REST_AFTER_S = 3.0
#: Tempo ranges, seconds [assumption: controlled to brisk].
DESCENT_RANGE_S = (1.2, 2.5)
BOTTOM_PAUSE_RANGE_S = (0.2, 0.8)
ASCENT_RANGE_S = (1.0, 2.0)
TOP_PAUSE_RANGE_S = (0.5, 1.5)
#: Noisy case bounds and the injected heading drift: those of tools/accuracy_table.py.
GYR_BIAS_MAX_DEG_S: float = accuracy_table.GYR_BIAS_MAX_DEG_S
DRIFT_MAX_PPM: float = accuracy_table.DRIFT_MAX_PPM
LOSS_MAX: float = accuracy_table.LOSS_MAX
HEADING_DRIFT_RANGE_DEG_S: tuple[float, float] = accuracy_table.HEADING_DRIFT_RANGE_DEG_S
HEADING_DRIFT_SIGN: dict[SegmentName, float] = accuracy_table.HEADING_DRIFT_SIGN
MOUNT_MAX_DEG: float = accuracy_table.MOUNT_MAX_DEG
#: Exercises calibrated on a separate squat recording (a knee stays almost straight, or the
#: set is done seated).
CALIBRATE_FIRST: tuple[str, ...] = ("step_up", "crossover_step_up", "hinge", "90_90")
CALIBRATION_SQUATS: int = accuracy_table.CALIBRATION_SQUATS
#: Exercises done seated on the floor: the recording starts with the athlete standing still
#: for :data:`STAND_S` (the neutral pose the reused calibration needs, as the product asks),
#: who then sits down over :data:`SIT_DOWN_S` and does the set (``coxa.sim.simulate_session``).
SEATED_EXERCISES: tuple[str, ...] = ("90_90",)
STAND_S = 3.0
SIT_DOWN_S = 4.0
#: Grid of the true angles in the truth of the peak values, seconds.
TRUTH_STEP_S = 0.01
#: Live feeding step, microseconds (as ``coxa demo``).
TICK_US = 50_000
_SIDES: tuple[Side, ...] = ("r", "l")


def ir_range(exercise: str, working: bool) -> tuple[float, float]:
    """Range of the drawn bottom IR of the working or the other hip, degrees."""
    if exercise == "90_90":
        return IR_90_90_RANGE_DEG if working else IR_90_90_OTHER_RANGE_DEG
    return IR_RANGE_DEG


@dataclass(frozen=True)
class RepSet:
    """One drawn set (see the module docstring); angles in degrees, times in seconds."""

    exercise: str
    case: Case
    pelvis: bool
    reps: int
    depth_fraction: float
    hip_ir_deg: float
    hip_ir_other_deg: float
    ir_spread_deg: float
    depth_spread_deg: float
    descent_s: float
    bottom_pause_s: float
    ascent_s: float
    top_pause_s: float
    side: Side
    seed: int
    mount_seed: int
    gyr_bias_sd_deg_s: float = 0.0
    drift_ppm: float = 0.0
    loss_fraction: float = 0.0
    heading_drift_deg_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.exercise not in SIM_EXERCISES:
            raise ValueError(f"exercise must be one of {SIM_EXERCISES}, got {self.exercise!r}")
        if not self.pelvis and self.exercise != "squat":
            raise ValueError("sets without a pelvis board are squats only")
        if self.case == "noisy+drift" and len(self.heading_drift_deg_s) != len(self.segments):
            raise ValueError(f"need one heading drift per board of {self.segments}")

    @property
    def segments(self) -> tuple[SegmentName, ...]:
        """Segments with a board."""
        legs: tuple[SegmentName, ...] = ("femur_r", "tibia_r", "femur_l", "tibia_l")
        return ("pelvis", *legs) if self.pelvis else legs

    @staticmethod
    def draw(exercise: str, case: Case, seed: int) -> RepSet:
        """The set of an exercise and case drawn from a seed (the tool's fixed sets)."""
        rng = np.random.default_rng([seed, CASES.index(case), EXERCISE_IDS.index(exercise)])
        pelvis = exercise != "squat" or bool(rng.integers(0, 2))
        n_boards = 5 if pelvis else 4
        noisy = case != "clean"
        return RepSet(
            exercise=exercise,
            case=case,
            pelvis=pelvis,
            reps=int(rng.integers(REPS_RANGE[0], REPS_RANGE[1] + 1)),
            depth_fraction=float(rng.uniform()),
            hip_ir_deg=float(rng.uniform(*ir_range(exercise, working=True))),
            hip_ir_other_deg=float(rng.uniform(*ir_range(exercise, working=False))),
            ir_spread_deg=float(rng.uniform(0.0, IR_SPREAD_MAX_DEG)),
            depth_spread_deg=float(rng.uniform(0.0, DEPTH_SPREAD_MAX_DEG)),
            descent_s=float(rng.uniform(*DESCENT_RANGE_S)),
            bottom_pause_s=float(rng.uniform(*BOTTOM_PAUSE_RANGE_S)),
            ascent_s=float(rng.uniform(*ASCENT_RANGE_S)),
            top_pause_s=float(rng.uniform(*TOP_PAUSE_RANGE_S)),
            side="r" if rng.integers(0, 2) else "l",
            seed=seed,
            mount_seed=int(rng.integers(0, 2**31)),
            gyr_bias_sd_deg_s=float(rng.uniform(0.0, 2 * GYR_BIAS_MAX_DEG_S)) if noisy else 0.0,
            drift_ppm=float(rng.uniform(-DRIFT_MAX_PPM, DRIFT_MAX_PPM)) if noisy else 0.0,
            loss_fraction=float(rng.uniform(0.0, LOSS_MAX)) if noisy else 0.0,
            heading_drift_deg_s=tuple(
                float(r) for r in rng.uniform(*HEADING_DRIFT_RANGE_DEG_S, n_boards)
            )
            if case == "noisy+drift"
            else (),
        )

    def rig_params(self) -> RigParams:
        """The simulator's parameters of this set."""
        template = TEMPLATES[self.exercise]  # pyright: ignore[reportArgumentType]
        depth = template.depth_min_deg + self.depth_fraction * (
            template.depth_max_deg - template.depth_min_deg
        )
        if self.case == "clean":
            imu = ImuParams.clean()
        else:
            imu = ImuParams(
                gyr_bias_sd_rad_s=math.radians(self.gyr_bias_sd_deg_s),
                gyr_bias_max_rad_s=math.radians(GYR_BIAS_MAX_DEG_S),
                clock=ClockParams(drift_ppm=self.drift_ppm),
            )
        standing = template.posture == "standing"
        motion = MotionParams(
            exercise=self.exercise,  # pyright: ignore[reportArgumentType]
            reps=self.reps,
            sets=SETS if standing else 1,
            set_rest_s=SET_REST_S,
            rest_after_s=REST_AFTER_S,
            depth_deg=depth,
            # 90/90 plants both feet: the depth cannot vary from rep to rep.
            depth_spread_deg=0.0 if self.exercise == "90_90" else self.depth_spread_deg,
            hip_ir_bottom_deg=self.hip_ir_deg,
            hip_ir_other_bottom_deg=self.hip_ir_other_deg,
            hip_ir_spread_deg=self.ir_spread_deg,
            descent_s=self.descent_s,
            bottom_pause_s=self.bottom_pause_s,
            ascent_s=self.ascent_s,
            top_pause_s=self.top_pause_s,
            side=self.side,
            seed=self.seed,
        )
        return RigParams(
            motion=motion,
            segments=self.segments,
            imu=imu,
            radio=RadioParams.lossy(self.loss_fraction),
            seed=self.seed,
            mount_seed=self.mount_seed,
            mount_max_deg=MOUNT_MAX_DEG,
        )


@dataclass(frozen=True, eq=False)
class Recording:
    """A simulated set as the host receives it."""

    rep_set: RepSet
    rig: RigRecording | SessionRecording
    frames: list[ReceivedFrame]
    mounts: Calibration | None

    @property
    def motion(self) -> Motion | SessionMotion:
        """The ground-truth motion."""
        return self.rig.motion

    @property
    def rep_truth(self) -> RepTruth:
        """The set's per-rep truth (recording times)."""
        motion = self.rig.motion
        return motion.rep_truths[-1] if isinstance(motion, SessionMotion) else motion.rep_truth

    def host_us(self, t_s: FloatArray) -> FloatArray:
        """Host time of true times, microseconds."""
        return self.rig.params.host_epoch_us + np.asarray(t_s) * 1e6


def _calibration_mounts(params: RigParams) -> Calibration:
    motion = MotionParams(exercise="squat", reps=CALIBRATION_SQUATS, seed=params.motion.seed)
    rig, frames = accuracy_table.simulate_frames(replace(params, motion=motion))
    core = FusionCore(dict(rig.segments_by_board), FusionParams.offline())
    core.update_frames(frames)
    core.finish()
    assert core.calibration is not None  # finish() raises otherwise
    return core.calibration


def _seated_session(params: RigParams) -> SessionParams:
    """Stand still, sit down, the set (:data:`SEATED_EXERCISES`)."""
    motion = params.motion
    stand = MotionParams(
        exercise="rest",
        rest_before_s=STAND_S,
        rest_after_s=0.0,
        side=motion.side,
        body=motion.body,
        seed=motion.seed,
    )
    return SessionParams((stand, motion), transition_s=SIT_DOWN_S)


def simulate(rep_set: RepSet) -> Recording:
    """Simulate a set (and its calibration recording when it needs one)."""
    params = rep_set.rig_params()
    rig: RigRecording | SessionRecording
    if rep_set.exercise in SEATED_EXERCISES:
        rig = simulate_session(_seated_session(params), params)
        frames = decode_packets(rig.packets)
    else:
        rig, frames = accuracy_table.simulate_frames(params)
    mounts = _calibration_mounts(params) if rep_set.exercise in CALIBRATE_FIRST else None
    return Recording(rep_set, rig, frames, mounts)


def _heading_drift(recording: Recording) -> Any:
    """The injected heading drift of a noisy+drift set (tools/accuracy_table.py's model)."""
    rates = dict(
        zip(recording.rep_set.segments, recording.rep_set.heading_drift_deg_s, strict=True)
    )
    return accuracy_table.HeadingDrift(
        {
            board: math.radians(HEADING_DRIFT_SIGN[segment] * rates[segment])
            for board, segment in recording.rig.segments_by_board.items()
        }
    )


def _fuse_blocks(
    recording: Recording, params: FusionParams, frame_groups: list[list[ReceivedFrame]]
) -> list[tuple[int, AngleTable]]:
    """Fuse frame groups in order; each output block with the index of its group (the last
    one, ``len(frame_groups)``, is the core's finish)."""
    core = FusionCore(dict(recording.rig.segments_by_board), params, recording.mounts)
    unpacker = FrameUnpacker()
    drift = _heading_drift(recording) if recording.rep_set.case == "noisy+drift" else None
    out: list[tuple[int, AngleTable]] = []
    for k, group in enumerate(frame_groups):
        blocks = unpacker.unpack(group)
        if drift is not None:
            blocks = [drift.apply(block) for block in blocks]
        out.append((k, core.update(blocks)))
    out.append((len(frame_groups), core.finish()))
    return out


def fuse(recording: Recording) -> AngleTable:
    """Offline fusion of the whole set."""
    chunks = [recording.frames[i : i + 256] for i in range(0, len(recording.frames), 256)]
    blocks = _fuse_blocks(recording, FusionParams.offline(), chunks)
    return AngleTable.concatenate([table for _, table in blocks])


def online_delays_s(recording: Recording) -> tuple[list[float], list[float]]:
    """Live run: delay of each reported rep after its true end, seconds (one per true rep
    matched by a reported rep, in rep order), for the reps that ended after the core's first
    output rows and, separately, for those that ended before (the live core outputs nothing
    until it has calibrated on the first reps, then their rows all at once)."""
    frames = recording.frames
    t0 = frames[0].t_rx_us if frames else 0
    ticks: list[list[ReceivedFrame]] = []
    tick_end: list[float] = []
    i = 0
    t = t0
    while i < len(frames):
        t += TICK_US
        group: list[ReceivedFrame] = []
        while i < len(frames) and frames[i].t_rx_us <= t:
            group.append(frames[i])
            i += 1
        ticks.append(group)
        tick_end.append(float(t))
    counter = RepCounter(recording.rep_set.exercise)
    reported: list[tuple[Rep, float]] = []
    first_output_us = math.inf
    for k, table in _fuse_blocks(recording, FusionParams(), ticks):
        t_report = tick_end[min(k, len(tick_end) - 1)]
        if table.n_rows:
            first_output_us = min(first_output_us, t_report)
        reported += [(rep, t_report) for rep in counter.update(table)]
    return _delays_s(recording, reported, first_output_us)


def _delays_s(
    recording: Recording, reported: list[tuple[Rep, float]], first_output_us: float
) -> tuple[list[float], list[float]]:
    truth = recording.rep_truth
    end_us = recording.host_us(truth.end_t_s)
    bottom_us = recording.host_us(truth.bottom_t_s)
    delays: tuple[list[float], list[float]] = ([], [])
    for j in range(end_us.size):
        hits = [t for rep, t in reported if rep.t_start_us <= bottom_us[j] <= rep.t_end_us]
        if len(hits) == 1:
            delays[int(end_us[j] < first_output_us)].append(float(hits[0] - end_us[j]) / 1e6)
    return delays


def true_rows(recording: Recording, t_s: FloatArray) -> dict[str, FloatArray]:
    """True columns at true times, in the angle table's names and signs (``docs/simulator.md``,
    *Per-rep truth*): the joint angles of the set's segments (hip columns relative to a
    neutral pelvis facing +X without a pelvis board), plus ``shank_inclination_*``."""
    state = recording.motion.evaluate(t_s)
    quats = {segment: state.quat_world_wxyz(segment) for segment in recording.rep_set.segments}
    out = joint_angles_deg(quats, np.zeros(t_s.size))
    for side in _SIDES:
        out[f"shank_inclination_{side}"] = state.shank_inclination_deg(side)
    return out


def _window(signal: FloatArray, width_deg: float) -> npt.NDArray[np.bool_]:
    return signal >= signal.max() - width_deg


def _bottom_signal(cols: dict[str, FloatArray], params: RepParams, side: Side) -> FloatArray:
    """The bottom-window signal of a leg in one rep's true angles."""
    if params.bottom_signal == "drive":
        swing = cols["hip_rotation_r"] - cols["hip_rotation_l"]
        rises = abs(swing.max() - swing[0]) >= abs(swing.min() - swing[0])
        return swing if rises else -swing
    if params.bottom_signal == "hip_flexion":
        return cols[f"hip_flexion_{side}"]
    return cols[f"knee_angle_{side}"]


def true_leg_reps(recording: Recording) -> list[dict[Side, LegRep]]:
    """Per true rep, each leg's values by the definitions of ``docs/analysis.md`` applied to the
    true rows from the rep's true start to its true end (100 Hz grid); the bottom window is the
    working leg's for both legs of a unilateral exercise."""
    params = RepParams.for_exercise(recording.rep_set.exercise)
    truth = recording.rep_truth
    working = truth.working_side
    out: list[dict[Side, LegRep]] = []
    for start, end in zip(truth.start_t_s, truth.end_t_s, strict=True):
        t_s = np.arange(start, end + 1e-9, TRUTH_STEP_S)
        rows = true_rows(recording, t_s)
        for name in ("pelvis_rotation", "pelvis_list", "pelvis_tilt"):
            rows.setdefault(name, np.full(t_s.size, np.nan))
        legs: dict[Side, LegRep] = {}
        for side in _SIDES:
            bilateral = params.lead == "both"
            signal = _bottom_signal(rows, params, side if bilateral else working)
            bottom = _window(signal, params.bottom_window_deg)
            lead = bilateral or side == working
            legs[side] = leg_rep(
                side, lead, recording.host_us(t_s), rows, bottom, params.start_window_s
            )
        out.append(legs)
    return out


def match(reps: Sequence[Rep], recording: Recording) -> list[int | None]:
    """For each true rep, the index in ``reps`` of the one found rep holding its bottom time
    (None when there is none or more than one)."""
    truth = recording.rep_truth
    bottoms = recording.host_us(truth.bottom_t_s)
    out: list[int | None] = []
    for b in bottoms:
        hits = [i for i, rep in enumerate(reps) if rep.t_start_us <= b <= rep.t_end_us]
        out.append(hits[0] if len(hits) == 1 else None)
    return out


#: LegRep values compared with the truth.
METRICS: tuple[str, ...] = (
    "peak_hip_rotation_deg",
    "hip_rotation_excursion_deg",
    "hip_rotation_start_deg",
    "peak_knee_deg",
    "peak_hip_flexion_deg",
    "hip_flexion_bottom_deg",
    "shank_inclination_start_deg",
    "shank_inclination_bottom_deg",
    "knee_valgus_proxy_deg",
    "pelvis_rotation_change_deg",
    "pelvis_obliquity_change_deg",
    "pelvis_tilt_change_deg",
    "eccentric_s",
    "concentric_s",
)


@dataclass(frozen=True)
class SetResult:
    """What one set measured: found minus true value per metric, over the matched reps and
    every leg (NaN pairs left out)."""

    rep_set: RepSet
    true_reps: int
    found_reps: int
    exact: bool
    errors: dict[str, tuple[float, ...]]
    lead_correct: bool
    online_delays_s: tuple[float, ...]
    backlog_delays_s: tuple[float, ...]

    @property
    def ir_errors_deg(self) -> tuple[float, ...]:
        """Peak hip rotation errors, degrees."""
        return self.errors["peak_hip_rotation_deg"]


def evaluate(recording: Recording, reps: list[Rep]) -> SetResult:
    """Compare the found reps with the truth."""
    truth = recording.rep_truth
    matched = match(reps, recording)
    found = sorted(m for m in matched if m is not None)
    exact = len(reps) == truth.end_t_s.size and found == list(range(len(reps)))
    true_legs = true_leg_reps(recording)
    errors: dict[str, list[float]] = {name: [] for name in METRICS}
    lead_ok = True
    unilateral = RepParams.for_exercise(recording.rep_set.exercise).lead != "both"
    for j, m in enumerate(matched):
        if m is None:
            continue
        rep = reps[m]
        for side, leg in rep.legs.items():
            for name in METRICS:
                error = getattr(leg, name) - getattr(true_legs[j][side], name)
                if math.isfinite(error):
                    errors[name].append(float(error))
        if unilateral and rep.lead_sides != (truth.working_side,):
            lead_ok = False
    return SetResult(
        rep_set=recording.rep_set,
        true_reps=int(truth.end_t_s.size),
        found_reps=len(reps),
        exact=exact,
        errors={name: tuple(values) for name, values in errors.items()},
        lead_correct=lead_ok,
        online_delays_s=(),
        backlog_delays_s=(),
    )


def measure(rep_set: RepSet, online: bool = False) -> SetResult:
    """Simulate, fuse and segment one set and compare it with the truth."""
    recording = simulate(rep_set)
    table = fuse(recording)
    result = evaluate(recording, segment_reps(table, rep_set.exercise))
    if online:
        live, backlog = online_delays_s(recording)
        result = replace(result, online_delays_s=tuple(live), backlog_delays_s=tuple(backlog))
    return result


def _stats(values: Sequence[float]) -> str:
    if not values:
        return "-"
    a = np.abs(np.asarray(values))
    return f"{np.median(a):.2f} / {np.percentile(a, 95):.2f} / {a.max():.2f}"


def markdown_table(results: Sequence[SetResult]) -> str:
    """Per exercise and case: sets, rep-count exact rate, lead correct, |peak IR error|
    median / p95 / max, online delay median / max."""
    lines = [
        "| exercise | case | sets | reps | count exact | lead correct | abs. peak IR error deg "
        "median / p95 / max | online delay s median / max | before calibration: reps, "
        "max delay s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[SetResult]] = {}
    for r in results:
        groups.setdefault((r.rep_set.exercise, r.rep_set.case), []).append(r)
    for exercise, case in [*sorted(groups), *(("all", c) for c in CASES)]:
        group = groups.get((exercise, case)) or [
            r for r in results if exercise == "all" and r.rep_set.case == case
        ]
        if not group:
            continue
        exact = sum(r.exact for r in group)
        lead = sum(r.lead_correct for r in group)
        errors = [e for r in group for e in r.ir_errors_deg]
        delays = [d for r in group for d in r.online_delays_s]
        delay = f"{statistics.median(delays):+.2f} / {max(delays):+.2f}" if delays else "-"
        backlog = [d for r in group for d in r.backlog_delays_s]
        before = f"{len(backlog)}, {max(backlog):+.2f}" if backlog else "0"
        lines.append(
            f"| {exercise} | {case} | {len(group)} | {sum(r.true_reps for r in group)} | "
            f"{exact}/{len(group)} ({exact / len(group):.1%}) | {lead}/{len(group)} | "
            f"{_stats(errors)} | {delay} | {before} |"
        )
    cases = [c for c in CASES if any(r.rep_set.case == c for r in results)]
    lines += [
        "",
        "Every per-rep value: found minus true over the matched reps and both "
        "legs, median (signed) and absolute error median / p95 / max; n pairs.",
        "",
        "| value |" + "".join(f" {case} |" for case in cases),
        "|---|" + "---|" * len(cases),
    ]
    for name in METRICS:
        cells: list[str] = []
        for case in cases:
            values = [e for r in results if r.rep_set.case == case for e in r.errors[name]]
            signed = f"{statistics.median(values):+.2f}; " if values else ""
            cells.append(f"{signed}{_stats(values)} (n {len(values)})")
        lines.append(f"| {name} |" + "".join(f" {c} |" for c in cells))
    return "\n".join(lines)


def _describe(r: SetResult) -> str:
    s = r.rep_set
    worst = max((abs(e) for e in r.ir_errors_deg), default=math.nan)
    return (
        f"{s.exercise} {s.case} seed {s.seed} side {s.side} pelvis {s.pelvis}: reps "
        f"{r.found_reps}/{r.true_reps} exact {r.exact} lead {r.lead_correct} worst IR error "
        f"{worst:.2f} delays {[round(d, 2) for d in r.online_delays_s]} before calibration "
        f"{[round(d, 2) for d in r.backlog_delays_s]}"
    )


def _measure_job(job: tuple[RepSet, bool]) -> SetResult:
    return measure(*job)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=8, help="sets per exercise and case")
    parser.add_argument(
        "--exercises", nargs="+", choices=SIM_EXERCISES, default=list(SIM_EXERCISES)
    )
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--online", action="store_true", help="also measure the live delay")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--verbose", action="store_true", help="one line per set too")
    args = parser.parse_args(argv)
    if args.sets < 1:
        parser.error("--sets must be >= 1")
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore", RuntimeWarning)
    jobs = [
        (RepSet.draw(exercise, case, k), bool(args.online))
        for exercise in args.exercises
        for case in args.cases
        for k in range(args.sets)
    ]
    started = time.perf_counter()
    results = accuracy_table.run_jobs(_measure_job, jobs, args.jobs)
    if args.verbose:
        for result in results:
            print(_describe(result))
    print(markdown_table(results))
    print(f"\n{len(jobs)} sets in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
