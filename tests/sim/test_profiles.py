"""Time profiles: the minimum-jerk blend is C2, and the rep schedule puts the setup and the reps
where it says."""

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
    setup_s=st.just(0.0) | st.floats(0.3, 3.0),
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


@settings(max_examples=40)
@given(schedules)
def test_setup_goes_from_neutral_to_the_top_before_the_first_rep(schedule: RepSchedule) -> None:
    assert schedule.start_t_s[0] == schedule.rest_before_s + schedule.setup_s
    t = np.arange(-0.5, schedule.duration_s + 0.5, 1e-3)
    w = schedule.setup_progress(t)
    before, after = t <= schedule.rest_before_s, t >= schedule.start_t_s[0]
    np.testing.assert_array_equal(w[after], 1.0)
    np.testing.assert_array_equal(w[before], 0.0 if schedule.setup_s > 0 else 1.0)
    np.testing.assert_array_equal(schedule.progress(t[~after]), 0.0)  # no rep during the setup
    assert np.all(np.diff(w) >= 0)
    if schedule.setup_s > 0:
        acc = np.diff(w, 2) / 1e-3**2
        assert np.abs(np.diff(acc)).max() <= 1.5 * 60.0 / schedule.setup_s**3 * 1e-3


def test_no_reps_means_all_rest() -> None:
    schedule = RepSchedule(2.0, 0, 1.0, 0.0, 1.0, 0.0, 3.0)
    assert schedule.duration_s == 5.0
    np.testing.assert_array_equal(schedule.progress(np.linspace(0, 5, 11)), 0.0)
    with_setup = RepSchedule(2.0, 0, 1.0, 0.0, 1.0, 0.0, 3.0, setup_s=1.5)
    assert with_setup.duration_s == 6.5


def test_invalid_tempo_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        RepSchedule(1.0, 3, 0.0, 0.5, 1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        RepSchedule(-1.0, 3, 1.0, 0.5, 1.0, 0.5, 1.0)
    with pytest.raises(ValueError, match="setup_s"):
        RepSchedule(1.0, 3, 1.0, 0.5, 1.0, 0.5, 1.0, setup_s=-0.5)


multi_set_schedules = st.builds(
    RepSchedule,
    rest_before_s=st.floats(0.0, 4.0),
    reps=st.integers(1, 4),
    descent_s=st.floats(0.3, 3.0),
    bottom_pause_s=st.floats(0.0, 1.0),
    ascent_s=st.floats(0.3, 3.0),
    top_pause_s=st.floats(0.0, 1.0),
    rest_after_s=st.floats(0.0, 4.0),
    setup_s=st.just(0.0) | st.floats(0.3, 3.0),
    sets=st.integers(2, 4),
    set_rest_s=st.floats(0.0, 5.0),
)


@settings(max_examples=40)
@given(multi_set_schedules)
def test_between_sets_the_setup_runs_back_down_and_up_again(schedule: RepSchedule) -> None:
    dt = 1e-3
    t = np.arange(-0.5, schedule.duration_s + 0.5, dt)
    w, s = schedule.setup_progress(t), schedule.progress(t)
    assert np.all((w >= 0) & (w <= 1))
    for start, end in zip(schedule.set_start_t_s, schedule.set_end_t_s, strict=True):
        in_set = (t >= start) & (t <= end)
        np.testing.assert_array_equal(w[in_set], 1.0)  # every rep starts from the top position
    for start, end in schedule.set_rest_t_s:
        still = (t >= start) & (t <= end)
        np.testing.assert_array_equal(w[still], 0.0 if schedule.setup_s > 0 else 1.0)
        np.testing.assert_array_equal(s[still], 0.0)
    rep_windows = np.zeros(t.shape, dtype=bool)
    for start, end in zip(schedule.start_t_s, schedule.end_t_s, strict=True):
        rep_windows |= (t > start) & (t < end)
    np.testing.assert_array_equal(s[~rep_windows], 0.0)  # no rep outside its window
    if schedule.setup_s > 0:  # C2: bounded jerk
        acc = np.diff(w, 2) / dt**2
        assert np.abs(np.diff(acc)).max() <= 1.5 * 60.0 / schedule.setup_s**3 * dt
    idx = schedule.rep_index(schedule.bottom_t_s)
    np.testing.assert_array_equal(idx, np.arange(schedule.sets * schedule.reps))
    np.testing.assert_array_equal(
        schedule.set_index_of_rep, np.repeat(np.arange(schedule.sets), schedule.reps)
    )
    assert schedule.end_t_s[-1] == pytest.approx(schedule.duration_s - schedule.rest_after_s)


def test_invalid_sets_are_rejected_by_the_schedule() -> None:
    with pytest.raises(ValueError, match="sets"):
        RepSchedule(1.0, 3, 1.0, 0.5, 1.0, 0.5, 1.0, sets=0)
    with pytest.raises(ValueError, match="reps >= 1"):
        RepSchedule(1.0, 0, 1.0, 0.5, 1.0, 0.5, 1.0, sets=2)
    with pytest.raises(ValueError, match="set_rest_s"):
        RepSchedule(1.0, 3, 1.0, 0.5, 1.0, 0.5, 1.0, sets=2, set_rest_s=-1.0)
