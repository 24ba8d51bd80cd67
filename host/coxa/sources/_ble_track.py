"""Sequence bookkeeping of one board: gaps, backfill requests, losses, reboots, rate, clock."""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

from coxa import wire
from coxa.sources._ble_params import BleParams

_U32 = 1 << 32


class IntervalSet:
    """Disjoint half-open integer intervals ``[lo, hi)``, kept sorted and merged."""

    def __init__(self) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []

    def __len__(self) -> int:
        return sum(h - lo for lo, h in zip(self._lo, self._hi, strict=True))

    def intervals(self) -> list[tuple[int, int]]:
        """The intervals, in order."""
        return list(zip(self._lo, self._hi, strict=True))

    def overlap(self, lo: int, hi: int) -> int:
        """Number of integers of ``[lo, hi)`` in the set."""
        total = 0
        i = max(0, bisect.bisect_right(self._hi, lo))
        while i < len(self._lo) and self._lo[i] < hi:
            total += min(hi, self._hi[i]) - max(lo, self._lo[i])
            i += 1
        return total

    def missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The sub-intervals of ``[lo, hi)`` not in the set."""
        out: list[tuple[int, int]] = []
        cursor = lo
        i = max(0, bisect.bisect_right(self._hi, lo))
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
        return new

    def remove(self, lo: int, hi: int) -> int:
        """Remove ``[lo, hi)``; return how many integers were removed."""
        removed = self.overlap(lo, hi)
        if removed == 0:
            return 0
        keep = [(a, b) for a, b in self.intervals() if b <= lo or a >= hi]
        for a, b in self.intervals():
            if a < lo < b:
                keep.append((a, lo))
            if a < hi < b:
                keep.append((hi, b))
        keep.sort()
        self._lo = [a for a, _ in keep]
        self._hi = [b for _, b in keep]
        return removed


@dataclass
class _Gap:
    """Samples found missing; asked for by backfill once they stay missing."""

    lo: int
    hi: int
    seen_ns: int
    attempts: int = 0
    requested_ns: int | None = None


@dataclass(frozen=True)
class BackfillRequest:
    """A BACKFILL command to send: ``count`` samples from sequence ``from_seq``."""

    lo: int
    hi: int
    from_seq: int
    count: int


class SeqTracker:
    """What arrived of one board's samples, and what is still missing.

    Sequence numbers are unwrapped to ordinals ``k`` of the current boot (epoch): the first
    tracked sample of a boot has ``k = 0``. Duplicates are counted, gaps are asked for by
    backfill after ``gap_grace_s``, and what the board cannot send any more is written off
    as lost, never papered over.

    Parameters
    ----------
    params : BleParams

    Attributes
    ----------
    samples : int
        Distinct samples received.
    duplicates : int
        Samples received more than once.
    stale : int
        Samples older than the tracked range of the current boot (ignored).
    reboots : int
        Boots after the first (sequence restarted).
    lost_previous_boots : int
        Samples written off in earlier boots.
    """

    def __init__(self, params: BleParams) -> None:
        self.params = params
        self.samples = 0
        self.duplicates = 0
        self.stale = 0
        self.reboots = 0
        self.lost_previous_boots = 0
        self._rate: deque[tuple[int, int]] = deque()
        self._reset()

    def _reset(self) -> None:
        self._base_seq: int | None = None
        self._high = -1  # highest ordinal received
        self._got = IntervalSet()
        self._lost = IntervalSet()
        self._gaps: list[_Gap] = []
        self._t_dev_ref: int | None = None
        self._offset_first: tuple[int, float] | None = None
        self._offset_window: deque[tuple[int, int, float]] = deque()
        self.last_rx_ns: int | None = None

    # --------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        """True once the current boot's first sample position is known."""
        return self._base_seq is not None

    @property
    def newest_seq(self) -> int | None:
        """Wire sequence number of the highest sample received in this boot."""
        return None if self._base_seq is None or self._high < 0 else self._seq(self._high)

    @property
    def lost(self) -> int:
        """Samples written off as lost, all boots."""
        return self.lost_previous_boots + len(self._lost)

    @property
    def backfill_pending(self) -> int:
        """Samples asked for by backfill and not yet received."""
        total = 0
        for gap in self._gaps:
            if gap.requested_ns is not None:
                total += sum(b - a for a, b in self._missing(gap.lo, gap.hi))
        return total

    def _seq(self, k: int) -> int:
        assert self._base_seq is not None
        return (self._base_seq + k) % _U32

    def _ordinal(self, seq: int) -> int:
        ref = max(self._high, 0)
        return ref + wire.seq_diff(seq, self._seq(ref))

    def _missing(self, lo: int, hi: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for a, b in self._got.missing(lo, hi):
            out.extend(self._lost.missing(a, b))
        return out

    # --------------------------------------------------------------------------------
    def start_boot(self, first_seq: int | None, reboot: bool) -> None:
        """Start tracking a boot at ``first_seq`` (None: at the first frame received).

        A reboot writes off what is still missing of the previous boot.
        """
        if reboot:
            missing = self.missing_total()
            self.lost_previous_boots += len(self._lost) + missing
            self.reboots += 1
            self._reset()
        if self._base_seq is None and first_seq is not None:
            self._base_seq = first_seq

    def missing_total(self) -> int:
        """Samples known missing in this boot (inside the received range), not written off."""
        if self._high < 0:
            return 0
        return sum(b - a for a, b in self._missing(0, self._high + 1))

    def plausible_next(self, newest_seq: int, elapsed_s: float, rate_hz: float) -> bool:
        """True if a board reporting ``newest_seq`` continues this boot.

        False after a reboot: its sequence went back, or jumped further ahead than the time
        since the last sample explains.
        """
        if self._base_seq is None or self._high < 0:
            return True
        ahead = wire.seq_diff(newest_seq, self._seq(self._high))
        limit = rate_hz * max(elapsed_s, 0.0) * 1.5 + self.params.reboot_margin_samples
        return 0 <= ahead <= limit

    def note_newest(self, newest_seq: int, now_ns: int) -> None:
        """The board reports ``newest_seq`` as its newest sample: samples up to it that never
        arrived (e.g. the last frames before a pause) become a gap."""
        if self._base_seq is None or self._high < 0:
            return
        k = self._ordinal(newest_seq)
        if k > self._high and all(g.hi <= self._high + 1 for g in self._gaps if g.lo > self._high):
            self._gaps.append(_Gap(self._high + 1, k + 1, now_ns))

    def add(self, frame: wire.DataFrame, t_rx_ns: int) -> int:
        """Account for a received data frame; return the number of new samples."""
        if self._base_seq is None:
            self._base_seq = frame.seq0
        k0 = self._ordinal(frame.seq0)
        k1 = k0 + frame.count
        if k1 <= 0:
            self.stale += frame.count
            return 0
        if k0 < 0:
            self.stale += -k0
            k0 = 0
        if k0 > self._high + 1:
            self._gaps.append(_Gap(self._high + 1, k0, t_rx_ns))
        new = self._got.add(k0, k1)
        self.duplicates += (k1 - k0) - new
        self._lost.remove(k0, k1)
        self.samples += new
        self._high = max(self._high, k1 - 1)
        self.last_rx_ns = t_rx_ns
        if new:
            self._rate.append((t_rx_ns, new))
        if frame.kind == wire.KIND_DATA_LIVE:
            self._clock(frame, t_rx_ns)
        return new

    def _clock(self, frame: wire.DataFrame, t_rx_ns: int) -> None:
        t_last = (frame.t0_us + (frame.count - 1) * frame.period_us) % _U32
        t_dev = wire.unwrap_u32(self._t_dev_ref, t_last)
        self._t_dev_ref = t_dev
        offset = t_rx_ns / 1000.0 - t_dev
        window_ns = round(self.params.health_window_s * 1e9)
        self._offset_window.append((t_rx_ns, t_dev, offset))
        while self._offset_window and self._offset_window[0][0] < t_rx_ns - window_ns:
            self._offset_window.popleft()
        if self._offset_first is None:
            self._offset_first = (t_dev, offset)
        elif t_dev - self._offset_first[0] < self.params.health_window_s * 1e6:
            self._offset_first = min(self._offset_first, (t_dev, offset), key=lambda p: p[1])

    def clock(self) -> tuple[float, float]:
        """(host minus board time offset in us, drift in ppm); NaN until known.

        Lower envelope of receive delays: the smallest offset over the last window; the drift
        compares it with the first window's, once a few windows of board time have passed.
        """
        if not self._offset_window or self._offset_first is None:
            return math.nan, math.nan
        _, t_dev, offset = min(self._offset_window, key=lambda p: p[2])
        span_us = t_dev - self._offset_first[0]
        if span_us < 3 * self.params.health_window_s * 1e6:
            return offset, math.nan
        return offset, (offset - self._offset_first[1]) / span_us * 1e6

    def rate(self, now_ns: int) -> float:
        """New samples per second over the last ``health_window_s``."""
        window_ns = round(self.params.health_window_s * 1e9)
        while self._rate and self._rate[0][0] < now_ns - window_ns:
            self._rate.popleft()
        return sum(n for _, n in self._rate) / self.params.health_window_s

    # --------------------------------------------------------------------------------
    def due_requests(self, now_ns: int) -> list[BackfillRequest]:
        """Backfill commands to send now; gaps asked for too often are written off."""
        grace_ns = round(self.params.gap_grace_s * 1e9)
        retry_ns = round(self.params.backfill_retry_s * 1e9)
        out: list[BackfillRequest] = []
        keep: list[_Gap] = []
        for gap in self._gaps:
            pieces = self._missing(gap.lo, gap.hi)
            if not pieces:
                continue
            keep.append(gap)
            if gap.requested_ns is None:
                if now_ns - gap.seen_ns < grace_ns:
                    continue
            elif now_ns - gap.requested_ns < retry_ns:
                continue
            if gap.attempts >= self.params.backfill_attempts:
                for a, b in pieces:
                    self._lost.add(a, b)
                keep.pop()
                continue
            gap.attempts += 1
            gap.requested_ns = now_ns
            for a, b in pieces:
                while a < b:
                    n = min(b - a, 0xFFFF)
                    out.append(BackfillRequest(a, a + n, self._seq(a), n))
                    a += n
        self._gaps = keep
        return out

    def on_backfill_ack(self, request: BackfillRequest, ack: wire.Ack | None, now_ns: int) -> None:
        """Account for the board's answer to a backfill request (None: no answer)."""
        if ack is None or ack.result == wire.RESULT_BUSY:
            for gap in self._gaps:
                if gap.lo <= request.lo < gap.hi:
                    gap.requested_ns = None
                    gap.seen_ns = now_ns
            return
        if ack.result == wire.RESULT_OK:
            first = request.lo + wire.seq_diff(ack.args[0], request.from_seq)
            end = first + ack.args[1]
            self._write_off(request.lo, min(first, request.hi))
            self._write_off(max(end, request.lo), request.hi)
        else:
            self._write_off(request.lo, request.hi)

    def _write_off(self, lo: int, hi: int) -> None:
        for a, b in self._missing(lo, hi):
            self._lost.add(a, b)
