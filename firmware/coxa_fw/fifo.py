"""RAM FIFO of packed samples, indexed by sequence number, with the time line of every sample.

Hardware-free and dialect-neutral (MicroPython on the board and the unix port, CPython in
tests and the simulator). Everything is allocated in the constructor; ``push`` and
``copy_into`` allocate nothing on MicroPython.

Records
-------
One record per sample, ``RECORD_BYTES`` = 21 bytes, in a ring of preallocated ``bytearray``
chunks of ``chunk_samples`` records each (default 500, 10.5 kB: a fragmented heap on a board
without PSRAM may not have one free block of 126 kB). A record is laid out exactly like a
raw-mode sample on the wire (``docs/protocol.md``): quaternion Q14 w, x, y, z (4 x i16),
gyroscope raw x, y, z (3 x i16, wire scale), flags (u8), accelerometer raw x, y, z (3 x i16,
wire scale), all little-endian. A quaternion-mode sample is the first 15 bytes of a record,
so frames are built by copying bytes. Bits 4-7 of the flags byte are reserved on the wire;
the FIFO uses three of them in RAM (``FLAG_SENT``, ``FLAG_WANTED``, ``FLAG_BREAK``) and
masks them out when it copies.

Sequence numbers
----------------
Samples are numbered by an ordinal ``k`` (0, 1, 2, ... from ``first_seq``); the wire sequence
number is ``k mod 2**32``. On a 32-bit board ``k`` stays a small int (no heap) for 2**30
samples, 62 days at 200 Hz.

Time line
---------
Sample times are not stored per sample but as straight lines ``t = T + i * period`` (T as
the two u16 halves of the u32 device time, the period in 1/16 us), each starting at one
sample and holding up to the sample before the next line starts. A line starts

* at the first pushed sample of every block of ``BLOCK`` = 16 consecutive ordinals
  (``k // 16``), so the FIFO follows the time source's refined estimate every 16 samples;
* at every *break* (a discontinuity of the time line: IMU overrun, re-initialisation, rate
  change); the sample also gets the RAM-only ``FLAG_BREAK``. A break on a block's first
  sample needs nothing more. The line of any other break goes into a ring of ``max_breaks``
  *break lines* shared by all blocks; a block keeps where its break lines start in that
  ring and how many it has (up to 15: any number of breaks within 16 samples, e.g. a flaky
  bus failing twice within 80 ms, or an IMU re-initialised on every poll).

``push`` asks the time source (``timeline.stamp(k)``, normally the
:class:`coxa_fw.sampler.Sampler`) for a line whenever a block starts or
``k == timeline.break_k``. ``time_at(k)`` gives the time of any sample in the FIFO: exactly
the time the time source gave it when it was pushed (the sample's own line), however many
breaks its block has. ``run_length(k, n)`` gives how many samples from ``k`` on follow without
a break, so a data frame (``t0 + i * period_us``) never spans a break.

The ring of break lines is the one bound. When a break comes and the ring is full, the
oldest break line is freed, and the samples still on it leave the FIFO first, with every
older sample (``evicted`` counts them; those pushed while ``wanted`` and never sent also
count as ``dropped``, as if overwritten). A sample is therefore never sent with a time that
is not its own: a board that breaks its time line more than ``max_breaks`` times within the
FIFO's span keeps a shorter history instead (the host sees the evicted samples as lost:
backfill of them is clipped or UNAVAILABLE). The default is one break line per 32 samples
of capacity, at least 16: the app's 6000 samples (30 s at 200 Hz) keep their full span
unless more than 187 breaks fall within it, i.e. unless the time line breaks more often
than once per 160 ms on average for 30 s (an IMU that fails on every poll is re-initialised
after a back-off of 100 ms or more; an overrun needs a gap of 25 sample periods).

Memory: 12 bytes per block (the block's line: start offset, T, period; ring index u16 and
count u8) for ``capacity // 16 + 2`` blocks, and 8 bytes per break line plus one list slot
for its ordinal (4 bytes on the 32-bit board): for the app's 6000 samples, 377 blocks and
187 break lines, 6768 bytes on the board.
"""

import struct
from array import array

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


RECORD_BYTES = 21
QUAT_SAMPLE_BYTES = 15
BLOCK = 16
"""Samples per time-line block (>= the 15 samples of the largest frame)."""

