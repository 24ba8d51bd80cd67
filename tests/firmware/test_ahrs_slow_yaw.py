"""On-board AHRS: the bias step limit (``bias_step_max_rad_s``) against slow turns about the
vertical, which pass every rest test (gravity does not turn in the sensor frame).

* a board at rest, its bias learnt, turns slowly (0.5-3 deg/s for 2-10 s) about the
  vertical: its heading error stays within the bound the limit implies; without the limit
  (the filter before it) the turn rate went into the bias and the heading error was most of
  the turn;
* a real bias change after power-on is still learnt, one step per rest; the power-on rest
  (and the first rest after ``reset(True)``) still learns any bias up to ``bias_max_rad_s``;
  ``reset()`` keeps the limit in force;
* state: snapshot/restore continues bit-identically in the middle of a limited rest, a
  layout-2 snapshot restores with the bias counted as not yet committed;
* runtimes: the limited rests are bit-identical on MicroPython and allocate nothing there;
  every integer stays below 2**30.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from coxa.sim import ImuParams
from tests.firmware.test_ahrs import (
    DEG,
    HEAP_BYTES_PER_UPDATE_BOUND,
    RATE_HZ,
    SMALL_INT_LIMIT,
    Ahrs6D,
    FloatArray,
    ahrs_mod,
    instrumented_ahrs,
    micropython_heap_per_update,
    replay_micropython,
    run_filter,
)

_DEFAULTS = inspect.signature(Ahrs6D).parameters
#: The filter's defaults the bound below is derived from: step limit per axis (rad/s), rest
#: confirmation time and commit period (s).
STEP_RAD_S: float = _DEFAULTS["bias_step_max_rad_s"].default
REST_TIME_S: float = _DEFAULTS["rest_time_s"].default
COMMIT_S: float = _DEFAULTS["rest_commit_s"].default
BIAS_TAU_S: float = _DEFAULTS["bias_tau_s"].default

#: Rest before the turn (the first rest is confirmed after ``REST_TIME_S``) and after it, s.
REST_BEFORE_S, REST_AFTER_S = 4.0, 8.0
#: Noise margin of the heading bound, deg: the first rest's bias estimate (1.5 s mean of the
#: datasheet white noise: 0.002 deg/s per axis) over the whole run, twice over.
NOISE_MARGIN_DEG = 0.1


def _unit(tilt_deg: float, azimuth_deg: float) -> FloatArray:
    """Unit vector ``tilt_deg`` away from sensor z, towards azimuth ``azimuth_deg``."""
    tilt = tilt_deg * DEG
    az = azimuth_deg * DEG
    return np.array([math.sin(tilt) * math.cos(az), math.sin(tilt) * math.sin(az), math.cos(tilt)])


def white_noise(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    """Gyro (rad/s) and accelerometer (m/s^2) white noise of ``ImuParams()`` at ``RATE_HZ``,
    each ``(n, 3)``."""
    imu = ImuParams()
    gyr_sd = imu.gyr_noise_density_rad_s_rthz * math.sqrt(RATE_HZ / 2.0)
    acc_sd = imu.acc_noise_density_m_s2_rthz * math.sqrt(RATE_HZ / 2.0)
    return gyr_sd * rng.standard_normal((n, 3)), acc_sd * rng.standard_normal((n, 3))


def slow_yaw_inputs(
    turn_deg_s: float,
    turn_s: float,
    up_sensor: FloatArray,
    bias_dps: tuple[float, float, float],
    ramp_s: float,
    seed: int,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """A board at rest for :data:`REST_BEFORE_S`, turning about the world vertical at
    ``turn_deg_s`` for ``turn_s`` (trapezoid: linear ramps of ``ramp_s`` at both ends, 0 for
    an abrupt start and stop), then at rest for :data:`REST_AFTER_S`.

    ``up_sensor`` is the world vertical in the sensor frame (unit): gravity and the body
    rate of the turn are along it for the whole run. The gyro carries the constant bias
    ``bias_dps`` (deg/s), both sensors the white noise of ``ImuParams()``.

    Returns
    -------
    t_s : ndarray, shape (n,)
    gyr_rad_s, acc_m_s2 : ndarray, shape (n, 3)
    heading_true_deg : ndarray, shape (n,)
        True heading turned since the start, after each sample (the integral of the sampled
        rate, as the strapdown integrates it).
    """
    n = int((REST_BEFORE_S + turn_s + REST_AFTER_S) * RATE_HZ)
    t_s = np.arange(n) / RATE_HZ
    x = t_s - REST_BEFORE_S
    profile = np.where((x >= 0.0) & (x < turn_s), 1.0, 0.0)
    if ramp_s > 0:
        profile *= np.clip(np.minimum(x, turn_s - x) / ramp_s, 0.0, 1.0)
    rate_rad_s = turn_deg_s * DEG * profile
    rng = np.random.default_rng(seed)
    gyr_noise, acc_noise = white_noise(rng, n)
    gyr = np.outer(rate_rad_s, up_sensor) + np.radians(bias_dps) + gyr_noise
    acc = 9.80665 * np.tile(up_sensor, (n, 1)) + acc_noise
    return t_s, gyr, acc, np.degrees(np.cumsum(rate_rad_s) / RATE_HZ)


def filter_heading_deg(quat: FloatArray) -> FloatArray:
    """Heading of the filter, the twist of ``q`` about world Z, unwrapped, deg, ``(n,)``."""
    return np.degrees(np.unwrap(2.0 * np.arctan2(quat[:, 3], quat[:, 0])))


def heading_bound_deg(turn_deg_s: float, turn_s: float, up_sensor: FloatArray) -> float:
    """Largest heading error the step limit allows from a slow turn about the vertical.

    ``rate * (turn_s + L) + NOISE_MARGIN_DEG``, ``rate = min(turn, STEP |u|_1)``,
    ``L = max(REST_TIME_S + 2 COMMIT_S, BIAS_TAU_S)`` (5 s at the defaults): for a 10 s turn
    1.4 deg at worst (``|u|_1 = sqrt(3)``, the vertical along a diagonal of the sensor axes),
    0.85 deg with sensor z vertical. Within a still period every bias
    axis stays within ``STEP_RAD_S`` of the first rest's bias, so the error of the vertical
    bias component (the heading rate error) is at most ``STEP_RAD_S |u|_1`` (``u`` the
    vertical in the sensor frame) and no more than the turn rate. The wrong bias is committed
    only once the turn has begun, and is gone ``L`` after it: when the stop ends the still
    period, the rest after it is confirmed ``REST_TIME_S`` later and its first commit
    restores the bias; when the still period goes on through the stop (a smooth stop, or a
    turn below the 2 deg/s deviation threshold) and the limit held an axis back, the mean
    has restarted, so the second commit after the stop holds a mean of the rest alone; an
    axis the limit never held back (its excess stayed below one step) fades with the mean's
    time constant ``BIAS_TAU_S``.
    """
    rate_dps = min(turn_deg_s, math.degrees(STEP_RAD_S) * float(np.abs(up_sensor).sum()))
    lag_s = max(REST_TIME_S + 2.0 * COMMIT_S, BIAS_TAU_S)
    return rate_dps * (turn_s + lag_s) + NOISE_MARGIN_DEG


def run_slow_yaw(
    turn_deg_s: float,
    turn_s: float,
    up_sensor: FloatArray,
    bias_dps: tuple[float, float, float],
    ramp_s: float,
    seed: int,
    filt: Any = None,
    **tunables: Any,
) -> tuple[FloatArray, FloatArray, NDArray[np.int64], FloatArray]:
    """Times, heading errors (deg) accrued since the turn began (the heading drift before
    the first rest is confirmed is the bias's, not the turn's), flags and bias errors (deg/s,
    ``(n, 3)``) of a run."""
    t_s, gyr, acc, heading_true = slow_yaw_inputs(
        turn_deg_s, turn_s, up_sensor, bias_dps, ramp_s, seed
    )
    quat, flags, bias = run_filter(gyr, acc, filt=filt, **tunables)
    heading = filter_heading_deg(quat)
    start = int(REST_BEFORE_S * RATE_HZ)
    err: FloatArray = heading - heading[start] - heading_true
    bias_err: FloatArray = np.degrees(bias) - np.array(bias_dps)
    return t_s, err, flags, bias_err


_bias3 = st.tuples(*[st.floats(-2.0, 2.0)] * 3)


@settings(max_examples=15, deadline=None)
@given(
    turn_deg_s=st.floats(0.5, 3.0),
    turn_s=st.floats(2.0, 10.0),
    tilt_deg=st.floats(0.0, 60.0),
    azimuth_deg=st.floats(0.0, 360.0),
    bias_dps=_bias3,
    ramp_s=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 10_000),
)
def test_slow_yaw_heading_error_bounded(
    turn_deg_s: float,
    turn_s: float,
    tilt_deg: float,
    azimuth_deg: float,
    bias_dps: tuple[float, float, float],
    ramp_s: float,
    seed: int,
) -> None:
    """Rest (bias learnt), a slow turn about the vertical, rest: at the end the heading
    error the turn left is within :func:`heading_bound_deg` (at most 1.4 deg for a 10 s turn,
    against up to the whole 30 deg turn without the limit) and the bias is back at the
    truth, to what is left of an excess below one step after ``REST_AFTER_S - 2 COMMIT_S``
    of the mean's decay; the rest flags are those of the filter without the limit (the limit
    changes the bias only)."""
    up = _unit(tilt_deg, azimuth_deg)
    t_s, err, flags, bias_err = run_slow_yaw(turn_deg_s, turn_s, up, bias_dps, ramp_s, seed)
    at_rest = (flags & ahrs_mod.AT_REST) != 0
    assert np.all(at_rest[(t_s > REST_TIME_S + 0.1) & (t_s < REST_BEFORE_S)]), "first rest"
    bound = heading_bound_deg(turn_deg_s, turn_s, up)
    assert abs(float(err[-1])) < bound, (float(err[-1]), bound)
    left_dps = math.degrees(STEP_RAD_S) * math.exp(-(REST_AFTER_S - 2.0 * COMMIT_S) / BIAS_TAU_S)
    assert float(np.abs(bias_err[-1]).max()) < left_dps + 0.005, "bias not back after the turn"
    _, _, flags_off, _ = run_slow_yaw(
        turn_deg_s, turn_s, up, bias_dps, ramp_s, seed, bias_step_max_rad_s=0.0
    )
    assert np.array_equal(flags, flags_off)


@pytest.mark.parametrize(
    ("turn_deg_s", "turn_s", "ramp_s"), [(0.7, 10.0, 0.0), (1.5, 6.0, 0.5), (3.0, 4.0, 0.0)]
)
def test_slow_yaw_went_into_the_bias_without_the_limit(
    turn_deg_s: float, turn_s: float, ramp_s: float
) -> None:
    """The same turns with the limit off (``bias_step_max_rad_s=0``, the filter as it was
    before it): the turn rate goes into the bias and the heading misses most of the turn,
    several times the bound; with the limit on, the bound holds."""
    up = _unit(35.0, 120.0)
    bias_dps = (0.4, -0.3, 0.2)
    bound = heading_bound_deg(turn_deg_s, turn_s, up)
    _, err_off, _, _ = run_slow_yaw(
        turn_deg_s, turn_s, up, bias_dps, ramp_s, 1, bias_step_max_rad_s=0.0
    )
    _, err_on, _, _ = run_slow_yaw(turn_deg_s, turn_s, up, bias_dps, ramp_s, 1)
    assert abs(float(err_off[-1])) > 0.6 * turn_deg_s * turn_s
    assert abs(float(err_off[-1])) > 2.0 * bound
    assert abs(float(err_on[-1])) < bound


# ------------------------------------------------------------------------------------------
# real bias changes, power-on, reset
# ------------------------------------------------------------------------------------------

#: Bias-change scenario: power-on rest, then cycles of a 1 s motion and a 3 s rest (two
#: commits: at ``REST_TIME_S`` and one ``COMMIT_S`` later), s.
POWER_ON_REST_S, MOTION_S, CYCLE_REST_S, CYCLES = 3.0, 1.0, 3.0, 11


def bias_change_inputs(
    bias_before_dps: tuple[float, float, float],
    bias_after_dps: tuple[float, float, float],
    seed: int,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """A level board: power-on rest with gyro bias ``bias_before_dps``, then
    :data:`CYCLES` cycles of a motion (15 deg about sensor x at 30 deg/s and back) and a rest,
    the bias ``bias_after_dps`` from the first motion on (deg/s). White noise of
    ``ImuParams()``.

    Returns
    -------
    t_s : ndarray, shape (n,)
    gyr_rad_s, acc_m_s2 : ndarray, shape (n, 3)
    rest_ends_s : ndarray, shape (CYCLES,)
        End of each cycle's rest, s.
    """
    cycle_s = MOTION_S + CYCLE_REST_S
    n = int((POWER_ON_REST_S + CYCLES * cycle_s) * RATE_HZ)
    t_s = np.arange(n) / RATE_HZ
    phase = np.mod(t_s - POWER_ON_REST_S, cycle_s)
    moving = (t_s >= POWER_ON_REST_S) & (phase < MOTION_S)
    rate = np.where(moving & (phase < 0.5 * MOTION_S), 30.0 * DEG, 0.0)
    rate = np.where(moving & (phase >= 0.5 * MOTION_S), -30.0 * DEG, rate)
    angle = np.cumsum(rate) / RATE_HZ  # about sensor x, the board starts level
    bias = np.where((t_s < POWER_ON_REST_S)[:, None], bias_before_dps, bias_after_dps)
    rng = np.random.default_rng(seed)
    gyr_noise, acc_noise = white_noise(rng, n)
    gyr = np.radians(bias) + gyr_noise
    gyr[:, 0] += rate
    acc = 9.80665 * np.stack([np.zeros(n), np.sin(angle), np.cos(angle)], axis=1) + acc_noise
    rest_ends: FloatArray = POWER_ON_REST_S + cycle_s * np.arange(1, CYCLES + 1, dtype=float)
    return t_s, gyr, acc, rest_ends


@settings(max_examples=8, deadline=None)
@given(
    bias_before_dps=_bias3,
    change_dps=st.tuples(*[st.floats(-0.5, 0.5)] * 3),
    seed=st.integers(0, 10_000),
)
def test_real_bias_change_learnt_one_step_per_rest(
    bias_before_dps: tuple[float, float, float],
    change_dps: tuple[float, float, float],
    seed: int,
) -> None:
    """After the power-on rest the bias jumps by up to 0.5 deg/s per axis: each later rest
    moves every axis one step (``bias_step_max_rad_s``) towards it, so after rest ``k`` the
    error of an axis is ``max(0, |change| - k step)``, and it is learnt after
    ``ceil(0.5 / step)`` = 10 rests at the default step. Tolerance: the noise of a 1 s mean
    (0.003 deg/s per axis), four times over."""
    after = (
        bias_before_dps[0] + change_dps[0],
        bias_before_dps[1] + change_dps[1],
        bias_before_dps[2] + change_dps[2],
    )
    _, gyr, acc, rest_ends = bias_change_inputs(bias_before_dps, after, seed)
    _, flags, bias = run_filter(gyr, acc)
    at_rest = (flags & ahrs_mod.AT_REST) != 0
    step_dps = math.degrees(STEP_RAD_S)
    change = np.abs(np.array(change_dps))
    for k, end_s in enumerate(rest_ends, start=1):
        i = int(end_s * RATE_HZ) - 1
        assert at_rest[i], f"rest {k} not found"
        err = np.abs(np.degrees(bias[i]) - np.array(after))
        expected = np.maximum(0.0, change - k * step_dps)
        np.testing.assert_allclose(err, expected, atol=0.015, err_msg=f"after rest {k}")
    assert float(np.abs(np.degrees(bias[-1]) - np.array(after)).max()) < 0.015


@settings(max_examples=8, deadline=None)
@given(
    bias_dps=st.tuples(*[st.floats(-4.9, 4.9)] * 3),
    second_dps=st.tuples(*[st.floats(-4.9, 4.9)] * 3),
    seed=st.integers(0, 10_000),
)
def test_power_on_and_cleared_rests_learn_any_bias(
    bias_dps: tuple[float, float, float], second_dps: tuple[float, float, float], seed: int
) -> None:
    """The power-on rest learns a bias of up to ``bias_max_rad_s`` (5 deg/s) per axis within
    0.01 deg/s 2 s after the start, and so does the first rest after ``reset(True)``, which
    forgets the committed bias; after ``reset()`` (bias kept) the next rest moves each axis
    at most one step."""
    n = int(4.0 * RATE_HZ)
    rng = np.random.default_rng(seed)
    up = np.array([0.0, 0.0, 9.80665])

    def rest(b_dps: tuple[float, float, float]) -> tuple[FloatArray, FloatArray]:
        gyr_noise, acc_noise = white_noise(rng, n)
        return np.radians(b_dps) + gyr_noise, up + acc_noise

    ahrs = Ahrs6D(RATE_HZ)
    _, _, bias = run_filter(*rest(bias_dps), filt=ahrs)
    settled = np.arange(n) / RATE_HZ > 2.0
    assert float(np.abs(np.degrees(bias[settled]) - np.array(bias_dps)).max()) < 0.01
    ahrs.reset(True)
    _, _, bias = run_filter(*rest(second_dps), filt=ahrs)
    assert float(np.abs(np.degrees(bias[settled]) - np.array(second_dps)).max()) < 0.01
    ahrs.reset()
    _, _, bias = run_filter(*rest(bias_dps), filt=ahrs)
    step_dps = math.degrees(STEP_RAD_S)
    expected = np.array(second_dps) + np.clip(
        np.array(bias_dps) - np.array(second_dps), -step_dps, step_dps
    )
    np.testing.assert_allclose(np.degrees(bias[-1]), expected, atol=0.015)


@pytest.mark.parametrize("kwargs", [{"bias_step_max_rad_s": 1e-6}, {"bias_step_max_rad_s": 0.1}])
def test_rejects_bad_step_limit(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="bias_step_max_rad_s must be"):
        Ahrs6D(RATE_HZ, **kwargs)


# ------------------------------------------------------------------------------------------
# state
# ------------------------------------------------------------------------------------------

#: The deterministic slow turn of the state and runtime tests: 1.5 deg/s for 8 s about a
#: vertical 35 deg from sensor z, abrupt (the still period goes on through it).
TURN = (1.5, 8.0, _unit(35.0, 120.0), (0.4, -0.3, 0.2), 0.0, 3)


@settings(max_examples=8, deadline=None)
@given(split=st.integers(1, int((REST_BEFORE_S + 8.0 + REST_AFTER_S) * RATE_HZ) - 1))
def test_snapshot_restore_continues_through_a_limited_rest(split: int) -> None:
    """Snapshot/restore at any sample of the slow turn (the reference, the committed flag,
    the restarted mean and the last rest bias are state) continues bit-identically."""
    _, gyr, acc, _ = slow_yaw_inputs(*TURN)
    first = Ahrs6D(RATE_HZ)
    run_filter(gyr[:split], acc[:split], filt=first)
    buf = bytearray(ahrs_mod.SNAPSHOT_SIZE)
    first.snapshot_into(buf)
    q_a, f_a, b_a = run_filter(gyr[split:], acc[split:], filt=first)
    second = Ahrs6D(RATE_HZ)
    second.restore(bytes(buf))
    q_b, f_b, b_b = run_filter(gyr[split:], acc[split:], filt=second)
    assert np.array_equal(q_a, q_b)
    assert np.array_equal(f_a, f_b)
    assert np.array_equal(b_a, b_b)


#: Snapshot layout 2 (before the step limit): this magic, then 34 little-endian int32.
V2_MAGIC, V2_WORDS = 0x0AE50002, 34


def test_restore_accepts_layout_2_snapshots() -> None:
    """A layout-2 snapshot (the first 34 state words are the same) restores q and bias; the
    bias counts as not yet committed, so the next rest is trusted as the firmware that wrote
    it would have trusted it, while a layout-3 restore keeps the limit."""
    n = int(4.0 * RATE_HZ)
    rng = np.random.default_rng(5)
    gyr_noise, acc_noise = white_noise(rng, 2 * n + 200)
    acc = np.array([0.0, 0.0, 9.80665]) + acc_noise
    gyr = gyr_noise + np.radians([0.4, -0.3, 0.2])
    gyr[n : n + 200, 0] += 1.0  # a short fast motion ends the still period
    gyr[n + 200 :] += np.radians([1.0, -1.0, 0.5])  # then a rest with another mean
    first = Ahrs6D(RATE_HZ)
    run_filter(gyr[:n], acc[:n], filt=first)
    full = bytearray(ahrs_mod.SNAPSHOT_SIZE)
    first.snapshot_into(full)
    old = bytearray(4 + 4 * V2_WORDS)
    old[0:4] = V2_MAGIC.to_bytes(4, "little")
    old[4:] = full[4 : 4 + 4 * V2_WORDS]
    from_v2 = Ahrs6D(RATE_HZ)
    from_v2.restore(bytes(old))
    assert list(from_v2.q) == list(first.q)
    assert list(from_v2.bias) == list(first.bias)
    _, _, b_v2 = run_filter(gyr[n:], acc[n:], filt=from_v2)
    _, _, b_v3 = run_filter(gyr[n:], acc[n:], filt=first)
    truth = np.array([1.4, -1.3, 0.7])
    assert float(np.abs(np.degrees(b_v2[-1]) - truth).max()) < 0.01
    step_dps = math.degrees(STEP_RAD_S)
    expected = np.array([0.4, -0.3, 0.2]) + step_dps * np.array([1.0, -1.0, 1.0])
    np.testing.assert_allclose(np.degrees(b_v3[-1]), expected, atol=0.005)


# ------------------------------------------------------------------------------------------
# runtimes
# ------------------------------------------------------------------------------------------


def _limited_scenarios() -> dict[str, tuple[FloatArray, FloatArray]]:
    """Inputs whose rests hit the step limit: the slow turn and the bias change."""
    _, gyr_t, acc_t, _ = slow_yaw_inputs(*TURN)
    _, gyr_c, acc_c, _ = bias_change_inputs((0.4, -0.3, 0.2), (0.9, -0.8, -0.3), 2)
    return {"slow_yaw": (gyr_t, acc_t), "bias_change": (gyr_c, acc_c)}


@pytest.mark.parametrize("scenario", ["slow_yaw", "bias_change"])
def test_integers_fit_32bit_small_ints_in_limited_rests(scenario: str) -> None:
    gyr, acc = _limited_scenarios()[scenario]
    module, monitor = instrumented_ahrs()
    quat, _, bias = run_filter(gyr, acc, filt=module.Ahrs6D(RATE_HZ))
    reference, _, bias_ref = run_filter(gyr, acc)
    assert np.array_equal(quat, reference)  # the instrumented copy computes the same
    assert np.array_equal(bias, bias_ref)
    assert monitor.count > 1_000_000
    assert monitor.largest < SMALL_INT_LIMIT


@settings(max_examples=10, deadline=None)
@given(
    rate_hz=st.floats(40.0, 1000.0),
    first_rad_s=st.tuples(*[st.floats(-0.08, 0.08)] * 3),
    second_rad_s=st.tuples(*[st.floats(-0.08, 0.08)] * 3),
    step_rad_s=st.one_of(st.just(0.0), st.floats(0.0001, 0.08)),
)
def test_integers_fit_32bit_small_ints_for_any_limited_rest(
    rate_hz: float,
    first_rad_s: tuple[float, float, float],
    second_rad_s: tuple[float, float, float],
    step_rad_s: float,
) -> None:
    """Two rests with any gyro means up to the bias clip, apart by a motion, at any rate and
    step: every integer < 2**30, and the second rest's bias within one step of the first's."""
    module, monitor = instrumented_ahrs()
    ahrs = module.Ahrs6D(rate_hz, bias_step_max_rad_s=step_rad_s)
    n = int(2.0 * rate_hz)
    for _ in range(n):
        ahrs.update(*first_rad_s, 0.1, 0.2, 9.79)
    first = np.array(ahrs.bias, dtype=np.float64)
    for _ in range(int(0.2 * rate_hz)):
        ahrs.update(1.0, 0.0, 0.0, 0.1, 0.2, 9.79)
    for _ in range(n):
        ahrs.update(*second_rad_s, 0.1, 0.2, 9.79)
    second = np.array(ahrs.bias, dtype=np.float64)
    assert monitor.largest < SMALL_INT_LIMIT
    if step_rad_s > 0:
        assert float(np.abs(second - first).max()) <= step_rad_s * (1.0 + 1e-6) + 1e-7


@pytest.mark.micropython
def test_micropython_limited_rests_bit_identical() -> None:
    for gyr, acc in _limited_scenarios().values():
        q_mp, f_mp, b_mp = replay_micropython(gyr, acc)
        q_cpy, f_cpy, b_cpy = run_filter(gyr, acc)
        assert np.array_equal(q_mp, q_cpy)
        assert np.array_equal(f_mp, f_cpy)
        assert np.array_equal(b_mp, b_cpy)


@pytest.mark.micropython
@pytest.mark.parametrize("scenario", ["slow_yaw", "bias_change"])
@pytest.mark.parametrize("emit", ["bytecode", "native"])
def test_micropython_heap_in_limited_rests(emit: str, scenario: str) -> None:
    gyr, acc = _limited_scenarios()[scenario]
    assert micropython_heap_per_update(gyr, acc, emit) < HEAP_BYTES_PER_UPDATE_BOUND
