"""Fixed-rate sampling from the IMU's FIFO: device time, sequence ordinals, raw -> wire/SI.

Hardware-free and dialect-neutral: the IMU driver and the ``time``-like clock come in as
arguments. Nothing here allocates per sample on MicroPython except the six float objects
handed to the AHRS (``si``), which the AHRS interface takes as floats.

Device time
-----------
:class:`DeviceClock` accumulates ``clock.ticks_diff`` of ``clock.ticks_us`` (raw ticks wrap at
2**30) into a u32 microsecond counter (wraps at 2**32, ~71.6 min) held as two u16 halves
``hi``, ``lo``, so that a 32-bit board never builds a big int for it. It must be updated at
least every 2**29 us (~8.9 min); the sampler does so on every poll. TIME_PING acks and the
data frames use this same counter.

Timestamp estimator
-------------------
The IMU samples on its own oscillator (its output data rate can be a few tenths of a percent
off the nominal rate, more without the driver's trim; 208 Hz for "200" on the ST chips), and
samples reach the MCU in batches through the IMU's FIFO, so the MCU never sees the instant a
sample was taken. The estimator keeps one straight line ``t(k) = A + (k - ka) * P`` (``P``
in 1/16 us, starting at the driver's ``odr_hz``) mapping sample ordinals to device time:

* every poll reads the FIFO count, then the device time ``now``; the newest sample counted,
  ordinal ``newest``, was taken before ``now``, so every poll is an upper bound on the line:
  ``r = now - t(newest) >= 0``;
* ``r < 0`` is impossible for a correct line: the anchor moves earlier by ``-r`` at once
  (timestamps never lie after the moment the MCU saw the sample);
* a window (a quarter second for the first eight, then one second) keeps its poll with the
  smallest ``r``: an *envelope point*. The last 16 are kept (16 s). When a window closes,
  the lower convex hull of the envelope points is taken (in residuals against the current
  line: small ints); its longest edge (at least half a second long) gives the period, the
  line goes through that edge, raised if need be to touch the lowest of the newest
  envelope points after it (so a slightly wrong slope cannot build up). A line under the
  hull is below every poll and touches the lowest ones; minima over many windows keep it
  steady when the poll phase only drifts slowly against the IMU clock. Periods more than
  1/8 off the nominal are ignored (``period_rejects``);
* ``r`` larger than 25 periods means samples were lost (the IMU FIFO overflowed because
  sampling stalled): the line restarts at this poll with the period kept, about ``r // P``
  samples are counted as lost (``overruns``, ``lost``) and a *break* is recorded before the
  first sample of the batch. A new IMU (re-initialisation, rate change) also starts a new
  line with a break.

Accuracy (``tests/firmware/test_sampler.py``, virtual clock, IMU rates up to 0.5 % off the
nominal, random poll intervals): after about 6 s the median error is a few percent of a
period (tens of microseconds when polls are frequent), the worst under 0.7 of a period; the
first second after a (re)start can be off by a period plus the drift of the nominal rate.
Polls at about one sample period (10 ms polls at 100 Hz) barely reveal the sampling phase:
errors up to a period or two. The shell should therefore poll at an interval that is not a
multiple of the sample period (or with some jitter), e.g. every 7 ms at 200 Hz. If polls
keep a constant phase to the IMU clock, the timestamps carry a constant offset of up to one
period (the host's clock mapping absorbs a constant offset per board).

Frames carry ``t0_us`` and an integer ``period_us``; the FIFO stores the line per block of 16
samples (see :mod:`coxa_fw.fifo`), so live and backfill frames give a sample the same time,
and frames never straddle a break.

Axes and scales
---------------
Each 12-byte FIFO sample (gx, gy, gz, ax, ay, az, i16 LE, sensor axes) is mapped to board
axes with the profile's ``board_from_sensor`` (see :func:`axis_code`) and converted (i) to
wire-scale integers (gyroscope 32768 LSB per 2000 deg/s, accelerometer 2048 LSB per g) with
integer fixed-point multipliers, clamped to +-32767, and (ii) to SI floats for the AHRS. A
sensor value at its full-scale limit, or one clamped by the rescaling, sets
``GYR_CLIPPED``/``ACC_CLIPPED``.

Accelerometer calibration
-------------------------
:meth:`Sampler.set_acc_cal` sets an offset ``b`` (m/s^2) and scale ``k`` per board axis
(:mod:`coxa_fw.acc_cal`); every accelerometer sample then becomes ``k (a - b)``, in the SI
floats and in the wire integers alike (raw-mode frames carry what the filter got). Applied
without extra allocation: the offset in 1/16 count of the sensor (``co``, an int) comes off
the count shifted by 4 bits and ``k`` is folded into the scales, so the SI value is still one
float product, ``((v << 4) - co) * (k sc / 16)``, exactly ``v sc`` without calibration; the
wire integer gets ``k`` in its multiplier and loses the offset in 1/16384 wire count before
its one rounding. The uncorrected counts stay in ``raw`` for the calibration's own rests.
"""

