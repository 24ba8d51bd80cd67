"""``coxa_fw.framer.Framer`` on CPython: frame sizes for every link budget, live freshness,
backfill clipping, interleaving, sequence wrap and time-line breaks, any number per FIFO
block, with every sample's time checked against the true time line (Hypothesis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from coxa import wire
from tests.firmware.app_sim import FirmwareEnv, firmware_env
from tests.firmware.test_fifo import HeldModel, LineTimeline, expected_record, ints_of, quat_of

U32 = 1 << 32


@pytest.fixture(scope="module")
def fw_env() -> Iterator[FirmwareEnv]:
    yield from firmware_env()


@pytest.fixture(scope="module")
def mods(fw_env: FirmwareEnv) -> tuple[Any, Any]:
    return fw_env.module("coxa_fw.fifo"), fw_env.module("coxa_fw.framer")


class Bench:
    """A FIFO, its time line and one framer."""

    def __init__(
        self,
        mods: tuple[Any, Any],
        capacity: int = 600,
        first_seq: int = 0,
        rate_hz: int = 200,
        **framer_kw: Any,
    ) -> None:
        fifo_mod, framer_mod = mods
        self.tl = LineTimeline(first_seq, 123_456, 80_000)
        self.fifo = fifo_mod.SampleFifo(capacity, self.tl, first_seq, chunk_samples=97)
        self.held = HeldModel(capacity, first_seq, max(16, capacity // 32))
        self.framer = framer_mod.Framer(self.fifo, 0x1A2B, rate_hz, **framer_kw)
        self.k = first_seq
        self.first_seq = first_seq
        self.buf = bytearray(wire.MAX_FRAME_BYTES)

    def push(self, n: int) -> None:
        for _ in range(n):
            g = ints_of(self.k)
            self.held.push(self.k == self.tl.break_k)
            self.fifo.push(quat_of(self.k), g[0], g[1], g[2], self.k % 16, g[3], g[4], g[5])
            self.k += 1
        assert self.fifo.oldest_k == self.held.oldest

    def frame(self, max_frame_bytes: int = 243, raw: bool = False, flush: bool = False) -> Any:
        n = self.framer.next_frame_into(self.buf, max_frame_bytes, raw, flush)
        if n == 0:
            return None
        assert n <= max_frame_bytes
        fr = wire.decode_data_frame(self.buf[:n])
        assert fr.board_id == 0x1A2B
        assert fr.raw == raw
        return fr

    def unwrap(self, seq: int) -> int:
        """Ordinal of a wire sequence number (nearest to the newest sample)."""
        return self.k - 1 + wire.seq_diff(seq, (self.k - 1) % U32)

    def check_content(self, fr: Any) -> None:
        k0 = self.unwrap(fr.seq0)
        size = 21 if fr.raw else 15
        body = fr.encode()[16:]
        for i in range(fr.count):
            assert body[i * size : (i + 1) * size] == expected_record(k0 + i, (k0 + i) % 16)[:size]
            want = self.tl.true_time(k0 + i) % U32
            got = fr.sample_t_us(i)
            # integer period in the frame: at most 0.5 us per sample plus the FIFO's rounding
            assert abs(((got - want + U32 // 2) % U32) - U32 // 2) <= 1 + (i + 1) // 2


def test_frame_sizes_every_budget(mods: tuple[Any, Any]) -> None:
    for raw in (False, True):
        size = 21 if raw else 15
        cap = 10 if raw else 15
        for mfb in range(16, 244):
            b = Bench(mods, live_max_age_ms=1000)
            b.framer.start()
            b.push(40)
            fit = min(cap, (mfb - 16) // size)
            if fit < 1:
                with pytest.raises(ValueError, match="cannot carry one sample"):
                    b.framer.next_frame_into(b.buf, mfb, raw)
                continue
            fr = b.frame(mfb, raw)
            assert fr is not None
            assert fr.count == fit
            assert fr.size() <= mfb
            b.check_content(fr)


def test_frame_sizes_from_mtu(mods: tuple[Any, Any]) -> None:
    """Unfragmented BLE budgets (payload - 1) from ATT MTU 23 to 247; 243 when fragmenting."""
    for mtu in range(23, 248):
        mfb = wire.ble_payload_bytes(mtu) - 1
        for raw in (False, True):
            b = Bench(mods, live_max_age_ms=1000)
            b.framer.start()
            b.push(30)
            if mfb < 16 + (21 if raw else 15):
                with pytest.raises(ValueError, match="cannot carry one sample"):
                    b.framer.next_frame_into(b.buf, mfb, raw)
                # the fragmenting link passes MAX_FRAME_BYTES instead
                fr = b.frame(wire.MAX_FRAME_BYTES, raw)
                assert fr is not None
                assert fr.count == wire.samples_per_frame(raw)
                packets, _ = wire.fragment(fr.encode(), mtu, 0)
                assert all(len(p) <= wire.ble_payload_bytes(mtu) for p in packets)
            else:
                fr = b.frame(mfb, raw)
                assert fr is not None
                assert len(fr.encode()) + 1 <= wire.ble_payload_bytes(mtu)


def test_live_waits_for_age_then_flushes(mods: tuple[Any, Any]) -> None:
    b = Bench(mods, live_max_age_ms=50)  # 10 samples at 200 Hz
    assert b.frame() is None  # not streaming
    b.push(5)
    b.framer.start()
    b.push(9)
    assert b.frame() is None
    b.push(1)
    fr = b.frame()
    assert fr is not None
    assert fr.count == 10
    assert b.unwrap(fr.seq0) == 5  # samples before START_STREAM are not live
    b.push(3)
    assert b.frame() is None
    fr = b.frame(flush=True)
    assert fr is not None
    assert fr.count == 3
    b.framer.stop()
    b.push(40)
    assert b.frame() is None


def test_live_skips_ahead_when_the_link_falls_behind(mods: tuple[Any, Any]) -> None:
    b = Bench(mods, live_max_age_ms=50, live_max_lag_ms=250)  # lag limit 50 samples
    b.framer.start()
    b.push(45)
    fr = b.frame()
    assert fr is not None
    assert b.unwrap(fr.seq0) == 0  # within the lag limit: in order
    b.push(300)  # the link stalls
    fr = b.frame()
    assert fr is not None
    assert b.unwrap(fr.seq0) + fr.count == b.k  # the newest samples
    assert fr.count == 15
    assert b.framer.live_skipped == 300 + 30 - 15
    # the skipped samples are still there for backfill
    assert b.fifo.oldest_k <= 15


ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(1, 60)),
        st.tuples(st.just("frames"), st.integers(1, 6)),
        st.tuples(st.just("backfill"), st.integers(-700, 50), st.integers(1, 400)),
        st.tuples(st.just("stop"), st.just(0)),
        st.tuples(st.just("start"), st.just(0)),
        st.tuples(st.just("break"), st.integers(0, 1_000_000)),
        # a flaky IMU: `n` breaks, each followed by 1..`gap` samples (several per block)
        st.tuples(st.just("burst"), st.integers(1, 30), st.integers(1, 6)),
    ),
    max_size=50,
)


@settings(max_examples=120, deadline=None)
@given(
    capacity=st.integers(40, 400),
    first_seq=st.one_of(st.integers(0, 100), st.integers(U32 - 300, U32 + 10)),
    mfb=st.sampled_from([31, 46, 61, 100, 180, 226, 243]),
    raw=st.booleans(),
    slots=st.integers(1, 4),
    ops=ops_strategy,
)
# two breaks within one 16-sample block: the sample between them once kept the first line's time
@example(
    capacity=40,
    first_seq=0,
    mfb=31,
    raw=False,
    slots=1,
    ops=[("start", 0), ("push", 1), ("break", 2), ("push", 1), ("break", 0), ("push", 1)],
)
def test_live_backfill_model(
    mods: tuple[Any, Any],
    capacity: int,
    first_seq: int,
    mfb: int,
    raw: bool,
    slots: int,
    ops: list[tuple[Any, ...]],
) -> None:
    if (mfb - 16) // (21 if raw else 15) < 1:
        raw = False
    b = Bench(mods, capacity, first_seq, backfill_slots=slots)
    fr_ = b.framer
    live_last = first_seq - 1
    pending: list[list[int]] = []  # accepted backfill ranges [next, end) in ordinals
    breaks: set[int] = set()
    for op in ops:
        if op[0] == "push":
            b.push(op[1])
        elif op[0] == "start":
            fr_.start()
        elif op[0] == "stop":
            fr_.stop()
        elif op[0] == "break":
            b.tl.add_break(b.k, op[1], 80_000 + op[1] % 1000)
            breaks.add(b.k)
        elif op[0] == "burst":
            for i in range(op[1]):
                jump_us = 4_000 + 97_000 * ((i * 7) % 11)
                b.tl.add_break(b.k, jump_us, 79_000 + 211 * i)
                breaks.add(b.k)
                b.push(1 + (i * 5 + op[1]) % op[2])
        elif op[0] == "backfill":
            newest = b.k - 1
            start = newest + op[1]
            count = op[2]
            seq = start % U32
            res = fr_.request_backfill(seq, count)
            lo = max(start, b.fifo.oldest_k)
            hi = min(start + count, b.k)
            if b.fifo.count == 0 or hi <= lo:
                assert res == wire.RESULT_UNAVAILABLE
            elif len(pending) == slots:
                assert res == wire.RESULT_BUSY
            else:
                assert res == wire.RESULT_OK
                assert fr_.ack_first == lo % U32
                assert fr_.ack_count == hi - lo
                pending.append([lo, hi])
        elif op[0] == "frames":
            prev_kind = None
            for _ in range(op[1]):
                live_ready_before = fr_.live_pending() >= min(10, (mfb - 16) // (21 if raw else 15))
                f = b.frame(mfb, raw)
                if f is None:
                    break
                b.check_content(f)
                k0 = b.unwrap(f.seq0)
                # never spans a break
                assert not any(k0 < x < k0 + f.count for x in breaks)
                if f.kind == wire.KIND_DATA_LIVE:
                    assert k0 > live_last
                    live_last = k0 + f.count - 1
                else:
                    # backfill: the head of the queue, clipped to what is still held
                    while pending and max(pending[0][0], b.fifo.oldest_k) >= pending[0][1]:
                        pending.pop(0)
                    assert pending, "backfill frame without a request"
                    head = pending[0]
                    head[0] = max(head[0], b.fifo.oldest_k)
                    assert k0 == head[0]
                    assert k0 + f.count <= head[1]
                    head[0] = k0 + f.count
                    if head[0] >= head[1]:
                        pending.pop(0)
                    # interleaving: two backfill frames in a row only when live was not ready
                    if prev_kind == wire.KIND_DATA_BACKFILL:
                        assert not (fr_.streaming and live_ready_before)
                prev_kind = f.kind
    # drain: every accepted range comes out (minus what left the FIFO), then nothing
    for _ in range(2000):
        f = b.frame(mfb, raw)
        if f is None:
            break
        b.check_content(f)
        if f.kind == wire.KIND_DATA_BACKFILL:
            while pending and max(pending[0][0], b.fifo.oldest_k) >= pending[0][1]:
                pending.pop(0)
            head = pending[0]
            head[0] = max(head[0], b.fifo.oldest_k)
            k0 = b.unwrap(f.seq0)
            assert k0 == head[0]
            head[0] = k0 + f.count
            if head[0] >= head[1]:
                pending.pop(0)
    assert all(max(p[0], b.fifo.oldest_k) >= p[1] for p in pending)
    assert fr_.backfill_pending == 0
    event("samples evicted" if b.fifo.evicted else "nothing evicted")


def test_interleaving_keeps_live_flowing(mods: tuple[Any, Any]) -> None:
    b = Bench(mods, capacity=6000)
    b.push(3000)
    b.framer.start()
    assert b.framer.request_backfill(0, 3000) == wire.RESULT_OK
    kinds = []
    backlog: list[int] = []
    for _ in range(100):
        b.push(8)  # the app adds samples between link calls
        for _ in range(3):  # the link has room for 3 frames per call
            live_ready = b.framer.live_pending() >= 10
            f = b.frame()
            if f is None:
                break
            if kinds and kinds[-1] == wire.KIND_DATA_BACKFILL:
                # after a backfill frame, a ready live frame always goes next
                assert f.kind == wire.KIND_DATA_LIVE or not live_ready
            kinds.append(f.kind)
            if f.kind == wire.KIND_DATA_LIVE:
                backlog.append(b.k - (b.unwrap(f.seq0) + f.count))
    # live frames keep coming while 3000 samples of backfill are pending, and stay fresh
    assert kinds.count(wire.KIND_DATA_LIVE) >= 50
    assert kinds.count(wire.KIND_DATA_BACKFILL) >= 100
    assert max(backlog) < 15
    assert b.framer.live_skipped == 0


def test_backfill_busy_and_unavailable(mods: tuple[Any, Any]) -> None:
    b = Bench(mods, capacity=100, backfill_slots=2)
    assert b.framer.request_backfill(0, 10) == wire.RESULT_UNAVAILABLE  # empty
    b.push(250)  # holds 150..249
    assert b.framer.request_backfill(0, 100) == wire.RESULT_UNAVAILABLE  # gone
    assert b.framer.request_backfill(140, 20) == wire.RESULT_OK
    assert (b.framer.ack_first, b.framer.ack_count) == (150, 10)
    assert b.framer.request_backfill(245, 100) == wire.RESULT_OK
    assert (b.framer.ack_first, b.framer.ack_count) == (245, 5)
    assert b.framer.request_backfill(200, 1) == wire.RESULT_BUSY
    assert b.framer.request_backfill(250, 1) == wire.RESULT_UNAVAILABLE  # not taken yet
    f = b.frame()
    assert f is not None
    assert f.is_backfill
    assert (f.seq0, f.count) == (150, 10)
    f = b.frame()
    assert f is not None
    assert (f.seq0, f.count) == (245, 5)
    assert b.frame() is None


def test_backfill_of_overwritten_samples_is_skipped(mods: tuple[Any, Any]) -> None:
    b = Bench(mods, capacity=100)
    b.push(100)
    assert b.framer.request_backfill(0, 100) == wire.RESULT_OK
    f = b.frame()
    assert f is not None
    assert (f.seq0, f.count) == (0, 15)
    b.push(50)  # 0..49 leave the FIFO before being sent
    f = b.frame()
    assert f is not None
    assert f.seq0 == 50
    assert b.framer.backfill_skipped == 35


def test_sequence_wrap_in_frames(mods: tuple[Any, Any]) -> None:
    b = Bench(mods, first_seq=U32 - 20)
    b.framer.start()
    seqs: list[int] = []
    for _ in range(6):
        b.push(10)
        f = b.frame()
        assert f is not None
        b.check_content(f)
        seqs.extend(f.sample_seq(i) for i in range(f.count))
    unwrapped = [wire.unwrap_u32(None, seqs[0])]
    for s in seqs[1:]:
        unwrapped.append(wire.unwrap_u32(unwrapped[-1], s))
    assert unwrapped == list(range(U32 - 20, U32 + 40))
    assert b.framer.request_backfill(U32 - 5, 10) == wire.RESULT_OK
    assert (b.framer.ack_first, b.framer.ack_count) == (U32 - 5, 10)
    f = b.frame()
    assert f is not None
    assert (f.seq0, f.count) == (U32 - 5, 10)
    assert f.sample_seq(9) == 4


def test_frames_never_span_a_break(mods: tuple[Any, Any]) -> None:
    b = Bench(mods, live_max_age_ms=1000)
    b.framer.start()
    b.push(7)
    b.tl.add_break(b.k, 250_000, 79_000)  # e.g. an IMU overrun: 250 ms lost, new period
    b.push(20)
    f = b.frame()
    assert f is not None
    assert (b.unwrap(f.seq0), f.count) == (0, 7)
    b.check_content(f)
    f = b.frame()
    assert f is not None
    assert (b.unwrap(f.seq0), f.count) == (7, 15)
    assert f.period_us == (79_000 + 8) >> 4
    b.check_content(f)
    assert b.framer.request_backfill(0, 27) == wire.RESULT_OK
    spans = []
    while (f := b.frame(flush=True)) is not None:
        b.check_content(f)
        spans.append((b.unwrap(f.seq0), f.count, f.kind))
    assert (0, 7, wire.KIND_DATA_BACKFILL) in spans
    assert (7, 15, wire.KIND_DATA_BACKFILL) in spans
