"""Host-side bookkeeping of one board's stream: received and missing samples, backfill
requests, reboots, rate and clock, and the :class:`~coxa.sources.BoardHealth` built from them.

Every source that talks to boards (BLE, serial, simulation) keeps one :class:`BoardMonitor` per
board; the replay source and ``coxa capture check`` use the :class:`SequenceTracker` alone.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import deque
from dataclasses import dataclass

from coxa import wire
from coxa.sources._frames import ReceivedFrame
from coxa.sources._source import BoardHealth

_LOG = logging.getLogger(__name__)

_U32 = 1 << 32

_MAX_BACKFILL_COUNT = 0xFFFF
"""Largest ``count`` of one BACKFILL command (u16 on the wire)."""


class IntervalSet:
    """Disjoint half-open integer intervals ``[lo, hi)``, kept sorted and merged."""

    def __init__(self) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []
        self._count = 0

    def __len__(self) -> int:
        """Number of integers in the set."""
        return self._count

    def intervals(self) -> list[tuple[int, int]]:
        """The intervals, in order."""
        return list(zip(self._lo, self._hi, strict=True))

    def overlap(self, lo: int, hi: int) -> int:
        """Number of integers of ``[lo, hi)`` in the set."""
        total = 0
        i = bisect.bisect_right(self._hi, lo)
        while i < len(self._lo) and self._lo[i] < hi:
            total += min(hi, self._hi[i]) - max(lo, self._lo[i])
            i += 1
        return total

    def missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The sub-intervals of ``[lo, hi)`` not in the set."""
        out: list[tuple[int, int]] = []
        cursor = lo
        i = bisect.bisect_right(self._hi, lo)
        while i < len(self._lo) and self._lo[i] < hi and cursor < hi:
            if self._lo[i] > cursor:
                out.append((cursor, self._lo[i]))
            cursor = max(cursor, self._hi[i])
            i += 1
        if cursor < hi:
            out.append((cursor, hi))
        return out

    def add(self, lo: int, hi: int) -> int:
        """Add ``[lo, hi)``; return how many integers were new."""
        if hi <= lo:
            return 0
        new = hi - lo - self.overlap(lo, hi)
        i = bisect.bisect_left(self._hi, lo)
        j = bisect.bisect_right(self._lo, hi)
        if i < j:
            lo = min(lo, self._lo[i])
            hi = max(hi, self._hi[j - 1])
        self._lo[i:j] = [lo]
        self._hi[i:j] = [hi]
        self._count += new
        return new

    def remove(self, lo: int, hi: int) -> int:
        """Remove ``[lo, hi)``; return how many integers were removed."""
        removed = self.overlap(lo, hi) if hi > lo else 0
        if removed == 0:
            return 0
        i = bisect.bisect_right(self._hi, lo)
        j = bisect.bisect_left(self._lo, hi)
        keep_lo: list[int] = []
        keep_hi: list[int] = []
        if self._lo[i] < lo:
            keep_lo.append(self._lo[i])
            keep_hi.append(lo)
        if self._hi[j - 1] > hi:
            keep_lo.append(hi)
            keep_hi.append(self._hi[j - 1])
        self._lo[i:j] = keep_lo
        self._hi[i:j] = keep_hi
        self._count -= removed
        return removed


