"""On-board 6D AHRS: orientation from gyroscope and accelerometer, gyro bias, rest flag.

Runs unchanged on CPython (simulator, tests, bench) and MicroPython (board). The per-sample
path is pure small-integer fixed-point arithmetic: on MicroPython every float operation
allocates a heap object, small integers do not, so ``update()`` allocates nothing. Every
intermediate integer stays below 2**30 in magnitude, the small-int range of 32-bit ports
(ESP32-S3); ``tests/firmware/test_ahrs.py`` checks that bound on every arithmetic result.

Algorithm (details, equations and references in ``docs/firmware.md``, "On-board AHRS"):

1. Strapdown: ``q <- normalise(q * (1, (omega - b) dt / 2))`` (sensor frame S in world W).
2. Specific force in the world frame, ``s = R(q) a``, low-passed in W:
   ``f <- f + (dt / tau1) (s - f)``; spikes (excursions of ``| |a| - g |`` beyond
   ``acc_spike_m_s2`` lasting at most ``acc_spike_s``) are skipped. Translational
   accelerations average out in W; gravity does not.
3. Inclination correction: rotate the world estimate about the horizontal axis
   ``f x e_z`` by ``phi = (dt / tau2) (f x e_z) / g``: ``q <- (1, phi / 2) * q`` and ``f`` is
   rotated by the same ``phi``. Stages 2 and 3 together are a critically damped second-order
   low-pass (double pole at ``1 / tau1 = 1 / tau2 = 2 / tau_acc``) from the accelerometer to
   the inclination.
4. Rest: the gyro and accelerometer deviate from their own low-passes (``rest_tau_s``,
   restarted at the sample whenever the deviation exceeds the threshold) by less than
   ``rest_gyr_rad_s`` / ``rest_acc_m_s2``, the gyro low-pass stays below
   ``bias_max_rad_s`` on every axis, and the accelerometer direction stays within
   ``rest_tilt_rad`` of where it was when the still period started (a slow rotation turns
   gravity in the sensor frame, a bias does not): a low-pass (``rest_tau_s / 4``) started
   at the period's first sample must stay within the chord ``2 g sin(rest_tilt_rad / 2)`` of
   the anchor, the mean of the period's first ``rest_tau_s / 4``, or the still period
   restarts at the sample; all that for ``rest_time_s``; then the bias is the
   mean gyro of the still period (exponential with ``bias_tau_s`` once that is longer),
   used at once when rest is confirmed, then refreshed every ``rest_commit_s`` with the
   mean as it was ``rest_commit_s`` earlier. Step limit: a slow rotation about the vertical
   passes every rest test (it does not turn gravity in the sensor frame), so its rate would
   become the bias. The first commit after power-on or ``reset(True)`` is trusted up to
   ``bias_max_rad_s``; every later commit may put each bias axis at most
   ``bias_step_max_rad_s`` away from the still period's reference, the bias last committed
   at rest before the period (in the period of the first commit: that commit). A commit the
   limit holds back restarts the mean (a turn that ends inside the still period is out of
   it two commits later), and becomes the next period's reference on an axis only if the
   commit before it in the period was held back on the same side (a changed bias pushes
   them all one way, a slow sway by turns both ways).
5. Bias in motion: the correction rate ``phi / dt`` is, in steady state, minus the horizontal
   part of the bias error: ``b <- b - w R^T phi / tau_bias_motion_s`` with a weight ``w`` that
   is 0 at rest and ramps to 1 over ``bias_motion_ramp_s`` of motion (a fresh rest estimate
   is trusted more than the motion estimate). Heading (the world-vertical bias) is only
   observable at rest; it drifts otherwise.

Fixed-point formats: quaternion Q29 (1.0 = 2**29), gyro Q23 rad/s, bias Q29 rad/s,
accelerometer Q16 m/s^2, world-frame specific force Q23 m/s^2. A constant ``c < 1`` is a
pair ``(k, s)`` with ``c ~ k / 2**(15 + s)``, ``2**14 <= k < 2**15``, applied as
``((x >> 15) * k + (((x & 0x7FFF) * k) >> 15) + r) >> s`` (``r`` rounds).
"""

import math
import struct
import sys
from array import array

TYPE_CHECKING = False
if TYPE_CHECKING:

    def const(x: int) -> int:
        return x

else:
    try:
        from micropython import const
    except ImportError:  # CPython

        def const(x):
            return x


def _byte_view(arr, n):
    """Writable bytes aliasing the first ``n`` bytes of ``arr`` (writes reach ``arr``)."""
    try:
        import uctypes  # MicroPython

        return uctypes.bytearray_at(uctypes.addressof(arr), n)
    except ImportError:  # CPython
        return memoryview(arr).cast("B")


AT_REST = 0x01
"""Flag bit: the sample is at rest (wire ``SAMPLE_AT_REST``)."""
FILTER_RESET = 0x08
"""Flag bit: the filter (re)initialised at this sample (wire ``SAMPLE_FILTER_RESET``)."""

_ONE = const(0x20000000)  # 1.0 in Q29
_M15 = const(0x7FFF)
_BAD = const(0x3FFFFFFF)  # decoder result for NaN / infinity
_GYR_LIM = const(0x14000000)  # |omega| clip: 40 rad/s (2292 deg/s) in Q23
_ACC_LIM = const(0xFFFFFF)  # |a| clip: 256 m/s^2 in Q16
_CN_MAX = const(0x100000)
_MAGIC = const(0x0AE50003)  # snapshot layout version 3 (a small int on 32-bit ports)
_MAGIC_V2 = const(0x0AE50002)  # layout 2: 34 ints, no bias reference
_MAGIC_V1 = const(0x0AE50001)  # layout 1: 30 ints, no still-period anchor
_NSTATE_V1 = const(30)
_NSTATE_V2 = const(34)
_NSTATE = const(43)

