"""BoardTrack: counter unwrapping, gaps, late and duplicate samples, host-clock offset."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from coxa.pipeline import BoardTrack

PERIOD_US = 5000


def _add(track: BoardTrack, seq0: int, count: int, t_rx_us: int, t0_us: int | None = None) -> int:
    t0 = (seq0 * PERIOD_US if t0_us is None else t0_us) % 2**32
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (count, 1))
    gyr = np.full((count, 3), float(seq0))
    return track.add(
        t_rx_us, seq0 % 2**32, t0, PERIOD_US, quat, gyr, np.zeros(count, dtype=np.uint8)
    )


def test_counters_unwrap_across_the_u32_boundary() -> None:
    track = BoardTrack(7, "femur_r")
    start = 2**32 - 20
    for k in range(4):
        _add(track, start + 15 * k, 15, t_rx_us=10**9 + k, t0_us=2**32 - 1000 + 15 * k * PERIOD_US)
    np.testing.assert_array_equal(track.seq, start + np.arange(60))
    assert np.all(np.diff(track.t_device_us) == PERIOD_US)
    assert track.t_device_us[-1] > 2**32


def test_gap_is_kept_and_late_samples_are_inserted_in_order() -> None:
    track = BoardTrack(1, "tibia_l")
    _add(track, 0, 15, 100_000)
    _add(track, 30, 15, 200_000)  # samples 15..29 lost for now
    assert track.n_samples == 30
    assert _add(track, 15, 15, 300_000) == 15  # backfill arrives later
    np.testing.assert_array_equal(track.seq, np.arange(45))
    np.testing.assert_array_equal(track.gyr_rad_s[15:30, 0], 15.0)
    assert _add(track, 15, 15, 400_000) == 0
    assert track.duplicates == 15


def test_offset_is_the_lower_envelope_of_receive_delays() -> None:
    track = BoardTrack(1, "pelvis")
    delays_us = [9000, 4000, 12000, 4500]
    for k, delay in enumerate(delays_us):
        newest_t_us = (15 * k + 14) * PERIOD_US
        _add(track, 15 * k, 15, newest_t_us + 2_000_000 + delay)
    assert track.offset_us == 2_000_000 + 4000
    assert track.t_host_us[0] == 2_004_000


@given(st.permutations(list(range(8))), st.integers(0, 2**32 - 1))
def test_any_arrival_order_gives_the_same_sorted_track(order: list[int], start: int) -> None:
    track = BoardTrack(3, "femur_l")
    # The first frame received anchors the unwrapping; later ones are within +-2**31 of it.
    for k in order:
        _add(track, start + 10 * k, 10, 10**7 + k)
    np.testing.assert_array_equal(track.seq - track.seq[0], np.arange(80))
    np.testing.assert_array_equal(np.diff(track.t_device_us), PERIOD_US)


def test_storage_grows_past_its_initial_capacity() -> None:
    track = BoardTrack(2, "femur_r")
    for k in range(100):
        _add(track, 15 * k, 15, 10**6 + k * 75_000)
    assert track.n_samples == 1500
    np.testing.assert_array_equal(track.seq, np.arange(1500))