class SequenceTracker:
    """Which sequence numbers of one board were received, which are missing.

    Sequence numbers are u32 on the wire and unwrapped here against the newest one seen, so a
    stream may wrap and late (backfilled, reordered) frames land where they belong. A sample
    is *settled* once it was received or declared lost for good; everything unsettled between
    the first sample and the newest one known to exist is a gap. A sample declared lost that
    arrives after all counts as received, no longer as lost.

    Attributes
    ----------
    first : int or None
        Unwrapped sequence number of the first sample of the stream (None before any). A
        frame that ends right at (or overlaps) the first sample moves it back.
    received : int
        Distinct samples received.
    duplicates : int
        Samples received more than once (a backfill of samples that had arrived, duplicated
        notifications).
    stale : int
        Samples older than the start of the stream and not adjacent to it (ignored).
    """

    def __init__(self) -> None:
        self.first: int | None = None
        self.received = 0
        self.duplicates = 0
        self.stale = 0
        self._reference: int | None = None
        self._newest_end = 0  # one past the newest sample known to exist
        self._settled = IntervalSet()  # received or declared lost
        self._lost = IntervalSet()  # declared lost (a subset of _settled)

    @property
    def lost(self) -> int:
        """Samples declared lost for good (:meth:`declare_lost`) and not received since."""
        return len(self._lost)

    @property
    def contiguous_end(self) -> int:
        """One past the last sample of the settled run that starts at :attr:`first`."""
        if self.first is None:
            return 0
        runs = self._settled.intervals()
        return runs[0][1] if runs and runs[0][0] <= self.first else self.first

    @property
    def newest_end(self) -> int:
        """One past the newest sample known to exist (received or announced)."""
        return self._newest_end

    def unwrap(self, seq: int) -> int:
        """Unwrap a u32 sequence number against the newest one seen (no state change)."""
        return wire.unwrap_u32(self._reference, seq)

    def _start(self, first: int) -> None:
        self.first = first
        self._newest_end = first
        self._reference = first

    def expect_from(self, seq: int) -> None:
        """Declare that the stream starts at u32 ``seq`` (before any sample arrived)."""
        if self.first is None:
            self._start(seq)

    def announce(self, newest_seq: int) -> None:
        """The board says it has taken samples up to u32 ``newest_seq`` (a status frame)."""
        if self.first is None:
            return
        end = self.unwrap(newest_seq) + 1
        if end > self._newest_end:
            self._newest_end = end
            self._reference = end - 1

    def add(self, seq0: int, count: int) -> int:
        """Record ``count`` samples from u32 ``seq0``; return how many were new."""
        if count <= 0:
            return 0
        if self.first is None:
            self._start(seq0)
        a = self.unwrap(seq0)
        b = a + count
        first = self.first
        assert first is not None
        if b < first:
            self.stale += count
            return 0
        if a < first:
            self.first = a  # a contiguous extension moves the start back
        if b > self._newest_end:
            self._newest_end = b
            self._reference = b - 1
        new = count - self._settled.overlap(a, b) + self._lost.remove(a, b)
        self._settled.add(a, b)
        self.received += new
        self.duplicates += count - new
        return new

    def gaps(self) -> list[tuple[int, int]]:
        """Unsettled ranges ``[a, b)`` (unwrapped) between the first and the newest sample."""
        if self.first is None:
            return []
        return self._settled.missing(self.first, self._newest_end)

    def missing(self) -> int:
        """Samples in the gaps."""
        return sum(b - a for a, b in self.gaps())

    def declare_lost(self, a: int, b: int) -> int:
        """Settle the unsettled samples of ``[a, b)`` as lost for good; return how many."""
        if self.first is None:
            return 0
        total = 0
        for lo, hi in self._settled.missing(max(a, self.first), min(b, self._newest_end)):
            self._settled.add(lo, hi)
            self._lost.add(lo, hi)
            total += hi - lo
        return total


@dataclass
class _Request:
    start: int
    end: int
    deadline_ns: int
    attempts: int


