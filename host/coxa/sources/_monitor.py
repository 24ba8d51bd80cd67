"""Host-side bookkeeping of one board's stream: received and missing samples, backfill
requests, rate and clock, and the :class:`~coxa.sources.BoardHealth` built from them.

Every source that talks to boards (serial, simulation, BLE) keeps one :class:`BoardMonitor` per
board; the replay source and ``coxa capture check`` use the :class:`SequenceTracker` alone.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

from coxa import wire
from coxa.sources._frames import ReceivedFrame
from coxa.sources._source import BoardHealth

_LOG = logging.getLogger(__name__)

_MAX_BACKFILL_COUNT = 0xFFFF
"""Largest ``count`` of one BACKFILL command (u16 on the wire)."""


class SequenceTracker:
    """Which sequence numbers of one board were received, which are missing.

    Sequence numbers are u32 on the wire and unwrapped here against the newest one seen, so a
    stream may wrap and late (backfilled) frames land where they belong. A sample is *settled*
    once it was received or declared lost for good; everything unsettled between the first
    sample and the newest one known to exist is a gap.

    Attributes
    ----------
    first : int or None
        Unwrapped sequence number of the first sample of the stream (None before any).
    received : int
        Distinct samples received.
    duplicates : int
        Samples received more than once (a backfill of samples that had arrived).
    lost : int
        Samples declared lost for good (:meth:`declare_lost`).
    """

    def __init__(self) -> None:
        self.first: int | None = None
        self.received = 0
        self.duplicates = 0
        self.lost = 0
        self._reference: int | None = None
        self._end = 0  # every sample in [first, _end) is settled
        self._runs: list[list[int]] = []  # sorted disjoint settled runs [a, b), a > _end
        self._newest_end = 0  # one past the newest sample known to exist

    @property
    def contiguous_end(self) -> int:
        """One past the last sample of the settled run that starts at :attr:`first`."""
        return self._end

    @property
    def newest_end(self) -> int:
        """One past the newest sample known to exist (received or announced)."""
        return self._newest_end

    def unwrap(self, seq: int) -> int:
        """Unwrap a u32 sequence number against the newest one seen (no state change)."""
        return wire.unwrap_u32(self._reference, seq)

    def _start(self, first: int) -> None:
        self.first = first
        self._end = first
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
        if a < first:
            # Older than the start of the stream: only a contiguous extension moves the start.
            if b < first:
                self.duplicates += count
                return 0
            if self._end > first:
                self._runs.insert(0, [first, self._end])
            self.first = a
            self._end = a
        if b > self._newest_end:
            self._newest_end = b
            self._reference = b - 1
        new = self._settle(a, b)
        self.received += new
        self.duplicates += count - new
        return new

    def _settle(self, a: int, b: int) -> int:
        """Mark [a, b) settled; return the samples that were not settled before."""
        if b <= self._end:
            return 0
        a = max(a, self._end)
        new = b - a
        runs = self._runs
        merged: list[list[int]] = []
        lo, hi = a, b
        for run in runs:
            if run[1] < lo or run[0] > hi:
                merged.append(run)
                continue
            new -= max(0, min(run[1], b) - max(run[0], a))
            lo, hi = min(lo, run[0]), max(hi, run[1])
        merged.append([lo, hi])
        merged.sort()
        if merged[0][0] <= self._end:
            self._end = max(self._end, merged.pop(0)[1])
        self._runs = merged
        return new

    def gaps(self) -> list[tuple[int, int]]:
        """Unsettled ranges ``[a, b)`` (unwrapped) between the first and the newest sample."""
        out: list[tuple[int, int]] = []
        at = self._end
        for run in self._runs:
            if run[0] > at:
                out.append((at, run[0]))
            at = max(at, run[1])
        if self._newest_end > at:
            out.append((at, self._newest_end))
        return out

    def missing(self) -> int:
        """Samples in the gaps."""
        return sum(b - a for a, b in self.gaps())

    def declare_lost(self, a: int, b: int) -> int:
        """Settle the unsettled samples of ``[a, b)`` as lost for good; return how many."""
        if b <= a:
            return 0
        unsettled = sum(max(0, min(b, g1) - max(a, g0)) for g0, g1 in self.gaps())
        if unsettled:
            self._settle(a, b)
            self.lost += unsettled
        return unsettled


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
        Requests per gap before its samples are declared lost. Default 5 [assumption].
    clock_window_s : float
        Length of the windows whose smallest receive delay gives the clock offset (the lower
        envelope of receive delays), s. Default 2 [assumption].
    drift_min_span_s : float
        Shortest span of windows over which a drift is estimated, s. Default 10
        [assumption: at 20 ms delay jitter, 10 s gives a few hundred ppm at worst; the
        fusion core's own clock map is the precise one].
    """

    rate_window_s: float = 2.0
    backfill_timeout_s: float = 1.0
    backfill_attempts: int = 5
    clock_window_s: float = 2.0
    drift_min_span_s: float = 10.0


