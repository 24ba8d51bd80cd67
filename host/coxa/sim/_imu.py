"""IMU synthesis: what a 6-axis board strapped on a segment measures.

Ideal signals come from the ground-truth motion by central differences over ``±h`` with
``h = 1e-4 s`` (the motion is C2, so errors are far below sensor noise):

- gyroscope: body-frame angular velocity of the sensor,
  ``rotvec(conj(q(t - h)) ⊗ q(t + h)) / (2 h)``, rad/s;
- accelerometer: specific force in the sensor frame, ``R^T (a + g z_world)`` with ``a`` the
  second difference of the sensor position, m/s²; at rest it reads ``+g`` along world up.

Errors, per axis, in this order: scale factor ``(1 + e)``, bias (constant initial value, for
the gyroscope optionally clipped to a bound, plus a random walk, ``cumsum``), white noise with
the datasheet density over the Nyquist band (per-sample SD = density x sqrt(rate_hz / 2)), then
saturation at the full-scale range (flagged) and quantisation to the LSB. Everything draws from
one explicitly seeded ``numpy.random.Generator`` in a fixed order, so the same seed gives the
same recording.

Defaults are typical values of the ST LSM6DSOX (datasheet DS12814) in high-performance mode at
±2000 dps and ±16 g; see ``docs/simulator.md`` for each label.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from coxa.body import SegmentName
from coxa.geometry import GRAVITY_M_S2, FloatArray, Side, quat_to_rotvec
from coxa.sim import _columns as cols
from coxa.sim._clock import ClockParams, Int64Array, sample_times
from coxa.sim._columns import QuatCols, VecCols
from coxa.sim._motion import TruthColumns
from coxa.sim._mounting import SensorMount, default_mounts
from coxa.sim._softtissue import STA_AXIS_IN_FEMUR, soft_tissue_angle


class MotionTruth(Protocol):
    """What the IMU synthesis reads of a ground-truth motion (:class:`coxa.sim.Motion`, a
    composite :class:`coxa.sim.SessionMotion`)."""

    @property
    def duration_s(self) -> float:
        """Length of the motion, seconds."""
        ...

    def evaluate_columns(self, t_s: ArrayLike) -> TruthColumns:
        """The truth at times ``t_s`` (seconds) as component columns."""
        ...


_log = logging.getLogger(__name__)

BoolArray = NDArray[np.bool_]

#: Half-step of the central differences, seconds.
DIFF_STEP_S = 1e-4
#: Grid step of the soft-tissue oscillator, seconds.
_STA_GRID_S = 1e-3

_DEG = np.pi / 180.0
_MILLI_G = 1e-3 * GRAVITY_M_S2


@dataclass(frozen=True)
class ImuParams:
    """Error model and rate of one board's IMU (all noise, bias and scale draws are per axis).

    Attributes
    ----------
    rate_hz : float
        Output data rate in device time, Hz. Default 200 [assumption].
    gyr_noise_density_rad_s_rthz : float
        Gyroscope rate noise density, rad/s/sqrt(Hz). Default 3.8 mdps/sqrt(Hz) [src].
    gyr_bias_sd_rad_s : float
        SD of the initial gyroscope bias (zero-rate level), rad/s. Default 1 dps [src: typ.
        zero-rate level ±1 dps, used as one SD].
    gyr_bias_max_rad_s : float
        Bound of the initial gyroscope bias: each axis's draw is clipped to ± this, rad/s (the
        random walk is added after the clip and is not bounded). Default infinity: no bound
        [assumption: the datasheet gives a typical value only].
    gyr_bias_walk_rad_s_rts : float
        Gyroscope bias random walk, rad/s/sqrt(s). Default 0.002 dps/sqrt(s) [assumption].
    gyr_scale_sd : float
        SD of the gyroscope scale-factor error, fraction. Default 0.01 [src: sensitivity
        tolerance ±1 %, used as one SD].
    gyr_lsb_rad_s : float
        Gyroscope quantisation step, rad/s; 0 disables. Default 70 mdps [src: ±2000 dps FS].
    gyr_range_rad_s : float
        Gyroscope saturation, rad/s. Default 2000 dps [src: full scale].
    acc_noise_density_m_s2_rthz : float
        Accelerometer noise density, m/s²/sqrt(Hz). Default 75 µg/sqrt(Hz) [src].
    acc_bias_sd_m_s2 : float
        SD of the initial accelerometer bias (zero-g level), m/s². Default 20 mg [src: typ.
        ±20 mg, used as one SD].
    acc_bias_walk_m_s2_rts : float
        Accelerometer bias random walk, m/s²/sqrt(s). Default 1e-4 [assumption].
    acc_scale_sd : float
        SD of the accelerometer scale-factor error, fraction. Default 0.01 [src: ±1 %].
    acc_lsb_m_s2 : float
        Accelerometer quantisation step, m/s²; 0 disables. Default 0.488 mg [src: ±16 g FS].
    acc_range_m_s2 : float
        Accelerometer saturation, m/s². Default 16 g [src: full scale].
    clock : ClockParams
        The board clock (drift, jitter, offset).
    thigh_sta_gain_deg_per_m_s2 : float
        Soft-tissue artefact of sensors on a femur, dynamic part: static gain of the oscillator
        driven by the sensor site's anterior acceleration, deg/(m/s²); 0 disables. Default 0.
    thigh_sta_deg_per_knee_flexion_deg : float
        Soft-tissue artefact of sensors on a femur, quasi-static part: rotation per degree of
        knee flexion of the same leg (muscle bulging, skin sliding); 0 disables. Default 0
        (0.05 gives 5 deg at 100 deg knee flexion, inside the published 4-9 deg RMS [src]).
    thigh_sta_natural_frequency_hz : float
        Natural frequency of the artefact oscillator, Hz. Default 10 [assumption].
    thigh_sta_damping_ratio : float
        Damping ratio of the artefact oscillator. Default 0.3 [assumption].
    """

    rate_hz: float = 200.0
    gyr_noise_density_rad_s_rthz: float = 3.8e-3 * _DEG
    gyr_bias_sd_rad_s: float = 1.0 * _DEG
    gyr_bias_walk_rad_s_rts: float = 0.002 * _DEG
    gyr_scale_sd: float = 0.01
    gyr_lsb_rad_s: float = 70e-3 * _DEG
    gyr_range_rad_s: float = 2000.0 * _DEG
    acc_noise_density_m_s2_rthz: float = 75e-6 * GRAVITY_M_S2
    acc_bias_sd_m_s2: float = 20.0 * _MILLI_G
    acc_bias_walk_m_s2_rts: float = 1e-4
    acc_scale_sd: float = 0.01
    acc_lsb_m_s2: float = 0.488 * _MILLI_G
    acc_range_m_s2: float = 16.0 * GRAVITY_M_S2
    clock: ClockParams = field(default_factory=ClockParams)
    thigh_sta_gain_deg_per_m_s2: float = 0.0
    thigh_sta_deg_per_knee_flexion_deg: float = 0.0
    thigh_sta_natural_frequency_hz: float = 10.0
    thigh_sta_damping_ratio: float = 0.3
    gyr_bias_max_rad_s: float = math.inf

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        nonneg = (
            self.gyr_noise_density_rad_s_rthz,
            self.gyr_bias_sd_rad_s,
            self.gyr_bias_walk_rad_s_rts,
            self.gyr_scale_sd,
            self.gyr_lsb_rad_s,
            self.acc_noise_density_m_s2_rthz,
            self.acc_bias_sd_m_s2,
            self.acc_bias_walk_m_s2_rts,
            self.acc_scale_sd,
            self.acc_lsb_m_s2,
        )
        if min(nonneg) < 0:
            raise ValueError("noise, bias, scale and LSB parameters must be >= 0")
        if self.gyr_range_rad_s <= 0 or self.acc_range_m_s2 <= 0:
            raise ValueError("ranges must be positive")
        if not self.gyr_bias_max_rad_s >= 0:
            raise ValueError(f"gyr_bias_max_rad_s must be >= 0, got {self.gyr_bias_max_rad_s}")

    @classmethod
    def clean(cls, rate_hz: float = 200.0) -> ImuParams:
        """Error-free preset for truth checks: no noise, bias, scale error, quantisation, clock
        drift or jitter, no soft-tissue artefact; the datasheet saturation ranges are kept."""
        return cls(
            rate_hz=rate_hz,
            gyr_noise_density_rad_s_rthz=0.0,
            gyr_bias_sd_rad_s=0.0,
            gyr_bias_walk_rad_s_rts=0.0,
            gyr_scale_sd=0.0,
            gyr_lsb_rad_s=0.0,
            acc_noise_density_m_s2_rthz=0.0,
            acc_bias_sd_m_s2=0.0,
            acc_bias_walk_m_s2_rts=0.0,
            acc_scale_sd=0.0,
            acc_lsb_m_s2=0.0,
            clock=ClockParams(drift_ppm=0.0, jitter_us=0.0, offset_us=0),
        )


@dataclass(frozen=True, eq=False)
class ImuRecording:
    """One board's samples with the truth behind them.

    Attributes
    ----------
    mount : SensorMount
        Where the sensor is.
    t_s : ndarray, shape (N,)
        True sampling instants, seconds.
    t_us : ndarray of int64, shape (N,)
        Device timestamps (board clock with drift, offset and jitter), microseconds.
    gyr_rad_s : ndarray, shape (N, 3)
        Measured angular velocity, sensor frame, rad/s.
    acc_m_s2 : ndarray, shape (N, 3)
        Measured specific force, sensor frame, m/s².
    gyr_clipped, acc_clipped : ndarray of bool, shape (N, 3)
        Where the signal exceeded the range and was clamped.
    quat_world_sensor_wxyz : ndarray, shape (N, 4)
        True sensor orientation in the world, ``wxyz``.
    gyr_true_rad_s, acc_true_m_s2 : ndarray, shape (N, 3)
        Error-free signals, sensor frame.
    gyr_bias_rad_s, acc_bias_m_s2 : ndarray, shape (N, 3)
        Bias added to each sample (initial value plus random walk).
    """

    mount: SensorMount
    t_s: FloatArray
    t_us: Int64Array
    gyr_rad_s: FloatArray
    acc_m_s2: FloatArray
    gyr_clipped: BoolArray
    acc_clipped: BoolArray
    quat_world_sensor_wxyz: FloatArray
    gyr_true_rad_s: FloatArray
    acc_true_m_s2: FloatArray
    gyr_bias_rad_s: FloatArray
    acc_bias_m_s2: FloatArray


@dataclass(frozen=True, eq=False)
class _Measured:
    value: FloatArray
    clipped: BoolArray
    bias: FloatArray


def _measure(
    true: FloatArray,
    rng: np.random.Generator,
    rate_hz: float,
    noise_density: float,
    bias_sd: float,
    bias_walk: float,
    scale_sd: float,
    lsb: float,
    full_scale: float,
    bias_max: float = math.inf,
) -> _Measured:
    """Apply one triad's error model to ideal signals ``true`` of shape ``(N, 3)``; the initial
    bias is clipped to ``±bias_max`` per axis."""
    n = true.shape[0]
    bias0 = bias_sd * rng.standard_normal(3)
    if math.isfinite(bias_max):
        bias0 = np.clip(bias0, -bias_max, bias_max)
    scale = 1.0 + scale_sd * rng.standard_normal(3)
    walk = bias_walk * np.sqrt(1.0 / rate_hz) * np.cumsum(rng.standard_normal((n, 3)), axis=0)
    noise = noise_density * np.sqrt(rate_hz / 2.0) * rng.standard_normal((n, 3))
    bias = bias0 + walk
    raw = scale * true + bias + noise
    clipped = np.abs(raw) > full_scale
    value: FloatArray = np.clip(raw, -full_scale, full_scale)
    if lsb > 0:
        value = np.clip(np.rint(value / lsb) * lsb, -full_scale, full_scale)
    return _Measured(value=value, clipped=clipped, bias=bias)


def _rows(q: QuatCols, start: int, stop: int) -> QuatCols:
    """Rows ``start:stop`` of quaternion columns."""
    return q[0][start:stop], q[1][start:stop], q[2][start:stop], q[3][start:stop]


def _sensor_pose(truth: TruthColumns, mount: SensorMount) -> tuple[VecCols, QuatCols]:
    """Sensor position (metres) and bone-fixed sensor orientation, as columns."""
    q_segment = truth.quats[mount.segment]
    origin = truth.origins[mount.segment]
    offset = cols.rotate(q_segment, cols.vec_cols(mount.position_m))
    position = (origin[0] + offset[0], origin[1] + offset[1], origin[2] + offset[2])
    return position, cols.multiply(q_segment, cols.quat_cols(mount.quat_wxyz))


def _soft_tissue_quat_wxyz(
    motion: MotionTruth, mount: SensorMount, params: ImuParams, truth: TruthColumns
) -> QuatCols:
    """Artefact rotation of the sensor relative to the femur at the truth's times."""
    side: Side = "r" if mount.segment.endswith("_r") else "l"
    angle_deg = params.thigh_sta_deg_per_knee_flexion_deg * truth.knee_deg[side][0]
    if params.thigh_sta_gain_deg_per_m_s2 != 0.0:
        lo = min(float(truth.t_s.min()), 0.0) - 0.05
        hi = float(truth.t_s.max()) + 0.05
        count = int(np.ceil((hi - lo) / _STA_GRID_S)) + 1
        grid = lo + _STA_GRID_S * np.arange(count, dtype=np.float64)
        on_grid = motion.evaluate_columns(grid)
        position, _ = _sensor_pose(on_grid, mount)
        acc: list[FloatArray] = []
        for p in position:
            a = np.zeros_like(p)
            a[1:-1] = (p[2:] - 2.0 * p[1:-1] + p[:-2]) / _STA_GRID_S**2
            acc.append(a)
        q_segment = on_grid.quats[mount.segment]
        drive = cols.rotate(cols.conjugate(q_segment), (acc[0], acc[1], acc[2]))[0]
        dynamic = soft_tissue_angle(
            grid,
            drive,
            params.thigh_sta_gain_deg_per_m_s2,
            params.thigh_sta_natural_frequency_hz,
            params.thigh_sta_damping_ratio,
        )
        angle_deg = angle_deg + dynamic(truth.t_s)
    return cols.from_axis_angle(STA_AXIS_IN_FEMUR, np.radians(angle_deg))


