"""The per-board sample store (``BoardBuffer``), its resampling on the output grid
(``resample_board``), and the fusion core's counters of what arrived: duplicates, late
(backfilled) samples, and samples that never arrived."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from coxa.fusion import (
    AngleTable,
    ClockState,
    ClockSync,
    FusionCore,
    FusionParams,
    SampleBlock,
)
from coxa.fusion._buffer import BoardBuffer
from coxa.fusion._resample import resample_board, resample_chunks
from coxa.geometry import quat_multiply, quat_slerp
from coxa.sources import ReceivedFrame
from tests.fusion.conftest import (
    Radio,
    assert_same_rows,
    feed_frames,
    offline_run,
    sim_session,
)

PERIOD_US = 5_000


def block_of(
    seq: Sequence[int] | NDArray[np.int64], copy: int = 0
) -> tuple[SampleBlock, np.ndarray]:
    """A block whose every column is a function of the sequence number (and of ``copy``, to
    tell two copies of one sample apart), with its gyroscope rows."""
    s = np.asarray(seq, dtype=np.int64)
    n = s.size
    quat = np.column_stack([np.ones(n), s * 1e-3, np.full(n, float(copy)), np.zeros(n)]).astype(
        np.float64
    )
    gyr = np.column_stack([s * 0.5, np.full(n, float(copy)), -s * 1.0]).astype(np.float64)
    block = SampleBlock(
        board_id=7,
        seq=s,
        t_device_us=1_000_000 + s * PERIOD_US,
        t_rx_us=2_000_000 + s * PERIOD_US + copy,
        quat_wxyz=quat,
        gyr_rad_s=gyr,
        acc_m_s2=None,
        flags=(s % 256).astype(np.uint8),
    )
    return block, gyr


def add(buffer: BoardBuffer, seq: Sequence[int] | NDArray[np.int64], copy: int = 0) -> int:
    block, gyr = block_of(seq, copy)
    return buffer.add(block, gyr)


def assert_holds(buffer: BoardBuffer, first_copy: dict[int, int]) -> None:
    """The buffer holds exactly these sequence numbers, sorted, with the given copy of each."""
    seq = np.array(sorted(first_copy), dtype=np.int64)
    np.testing.assert_array_equal(buffer.seq, seq)
    expected, gyr = block_of(seq)
    copies = np.array([first_copy[int(s)] for s in seq], dtype=np.float64)
    np.testing.assert_array_equal(buffer.t_device_us, expected.t_device_us)
    np.testing.assert_array_equal(buffer.t_rx_us, expected.t_rx_us + copies.astype(np.int64))
    np.testing.assert_array_equal(buffer.quat_wxyz[:, :2], expected.quat_wxyz[:, :2])
    np.testing.assert_array_equal(buffer.quat_wxyz[:, 2], copies)
    np.testing.assert_array_equal(buffer.gyr_rad_s[:, [0, 2]], gyr[:, [0, 2]])
    np.testing.assert_array_equal(buffer.gyr_rad_s[:, 1], copies)
    np.testing.assert_array_equal(buffer.flags, expected.flags)


@settings(max_examples=100, deadline=None)
@given(
    blocks=st.lists(
        st.lists(st.integers(0, 2_500), max_size=400).map(sorted)
        | st.lists(st.integers(0, 2_500), max_size=60),
        max_size=12,
    )
)
def test_any_arrival_order_keeps_first_copy_sorted(blocks: list[list[int]]) -> None:
    """Blocks in or out of order, overlapping, with repeats inside a block: the buffer holds
    every sequence number once, sorted, each with the values of its first arrival, and counts
    the rest as duplicates (storage grows past its initial capacity on the way)."""
    buffer = BoardBuffer(7)
    first_copy: dict[int, int] = {}
    total = 0
    for copy, seq in enumerate(blocks):
        new = sum(1 for s in dict.fromkeys(seq) if s not in first_copy)
        for s in seq:
            first_copy.setdefault(s, copy)
        assert add(buffer, seq, copy) == new
        total += len(seq)
    assert_holds(buffer, first_copy)
    assert buffer.n_samples == len(first_copy)
    assert buffer.received == total
    assert buffer.duplicates == total - len(first_copy)


def test_duplicates_dropped_and_counted() -> None:
    buffer = BoardBuffer(7)
    assert add(buffer, range(10)) == 10
    assert add(buffer, range(5, 15), copy=1) == 5
    assert add(buffer, [15, 15, 16], copy=2) == 2
    assert buffer.duplicates == 6
    assert buffer.received == 23
    assert_holds(
        buffer, {**dict.fromkeys(range(10), 0), **dict.fromkeys(range(10, 15), 1), 15: 2, 16: 2}
    )


def test_late_samples_inserted_in_order() -> None:
    buffer = BoardBuffer(7)
    add(buffer, range(0, 10))
    add(buffer, range(20, 30))
    assert buffer.late == 0
    assert add(buffer, range(10, 20), copy=1) == 10
    assert buffer.late == 10
    assert buffer.duplicates == 0
    assert_holds(
        buffer,
        {
            **dict.fromkeys(range(10), 0),
            **dict.fromkeys(range(10, 20), 1),
            **dict.fromkeys(range(20, 30), 0),
        },
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    hold_samples=st.sampled_from([0.0, 2.5]),
)
def test_samples_received_after_the_cutoff_change_no_row(
    seed: int, n: int, hold_samples: float
) -> None:
    """Rows from a buffer that also holds samples received after the cutoff (backfill among
    the visible ones, the newest) are those of a buffer of the visible samples alone, bit for
    bit, whatever the grid."""
    rng = np.random.default_rng(seed)
    seq = np.unique(rng.integers(0, 3 * n, n))
    block, gyr = block_of(seq)
    block = replace(block, t_rx_us=block.t_device_us + rng.integers(0, 40 * PERIOD_US, seq.size))
    cutoff = float(np.median(block.t_rx_us))
    full, visible_only = BoardBuffer(7), BoardBuffer(7)
    full.add(block, gyr)
    keep = block.t_rx_us <= cutoff
    visible_only.add(block.select(keep), gyr[keep])
    clock = ClockSync()
    clock.update(block.t_device_us, block.t_device_us + 3_000)
    t_dev = 1_000_000 + np.sort(rng.uniform(-2.0, 3 * n + 2, 200)) * PERIOD_US
    t_grid = clock.to_host_us(t_dev)
    args = (t_grid, cutoff, 3.0 * PERIOD_US, hold_samples * PERIOD_US)
    got = resample_board(full, clock, *args)
    expected = resample_board(visible_only, clock, *args)
    np.testing.assert_array_equal(got.quat_wxyz, expected.quat_wxyz)
    np.testing.assert_array_equal(got.gyr_norm_rad_s, expected.gyr_norm_rad_s)
    np.testing.assert_array_equal(got.held, expected.held)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 3_000),
    cut_index=st.floats(-2.0, 3_002.0),
)
def test_trim_keeps_one_sample_before_the_cut(n: int, cut_index: float) -> None:
    """``trim_before(t)`` forgets what is older than ``t`` except the newest such sample (the
    left neighbour of an interpolation at ``t``); appending continues after it."""
    buffer = BoardBuffer(7)
    add(buffer, range(n))
    t_cut = 1_000_000 + cut_index * PERIOD_US
    before = buffer.t_device_us < t_cut
    expected = np.arange(n)[max(0, int(np.count_nonzero(before)) - 1) :]
    buffer.trim_before(t_cut)
    assert_holds(buffer, dict.fromkeys(expected.tolist(), 0))
    assert np.count_nonzero(buffer.t_device_us < t_cut) == min(1, np.count_nonzero(before))
    assert add(buffer, range(n, n + 5)) == 5
    np.testing.assert_array_equal(buffer.seq, np.concatenate([expected, np.arange(n, n + 5)]))


def test_copy_of_a_trimmed_sample_is_a_duplicate() -> None:
    buffer = BoardBuffer(7)
    add(buffer, range(100))
    buffer.trim_before(1_000_000 + 50 * PERIOD_US)
    held = buffer.seq.copy()
    assert add(buffer, range(10), copy=1) == 0
    assert buffer.duplicates == 10
    assert buffer.late == 0
    np.testing.assert_array_equal(buffer.seq, held)


def test_backfill_behind_the_trim_horizon_is_late_not_duplicate() -> None:
    """Samples lost before the trim point and backfilled after it: new (late, expired), not
    stored (the output has passed them); a second copy of them is a duplicate."""
    buffer = BoardBuffer(7)
    add(buffer, [*range(0, 20), *range(30, 100)])
    buffer.trim_before(1_000_000 + 50 * PERIOD_US)
    held = buffer.seq.copy()
    assert add(buffer, range(15, 35), copy=1) == 0
    assert (buffer.duplicates, buffer.late, buffer.expired) == (10, 10, 10)
    assert add(buffer, range(20, 30), copy=2) == 0
    assert (buffer.duplicates, buffer.late, buffer.expired) == (20, 10, 10)
    np.testing.assert_array_equal(buffer.seq, held)


@dataclass
class BufferModel:
    """What a board buffer must hold and count, sample by sample, with the whole history of
    sequence numbers kept (the buffer itself remembers only a horizon and the holes below it)."""

    held: dict[int, int] = field(default_factory=dict[int, int])
    ever: set[int] = field(default_factory=set[int])
    horizon: int | None = None
    newest: int | None = None
    received: int = 0
    duplicates: int = 0
    late: int = 0
    expired: int = 0

    def add(self, seq: Sequence[int], copy: int) -> int:
        stored = 0
        for s in seq:
            self.received += 1
            if s in self.ever:
                self.duplicates += 1
            else:
                self.ever.add(s)
                if self.newest is not None and s < self.newest:
                    self.late += 1
                if self.horizon is not None and s <= self.horizon:
                    self.expired += 1
                else:
                    self.held[s] = copy
                    stored += 1
            self.newest = s if self.newest is None else max(self.newest, s)
        return stored

    def trim_before(self, t_device_us: float) -> None:
        seq = sorted(self.held)
        older = sum(1 for s in seq if 1_000_000 + s * PERIOD_US < t_device_us)
        if older > 1:
            for s in seq[: older - 1]:
                del self.held[s]
            self.horizon = seq[older - 1] - 1


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.lists(st.integers(0, 400), min_size=1, max_size=40).map(sorted)
        | st.lists(st.integers(0, 400), min_size=1, max_size=12)
        | st.floats(-2.0, 402.0),
        max_size=30,
    )
)
def test_buffer_follows_the_sample_by_sample_model(steps: list[list[int] | float]) -> None:
    """Blocks (sorted or not, overlapping, repeated) and trims in any interleaving: the buffer
    holds what the model holds and counts what it counts. A copy of a trimmed sample is a
    duplicate; a never-seen sample behind the trim horizon is late and expired, not stored, and
    a second copy of it is a duplicate."""
    buffer = BoardBuffer(7)
    model = BufferModel()
    for copy, step in enumerate(steps):
        if isinstance(step, list):
            assert add(buffer, step, copy) == model.add(step, copy)
        else:
            t_cut = 1_000_000 + step * PERIOD_US
            buffer.trim_before(t_cut)
            model.trim_before(t_cut)
        assert_holds(buffer, model.held)
        assert (buffer.received, buffer.duplicates, buffer.late, buffer.expired) == (
            model.received,
            model.duplicates,
            model.late,
            model.expired,
        )


@settings(max_examples=60, deadline=None)
@given(
    seq=st.lists(st.integers(0, 300), min_size=1, max_size=200),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_counters_do_not_depend_on_the_split(seq: list[int], cuts: list[int]) -> None:
    """The same samples in the same arrival order, cut into blocks anywhere: same counters."""
    whole = BoardBuffer(7)
    add(whole, seq)
    split = BoardBuffer(7)
    bounds = [0, *sorted(c for c in cuts if c < len(seq)), len(seq)]
    for a, b in itertools.pairwise(bounds):
        if b > a:
            add(split, seq[a:b])
    assert (split.received, split.duplicates, split.late) == (
        whole.received,
        whole.duplicates,
        whole.late,
    )
    np.testing.assert_array_equal(split.seq, whole.seq)


def test_long_live_stream_keeps_bounded_storage() -> None:
    """Appending and trimming for a long time reuses the columns (moves rows to the front)
    instead of growing them."""
    buffer = BoardBuffer(7)
    for start in range(0, 100_000, 4):
        add(buffer, range(start, start + 4))
        buffer.trim_before(1_000_000 + (start - 250) * PERIOD_US)
    assert buffer.n_samples <= 260
    assert buffer.seq[-1] == 99_999
    np.testing.assert_array_equal(np.diff(buffer.seq), 1)
    assert max(column.shape[0] for column in buffer._columns) <= 2_048


def test_big_first_block_is_held_without_copy_and_never_written() -> None:
    """A whole file in order is held as it is; appending, backfilling and trimming afterwards
    give the right contents and leave the caller's arrays untouched."""
    n = 5_000
    seq = np.array([s for s in range(n) if s % 100 != 7], dtype=np.int64)
    block, gyr = block_of(seq)
    originals = [
        np.copy(a)
        for a in (block.seq, block.t_device_us, block.t_rx_us, block.quat_wxyz, gyr, block.flags)
    ]
    buffer = BoardBuffer(7)
    assert buffer.add(block, gyr) == seq.size
    buffer.trim_before(1_000_000 + 1_000 * PERIOD_US)
    assert add(buffer, [7, 107, 1_107, 2_007, n, n + 1], copy=1) == 4
    # Held from the newest sample before the cut (999); 7 and 107 came too late to be stored.
    held = {s: 0 for s in range(999, n) if s % 100 != 7}
    held.update({1_107: 1, 2_007: 1, n: 1, n + 1: 1})
    assert_holds(buffer, held)
    for original, now in zip(
        originals,
        (block.seq, block.t_device_us, block.t_rx_us, block.quat_wxyz, gyr, block.flags),
        strict=True,
    ):
        np.testing.assert_array_equal(now, original)
    assert (buffer.late, buffer.expired, buffer.duplicates) == (4, 2, 0)
    # The first append left the (mostly trimmed) block for columns sized by the rows held.
    assert buffer._columns[0].shape[0] <= 2 * buffer.n_samples + 2


