"""Sequence bookkeeping of a board stream (``SequenceTracker``, ``BoardMonitor``): gaps are
exactly the samples not received, through the u32 wrap and in any arrival order; backfill
requests cover the gaps once (after a grace time for reordered frames, when configured), are
repeated after their timeout and give up after the configured attempts; acks of a partly
emptied FIFO declare the rest lost; a reboot (the sequence restarts) starts a new boot."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coxa import wire
from coxa.sources import BoardMonitor, MonitorParams, ReceivedFrame, SequenceTracker
from coxa.sources._monitor import IntervalSet

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


def _frame(seq0: int, count: int, t_rx_us: int, kind: int = wire.KIND_DATA_LIVE) -> ReceivedFrame:
    n = count
    frame = wire.DataFrame(
        kind,
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


# ------------------------------------------------------------------ interval sets

_ops = st.lists(
    st.tuples(st.booleans(), st.integers(0, 60), st.integers(0, 20)), min_size=1, max_size=40
)


@given(_ops)
def test_interval_set_matches_a_plain_set(ops: list[tuple[bool, int, int]]) -> None:
    intervals = IntervalSet()
    plain: set[int] = set()
    for add, lo, n in ops:
        span = set(range(lo, lo + n))
        if add:
            assert intervals.add(lo, lo + n) == len(span - plain)
            plain |= span
        else:
            assert intervals.remove(lo, lo + n) == len(span & plain)
            plain -= span
        assert len(intervals) == len(plain)
        assert intervals.overlap(10, 50) == len(plain & set(range(10, 50)))
        missing = {k for a, b in intervals.missing(5, 70) for k in range(a, b)}
        assert missing == set(range(5, 70)) - plain
        flat = [k for a, b in intervals.intervals() for k in range(a, b)]
        assert flat == sorted(plain)


# ------------------------------------------------------------------ grace, acks, reboots
# (the cases of the BLE source's former tracker, on the one monitor every source uses)


def test_gap_is_requested_after_grace_and_written_off_when_the_fifo_lost_it() -> None:
    params = MonitorParams(gap_grace_s=0.1, backfill_timeout_s=0.5, backfill_attempts=2)
    monitor = BoardMonitor(7, params)
    start = U32 - 20  # the sequence wraps inside the gap
    monitor.on_frame(_frame(start, 10, 0))
    monitor.on_frame(_frame(start + 40, 10, 1))
    assert monitor.backfill_requests(50_000_000) == []  # within the grace period
    assert monitor.health(50_000_000).lost_samples == 0  # a young gap is not (yet) lost
    (request,) = monitor.backfill_requests(200_000_000)
    assert request == ((start + 10) % U32, 30)
    assert monitor.backfill_pending() == 30
    # the board still holds only the newest 20 of the 30
    ack = wire.Ack(wire.OP_BACKFILL, 0, wire.RESULT_OK, ((start + 20) % U32, 20))
    monitor.on_backfill_ack(*request, ack, 210_000_000)
    assert monitor.lost == 10
    monitor.on_frame(_frame(start + 20, 15, 220_000, wire.KIND_DATA_BACKFILL))
    assert monitor.backfill_pending() == 5
    # the rest never comes and the board answers no more: the OK answer restarted the
    # count, so it is asked twice more (the two attempts), then written off
    assert len(monitor.backfill_requests(800_000_000)) == 1
    assert len(monitor.backfill_requests(1_400_000_000)) == 1
    assert monitor.backfill_requests(2_000_000_000) == []
    assert monitor.lost == 15
    assert monitor.backfill_pending() == 0
    assert monitor.received == 10 + 10 + 15


def test_duplicates_and_reordering_are_not_gaps() -> None:
    monitor = BoardMonitor(7, MonitorParams(gap_grace_s=0.1))
    monitor.on_frame(_frame(100, 10, 0))
    monitor.on_frame(_frame(120, 10, 1))
    monitor.on_frame(_frame(110, 10, 2))  # late, inside the grace period
    monitor.on_frame(_frame(110, 10, 3))  # duplicate
    assert monitor.backfill_requests(10**9) == []
    assert monitor.duplicates == 10
    assert monitor.received == 30
    assert monitor.lost == 0


def test_unavailable_backfill_is_lost_and_a_reboot_starts_a_new_boot() -> None:
    monitor = BoardMonitor(7)
    monitor.on_frame(_frame(1000, 10, 0))
    monitor.on_frame(_frame(1020, 10, 1))
    (request,) = monitor.backfill_requests(2)
    monitor.on_backfill_ack(*request, wire.Ack(wire.OP_BACKFILL, 0, wire.RESULT_UNAVAILABLE), 3)
    assert monitor.lost == 10
    assert monitor.continues(1040, now_ns=100_000_000, rate_hz=200.0)
    assert not monitor.continues(5, now_ns=100_000_000, rate_hz=200.0)  # went back
    monitor.new_boot(0)
    assert monitor.reboots == 1
    monitor.on_frame(_frame(3, 5, 4))  # samples 0..2 of the new boot are missing
    (request,) = monitor.backfill_requests(5)
    assert request == (0, 3)
    assert monitor.lost == 10


def test_status_reveals_a_lost_tail() -> None:
    monitor = BoardMonitor(7)
    monitor.on_frame(_frame(50, 10, 0))
    monitor.announce(64, 1)
    (request,) = monitor.backfill_requests(2)
    assert request == (60, 5)


def _status(newest_seq: int, fifo_fill: int) -> wire.Status:
    return wire.Status(
        7, 0, 0, 1, 0, 0, fifo_fill, 6000, 0, wire.TEMPERATURE_UNKNOWN, 200, 0, 0, newest_seq
    )


def test_connect_status_tells_a_reconnection_from_a_reboot() -> None:
    monitor = BoardMonitor(7, MonitorParams(reboot_margin_samples=100))
    monitor.on_frame(_frame(5000, 10, 1_000_000))  # 5000..5009 by host time 1 s
    # 0.5 s later, after a drop: 100 samples more at 200 Hz, the tail becomes a gap
    assert not monitor.on_connect_status(_status(5109, 6000), 1_500_000_000)
    assert monitor.reboots == 0
    assert monitor.tracker.gaps() == [(5010, 5110)]
    # 1 s after the last frame: further ahead than 1.5 x 1 s x 200 Hz + 100 is a reboot
    assert not monitor.continues(5109 + 401, 2_000_000_000, 200.0)
    assert monitor.continues(5109 + 400, 2_000_000_000, 200.0)
    # a sequence behind the stream: a reboot; the new boot starts at the oldest FIFO sample
    assert monitor.on_connect_status(_status(40, 41), 2_000_000_000)
    assert monitor.reboots == 1
    assert monitor.lost == 100  # the old boot's missing tail is written off
    assert monitor.tracker.gaps() == [(0, 41)]
    assert monitor.backfill_requests(2_000_000_001) == [(0, 41)]
    for seq0 in range(0, 41, 15):
        monitor.on_frame(_frame(seq0, min(15, 41 - seq0), 2_100_000, wire.KIND_DATA_BACKFILL))
    assert monitor.received == 10 + 41
    assert monitor.health(2_100_000_000).lost_samples == 100


def test_an_empty_fifo_after_samples_is_a_reboot() -> None:
    monitor = BoardMonitor(7)
    assert not monitor.on_connect_status(_status(0, 0), 0)  # nothing tracked yet
    monitor.on_frame(_frame(10, 5, 1_000))
    monitor.on_status(_status(0, 0), 2_000_000)  # a periodic status of an empty FIFO: no news
    assert monitor.tracker.newest_end == 15
    # just booted, no sample taken: newest_seq 0 would even look plausible
    assert monitor.on_connect_status(_status(14, 0), 3_000_000)
    assert monitor.reboots == 1
    assert monitor.tracker.first is None  # the new boot starts with its first frame
    monitor.on_frame(_frame(0, 5, 4_000))
    assert monitor.received == 10
    assert monitor.tracker.gaps() == []


def test_busy_backfill_is_asked_again_soon_without_counting() -> None:
    monitor = BoardMonitor(7, MonitorParams(backfill_attempts=1, busy_retry_s=0.1))
    monitor.on_frame(_frame(0, 10, 0))
    monitor.on_frame(_frame(20, 10, 1))
    (request,) = monitor.backfill_requests(0)
    busy = wire.Ack(wire.OP_BACKFILL, 0, wire.RESULT_BUSY)
    for k in range(3):  # BUSY is no attempt: with one attempt allowed it is still asked
        monitor.on_backfill_ack(*request, busy, k * 100_000_000)
        assert monitor.backfill_requests(k * 100_000_000 + 50_000_000) == []
        assert monitor.backfill_requests((k + 1) * 100_000_000) == [request]
    # no answer at all counts: due again at once, and that was the one attempt
    monitor.on_backfill_ack(*request, None, 400_000_000)
    assert monitor.backfill_requests(400_000_000) == []
    assert monitor.lost == 10


def test_samples_the_board_still_holds_are_asked_for_until_they_arrive() -> None:
    """An OK answer says the board holds the samples: however often the backfilled frames are
    lost on the way (bursty loss, many fragments at a small MTU), the request does not use up
    its attempts; UNAVAILABLE (they left the board's FIFO) ends it."""
    monitor = BoardMonitor(7, MonitorParams(backfill_timeout_s=1.0, backfill_attempts=2))
    monitor.on_frame(_frame(0, 10, 0))
    monitor.on_frame(_frame(20, 10, 1))
    t_ns = 0
    for _ in range(6):  # three times the attempts, every answer OK, no frame arriving
        (request,) = monitor.backfill_requests(t_ns)
        assert request == (10, 10)
        monitor.on_backfill_ack(*request, wire.Ack(wire.OP_BACKFILL, 0, 0, (10, 10)), t_ns)
        t_ns += 1_000_000_001
    assert monitor.lost == 0
    assert monitor.backfill_pending() == 10
    (request,) = monitor.backfill_requests(t_ns)
    monitor.on_backfill_ack(*request, wire.Ack(wire.OP_BACKFILL, 0, wire.RESULT_UNAVAILABLE), t_ns)
    assert monitor.lost == 10
    assert monitor.backfill_requests(t_ns + 2_000_000_000) == []


def test_a_written_off_sample_that_arrives_late_counts_as_received() -> None:
    tracker = SequenceTracker()
    tracker.add(0, 10)
    tracker.add(20, 10)
    assert tracker.declare_lost(10, 20) == 10
    tracker.add(12, 3)
    assert tracker.lost == 7
    assert tracker.received == 23
    assert tracker.duplicates == 0
    assert tracker.gaps() == []
    # older than the start and not adjacent: stale; adjacent: extends the stream back
    tracker.add(-20 % U32, 5)
    assert tracker.stale == 5
    tracker.add(-5 % U32, 5)
    assert tracker.first == -5
    assert tracker.received == 28
