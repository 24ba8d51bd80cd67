"""Accuracy of the fusion core against the simulator (issue #4): the cases, and the measured table.

Three cases of 5-minute sessions (four sets of twelve reps with 20 s standing neutral rests
between them), each with random strap mountings up to 30 deg off nominal, the default (typical)
IMU noise, an initial gyro bias up to 0.5 deg/s per axis and board, a clock drift up to 100 ppm
and bursty radio loss up to 10 %:

- ``pelvis``: five boards (pelvis, thighs, shanks); squat, split squat, step-up or hinge; hip
  internal rotation (``hip_rotation_r``/``_l``, femur relative to pelvis) and knee flexion
  (``knee_angle_r``/``_l``);
- ``room``: thighs and shanks only, bilateral squats; the hip columns are then femoral rotation
  relative to the room, compared with the femur relative to a neutral pelvis facing +X;
- ``sta``: as ``pelvis`` with the thigh soft-tissue artefact on (0.05 deg per deg of knee
  flexion plus the dynamic oscillator at 1 deg per m/s²): about +-5 deg of axial wobble.

Step-ups and hinges cannot calibrate every board from their own movement (the trailing leg of
a step-up hardly bends its knee), so their sessions reuse the mounts of a separate calibration
recording with the same boards and straps (stand still, five slow squats), as the product asks
before such exercises; squats and split squats calibrate on the session itself.

The boards run the firmware's own 6D filter, which estimates the gyro bias at every standing
rest, so the simulated boards' headings hardly drift (measured: within about 2 deg over the 5
minutes). Each session is therefore also fused with a **residual heading drift** injected: every
board's orientation turned about the vertical at a constant rate of 0.1 to 0.5 deg/s (drawn per
board; pelvis and shanks turn one way, thighs the other, so that every joint sees at least
0.2 deg/s of relative drift), what a 6D filter reports with a vertical gyro bias it did not
remove (a board without rest bias estimation, or orientation-only input). That is the drift the
core's heading correction (re-anchoring at rests, drift rates, knee hinge) exists for.

Every session and variant runs through the fusion core as shipped and with
``HeadingParams.disabled()``. RMSE is over the output rows where the estimate is finite, against
the truth at the same host time; every row comes after the calibration rest (the core starts its
output there). Hip adduction is not compared: the neutral-pose assumption of the calibration
gives it a constant offset by design.

The simulator gives every board of a session the same clock drift (only the offset is drawn per
board), so the drift is drawn per session.

``tests/fusion/test_accuracy.py`` draws sessions with Hypothesis and checks the bounds; this
tool runs a fixed set (session ``k`` of a case is drawn from seed ``k``) and prints the median
and maximum RMSE per case and column as a markdown table.

Usage::

    .venv/bin/python tools/accuracy_table.py                 # 10 sessions per case
    .venv/bin/python tools/accuracy_table.py --sessions 3 --jobs 2 --verbose
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal, TypeVar, get_args

import numpy as np

from coxa.body import SegmentName
from coxa.fusion import (
    AngleTable,
    Calibration,
    CalibrationError,
    FrameUnpacker,
    FusionCore,
    FusionParams,
    HeadingParams,
    SampleBlock,
)
from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    FloatArray,
    Side,
    hip_angles_deg,
    quat_conjugate,
    quat_from_axis_angle,
    quat_multiply,
    quat_rotate,
)
from coxa.sim import (
    TEMPLATES,
    ClockParams,
    Exercise,
    ImuParams,
    Motion,
    MotionParams,
    RadioParams,
    RigParams,
    RigRecording,
    simulate_rig,
)
from coxa.sources import ReceivedFrame, decode_packets

_T = TypeVar("_T")
_R = TypeVar("_R")
Case = Literal["pelvis", "room", "sta"]
CASES: tuple[Case, ...] = get_args(Case)
#: The pipelines each session goes through: as shipped or with the heading correction disabled,
#: on the simulated streams or with a residual heading drift injected.
Run = Literal["shipped", "disabled", "shipped+drift", "disabled+drift"]
RUNS: tuple[Run, ...] = get_args(Run)

#: Exercises of the cases with a pelvis board.
EXERCISES: tuple[Exercise, ...] = ("squat", "ffe_split_squat", "step_up", "hinge")
#: Hip internal rotation at the bottom of a rep, degrees [derived: the only published values,
#: bodyweight single-leg squat peak IR -1.8 +- 5.7 deg (men) and 3.0 +- 7.3 deg (women), domain
#: notes section 6, widened to their means +- 2 SD].
IR_RANGE_DEG = (-12.0, 18.0)
#: Largest strap rotation off the nominal placement, degrees.
MOUNT_MAX_DEG = 30.0
#: Bound of each axis's initial gyro bias (the SD of the draw ranges up to twice it), deg/s.
GYR_BIAS_MAX_DEG_S = 0.5
#: Largest clock drift, parts per million (either sign).
DRIFT_MAX_PPM = 100.0
#: Largest long-run share of radio packets lost (in bursts of 4 on average).
LOSS_MAX = 0.1
#: Range of the injected residual heading drift per board, deg/s: up to a vertical gyro bias at
#: the bound, and at least a fifth of it.
HEADING_DRIFT_RANGE_DEG_S = (0.1, GYR_BIAS_MAX_DEG_S)
#: Direction of each segment's injected heading drift [assumption: neighbouring segments drift
#: in opposite directions, so every hip and knee sees at least twice the smallest drift; with
#: free signs two boards could drift alike, and a common drift leaves every joint angle exact].
HEADING_DRIFT_SIGN: dict[SegmentName, float] = {
    "pelvis": 1.0,
    "femur_r": -1.0,
    "femur_l": -1.0,
    "tibia_r": 1.0,
    "tibia_l": 1.0,
}
#: Thigh soft-tissue artefact of the ``sta`` case: quasi-static part, deg per deg of knee flexion.
STA_DEG_PER_KNEE_FLEXION_DEG = 0.05
#: Thigh soft-tissue artefact of the ``sta`` case: gain of the dynamic part, deg/(m/s²).
STA_GAIN_DEG_PER_M_S2 = 1.0
#: Exercises whose own movement cannot calibrate every board: the trailing leg of a step-up
#: bends its knee about 5 deg, a shallow hinge both knees under 10 deg. Their sessions reuse
#: the mounts of a separate calibration recording with the same straps, as the product asks
#: ("stand still, then three slow squats") before such exercises.
CALIBRATE_FIRST: tuple[Exercise, ...] = ("step_up", "hinge")
#: Squats of the calibration recording.
CALIBRATION_SQUATS = 5
#: Sets, reps per set and standing neutral rest between sets: 301-312 s at the default tempo.
SETS, REPS, SET_REST_S = 4, 12, 20.0

#: RMSE bounds per case, degrees, by output column.
BOUNDS_DEG: dict[Case, dict[str, float]] = {
    "pelvis": {
        "hip_rotation_r": 2.5,
        "hip_rotation_l": 2.5,
        "knee_angle_r": 2.0,
        "knee_angle_l": 2.0,
    },
    "room": {"hip_rotation_r": 3.0, "hip_rotation_l": 3.0},
    "sta": {"hip_rotation_r": 5.0, "hip_rotation_l": 5.0},
}
#: Segments with a board, per case.
SEGMENTS: dict[Case, tuple[SegmentName, ...]] = {
    "pelvis": ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l"),
    "room": ("femur_r", "tibia_r", "femur_l", "tibia_l"),
    "sta": ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l"),
}

_UP = np.array([0.0, 0.0, 1.0])
#: Joint angles compared with the truth (the hip ones relative to the room in the room case).
_COMPARED = ("hip_rotation", "knee_angle", "hip_flexion")


@dataclass(frozen=True)
class Session:
    """One simulated session of an accuracy case.

    Attributes
    ----------
    case : {'pelvis', 'room', 'sta'}
    exercise : str
        One of :data:`EXERCISES` (``'squat'`` in the ``room`` case).
    depth_fraction : float
        Peak knee flexion within the exercise's depth range, 0 (shallowest) to 1 (deepest).
    hip_ir_bottom_deg, hip_ir_other_bottom_deg : float
        Hip internal rotation at the bottom of each rep, working and other leg, degrees.
    seed : int
        Root seed of the rig (board ids, clock offsets, IMU errors, radio) and of the motion.
    mount_seed : int
        Seed of the random strap rotations (up to :data:`MOUNT_MAX_DEG`).
    gyr_bias_sd_deg_s : float
        SD of each axis's initial gyro bias, deg/s, clipped at :data:`GYR_BIAS_MAX_DEG_S`.
    drift_ppm : float
        Clock drift of every board, ppm.
    loss_fraction : float
        Long-run share of radio packets lost, in bursts.
    heading_drift_deg_s : tuple of float
        Size of the injected residual heading drift of each board, in the order of
        ``SEGMENTS[case]``, deg/s, within :data:`HEADING_DRIFT_RANGE_DEG_S`; its direction is
        :data:`HEADING_DRIFT_SIGN` (used by the ``+drift`` runs only).
    """

    case: Case
    exercise: Exercise
    depth_fraction: float
    hip_ir_bottom_deg: float
    hip_ir_other_bottom_deg: float
    seed: int
    mount_seed: int
    gyr_bias_sd_deg_s: float
    drift_ppm: float
    loss_fraction: float
    heading_drift_deg_s: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.exercise not in EXERCISES:
            raise ValueError(f"exercise must be one of {EXERCISES}, got {self.exercise!r}")
        if self.case == "room" and self.exercise != "squat":
            raise ValueError("the room case is bilateral squats only")
        if len(self.heading_drift_deg_s) != len(SEGMENTS[self.case]):
            raise ValueError(f"need one heading drift per board of {SEGMENTS[self.case]}")
        low, high = HEADING_DRIFT_RANGE_DEG_S
        if not all(low <= rate <= high for rate in self.heading_drift_deg_s):
            raise ValueError(f"heading drifts must lie in [{low}, {high}] deg/s")

    @staticmethod
    def draw(case: Case, seed: int) -> Session:
        """The session of a case drawn from a seed (the fixed set of the table)."""
        rng = np.random.default_rng([seed, CASES.index(case)])
        exercise: Exercise = "squat" if case == "room" else EXERCISES[seed % len(EXERCISES)]
        return Session(
            case=case,
            exercise=exercise,
            depth_fraction=float(rng.uniform(0.0, 1.0)),
            hip_ir_bottom_deg=float(rng.uniform(*IR_RANGE_DEG)),
            hip_ir_other_bottom_deg=float(rng.uniform(*IR_RANGE_DEG)),
            seed=seed,
            mount_seed=int(rng.integers(0, 2**31)),
            gyr_bias_sd_deg_s=float(rng.uniform(0.0, 2.0 * GYR_BIAS_MAX_DEG_S)),
            drift_ppm=float(rng.uniform(-DRIFT_MAX_PPM, DRIFT_MAX_PPM)),
            loss_fraction=float(rng.uniform(0.0, LOSS_MAX)),
            heading_drift_deg_s=tuple(
                float(r) for r in rng.uniform(*HEADING_DRIFT_RANGE_DEG_S, len(SEGMENTS[case]))
            ),
        )

    def rig_params(self) -> RigParams:
        """The simulator's parameters of this session."""
        template = TEMPLATES[self.exercise]
        depth = template.depth_min_deg + self.depth_fraction * (
            template.depth_max_deg - template.depth_min_deg
        )
        sta = self.case == "sta"
        imu = ImuParams(
            gyr_bias_sd_rad_s=math.radians(self.gyr_bias_sd_deg_s),
            gyr_bias_max_rad_s=math.radians(GYR_BIAS_MAX_DEG_S),
            clock=ClockParams(drift_ppm=self.drift_ppm),
            thigh_sta_deg_per_knee_flexion_deg=STA_DEG_PER_KNEE_FLEXION_DEG if sta else 0.0,
            thigh_sta_gain_deg_per_m_s2=STA_GAIN_DEG_PER_M_S2 if sta else 0.0,
        )
        motion = MotionParams(
            exercise=self.exercise,
            reps=REPS,
            sets=SETS,
            set_rest_s=SET_REST_S,
            depth_deg=depth,
            hip_ir_bottom_deg=self.hip_ir_bottom_deg,
            hip_ir_other_bottom_deg=self.hip_ir_other_bottom_deg,
            seed=self.seed,
        )
        return RigParams(
            motion=motion,
            segments=SEGMENTS[self.case],
            imu=imu,
            radio=RadioParams.lossy(self.loss_fraction),
            seed=self.seed,
            mount_seed=self.mount_seed,
            mount_max_deg=MOUNT_MAX_DEG,
        )


