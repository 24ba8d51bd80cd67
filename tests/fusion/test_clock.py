"""ClockSync: board clock to host clock from the lower envelope of receive delays.

A synthetic link: a board samples every 5 ms of its own clock, which runs fast or slow by
``drift_ppm``; each frame of 15 samples leaves with its newest sample and arrives after a
constant floor plus exponential jitter, now and then a 200 ms spike (head-of-line: the link
keeps order), and bursts of frames are lost. The truth of a sample's host time is known, so the
map can be scored: ``to_host_us(t_device)`` must equal the sample's true host time plus the
delay floor (receive times alone cannot tell the floor from a clock offset).

Bound: 1 ms [derived]: a knee bending 110 deg in a brisk 0.7 s minimum-jerk descent peaks at
1.875 x 110 / 0.7 = 295 deg/s, so 1 ms of timing error moves an angle by at most 0.3 deg, a
tenth of the 3 deg RMS of the best published IMU systems (domain notes, section 5). The bound
discriminates: without the drift term a 100 ppm clock is 3 ms off 30 s from the reference
point, and the mean receive delay is 0.5-4 ms (plus spikes) above the floor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.fusion import ClockParams, ClockSync
from coxa.fusion._clock import device_us
from coxa.geometry import FloatArray

PERIOD_US = 5_000
FRAME_SAMPLES = 15
SPIKE_US = 200_000.0
BOUND_US = 1_000.0
#: Streaming predictions are scored once the envelope spans this much more than the span the
#: drift estimate waits for (``ClockParams.min_span_s``), seconds [assumption].
SETTLE_S = 5.0


@dataclass(frozen=True)
class Link:
    """Samples that reached the host, in receive order.

    Attributes
    ----------
    t_device_us : ndarray of int64, shape (n,)
        Board clock of each sample.
    t_rx_us : ndarray of int64, shape (n,)
        Host receive time of each sample's frame.
    t_host_true_us : ndarray, shape (n,)
        Host clock at the instant each sample was taken.
    floor_us : float
        Smallest possible delay.
    """

    t_device_us: np.ndarray
    t_rx_us: np.ndarray
    t_host_true_us: FloatArray
    floor_us: float


@st.composite
def links(draw: st.DrawFn, duration_s: float = 60.0) -> Link:
    """A synthetic link with drawn drift, delays, spikes and losses."""
    drift_ppm = draw(st.floats(-100.0, 100.0))
    floor_us = draw(st.floats(3_000.0, 30_000.0))
    jitter_mean_us = draw(st.floats(500.0, 4_000.0))
    p_spike = draw(st.floats(0.0, 0.05))
    p_enter_loss = draw(st.floats(0.0, 0.02))
    seed = draw(st.integers(0, 2**32 - 1))
    device_start_us = draw(st.integers(0, 2**40))
    return make_link(
        np.random.default_rng(seed),
        duration_s,
        drift_ppm,
        floor_us,
        jitter_mean_us,
        p_spike,
        p_enter_loss,
        device_start_us,
    )


def make_link(
    rng: np.random.Generator,
    duration_s: float,
    drift_ppm: float,
    floor_us: float,
    jitter_mean_us: float,
    p_spike: float,
    p_enter_loss: float,
    device_start_us: int,
) -> Link:
    """Build a link (see the module docstring); losses are bursts with mean length 4 frames."""
    n_frames = int(duration_s * 1e6 / (PERIOD_US * FRAME_SAMPLES))
    k = np.arange(n_frames * FRAME_SAMPLES, dtype=np.int64)
    t_device = device_start_us + k * PERIOD_US
    host_start_us = 2_000_000_000.0
    t_host_true = host_start_us + (k * PERIOD_US) / (1.0 + drift_ppm * 1e-6)
    sent = t_host_true[FRAME_SAMPLES - 1 :: FRAME_SAMPLES]
    delay = floor_us + rng.exponential(jitter_mean_us, n_frames)
    delay += np.where(rng.uniform(size=n_frames) < p_spike, SPIKE_US, 0.0)
    arrival = np.maximum.accumulate(np.round(sent + delay)).astype(np.int64)
    delivered = np.ones(n_frames, dtype=np.bool_)
    lost = False
    for i, draw in enumerate(rng.uniform(size=n_frames)):
        lost = draw >= 0.25 if lost else draw < p_enter_loss
        delivered[i] = not lost
    keep = np.repeat(delivered, FRAME_SAMPLES)
    return Link(
        t_device_us=t_device[keep],
        t_rx_us=np.repeat(arrival, FRAME_SAMPLES)[keep],
        t_host_true_us=t_host_true[keep],
        floor_us=floor_us,
    )


def frame_blocks(link: Link, frames_per_block: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The link's samples in updates of whole frames, in receive order."""
    size = frames_per_block * FRAME_SAMPLES
    return [
        (link.t_device_us[i : i + size], link.t_rx_us[i : i + size])
        for i in range(0, link.t_device_us.size, size)
    ]