class BoardMonitor:
    """Live state of one board's stream: sequence tracking, backfill requests, health.

    Parameters
    ----------
    board_id : int
    params : MonitorParams, optional

    Attributes
    ----------
    tracker : SequenceTracker
    connected : bool
    reconnects : int
    protocol_errors : int
        Set by the owning source (its decoders count them).
    rssi_dbm, battery_pct : float
        Latest values reported by the link (NaN when unknown).
    """

    def __init__(self, board_id: int, params: MonitorParams | None = None) -> None:
        self.board_id = board_id
        self.params = params or MonitorParams()
        self.tracker = SequenceTracker()
        self.connected = False
        self.reconnects = 0
        self.protocol_errors = 0
        self.rssi_dbm = math.nan
        self.battery_pct = math.nan
        self._requests: list[_Request] = []
        self._rate: deque[tuple[int, int]] = deque()
        self._rate_sum = 0
        self._device_reference: int | None = None
        self._window: tuple[int, float] | None = None  # (window start us, min offset)
        self._envelope: deque[tuple[int, float]] = deque(maxlen=64)

    def on_frame(self, received: ReceivedFrame) -> int:
        """Account for one decoded data frame; return the samples that were new."""
        frame = received.frame
        new = self.tracker.add(frame.seq0, frame.count)
        t_rx_ns = received.t_rx_us * 1000
        self._rate.append((t_rx_ns, new))
        self._rate_sum += new
        horizon = t_rx_ns - int(self.params.rate_window_s * 1e9)
        while self._rate and self._rate[0][0] < horizon:
            self._rate_sum -= self._rate.popleft()[1]
        if not frame.is_backfill:
            self._clock(received.t_rx_us, frame)
        return new

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

    def backfill_requests(self, now_ns: int) -> list[tuple[int, int]]:
        """BACKFILL commands to send now: ``(from_seq u32, count)`` for every gap not already
        asked for (or asked for too long ago). Gaps asked for ``backfill_attempts`` times are
        declared lost."""
        gaps = self.tracker.gaps()
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
                        piece_a % (1 << 32),
                        attempts - 1,
                    )
                    continue
                start = piece_a
                while start < piece_b:
                    n = min(piece_b - start, _MAX_BACKFILL_COUNT)
                    live.append(_Request(start, start + n, deadline, attempts))
                    out.append((start % (1 << 32), n))
                    start += n
        self._requests = live
        return out

    def on_backfill_ack(self, from_seq: int, count: int, ack: wire.Ack) -> None:
        """A board answered a BACKFILL of ``count`` samples from u32 ``from_seq``: samples it
        no longer holds are lost for good."""
        start = self.tracker.unwrap(from_seq)
        if ack.result == wire.RESULT_UNAVAILABLE:
            gone_end = start + count
        elif ack.ok:
            gone_end = start + wire.seq_diff(ack.arg("first_seq"), from_seq)
        else:
            return
        n = self.tracker.declare_lost(start, gone_end)
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

    def samples_per_s(self) -> float:
        """New samples per second over the rate window."""
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

    def health(self) -> BoardHealth:
        """The current :class:`BoardHealth` of this board: samples missing and not asked for
        by a backfill request count as lost (declared lost, or no backfill asked)."""
        offset, drift = self.clock()
        pending = self.backfill_pending()
        return BoardHealth(
            board_id=self.board_id,
            connected=self.connected,
            samples_per_s=self.samples_per_s(),
            lost_samples=self.tracker.lost + self.tracker.missing() - pending,
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
