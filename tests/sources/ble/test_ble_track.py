"""Sequence bookkeeping of the BLE source: interval sets, gaps, backfill answers, reboots."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coxa import wire
from coxa.sources import BleParams
from coxa.sources._ble_track import IntervalSet, SeqTracker

_PERIOD_US = 5000


def _frame(seq0: int, count: int, kind: int = wire.KIND_DATA_LIVE) -> wire.DataFrame:
    return wire.DataFrame(
        kind,
        0x1A2B,
        seq0 % (1 << 32),
        (seq0 * _PERIOD_US) % (1 << 32),
        _PERIOD_US,
        [16384, 0, 0, 0] * count,
        [0, 0, 0] * count,
        [0] * count,
    )


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


def test_gap_is_requested_after_grace_and_written_off_when_the_fifo_lost_it() -> None:
    params = BleParams(gap_grace_s=0.1, backfill_retry_s=0.5, backfill_attempts=2)
    tracker = SeqTracker(params)
    start = (1 << 32) - 20  # the sequence wraps inside the gap
    tracker.add(_frame(start, 10), 0)
    tracker.add(_frame(start + 40, 10), 1_000)
    assert tracker.due_requests(50_000_000) == []  # within the grace period
    (request,) = tracker.due_requests(200_000_000)
    assert (request.from_seq, request.count) == ((start + 10) % (1 << 32), 30)
    assert tracker.backfill_pending == 30
    # the board still holds only the newest 20 of the 30
    ack = wire.Ack(wire.OP_BACKFILL, 0, wire.RESULT_OK, ((start + 20) % (1 << 32), 20))
    tracker.on_backfill_ack(request, ack, 210_000_000)
    assert tracker.lost == 10
    tracker.add(_frame(start + 20, 15, wire.KIND_DATA_BACKFILL), 220_000_000)
    assert tracker.backfill_pending == 5
    # the rest never comes: asked once more, then written off
    assert len(tracker.due_requests(800_000_000)) == 1
    assert tracker.due_requests(1_400_000_000) == []
    assert tracker.lost == 15
    assert tracker.backfill_pending == 0
    assert tracker.samples == 10 + 10 + 15


def test_duplicates_and_reordering_are_not_gaps() -> None:
    tracker = SeqTracker(BleParams())
    tracker.add(_frame(100, 10), 0)
    tracker.add(_frame(120, 10), 1)
    tracker.add(_frame(110, 10), 2)  # late, inside the grace period
    tracker.add(_frame(110, 10), 3)  # duplicate
    assert tracker.due_requests(10**9) == []
    assert tracker.duplicates == 10
    assert tracker.samples == 30
    assert tracker.lost == 0


def test_unavailable_backfill_is_lost_and_a_reboot_starts_a_new_boot() -> None:
    tracker = SeqTracker(BleParams(gap_grace_s=0.0))
    tracker.add(_frame(1000, 10), 0)
    tracker.add(_frame(1020, 10), 1)
    (request,) = tracker.due_requests(2)
    tracker.on_backfill_ack(request, wire.Ack(wire.OP_BACKFILL, 0, wire.RESULT_UNAVAILABLE), 3)
    assert tracker.lost == 10
    assert tracker.plausible_next(1040, elapsed_s=0.1, rate_hz=200.0)
    assert not tracker.plausible_next(5, elapsed_s=0.1, rate_hz=200.0)  # went back
    tracker.start_boot(0, reboot=True)
    assert tracker.reboots == 1
    tracker.add(_frame(3, 5), 4)  # samples 0..2 of the new boot are missing
    (request,) = tracker.due_requests(5)
    assert (request.from_seq, request.count) == (0, 3)
    assert tracker.lost == 10


def test_status_reveals_a_lost_tail() -> None:
    tracker = SeqTracker(BleParams(gap_grace_s=0.0))
    tracker.add(_frame(50, 10), 0)
    tracker.note_newest(64, 1)
    (request,) = tracker.due_requests(2)
    assert (request.from_seq, request.count) == (60, 5)