@dataclass(frozen=True, eq=False)
class Recording:
    """A simulated session as the host receives it, with the truth on demand.

    Attributes
    ----------
    session : Session
    motion : Motion
        The ground-truth motion.
    host_epoch_us : int
        Host time at true time 0, microseconds.
    segments_by_board : dict of int to str
    frames : list of ReceivedFrame
        Decoded data frames of every board, in host receive order.
    mounts : Calibration or None
        For the exercises of :data:`CALIBRATE_FIRST`, the calibration of a separate recording
        with the same boards and straps (:func:`calibration_recording`); the session reuses
        its mounts.
    """

    session: Session
    motion: Motion
    host_epoch_us: int
    segments_by_board: dict[int, SegmentName]
    frames: list[ReceivedFrame]
    mounts: Calibration | None

    def truth_deg(self, t_host_us: FloatArray) -> dict[str, FloatArray]:
        """True values of the compared columns at host times, degrees, each ``(m,)``."""
        t_s = (t_host_us - self.host_epoch_us) / 1e6
        state = self.motion.evaluate(np.clip(t_s, 0.0, self.motion.duration_s))
        truth: dict[str, FloatArray] = {}
        sides: tuple[Side, ...] = ("r", "l")
        for side in sides:
            if self.session.case == "room":
                femur = state.quat_world_femur_wxyz(side)
                room = np.broadcast_to(QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ, femur.shape)
                hip = hip_angles_deg(room, femur, side)
            else:
                hip = state.hip_angles_deg(side)
            truth[f"hip_flexion_{side}"] = hip[:, 0]
            truth[f"hip_rotation_{side}"] = hip[:, 2]
            truth[f"knee_angle_{side}"] = state.knee_angles_deg(side)[:, 0]
        return truth

    def drift_rad_s(self) -> dict[int, float]:
        """Injected residual heading drift of each board, rad/s."""
        by_segment = dict(
            zip(SEGMENTS[self.session.case], self.session.heading_drift_deg_s, strict=True)
        )
        return {
            b: math.radians(HEADING_DRIFT_SIGN[s] * by_segment[s])
            for b, s in self.segments_by_board.items()
        }