from array import array

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


_MUL_SHIFT = const(14)
_MUL_HALF = const(8192)
_I16_MAX = const(32767)
_GAP_PERIODS = const(25)
_NO_MIN = const(0x3FFFFFFF)
_ENV_POINTS = const(16)
_EARLY_WINDOWS = const(8)
_RECENT_POINTS = const(4)


def t_diff(a_hi: int, a_lo: int, b_hi: int, b_lo: int) -> int:
    """Signed difference ``a - b`` of two u32 device times given as u16 halves, in us."""
    dh = (a_hi - b_hi) & 0xFFFF
    if dh >= 0x8000:
        dh -= 0x10000
    return (dh << 16) + a_lo - b_lo


def axis_code(axis_map) -> bytearray:
    """The 6-byte axis code ``(src_x, neg_x, src_y, neg_y, src_z, neg_z)`` of an axis map.

    ``axis_map`` is None (identity), a profile's ``board_from_sensor`` matrix (3 rows of 3:
    board axis i = sum_j M[i][j] * sensor axis j; compiled and checked by
    :func:`coxa_fw.profiles.axis_map`) or such a 6-byte code already.
    """
    if axis_map is None:
        return bytearray(b"\x00\x00\x01\x00\x02\x00")
    if len(axis_map) == 3:
        from coxa_fw.profiles import axis_map as compile_axis_map

        return compile_axis_map(axis_map)
    if len(axis_map) != 6:
        raise ValueError("axis map must be a 3x3 matrix or a 6-byte code")
    code = bytearray(axis_map)
    seen = 0
    for i in range(3):
        if code[2 * i] > 2 or code[2 * i + 1] > 1:
            raise ValueError("bad axis code %r" % (bytes(code),))
        seen |= 1 << code[2 * i]
    if seen != 7:
        raise ValueError("axis code %r is not a permutation" % (bytes(code),))
    return code


class DeviceClock:
    """The board-accumulated microsecond counter (u32, as u16 halves ``hi`` and ``lo``).

    Parameters
    ----------
    clock : module or object
        ``ticks_us()`` and ``ticks_diff(a, b)`` with MicroPython semantics.
    start_us : int
        Initial value, u32 (tests start near 2**32 to see the wrap).
    """

    def __init__(self, clock, start_us: int = 0) -> None:
        self._ticks_us = clock.ticks_us
        self._ticks_diff = clock.ticks_diff
        self._last = clock.ticks_us()
        self.hi = (start_us >> 16) & 0xFFFF
        self.lo = start_us & 0xFFFF

    def update(self) -> None:
        """Add the ticks elapsed since the previous update."""
        now = self._ticks_us()
        d = self._ticks_diff(now, self._last)
        self._last = now
        if d <= 0:
            return
        lo = self.lo + d
        self.hi = (self.hi + (lo >> 16)) & 0xFFFF
        self.lo = lo & 0xFFFF

    def t_us(self) -> int:
        """The counter as one int, u32 (a big int on a 32-bit board above 2**30)."""
        return (self.hi << 16) | self.lo