SNAPSHOT_SIZE = 4 + 4 * _NSTATE
"""Bytes written by ``snapshot_into``."""

_LITTLE = sys.byteorder == "little"


def _dec(b, o, sh, lim):
    """float32 at ``b[o:o+4]`` (little-endian) as round(value * 2**sh), clipped to ``lim``."""
    hi = (b[o + 3] << 8) | b[o + 2]
    e = (hi >> 7) & 0xFF
    if e == 0:
        return 0
    if e == 0xFF:
        return _BAD
    m = ((hi & 0x7F) << 16) | (b[o + 1] << 8) | b[o] | 0x800000
    s = e - 150 + sh
    if s >= 0:
        if s > 5:
            m = lim
        else:
            m <<= s
            if m > lim:
                m = lim
    elif s > -25:
        m = (m + (1 << (-1 - s))) >> -s
        if m > lim:
            m = lim
    else:
        return 0
    if hi & 0x8000:
        return -m
    return m


def _kfrac(value):
    """``(k, s, r)`` with ``value ~ k / 2**(15 + s)``, ``2**14 <= k < 2**15``; ``0 < value < 1``."""
    if not 0.0 < value < 1.0:
        raise ValueError("fixed-point gain out of range (0, 1)")
    s = 0
    while value * (1 << (15 + s)) < 16384.0:
        s += 1
    k = int(value * (1 << (15 + s)) + 0.5)
    if k > 32767:  # rounded up to 2**15
        if s > 0:
            k >>= 1
            s -= 1
        else:
            k = 32767
    return k, s, (1 << (s - 1)) if s > 0 else 0