FLAG_SENT = 0x10
"""RAM-only flag: the sample went out in a frame handed to a link (live or backfill)."""
FLAG_WANTED = 0x20
"""RAM-only flag: the sample was taken while a host was streaming (it counts as dropped if it
leaves the FIFO without ever having been sent)."""
FLAG_BREAK = 0x40
"""RAM-only flag: the time line has a break before this sample (frames stop before it)."""
WIRE_FLAGS = 0x0F

_REC = const(21)
_QREC = const(15)
_FLAGS_AT = const(14)
_BLOCK = const(16)
_LINES_PER = const(32)
_TAIL_FMT = "<hhhBhhh"


def _q14(x):
    if x != x:
        return 0
    v = x * 16384.0
    if v >= 32767:
        return 32767
    if v <= -32767:
        return -32767
    if v >= 0:
        return int(v + 0.5)
    return -int(0.5 - v)


def _q14_into_py(q, dst, off):  # (the viper version does not check bounds: callers do)
    struct.pack_into("<hhhh", dst, off, _q14(q[0]), _q14(q[1]), _q14(q[2]), _q14(q[3]))


def _copy_bytes_py(dst, doff, src, soff, n):
    dst[doff : doff + n] = src[soff : soff + n]


def _count_unsent_py(ring, off, n):
    c = 0
    for j in range(off + _FLAGS_AT, off + n * _REC, _REC):
        if (ring[j] & 0x30) == FLAG_WANTED:
            c += 1
    return c


q14_into = _q14_into_py
"""``q14_into(q, dst, off)``: write the 4 floats of ``q`` (``array('f')``) as Q14 i16 LE at
``dst[off:off+8]``, rounding half away from zero and clamping to +-32767 like
``wire.float_to_q14`` (NaN gives 0). The MicroPython version is viper code that reads the
float32 bits, so it allocates nothing; CPython uses the plain version."""
copy_bytes = _copy_bytes_py
"""``copy_bytes(dst, doff, src, soff, n)``: ``dst[doff:doff+n] = src[soff:soff+n]``
(viper on MicroPython: no slice objects)."""
count_unsent = _count_unsent_py
"""``count_unsent(ring, off, n)``: how many of the ``n`` records at ``ring[off:]`` are
``FLAG_WANTED`` and not ``FLAG_SENT`` (viper on MicroPython: fast enough to evict thousands
of samples within one push)."""

try:
    import micropython
except ImportError:
    micropython = None

if micropython is not None:

    @micropython.viper
    def _q14_into_viper(q, dst, off: int):
        src = ptr32(q)  # noqa: F821 (viper built-in)
        d = ptr8(dst)  # noqa: F821
        i = 0
        while i < 4:
            bits = int(src[i])
            e = (bits >> 23) & 0xFF
            m = (bits & 0x7FFFFF) | 0x800000
            s = 136 - e
            if e == 0xFF:
                v = 0 if (bits & 0x7FFFFF) else 32767
            elif s <= 8:
                v = 32767
            elif s > 24:
                v = 0
            else:
                v = (m + (1 << (s - 1))) >> s
                if v > 32767:
                    v = 32767
            if int(uint(bits) >> 31):  # noqa: F821
                v = 0 - v
            d[off] = v & 0xFF
            d[off + 1] = (v >> 8) & 0xFF
            off += 2
            i += 1

    @micropython.viper
    def _copy_bytes_viper(dst, doff: int, src, soff: int, n: int):
        d = ptr8(dst)  # noqa: F821
        s = ptr8(src)  # noqa: F821
        i = 0
        while i < n:
            d[doff + i] = s[soff + i]
            i += 1

    @micropython.viper
    def _count_unsent_viper(ring, off: int, n: int) -> int:
        r = ptr8(ring)  # noqa: F821
        o = off + _FLAGS_AT
        c = 0
        i = 0
        while i < n:
            if (r[o] & 0x30) == 0x20:
                c += 1
            o += _REC
            i += 1
        return c

    q14_into = _q14_into_viper
    copy_bytes = _copy_bytes_viper
    count_unsent = _count_unsent_viper