def synthesize_imu(
    motion: MotionTruth,
    mount: SensorMount,
    params: ImuParams,
    *,
    seed: int | np.random.SeedSequence,
    t_start_s: float = 0.0,
    t_end_s: float | None = None,
) -> ImuRecording:
    """Samples of one board strapped on a segment during a simulated set.

    Parameters
    ----------
    motion : MotionTruth
        The ground-truth motion.
    mount : SensorMount
        Segment, mounting rotation and position of the sensor.
    params : ImuParams
        Error model, rate and clock; ``ImuParams.clean()`` for error-free signals.
    seed : int or numpy.random.SeedSequence
        Seed of every random draw (jitter, biases, scale factors, noise).
    t_start_s, t_end_s : float
        True time span to sample, seconds. Default: the whole set, 0 to ``motion.duration_s``.

    Returns
    -------
    ImuRecording
        Device timestamps, measured and true signals, true sensor orientation.
    """
    rng = np.random.default_rng(seed)
    t_end = motion.duration_s if t_end_s is None else t_end_s
    times = sample_times(params.clock, params.rate_hz, t_start_s, t_end, rng)
    t = times.t_s
    n = t.shape[0]
    h = DIFF_STEP_S
    truth = motion.evaluate_columns(np.concatenate([t - h, t, t + h]))
    position, q_sensor = _sensor_pose(truth, mount)
    wobbles = params.thigh_sta_gain_deg_per_m_s2 != 0.0 or (
        params.thigh_sta_deg_per_knee_flexion_deg != 0.0
    )
    if wobbles and mount.segment.startswith("femur"):
        q_segment = truth.quats[mount.segment]
        q_sta = _soft_tissue_quat_wxyz(motion, mount, params, truth)
        q_sensor = cols.multiply(cols.multiply(q_segment, q_sta), cols.quat_cols(mount.quat_wxyz))
    # Columns of the three stencil points: t - h, t, t + h.
    q_minus = _rows(q_sensor, 0, n)
    q_mid = _rows(q_sensor, n, 2 * n)
    q_plus = _rows(q_sensor, 2 * n, 3 * n)
    gyr_true = quat_to_rotvec(cols.join(cols.multiply(cols.conjugate(q_minus), q_plus), n)) / (
        2.0 * h
    )
    gravity = (0.0, 0.0, GRAVITY_M_S2)
    acc_world = (
        (p[2 * n :] - 2.0 * p[n : 2 * n] + p[:n]) / (h * h) + g
        for p, g in zip(position, gravity, strict=True)
    )
    ax, ay, az = acc_world
    acc_true = cols.join(cols.rotate(cols.conjugate(q_mid), (ax, ay, az)), n)
    gyr = _measure(
        gyr_true,
        rng,
        params.rate_hz,
        params.gyr_noise_density_rad_s_rthz,
        params.gyr_bias_sd_rad_s,
        params.gyr_bias_walk_rad_s_rts,
        params.gyr_scale_sd,
        params.gyr_lsb_rad_s,
        params.gyr_range_rad_s,
        params.gyr_bias_max_rad_s,
    )
    acc = _measure(
        acc_true,
        rng,
        params.rate_hz,
        params.acc_noise_density_m_s2_rthz,
        params.acc_bias_sd_m_s2,
        params.acc_bias_walk_m_s2_rts,
        params.acc_scale_sd,
        params.acc_lsb_m_s2,
        params.acc_range_m_s2,
    )
    if gyr.clipped.any() or acc.clipped.any():
        _log.info(
            "%s: %d gyro and %d accel samples clipped",
            mount.segment,
            int(gyr.clipped.any(axis=1).sum()),
            int(acc.clipped.any(axis=1).sum()),
        )
    return ImuRecording(
        mount=mount,
        t_s=t,
        t_us=times.t_us,
        gyr_rad_s=gyr.value,
        acc_m_s2=acc.value,
        gyr_clipped=gyr.clipped,
        acc_clipped=acc.clipped,
        quat_world_sensor_wxyz=cols.join(q_mid, n),
        gyr_true_rad_s=gyr_true,
        acc_true_m_s2=acc_true,
        gyr_bias_rad_s=gyr.bias,
        acc_bias_m_s2=acc.bias,
    )