def simulate_frames(params: RigParams) -> tuple[RigRecording, list[ReceivedFrame]]:
    """Simulate a rig and decode its packets into frames as the host does."""
    rig = simulate_rig(params)
    return rig, decode_packets(rig.packets)


def calibration_mounts(session: Session) -> Calibration:
    """Calibrate the session's boards on a separate recording: the same rig and straps, the
    athlete standing still and then doing :data:`CALIBRATION_SQUATS` slow squats.

    Raises
    ------
    CalibrationError
        The core refused that recording.
    """
    params = session.rig_params()
    motion = replace(
        params.motion,
        exercise="squat",
        reps=CALIBRATION_SQUATS,
        sets=1,
        depth_deg=None,
        hip_ir_bottom_deg=None,
        hip_ir_other_bottom_deg=None,
    )
    rig, frames = simulate_frames(replace(params, motion=motion))
    core = FusionCore(dict(rig.segments_by_board), FusionParams.offline())
    core.update_frames(frames)
    core.finish()
    assert core.calibration is not None  # finish() raises otherwise
    return core.calibration


def simulate(session: Session) -> Recording:
    """Simulate a session (and its calibration recording when it needs one) and decode its
    packets into frames."""
    rig, frames = simulate_frames(session.rig_params())
    mounts = calibration_mounts(session) if session.exercise in CALIBRATE_FIRST else None
    return Recording(
        session, rig.motion, rig.params.host_epoch_us, dict(rig.segments_by_board), frames, mounts
    )