def map_error_us(clock: ClockSync, link: Link) -> FloatArray:
    """Host-time prediction of every sample minus its true host time plus the delay floor."""
    return clock.to_host_us(link.t_device_us) - (link.t_host_true_us + link.floor_us)


@settings(max_examples=40, deadline=None)
@given(link=links(), frames_per_block=st.integers(1, 40))
def test_map_error_under_bound_after_60_s(link: Link, frames_per_block: int) -> None:
    clock = ClockSync()
    settle_us = (ClockParams().min_span_s + SETTLE_S) * 1e6
    t0 = link.t_device_us[0]
    for t_device, t_rx in frame_blocks(link, frames_per_block):
        clock.update(t_device, t_rx)
        if t_device[-1] - t0 >= settle_us:
            # Live use: the newest sample is mapped as well as the whole history.
            newest = clock.to_host_us(t_device[-1:])[0]
            truth = link.t_host_true_us[np.searchsorted(link.t_device_us, t_device[-1])]
            assert abs(newest - truth - link.floor_us) < BOUND_US
    error = map_error_us(clock, link)
    assert np.max(np.abs(error)) < BOUND_US


@settings(max_examples=15, deadline=None)
@given(link=links(), data=st.data())
def test_snapshot_restore_continues_identically(link: Link, data: st.DataObject) -> None:
    blocks = frame_blocks(link, data.draw(st.integers(1, 30), label="frames_per_block"))
    cut = data.draw(st.integers(0, len(blocks)), label="cut")
    clock = ClockSync()
    for t_device, t_rx in blocks[:cut]:
        clock.update(t_device, t_rx)
    state = clock.snapshot()
    for t_device, t_rx in blocks[cut:]:
        clock.update(t_device, t_rx)
    resumed = ClockSync()
    resumed.restore(state)
    for t_device, t_rx in blocks[cut:]:
        resumed.update(t_device, t_rx)
    assert resumed.ready == clock.ready
    assert (resumed.offset_us, resumed.drift) == (clock.offset_us, clock.drift)
    np.testing.assert_array_equal(
        resumed.to_host_us(link.t_device_us), clock.to_host_us(link.t_device_us)
    )
    # The snapshot is a copy: continuing the original did not change it.
    again = ClockSync()
    again.restore(state)
    for t_device, t_rx in blocks[cut:]:
        again.update(t_device, t_rx)
    assert (again.offset_us, again.drift) == (clock.offset_us, clock.drift)


@settings(max_examples=15, deadline=None)
@given(link=links(), data=st.data())
def test_update_order_keeps_map_under_bound(link: Link, data: st.DataObject) -> None:
    """Blocks and samples in any order (backfill, reordering): the map still meets the bound,
    and agrees with the in-order map to well within it."""
    blocks = frame_blocks(link, data.draw(st.integers(1, 30), label="frames_per_block"))
    order = data.draw(st.permutations(range(len(blocks))), label="order")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="shuffle_seed"))
    in_order = ClockSync()
    for t_device, t_rx in blocks:
        in_order.update(t_device, t_rx)
    shuffled = ClockSync()
    for i in order:
        t_device, t_rx = blocks[i]
        inside = rng.permutation(t_device.size)
        shuffled.update(t_device[inside], t_rx[inside])
    assert np.max(np.abs(map_error_us(shuffled, link))) < BOUND_US
    difference = shuffled.to_host_us(link.t_device_us) - in_order.to_host_us(link.t_device_us)
    assert np.max(np.abs(difference)) < BOUND_US / 4


