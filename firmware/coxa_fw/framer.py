"""Data frames for one link: live frames of the newest samples and backfill frames, interleaved.

Hardware-free and dialect-neutral; frames are written into the caller's buffer and nothing is
allocated per frame on MicroPython (backfill requests allocate a little, once per command).

Live
----
``start()`` (START_STREAM) sets the live cursor to the next sample to be taken. A live frame
is *ready* when at least ``live_min`` samples wait (the samples of ``live_max_age_ms`` at the
configured rate, at most a full frame), so that no sample waits longer than about that before
it is handed to the link; when sampling pauses (no new sample for twice that long: IMU error,
end of a recording) the samples waiting go out anyway (``flush``). If the link falls behind
(it does not ask for frames, e.g. BLE back-pressure) and more than ``live_max_lag_ms`` of
samples wait, the cursor skips ahead so that the next live frame carries the newest samples;
the skipped samples stay in the FIFO for backfill (``live_skipped`` counts them). Sampling
never waits for the link.

Backfill
--------
``request_backfill(from_seq, count)`` (BACKFILL) clips the range to what the FIFO holds and
queues it (up to ``backfill_slots`` ranges per link; more is BUSY); the ack reports the
clipped ``first_seq`` and ``count`` (``ack_first``, ``ack_count``); an empty intersection is
UNAVAILABLE. Samples of a queued range that leave the FIFO before their turn are skipped (the
FIFO counts them as dropped if they were never sent at all). Backfill frames are always
full-size when the range allows.

Interleaving
------------
When both a live and a backfill frame are ready, they alternate; otherwise whichever is ready
goes. Live data therefore keeps flowing during a long backfill, at worst one backfill frame
between two live frames, and backfill uses whatever the link can carry beyond that.

Frame size
----------
``next_frame_into(buf, max_frame_bytes, raw)``: as many samples as fit ``max_frame_bytes``
(at most 15, or 10 in raw mode); a frame never spans a break of the FIFO's time line, so its
``t0_us + i * period_us`` is right for every sample. ``max_frame_bytes`` below one sample's
frame (31 bytes, 37 raw) raises ValueError: such a link must fragment (pass 243).
"""

import struct

import wire

TYPE_CHECKING = False
if TYPE_CHECKING:

    def const(x: int) -> int:
        return x

else:
    try:
        from micropython import const
    except ImportError:

        def const(x):
            return x


_HEADER = const(16)
_SMALL_MAX = const(0x3FFFFFFF)


def _u32(k: int) -> int:
    """Wire sequence number of ordinal ``k`` (no big-int arithmetic while ``k < 2**30``)."""
    if 0 <= k <= _SMALL_MAX:
        return k
    return k & 0xFFFFFFFF