def fusion_params(run: Run) -> FusionParams:
    """Offline parameters, with the heading correction as shipped or disabled."""
    if run.startswith("shipped"):
        return FusionParams.offline()
    return FusionParams.offline(heading=HeadingParams.disabled())


class HeadingDrift:
    """Turns each board's orientation about the vertical at a constant rate from its first
    sample on (and adds that rate to its gyroscope), as a 6D filter reports a vertical gyro bias
    it has not removed."""

    def __init__(self, rate_rad_s: dict[int, float]) -> None:
        self._rate = rate_rad_s
        self._t0_us: dict[int, int] = {}

    def apply(self, block: SampleBlock) -> SampleBlock:
        rate = self._rate[block.board_id]
        t0 = self._t0_us.setdefault(block.board_id, int(block.t_device_us[0]))
        angle = rate * (block.t_device_us - t0) * 1e-6
        quat = quat_multiply(quat_from_axis_angle(_UP, angle), block.quat_wxyz)
        gyr = block.gyr_rad_s
        if gyr is not None:
            gyr = gyr + quat_rotate(quat_conjugate(quat), np.outer(np.full(angle.size, rate), _UP))
        return dataclasses.replace(block, quat_wxyz=quat, gyr_rad_s=gyr)


def fuse(recording: Recording, run: Run, chunk_frames: Sequence[int] = (256,)) -> AngleTable:
    """Run the fusion core over a recording, feeding the frames in chunks of the given sizes
    (cycled).

    Raises
    ------
    CalibrationError
        The core found no calibration in the whole recording.
    """
    if not chunk_frames or min(chunk_frames) < 1:
        raise ValueError("chunk sizes must be >= 1")
    core = FusionCore(recording.segments_by_board, fusion_params(run), recording.mounts)
    unpacker = FrameUnpacker()
    drift = HeadingDrift(recording.drift_rad_s()) if run.endswith("+drift") else None
    tables: list[AngleTable] = []
    start, k = 0, 0
    while start < len(recording.frames):
        stop = start + chunk_frames[k % len(chunk_frames)]
        blocks = unpacker.unpack(recording.frames[start:stop])
        if drift is not None:
            blocks = [drift.apply(block) for block in blocks]
        tables.append(core.update(blocks))
        start, k = stop, k + 1
    tables.append(core.finish())
    return AngleTable.concatenate(tables)