@dataclass(frozen=True)
class MonitorParams:
    """Timing of the host's bookkeeping of one board.

    Attributes
    ----------
    rate_window_s : float
        Span over which ``samples_per_s`` is averaged, s. Default 2 [assumption].
    backfill_timeout_s : float
        A backfill request whose samples have not all arrived after this long is sent again,
        s. Default 1 [assumption: tens of connection intervals].
    backfill_attempts : int
        Requests per gap without an answer from the board before its samples are declared
        lost. Default 5 [assumption]. A request the board answers OK (it still holds the
        samples) does not count, however often the backfilled frames are then lost on the
        way: they are asked for again until they arrive or the board answers UNAVAILABLE.
    clock_window_s : float
        Length of the windows whose smallest receive delay gives the clock offset (the lower
        envelope of receive delays), s. Default 2 [assumption].
    drift_min_span_s : float
        Shortest span of windows over which a drift is estimated, s. Default 10
        [assumption: at 20 ms delay jitter, 10 s gives a few hundred ppm at worst; the
        fusion core's own clock map is the precise one].
    gap_grace_s : float
        A gap must have been known this long before backfill is asked for, s (frames a link
        reorders fill it meanwhile). Default 0 [src: serial links and the simulated link
        deliver in order; the BLE source passes ``BleParams.gap_grace_s``].
    busy_retry_s : float
        A backfill request the board answered BUSY (its backfill queue full) is sent again
        after this long, s, without counting as an attempt. Default 0.1 [assumption: a few
        backfill frames' time].
    reboot_margin_samples : int
        Samples a board's newest sequence number may be ahead of what the time since the
        last sample explains before the jump is taken as a reboot. Default 2000
        [assumption: 10 s at 200 Hz].
    """

    rate_window_s: float = 2.0
    backfill_timeout_s: float = 1.0
    backfill_attempts: int = 5
    clock_window_s: float = 2.0
    drift_min_span_s: float = 10.0
    gap_grace_s: float = 0.0
    busy_retry_s: float = 0.1
    reboot_margin_samples: int = 2000

    def __post_init__(self) -> None:
        for name in ("rate_window_s", "backfill_timeout_s", "clock_window_s", "busy_retry_s"):
            if not float(getattr(self, name)) > 0.0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.backfill_attempts < 1:
            raise ValueError(f"backfill_attempts must be >= 1, got {self.backfill_attempts}")
        if self.gap_grace_s < 0.0 or self.drift_min_span_s < 0.0:
            raise ValueError("gap_grace_s and drift_min_span_s must be >= 0")
        if self.reboot_margin_samples < 0:
            raise ValueError(
                f"reboot_margin_samples must be >= 0, got {self.reboot_margin_samples}"
            )


