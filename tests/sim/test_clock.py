"""Board clock: drift shows as the device-time slope, the period is nominal in device time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.sim import (
    ClockParams,
    ImuParams,
    Motion,
    MotionParams,
    default_mount,
    sample_times,
    synthesize_imu,
)

drifts = st.floats(-500.0, 500.0)
offsets = st.integers(0, 2**40)


@settings(max_examples=30)
@given(drifts, offsets, st.floats(0.0, 100.0), st.integers(0, 2**32 - 1))
def test_drift_shows_as_the_device_time_slope(
    drift_ppm: float, offset_us: int, jitter_us: float, seed: int
) -> None:
    clock = ClockParams(drift_ppm=drift_ppm, jitter_us=jitter_us, offset_us=offset_us)
    times = sample_times(clock, 200.0, 0.0, 60.0, np.random.default_rng(seed))
    slope, intercept = np.polyfit(times.t_s, (times.t_us - offset_us).astype(np.float64), 1)
    assert slope == pytest.approx(1e6 * (1 + drift_ppm * 1e-6), abs=1.0)  # within 1 ppm
    assert abs(intercept) < 10.0 + jitter_us
    # True sample spacing shrinks when the board clock runs fast.
    np.testing.assert_allclose(np.diff(times.t_s), 5e-3 / (1 + drift_ppm * 1e-6), rtol=1e-9)


@settings(max_examples=20)
@given(drifts, offsets, st.floats(0.0, 10.0), st.floats(0.01, 5.0))
def test_without_jitter_the_device_period_is_exact(
    drift_ppm: float, offset_us: int, t_start_s: float, span_s: float
) -> None:
    clock = ClockParams(drift_ppm=drift_ppm, jitter_us=0.0, offset_us=offset_us)
    times = sample_times(clock, 200.0, t_start_s, t_start_s + span_s, np.random.default_rng(0))
    assert times.t_us.dtype == np.int64
    np.testing.assert_array_equal(np.diff(times.t_us), 5000)
    assert times.t_s[0] >= t_start_s - 1e-9
    assert times.t_s[-1] <= t_start_s + span_s
    assert times.t_s[0] - t_start_s < 2e-6
    assert times.t_s.size == pytest.approx(span_s * 200.0 * (1 + drift_ppm * 1e-6), abs=1.0)


def test_jitter_moves_timestamps_not_samples() -> None:
    clock = ClockParams(drift_ppm=0.0, jitter_us=50.0)
    times = sample_times(clock, 100.0, 0.0, 30.0, np.random.default_rng(1))
    deviation = times.t_us - 1e6 * times.t_s
    assert np.std(deviation) == pytest.approx(50.0, rel=0.1)
    np.testing.assert_allclose(np.diff(times.t_s), 0.01, rtol=1e-9)


def test_imu_recording_uses_the_board_clock() -> None:
    params = ImuParams(clock=ClockParams(drift_ppm=100.0, jitter_us=0.0, offset_us=123_456))
    rec = synthesize_imu(Motion(MotionParams(reps=1)), default_mount("pelvis"), params, seed=0)
    assert rec.t_us[0] == 123_456
    expected = 123_456 + rec.t_s * 1e6 * (1 + 100e-6)
    np.testing.assert_allclose(rec.t_us, expected, atol=0.51)


def test_invalid_clock_is_rejected() -> None:
    with pytest.raises(ValueError, match="jitter"):
        ClockParams(jitter_us=-1.0)
    with pytest.raises(ValueError, match="rate_hz"):
        sample_times(ClockParams(), 0.0, 0.0, 1.0, np.random.default_rng(0))
