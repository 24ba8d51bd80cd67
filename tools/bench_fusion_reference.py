"""Reference side of the fusion benchmark (issue #4): the fusion steps done with qmt and SciPy.

The steps of coxa's offline fusion core, done with published reference libraries instead:

1. Segment orientations: each board orientation ``q_world_sensor`` times the inverse of its
   mounting ``q_segment_sensor`` (SciPy ``Rotation``).
2. Knee-hinge heading correction, per leg: ``qmt.headingCorrection`` (qmt 0.2.4, the toolbox of
   Laidig, Seel et al.; hinge method: Laidig D., Schauer T., Seel T. (2017) "Exploiting
   kinematic constraints to compensate magnetic disturbances when calculating joint angles of
   approximate hinge joints from orientation estimates of inertial sensors", ICORR 2017,
   971-976, PMID 28813947; its 2-DoF sibling: Laidig D., Lehmann D., Bégin M.-A., Seel T.
   (2019) EMBC 2019, 1233-1238, doi:10.1109/EMBC.2019.8857535) between thigh and shank with
   qmt's defaults and its one-degree-of-freedom ("1D") joint: the knee axis, the segment Z axis
   (medio-lateral), given once as ``joint`` because qmt's 1D method needs the axis to have the
   same coordinates in both frames; the segment frames of step 1 give exactly that.
   It returns the shank orientation in the thigh's heading frame.
3. Joint angles with SciPy: hip = femur relative to pelvis, knee = heading-corrected tibia
   relative to femur, intrinsic Z-X'-Y'' Cardan angles (SciPy ``'ZXY'``), signs as
   ``coxa.geometry`` (+flexion, +adduction, +internal rotation on both sides; knee flexion
   positive), columns named as OpenSim's Rajagopal model.

Not done here (nor by qmt's hinge method): the pelvis-femur heading. The hip is a ball joint,
so the hip columns are only right when the pelvis and femur boards share a heading; the
benchmark is about speed of the listed steps.

Quaternions are scalar-first ``wxyz`` (qmt uses the same order); SciPy is given them with
``scalar_first=True``, the one place the order crosses.

Synthetic session (:func:`synthetic_session`): squat sets from ``coxa.sim`` (truth orientations
of the five default board mountings plus the simulated gyroscope, ``ImuParams`` defaults with an
ideal clock so that samples are equidistant, as qmt requires), one block of sets tiled to the
requested duration, then each board's orientation turned about the vertical by a heading error
as a 6D filter without magnetometer would report it. The same seed gives the same data, and a
shorter session is a prefix of a longer one.

Usage::

    .venv/bin/python tools/bench_fusion_reference.py                      # 1 h, 5 boards, 200 Hz
    .venv/bin/python tools/bench_fusion_reference.py --board-samples 600000
    .venv/bin/python tools/bench_fusion_reference.py --check              # conventions check

The timed runs of one measurement stay within ``--budget-s`` (default 120 s) in total: when the
requested session would take longer, a prefix of it is timed and the rate extrapolated (said so
in the output).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial.transform import Rotation

from coxa.body import SEGMENTS
from coxa.geometry import (
    HIP_ANGLE_NAMES,
    KNEE_ANGLE_NAMES,
    Side,
    hip_angles_deg,
    knee_angles_deg,
)
from coxa.sim import ClockParams, ImuParams, Motion, MotionParams, default_mount, synthesize_imu

FloatArray = NDArray[np.float64]

#: Legs, each with a thigh and a shank board.
SIDES: tuple[Side, ...] = ("r", "l")
#: Knee axis in the femur and tibia segment frames (Z: medio-lateral, to the right, both sides).
KNEE_AXIS_IN_SEGMENT = np.array([0.0, 0.0, 1.0])
#: World vertical (Z up): heading errors turn about it.
WORLD_UP = np.array([0.0, 0.0, 1.0])
#: qmt's default ``dataRate``: the sample rate must be a multiple of it.
QMT_DATA_RATE_HZ = 5.0
#: qmt's default ``windowTime``: headingCorrection fails on shorter recordings.
QMT_WINDOW_S = 8.0
#: qmt's default ``estimationRate``, Hz: one window fit per second once started.
QMT_ESTIMATION_RATE_HZ = 1.0
#: Extra window fits of qmt's start-up: every data step (5 Hz) of the first window, each fitted
#: twice (two starting values) [derived from qmt 0.2.4's headingCorrection].
QMT_STARTUP_FITS = 2 * (QMT_WINDOW_S * QMT_DATA_RATE_HZ - 1)

#: Default session: 5 boards, 1 hour, 200 Hz.
DEFAULT_RATE_HZ = 200.0
DEFAULT_BOARD_SAMPLES = 5 * 3600 * 200

#: SD of the per-board heading drift rate, deg/min [assumption: a 6D filter with gyro-bias
#: estimation; domain notes section 5 quote about 0.15 deg/min, uncorrected biases 20-30].
HEADING_DRIFT_SD_DEG_PER_MIN = 1.0


# ------------------------------------------------------------------------------------------
# Synthetic session
# ------------------------------------------------------------------------------------------


def _session_block_motion(seed: int) -> Motion:
    """The block of squat sets that the session repeats [assumption: a gym session's mix of
    reps and rests: 4 sets of 8 squats, 20 s standing between sets, varied depth and IR,
    a little pelvis yaw]. 221 s, about 30 % of it standing still. Starts and ends in the
    neutral pose, so tiling is continuous."""
    return Motion(
        MotionParams(
            exercise="squat",
            reps=8,
            sets=4,
            depth_spread_deg=8.0,
            hip_ir_spread_deg=3.0,
            pelvis_yaw_excursion_deg=4.0,
            seed=seed,
        )
    )


def synthetic_session(
    duration_s: float,
    rate_hz: float = DEFAULT_RATE_HZ,
    seed: int = 0,
    *,
    heading_error: bool = True,
) -> tuple[FloatArray, dict[str, FloatArray], dict[str, FloatArray]]:
    """Board orientations and gyroscope signals of a simulated five-board squat session.

    Parameters
    ----------
    duration_s : float
        Session length, seconds (> 0).
    rate_hz : float
        Sample rate of every board, Hz.
    seed : int
        Seed of the motion, the sensor errors and the heading errors.
    heading_error : bool
        Turn each board's orientation about the vertical by a random initial heading (uniform)
        plus a drift (normal, SD :data:`HEADING_DRIFT_SD_DEG_PER_MIN`), as a 6D filter would
        report it. False: true orientations in the common world frame.

    Returns
    -------
    t_s : ndarray, shape (N,)
        Sample times ``k / rate_hz``, seconds, ``N = floor(duration_s * rate_hz)``.
    quat_wxyz_by_segment : dict of str to ndarray, shape (N, 4)
        Board (sensor) orientation in the board's world frame, ``wxyz``, per segment of
        :data:`SEGMENTS`; mountings are ``coxa.sim.default_mount(segment)``.
    gyr_rad_s_by_segment : dict of str to ndarray, shape (N, 3)
        Measured angular velocity, sensor frame, rad/s.
    """
    if not duration_s > 0 or not rate_hz > 0:
        raise ValueError(f"duration_s and rate_hz must be positive, got {duration_s}, {rate_hz}")
    n = math.floor(duration_s * rate_hz)
    motion = _session_block_motion(seed)
    imu = ImuParams(rate_hz=rate_hz, clock=ClockParams(drift_ppm=0.0, jitter_us=0, offset_us=0))
    t_s = np.arange(n, dtype=np.float64) / rate_hz
    streams = np.random.SeedSequence(seed).spawn(len(SEGMENTS) + 1)
    heading_rng = np.random.default_rng(streams[-1])
    quat_by_segment: dict[str, FloatArray] = {}
    gyr_by_segment: dict[str, FloatArray] = {}
    for segment, stream in zip(SEGMENTS, streams[:-1], strict=True):
        rec = synthesize_imu(motion, default_mount(segment), imu, seed=stream)
        # The block's last sample and the next block's first are the same still pose.
        block = rec.t_s.shape[0] - 1
        index = np.arange(n) % block
        quat = rec.quat_world_sensor_wxyz[index]
        if heading_error:
            psi0_rad = heading_rng.uniform(-math.pi, math.pi)
            drift_rad_s = math.radians(HEADING_DRIFT_SD_DEG_PER_MIN / 60.0)
            psi_rad = psi0_rad + heading_rng.normal(0.0, drift_rad_s) * t_s
            turn = Rotation.from_rotvec(psi_rad[:, None] * WORLD_UP)
            quat = (turn * Rotation.from_quat(quat, scalar_first=True)).as_quat(scalar_first=True)
        quat_by_segment[segment] = np.ascontiguousarray(quat, dtype=np.float64)
        gyr_by_segment[segment] = np.ascontiguousarray(rec.gyr_rad_s[index], dtype=np.float64)
    return t_s, quat_by_segment, gyr_by_segment


# ------------------------------------------------------------------------------------------
# Reference pipeline
# ------------------------------------------------------------------------------------------


def _check_inputs(
    t_s: FloatArray,
    quat_wxyz_by_segment: Mapping[str, ArrayLike],
    gyr_rad_s_by_segment: Mapping[str, ArrayLike],
    rate_hz: float,
) -> None:
    n = t_s.shape[0]
    if t_s.ndim != 1 or n < 2:
        raise ValueError(f"t_s must be a 1-D array of at least 2 times, got shape {t_s.shape}")
    if not rate_hz > 0 or not math.isclose(
        rate_hz / QMT_DATA_RATE_HZ, round(rate_hz / QMT_DATA_RATE_HZ)
    ):
        raise ValueError(
            f"rate_hz must be a positive multiple of qmt's data rate {QMT_DATA_RATE_HZ} Hz, "
            f"got {rate_hz}"
        )
    if n <= round(QMT_WINDOW_S * rate_hz):
        raise ValueError(
            f"qmt's heading correction needs more than its {QMT_WINDOW_S} s window, "
            f"got {n} samples at {rate_hz} Hz"
        )
    if not np.allclose(np.diff(t_s), 1.0 / rate_hz):
        raise ValueError(f"t_s must be equidistant at 1/rate_hz = {1.0 / rate_hz} s (qmt)")
    for name, data, width in (
        ("quat_wxyz_by_segment", quat_wxyz_by_segment, 4),
        ("gyr_rad_s_by_segment", gyr_rad_s_by_segment, 3),
    ):
        missing = [s for s in SEGMENTS if s not in data]
        if missing:
            raise ValueError(f"{name} lacks segments {missing}")
        for segment in SEGMENTS:
            shape = np.shape(data[segment])
            if shape != (n, width):
                raise ValueError(f"{name}[{segment!r}] must have shape {(n, width)}, got {shape}")


def segment_rotations(
    quat_wxyz_by_segment: Mapping[str, ArrayLike],
    quat_segment_sensor_wxyz_by_segment: Mapping[str, ArrayLike] | None = None,
) -> dict[str, Rotation]:
    """Segment orientations ``q_world_sensor * inv(q_segment_sensor)`` as SciPy rotations.

    Parameters
    ----------
    quat_wxyz_by_segment : mapping of str to array_like, shape (N, 4)
        Board orientation per segment of ``coxa.body.SEGMENTS``, ``wxyz``.
    quat_segment_sensor_wxyz_by_segment : mapping of str to array_like, shape (4,), optional
        Sensor frame in the segment frame; default ``coxa.sim.default_mount(segment)``.
    """
    rotations: dict[str, Rotation] = {}
    for segment in SEGMENTS:
        if quat_segment_sensor_wxyz_by_segment is None:
            mount = np.asarray(default_mount(segment).quat_segment_sensor_wxyz)
        else:
            mount = np.asarray(quat_segment_sensor_wxyz_by_segment[segment], dtype=np.float64)
        board = np.asarray(quat_wxyz_by_segment[segment], dtype=np.float64)
        rotations[segment] = (
            Rotation.from_quat(board, scalar_first=True)
            * Rotation.from_quat(mount, scalar_first=True).inv()
        )
    return rotations


def reference_pipeline(
    t_s: ArrayLike,
    quat_wxyz_by_segment: Mapping[str, ArrayLike],
    gyr_rad_s_by_segment: Mapping[str, ArrayLike],
    rate_hz: float,
    *,
    quat_segment_sensor_wxyz_by_segment: Mapping[str, ArrayLike] | None = None,
) -> dict[str, FloatArray]:
    """Hip and knee angles from five board streams with qmt heading correction and SciPy.

    Parameters
    ----------
    t_s : array_like, shape (N,)
        Equidistant sample times, seconds.
    quat_wxyz_by_segment : mapping of str to array_like, shape (N, 4)
        Board orientation (sensor frame in the board's world frame, ``wxyz``) per segment of
        :data:`SEGMENTS`. Each board may have its own heading.
    gyr_rad_s_by_segment : mapping of str to array_like, shape (N, 3)
        Angular velocity, sensor frame, rad/s (qmt's stillness detection).
    rate_hz : float
        Sample rate, Hz; a multiple of qmt's 5 Hz data rate.
    quat_segment_sensor_wxyz_by_segment : mapping of str to array_like, shape (4,), optional
        Sensor frame in the segment frame per segment. Default: ``coxa.sim.default_mount``, the
        mountings of :func:`synthetic_session`.

    Returns
    -------
    dict of str to ndarray, shape (N,)
        Degrees: ``hip_flexion_r``, ``hip_adduction_r``, ``hip_rotation_r``, ``knee_angle_r``,
        ``knee_adduction_r``, ``knee_rotation_r`` and the same for ``_l``.

    Raises
    ------
    ValueError
        Missing segments, wrong shapes, times not equidistant at ``rate_hz``, or not more
        than qmt's 8 s estimation window of data.
    """
    import qmt  # type: ignore[import-untyped]  # heavy (matplotlib, aiohttp): only when used

    t = np.asarray(t_s, dtype=np.float64)
    _check_inputs(t, quat_wxyz_by_segment, gyr_rad_s_by_segment, rate_hz)
    # 1. Segment orientations (board world frames).
    segment_rot = segment_rotations(quat_wxyz_by_segment, quat_segment_sensor_wxyz_by_segment)
    angles: dict[str, FloatArray] = {}
    for side in SIDES:
        femur, tibia = segment_rot[f"femur_{side}"], segment_rot[f"tibia_{side}"]
        # 2. Knee-hinge heading correction: the tibia in the femur's heading frame.
        result: Any = qmt.headingCorrection(
            np.asarray(gyr_rad_s_by_segment[f"femur_{side}"], dtype=np.float64),
            np.asarray(gyr_rad_s_by_segment[f"tibia_{side}"], dtype=np.float64),
            femur.as_quat(scalar_first=True),
            tibia.as_quat(scalar_first=True),
            t,
            KNEE_AXIS_IN_SEGMENT,
            None,
        )
        tibia_corr = Rotation.from_quat(np.asarray(result[0], dtype=np.float64), scalar_first=True)
        # 3. Relative orientations and joint angles.
        angles.update(joint_angles_deg(segment_rot["pelvis"], femur, tibia_corr, side))
    return angles


def joint_angles_deg(
    pelvis: Rotation, femur: Rotation, tibia: Rotation, side: Side
) -> dict[str, FloatArray]:
    """Hip and knee angles of one leg with SciPy, degrees, each column shape ``(N,)``.

    Hip = femur relative to pelvis, knee = tibia relative to femur (``tibia`` in the femur's
    heading frame), intrinsic Z-X'-Y'' (SciPy upper-case ``'ZXY'``); the left side's second and
    third angles negated (mirror), the knee's first negated (flexion positive). Columns
    ``hip_flexion_<side>`` ... ``knee_rotation_<side>``.
    """
    mirror = np.array([1.0, 1.0, 1.0]) if side == "r" else np.array([1.0, -1.0, -1.0])
    hip = np.degrees((pelvis.inv() * femur).as_euler("ZXY")) * mirror
    knee = np.degrees((femur.inv() * tibia).as_euler("ZXY")) * mirror * np.array([-1.0, 1.0, 1.0])
    angles: dict[str, FloatArray] = {}
    for names, values in ((HIP_ANGLE_NAMES, hip), (KNEE_ANGLE_NAMES, knee)):
        for column, name in enumerate(names):
            angles[f"{name}_{side}"] = np.ascontiguousarray(values[:, column])
    return angles


def heading_correction_only(
    t_s: FloatArray,
    quat_wxyz_by_segment: Mapping[str, FloatArray],
    gyr_rad_s_by_segment: Mapping[str, FloatArray],
    side: Side = "r",
) -> FloatArray:
    """``qmt.headingCorrection`` alone on one leg, as step 2 of :func:`reference_pipeline`.

    Parameters
    ----------
    t_s : ndarray, shape (N,)
        Equidistant sample times, seconds.
    quat_wxyz_by_segment : mapping of str to ndarray, shape (N, 4)
        SEGMENT orientations (:func:`segment_rotations`), ``wxyz``: the knee axis is their Z.
    gyr_rad_s_by_segment : mapping of str to ndarray, shape (N, 3)
        Angular velocity, rad/s.
    side : {'r', 'l'}
        Leg.

    Returns
    -------
    ndarray, shape (N, 4)
        Tibia orientation in the femur's heading frame, ``wxyz``.
    """
    import qmt  # type: ignore[import-untyped]

    result: Any = qmt.headingCorrection(
        gyr_rad_s_by_segment[f"femur_{side}"],
        gyr_rad_s_by_segment[f"tibia_{side}"],
        quat_wxyz_by_segment[f"femur_{side}"],
        quat_wxyz_by_segment[f"tibia_{side}"],
        t_s,
        KNEE_AXIS_IN_SEGMENT,
        None,
    )
    return np.asarray(result[0], dtype=np.float64)


# ------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """Timing of one function on a session (or a prefix of it).

    Attributes
    ----------
    label : str
        What was timed.
    requested_board_samples : int
        Board-samples asked for.
    measured_board_samples : int
        Board-samples actually timed (a prefix when the budget did not allow all).
    seconds : tuple of float
        Wall time of each repeat, seconds.
    cpu_seconds : tuple of float
        CPU time of this process in each repeat, seconds (less sensitive to other load on
        the machine than the wall time).
    """

    label: str
    requested_board_samples: int
    measured_board_samples: int
    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """Median wall time, seconds."""
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        """Board-samples per second (median wall time)."""
        return self.measured_board_samples / self.median_s

    @property
    def cpu_rate(self) -> float:
        """Board-samples per CPU second (median CPU time)."""
        return self.measured_board_samples / statistics.median(self.cpu_seconds)

    @property
    def extrapolated(self) -> bool:
        """True when a prefix was timed and the rate stands for the whole session."""
        return self.measured_board_samples < self.requested_board_samples


def time_prefix(
    label: str,
    run: Callable[[int], object],
    requested_samples: int,
    boards: int,
    *,
    repeats: int = 3,
    budget_s: float = 120.0,
    probe_samples: int = 24_000,
    before_each: Callable[[], object] | None = None,
) -> Measurement:
    """Median-of-``repeats`` timing of ``run(n)``, which processes the first ``n`` samples.

    Parameters
    ----------
    label : str
        What is timed.
    run : callable
        ``run(n)`` processes the first ``n`` samples of each of ``boards`` boards.
    requested_samples : int
        Samples per board asked for.
    boards : int
        Boards that ``run`` processes (board-samples = ``boards * n``).
    repeats : int
        Timed runs; the median counts.
    budget_s : float
        Wall time allowed for all timed runs, seconds. A first, untimed run on
        ``probe_samples`` gives the cost per sample; ``n`` is then ``requested_samples`` or
        the largest prefix whose repeats fit the budget (never below the probe).
    probe_samples : int
        Samples per board of the sizing run.
    before_each : callable, optional
        Called before each timed run, outside its timing: another measurement interleaved
        with this one, so that both see the same machine state (its load changes by tens of
        percent within minutes on a shared machine).
    """
    probe = min(probe_samples, requested_samples)
    t0 = time.perf_counter()
    run(probe)
    per_sample_s = (time.perf_counter() - t0) / probe
    fit = int(budget_s / repeats / per_sample_s)
    n = requested_samples if fit >= requested_samples else max(probe, fit)
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    for _ in range(repeats):
        if before_each is not None:
            before_each()
        t0, c0 = time.perf_counter(), time.process_time()
        run(n)
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)
    return Measurement(
        label, boards * requested_samples, boards * n, tuple(seconds), tuple(cpu_seconds)
    )


def _report(m: Measurement) -> str:
    times = ", ".join(f"{s:.2f}" for s in m.seconds)
    lines = [
        f"{m.label}",
        f"  requested {m.requested_board_samples:,} board-samples; "
        f"measured on {m.measured_board_samples:,} board-samples"
        + (", extrapolated rate" if m.extrapolated else ""),
        f"  wall times {times} s (median {m.median_s:.2f} s)",
        f"  rate {m.rate:,.0f} board-samples/s (per CPU second: {m.cpu_rate:,.0f})",
    ]
    if m.extrapolated:
        lines.append(
            f"  whole request at that rate: {m.requested_board_samples / m.rate:.1f} s (estimate)"
        )
    return "\n".join(lines)


def _stack(angles: Mapping[str, FloatArray], names: tuple[str, ...], side: Side) -> FloatArray:
    return np.stack([angles[f"{name}_{side}"] for name in names], axis=1)


def _check(rate_hz: float, seed: int) -> int:
    """Conventions and accuracy check on 4 simulated minutes (prints, returns the exit code).

    - SciPy joint angles (no heading correction, all boards in one world) against
      ``coxa.geometry.hip_angles_deg`` / ``knee_angles_deg``: must agree to 1e-6 deg.
    - The whole reference pipeline on boards with heading errors: knee flexion after 10 s
      against the truth within 5 deg; the other knee columns are printed (qmt's hinge model
      absorbs part of the simulated 7 deg screw-home rotation).
    """
    t, quat, gyr = synthetic_session(240.0, rate_hz, seed, heading_error=False)
    seg_rot = segment_rotations(quat)
    seg = {s: r.as_quat(scalar_first=True) for s, r in seg_rot.items()}
    _, quat_err, _ = synthetic_session(240.0, rate_hz, seed, heading_error=True)
    drifted = reference_pipeline(t, quat_err, gyr, rate_hz)
    settled = t >= 10.0
    ok = True
    for side in SIDES:
        plain = joint_angles_deg(
            seg_rot["pelvis"], seg_rot[f"femur_{side}"], seg_rot[f"tibia_{side}"], side
        )
        hip_true = hip_angles_deg(seg["pelvis"], seg[f"femur_{side}"], side)
        knee_true = knee_angles_deg(seg[f"femur_{side}"], seg[f"tibia_{side}"], side)
        convention = max(
            float(np.abs(_stack(plain, HIP_ANGLE_NAMES, side) - hip_true).max()),
            float(np.abs(_stack(plain, KNEE_ANGLE_NAMES, side) - knee_true).max()),
        )
        err = np.abs(_stack(drifted, KNEE_ANGLE_NAMES, side) - knee_true)[settled].max(axis=0)
        print(f"{side}: SciPy angles vs coxa.geometry, max |diff| {convention:.2e} deg")
        print(
            f"{side}: knee with heading errors after qmt, max |error| after 10 s: flexion "
            f"{err[0]:.2f}, adduction {err[1]:.2f}, rotation {err[2]:.2f} deg"
        )
        ok = ok and convention < 1e-6 and err[0] < 5.0
    print("check", "passed" if ok else "FAILED")
    return 0 if ok else 1


def qmt_startup_share(duration_s: float) -> float:
    """Share of qmt's window fits spent in its start-up on a recording of ``duration_s``.

    A timed prefix pays the start-up once, like the whole session, so a rate extrapolated
    from a short prefix understates the reference by about the difference of the two shares.
    Stillness periods (no fit) are ignored here.
    """
    regular = duration_s * QMT_ESTIMATION_RATE_HZ
    return QMT_STARTUP_FITS / (QMT_STARTUP_FITS + regular)


def _head(data: Mapping[str, FloatArray], n: int) -> dict[str, FloatArray]:
    """The first ``n`` rows of every array (views, no copy)."""
    return {key: value[:n] for key, value in data.items()}


def main(argv: list[str] | None = None) -> int:
    """Command line: time the reference pipeline and qmt.headingCorrection alone."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--board-samples",
        type=int,
        default=DEFAULT_BOARD_SAMPLES,
        help="board-samples of the session, all five boards together (default: 1 h at 200 Hz)",
    )
    parser.add_argument("--rate-hz", type=float, default=DEFAULT_RATE_HZ)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--budget-s",
        type=float,
        default=120.0,
        help="wall time allowed for the timed repeats of the whole reference (default 120); "
        "the two parts timed alone get half of it each",
    )
    parser.add_argument("--check", action="store_true", help="conventions check only")
    args = parser.parse_args(argv)
    if args.check:
        return _check(args.rate_hz, args.seed)
    per_board = args.board_samples // len(SEGMENTS)
    if per_board <= QMT_WINDOW_S * args.rate_hz:
        parser.error(f"--board-samples must cover more than {QMT_WINDOW_S} s of five boards")
    t0 = time.perf_counter()
    t, quat, gyr = synthetic_session(per_board / args.rate_hz, args.rate_hz, args.seed)
    n = t.shape[0]
    print(f"load average at start: {os.getloadavg()[0]:.2f} (machine has {os.cpu_count()} cores)")
    print(
        f"synthetic session: {len(SEGMENTS)} boards x {n:,} samples at {args.rate_hz:g} Hz "
        f"({n / args.rate_hz / 60:.1f} min), made in {time.perf_counter() - t0:.1f} s"
    )

    def run_reference(k: int) -> object:
        return reference_pipeline(t[:k], _head(quat, k), _head(gyr, k), args.rate_hz)

    segment_quat = {s: r.as_quat(scalar_first=True) for s, r in segment_rotations(quat).items()}

    def run_heading(k: int) -> object:
        return heading_correction_only(t[:k], _head(segment_quat, k), _head(gyr, k))

    def run_scipy(k: int) -> object:
        rot = segment_rotations(_head(quat, k))
        return [
            joint_angles_deg(rot["pelvis"], rot[f"femur_{side}"], rot[f"tibia_{side}"], side)
            for side in SIDES
        ]

    # qmt's start-up (first 8 s) costs ~78 extra window fits: probe well past it.
    probe = min(n, int(120 * args.rate_hz))
    cases: tuple[tuple[str, Callable[[int], object], int, float, bool], ...] = (
        (
            "reference pipeline (mounting, 2 x qmt.headingCorrection, SciPy joint angles)",
            run_reference,
            len(SEGMENTS),
            args.budget_s,
            True,
        ),
        (
            "qmt.headingCorrection alone (one thigh/shank pair; anchor ~39 k)",
            run_heading,
            2,
            args.budget_s / 2,
            True,
        ),
        (
            "SciPy steps alone (mounting and joint angles, no heading correction)",
            run_scipy,
            len(SEGMENTS),
            args.budget_s / 2,
            False,
        ),
    )
    for label, run, boards, budget_s, uses_qmt in cases:
        m = time_prefix(
            label, run, n, boards, repeats=args.repeats, budget_s=budget_s, probe_samples=probe
        )
        print(_report(m))
        if m.extrapolated and uses_qmt:
            measured_s = m.measured_board_samples / boards / args.rate_hz
            prefix_share = qmt_startup_share(measured_s)
            whole_share = qmt_startup_share(n / args.rate_hz)
            print(
                f"  note: qmt's start-up fits are ~{prefix_share:.0%} of the timed prefix "
                f"({measured_s / 60:.1f} min) but ~{whole_share:.0%} of the whole session: "
                "the extrapolated rate is low by up to about the difference"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