def rmse_deg(recording: Recording, table: AngleTable) -> dict[str, float]:
    """RMSE of the compared columns over the rows where the estimate is finite, degrees (NaN for
    a column without any finite row)."""
    truth = recording.truth_deg(table.t_us)
    out: dict[str, float] = {}
    for name, true in truth.items():
        estimate = table.angles_deg[name]
        ok = np.isfinite(estimate)
        error = estimate[ok] - true[ok]
        out[name] = float(np.sqrt(np.mean(error**2))) if error.size else math.nan
    return out


def over_bounds(case: Case, rmse: dict[str, float]) -> dict[str, float]:
    """The bounded columns whose RMSE is above the bound (or NaN), degrees."""
    return {
        name: rmse[name]
        for name, bound in BOUNDS_DEG[case].items()
        if not rmse[name] <= bound  # NaN counts as over
    }


@dataclass(frozen=True)
class Result:
    """RMSE of one session per run, degrees by column; a run whose calibration the core refused
    has its message in ``refused`` instead."""

    session: Session
    rmse: dict[Run, dict[str, float]]
    refused: dict[Run, str]


def measure(session: Session) -> Result:
    """Simulate a session and fuse it in every run."""
    recording = simulate(session)
    rmse: dict[Run, dict[str, float]] = {}
    refused: dict[Run, str] = {}
    for run in RUNS:
        try:
            rmse[run] = rmse_deg(recording, fuse(recording, run))
        except CalibrationError as error:
            refused[run] = str(error)
    return Result(session, rmse, refused)


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