class Sampler:
    """Reads the IMU FIFO in batches, numbers and times the samples, converts them.

    Parameters
    ----------
    imu : driver or None
        ``fifo_samples()``, ``read_fifo_into(buf, max_samples)``, ``gyr_rad_s_per_lsb``,
        ``acc_m_s2_per_lsb`` (see firmware/README.md); optional ``odr_hz`` (the real output
        data rate, used as the nominal period). None until :meth:`set_imu`.
    clock : module or object
        ``ticks_us``/``ticks_diff`` (the ``time`` module on the board).
    rate_hz : int
        Configured rate.
    axis_map : see :func:`axis_code`
    batch : int
        Most samples read per poll (buffer of ``12 * batch`` bytes).
    first_seq : int
        Ordinal of the first sample.
    start_us : int
        Initial device time.

    Attributes
    ----------
    k : int
        Ordinal of the next sample to read.
    n, first_k : int
        Samples in the last batch and the ordinal of its first one.
    si : list of 6 float
        After :meth:`load`: gx, gy, gz (rad/s), ax, ay, az (m/s^2), board axes.
    w : array('h', 6)
        After :meth:`load`: the same in wire scale (i16).
    clip : int
        After :meth:`load`: ``SAMPLE_GYR_CLIPPED | SAMPLE_ACC_CLIPPED`` bits.
    raw : list of 6 int
        After :meth:`load`: the sensor counts behind ``si`` (gyro, accelerometer; board axes,
        sign of the axis map not applied, no calibration).
    acc_m_s2_per_count : list of 3 float
        m/s^2 per count of ``raw[3:6]`` (axis-map sign included, no calibration).
    break_k : int
        Ordinal of the first sample after the latest time-line break (-1: none yet).
    st_hi, st_lo, st_p16 : int
        Output of :meth:`stamp`.
    overruns, lost : int
        Detected IMU FIFO overruns and the samples estimated lost in them.
    period_p16 : int
        Current period estimate, 1/16 us.
    period_version : int
        Incremented whenever ``period_p16`` is re-estimated.
    """

    def __init__(
        self,
        imu,
        clock,
        rate_hz: int = 200,
        axis_map=None,
        batch: int = 32,
        first_seq: int = 0,
        start_us: int = 0,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be >= 1")
        self.dclock = DeviceClock(clock, start_us)
        self._raw = bytearray(12 * batch)
        self._batch = batch
        self.k = first_seq
        self.n = 0
        self.first_k = first_seq
        self.break_k = -1
        self.overruns = 0
        self.lost = 0
        self.period_rejects = 0
        self.period_version = 0
        self.si = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        self.w = array("h", [0, 0, 0, 0, 0, 0])
        self.clip = 0
        self.st_hi = 0
        self.st_lo = 0
        self.st_p16 = 0
        self.last_hi = 0  # device time of the last poll that returned samples
        self.last_lo = 0
        code = axis_code(axis_map)
        self.axis_code = code
        self._off = bytearray(6)  # byte offset in a 12-byte sample, per board axis
        self._sgn = [1, 1, 1, 1, 1, 1]
        for i in range(3):
            a = code[2 * i]
            self._off[i] = 2 * a
            self._off[i + 3] = 6 + 2 * a
            self._sgn[i] = -1 if code[2 * i + 1] else 1
            self._sgn[i + 3] = self._sgn[i]
        self._mul = [0, 0, 0, 0, 0, 0]  # wire-scale multipliers, Q14, sign included
        self._mul2 = [0, 0, 0, 0, 0, 0]  # their fraction, Q14 of one LSB of _mul
        self._sc16 = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # SI per 1/16 count, sign and k included
        self._co = [0, 0, 0, 0, 0, 0]  # calibration offset, 1/16 sensor count (gyro: 0)
        self._cw = [0, 0, 0, 0, 0, 0]  # calibration offset, Q14 wire counts (gyro: 0)
        self._cal_b = [0.0, 0.0, 0.0]  # calibration offset, m/s^2, board axes
        self._cal_k = [1.0, 1.0, 1.0]  # calibration scale
        self.raw = [0, 0, 0, 0, 0, 0]
        self.acc_m_s2_per_count = [0.0, 0.0, 0.0]
        self.imu = None
        self.rate_hz = rate_hz
        self.period_p16 = 0
        self._nominal_p16 = 0
        self._started = False
        # ring of the latest envelope points (one per window): ordinal, device time
        self._ek = [0] * _ENV_POINTS
        self._eh = [0] * _ENV_POINTS
        self._el = [0] * _ENV_POINTS
        self._er = [0] * _ENV_POINTS  # residuals against the line (scratch)
        self._hull = [0] * _ENV_POINTS  # lower hull, indices into the ring (scratch)
        self._e_head = 0
        self._e_count = 0
        self._windows = 0
        self._anchor(first_seq, self.dclock.hi, self.dclock.lo)
        self._open_window(first_seq, 8)
        self.set_imu(imu, rate_hz)

    # ---------------------------------------------------------------------------------------
    def set_imu(self, imu, rate_hz: int) -> None:
        """Use a (new or re-initialised) IMU at ``rate_hz``; the time line starts afresh."""
        if rate_hz < 1 or rate_hz > 1000:
            raise ValueError("rate_hz must be in 1..1000")
        odr = rate_hz
        if imu is not None:
            odr = getattr(imu, "odr_hz", rate_hz) or rate_hz
            g = imu.gyr_rad_s_per_lsb / wire.GYR_RAD_S_PER_LSB
            a = imu.acc_m_s2_per_lsb / wire.ACC_M_S2_PER_LSB
            if g <= 0 or a <= 0 or g >= 1.99 or a >= 1.99:
                raise ValueError("IMU scales out of range for the wire format")
        self.imu = imu
        self.rate_hz = rate_hz
        self._scales()
        self._nominal_p16 = int(16000000.0 / odr + 0.5)
        if self._nominal_p16 > 0xFFFF * 16:
            raise ValueError("sample period too long for the wire's u16 period_us")
        self.period_p16 = self._nominal_p16
        self.reset_timing()
        dc = self.dclock
        dc.update()
        self.last_hi = dc.hi
        self.last_lo = dc.lo

    def _scales(self) -> None:
        """Multipliers and SI scales of the IMU, with the accelerometer calibration."""
        imu = self.imu
        if imu is None:
            return
        for i in range(6):
            s = self._sgn[i]
            if i < 3:
                sc = imu.gyr_rad_s_per_lsb
                r = sc / wire.GYR_RAD_S_PER_LSB
                b = 0.0
                k = 1.0
            else:
                sc = imu.acc_m_s2_per_lsb
                self.acc_m_s2_per_count[i - 3] = s * sc
                b = self._cal_b[i - 3]
                k = self._cal_k[i - 3]
                r = k * sc / wire.ACC_M_S2_PER_LSB
            # ratio ~ (m1 + m2 / 2**14) / 2**14: two small-int factors, 2**-28 resolution
            m1 = int(r * 16384.0)
            self._mul[i] = s * m1
            self._mul2[i] = s * int((r * 16384.0 - m1) * 16384.0 + 0.5)
            self._sc16[i] = s * k * sc / 16.0
            co = 16.0 * b / (s * sc)
            self._co[i] = int(co + 0.5) if co >= 0 else -int(0.5 - co)
            cw = 16384.0 * k * b / wire.ACC_M_S2_PER_LSB
            self._cw[i] = int(cw + 0.5) if cw >= 0 else -int(0.5 - cw)

    def set_acc_cal(self, bx, by, bz, kx=1.0, ky=1.0, kz=1.0) -> None:
        """Apply the accelerometer calibration ``k (a - b)`` per board axis from the next
        :meth:`load` on (offset ``b`` in m/s^2, at most 2 m/s^2 per axis; scale ``k`` within
        0.8..1.25); ``set_acc_cal(0, 0, 0)`` removes it."""
        b = (bx, by, bz)
        k = (kx, ky, kz)
        for i in range(3):
            if not -2.0 <= b[i] <= 2.0 or not 0.8 <= k[i] <= 1.25:  # also NaN
                raise ValueError("accelerometer calibration out of range")
        for i in range(3):
            self._cal_b[i] = float(b[i])
            self._cal_k[i] = float(k[i])
        self._scales()

    def idle_us(self) -> int:
        """Device time since the last poll that returned samples (or since :meth:`set_imu`)."""
        dc = self.dclock
        dc.update()
        return t_diff(dc.hi, dc.lo, self.last_hi, self.last_lo)

    def reset_timing(self) -> None:
        """Forget the time line: the next batch anchors a new one, after a break."""
        self._started = False

    # ---------------------------------------------------------------------------------------
    def poll(self) -> int:
        """Read up to ``batch`` samples from the IMU FIFO; return how many (``n``).

        Raises OSError from the bus (the app handles it).
        """
        imu = self.imu
        self.n = 0
        if imu is None:
            return 0
        avail = imu.fifo_samples()
        dc = self.dclock
        dc.update()
        if avail <= 0:
            return 0
        m = avail if avail < self._batch else self._batch
        n = imu.read_fifo_into(self._raw, m)
        if n <= 0:
            return 0
        self.last_hi = dc.hi
        self.last_lo = dc.lo
        self._observe(self.k + avail - 1, dc.hi, dc.lo)
        self.first_k = self.k
        self.k += n
        self.n = n
        return n

    def load(self, i: int) -> None:
        """Decode sample ``i`` of the last batch into ``si``, ``w`` and ``clip``."""
        b = self._raw
        o = 12 * i
        off = self._off
        mul = self._mul
        mul2 = self._mul2
        sc16 = self._sc16
        co = self._co
        cw = self._cw
        w = self.w
        si = self.si
        raw = self.raw
        clip = 0
        for a in range(6):
            j = o + off[a]
            v = b[j] | (b[j + 1] << 8)
            if v & 0x8000:
                v -= 0x10000
            raw[a] = v
            x = (
                v * mul[a] + ((v * mul2[a] + _MUL_HALF) >> _MUL_SHIFT) - cw[a] + _MUL_HALF
            ) >> _MUL_SHIFT
            c = v > 32766 or v < -32766
            if x > _I16_MAX:
                x = _I16_MAX
                c = True
            elif x < -_I16_MAX:
                x = -_I16_MAX
                c = True
            if c:
                clip |= wire.SAMPLE_GYR_CLIPPED if a < 3 else wire.SAMPLE_ACC_CLIPPED
            w[a] = x
            si[a] = ((v << 4) - co[a]) * sc16[a]
        self.clip = clip

    def raw_sample(self, i: int, axis: int) -> int:
        """Sensor-axis raw value ``axis`` (0..5) of sample ``i`` of the last batch (tests)."""
        b = self._raw
        j = 12 * i + 2 * axis
        v = b[j] | (b[j + 1] << 8)
        return v - 0x10000 if v & 0x8000 else v

    # ---------------------------------------------------------------------------------------
    def _anchor(self, k: int, hi: int, lo: int) -> None:
        self._ka = k
        self._a_hi = hi
        self._a_lo = lo

    def _open_window(self, newest: int, length: int) -> None:
        self._w_min = _NO_MIN
        self._w_end = newest + length
        self._w_k = newest
        self._w_hi = 0
        self._w_lo = 0

    def _observe(self, newest: int, hi: int, lo: int) -> None:
        """One poll: sample ``newest`` existed at device time ``(hi, lo)``."""
        p16 = self.period_p16
        quarter = self.rate_hz // 4 if self.rate_hz >= 32 else 8
        if not self._started:
            self._started = True
            self.break_k = self.k
            self._restart_line(newest, hi, lo, quarter)
            return
        r = t_diff(hi, lo, self._a_hi, self._a_lo) - (((newest - self._ka) * p16 + 8) >> 4)
        gap = _GAP_PERIODS * (p16 >> 4)
        if r > gap or r < -gap:
            if r > 0:
                self.overruns += 1
                self.lost += r // ((p16 + 8) >> 4)
            self.break_k = self.k
            self._restart_line(newest, hi, lo, quarter)
            return
        if r < 0:
            # The line put this sample after the poll that saw it: pull it earlier now.
            lo2 = self._a_lo + r
            self._a_hi = (self._a_hi + (lo2 >> 16)) & 0xFFFF
            self._a_lo = lo2 & 0xFFFF
            r = 0
            self._w_min = _NO_MIN
        if r < self._w_min:
            self._w_min = r
            self._w_k = newest
            self._w_hi = hi
            self._w_lo = lo
        if newest >= self._w_end:
            self._close_window(newest)

    def _restart_line(self, newest: int, hi: int, lo: int, quarter: int) -> None:
        """A new line anchored at this poll (its phase is unknown: not an envelope point)."""
        self._anchor(newest, hi, lo)
        self._e_head = 0
        self._e_count = 0
        self._windows = 0
        self._open_window(newest, quarter)

    def _close_window(self, newest: int) -> None:
        """Store the window's lowest poll as an envelope point; refit the line.

        Every stored point (up to 16 windows) is an upper bound of the true line. Their
        lower convex hull is computed (in residuals against the current line, so the
        numbers stay small ints); the hull edge with the longest baseline (at least half a
        second) gives the period and the line, anchored at the edge's newer end and raised
        to the lowest of the newest points if they all lie above it.
        """
        h = self._e_head
        self._ek[h] = self._w_k
        self._eh[h] = self._w_hi
        self._el[h] = self._w_lo
        self._e_head = 0 if h + 1 == _ENV_POINTS else h + 1
        if self._e_count < _ENV_POINTS:
            self._e_count += 1
        self._windows += 1
        length = self.rate_hz if self.rate_hz > 8 else 8
        if self._windows < _EARLY_WINDOWS:
            length >>= 2
        p16 = self.period_p16
        ka = self._ka
        ek = self._ek
        er = self._er
        hull = self._hull
        # residuals against the current line, oldest first, and the lower hull (monotone chain)
        n = self._e_count
        i = self._e_head - n
        if i < 0:
            i += _ENV_POINTS
        m = 0
        for _ in range(n):
            er[i] = t_diff(self._eh[i], self._el[i], self._a_hi, self._a_lo) - (
                ((ek[i] - ka) * p16 + 8) >> 4
            )
            while m >= 2:
                o = hull[m - 2]
                q = hull[m - 1]
                # pop q if it is not strictly below the segment o -> i
                if (ek[q] - ek[o]) * (er[i] - er[o]) - (er[q] - er[o]) * (ek[i] - ek[o]) > 0:
                    break
                m -= 1
            hull[m] = i
            m += 1
            i += 1
            if i == _ENV_POINTS:
                i = 0
        # the longest hull edge
        best = -1
        best_dk = 0
        for e in range(m - 1):
            dk = ek[hull[e + 1]] - ek[hull[e]]
            if dk >= best_dk:
                best_dk = dk
                best = e
        min_dk = self.rate_hz >> 1 if self.rate_hz >= 16 else 8
        if best >= 0 and best_dk >= min_dk:
            a = hull[best]
            b = hull[best + 1]
            dr = er[b] - er[a]
            meas = p16 + (dr * 16 + (best_dk >> 1)) // best_dk
            nom = self._nominal_p16
            if nom - (nom >> 3) < meas < nom + (nom >> 3):
                if meas != p16:
                    self.period_p16 = meas
                    self.period_version += 1
                # offset: touch the lowest of the newest points (relative to the new line),
                # so that a slightly wrong slope does not build up over the long baseline
                low_r = 0
                i = self._e_head
                for j in range(n if n < _RECENT_POINTS else _RECENT_POINTS):
                    i = i - 1 if i > 0 else _ENV_POINTS - 1
                    r = er[i] - er[b] - (((ek[i] - ek[b]) * (meas - p16) + 8) >> 4)
                    if j == 0 or r < low_r:
                        low_r = r
                lo2 = self._el[b] + low_r
                self._ka = ek[b]
                self._a_hi = (self._eh[b] + (lo2 >> 16)) & 0xFFFF
                self._a_lo = lo2 & 0xFFFF
            else:
                self.period_rejects += 1
        else:
            # no baseline for a period yet: keep it, anchor at the newest point
            self._anchor(ek[h], self._eh[h], self._el[h])
        self._open_window(newest, length)

    def stamp(self, k: int) -> None:
        """Set ``st_hi``, ``st_lo`` to the device time of ordinal ``k`` on the current line and
        ``st_p16`` to the period (the FIFO's time source interface)."""
        p16 = self.period_p16
        lo = self._a_lo + (((k - self._ka) * p16 + 8) >> 4)
        self.st_hi = (self._a_hi + (lo >> 16)) & 0xFFFF
        self.st_lo = lo & 0xFFFF
        self.st_p16 = p16
