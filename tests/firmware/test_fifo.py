"""``coxa_fw.fifo.SampleFifo`` on CPython: ring overwrite, sequence wrap, records, time line,
breaks (any number per block), eviction when the break lines run out, drop accounting
(Hypothesis); and the same break-heavy run on the MicroPython unix port (same results, no
allocation). The viper Q14/copy helpers are tested in ``test_app_units.py``."""

from __future__ import annotations

import re
import struct
import subprocess
from array import array
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from coxa import wire
from tests.firmware.app_sim import FIRMWARE, FirmwareEnv, firmware_env
from tests.support.micropython import micropython_env, micropython_executable

U32 = 1 << 32
BLOCK = 16


@pytest.fixture(scope="module")
def fw_env() -> Iterator[FirmwareEnv]:
    yield from firmware_env()


class LineTimeline:
    """Time source: straight lines with a jump and a new period at each break."""

    def __init__(self, first_k: int, t0_us: int, p16: int) -> None:
        self.segments: list[tuple[int, int, int]] = [(first_k, t0_us, p16)]  # (k0, t0, p16)
        self.break_k = -1
        self.st_hi = self.st_lo = self.st_p16 = 0

    def add_break(self, k: int, jump_us: int, p16: int) -> None:
        t = self.true_time(k) + jump_us
        self.segments.append((k, t, p16))
        self.break_k = k

    def segment(self, k: int) -> tuple[int, int, int]:
        seg = self.segments[0]
        for s in self.segments:
            if s[0] <= k:
                seg = s
        return seg

    def true_time(self, k: int) -> int:
        k0, t0, p16 = self.segment(k)
        return t0 + (((k - k0) * p16 + 8) >> 4)

    def stamp(self, k: int) -> None:
        t = self.true_time(k) % U32
        self.st_hi = t >> 16
        self.st_lo = t & 0xFFFF
        self.st_p16 = self.segment(k)[2]