class BoardMonitor:
    """Live state of one board's stream: sequence tracking, backfill requests, reboots,
    health.

    One boot of the board (one run of sequence numbers) is tracked by :attr:`tracker`; a
    reboot (:meth:`on_connect_status` finds that the sequence restarted, or :meth:`new_boot`)
    writes off what is still missing of the old boot and starts a new tracker. Counts without
    ``tracker.`` cover every boot.

    Times (``now_ns``, frame receive times) are on one host clock: ``time.monotonic_ns`` for
    the live sources, the simulated clock for the simulation.

    Parameters
    ----------
    board_id : int
    params : MonitorParams, optional

    Attributes
    ----------
    tracker : SequenceTracker
        The current boot.
    connected : bool
    reconnects : int
    reboots : int
        Reboots seen (sequence restarts).
    protocol_errors : int
        Set by the owning source (its decoders count them).
    rssi_dbm, battery_pct : float
        Latest values reported by the link (NaN when unknown).
    last_rx_ns : int or None
        Host receive time of the latest data frame, ns.
    """

    def __init__(self, board_id: int, params: MonitorParams | None = None) -> None:
        self.board_id = board_id
        self.params = params or MonitorParams()
        self.tracker = SequenceTracker()
        self.connected = False
        self.reconnects = 0
        self.reboots = 0
        self.protocol_errors = 0
        self.rssi_dbm = math.nan
        self.battery_pct = math.nan
        self.last_rx_ns: int | None = None
        self._earlier = [0, 0, 0, 0]  # received, duplicates, stale, lost of earlier boots
        self._requests: list[_Request] = []
        self._known: deque[tuple[int, int]] = deque()  # (newest_end before growth, t_ns)
        self._rate: deque[tuple[int, int]] = deque()
        self._rate_sum = 0
        self._device_reference: int | None = None
        self._window: tuple[int, float] | None = None  # (window start us, min offset)
        self._envelope: deque[tuple[int, float]] = deque(maxlen=64)

    # ------------------------------------------------------------------ counts, all boots
    @property
    def received(self) -> int:
        """Distinct samples received, every boot."""
        return self._earlier[0] + self.tracker.received

    @property
    def duplicates(self) -> int:
        """Samples received more than once, every boot."""
        return self._earlier[1] + self.tracker.duplicates

    @property
    def stale(self) -> int:
        """Samples from before the start of their boot's stream (ignored), every boot."""
        return self._earlier[2] + self.tracker.stale

    @property
    def lost(self) -> int:
        """Samples lost for good: declared lost, and what earlier boots still missed."""
        return self._earlier[3] + self.tracker.lost

    # ------------------------------------------------------------------ stream
    def on_frame(self, received: ReceivedFrame) -> int:
        """Account for one decoded data frame; return the samples that were new."""
        frame = received.frame
        t_rx_ns = received.t_rx_us * 1000
        end_before = self.tracker.newest_end
        new = self.tracker.add(frame.seq0, frame.count)
        self._note_growth(end_before, t_rx_ns)
        self.last_rx_ns = t_rx_ns
        self._rate.append((t_rx_ns, new))
        self._rate_sum += new
        self._prune_rate(t_rx_ns)
        if not frame.is_backfill:
            self._clock(received.t_rx_us, frame)
        return new

    def announce(self, newest_seq: int, now_ns: int) -> None:
        """The board says (at host time ``now_ns``) that its newest sample is u32
        ``newest_seq``: samples up to it that never arrived become a gap."""
        end_before = self.tracker.newest_end
        self.tracker.announce(newest_seq)
        self._note_growth(end_before, now_ns)

    def on_status(self, status: wire.Status, now_ns: int) -> None:
        """A status frame the board sent at host time ``now_ns`` (periodic, or the answer to
        GET_STATUS): its newest sample is announced (unless its FIFO is empty: then it has
        taken none and ``newest_seq`` means nothing)."""
        if status.fifo_fill:
            self.announce(status.newest_seq, now_ns)

    def _note_growth(self, end_before: int, t_ns: int) -> None:
        """Remember when the samples beyond ``end_before`` became known (gap grace)."""
        if self.params.gap_grace_s > 0.0 and self.tracker.newest_end > end_before:
            self._known.append((end_before, t_ns))

    def _young_from(self, now_ns: int) -> int | None:
        """First sample position known for less than ``gap_grace_s`` (None: none is)."""
        grace_ns = round(self.params.gap_grace_s * 1e9)
        known = self._known
        while known and known[0][1] + grace_ns <= now_ns:
            known.popleft()
        return known[0][0] if known else None

    def _prune_rate(self, now_ns: int) -> None:
        horizon = now_ns - int(self.params.rate_window_s * 1e9)
        while self._rate and self._rate[0][0] < horizon:
            self._rate_sum -= self._rate.popleft()[1]

    def _clock(self, t_rx_us: int, frame: wire.DataFrame) -> None:
        t_last = wire.unwrap_u32(self._device_reference, frame.sample_t_us(frame.count - 1))
        self._device_reference = t_last
        offset = float(t_rx_us - t_last)
        window_us = int(self.params.clock_window_s * 1e6)
        if self._window is None or t_rx_us - self._window[0] >= window_us:
            if self._window is not None:
                self._envelope.append(self._window)
            self._window = (t_rx_us, offset)
        elif offset < self._window[1]:
            self._window = (self._window[0], offset)

    # ------------------------------------------------------------------ reboots
    def continues(self, newest_seq: int, now_ns: int, rate_hz: float) -> bool:
        """True if a board reporting u32 ``newest_seq`` at host time ``now_ns`` continues the
        current boot.

        False after a reboot: its newest sample is behind the newest one known, or further
        ahead than ``rate_hz`` times the time since the last sample received explains (with
        half as much again and ``reboot_margin_samples`` of slack). Only a status read
        *now* can be compared (a stale one may be behind the stream).
        """
        tracker = self.tracker
        if tracker.first is None or tracker.newest_end <= tracker.first:
            return True
        newest_known = (tracker.newest_end - 1) % _U32
        ahead = wire.seq_diff(newest_seq, newest_known)
        last = self.last_rx_ns
        elapsed_s = 0.0 if last is None else max(0.0, (now_ns - last) * 1e-9)
        limit = rate_hz * elapsed_s * 1.5 + self.params.reboot_margin_samples
        return 0 <= ahead <= limit

    def new_boot(self, first_seq: int | None) -> None:
        """The board rebooted: write off what is still missing of the current boot and track
        a new one from u32 ``first_seq`` (the oldest sample its FIFO holds; None: from the
        first frame that arrives)."""
        old = self.tracker
        written_off = old.missing()
        self._earlier[0] += old.received
        self._earlier[1] += old.duplicates
        self._earlier[2] += old.stale
        self._earlier[3] += old.lost + written_off
        self.reboots += 1
        self.tracker = SequenceTracker()
        if first_seq is not None:
            self.tracker.expect_from(first_seq)
        self._requests = []
        self._known.clear()
        self._device_reference = None
        self._window = None
        self._envelope.clear()
        if written_off:
            _LOG.warning(
                "board %d: %d samples of the previous boot written off", self.board_id, written_off
            )

    def on_connect_status(self, status: wire.Status, now_ns: int) -> bool:
        """A status the board gave right after a (re)connection, at host time ``now_ns``.

        It must be fresh (GET_STATUS), not a value read from a cache: a plain reconnection
        would otherwise look like a sequence restart. If the board rebooted meanwhile (its
        FIFO is empty although samples were received, or :meth:`continues` is False) a new
        boot is tracked from the oldest sample its FIFO holds, so everything taken since the
        reset is asked for by backfill. Either way the newest sample is announced (a tail
        lost with the link becomes a gap at once).

        Returns
        -------
        bool
            True if a reboot was detected.
        """
        tracking = self.tracker.first is not None
        rebooted = tracking and (
            status.fifo_fill == 0 or not self.continues(status.newest_seq, now_ns, status.rate_hz)
        )
        if rebooted:
            lost_before = self.lost
            first: int | None = None
            if status.fifo_fill:
                first = wire.seq_add(status.newest_seq, 1 - status.fifo_fill)
            self.new_boot(first)
            _LOG.warning(
                "board %d rebooted (sequence restarted at %d): %d samples of the previous boot "
                "lost; samples it took after the last one received cannot be counted",
                self.board_id,
                status.newest_seq,
                self.lost - lost_before,
            )
        self.on_status(status, now_ns)
        return rebooted

    # ------------------------------------------------------------------ backfill
    def backfill_requests(self, now_ns: int) -> list[tuple[int, int]]:
        """BACKFILL commands to send now: ``(from_seq u32, count)`` for every gap known for at
        least ``gap_grace_s`` and not already asked for (or asked for too long ago). Gaps
        asked for ``backfill_attempts`` times are declared lost."""
        gaps = self.tracker.gaps()
        young = self._young_from(now_ns)
        if young is not None:
            gaps = [(a, min(b, young)) for a, b in gaps if a < young]
        live = [r for r in self._requests if r.deadline_ns > now_ns and _overlaps(r, gaps)]
        expired = [r for r in self._requests if r.deadline_ns <= now_ns]
        out: list[tuple[int, int]] = []
        deadline = now_ns + int(self.params.backfill_timeout_s * 1e9)
        for a, b in gaps:
            for piece_a, piece_b in _subtract(a, b, live):
                attempts = 1 + max(
                    (r.attempts for r in expired if r.start < piece_b and r.end > piece_a),
                    default=0,
                )
                if attempts > self.params.backfill_attempts:
                    n = self.tracker.declare_lost(piece_a, piece_b)
                    _LOG.warning(
                        "board %d: %d samples from seq %d declared lost after %d backfill requests",
                        self.board_id,
                        n,
                        piece_a % _U32,
                        attempts - 1,
                    )
                    continue
                start = piece_a
                while start < piece_b:
                    n = min(piece_b - start, _MAX_BACKFILL_COUNT)
                    live.append(_Request(start, start + n, deadline, attempts))
                    out.append((start % _U32, n))
                    start += n
        self._requests = live
        return out

    def on_backfill_ack(
        self, from_seq: int, count: int, ack: wire.Ack | None, now_ns: int | None = None
    ) -> None:
        """The board's answer to a BACKFILL of ``count`` samples from u32 ``from_seq`` (None:
        no answer came), at host time ``now_ns``.

        Samples the board no longer holds (an UNAVAILABLE answer, or the part of the range
        outside what an OK answer will send) are lost for good; the attempts of the part it
        holds start over. A BUSY answer is asked again
        after ``busy_retry_s`` without counting as an attempt; a request without an answer
        is due again at once (it counts). Without ``now_ns`` both wait for the request's
        timeout.
        """
        start = self.tracker.unwrap(from_seq)
        end = start + count
        if ack is None or ack.result == wire.RESULT_BUSY:
            for r in self._requests:
                if r.start < end and r.end > start:
                    if ack is not None:
                        r.attempts -= 1
                    if now_ns is not None:
                        retry_ns = 0 if ack is None else round(self.params.busy_retry_s * 1e9)
                        r.deadline_ns = min(r.deadline_ns, now_ns + retry_ns)
            return
        if ack.result == wire.RESULT_UNAVAILABLE:
            gone = [(start, end)]
        elif ack.ok:
            first = start + wire.seq_diff(ack.arg("first_seq"), from_seq)
            held_end = first + ack.arg("count")
            gone = [(start, min(first, end)), (max(held_end, start), end)]
            for r in self._requests:
                if r.start < held_end and r.end > first:
                    # The board still holds these: however often its answer frames are lost
                    # on the way, asking again is worth it (until the board answers
                    # UNAVAILABLE, once they have left its FIFO).
                    r.attempts = 0
        else:
            return
        n = sum(self.tracker.declare_lost(a, b) for a, b in gone)
        if n:
            _LOG.warning(
                "board %d: %d samples from seq %d left the board FIFO before backfill",
                self.board_id,
                n,
                from_seq,
            )

    def backfill_pending(self) -> int:
        """Samples asked for by backfill and not received yet."""
        gaps = self.tracker.gaps()
        return sum(max(0, min(r.end, b) - max(r.start, a)) for r in self._requests for a, b in gaps)

    # ------------------------------------------------------------------ health
    def samples_per_s(self, now_ns: int | None = None) -> float:
        """New samples per second over the rate window (ending at ``now_ns``, or at the
        latest frame)."""
        if now_ns is not None:
            self._prune_rate(now_ns)
        return self._rate_sum / self.params.rate_window_s

    def clock(self) -> tuple[float, float]:
        """``(offset_us, drift_ppm)``: host minus board time at the latest window's smallest
        receive delay, and the slope of that envelope (NaN when not known yet)."""
        points = [*self._envelope, *([self._window] if self._window else [])]
        if not points:
            return math.nan, math.nan
        offset = points[-1][1]
        (t0, o0), (t1, o1) = points[0], points[-1]
        if len(points) < 3 or t1 - t0 < self.params.drift_min_span_s * 1e6:
            return offset, math.nan
        return offset, (o1 - o0) / (t1 - t0) * 1e6

    def health(self, now_ns: int | None = None) -> BoardHealth:
        """The current :class:`BoardHealth` of this board (at host time ``now_ns``, or as of
        the latest frame): samples missing and not asked for by a backfill request count as
        lost (declared lost, or no backfill asked), except gaps younger than
        ``gap_grace_s``."""
        offset, drift = self.clock()
        pending = self.backfill_pending()
        waiting = 0
        if now_ns is not None:
            young = self._young_from(now_ns)
            if young is not None:
                waiting = sum(max(0, b - max(a, young)) for a, b in self.tracker.gaps())
        return BoardHealth(
            board_id=self.board_id,
            connected=self.connected,
            samples_per_s=self.samples_per_s(now_ns),
            lost_samples=max(0, self.lost + self.tracker.missing() - pending - waiting),
            backfill_pending=pending,
            clock_offset_us=offset,
            clock_drift_ppm=drift,
            rssi_dbm=self.rssi_dbm,
            battery_pct=self.battery_pct,
            protocol_errors=self.protocol_errors,
            reconnects=self.reconnects,
        )


def _overlaps(request: _Request, gaps: list[tuple[int, int]]) -> bool:
    return any(request.start < b and request.end > a for a, b in gaps)


def _subtract(a: int, b: int, requests: list[_Request]) -> list[tuple[int, int]]:
    """Parts of ``[a, b)`` not covered by any request."""
    pieces = [(a, b)]
    for r in requests:
        nxt: list[tuple[int, int]] = []
        for p0, p1 in pieces:
            if r.end <= p0 or r.start >= p1:
                nxt.append((p0, p1))
                continue
            if r.start > p0:
                nxt.append((p0, r.start))
            if r.end < p1:
                nxt.append((r.end, p1))
        pieces = nxt
    return pieces