class Ahrs6D:
    """6D orientation filter with gyro bias estimation, rest flag and spike rejection.

    Parameters (all keyword tunables have documented defaults; labels in docs/firmware.md)
    ----------
    rate_hz : float
        Sample rate, Hz; 40 to 1000.
    tau_acc_s : float
        Accelerometer time constant, s (two stages of ``tau_acc_s / 2``). Default 3.0.
    tau_acc_rest_s : float
        The same at rest (no translational acceleration to reject), s. Default 1.0.
    rest_gyr_rad_s : float
        Rest: max deviation of the gyro from its low-pass, rad/s. Default 2 deg/s.
    rest_acc_m_s2 : float
        Rest: max deviation of the accelerometer from its low-pass, m/s^2. Default 0.5.
    rest_time_s : float
        Rest: how long both must hold, s. Default 1.5.
    rest_tau_s : float
        Time constant of the rest low-passes, s. Default 0.5.
    rest_tilt_rad : float
        Rest: largest turn of the low-passed accelerometer direction away from its direction
        at the start of the still period, rad; beyond it the still period restarts (a slow
        rotation is not a bias); 0 disables the check, else 0.001 to 0.2. Default 0.5 deg.
    rest_commit_s : float
        At rest the bias takes, every ``rest_commit_s``, the still-period mean as it was
        ``rest_commit_s`` earlier, so that a slow motion onset that the thresholds miss does
        not reach the bias, s. Default 1.0.
    bias_tau_s : float
        At rest the bias is the running mean of the still period, then an exponential mean
        with this time constant, s. Default 5.0.
    bias_max_rad_s : float
        Bias clip per axis (and the largest mean gyro per axis accepted as rest), rad/s.
        Default 5 deg/s.
    bias_step_max_rad_s : float
        Once a first bias has been committed at rest (after power-on or ``reset(True)``), the
        largest change per axis that a later still period may make to the bias, measured from
        the bias last committed at rest before it, rad/s; 0 disables the limit, else
        0.0001 to ``bias_max_rad_s``. Default 0.05 deg/s.
    tau_bias_motion_s : float
        Time constant of the bias estimation in motion, s; 0 disables. Default 60.
    bias_motion_ramp_s : float
        Motion time after a rest over which the motion estimation ramps in, s. Default 120.
    acc_spike_m_s2 : float
        Spike gate: accelerometer samples with ``| |a| - g |`` above this are not used, for at
        most ``acc_spike_s`` in a row (a longer excursion is motion and is used), m/s^2; 0
        disables the gate. Default 20 (about 2 g). Samples above 48 m/s^2 are never used
        (fixed-point range).
    acc_spike_s : float
        Longest excursion treated as a spike, s. Default 0.02.
    gravity_m_s2 : float
        Gravity magnitude, m/s^2. Default 9.80665.

    Attributes
    ----------
    q : array('f') of 4
        Orientation w, x, y, z: the sensor frame in the world frame (Z up, heading arbitrary:
        zero at (re)initialisation, drifting with the residual vertical gyro bias).
    bias : array('f') of 3
        Gyro bias estimate, rad/s, sensor frame.
    """

    def __init__(
        self,
        rate_hz,
        tau_acc_s=3.0,
        tau_acc_rest_s=1.0,
        rest_gyr_rad_s=0.03490658503988659,
        rest_acc_m_s2=0.5,
        rest_time_s=1.5,
        rest_tau_s=0.5,
        rest_tilt_rad=0.008726646259971648,
        rest_commit_s=1.0,
        bias_tau_s=5.0,
        bias_max_rad_s=0.08726646259971647,
        bias_step_max_rad_s=0.0008726646259971648,
        tau_bias_motion_s=60.0,
        bias_motion_ramp_s=120.0,
        acc_spike_m_s2=20.0,
        acc_spike_s=0.02,
        gravity_m_s2=9.80665,
    ):
        if not 40.0 <= rate_hz <= 1000.0:
            raise ValueError("rate_hz must be within 40..1000")
        if (
            tau_acc_s <= 0
            or tau_acc_rest_s <= 0
            or rest_tau_s <= 0
            or bias_tau_s <= 0
            or gravity_m_s2 <= 0
        ):
            raise ValueError("time constants and gravity must be positive")
        if not 0 < bias_max_rad_s < 0.25:
            raise ValueError("bias_max_rad_s must be within (0, 0.25)")
        if rest_gyr_rad_s <= 0 or rest_gyr_rad_s > 0.5 or rest_acc_m_s2 <= 0:
            raise ValueError("rest thresholds out of range")
        if rest_commit_s <= 0 or rest_commit_s > 60 or rest_time_s > 600:
            raise ValueError("rest_commit_s or rest_time_s out of range")
        if rest_acc_m_s2 > 16.0 or rest_time_s < 0 or acc_spike_m_s2 < 0 or acc_spike_s < 0:
            raise ValueError("rest/spike thresholds out of range")
        if tau_bias_motion_s != 0 and tau_bias_motion_s < 1.0:
            raise ValueError("tau_bias_motion_s must be 0 (off) or >= 1")
        if rest_tilt_rad != 0 and not 0.001 <= rest_tilt_rad <= 0.2:
            raise ValueError("rest_tilt_rad must be 0 (off) or within 0.001..0.2")
        if bias_step_max_rad_s != 0 and not 0.0001 <= bias_step_max_rad_s <= bias_max_rad_s:
            raise ValueError("bias_step_max_rad_s must be 0 (off) or within 0.0001..bias_max")
        self.rate_hz = rate_hz
        dt = 1.0 / rate_hz
        g = gravity_m_s2
        kth = _kfrac(0.5 * dt * 64.0)  # Q23 rad/s -> Q29 half-angle per sample
        kr = _kfrac(dt / rest_tau_s)
        kt = _kfrac(min(4.0 * dt / rest_tau_s, 0.5))  # tilt low-pass: rest_tau_s / 4
        k1 = _kfrac(dt / (0.5 * tau_acc_s))
        k2 = _kfrac(dt / (0.5 * tau_acc_s) * 32.0 / g)  # Q23 m/s^2 -> Q29 half-angle
        k1r = _kfrac(dt / (0.5 * tau_acc_rest_s))
        k2r = _kfrac(dt / (0.5 * tau_acc_rest_s) * 32.0 / g)
        if tau_bias_motion_s > 0:
            kb = _kfrac(1.0 / tau_bias_motion_s)
        else:
            kb = (0, 0, 0)
        if bias_motion_ramp_s > 0:
            winc = int(_ONE * dt / bias_motion_ramp_s) + 1
        else:
            winc = _ONE
        tg = int(rest_gyr_rad_s * 32768.0)  # Q15 rad/s
        ta = int(rest_acc_m_s2 * 1024.0)  # Q10 m/s^2
        # chord of rest_tilt_rad on the sphere of radius g, Q10 m/s^2 (0: check off)
        tt = int(2.0 * g * math.sin(0.5 * rest_tilt_rad) * 1024.0 + 0.5)
        gm = int(bias_max_rad_s * 32768.0)
        # step limit, Q29 rad/s; off: twice the clip, so that it never binds before the clip
        if bias_step_max_rad_s > 0:
            bst = int(bias_step_max_rad_s * _ONE)
        else:
            bst = 2 * int(bias_max_rad_s * _ONE)
        cap2 = int(48.0 * 48.0 * 4096.0)  # Q12 (m/s^2)^2
        if acc_spike_m_s2 > 0:
            lo = g - acc_spike_m_s2
            lo2 = int(lo * lo * 4096.0) if lo > 0 else 0
            hi = min(g + acc_spike_m_s2, 48.0)
            hi2 = int(hi * hi * 4096.0)
        else:
            lo = 0.0
            hi = 48.0
            lo2 = 0
            hi2 = cap2
        # levelling sample at (re)initialisation: inside the spike band, at least 0.1 g
        self._init_lo = max(lo, 0.1 * g)
        self._init_hi = hi
        kbr = int(32768.0 * dt / bias_tau_s) + 1
        self._c = (
            kth[0], kth[1], kth[2],
            kr[0], kr[1], kr[2],
            k1[0], k1[1], k1[2],
            k2[0], k2[1], k2[2],
            k1r[0], k1r[1], k1r[2],
            k2r[0], k2r[1], k2r[2],
            kb[0], kb[1], kb[2],
            winc, tg, tg * tg, ta, ta * ta, gm, lo2, hi2, cap2,
            int(acc_spike_s * rate_hz + 0.5),
            max(1, int(rest_time_s * rate_hz + 0.5)),
            max(1, int(rest_commit_s * rate_hz + 0.5)),
            min(kbr, 32767),
            int(bias_max_rad_s * _ONE),
            tt, tt * tt,
            max(1, int(0.25 * rest_tau_s * rate_hz + 0.5)),
            kt[0], kt[1], kt[2],
            bst,
        )  # fmt: skip
        self._s = [0] * _NSTATE
        self._fb = bytearray(24)
        self.q = array("f", [1.0, 0.0, 0.0, 0.0])
        self.bias = array("f", [0.0, 0.0, 0.0])
        self._qb = _byte_view(self.q, 16)
        self._bb = _byte_view(self.bias, 12)
        self._hi = 3 if _LITTLE else 0  # byte offsets of the sign/exponent half-word
        self._lo = 2 if _LITTLE else 1
        self.reset(True)

    # --------------------------------------------------------------------------------------
    # state layout (self._s, all ints):
    #  0-3 q (Q29)  4-6 f (Q23)  7-9 bias (Q29)  10-12 gyro low-pass (Q23)
    #  13-15 acc low-pass (Q16)  16-18 still-period mean gyro (Q29)  19 still count
    #  20 motion-bias weight (Q29)  21 initialised  22 flags of the last sample
    #  23 spike-gate count  24-26 committed-mean checkpoint (Q29)  27 commit count
    #  28-30 tilt anchor: mean acc of the still period's first rest_tau_s / 4 (Q16)
    #  31-33 tilt low-pass (rest_tau_s / 4) restarted with the still period (Q16)
    #  34-36 bias reference of the step limit for this still period (Q29)  37 a first
    #  bias committed since the last clear (0/1)  38 samples in the mean 16-18
    #  39-41 the next still period's reference: the bias last committed at rest (Q29)
    #  42 sides on which the limit held the last commit back (2 bits per axis)
    #  reset(False) keeps 7-9, 37, 39-41
    # --------------------------------------------------------------------------------------

    def reset(self, clear_bias=False):
        """Re-initialise at the next sample (flagged FILTER_RESET); keeps the bias unless
        ``clear_bias``, which also forgets that a bias was committed (the next rest's bias is
        then trusted up to ``bias_max_rad_s`` again)."""
        s = self._s
        for i in range(_NSTATE):
            if clear_bias or not (7 <= i <= 9 or i == 37 or 39 <= i <= 41):
                s[i] = 0
        s[0] = _ONE
        s[20] = _ONE
        self._publish()

    def zero_heading(self):
        """Rotate the world frame about Z so that the current heading is zero.

        The heading is the twist of ``q`` about world Z (``q = twist * tilt``, the tilt about
        a horizontal axis). Undefined when the sensor is upside down to within 0.1 deg of a
        half turn about a horizontal axis; then nothing changes.
        """
        s = self._s
        w = s[0] / _ONE
        z = s[3] / _ONE
        n = (w * w + z * z) ** 0.5
        if n < 1e-3:
            return
        cw = w / n
        sz = -z / n  # conjugate twist (cw, 0, 0, sz)
        qw, qx, qy, qz = s[0], s[1], s[2], s[3]
        s[0] = int(cw * qw - sz * qz)
        s[1] = int(cw * qx - sz * qy)
        s[2] = int(cw * qy + sz * qx)
        s[3] = int(cw * qz + sz * qw)
        # world vectors rotate by the conjugate twist: angle -2*atan2(z, w) about Z
        c = cw * cw - sz * sz
        sn = 2.0 * cw * sz
        fx, fy = s[4], s[5]
        s[4] = int(c * fx - sn * fy)
        s[5] = int(sn * fx + c * fy)
        self._publish()

    def snapshot_into(self, buf):
        """Write the complete filter state (``SNAPSHOT_SIZE`` bytes) into ``buf``."""
        struct.pack_into("<i", buf, 0, _MAGIC)
        s = self._s
        for i in range(_NSTATE):
            struct.pack_into("<i", buf, 4 + 4 * i, s[i])

    def restore(self, buf):
        """Restore a state written by ``snapshot_into`` (same tunables assumed).

        Layouts 1 (firmware before the still-period anchor, 30 ints) and 2 (before the bias
        step limit, 34 ints) are accepted too. Layout 1: a still period in progress keeps
        going with its anchor at the current accelerometer low-pass. Layouts 1 and 2: the
        bias counts as not yet committed (the next commit is trusted up to
        ``bias_max_rad_s``, as the firmware that wrote it would have done), its reference
        is the current bias.
        """
        magic = struct.unpack_from("<i", buf, 0)[0] if len(buf) >= 4 else 0
        if magic == _MAGIC:
            n = _NSTATE
        elif magic == _MAGIC_V2:
            n = _NSTATE_V2
        elif magic == _MAGIC_V1:
            n = _NSTATE_V1
        else:
            raise ValueError("not an Ahrs6D snapshot of a known layout")
        if len(buf) < 4 + 4 * n:
            raise ValueError("Ahrs6D snapshot truncated")
        s = self._s
        for i in range(n):
            s[i] = struct.unpack_from("<i", buf, 4 + 4 * i)[0]
        if n == _NSTATE_V1:
            for i in range(3):
                s[28 + i] = s[13 + i]
                s[31 + i] = s[13 + i]
        if n < _NSTATE:
            for i in range(3):
                s[34 + i] = s[7 + i]
                s[39 + i] = s[7 + i]
            s[37] = 0
            s[38] = s[19]
            s[42] = 0
        self._publish()

    # --------------------------------------------------------------------------------------

    def _publish(self):
        """Write the float outputs ``q`` and ``bias`` from the integer state (no allocation)."""
        s = self._s
        q = self.q
        qb = self._qb
        hi = self._hi
        lo = self._lo
        for i in range(4):
            v = s[i]
            q[i] = v
            if v:
                o = 4 * i
                h = ((qb[o + hi] << 8) | qb[o + lo]) - 3712  # exponent - 29
                qb[o + hi] = h >> 8
                qb[o + lo] = h & 0xFF
        b = self.bias
        bb = self._bb
        for i in range(3):
            v = s[7 + i]
            b[i] = v
            if v:
                o = 4 * i
                h = ((bb[o + hi] << 8) | bb[o + lo]) - 3712
                bb[o + hi] = h >> 8
                bb[o + lo] = h & 0xFF

    def _initialise(self, ux, uy, uz):
        """Level the filter on the specific force (Q16), heading zero; False (and nothing
        changes) unless |a| is within the spike gate's band and at least 0.1 g."""
        s = self._s
        x = ux / 65536.0
        y = uy / 65536.0
        z = uz / 65536.0
        n = (x * x + y * y + z * z) ** 0.5
        if not self._init_lo <= n <= self._init_hi:
            return False
        x /= n
        y /= n
        z /= n
        # shortest rotation taking the measured up (sensor frame) onto world Z
        w = 1.0 + z
        if w < 1e-6:
            qw, qx, qy = 0.0, 1.0, 0.0
        else:
            m = (w * w + y * y + x * x) ** 0.5
            qw, qx, qy = w / m, y / m, -x / m
        s[0] = int(qw * _ONE)
        s[1] = int(qx * _ONE)
        s[2] = int(qy * _ONE)
        s[3] = 0
        s[4] = 0
        s[5] = 0
        s[6] = int(n * 8388608.0)
        s[13] = ux
        s[14] = uy
        s[15] = uz
        s[19] = 0
        s[20] = _ONE
        s[21] = 1
        return True

    def update(self, gx, gy, gz, ax, ay, az):
        """Advance one sample: gyro rad/s, accelerometer m/s^2 (sensor frame).

        Returns the flags of the sample (``AT_REST``, ``FILTER_RESET``). Samples with a NaN or
        infinite value are ignored (state unchanged, flags 0). Until (re)initialised, samples
        whose |a| is outside the spike gate's band (or below 0.1 g) are ignored too; the first
        one inside levels the filter (heading zero) and is flagged ``FILTER_RESET``.
        """
        fb = self._fb
        struct.pack_into("<ffffff", fb, 0, gx, gy, gz, ax, ay, az)
        wx = _dec(fb, 0, 23, _GYR_LIM)
        wy = _dec(fb, 4, 23, _GYR_LIM)
        wz = _dec(fb, 8, 23, _GYR_LIM)
        ux = _dec(fb, 12, 16, _ACC_LIM)
        uy = _dec(fb, 16, 16, _ACC_LIM)
        uz = _dec(fb, 20, 16, _ACC_LIM)
        if wx == _BAD or wy == _BAD or wz == _BAD or ux == _BAD or uy == _BAD or uz == _BAD:
            return 0
        s = self._s
        flags = 0
        if not s[21]:
            if not self._initialise(ux, uy, uz):
                return 0
            s[10] = wx
            s[11] = wy
            s[12] = wz
            s[22] = FILTER_RESET
            self._publish()
            return FILTER_RESET
        (
            qw, qx, qy, qz, fx, fy, fz, bx, by, bz, lgx, lgy, lgz, lax, lay, laz,
            cx, cy, cz, cn, wm, _i, _f, sc, px, py, pz, cc, a0x, a0y, a0z, ltx, lty, ltz,
            rx, ry, rz, bk, mn, mx, my, mz, cs,
        ) = s  # fmt: skip
        (
            kth, sth, rth, kr, sr, rr, k1, s1, r1, k2, s2, r2, k1r, s1r, r1r, k2r, s2r, r2r,
            kb, sb, rb,
            winc, tg, tg2, ta, ta2, gm, lo2, hi2, cap2, spike_n, rest_n, commit_n, kbr, bmax,
            tt, tt2, anchor_n, kt, st, rt, bst,
        ) = self._c  # fmt: skip

        # ---- rest detection: deviations from the low-passes; a low-pass that deviates by
        # more than its threshold restarts at the sample (no lag after a motion ends) --------
        dx = wx - lgx
        dy = wy - lgy
        dz = wz - lgz
        ex = dx >> 8  # Q15
        ey = dy >> 8
        ez = dz >> 8
        still = False
        if -tg < ex < tg and -tg < ey < tg and -tg < ez < tg:
            if ex * ex + ey * ey + ez * ez < tg2:
                still = True
        if still:
            lgx += ((dx >> 15) * kr + (((dx & _M15) * kr) >> 15) + rr) >> sr
            lgy += ((dy >> 15) * kr + (((dy & _M15) * kr) >> 15) + rr) >> sr
            lgz += ((dz >> 15) * kr + (((dz & _M15) * kr) >> 15) + rr) >> sr
            ex = lgx >> 8
            ey = lgy >> 8
            ez = lgz >> 8
            if not (-gm < ex < gm and -gm < ey < gm and -gm < ez < gm):
                still = False
        else:
            lgx = wx
            lgy = wy
            lgz = wz
        dx = ux - lax
        dy = uy - lay
        dz = uz - laz
        ex = dx >> 6  # Q10
        ey = dy >> 6
        ez = dz >> 6
        if -ta < ex < ta and -ta < ey < ta and -ta < ez < ta and ex * ex + ey * ey + ez * ez < ta2:
            lax += ((dx >> 15) * kr + (((dx & _M15) * kr) >> 15) + rr) >> sr
            lay += ((dy >> 15) * kr + (((dy & _M15) * kr) >> 15) + rr) >> sr
            laz += ((dz >> 15) * kr + (((dz & _M15) * kr) >> 15) + rr) >> sr
        else:
            still = False
            lax = ux
            lay = uy
            laz = uz
        if still and cn and tt:
            # a slow rotation turns gravity in the sensor frame, a bias does not: the still
            # period restarts here once its own acc low-pass (rest_tau_s / 4, started at its
            # first sample, so free of the lag the motion before left in lax..laz) leaves the
            # anchor (the mean of its first anchor_n samples) by the chord tt
            dx = ux - ltx
            dy = uy - lty
            dz = uz - ltz
            ltx += ((dx >> 15) * kt + (((dx & _M15) * kt) >> 15) + rt) >> st
            lty += ((dy >> 15) * kt + (((dy & _M15) * kt) >> 15) + rt) >> st
            ltz += ((dz >> 15) * kt + (((dz & _M15) * kt) >> 15) + rt) >> st
            if cn < anchor_n:
                k = 32767 // (cn + 1)
                dx = ux - a0x
                dy = uy - a0y
                dz = uz - a0z
                a0x += (dx >> 15) * k + (((dx & _M15) * k) >> 15)
                a0y += (dy >> 15) * k + (((dy & _M15) * k) >> 15)
                a0z += (dz >> 15) * k + (((dz & _M15) * k) >> 15)
            else:
                dx = (ltx - a0x) >> 6  # Q10
                dy = (lty - a0y) >> 6
                dz = (ltz - a0z) >> 6
                if not (
                    -tt < dx < tt and -tt < dy < tt and -tt < dz < tt
                    and dx * dx + dy * dy + dz * dz < tt2
                ):  # fmt: skip
                    cn = 0
        if still:
            cn += 1
            if cn == 1:
                a0x = ux
                a0y = uy
                a0z = uz
                ltx = ux
                lty = uy
                ltz = uz
                mn = 0
                cs = 0
                # the step limit's reference: the bias last committed at rest (not the
                # motion estimate, which a fast motion can drive far off)
                rx = mx
                ry = my
                rz = mz
            elif cn > _CN_MAX:
                cn = _CN_MAX
            # the mean gyro: restarted with the still period, and by a step-limited commit
            mn += 1
            if mn == 1:
                cx = wx << 6
                cy = wy << 6
                cz = wz << 6
            else:
                if mn > _CN_MAX:
                    mn = _CN_MAX
                k = 32767 // mn
                if k < kbr:
                    k = kbr
                dx = (wx << 6) - cx
                dy = (wy << 6) - cy
                dz = (wz << 6) - cz
                cx += (dx >> 15) * k + (((dx & _M15) * k) >> 15)
                cy += (dy >> 15) * k + (((dy & _M15) * k) >> 15)
                cz += (dz >> 15) * k + (((dz & _M15) * k) >> 15)
            if cn >= rest_n:
                flags = AT_REST
                wm = 0
                if cn == rest_n:
                    # rest confirmed: the mean so far (rest_time_s of stillness) is used at
                    # once and becomes the first checkpoint
                    cc = commit_n
                    px = cx
                    py = cy
                    pz = cz
                else:
                    cc += 1
                if cc >= commit_n:
                    # commit the mean as it was commit_n samples ago: the samples just
                    # before a motion onset (slow start below the thresholds) never count
                    cc = 0
                    bx = px
                    by = py
                    bz = pz
                    px = cx
                    py = cy
                    pz = cz
                    if bx > bmax:
                        bx = bmax
                    elif bx < -bmax:
                        bx = -bmax
                    if by > bmax:
                        by = bmax
                    elif by < -bmax:
                        by = -bmax
                    if bz > bmax:
                        bz = bmax
                    elif bz < -bmax:
                        bz = -bmax
                    if bk:
                        # a later commit moves each axis at most bst from the reference: a
                        # slow turn about the vertical passes every rest test above and would
                        # otherwise become the bias. A mean held back by the limit restarts,
                        # so that the turn leaves it within two commits once it is over
                        # (an exponential mean would carry it for several bias_tau_s).
                        side = 0  # 2 bits per axis: 1 held back above, 2 below
                        if bx > rx + bst:
                            bx = rx + bst
                            side = 1
                        elif bx < rx - bst:
                            bx = rx - bst
                            side = 2
                        if by > ry + bst:
                            by = ry + bst
                            side |= 4
                        elif by < ry - bst:
                            by = ry - bst
                            side |= 8
                        if bz > rz + bst:
                            bz = rz + bst
                            side |= 16
                        elif bz < rz - bst:
                            bz = rz - bst
                            side |= 32
                        if side:
                            mn = 0
                        # the next still period's reference takes a held-back axis only when
                        # the commit before it in this still period was held back on the
                        # same side (a slow sway pushes the commits to either side by turns;
                        # a changed bias, always to the same one)
                        if (side & 3) == 0 or (side & 3) == (cs & 3):
                            mx = bx
                        if (side & 12) == 0 or (side & 12) == (cs & 12):
                            my = by
                        if (side & 48) == 0 or (side & 48) == (cs & 48):
                            mz = bz
                        cs = side
                    else:
                        # the first commit since the last clear is trusted (up to bmax) and
                        # is the reference for the rest of its still period
                        bk = 1
                        rx = bx
                        ry = by
                        rz = bz
                        mx = bx
                        my = by
                        mz = bz
        else:
            cn = 0
            wm += winc
            if wm > _ONE:
                wm = _ONE

        if flags:  # at rest: no translational acceleration, faster inclination correction
            k1 = k1r
            s1 = s1r
            r1 = r1r
            k2 = k2r
            s2 = s2r
            r2 = r2r

        # ---- strapdown: q <- q * (1, theta), theta = (omega - b) dt / 2 (Q29) -------------
        dx = wx - ((bx + 32) >> 6)
        dy = wy - ((by + 32) >> 6)
        dz = wz - ((bz + 32) >> 6)
        tx = ((dx >> 15) * kth + (((dx & _M15) * kth) >> 15) + rth) >> sth
        ty = ((dy >> 15) * kth + (((dy & _M15) * kth) >> 15) + rth) >> sth
        tz = ((dz >> 15) * kth + (((dz & _M15) * kth) >> 15) + rth) >> sth
        txh = tx >> 15
        txl = tx & _M15
        tyh = ty >> 15
        tyl = ty & _M15
        tzh = tz >> 15
        tzl = tz & _M15
        wh = qw >> 15
        wl = qw & _M15
        xh = qx >> 15
        xl = qx & _M15
        yh = qy >> 15
        yl = qy & _M15
        zh = qz >> 15
        zl = qz & _M15
        # products a*b / 2**29 as (ah*bh << 1) + ((ah*bl + 8192) >> 14) + ((al*bh + 8192) >> 14)
        qw -= (
            ((xh * txh) << 1) + ((xh * txl + 8192) >> 14) + ((xl * txh + 8192) >> 14)
            + ((yh * tyh) << 1) + ((yh * tyl + 8192) >> 14) + ((yl * tyh + 8192) >> 14)
            + ((zh * tzh) << 1) + ((zh * tzl + 8192) >> 14) + ((zl * tzh + 8192) >> 14)
        )  # fmt: skip
        qx += (
            ((wh * txh) << 1) + ((wh * txl + 8192) >> 14) + ((wl * txh + 8192) >> 14)
            + ((yh * tzh) << 1) + ((yh * tzl + 8192) >> 14) + ((yl * tzh + 8192) >> 14)
            - ((zh * tyh) << 1) - ((zh * tyl + 8192) >> 14) - ((zl * tyh + 8192) >> 14)
        )  # fmt: skip
        qy += (
            ((wh * tyh) << 1) + ((wh * tyl + 8192) >> 14) + ((wl * tyh + 8192) >> 14)
            - ((xh * tzh) << 1) - ((xh * tzl + 8192) >> 14) - ((xl * tzh + 8192) >> 14)
            + ((zh * txh) << 1) + ((zh * txl + 8192) >> 14) + ((zl * txh + 8192) >> 14)
        )  # fmt: skip
        qz += (
            ((wh * tzh) << 1) + ((wh * tzl + 8192) >> 14) + ((wl * tzh + 8192) >> 14)
            + ((xh * tyh) << 1) + ((xh * tyl + 8192) >> 14) + ((xl * tyh + 8192) >> 14)
            - ((yh * txh) << 1) - ((yh * txl + 8192) >> 14) - ((yl * txh + 8192) >> 14)
        )  # fmt: skip

        # ---- rotation matrix (Q14) of the propagated q ----------------------------------
        wh = qw >> 15
        xh = qx >> 15
        yh = qy >> 15
        zh = qz >> 15
        ww = wh * wh
        xx = xh * xh
        yy = yh * yh
        zz = zh * zh
        r00 = (ww + xx - yy - zz + 8192) >> 14
        r01 = (xh * yh - wh * zh + 4096) >> 13
        r02 = (xh * zh + wh * yh + 4096) >> 13
        r10 = (xh * yh + wh * zh + 4096) >> 13
        r11 = (ww - xx + yy - zz + 8192) >> 14
        r12 = (yh * zh - wh * xh + 4096) >> 13

        # ---- accelerometer: spike gate, world-frame low-pass ----------------------------
        dx = ux >> 10  # Q6
        dy = uy >> 10
        dz = uz >> 10
        n2 = dx * dx + dy * dy + dz * dz
        use = n2 <= cap2
        if lo2 <= n2 <= hi2:
            sc = 0
        elif sc < spike_n:
            sc += 1
            use = False
        if use:
            dx = (ux + 64) >> 7  # Q9
            dy = (uy + 64) >> 7
            dz = (uz + 64) >> 7
            r20 = (xh * zh - wh * yh + 4096) >> 13
            r21 = (yh * zh + wh * xh + 4096) >> 13
            r22 = (ww - xx - yy + zz + 8192) >> 14
            ex = r00 * dx + r01 * dy + r02 * dz - fx  # Q23
            ey = r10 * dx + r11 * dy + r12 * dz - fy
            ez = r20 * dx + r21 * dy + r22 * dz - fz
            fx += ((ex >> 15) * k1 + (((ex & _M15) * k1) >> 15) + r1) >> s1
            fy += ((ey >> 15) * k1 + (((ey & _M15) * k1) >> 15) + r1) >> s1
            fz += ((ez >> 15) * k1 + (((ez & _M15) * k1) >> 15) + r1) >> s1

        # ---- inclination correction: q <- (1, h) * q, f <- f + 2h x f --------------------
        hx = ((fy >> 15) * k2 + (((fy & _M15) * k2) >> 15) + r2) >> s2
        hy = -(((fx >> 15) * k2 + (((fx & _M15) * k2) >> 15) + r2) >> s2)
        hxh = hx >> 15
        hxl = hx & _M15
        hyh = hy >> 15
        hyl = hy & _M15
        wh = qw >> 15
        wl = qw & _M15
        xh = qx >> 15
        xl = qx & _M15
        yh = qy >> 15
        yl = qy & _M15
        zh = qz >> 15
        zl = qz & _M15
        qw -= (
            ((hxh * xh) << 1) + ((hxh * xl + 8192) >> 14) + ((hxl * xh + 8192) >> 14)
            + ((hyh * yh) << 1) + ((hyh * yl + 8192) >> 14) + ((hyl * yh + 8192) >> 14)
        )  # fmt: skip
        qx += (
            ((hxh * wh) << 1) + ((hxh * wl + 8192) >> 14) + ((hxl * wh + 8192) >> 14)
            + ((hyh * zh) << 1) + ((hyh * zl + 8192) >> 14) + ((hyl * zh + 8192) >> 14)
        )  # fmt: skip
        qy += (
            ((hyh * wh) << 1) + ((hyh * wl + 8192) >> 14) + ((hyl * wh + 8192) >> 14)
            - ((hxh * zh) << 1) - ((hxh * zl + 8192) >> 14) - ((hxl * zh + 8192) >> 14)
        )  # fmt: skip
        qz += (
            ((hxh * yh) << 1) + ((hxh * yl + 8192) >> 14) + ((hxl * yh + 8192) >> 14)
            - ((hyh * xh) << 1) - ((hyh * xl + 8192) >> 14) - ((hyl * xh + 8192) >> 14)
        )  # fmt: skip
        # phi = 2h: f_x += phi_y f_z, f_y -= phi_x f_z, f_z += phi_x f_y - phi_y f_x
        ex = fx >> 15
        el = fx & _M15
        ey = fy >> 15
        dy = fy & _M15
        ez = fz >> 15
        dz = fz & _M15
        fx += ((hyh * ez) << 2) + ((hyh * dz + 4096) >> 13) + ((hyl * ez + 4096) >> 13)
        fy -= ((hxh * ez) << 2) + ((hxh * dz + 4096) >> 13) + ((hxl * ez + 4096) >> 13)
        fz += (
            ((hxh * ey) << 2) + ((hxh * dy + 4096) >> 13) + ((hxl * ey + 4096) >> 13)
            - ((hyh * ex) << 2) - ((hyh * el + 4096) >> 13) - ((hyl * ex + 4096) >> 13)
        )  # fmt: skip

        # ---- bias in motion: b <- b - w R^T (2h) / tau ------------------------------------
        if wm and kb:
            # sensor-frame correction angle (Q29): R^T phi, phi = 2h = (2hx, 2hy, 0)
            dx = (
                ((r00 * hxh) << 2) + ((r00 * hxl + 4096) >> 13)
                + ((r10 * hyh) << 2) + ((r10 * hyl + 4096) >> 13)
            )  # fmt: skip
            dy = (
                ((r01 * hxh) << 2) + ((r01 * hxl + 4096) >> 13)
                + ((r11 * hyh) << 2) + ((r11 * hyl + 4096) >> 13)
            )  # fmt: skip
            dz = (
                ((r02 * hxh) << 2) + ((r02 * hxl + 4096) >> 13)
                + ((r12 * hyh) << 2) + ((r12 * hyl + 4096) >> 13)
            )  # fmt: skip
            k = wm >> 14
            if k > 32767:
                k = 32767
            dx = (dx >> 15) * k + (((dx & _M15) * k) >> 15)
            dy = (dy >> 15) * k + (((dy & _M15) * k) >> 15)
            dz = (dz >> 15) * k + (((dz & _M15) * k) >> 15)
            bx -= ((dx >> 15) * kb + (((dx & _M15) * kb) >> 15) + rb) >> sb
            by -= ((dy >> 15) * kb + (((dy & _M15) * kb) >> 15) + rb) >> sb
            bz -= ((dz >> 15) * kb + (((dz & _M15) * kb) >> 15) + rb) >> sb
            if bx > bmax:
                bx = bmax
            elif bx < -bmax:
                bx = -bmax
            if by > bmax:
                by = bmax
            elif by < -bmax:
                by = -bmax
            if bz > bmax:
                bz = bmax
            elif bz < -bmax:
                bz = -bmax

        # ---- normalise: Newton steps q <- q (3 - |q|^2) / 2 (one, unless far from unit) ---
        for _ in range(4):
            wh = qw >> 15
            wl = qw & _M15
            xh = qx >> 15
            xl = qx & _M15
            yh = qy >> 15
            yl = qy & _M15
            zh = qz >> 15
            zl = qz & _M15
            n2 = (
                ((wh * wh + xh * xh + yh * yh + zh * zh) << 1)
                + ((wh * wl + 4096) >> 13) + ((xh * xl + 4096) >> 13)
                + ((yh * yl + 4096) >> 13) + ((zh * zl + 4096) >> 13)
            )  # fmt: skip
            n2 = _ONE - n2
            k = _ONE + (n2 >> 1)
            kh = k >> 15
            k &= _M15
            qw = ((wh * kh) << 1) + ((wh * k + 8192) >> 14) + ((wl * kh + 8192) >> 14)
            qx = ((xh * kh) << 1) + ((xh * k + 8192) >> 14) + ((xl * kh + 8192) >> 14)
            qy = ((yh * kh) << 1) + ((yh * k + 8192) >> 14) + ((yl * kh + 8192) >> 14)
            qz = ((zh * kh) << 1) + ((zh * k + 8192) >> 14) + ((zl * kh + 8192) >> 14)
            if -0x10000 < n2 < 0x10000:
                break

        s[0] = qw
        s[1] = qx
        s[2] = qy
        s[3] = qz
        s[4] = fx
        s[5] = fy
        s[6] = fz
        s[7] = bx
        s[8] = by
        s[9] = bz
        s[10] = lgx
        s[11] = lgy
        s[12] = lgz
        s[13] = lax
        s[14] = lay
        s[15] = laz
        s[16] = cx
        s[17] = cy
        s[18] = cz
        s[19] = cn
        s[20] = wm
        s[22] = flags
        s[23] = sc
        s[24] = px
        s[25] = py
        s[26] = pz
        s[27] = cc
        s[28] = a0x
        s[29] = a0y
        s[30] = a0z
        s[31] = ltx
        s[32] = lty
        s[33] = ltz
        s[34] = rx
        s[35] = ry
        s[36] = rz
        s[37] = bk
        s[38] = mn
        s[39] = mx
        s[40] = my
        s[41] = mz
        s[42] = cs
        self._publish()
        return flags