def synthesize_rig(
    motion: MotionTruth,
    params: ImuParams | Mapping[SegmentName, ImuParams],
    *,
    seed: int,
    mounts: Mapping[SegmentName, SensorMount] | None = None,
    t_start_s: float = 0.0,
    t_end_s: float | None = None,
) -> dict[SegmentName, ImuRecording]:
    """Samples of several boards (default: all five segments with their default mountings).

    Each board gets its own independent random stream spawned from ``seed`` (in the order of
    ``mounts``), so adding a board does not change the others only if it is added last.

    Parameters
    ----------
    motion : MotionTruth
        The ground-truth motion.
    params : ImuParams or mapping of segment name to ImuParams
        One model for every board, or one per segment (e.g. different clock drifts).
    seed : int
        Root seed.
    mounts : mapping of segment name to SensorMount, optional
        Which boards; default :func:`default_mounts`.
    t_start_s, t_end_s : float
        True time span, seconds; default the whole set.
    """
    chosen = default_mounts() if mounts is None else dict(mounts)
    children = np.random.SeedSequence(seed).spawn(len(chosen))
    out: dict[SegmentName, ImuRecording] = {}
    for (name, mount), child in zip(chosen.items(), children, strict=True):
        board_params = params if isinstance(params, ImuParams) else params[name]
        out[name] = synthesize_imu(
            motion, mount, board_params, seed=child, t_start_s=t_start_s, t_end_s=t_end_s
        )
    return out