class Framer:
    """Frame builder for one link.

    Parameters
    ----------
    fifo : coxa_fw.fifo.SampleFifo
    board_id : int
        u16, written into every frame.
    rate_hz : int
        Configured rate (for the latency thresholds); see :meth:`configure`.
    live_max_age_ms, live_max_lag_ms : int
        See the module docstring.
    backfill_slots : int
        Backfill ranges queued at most.

    Attributes
    ----------
    streaming : bool
        Live frames are being produced.
    status_requested : bool
        A GET_STATUS on this link asked for a status frame (the link clears it).
    ack_first, ack_count : int
        Clipped range of the last accepted backfill request.
    frames_live, frames_backfill, samples_live, samples_backfill : int
        Frames and samples handed to the link.
    live_skipped : int
        Samples the live cursor skipped to stay fresh.
    backfill_skipped : int
        Samples of queued backfill ranges that left the FIFO before they were sent.
    """

    def __init__(
        self,
        fifo,
        board_id: int,
        rate_hz: int = 200,
        live_max_age_ms: int = 50,
        live_max_lag_ms: int = 250,
        backfill_slots: int = 8,
    ) -> None:
        if board_id < 0 or board_id > 0xFFFF:
            raise ValueError("board_id must be a u16")
        if backfill_slots < 1:
            raise ValueError("backfill_slots must be >= 1")
        self.fifo = fifo
        self.board_id = board_id
        self.live_max_age_ms = live_max_age_ms
        self.live_max_lag_ms = live_max_lag_ms
        self.streaming = False
        self.status_requested = False
        self._live_k = 0
        self._last_backfill = False
        self._bf_from = [0] * backfill_slots
        self._bf_end = [0] * backfill_slots
        self._bf_head = 0
        self._bf_count = 0
        self.ack_first = 0
        self.ack_count = 0
        self.frames_live = 0
        self.frames_backfill = 0
        self.samples_live = 0
        self.samples_backfill = 0
        self.live_skipped = 0
        self.backfill_skipped = 0
        self._age_samples = 1
        self._lag_samples = 1
        self.configure(rate_hz)

    def configure(self, rate_hz: int) -> None:
        """Recompute the live thresholds (in samples) for ``rate_hz``."""
        age = (rate_hz * self.live_max_age_ms + 999) // 1000
        self._age_samples = age if age > 1 else 1
        lag = (rate_hz * self.live_max_lag_ms) // 1000
        self._lag_samples = lag if lag > 1 else 1

    # ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """START_STREAM: live frames from the next sample taken on."""
        if not self.streaming:
            self.streaming = True
            self._live_k = self.fifo.next_k

    def stop(self) -> None:
        """STOP_STREAM: no more live frames (queued backfill still goes)."""
        self.streaming = False

    def clear_backfill(self) -> None:
        """Forget every queued backfill range."""
        self._bf_count = 0

    @property
    def backfill_pending(self) -> int:
        """Backfill ranges queued."""
        return self._bf_count

    def request_backfill(self, from_seq: int, count: int) -> int:
        """Queue a BACKFILL; return a ``wire.RESULT_*`` code (OK sets ``ack_first/count``)."""
        fifo = self.fifo
        if fifo.count == 0:
            return wire.RESULT_UNAVAILABLE
        newest = fifo.next_k - 1
        start = newest + wire.seq_diff(from_seq, _u32(newest))
        end = start + count
        lo = fifo.next_k - fifo.count
        if start > lo:
            lo = start
        hi = fifo.next_k
        if end < hi:
            hi = end
        if hi <= lo:
            return wire.RESULT_UNAVAILABLE
        if self._bf_count == len(self._bf_from):
            return wire.RESULT_BUSY
        slot = (self._bf_head + self._bf_count) % len(self._bf_from)
        self._bf_from[slot] = lo
        self._bf_end[slot] = hi
        self._bf_count += 1
        self.ack_first = _u32(lo)
        self.ack_count = hi - lo
        return wire.RESULT_OK

    # ---------------------------------------------------------------------------------------
    def live_pending(self) -> int:
        """Samples waiting for a live frame (0 when not streaming)."""
        if not self.streaming:
            return 0
        fifo = self.fifo
        oldest = fifo.next_k - fifo.count
        if self._live_k < oldest:
            self._live_k = oldest
        return fifo.next_k - self._live_k

    def next_frame_into(
        self, buf, max_frame_bytes: int, raw: bool = False, flush: bool = False
    ) -> int:
        """Write the next data frame into ``buf``; return its length, 0 if none is due.

        ``flush``: send waiting live samples even if fewer than ``live_min`` (the app sets it
        when sampling has paused, so the last samples do not wait for more). The frame
        counts as handed to the link: its samples are marked sent.
        """
        size = wire.RAW_SAMPLE_BYTES if raw else wire.QUAT_SAMPLE_BYTES
        fit = (max_frame_bytes - _HEADER) // size
        cap = wire.MAX_SAMPLES_RAW if raw else wire.MAX_SAMPLES_QUAT
        if fit > cap:
            fit = cap
        if fit < 1:
            raise ValueError(
                "max_frame_bytes %d cannot carry one sample (%d bytes)"
                % (max_frame_bytes, 16 + size)
            )
        if len(buf) < _HEADER + fit * size:
            raise ValueError("frame buffer too small")
        fifo = self.fifo
        # live
        live_n = 0
        pending = self.live_pending()
        if pending > 0:
            if pending > self._lag_samples and pending > fit:
                skip = pending - fit
                self._live_k += skip
                self.live_skipped += skip
                pending = fit
            need = self._age_samples if self._age_samples < fit else fit
            if flush:
                need = 1
            if pending >= need:
                live_n = pending if pending < fit else fit
        # backfill: drop finished or lost ranges
        oldest = fifo.next_k - fifo.count
        nslots = len(self._bf_from)
        while self._bf_count > 0:
            h = self._bf_head
            if self._bf_from[h] < oldest:
                lost = (oldest if oldest < self._bf_end[h] else self._bf_end[h]) - self._bf_from[h]
                self.backfill_skipped += lost
                self._bf_from[h] += lost
            if self._bf_from[h] < self._bf_end[h]:
                break
            self._bf_head = (h + 1) % nslots
            self._bf_count -= 1
        if live_n > 0 and (self._bf_count == 0 or self._last_backfill):
            k = self._live_k
            n = fifo.run_length(k, live_n)
            self._live_k = k + n
            self._last_backfill = False
            self.frames_live += 1
            self.samples_live += n
            return self._build(buf, wire.KIND_DATA_LIVE, k, n, raw)
        if self._bf_count > 0:
            h = self._bf_head
            k = self._bf_from[h]
            n = self._bf_end[h] - k
            if n > fit:
                n = fit
            n = fifo.run_length(k, n)
            self._bf_from[h] = k + n
            if k + n >= self._bf_end[h]:
                self._bf_head = (h + 1) % nslots
                self._bf_count -= 1
            self._last_backfill = True
            self.frames_backfill += 1
            self.samples_backfill += n
            return self._build(buf, wire.KIND_DATA_BACKFILL, k, n, raw)
        return 0

    def _build(self, buf, kind: int, k: int, n: int, raw: bool) -> int:
        fifo = self.fifo
        fifo.time_at(k)
        period = (fifo.t_p16 + 8) >> 4
        wire.data_header_into(buf, 0, kind, self.board_id, _u32(k), 0, period, n, raw)
        # t0_us as two u16 halves: no big int on a 32-bit board
        struct.pack_into("<HH", buf, 8, fifo.t_lo, fifo.t_hi)
        return fifo.copy_into(buf, _HEADER, k, n, raw)
