"""Time profiles: the minimum-jerk blend is C2, and the rep schedule puts reps where it says."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.sim import RepSchedule, minimum_jerk


def test_minimum_jerk_ends_flat_up_to_second_derivative() -> None:
    h = 1e-4
    for u in (0.0, 1.0):
        f = minimum_jerk(np.array([u - h, u, u + h]))
        assert f[1] == u
        # First and second differences vanish to O(h^3) at both ends.
        assert abs(f[2] - f[0]) / (2 * h) < 1e-6
        assert abs(f[2] - 2 * f[1] + f[0]) / h**2 < 1e-2


def test_minimum_jerk_is_monotone_and_clamped() -> None:
    u = np.linspace(-0.5, 1.5, 2001)
    f = minimum_jerk(u)
    assert np.all(np.diff(f) >= 0)
    assert f.min() == 0.0
    assert f.max() == 1.0


schedules = st.builds(
    RepSchedule,
    rest_before_s=st.floats(0.0, 4.0),
    reps=st.integers(1, 8),
    descent_s=st.floats(0.3, 3.0),
    bottom_pause_s=st.floats(0.0, 1.0),
    ascent_s=st.floats(0.3, 3.0),
    top_pause_s=st.floats(0.0, 1.0),
    rest_after_s=st.floats(0.0, 4.0),
)


@settings(max_examples=40)
@given(schedules)
def test_progress_is_zero_at_rest_and_one_at_the_bottom(schedule: RepSchedule) -> None:
    np.testing.assert_allclose(schedule.progress(schedule.bottom_t_s), 1.0, rtol=0, atol=1e-12)
    ends = np.concatenate([schedule.start_t_s, schedule.end_t_s])
    np.testing.assert_allclose(schedule.progress(ends), 0.0, atol=1e-9)
    np.testing.assert_array_equal(schedule.progress(np.array([-1.0, schedule.duration_s + 5])), 0)
    np.testing.assert_allclose(
        schedule.progress(np.array([0.0, schedule.duration_s])), 0, atol=1e-12
    )
    assert schedule.end_t_s[-1] == pytest.approx(schedule.duration_s - schedule.rest_after_s)


@settings(max_examples=40)
@given(schedules)
def test_progress_is_smooth(schedule: RepSchedule) -> None:
    # C2: the second difference on a fine grid never jumps (a C1 profile would jump by about
    # pi^2/2/T^2 at the rep boundaries).
    dt = 1e-3
    t = np.arange(-0.5, schedule.duration_s + 0.5, dt)
    s = schedule.progress(t)
    acc = np.diff(s, 2) / dt**2
    jerk_bound = 60.0 / min(schedule.descent_s, schedule.ascent_s) ** 3
    assert np.abs(np.diff(acc)).max() <= 1.5 * jerk_bound * dt + 1e-6
    assert np.all((s >= 0) & (s <= 1))


def test_no_reps_means_all_rest() -> None:
    schedule = RepSchedule(2.0, 0, 1.0, 0.0, 1.0, 0.0, 3.0)
    assert schedule.duration_s == 5.0
    np.testing.assert_array_equal(schedule.progress(np.linspace(0, 5, 11)), 0.0)


def test_invalid_tempo_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        RepSchedule(1.0, 3, 0.0, 0.5, 1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        RepSchedule(-1.0, 3, 1.0, 0.5, 1.0, 0.5, 1.0)
