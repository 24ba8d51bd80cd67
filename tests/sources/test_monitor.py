"""Sequence bookkeeping of a board stream (``SequenceTracker``, ``BoardMonitor``): gaps are
exactly the samples not received, through the u32 wrap and in any arrival order; backfill
requests cover the gaps once, are repeated after their timeout and give up after the
configured attempts; acks of a partly emptied FIFO declare the rest lost."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coxa import wire
from coxa.sources import BoardMonitor, MonitorParams, ReceivedFrame, SequenceTracker

U32 = 1 << 32


@st.composite
def streams(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], set[int]]:
    """A stream start near the wrap, frames (start, count) in a random order, some dropped."""
    start = draw(st.integers(U32 - 300, U32 - 1) | st.integers(0, U32 - 1))
    counts = draw(st.lists(st.integers(1, 15), min_size=1, max_size=40))
    frames: list[tuple[int, int]] = []
    at = 0
    for count in counts:
        frames.append((at, count))
        at += count
    kept = draw(st.lists(st.booleans(), min_size=len(frames), max_size=len(frames)))
    kept[0] = True  # the first frame opens the stream
    order = draw(st.permutations(range(1, len(frames))))
    received = [frames[0]] + [frames[i] for i in order if kept[i]]
    got = {k for a, n in received for k in range(a, a + n)}
    return start, [((start + a) % U32, n) for a, n in received], got


@given(streams())
def test_gaps_are_the_samples_not_received(
    case: tuple[int, list[tuple[int, int]], set[int]],
) -> None:
    start, frames, got = case
    tracker = SequenceTracker()
    for seq0, count in frames:
        tracker.add(seq0, count)
    # Frames arrive out of order here: only those after the first extend the known range.
    top = max(got) + 1
    missing = {k for k in range(0, top) if k not in got}
    gaps = {k - start for a, b in tracker.gaps() for k in range(a, b)}
    assert gaps == missing
    assert tracker.received == len(got)
    assert tracker.missing() == len(missing)
    # Receiving them all (again) closes every gap and counts the repeats as duplicates.
    for k in sorted(missing):
        tracker.add((start + k) % U32, 1)
    assert tracker.gaps() == []
    tracker.add(frames[0][0], frames[0][1])
    assert tracker.duplicates == frames[0][1]


def test_declared_lost_samples_are_settled() -> None:
    tracker = SequenceTracker()
    tracker.add(100, 10)
    tracker.add(130, 10)
    assert tracker.gaps() == [(110, 130)]
    assert tracker.declare_lost(105, 120) == 10
    assert tracker.gaps() == [(120, 130)]
    assert tracker.lost == 10
    tracker.announce(149)
    assert tracker.gaps() == [(120, 130), (140, 150)]


def _frame(seq0: int, count: int, t_rx_us: int) -> ReceivedFrame:
    n = count
    frame = wire.DataFrame(
        wire.KIND_DATA_LIVE,
        7,
        seq0 % U32,
        (seq0 * 5000) % U32,
        5000,
        [16384, 0, 0, 0] * n,
        [0, 0, 0] * n,
        [0] * n,
    )
    return ReceivedFrame(t_rx_us, frame)


def test_backfill_requests_retries_and_give_up() -> None:
    monitor = BoardMonitor(7, MonitorParams(backfill_timeout_s=1.0, backfill_attempts=2))
    monitor.on_frame(_frame(U32 - 20, 10, 1_000))
    monitor.on_frame(_frame(U32 + 5, 10, 2_000))  # 15 samples missing across the wrap
    assert monitor.backfill_requests(0) == [((U32 - 10) % U32, 15)]
    assert monitor.backfill_pending() == 15
    assert monitor.backfill_requests(500_000_000) == []  # asked, not yet due again
    monitor.on_frame(_frame(U32 - 10, 5, 3_000))  # part of it arrives
    assert monitor.backfill_pending() == 10
    assert monitor.backfill_requests(1_000_000_001) == [((U32 - 5) % U32, 10)]
    assert monitor.backfill_requests(2_000_000_002) == []  # second attempt expired: lost
    assert monitor.tracker.lost == 10
    assert monitor.health().lost_samples == 10
    assert monitor.health().backfill_pending == 0


def test_backfill_ack_of_a_fifo_that_lost_the_oldest() -> None:
    monitor = BoardMonitor(7)
    monitor.on_frame(_frame(1000, 10, 1_000))
    monitor.on_frame(_frame(1300, 10, 2_000))
    [(from_seq, count)] = monitor.backfill_requests(0)
    assert (from_seq, count) == (1010, 290)
    monitor.on_backfill_ack(from_seq, count, wire.Ack(wire.OP_BACKFILL, 1, 0, (1100, 200)))
    assert monitor.tracker.lost == 90
    assert monitor.tracker.gaps() == [(1100, 1300)]
    monitor.on_backfill_ack(1100, 200, wire.Ack(wire.OP_BACKFILL, 2, wire.RESULT_UNAVAILABLE))
    assert monitor.tracker.lost == 290
    assert monitor.tracker.gaps() == []