def test_gyroscope_rows_must_match_the_block() -> None:
    buffer = BoardBuffer(7)
    block, gyr = block_of(range(5))
    with pytest.raises(ValueError, match="board 7: gyr_rad_s"):
        buffer.add(block, gyr[:4])
    assert buffer.n_samples == 0


# --------------------------------------------------------------------------- resampling
def resample_reference(
    buffer: BoardBuffer,
    tau_us: np.ndarray,
    cutoff_rx_us: float,
    max_gap_us: float,
    hold_us: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``resample_board``'s rules, one device time at a time, on the visible samples alone
    (received by the cutoff; the others, wherever they lie, play no part): a visible sample
    exactly at the time is taken; the nearest visible ones before and after, at most
    ``max_gap_us`` apart, are SLERPed; the one before alone is held for ``hold_us`` while no
    later one is visible."""
    visible = buffer.t_rx_us <= cutoff_rx_us
    t_dev = buffer.t_device_us[visible].astype(np.float64)
    quat_visible = buffer.quat_wxyz[visible]
    gyr_visible = buffer.gyr_rad_s[visible]
    quat = np.full((tau_us.size, 4), np.nan)
    gyr = np.full(tau_us.size, np.nan)
    held = np.zeros(tau_us.size, dtype=np.bool_)
    for k, tau in enumerate(tau_us):
        at = np.flatnonzero(t_dev == tau)
        before = np.flatnonzero(t_dev < tau)
        after = np.flatnonzero(t_dev > tau)
        if at.size:
            lo = int(at[0])
            quat[k] = quat_visible[lo]
        elif before.size:
            lo = int(before[-1])
            if after.size:
                hi = int(after[0])
                if t_dev[hi] - t_dev[lo] > max_gap_us:
                    continue
                fraction = (tau - t_dev[lo]) / (t_dev[hi] - t_dev[lo])
                quat[k] = quat_slerp(quat_visible[lo], quat_visible[hi], fraction)
            elif tau - t_dev[lo] <= hold_us:
                quat[k] = quat_visible[lo]
                held[k] = True
            else:
                continue
        else:
            continue
        gyr[k] = np.linalg.norm(gyr_visible[lo])
    return quat, gyr, held


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    m=st.integers(0, 80),
    sorted_grid=st.booleans(),
    max_gap_samples=st.sampled_from([1.5, 3.0, 50.0]),
    hold_samples=st.sampled_from([0.0, 2.5]),
)
def test_resampling_follows_its_rules(
    seed: int,
    n: int,
    m: int,
    sorted_grid: bool,
    max_gap_samples: float,
    hold_samples: float,
) -> None:
    """Samples with gaps and random receive times, grid times anywhere (on samples, between,
    before, after; in order or not), any receive cutoff: the rows follow the rules to 1e-12."""
    rng = np.random.default_rng(seed)
    seq = np.unique(rng.integers(0, 3 * n, n))
    block, gyr = block_of(seq)
    quat = rng.normal(size=(seq.size, 4))
    block = SampleBlock(
        board_id=7,
        seq=block.seq,
        t_device_us=block.t_device_us,
        t_rx_us=block.t_device_us + rng.integers(0, 20 * PERIOD_US, seq.size),
        quat_wxyz=quat / np.linalg.norm(quat, axis=1, keepdims=True),
        gyr_rad_s=gyr,
        acc_m_s2=None,
        flags=block.flags,
    )
    buffer = BoardBuffer(7)
    buffer.add(block, gyr)
    # Host = device time plus a constant delay (an exact map), grid on and off the samples.
    clock = ClockSync()
    clock.update(block.t_device_us, block.t_device_us + 3_000)
    offsets = rng.choice([0.0, 0.5, 0.25, rng.uniform(-2.0, 2.0)], size=m) * PERIOD_US
    t_dev = 1_000_000 + rng.integers(-2, 3 * n + 2, m) * PERIOD_US + offsets
    if sorted_grid:
        t_dev = np.sort(t_dev)
    t_grid = clock.to_host_us(t_dev)
    cutoff = float(rng.choice(block.t_rx_us)) if rng.uniform() < 0.8 else np.inf
    max_gap_us, hold_us = max_gap_samples * PERIOD_US, hold_samples * PERIOD_US
    got = resample_board(buffer, clock, t_grid, cutoff, max_gap_us, hold_us)
    quat_ref, gyr_ref, held_ref = resample_reference(
        buffer, clock.to_device_us(t_grid), cutoff, max_gap_us, hold_us
    )
    np.testing.assert_array_equal(got.held, held_ref)
    np.testing.assert_array_equal(np.isnan(got.quat_wxyz), np.isnan(quat_ref))
    np.testing.assert_allclose(got.quat_wxyz, quat_ref, atol=1e-12)
    np.testing.assert_allclose(got.gyr_norm_rad_s, gyr_ref, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 120),
    ends=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    hold_samples=st.sampled_from([0.0, 2.5]),
)
def test_chunks_resample_as_each_chunk_alone(
    seed: int, n: int, ends: list[int], hold_samples: float
) -> None:
    """``resample_chunks`` (consecutive chunks of grid rows, each with its own clock map and
    cutoff, times a mount rotation, into one column of the outputs) gives, bit for bit, what
    ``resample_board`` gives chunk by chunk, times the mount, and its angular speeds; the other
    columns are not touched."""
    rng = np.random.default_rng(seed)
    seq = np.unique(rng.integers(0, 3 * n + 1, n))
    block, gyr = block_of(seq)
    quat = rng.normal(size=(seq.size, 4))
    block = SampleBlock(
        board_id=7,
        seq=block.seq,
        t_device_us=block.t_device_us,
        t_rx_us=block.t_device_us + rng.integers(0, 20 * PERIOD_US, seq.size),
        quat_wxyz=quat / np.linalg.norm(quat, axis=1, keepdims=True),
        gyr_rad_s=gyr,
        acc_m_s2=None,
        flags=block.flags,
    )
    buffer = BoardBuffer(7)
    buffer.add(block, gyr)
    chunk_ends = np.cumsum(np.array(ends, dtype=np.int64))
    m = int(chunk_ends[-1])
    # Host grid over the samples and beyond; each chunk's map a little different (a map that
    # moved as samples arrived), or not ready at all.
    t_grid = 1_003_000.0 + np.sort(rng.uniform(-3.0, 3 * n + 3.0, m)) * PERIOD_US
    maps = np.column_stack(
        [
            np.full(len(ends), 1_000_000.0),
            rng.uniform(2_000.0, 4_000.0, len(ends)),
            rng.uniform(-1e-4, 1e-4, len(ends)),
        ]
    )
    if rng.uniform() < 0.1:
        maps[0, 0] = np.nan
    cutoffs = np.sort(
        rng.choice(np.append(block.t_rx_us.astype(np.float64), np.inf), len(ends))
        if n
        else np.full(len(ends), np.inf)
    )
    mount = rng.normal(size=4)
    mount /= np.linalg.norm(mount)
    max_gap_us, hold_us = 3.0 * PERIOD_US, hold_samples * PERIOD_US
    quat_out = np.full((m, 3, 4), 7.0)
    gyr_norm_out = np.full((m, 3), 7.0)
    empty = resample_chunks(
        buffer,
        maps,
        chunk_ends,
        cutoffs,
        t_grid,
        max_gap_us,
        hold_us,
        mount,
        1,
        quat_out,
        gyr_norm_out,
    )
    start = 0
    for clock_map, end, cutoff in zip(maps, chunk_ends, cutoffs, strict=True):
        clock = ClockSync()
        if not np.isnan(clock_map[0]):
            clock.restore(
                ClockState(
                    np.zeros(0, dtype=np.int64),
                    np.zeros(0, dtype=np.int64),
                    np.zeros(0, dtype=np.int64),
                    int(clock_map[0]),
                    float(clock_map[1]),
                    float(clock_map[2]),
                )
            )
        alone = resample_board(buffer, clock, t_grid[start:end], cutoff, max_gap_us, hold_us)
        np.testing.assert_array_equal(quat_out[start:end, 1], quat_multiply(alone.quat_wxyz, mount))
        np.testing.assert_array_equal(gyr_norm_out[start:end, 1], alone.gyr_norm_rad_s)
        start = int(end)
    assert empty == np.count_nonzero(np.isnan(quat_out[:, 1, 0]))
    assert np.all(quat_out[:, [0, 2]] == 7.0)
    assert np.all(gyr_norm_out[:, [0, 2]] == 7.0)


def test_resampling_an_empty_buffer_gives_empty_rows() -> None:
    clock = ClockSync()
    got = resample_board(BoardBuffer(7), clock, np.arange(3.0), np.inf, 1e6, 1e6)
    assert np.all(np.isnan(got.quat_wxyz))
    assert np.all(np.isnan(got.gyr_norm_rad_s))
    assert not np.any(got.held)


# --------------------------------------------------------------------------- FusionCore counters
def head_and_tail_losses(radio: Radio, board_id: int) -> tuple[int, int, int, int]:
    """Samples the board produced, the samples received, and the samples lost before the first
    and after the last received frame (which no receiver can count as missing)."""
    session = sim_session(radio)
    rec = session.rec
    frames = [f.frame for f in session.frames if f.frame.board_id == board_id]
    produced = int(rec.imu[board_id].t_us.size)
    received = sum(len(frame.flags) for frame in frames)
    start = rec.boards[board_id].seq_start
    head = (frames[0].seq0 - start) % (1 << 32)
    last = (frames[-1].seq0 + len(frames[-1].flags) - 1 - start) % (1 << 32)
    return produced, received, head, produced - 1 - last


def test_missing_counts_lost_samples_of_a_lossy_session() -> None:
    core = offline_run("lossy")[0]
    total_lost = 0
    for board_id in core.segments_by_board:
        produced, received, head, tail = head_and_tail_losses("lossy", board_id)
        lost = produced - received
        total_lost += lost
        assert core.stats.missing[board_id] == lost - head - tail, board_id
        assert core.stats.duplicates[board_id] == 0
    # 5 % of the packets lost in bursts: the counters saw losses of that order.
    assert (
        0.01
        < total_lost / sum(head_and_tail_losses("lossy", b)[0] for b in core.segments_by_board)
        < 0.15
    )


def test_lossless_session_counts_nothing_missing() -> None:
    core = offline_run("clean")[0]
    for board_id in core.segments_by_board:
        produced, received, _, _ = head_and_tail_losses("clean", board_id)
        assert produced == received
        assert core.stats.missing[board_id] == 0
        assert core.stats.late[board_id] == 0


def test_repeated_frames_change_nothing_but_the_duplicate_count() -> None:
    """Every 50th frame arrives a second time, three frames later (a link-layer retransmission):
    the rows are bit-identical and each repeated sample is counted once as a duplicate."""
    session = sim_session("clean")
    frames: list[ReceivedFrame] = []
    repeated: dict[int, int] = {}
    pending: list[tuple[int, ReceivedFrame]] = []
    for i, received in enumerate(session.frames):
        frames.append(received)
        for due, copy in [p for p in pending if p[0] == i]:
            frames.append(ReceivedFrame(t_rx_us=received.t_rx_us, frame=copy.frame))
            pending.remove((due, copy))
        if i % 50 == 0:
            pending.append((i + 3, received))
            board = received.frame.board_id
            repeated[board] = repeated.get(board, 0) + len(received.frame.flags)
    core = FusionCore(session.rec.segments_by_board, FusionParams.offline())
    table = feed_frames(core, [frames])
    _, before, at_finish = offline_run("clean")
    assert_same_rows(table, AngleTable.concatenate([before, at_finish]))
    for board_id in core.segments_by_board:
        assert core.stats.duplicates[board_id] == repeated.get(board_id, 0)
        assert core.stats.missing[board_id] == 0


def backfilled_session() -> tuple[list[ReceivedFrame], int, int]:
    """The clean session with four frames of one board held back and delivered 2 s later (a
    backfill after a dropout): the frames, the board and the number of samples held back."""
    session = sim_session("clean")
    board_id = next(iter(session.rec.segments_by_board))
    own = [i for i, f in enumerate(session.frames) if f.frame.board_id == board_id]
    held = own[100:104]
    release_us = session.frames[held[-1]].t_rx_us + 2_000_000
    held_samples = sum(len(session.frames[j].frame.flags) for j in held)
    frames: list[ReceivedFrame] = []
    for i, received in enumerate(session.frames):
        if received.t_rx_us >= release_us and held:
            frames.extend(
                ReceivedFrame(t_rx_us=received.t_rx_us, frame=session.frames[j].frame) for j in held
            )
            held = []
        if i not in own[100:104]:
            frames.append(received)
    assert not held
    return frames, board_id, held_samples


def test_backfilled_frames_are_counted_late() -> None:
    """Fed frame by frame (live), the backfilled samples are stored in order and counted as
    late, not missing."""
    frames, board_id, held_samples = backfilled_session()
    core = FusionCore(sim_session("clean").rec.segments_by_board, FusionParams.offline())
    feed_frames(core, [[frame] for frame in frames])
    assert core.stats.late[board_id] == held_samples
    assert core.stats.missing[board_id] == 0
    assert core.stats.duplicates[board_id] == 0


def test_late_count_does_not_depend_on_the_split() -> None:
    frames, board_id, held_samples = backfilled_session()
    core = FusionCore(sim_session("clean").rec.segments_by_board, FusionParams.offline())
    feed_frames(core, [frames])
    assert core.stats.late[board_id] == held_samples


def late_backfill(delay_s: float) -> tuple[list[ReceivedFrame], int, int]:
    """The clean session with four frames of one board, after the live core has calibrated,
    held back and delivered ``delay_s`` later: the frames, the board and the samples held."""
    session = sim_session("clean")
    board_id = next(iter(session.rec.segments_by_board))
    own = [i for i, f in enumerate(session.frames) if f.frame.board_id == board_id]
    held = own[-60:-56]
    release_us = session.frames[held[-1]].t_rx_us + round(delay_s * 1e6)
    assert release_us < session.frames[-1].t_rx_us
    held_samples = sum(len(session.frames[j].frame.flags) for j in held)
    frames = [f for i, f in enumerate(session.frames) if i not in held]
    at = next(i for i, f in enumerate(frames) if f.t_rx_us >= release_us)
    backfill = [
        ReceivedFrame(t_rx_us=frames[at].t_rx_us, frame=session.frames[j].frame) for j in held
    ]
    return frames[:at] + backfill + frames[at:], board_id, held_samples


@pytest.mark.parametrize(("delay_s", "expired"), [(2.0, True), (0.2, False)])
def test_backfill_behind_the_output_is_counted_expired(delay_s: float, expired: bool) -> None:
    """Live: frames backfilled 2 s late, when the output has passed them, are late and expired
    (dropped: they can no longer change a row), not missing; backfilled 0.2 s late, inside the
    buffers' reach (1.25 s behind the output), they are late only."""
    frames, board_id, held_samples = late_backfill(delay_s)
    core = FusionCore(sim_session("clean").rec.segments_by_board, FusionParams())
    feed_frames(core, [frames[i : i + 5] for i in range(0, len(frames), 5)])
    assert core.calibration is not None
    assert core.stats.late[board_id] == held_samples
    assert core.stats.expired[board_id] == (held_samples if expired else 0)
    assert core.stats.missing[board_id] == 0
    assert core.stats.duplicates[board_id] == 0
    others = [b for b in core.segments_by_board if b != board_id]
    assert all(core.stats.expired[b] == 0 for b in others)