class SampleFifo:
    """Ring of the newest ``capacity`` samples.

    Parameters
    ----------
    capacity : int
        Samples held (the app uses 6000: 30 s at 200 Hz, 126 000 bytes of records).
    timeline : object
        Time source: ``stamp(k)`` sets ``st_hi``, ``st_lo`` (u32 device time of sample ``k``
        as two u16 halves) and ``st_p16`` (period in 1/16 us); ``break_k`` is the ordinal of
        the first sample after the latest discontinuity (-1 if none).
    first_seq : int
        Ordinal of the first sample (0 on the board; tests start near 2**32 to see the wrap).
    chunk_samples : int
        Records per ``bytearray`` chunk of the ring.
    max_breaks : int
        Break lines held (see the module docstring); 0 (default) for ``capacity // 32``,
        at least 16 (a block can hold 15 break lines, so the oldest line of a full ring
        always lies in an earlier block than the sample being pushed).

    Attributes
    ----------
    next_k : int
        Ordinal the next pushed sample gets (= newest + 1).
    count : int
        Samples held.
    dropped : int
        Samples that left the FIFO (overwritten or evicted) without ever having been sent,
        among those pushed while ``wanted`` was True.
    evicted : int
        Samples that left the FIFO before it was full because the ring of break lines was
        (more than ``max_breaks`` breaks within the FIFO's span; see the module docstring).
    wanted : bool
        Set by the app while a host is streaming; pushed samples get ``FLAG_WANTED``.
    t_hi, t_lo, t_p16 : int
        Output of :meth:`time_at`.
    """

    def __init__(
        self,
        capacity: int,
        timeline,
        first_seq: int = 0,
        chunk_samples: int = 500,
        max_breaks: int = 0,
    ) -> None:
        if capacity < _BLOCK:
            raise ValueError("capacity must be at least %d samples" % _BLOCK)
        if capacity > 0xFFFF:
            raise ValueError("capacity must fit the status frame's u16 (<= 65535)")
        if first_seq < 0:
            raise ValueError("first_seq must be >= 0")
        if chunk_samples < 1:
            raise ValueError("chunk_samples must be >= 1")
        if max_breaks == 0:
            max_breaks = capacity // _LINES_PER
            if max_breaks < _BLOCK:
                max_breaks = _BLOCK
        elif max_breaks < _BLOCK or max_breaks > 0xFFFF:
            raise ValueError("max_breaks must be 0 (default) or in %d..65535" % _BLOCK)
        self.capacity = capacity
        self.timeline = timeline
        if chunk_samples > capacity:
            chunk_samples = capacity
        self._per = chunk_samples
        self._chunks = []
        left = capacity
        while left > 0:
            n = chunk_samples if left > chunk_samples else left
            self._chunks.append(bytearray(n * _REC))
            left -= n
        self._wc = 0  # chunk and byte offset of the head slot
        self._wo = 0
        # per block (k // 16 modulo nb): the line starting at its first pushed sample ...
        nb = capacity // _BLOCK + 2
        self._nb = nb
        self._r0 = bytearray(nb)  # offset in the block of its first pushed sample
        self._t1h = array("H", bytes(2 * nb))
        self._t1l = array("H", bytes(2 * nb))
        self._p1 = array("I", bytes(4 * nb))
        self._bi = array("H", bytes(2 * nb))  # ... ring index of its first break line
        self._bn = bytearray(nb)  # ... and how many break lines it has
        # ring of break lines (oldest at _xt, _xn in use): first ordinal, T, period
        self.max_breaks = max_breaks
        self._xk = [0] * max_breaks
        self._xth = array("H", bytes(2 * max_breaks))
        self._xtl = array("H", bytes(2 * max_breaks))
        self._xp = array("I", bytes(4 * max_breaks))
        self._xt = 0
        self._xn = 0
        self._cur_block = -1
        self.first_seq = first_seq
        self.next_k = first_seq
        self.count = 0
        self._head = 0  # slot of next_k
        self.dropped = 0
        self.evicted = 0
        self.wanted = False
        self.t_hi = 0
        self.t_lo = 0
        self.t_p16 = 0

    # ---------------------------------------------------------------------------------------
    @property
    def oldest_k(self) -> int:
        """Ordinal of the oldest sample held (== next_k when empty)."""
        return self.next_k - self.count

    @property
    def newest_k(self) -> int:
        """Ordinal of the newest sample (first_seq - 1 when empty)."""
        return self.next_k - 1

    @property
    def oldest_seq(self) -> int:
        """Wire sequence number (u32) of the oldest sample held."""
        return (self.next_k - self.count) & 0xFFFFFFFF

    @property
    def newest_seq(self) -> int:
        """Wire sequence number (u32) of the newest sample pushed (meaningless when empty)."""
        return (self.next_k - 1) & 0xFFFFFFFF

    @property
    def ring_bytes(self) -> int:
        """Bytes of record storage."""
        return self.capacity * _REC

    def slot(self, k: int) -> int:
        """Ring slot of ordinal ``k`` (which must be held)."""
        s = self._head - (self.next_k - k)
        if s < 0:
            s += self.capacity
        return s

    def _flags_at(self, s: int) -> int:
        c = s // self._per
        return self._chunks[c][(s - c * self._per) * _REC + _FLAGS_AT]

    # ---------------------------------------------------------------------------------------
    def push(self, q, gx: int, gy: int, gz: int, flags: int, ax: int, ay: int, az: int) -> int:
        """Append one sample; return its ordinal.

        ``q`` is the orientation as an ``array('f')`` of 4 (w, x, y, z), converted to Q14
        here; gyroscope and accelerometer are i16 in wire scale; ``flags`` are the wire's
        ``SAMPLE_*`` bits. When full, the oldest sample is overwritten.
        """
        k = self.next_k
        tl = self.timeline
        # time line first: freeing a break line may evict the oldest samples
        kb = k // _BLOCK
        if kb != self._cur_block:
            self._cur_block = kb
            tl.stamp(k)
            b = kb % self._nb
            self._r0[b] = k - kb * _BLOCK
            self._t1h[b] = tl.st_hi
            self._t1l[b] = tl.st_lo
            self._p1[b] = tl.st_p16
            self._bn[b] = 0
        elif k == tl.break_k:
            tl.stamp(k)
            m = self.max_breaks
            if self._xn == m:
                self._free_line()
            i = self._xt + self._xn
            if i >= m:
                i -= m
            self._xk[i] = k
            self._xth[i] = tl.st_hi
            self._xtl[i] = tl.st_lo
            self._xp[i] = tl.st_p16
            self._xn += 1
            b = kb % self._nb
            if self._bn[b] == 0:
                self._bi[b] = i
            self._bn[b] += 1
        ring = self._chunks[self._wc]
        o = self._wo
        if self.count == self.capacity:
            old = ring[o + _FLAGS_AT]
            if (old & 0x30) == FLAG_WANTED:
                self.dropped += 1
        else:
            self.count += 1
        q14_into(q, ring, o)
        flags &= WIRE_FLAGS
        if self.wanted:
            flags |= FLAG_WANTED
        if k == tl.break_k:
            flags |= FLAG_BREAK
        struct.pack_into(_TAIL_FMT, ring, o + 8, gx, gy, gz, flags, ax, ay, az)
        o += _REC
        if o == len(ring):
            o = 0
            c = self._wc + 1
            self._wc = 0 if c == len(self._chunks) else c
        self._wo = o
        head = self._head + 1
        self._head = 0 if head == self.capacity else head
        self.next_k = k + 1
        return k

    def _free_line(self) -> None:
        """Free the oldest break line; the samples still on it (and all older ones) leave
        the FIFO. Only called by ``push`` with the ring full, so that line lies in a block
        before the one of the sample being pushed (a block has at most 15 break lines) and
        its samples end at the next break line of its block or at the block's end."""
        t = self._xt
        k0 = self._xk[t]
        j = t + 1
        if j == self.max_breaks:
            j = 0
        end = (k0 // _BLOCK + 1) * _BLOCK
        if self._xk[j] < end:  # (the ring is full: j is in use)
            end = self._xk[j]
        self._xt = j
        self._xn -= 1
        k = self.next_k - self.count
        if k >= end:
            return
        n = end - k
        self.count -= n
        self.evicted += n
        s = self.slot(k)
        per = self._per
        while n > 0:
            c = s // per
            i = s - c * per
            ring = self._chunks[c]
            r = len(ring) // _REC - i  # records from slot s to the chunk's end
            if r > n:
                r = n
            self.dropped += count_unsent(ring, i * _REC, r)
            n -= r
            s += r
            if s == self.capacity:
                s = 0

    # ---------------------------------------------------------------------------------------
    def time_at(self, k: int) -> None:
        """Set ``t_hi``, ``t_lo`` (u32 device time of sample ``k``) and ``t_p16`` (its line's
        period in 1/16 us). ``k`` must be held."""
        kb = k // _BLOCK
        b = kb % self._nb
        th = self._t1h[b]
        tl = self._t1l[b]
        p = self._p1[b]
        d = k - kb * _BLOCK - self._r0[b]
        n = self._bn[b]
        if n:
            # the block's last break line at or before k (those after k are newer, so none
            # of the lines looked at has been freed while k is held)
            m = self.max_breaks
            i = self._bi[b] + n - 1
            if i >= m:
                i -= m
            xk = self._xk
            while n:
                if xk[i] <= k:
                    th = self._xth[i]
                    tl = self._xtl[i]
                    p = self._xp[i]
                    d = k - xk[i]
                    break
                n -= 1
                i = i - 1 if i else m - 1
        lo = tl + ((d * p + 8) >> 4)
        self.t_hi = (th + (lo >> 16)) & 0xFFFF
        self.t_lo = lo & 0xFFFF
        self.t_p16 = p

    def run_length(self, k: int, n: int) -> int:
        """How many of the ``n`` samples from ``k`` on (all held) lie on one time line, i.e.
        have no break (``FLAG_BREAK``) before them (>= 1)."""
        s = self.slot(k)
        c = s // self._per
        o = (s - c * self._per) * _REC + _FLAGS_AT
        chunks = self._chunks
        ring = chunks[c]
        j = 1
        while j < n:
            o += _REC
            if o >= len(ring):
                o = _FLAGS_AT
                c += 1
                if c == len(chunks):
                    c = 0
                ring = chunks[c]
            if ring[o] & FLAG_BREAK:
                return j
            j += 1
        return n

    def copy_into(self, buf, off: int, k: int, n: int, raw: bool) -> int:
        """Copy ``n`` samples from ordinal ``k`` into ``buf`` at ``off`` in wire layout (21 bytes
        each if ``raw``, else 15), mark them sent; return the offset after them.

        All ``n`` samples must be held (``oldest_k <= k`` and ``k + n <= next_k``).
        """
        if k < self.next_k - self.count or k + n > self.next_k or n < 0:
            raise ValueError("samples %d..%d are not in the FIFO" % (k, k + n - 1))
        size = _REC if raw else _QREC
        if off < 0 or off + n * size > len(buf):
            raise ValueError("buffer too small for %d samples" % n)
        s = self.slot(k)
        c = s // self._per
        o = (s - c * self._per) * _REC
        chunks = self._chunks
        ring = chunks[c]
        i = 0
        while i < n:
            copy_bytes(buf, off, ring, o, size)
            buf[off + _FLAGS_AT] &= WIRE_FLAGS
            ring[o + _FLAGS_AT] |= FLAG_SENT
            off += size
            o += _REC
            if o == len(ring):
                o = 0
                c += 1
                if c == len(chunks):
                    c = 0
                ring = chunks[c]
            i += 1
        return off

    def record_into(self, buf, off: int, k: int) -> int:
        """Copy the full 21-byte record of sample ``k`` (flags masked); tests and diagnostics."""
        if k < self.next_k - self.count or k >= self.next_k:
            raise ValueError("sample %d is not in the FIFO" % k)
        if off < 0 or off + _REC > len(buf):
            raise ValueError("buffer too small for a record")
        s = self.slot(k)
        c = s // self._per
        copy_bytes(buf, off, self._chunks[c], (s - c * self._per) * _REC, _REC)
        buf[off + _FLAGS_AT] &= WIRE_FLAGS
        return off + _REC

    def is_sent(self, k: int) -> bool:
        """True if sample ``k`` (held) went out in some frame."""
        return (self._flags_at(self.slot(k)) & FLAG_SENT) != 0

    def unsent_wanted(self) -> int:
        """Wanted samples still held that were never sent (O(capacity); diagnostics, tests)."""
        n = 0
        s = self.slot(self.oldest_k) if self.count else 0
        for _ in range(self.count):
            if (self._flags_at(s) & 0x30) == FLAG_WANTED:
                n += 1
            s += 1
            if s == self.capacity:
                s = 0
        return n