def markdown_table(results: Iterable[Result]) -> str:
    """Median / maximum RMSE per case and column for every run, how many sessions stayed within
    each bound, and how many met every bound of their case, as markdown."""
    by_case: dict[Case, list[Result]] = {}
    for result in results:
        by_case.setdefault(result.session.case, []).append(result)
    lines = [
        "RMSE in degrees, median / max over the fused sessions; in brackets the sessions within "
        "the bound / the sessions fused. Columns without a bound are for information.",
        "",
        "| case | column | bound |" + "".join(f" {run} |" for run in RUNS),
        "|---|---|---|" + "---|" * len(RUNS),
    ]
    for case, group in by_case.items():
        bounds = BOUNDS_DEG[case]
        compared = [f"{angle}_{side}" for angle in _COMPARED for side in ("r", "l")]
        for name in [*bounds, *(c for c in compared if c not in bounds)]:
            bound = bounds.get(name)
            cells: list[str] = []
            for run in RUNS:
                values = [r.rmse[run][name] for r in group if run in r.rmse]
                cell = _cell(values)
                if bound is not None and values:
                    cell += f" ({sum(v <= bound for v in values)}/{len(values)})"
                cells.append(cell)
            bound_text = "-" if bound is None else f"{bound:.1f}"
            lines.append(f"| {case} | {name} | {bound_text} |" + "".join(f" {c} |" for c in cells))
        lines.append(
            f"| {case} | **every bound met** | - |"
            + "".join(
                f" {sum(run in r.rmse and not over_bounds(case, r.rmse[run]) for r in group)}"
                f"/{len(group)} |"
                for run in RUNS
            )
        )
        if any(r.refused for r in group):
            lines.append(
                f"| {case} | calibration refused | - |"
                + "".join(f" {sum(run in r.refused for r in group)}/{len(group)} |" for run in RUNS)
            )
    lines += [
        "",
        "Sessions meeting every bound of their case (refused calibrations count as not met), by "
        "exercise:",
        "",
        "| case | exercise |" + "".join(f" {run} |" for run in RUNS),
        "|---|---|" + "---|" * len(RUNS),
    ]
    for case, group in by_case.items():
        for exercise in EXERCISES:
            subset = [r for r in group if r.session.exercise == exercise]
            if not subset:
                continue
            met = [
                sum(run in r.rmse and not over_bounds(case, r.rmse[run]) for r in subset)
                for run in RUNS
            ]
            lines.append(f"| {case} | {exercise} |" + "".join(f" {m}/{len(subset)} |" for m in met))
    return "\n".join(lines)


def _describe(result: Result) -> str:
    s = result.session
    lines = [
        f"{s.case} {s.seed}: {s.exercise} depth {s.depth_fraction:.2f} IR "
        f"{s.hip_ir_bottom_deg:.0f}/{s.hip_ir_other_bottom_deg:.0f} bias SD "
        f"{s.gyr_bias_sd_deg_s:.2f} clock {s.drift_ppm:.0f} ppm loss {s.loss_fraction:.2f}"
    ]
    for run in RUNS:
        if run in result.refused:
            lines.append(f"  {run:15s} refused: {result.refused[run]}")
        else:
            values = " ".join(f"{n}={v:.2f}" for n, v in result.rmse[run].items())
            lines.append(f"  {run:15s} {values}")
    return "\n".join(lines)


def run_jobs(function: Callable[[_T], _R], items: Sequence[_T], jobs: int) -> list[_R]:
    """``function`` of every item, in order, in ``jobs`` worker processes (in this one when
    ``jobs`` is 1); the accuracy tools share it."""
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            return list(pool.map(function, items))
    return [function(item) for item in items]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="sessions per case")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--verbose", action="store_true", help="one block per session too")
    args = parser.parse_args(argv)
    # The core logs refused calibrations and numpy warns on all-NaN stretches; the table says it.
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore", RuntimeWarning)
    sessions = [Session.draw(case, k) for case in args.cases for k in range(args.sessions)]
    started = time.perf_counter()
    results = run_jobs(measure, sessions, args.jobs)
    if args.verbose:
        for result in results:
            print(_describe(result))
    print(markdown_table(results))
    print(f"\n{len(sessions)} sessions in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