def test_no_sample_yet_is_an_error() -> None:
    clock = ClockSync()
    assert not clock.ready
    clock.update(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    assert not clock.ready
    with pytest.raises(RuntimeError, match="no sample"):
        clock.to_host_us(np.array([0]))


def test_offset_only_before_min_span() -> None:
    """Before the envelope spans ``min_span_s`` no drift is fitted (it would be noise)."""
    half_span_s = ClockParams().min_span_s / 2
    link = make_link(np.random.default_rng(1), half_span_s, 80.0, 5_000.0, 1_000.0, 0.0, 0.0, 0)
    clock = ClockSync()
    clock.update(link.t_device_us, link.t_rx_us)
    assert clock.drift == 0.0
    assert clock.offset_us == float(np.min(link.t_rx_us - link.t_device_us))


def test_update_order_does_not_change_the_map() -> None:
    """``update`` says samples may come in any order: the same samples must give the same map
    (to float rounding), whatever the order of the updates."""
    for seed in range(10):
        link = make_link(np.random.default_rng(seed), 60.0, 60.0, 5_000.0, 2_000.0, 0.02, 0.01, 0)
        blocks = frame_blocks(link, 10)
        forward, backward = ClockSync(), ClockSync()
        for t_device, t_rx in blocks:
            forward.update(t_device, t_rx)
        for t_device, t_rx in reversed(blocks):
            backward.update(t_device, t_rx)
        np.testing.assert_allclose(
            backward.to_host_us(link.t_device_us),
            forward.to_host_us(link.t_device_us),
            rtol=0.0,
            atol=1e-3,
        )


def reference_envelope(
    t_device_us: np.ndarray, t_rx_us: np.ndarray, params: ClockParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The envelope by its definition, from all samples at once: per device-time window
    ``t // window`` the sample of smallest delay (earliest device time among equal delays), the
    ``history_windows`` highest windows."""
    window_us = round(params.window_s * 1e6)
    index = t_device_us // window_us
    delay = t_rx_us - t_device_us
    order = np.lexsort((t_device_us, delay, index))
    index, delay, t_dev = index[order], delay[order], t_device_us[order]
    first = np.ones(index.size, dtype=np.bool_)
    first[1:] = index[1:] != index[:-1]
    keep = slice(-params.history_windows, None)
    return index[first][keep], t_dev[first][keep], delay[first][keep]


@settings(max_examples=30, deadline=None)
@given(
    link=links(duration_s=40.0),
    data=st.data(),
    history_windows=st.integers(1, 30),
    window_s=st.sampled_from([0.05, 0.5, 2.0]),
)
def test_envelope_is_a_function_of_the_sample_set(
    link: Link, data: st.DataObject, history_windows: int, window_s: float
) -> None:
    """Samples in any split and order (blocks permuted, samples shuffled inside, some repeated)
    give exactly the envelope of the definition, hence bit-identical maps; small histories make
    old windows drop out on the way."""
    params = ClockParams(window_s=window_s, history_windows=history_windows)
    blocks = frame_blocks(link, data.draw(st.integers(1, 30), label="frames_per_block"))
    order = data.draw(st.permutations(range(len(blocks))), label="order")
    repeats = data.draw(st.lists(st.integers(0, len(blocks) - 1), max_size=5), label="repeats")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="shuffle_seed"))
    clock = ClockSync(params)
    for i in [*order, *repeats]:
        t_device, t_rx = blocks[i]
        inside = rng.permutation(t_device.size)
        clock.update(t_device[inside], t_rx[inside])
    state = clock.snapshot()
    expected = reference_envelope(link.t_device_us, link.t_rx_us, params)
    np.testing.assert_array_equal(state.window_index, expected[0])
    np.testing.assert_array_equal(state.window_t_device_us, expected[1])
    np.testing.assert_array_equal(state.window_delay_us, expected[2])
    whole = ClockSync(params)
    whole.update(link.t_device_us, link.t_rx_us)
    assert (clock.offset_us, clock.drift) == (whole.offset_us, whole.drift)
    np.testing.assert_array_equal(
        clock.to_host_us(link.t_device_us), whole.to_host_us(link.t_device_us)
    )


def test_mismatched_inputs_are_refused() -> None:
    clock = ClockSync()
    with pytest.raises(ValueError, match="t_device_us"):
        clock.update(np.arange(3, dtype=np.int64), np.arange(4, dtype=np.int64))
    with pytest.raises(ValueError, match="t_device_us"):
        clock.update(np.zeros((2, 2), dtype=np.int64), np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="history_windows"):
        ClockParams(history_windows=0)
    with pytest.raises(ValueError, match="window_s"):
        ClockParams(window_s=0.0)
    with pytest.raises(ValueError, match="min_span_s"):
        ClockParams(min_span_s=float("nan"))


def test_negative_device_times_use_floor_windows() -> None:
    """Windows are ``floor(t / window)`` also before the device clock's zero (a backfill of
    samples older than the first one seen can unwrap below it)."""
    params = ClockParams(window_s=1.0)
    t_device = np.array([-1_500_000, -500_000, -1, 0, 999_999, 1_000_000], dtype=np.int64)
    clock = ClockSync(params)
    clock.update(t_device, t_device + 7_000)
    np.testing.assert_array_equal(clock.snapshot().window_index, [-2, -1, 0, 1])
    assert clock.offset_us == 7_000.0


@settings(max_examples=25, deadline=None)
@given(link=links(), data=st.data())
def test_update_until_is_update_cutoff_by_cutoff(link: Link, data: st.DataObject) -> None:
    """Samples added in steps of receive time (``update_until``) leave the map, after every
    step, bit for bit where ``update`` with each step's samples leaves it (a short history, so
    windows are forgotten on the way); samples after the last cutoff stay out."""
    params = ClockParams(history_windows=data.draw(st.integers(1, 40), label="history"))
    n = link.t_rx_us.size
    first = data.draw(st.integers(0, n), label="given_before")
    lo, hi = float(link.t_rx_us[0]) - 1e6, float(link.t_rx_us[-1]) + 1e6
    cutoffs = sorted(
        data.draw(
            st.lists(st.floats(lo, hi) | st.just(np.inf), min_size=1, max_size=10),
            label="cutoffs",
        )
    )
    stepped, reference = ClockSync(params), ClockSync(params)
    for clock in (stepped, reference):
        clock.update(link.t_device_us[:first], link.t_rx_us[:first])
    t_dev, t_rx = link.t_device_us[first:], link.t_rx_us[first:]
    maps, added = stepped.update_until(t_dev, t_rx, np.array(cutoffs))
    previous = -np.inf
    for clock_map, cutoff in zip(maps, cutoffs, strict=True):
        step = (t_rx > previous) & (t_rx <= cutoff)
        reference.update(t_dev[step], t_rx[step])
        state = reference.snapshot()
        t_ref = np.nan if state.t_ref_device_us is None else float(state.t_ref_device_us)
        np.testing.assert_array_equal(clock_map, [t_ref, state.offset_us, state.drift])
        if reference.ready:
            t_host = link.t_host_true_us[:50]
            np.testing.assert_array_equal(
                [device_us(clock_map.tolist(), t) for t in t_host.tolist()],
                reference.to_device_us(t_host),
            )
        previous = cutoff
    assert added == int(np.count_nonzero(t_rx <= cutoffs[-1]))
    for got, expected in zip(
        dataclasses.astuple(stepped.snapshot()),
        dataclasses.astuple(reference.snapshot()),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


def test_update_until_refuses_unsorted_receive_times() -> None:
    clock = ClockSync()
    with pytest.raises(ValueError, match="non-decreasing"):
        clock.update_until(
            np.array([0, 5_000], dtype=np.int64),
            np.array([9_000, 8_000], dtype=np.int64),
            np.array([10_000.0]),
        )
    assert not clock.ready
    maps, added = clock.update_until(
        np.array([0, 5_000], dtype=np.int64),
        np.array([9_000, 8_000], dtype=np.int64),
        np.array([8_500.0]),
    )
    assert added == 0  # the first sample is after the cutoff: nothing to merge, nothing checked
    assert np.isnan(maps[0, 0])