class HeldModel:
    """Which ordinals a FIFO holds: the newest ``capacity``, minus those evicted when its
    ring of ``max_breaks`` break lines is full (the rule of the ``coxa_fw.fifo`` docstring).

    A break on the first pushed sample of a 16-sample block (``k % 16 == 0`` or the very
    first sample) needs no break line; any other one takes the ring's next line. When the
    ring is full, its oldest line is freed: the samples on it (up to the next break of its
    block, or the block's end) and all older ones leave.
    """

    def __init__(self, capacity: int, first_k: int, max_breaks: int) -> None:
        self.capacity = capacity
        self.first_k = first_k
        self.max_breaks = max_breaks
        self.next_k = first_k
        self.floor = first_k  # ordinals below were evicted (or never pushed)
        self.lines: deque[int] = deque()  # ordinals starting a break line, oldest first
        self.evicted = 0

    @property
    def oldest(self) -> int:
        return max(self.floor, self.next_k - self.capacity)

    def push(self, is_break: bool) -> list[int]:
        """Push one sample; return the ordinals that left the FIFO early (evicted)."""
        k = self.next_k
        gone: list[int] = []
        if is_break and k != self.first_k and k % BLOCK != 0:
            if len(self.lines) == self.max_breaks:
                k0 = self.lines.popleft()
                end = min((k0 // BLOCK + 1) * BLOCK, self.lines[0])
                if end > self.oldest:
                    gone = list(range(self.oldest, end))
                    self.evicted += len(gone)
                    self.floor = end
            self.lines.append(k)
        self.next_k = k + 1
        return gone


def time_error_us(fifo: Any, tl: LineTimeline, k: int) -> int:
    """|FIFO time - true time| of sample ``k`` (held), modulo 2**32; also checks the period."""
    fifo.time_at(k)
    want = tl.true_time(k) % U32
    have = (fifo.t_hi << 16) | fifo.t_lo
    assert fifo.t_p16 == tl.segment(k)[2], k
    return abs(((have - want + U32 // 2) % U32) - U32 // 2)


def quat_of(k: int) -> array[float]:
    """A deterministic float32 'quaternion' for sample k (components need not be unit)."""
    vals = [((k * 37 + 11 * i) % 4001 - 2000) / 1000.0 for i in range(4)]
    if k % 97 == 0:
        vals[1] = 2.5  # clamps
    return array("f", vals)


def ints_of(k: int) -> tuple[int, int, int, int, int, int]:
    return tuple(((k * (31 + 7 * i)) % 65535) - 32767 for i in range(6))  # type: ignore[return-value]


def expected_record(k: int, flags: int) -> bytes:
    q = quat_of(k)
    g = ints_of(k)
    return struct.pack(
        "<hhhhhhhBhhh",
        *[wire.float_to_q14(float(x)) for x in q],
        g[0],
        g[1],
        g[2],
        flags,
        g[3],
        g[4],
        g[5],
    )


@pytest.fixture(scope="module")
def fifo_mod(fw_env: FirmwareEnv) -> Any:
    return fw_env.module("coxa_fw.fifo")


def test_q14_matches_wire(fifo_mod: Any) -> None:
    vals = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1.99997, 3.0517578125e-05, 1e-9]
    vals += [float("inf"), float("-inf"), 0.70710678, -0.70710678, 1.0000001]
    buf = bytearray(8)
    for i in range(0, len(vals), 4):
        q = array("f", [*vals[i : i + 4], 0.0, 0.0, 0.0][:4])
        fifo_mod.q14_into(q, buf, 0)
        got = struct.unpack("<hhhh", buf)
        assert list(got) == [wire.float_to_q14(float(x)) for x in q]
    q = array("f", [float("nan"), 0.25, 0.0, 0.0])
    fifo_mod.q14_into(q, buf, 0)
    assert struct.unpack("<hhhh", buf) == (0, 4096, 0, 0)


@settings(max_examples=60, deadline=None)
@given(
    x=st.lists(st.floats(width=32, allow_nan=False, allow_infinity=True), min_size=4, max_size=4)
)
def test_q14_property(fifo_mod: Any, x: list[float]) -> None:
    buf = bytearray(8)
    fifo_mod.q14_into(array("f", x), buf, 0)
    assert list(struct.unpack("<hhhh", buf)) == [wire.float_to_q14(v) for v in x]


ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(1, 90)),
        st.tuples(st.just("wanted"), st.booleans()),
        st.tuples(st.just("send"), st.integers(0, 400), st.integers(1, 15)),
        st.tuples(st.just("break"), st.integers(-200_000, 3_000_000), st.integers(40_000, 200_000)),
        # a flaky IMU: `n` breaks, each followed by 1..`gap` samples (several per block)
        st.tuples(st.just("burst"), st.integers(1, 40), st.integers(1, 6)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(16, 300),
    chunk=st.integers(1, 300),
    first_seq=st.one_of(
        st.integers(0, 2000), st.integers(U32 - 700, U32 + 50), st.integers(0, 3 * U32)
    ),
    t0=st.integers(0, U32 - 1),
    p16=st.integers(40_000, 200_000),
    max_breaks=st.sampled_from([0, 16, 17, 40]),
    ops=ops_strategy,
)
def test_fifo_model(
    fifo_mod: Any,
    capacity: int,
    chunk: int,
    first_seq: int,
    t0: int,
    p16: int,
    max_breaks: int,
    ops: list[tuple[Any, ...]],
) -> None:
    tl = LineTimeline(first_seq, t0, p16)
    fifo = fifo_mod.SampleFifo(capacity, tl, first_seq, chunk_samples=chunk, max_breaks=max_breaks)
    held = HeldModel(capacity, first_seq, max_breaks or max(16, capacity // 32))
    assert fifo.max_breaks == held.max_breaks
    pushed: dict[int, int] = {}  # k -> wire flags, for the samples held
    wanted: dict[int, bool] = {}
    sent: set[int] = set()
    dropped = 0
    breaks: set[int] = set()
    is_wanted = False
    buf = bytearray(16 + 15 * 21)
    r = t0  # pseudo-random state of the bursts

    def leave(j: int) -> None:
        nonlocal dropped
        if wanted[j] and j not in sent:
            dropped += 1
        del pushed[j]

    def push(n: int) -> None:
        for _ in range(n):
            k = held.next_k
            for j in held.push(k in breaks):
                leave(j)
            if k - capacity in pushed:
                leave(k - capacity)
            flags = k % 16
            q = quat_of(k)
            g = ints_of(k)
            got = fifo.push(q, g[0], g[1], g[2], flags, g[3], g[4], g[5])
            assert got == k
            pushed[k] = flags
            wanted[k] = is_wanted
            assert fifo.oldest_k == held.oldest
            assert set(pushed) == set(range(held.oldest, k + 1))

    def add_break(jump_us: int, period_p16: int) -> None:
        tl.add_break(held.next_k, jump_us, period_p16)
        breaks.add(held.next_k)

    for op in ops:
        if op[0] == "push":
            push(op[1])
        elif op[0] == "wanted":
            is_wanted = op[1]
            fifo.wanted = is_wanted
        elif op[0] == "send" and pushed:
            lo = min(pushed)
            start = lo + op[1] % len(pushed)
            n = min(op[2], held.next_k - start)
            raw = op[1] % 2 == 1
            end = fifo.copy_into(buf, 0, start, n, raw)
            size = 21 if raw else 15
            assert end == n * size
            for i in range(n):
                rec = expected_record(start + i, pushed[start + i])
                assert bytes(buf[i * size : (i + 1) * size]) == rec[:size]
                sent.add(start + i)
        elif op[0] == "break":
            add_break(op[1], op[2])
        elif op[0] == "burst":
            for _ in range(op[1]):
                r = (r * 1103515245 + 12345) % U32
                add_break(r % 2_000_000 - 100_000, 40_000 + r % 160_000)
                push(1 + (r >> 8) % op[2])
    k = held.next_k
    # contents
    assert fifo.next_k == k
    assert fifo.count == len(pushed) == k - held.oldest
    assert fifo.oldest_k == k - fifo.count
    assert fifo.newest_k == k - 1
    if fifo.count:
        assert fifo.oldest_seq == (k - fifo.count) % U32
        assert fifo.newest_seq == (k - 1) % U32
    assert fifo.evicted == held.evicted
    event("samples evicted" if fifo.evicted else "nothing evicted")
    assert fifo.dropped == dropped
    assert fifo.unsent_wanted() == sum(1 for j in pushed if wanted[j] and j not in sent)
    rec = bytearray(21)
    for j in pushed:
        fifo.record_into(rec, 0, j)
        assert bytes(rec) == expected_record(j, pushed[j])
        assert fifo.is_sent(j) == (j in sent)
        # every sample held has its true time, however many breaks its block has
        assert time_error_us(fifo, tl, j) <= 1, j
    # run lengths stop exactly at breaks
    for j in pushed:
        avail = min(15, k - j)
        n = fifo.run_length(j, avail)
        limit = avail
        for b in sorted(breaks):
            if j < b < j + avail:
                limit = b - j
                break
        assert n == limit
    with pytest.raises(ValueError, match="not in the FIFO"):
        fifo.copy_into(buf, 0, k, 1, False)
    if fifo.count:
        with pytest.raises(ValueError, match="not in the FIFO"):
            fifo.copy_into(buf, 0, fifo.oldest_k - 1, 1, False)


def test_two_breaks_in_one_block_keep_true_times(fifo_mod: Any) -> None:
    """The samples between two breaks of one block keep their own line (the bug that made
    them take the block's first line)."""
    tl = LineTimeline(0, 123_456, 80_000)
    fifo = fifo_mod.SampleFifo(40, tl)
    q = quat_of(0)
    fifo.push(q, 0, 0, 0, 0, 0, 0, 0)
    tl.add_break(1, 250_000, 79_000)  # IMU re-initialised: 250 ms gap, new period
    fifo.push(q, 0, 0, 0, 0, 0, 0, 0)
    fifo.push(q, 0, 0, 0, 0, 0, 0, 0)
    tl.add_break(3, 120_000, 81_000)  # and again, in the same block
    for _ in range(5):
        fifo.push(q, 0, 0, 0, 0, 0, 0, 0)
    for k in range(8):
        assert time_error_us(fifo, tl, k) <= 1, k
    fifo.time_at(2)
    assert (fifo.t_hi << 16) | fifo.t_lo == 123_456 + 250_000 + 5_000 + 4_938
    assert fifo.run_length(0, 8) == 1
    assert fifo.run_length(1, 7) == 2
    assert fifo.run_length(3, 5) == 5
    assert fifo.evicted == 0


def test_a_break_on_every_sample(fifo_mod: Any) -> None:
    """Worst case (an IMU re-initialised on every poll): every held sample keeps its time;
    once more than ``max_breaks`` break lines are needed, the oldest samples leave early and
    count as dropped if wanted and never sent."""
    tl = LineTimeline(5, 1000, 80_000)
    fifo = fifo_mod.SampleFifo(64, tl, 5, chunk_samples=10)
    assert fifo.max_breaks == 16
    fifo.wanted = True
    q = quat_of(0)
    for k in range(5, 205):
        tl.add_break(k, 3_000 + 17 * k, 79_000 + k)
        fifo.push(q, 0, 0, 0, 0, 0, 0, 0)
        # 16 break lines: the samples of at most 16 mid-block breaks (plus block starts)
        assert fifo.count <= 18
        for j in range(fifo.oldest_k, fifo.next_k):
            assert time_error_us(fifo, tl, j) <= 1, (k, j)
            assert fifo.run_length(j, fifo.next_k - j) == 1
    assert fifo.count == 17  # 16 break lines + the newest block's first sample
    assert fifo.evicted == 200 - 17
    assert fifo.dropped == fifo.evicted  # none was sent
    assert fifo.unsent_wanted() == 17
    # a larger ring holds more
    tl = LineTimeline(0, 0, 80_000)
    fifo = fifo_mod.SampleFifo(64, tl, max_breaks=60)
    for k in range(64):
        tl.add_break(k, 1_000, 80_000)
        fifo.push(q, 0, 0, 0, 0, 0, 0, 0)
    assert fifo.count == 64
    assert fifo.evicted == 0
    assert all(time_error_us(fifo, tl, j) <= 1 for j in range(64))


def test_eviction_counts_only_unsent_as_dropped(fifo_mod: Any) -> None:
    tl = LineTimeline(0, 0, 80_000)
    fifo = fifo_mod.SampleFifo(600, tl, chunk_samples=7, max_breaks=16)
    q = quat_of(0)
    fifo.wanted = True
    buf = bytearray(21 * 15)
    for k in range(292):
        if k % 16 in (3, 9):  # two break lines per block
            tl.add_break(k, 500, 80_000 + k)
        fifo.push(q, 0, 0, 0, 0, 0, 0, 0)
        if k % 10 == 9:
            fifo.copy_into(buf, 0, k - 4, 5, False)  # samples with k % 10 >= 5 go out
    # the 16 newest break lines: 169 (block 10's second), blocks 11..17, 291 (block 18);
    # freeing 163 (block 10's first) evicted everything before 169
    assert fifo.oldest_k == 169
    assert fifo.evicted == 169
    assert fifo.dropped == sum(1 for j in range(169) if j % 10 < 5)
    assert fifo.unsent_wanted() == sum(1 for j in range(169, 292) if j % 10 < 5)
    assert all(time_error_us(fifo, tl, j) <= 1 for j in range(169, 292))


def test_capacity_limits(fifo_mod: Any) -> None:
    tl = LineTimeline(0, 0, 80_000)
    with pytest.raises(ValueError, match="at least"):
        fifo_mod.SampleFifo(10, tl)
    with pytest.raises(ValueError, match="u16"):
        fifo_mod.SampleFifo(70_000, tl)
    with pytest.raises(ValueError, match="max_breaks"):
        fifo_mod.SampleFifo(600, tl, max_breaks=15)
    with pytest.raises(ValueError, match="max_breaks"):
        fifo_mod.SampleFifo(600, tl, max_breaks=70_000)
    fifo = fifo_mod.SampleFifo(6000, tl)
    assert fifo.ring_bytes == 126_000
    assert fifo.capacity == 6000
    assert fifo.max_breaks == 187  # one per 32 samples (docs/firmware.md)


MP_BREAKS_CODE = """
import gc
from array import array
from coxa_fw import fifo as F


class TL:
    def __init__(self):
        self.break_k = -1
        self.st_hi = 0
        self.st_lo = 0
        self.st_p16 = 0
        self.k0 = 0
        self.t0 = 5000
        self.p = 80000

    def time(self, k):
        return (self.t0 + (((k - self.k0) * self.p + 8) >> 4)) & 0xFFFFFFFF

    def stamp(self, k):
        t = self.time(k)
        self.st_hi = t >> 16
        self.st_lo = t & 0xFFFF
        self.st_p16 = self.p


def run(fifo, tl, truth, frame, q, k, n, r):
    # n samples from k: sparse breaks, and every third 500 samples a break on most samples
    end = k + n
    while k < end:
        r = (r * 1103515245 + 12345) & 0x3FFFFFFF
        dense = (k // 500) % 3 == 2
        if (r >> 7) % 23 < (19 if dense else 1):
            t = tl.time(k) + (r >> 3) % 300000
            tl.k0 = k
            tl.t0 = t & 0xFFFFFFFF
            tl.p = 70000 + (r >> 11) % 20000
            tl.break_k = k
        truth[k] = tl.time(k)
        fifo.wanted = (k // 97) % 2 == 0
        fifo.push(q, k & 0x7FFF, 2, 3, 1, 4, 5, 6)
        if k % 7 == 6:
            fifo.copy_into(frame, 16, k - 4, 5, (k & 8) == 8)
            fifo.time_at(fifo.oldest_k)
        k += 1
    return r


def main():
    n = 6000
    tl = TL()
    fifo = F.SampleFifo(400, tl, 0, 37, 16)
    truth = array("I", bytes(4 * n))
    frame = bytearray(243)
    q = array("f", [0.5, -0.5, 0.25, 1.0])
    r = run(fifo, tl, truth, frame, q, 0, 300, 7)  # warm-up (first calls)
    mem_alloc = getattr(gc, "mem_alloc", None)
    gc.collect()
    gc.disable()
    a0 = mem_alloc() if mem_alloc else 0
    run(fifo, tl, truth, frame, q, 300, n - 300, r)
    a1 = mem_alloc() if mem_alloc else 0
    gc.enable()
    bad = 0
    digest = 0
    for j in range(fifo.oldest_k, fifo.next_k):
        fifo.time_at(j)
        t = (fifo.t_hi << 16) | fifo.t_lo
        e = (t - truth[j]) & 0xFFFFFFFF
        if e > 1 and e < 0xFFFFFFFF:
            bad += 1
        digest = (digest * 31 + t + fifo.t_p16) & 0x3FFFFFFF
    return "FIFOMP oldest=%d count=%d evicted=%d dropped=%d bad=%d digest=%d alloc=%d" % (
        fifo.oldest_k, fifo.count, fifo.evicted, fifo.dropped, bad, digest, a1 - a0
    )
"""
MP_SUMMARY = re.compile(
    r"^FIFOMP oldest=(\d+) count=(\d+) evicted=(\d+) dropped=(\d+) bad=(\d+) digest=(\d+) "
    r"alloc=(-?\d+)$",
    re.MULTILINE,
)


@pytest.mark.micropython
@pytest.mark.parametrize("emit", ["bytecode", "native"])
def test_breaks_and_eviction_on_micropython(fw_env: FirmwareEnv, emit: str) -> None:
    """A break-heavy run (bursts of a break on most samples, so break lines get freed and
    samples evicted) gives the same FIFO state, dropped count and times on the MicroPython
    unix port (viper helpers; bytecode and the native emitter the board build uses) as on
    CPython, every held sample at its true time, and no allocation in push, copy_into and
    time_at, evictions included."""
    fw_env.module("coxa_fw.fifo")  # firmware/ on sys.path for the CPython run
    namespace: dict[str, Any] = {}
    exec(MP_BREAKS_CODE, namespace)  # the same code on both runtimes
    m_cp = MP_SUMMARY.search(namespace["main"]())
    assert m_cp is not None
    command = [str(micropython_executable())]
    if emit == "native":
        command += ["-X", "emit=native"]
    command += ["-c", MP_BREAKS_CODE + "\nprint(main())\n"]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env=micropython_env([FIRMWARE]),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    m_mp = MP_SUMMARY.search(proc.stdout)
    assert m_mp is not None, proc.stdout
    oldest, count, evicted, dropped, bad, _, alloc = (int(x) for x in m_mp.groups())
    assert m_mp.groups()[:6] == m_cp.groups()[:6]
    assert bad == 0
    assert alloc == 0
    assert evicted > 0  # the dense bursts freed break lines
    assert oldest + count == 6000
    assert count < 400  # the last burst left fewer than `capacity` samples
    assert dropped > 0
