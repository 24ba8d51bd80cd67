"""Register models of the IMUs the firmware supports, for the fake ``machine.I2C`` bus.

Written from the datasheets' register descriptions (ST DS12814 LSM6DSOX, DS13012 ISM330DHCX,
AN5272 FIFO; TDK DS-000347 ICM-42688-P), not from the firmware drivers, so that the drivers
are tested against the chip's behaviour and not against themselves. Dialect-neutral: runs
under MicroPython and CPython.

A test attaches a model to the fake bus, lets the driver configure it, then pushes samples
(``push_sample(gx, gy, gz, ax, ay, az)`` in raw counts, or ``push_si(gyr_rad_s, acc_m_s2)``
converted with the full scale the driver configured). A pushed sample is what the chip
produces at one ODR tick: it updates the output registers and, when the FIFO is enabled and
the sensors are batched, goes into the FIFO in the chip's format, with the chip's overflow
behaviour. ``problems()`` lists what in the current configuration differs from what coxa needs
(+-2000 dps, +-16 g, FIFO streaming of both sensors at the ODR, ...) and every datasheet rule
the host broke (writes to read-only or reserved registers, register access during a reset,
...). The register read path allocates nothing (MicroPython heap measurements include it).

Assumptions where the datasheets are silent (documented, not relied on by a correct driver):
LSM6DSOX TAG_PARITY is even parity over the tag byte; reading an empty LSM6DSOX FIFO returns
zeros, an empty ICM-42688-P FIFO returns 0xFF; the ICM-42688-P register defaults of bank 1/2
anti-aliasing filters are the 585 Hz (gyro) and 1.1 kHz (accel) rows of the AAF table.
"""

import math
import time

GRAVITY_M_S2 = 9.80665
_DEG = math.pi / 180.0
ENODEV = 19


def _clip16(value):
    value = int(value)
    if value > 32767:
        return 32767
    if value < -32768:
        return -32768
    return value


def _round(value):
    return math.floor(value + 0.5)


def _registers(*spans):
    """The set of register addresses in ``spans``: ints, or (first, last) inclusive pairs."""
    found = set()
    for span in spans:
        if isinstance(span, tuple):
            for a in range(span[0], span[1] + 1):
                found.add(a)
        else:
            found.add(span)
    return found


def _default_clock_us():
    ticks_us = getattr(time, "ticks_us", None)
    if ticks_us is not None:
        return ticks_us()
    return time.perf_counter_ns() // 1000


def _elapsed_us(now, then):
    diff = getattr(time, "ticks_diff", None)
    if diff is not None:
        return diff(now, then)
    return now - then


# ---------------------------------------------------------------------------------------------
# LSM6DSOX / ISM330DHCX
# ---------------------------------------------------------------------------------------------

LSM6DSOX_WHO_AM_I = 0x6C
ISM330DHCX_WHO_AM_I = 0x6B

_L_FIFO_CTRL1 = 0x07
_L_FIFO_CTRL2 = 0x08
_L_FIFO_CTRL3 = 0x09
_L_FIFO_CTRL4 = 0x0A
_L_WHO_AM_I = 0x0F
_L_CTRL1_XL = 0x10
_L_CTRL2_G = 0x11
_L_CTRL3_C = 0x12
_L_CTRL4_C = 0x13
_L_CTRL6_C = 0x15
_L_CTRL7_G = 0x16
_L_CTRL8_XL = 0x17
_L_CTRL9_XL = 0x18
_L_STATUS_REG = 0x1E
_L_OUT_TEMP_L = 0x20
_L_OUT_TEMP_H = 0x21
_L_OUTX_L_G = 0x22
_L_OUTZ_H_A = 0x2D
_L_FIFO_STATUS1 = 0x3A
_L_FIFO_STATUS2 = 0x3B
_L_INTERNAL_FREQ_FINE = 0x63
_L_FIFO_TAG = 0x78
_L_FIFO_Z_H = 0x7E

_L_WRITABLE = _registers(0x01, 0x02, (0x04, 0x0E), (0x10, 0x19), (0x56, 0x62), (0x6F, 0x75))

LSM_FIFO_BYPASS = 0
LSM_FIFO_MODE = 1
LSM_FIFO_CONTINUOUS = 6

TAG_GYRO = 0x01
TAG_ACCEL = 0x02

# ODR code (CTRL1_XL/CTRL2_G [7:4], BDR in FIFO_CTRL3) -> nominal rate in Hz
LSM_ODR_HZ = {
    0: 0.0,
    1: 12.5,
    2: 26.0,
    3: 52.0,
    4: 104.0,
    5: 208.0,
    6: 416.0,
    7: 833.0,
    8: 1666.0,
    9: 3333.0,
    10: 6666.0,
}


class Lsm6dsoxModel:
    """LSM6DSOX (``chip="lsm6dsox"``) or ISM330DHCX (``chip="ism330dhcx"``) register model.

    ``order`` is the order of the gyro and accel words of one FIFO time slot (``"ga"`` or
    ``"ag"``; the datasheet does not promise one). ``freq_fine`` is the signed
    INTERNAL_FREQ_FINE trim of this part.
    """

    FIFO_WORDS = 512  # 3 kbyte of 6-byte data words, uncompressed

    def __init__(self, chip="lsm6dsox", order="ga", freq_fine=0):
        if chip not in ("lsm6dsox", "ism330dhcx"):
            raise ValueError("chip must be 'lsm6dsox' or 'ism330dhcx'")
        if order not in ("ga", "ag"):
            raise ValueError("order must be 'ga' or 'ag'")
        self.chip = chip
        self.who_am_i = LSM6DSOX_WHO_AM_I if chip == "lsm6dsox" else ISM330DHCX_WHO_AM_I
        self.order = order
        self.freq_fine = freq_fine
        self.regs = bytearray(128)
        self._out = bytearray(12)  # OUTX_L_G .. OUTZ_H_A
        self._fifo = bytearray(self.FIFO_WORDS * 7)
        self._word = bytearray(7)
        self.violations = []
        self.writes = []
        self.reset_count = 0
        self.lost_words = 0
        self.temp_raw = 0
        self._held = None
        self._power_on()

    # -- state ----------------------------------------------------------------------------
    def _power_on(self):
        regs = self.regs
        for i in range(128):
            regs[i] = 0
        regs[_L_WHO_AM_I] = self.who_am_i
        regs[_L_CTRL3_C] = 0x04  # IF_INC
        regs[_L_CTRL9_XL] = 0xE0  # DEN_X, DEN_Y, DEN_Z
        regs[_L_INTERNAL_FREQ_FINE] = self.freq_fine & 0xFF
        self._head = 0
        self._count = 0
        self._tag_cnt = 0
        self._ovr = False
        self._ovr_latched = False
        self._stopped = False
        self._status = 0
        self._reset_busy = 0
        self._dec_g = 0
        self._dec_xl = 0
        self._held = None

    def dirty(self, samples=10):
        """Leave state behind as a previous firmware run would: another configuration and
        stale samples (raw value 0x0BAD) in a FIFO that is still streaming."""
        self.regs[_L_CTRL1_XL] = 0x70  # 833 Hz, +-2 g
        self.regs[_L_CTRL2_G] = 0x70  # 833 Hz, +-250 dps
        self.regs[_L_FIFO_CTRL3] = 0x77
        self.regs[_L_FIFO_CTRL4] = LSM_FIFO_CONTINUOUS
        for _ in range(samples):
            self.push_sample(0x0BAD, 0x0BAD, 0x0BAD, 0x0BAD, 0x0BAD, 0x0BAD)

    @property
    def words_in_fifo(self):
        return self._count

    def set_temperature_c(self, celsius):
        self.temp_raw = _clip16(_round((celsius - 25.0) * 256.0))

    # -- I2C ------------------------------------------------------------------------------
    def i2c_read_into(self, reg, buf):
        a = reg & 0x7F
        inc = self.regs[_L_CTRL3_C] & 0x04
        for i in range(len(buf)):
            buf[i] = self._read(a)
            if inc:  # the FIFO output registers roll over from 0x7E to 0x78
                a = _L_FIFO_TAG if a == _L_FIFO_Z_H else (a + 1) & 0x7F

    def i2c_write(self, reg, data):
        a = reg & 0x7F
        for value in data:
            self._write(a, value)
            if self.regs[_L_CTRL3_C] & 0x04:
                a = (a + 1) & 0x7F

    def _read(self, a):
        if a == _L_CTRL3_C:
            value = self.regs[a]
            if self._reset_busy:
                self._reset_busy -= 1
                value |= 0x01
            return value
        if _L_FIFO_TAG <= a <= _L_FIFO_Z_H:
            if self._count == 0:
                return 0
            value = self._fifo[self._head * 7 + a - _L_FIFO_TAG]
            if a == _L_FIFO_Z_H:
                self._pop()
            return value
        if a == _L_FIFO_STATUS1:
            return self._count & 0xFF
        if a == _L_FIFO_STATUS2:
            value = (self._count >> 8) & 0x03
            if self._ovr_latched:
                value |= 0x08
                self._ovr_latched = False
            if self._count >= self.FIFO_WORDS - 1:
                value |= 0x20  # FIFO_FULL_IA: full at the next ODR
            if self._ovr:
                value |= 0x40
            wtm = self.regs[_L_FIFO_CTRL1] | ((self.regs[_L_FIFO_CTRL2] & 0x01) << 8)
            if wtm and self._count >= wtm:
                value |= 0x80
            return value
        if a == _L_STATUS_REG:
            return self._status
        if a == _L_OUT_TEMP_L:
            return self.temp_raw & 0xFF
        if a == _L_OUT_TEMP_H:
            return (self.temp_raw >> 8) & 0xFF
        if _L_OUTX_L_G <= a <= _L_OUTZ_H_A:
            if a == 0x27:
                self._status &= ~0x02
            elif a == _L_OUTZ_H_A:
                self._status &= ~0x01
            return self._out[a - _L_OUTX_L_G]
        return self.regs[a]

    def _write(self, a, value):
        if self._reset_busy:
            self.violations.append(f"write to 0x{a:02X} during software reset")
        if a not in _L_WRITABLE:
            self.violations.append(f"write 0x{value:02X} to read-only/reserved register 0x{a:02X}")
            return
        self.writes.append((a, value))
        if a == _L_CTRL3_C and value & 0x01:
            self._software_reset()
            return
        if a == _L_CTRL3_C and value & 0x80:
            self.violations.append("BOOT (memory reboot) not modelled")
        if a == _L_CTRL2_G and value & 0x01 and self.chip == "lsm6dsox":
            self.violations.append("CTRL2_G bit 0 must be 0 on the LSM6DSOX")
        if a == _L_FIFO_CTRL4 and value & 0x07 == LSM_FIFO_BYPASS:
            self._clear_fifo()
        self.regs[a] = value

    def _software_reset(self):
        self._power_on()
        self.reset_count += 1
        self._reset_busy = 1  # SW_RESET reads back 1 once, then self-clears

    def _clear_fifo(self):
        self._head = 0
        self._count = 0
        self._ovr = False
        self._stopped = False

    def _pop(self):
        self._head = (self._head + 1) % self.FIFO_WORDS
        self._count -= 1
        self._ovr = False

    # -- samples --------------------------------------------------------------------------
    def _batch_g(self, odr, bdr):
        if odr == 0 or bdr == 0 or odr > 10 or bdr > 10:
            return False
        count = self._dec_g
        self._dec_g = count + 1
        return bdr >= odr or count % (1 << (odr - bdr)) == 0

    def _batch_xl(self, odr, bdr):
        if odr == 0 or bdr == 0 or odr > 10 or bdr > 10:
            return False
        count = self._dec_xl
        self._dec_xl = count + 1
        return bdr >= odr or count % (1 << (odr - bdr)) == 0

    def _enqueue(self, word):
        mode = self.regs[_L_FIFO_CTRL4] & 0x07
        if self._count == self.FIFO_WORDS:
            self.lost_words += 1
            if mode == LSM_FIFO_MODE:
                self._stopped = True
                return
            self._head = (self._head + 1) % self.FIFO_WORDS  # continuous: overwrite oldest
            self._count -= 1
            self._ovr = True
            self._ovr_latched = True
        pos = ((self._head + self._count) % self.FIFO_WORDS) * 7
        for i in range(7):
            self._fifo[pos + i] = word[i]
        self._count += 1

    def _make_word(self, tag, x, y, z):
        byte = (tag << 3) | (self._tag_cnt << 1)
        parity = 0
        b = byte
        while b:
            parity ^= b & 1
            b >>= 1
        word = bytearray(7)
        word[0] = byte | parity
        for i, v in ((1, x), (3, y), (5, z)):
            word[i] = v & 0xFF
            word[i + 1] = (v >> 8) & 0xFF
        return word

    def push_sample(self, gx, gy, gz, ax, ay, az, hold_second=False):
        """One ODR tick with raw counts (clipped to int16). ``hold_second``: write only the
        first word of this time slot now, the second at ``release()`` (a half-written slot as
        the host can find it)."""
        g = (_clip16(gx), _clip16(gy), _clip16(gz))
        acc = (_clip16(ax), _clip16(ay), _clip16(az))
        regs = self.regs
        odr_g = regs[_L_CTRL2_G] >> 4
        odr_xl = regs[_L_CTRL1_XL] >> 4
        if odr_g:
            for i in range(3):
                self._out[2 * i] = g[i] & 0xFF
                self._out[2 * i + 1] = (g[i] >> 8) & 0xFF
            self._status |= 0x02
        if odr_xl:
            for i in range(3):
                self._out[6 + 2 * i] = acc[i] & 0xFF
                self._out[7 + 2 * i] = (acc[i] >> 8) & 0xFF
            self._status |= 0x01
        mode = regs[_L_FIFO_CTRL4] & 0x07
        if mode not in (LSM_FIFO_MODE, LSM_FIFO_CONTINUOUS) or self._stopped:
            return
        bdr_gy = regs[_L_FIFO_CTRL3] >> 4
        bdr_xl = regs[_L_FIFO_CTRL3] & 0x0F
        words = []
        batch_g = self._batch_g(odr_g, bdr_gy)
        batch_xl = self._batch_xl(odr_xl, bdr_xl)
        if batch_g:
            words.append(self._make_word(TAG_GYRO, g[0], g[1], g[2]))
        if batch_xl:
            words.append(self._make_word(TAG_ACCEL, acc[0], acc[1], acc[2]))
        if self.order == "ag":
            words.reverse()
        if not words:
            return
        if self._held is not None:
            self.release()
        self._enqueue(words[0])
        if len(words) > 1:
            if hold_second:
                self._held = words[1]
            else:
                self._enqueue(words[1])
        self._tag_cnt = (self._tag_cnt + 1) & 0x03

    def release(self):
        """Write the second word held back by ``push_sample(..., hold_second=True)``."""
        if self._held is not None:
            word = self._held
            self._held = None
            self._enqueue(word)

    def _gyro_mdps_per_lsb(self):
        c = self.regs[_L_CTRL2_G]
        if c & 0x01 and self.chip == "ism330dhcx":
            return 140.0
        if c & 0x02:
            return 4.375
        return (8.75, 17.5, 35.0, 70.0)[(c >> 2) & 0x03]

    def _accel_mg_per_lsb(self):
        fs = (self.regs[_L_CTRL1_XL] >> 2) & 0x03
        if self.regs[_L_CTRL8_XL] & 0x02:  # XL_FS_MODE = 1: 01 means +-2 g
            return (0.061, 0.061, 0.122, 0.244)[fs]
        return (0.061, 0.488, 0.122, 0.244)[fs]

    def push_si(self, gyr_rad_s, acc_m_s2, hold_second=False):
        """One ODR tick in SI units, converted with the configured full scales."""
        g = self._gyro_mdps_per_lsb() * 1e-3 * _DEG
        a = self._accel_mg_per_lsb() * 1e-3 * GRAVITY_M_S2
        self.push_sample(
            _round(gyr_rad_s[0] / g),
            _round(gyr_rad_s[1] / g),
            _round(gyr_rad_s[2] / g),
            _round(acc_m_s2[0] / a),
            _round(acc_m_s2[1] / a),
            _round(acc_m_s2[2] / a),
            hold_second,
        )

    # -- checks ---------------------------------------------------------------------------
    def odr_hz(self):
        return LSM_ODR_HZ.get(self.regs[_L_CTRL2_G] >> 4, -1.0)

    def problems(self, rate_hz=None):
        """Differences from the configuration coxa needs, then the datasheet rules broken."""
        r = self.regs
        found = []
        if self.reset_count == 0:
            found.append("no software reset since power-on")
        if not r[_L_CTRL3_C] & 0x40:
            found.append("BDU off (CTRL3_C)")
        if not r[_L_CTRL3_C] & 0x04:
            found.append("IF_INC off (CTRL3_C)")
        if (r[_L_CTRL2_G] >> 2) & 0x03 != 3 or r[_L_CTRL2_G] & 0x03:
            found.append(f"gyro full scale is not +-2000 dps (CTRL2_G = 0x{r[_L_CTRL2_G]:02X})")
        if (r[_L_CTRL1_XL] >> 2) & 0x03 != 1 or r[_L_CTRL8_XL] & 0x02:
            found.append(f"accel full scale is not +-16 g (CTRL1_XL = 0x{r[_L_CTRL1_XL]:02X})")
        odr_g = r[_L_CTRL2_G] >> 4
        odr_xl = r[_L_CTRL1_XL] >> 4
        if odr_g == 0 or odr_g > 10:
            found.append(f"gyro ODR off or invalid (code {odr_g})")
        if odr_xl != odr_g:
            found.append(f"accel ODR code {odr_xl} differs from gyro ODR code {odr_g}")
        if rate_hz is not None and LSM_ODR_HZ.get(odr_g) != rate_hz:
            found.append(f"ODR {LSM_ODR_HZ.get(odr_g)} Hz, expected {rate_hz} Hz")
        bdr_gy = r[_L_FIFO_CTRL3] >> 4
        bdr_xl = r[_L_FIFO_CTRL3] & 0x0F
        if bdr_gy != odr_g or bdr_xl != odr_xl:
            found.append(f"FIFO batch rates (FIFO_CTRL3 = 0x{r[9]:02X}) differ from the ODR")
        if r[_L_FIFO_CTRL4] & 0x07 != LSM_FIFO_CONTINUOUS:
            found.append(f"FIFO not in continuous mode (FIFO_CTRL4 = 0x{r[10]:02X})")
        if r[_L_FIFO_CTRL4] & 0xF0:
            found.append("temperature or timestamp batching on (FIFO_CTRL4)")
        if r[_L_FIFO_CTRL2] & 0xC6:
            found.append("FIFO compression or stop-on-watermark on (FIFO_CTRL2)")
        if r[_L_CTRL6_C] & 0x10:
            found.append("accel not in high-performance mode (CTRL6_C.XL_HM_MODE)")
        if r[_L_CTRL7_G] & 0x80:
            found.append("gyro not in high-performance mode (CTRL7_G.G_HM_MODE)")
        if r[_L_CTRL4_C] & 0x40:
            found.append("gyro sleep (CTRL4_C.SLEEP_G)")
        if not r[_L_CTRL9_XL] & 0x02:
            what = "I3C_disable" if self.chip == "lsm6dsox" else "DEVICE_CONF"
            found.append(f"CTRL9_XL.{what} not set")
        if self._reset_busy:
            found.append("software reset still in progress")
        for v in self.violations:
            found.append(v)
        return found


# ---------------------------------------------------------------------------------------------
# ICM-42688-P
# ---------------------------------------------------------------------------------------------

ICM42688_WHO_AM_I = 0x47

_I_DEVICE_CONFIG = 0x11
_I_FIFO_CONFIG = 0x16
_I_TEMP_DATA1 = 0x1D
_I_TEMP_DATA0 = 0x1E
_I_ACCEL_DATA_X1 = 0x1F
_I_GYRO_DATA_Z0 = 0x2A
_I_INT_STATUS = 0x2D
_I_FIFO_COUNTH = 0x2E
_I_FIFO_COUNTL = 0x2F
_I_FIFO_DATA = 0x30
_I_SIGNAL_PATH_RESET = 0x4B
_I_INTF_CONFIG0 = 0x4C
_I_PWR_MGMT0 = 0x4E
_I_GYRO_CONFIG0 = 0x4F
_I_ACCEL_CONFIG0 = 0x50
_I_GYRO_ACCEL_CONFIG0 = 0x52
_I_TMST_CONFIG = 0x54
_I_FIFO_CONFIG1 = 0x5F
_I_FIFO_LOST_PKT0 = 0x6C
_I_FIFO_LOST_PKT1 = 0x6D
_I_WHO_AM_I = 0x75
_I_REG_BANK_SEL = 0x76

_I_DEFAULTS = (
    {
        0x13: 0x05,
        0x4C: 0x30,
        0x4D: 0x91,
        0x4F: 0x06,
        0x50: 0x06,
        0x51: 0x16,
        0x52: 0x11,
        0x53: 0x0D,
        0x54: 0x23,
        0x62: 0x10,
        0x64: 0x10,
        0x65: 0x10,
        0x75: ICM42688_WHO_AM_I,
    },
    {0x0B: 0xA0, 0x0C: 13, 0x0D: 170, 0x0E: 0x80, 0x7B: 0x20},
    {0x03: 24 << 1, 0x04: 576 & 0xFF, 0x05: (6 << 4) | (576 >> 8)},
    {},
    {},
)

_I_WRITABLE = (
    _registers(0x11, 0x13, 0x14, 0x16, (0x4B, 0x54), 0x56, 0x57, (0x5F, 0x66), 0x68, 0x69, 0x70),
    _registers(0x03, (0x0B, 0x13), (0x7A, 0x7C)),
    _registers((0x03, 0x05)),
    _registers(0x2A),
    _registers((0x40, 0x51), (0x77, 0x7F)),
)

# ODR code (GYRO_CONFIG0 / ACCEL_CONFIG0 [3:0]) -> rate in Hz; 12..14 are accel low-power only
ICM_ODR_HZ = {
    1: 32000.0,
    2: 16000.0,
    3: 8000.0,
    4: 4000.0,
    5: 2000.0,
    6: 1000.0,
    7: 200.0,
    8: 100.0,
    9: 50.0,
    10: 25.0,
    11: 12.5,
    12: 6.25,
    13: 3.125,
    14: 1.5625,
    15: 500.0,
}
_ICM_GYRO_LSB_PER_DPS = (16.4, 32.8, 65.5, 131.0, 262.0, 524.3, 1048.6, 2097.2)
_ICM_ACCEL_LSB_PER_G = (2048.0, 4096.0, 8192.0, 16384.0)
_ICM_UI_FILTER_DIV = (0, 4, 5, 8, 10, 16, 20, 40)
# Anti-aliasing filter table: AAF_DELT (1..63) -> (AAF_DELTSQR, AAF_BITSHIFT)
_ICM_AAF_DELTSQR = (
    0, 1, 4, 9, 16, 25, 36, 49, 64, 81, 100, 122, 144, 170, 196, 224, 256, 288, 324, 360, 400,
    440, 488, 528, 576, 624, 680, 736, 784, 848, 896, 960, 1024, 1088, 1152, 1232, 1296, 1376,
    1440, 1536, 1600, 1696, 1760, 1856, 1952, 2016, 2112, 2208, 2304, 2400, 2496, 2592, 2720,
    2816, 2944, 3008, 3136, 3264, 3392, 3456, 3584, 3712, 3840, 3968,
)  # fmt: skip
_ICM_AAF_BITSHIFT = (
    0, 15, 13, 12, 11, 10, 10, 9, 9, 9, 8, 8, 8, 8, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, 6, 6,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3,
)  # fmt: skip

ICM_FIFO_BYPASS = 0
ICM_FIFO_STREAM = 1


class Icm42688Model:
    """ICM-42688-P register model with banks, the 2 kB FIFO and its packet formats.

    ``clock_us`` returns microseconds (default: ``time.ticks_us`` or ``perf_counter_ns``); it
    enforces the datasheet waits: no access within 1 ms of a soft reset (the model NACKs with
    ``OSError(19)``, as a chip in reset would) and no register write within 200 us of turning a
    sensor on (recorded as a violation). ``strict_timing=False`` disables both.
    """

    FIFO_BYTES = 2048

    def __init__(self, clock_us=None, strict_timing=True):
        self.clock_us = clock_us if clock_us is not None else _default_clock_us
        self.strict_timing = strict_timing
        self.banks = [bytearray(128) for _ in range(5)]
        self._fifo = bytearray(self.FIFO_BYTES)
        self._sizes = bytearray(self.FIFO_BYTES // 8)
        self.violations = []
        self.writes = []
        self.reset_count = 0
        self.lost_packets = 0
        self.temperature_c = 25.0
        self._reset_at = None
        self._power_at = None
        self._power_on()

    # -- state ----------------------------------------------------------------------------
    def _power_on(self):
        for b, bank in enumerate(self.banks):
            for i in range(128):
                bank[i] = 0
            for reg, value in _I_DEFAULTS[b].items():
                bank[reg] = value
        self.bank = 0
        self._int_status = 0
        self._fhead = 0
        self._fused = 0
        self._shead = 0
        self._npk = 0
        self._rd = 0
        self._count_latch = -1
        self._lost = 0
        self._ts = 0

    def dirty(self, samples=10):
        """Leave state behind as a previous firmware run would: sensors on at 1 kHz and
        +-250 dps / +-2 g, stale packets (raw 0x0BAD) in a streaming FIFO, bank 2 selected."""
        b0 = self.banks[0]
        b0[_I_GYRO_CONFIG0] = (3 << 5) | 6
        b0[_I_ACCEL_CONFIG0] = (3 << 5) | 6
        b0[_I_FIFO_CONFIG1] = 0x07
        b0[_I_FIFO_CONFIG] = ICM_FIFO_STREAM << 6
        b0[_I_PWR_MGMT0] = 0x0F
        for _ in range(samples):
            self.push_sample(0x0BAD, 0x0BAD, 0x0BAD, 0x0BAD, 0x0BAD, 0x0BAD)
        self.bank = 2

    @property
    def packets_in_fifo(self):
        return self._npk

    def set_temperature_c(self, celsius):
        self.temperature_c = celsius

    def _temp16(self):
        return _clip16(_round((self.temperature_c - 25.0) * 132.48))

    def _temp8(self):
        value = _round((self.temperature_c - 25.0) * 2.07)
        return -128 if value < -128 else (127 if value > 127 else value)

    # -- I2C ------------------------------------------------------------------------------
    def _check_reset_window(self, what):
        if not self.strict_timing:
            self._reset_at = None
        elif self._reset_at is not None:
            waited = _elapsed_us(self.clock_us(), self._reset_at)
            if waited < 1000:
                self.violations.append(f"{what} {waited} us after soft reset (wait 1 ms)")
                raise OSError(ENODEV, "ENODEV (chip in soft reset)")
            self._reset_at = None

    def i2c_read_into(self, reg, buf):
        if self._reset_at is not None:
            self._check_reset_window("read")
        a = reg & 0x7F
        for i in range(len(buf)):
            buf[i] = self._read(a)
            if a != _I_FIFO_DATA:  # FIFO_DATA does not auto-increment
                a = (a + 1) & 0x7F
        if self._rd and not self.banks[0][_I_FIFO_CONFIG1] & 0x40:
            self._rd = 0  # partial packet: read again from its start (FIFO_RESUME_PARTIAL_RD=0)
        self._count_latch = -1

    def i2c_write(self, reg, data):
        if self._reset_at is not None:
            self._check_reset_window("write")
        a = reg & 0x7F
        for value in data:
            self._write(a, value)
            a = (a + 1) & 0x7F

    def _count_value(self):
        if self.banks[0][_I_INTF_CONFIG0] & 0x40:  # FIFO_COUNT_REC: packets
            return self._npk
        return self._fused - self._rd

    def _read(self, a):
        if a == _I_REG_BANK_SEL:
            return self.bank
        if self.bank != 0:
            return self.banks[self.bank][a]
        b0 = self.banks[0]
        big = b0[_I_INTF_CONFIG0] & 0x10
        if a == _I_FIFO_DATA:
            return self._fifo_byte()
        if a == _I_INT_STATUS:
            value = self._int_status
            self._int_status = 0  # INT_CONFIG0 default: clear on status read
            return value
        if a == _I_FIFO_COUNTH or a == _I_FIFO_COUNTL:
            if a == _I_FIFO_COUNTH or self._count_latch < 0:
                self._count_latch = self._count_value()
            count = self._count_latch
            high = (a == _I_FIFO_COUNTH) == bool(b0[_I_INTF_CONFIG0] & 0x20)
            return (count >> 8) & 0xFF if high else count & 0xFF
        if a == _I_TEMP_DATA1 or a == _I_TEMP_DATA0:
            t = self._temp16()
            high = (a == _I_TEMP_DATA1) == bool(big)
            return (t >> 8) & 0xFF if high else t & 0xFF
        if _I_ACCEL_DATA_X1 <= a <= _I_GYRO_DATA_Z0:
            return b0[a]
        if a == _I_FIFO_LOST_PKT0:
            return self._lost & 0xFF
        if a == _I_FIFO_LOST_PKT1:
            return (self._lost >> 8) & 0xFF
        return b0[a]

    def _write(self, a, value):
        if a == _I_REG_BANK_SEL:
            if value > 4:
                self.violations.append(f"REG_BANK_SEL = {value} (banks 0..4)")
            self.bank = value & 0x07
            return
        bank = self.bank
        if self.strict_timing and self._power_at is not None:
            waited = _elapsed_us(self.clock_us(), self._power_at)
            if waited < 200:
                self.violations.append(f"write {waited} us after turning sensors on (wait 200 us)")
            else:
                self._power_at = None
        if bank > 4 or a not in _I_WRITABLE[bank]:
            self.violations.append(
                f"write 0x{value:02X} to read-only/reserved register 0x{a:02X} in bank {bank}"
            )
            return
        self.writes.append((bank, a, value))
        if bank != 0:
            self.banks[bank][a] = value
            return
        b0 = self.banks[0]
        if a == _I_DEVICE_CONFIG and value & 0x01:
            self._power_on()
            self.reset_count += 1
            self._int_status = 0x10  # RESET_DONE_INT
            self._reset_at = self.clock_us()
            self._power_at = None
            return
        if a == _I_SIGNAL_PATH_RESET:
            if value & 0x02:
                self._flush()
            if value & 0x08:
                self.violations.append("ABORT_AND_RESET not modelled")
            return  # the bits self-clear
        if a == _I_PWR_MGMT0:
            old = b0[a]
            gyro_on = (value >> 2) & 0x03 and not (old >> 2) & 0x03
            accel_on = value & 0x03 and not old & 0x03
            if gyro_on or accel_on:
                self._power_at = self.clock_us()
        if a == _I_FIFO_CONFIG and (value >> 6) == ICM_FIFO_BYPASS:
            self._flush()
        b0[a] = value

    # -- FIFO -----------------------------------------------------------------------------
    def _flush(self):
        self._fhead = 0
        self._fused = 0
        self._shead = 0
        self._npk = 0
        self._rd = 0

    def _fifo_byte(self):
        if self._npk == 0:
            return 0xFF
        size = self._sizes[self._shead]
        value = self._fifo[(self._fhead + self._rd) % self.FIFO_BYTES]
        self._rd += 1
        if self._rd == size:
            self._drop_head()
        return value

    def _drop_head(self):
        size = self._sizes[self._shead]
        self._fhead = (self._fhead + size) % self.FIFO_BYTES
        self._fused -= size
        self._shead = (self._shead + 1) % len(self._sizes)
        self._npk -= 1
        self._rd = 0

    def _enqueue(self, packet):
        size = len(packet)
        mode = self.banks[0][_I_FIFO_CONFIG] >> 6
        while self._fused + size > self.FIFO_BYTES:
            self._int_status |= 0x02  # FIFO_FULL_INT
            self._lost += 1
            self.lost_packets += 1
            if mode != ICM_FIFO_STREAM:
                return  # STOP-on-FULL: new data dropped
            self._drop_head()  # stream: the oldest packet is discarded
        start = self._fhead + self._fused
        for i in range(size):
            self._fifo[(start + i) % self.FIFO_BYTES] = packet[i]
        self._sizes[(self._shead + self._npk) % len(self._sizes)] = size
        self._fused += size
        self._npk += 1
        if self._fused + size > self.FIFO_BYTES:
            self._int_status |= 0x02

    def push_sample(self, gx, gy, gz, ax, ay, az):
        """One ODR tick with raw counts (clipped to int16)."""
        g = (_clip16(gx), _clip16(gy), _clip16(gz))
        acc = (_clip16(ax), _clip16(ay), _clip16(az))
        b0 = self.banks[0]
        big = b0[_I_INTF_CONFIG0] & 0x10
        pwr = b0[_I_PWR_MGMT0]
        gyro_on = (pwr >> 2) & 0x03 == 3
        accel_on = pwr & 0x03 in (2, 3)
        if not gyro_on:
            g = (-32768, -32768, -32768)
        if not accel_on:
            acc = (-32768, -32768, -32768)
        if gyro_on or accel_on:
            for i in range(3):
                for base, v in ((_I_ACCEL_DATA_X1, acc[i]), (_I_ACCEL_DATA_X1 + 6, g[i])):
                    hi, lo = (v >> 8) & 0xFF, v & 0xFF
                    b0[base + 2 * i] = hi if big else lo
                    b0[base + 2 * i + 1] = lo if big else hi
            self._int_status |= 0x08  # DATA_RDY_INT
        else:
            return
        if b0[_I_FIFO_CONFIG] >> 6 == ICM_FIFO_BYPASS:
            return
        cfg1 = b0[_I_FIFO_CONFIG1]
        a_en = cfg1 & 0x01
        g_en = cfg1 & 0x02
        if not (a_en or g_en):
            return
        odr = ICM_ODR_HZ.get(b0[_I_GYRO_CONFIG0] & 0x0F, 1000.0)
        self._ts = (self._ts + _round(1e6 / odr)) & 0xFFFF
        tmst = 0x08 if b0[_I_TMST_CONFIG] & 0x01 else 0x00
        packet = bytearray()

        def put16(v):
            hi, lo = (v >> 8) & 0xFF, v & 0xFF
            packet.append(hi if big else lo)
            packet.append(lo if big else hi)

        if cfg1 & 0x10:  # FIFO_HIRES_EN: packet 4, 20 bytes
            packet.append(0x70 | tmst)
            for v in acc + g:
                put16(v)  # bits [19:12], [11:4] of the 20-bit value v << 4
            put16(self._temp16())
            put16(self._ts)
            packet.extend(bytearray(3))  # low nibbles of the 20-bit values
        elif a_en and g_en:  # packet 3, 16 bytes
            packet.append(0x60 | tmst)
            for v in acc + g:
                put16(v)
            packet.append(self._temp8() & 0xFF)
            put16(self._ts)
        elif a_en:  # packet 1, 8 bytes
            packet.append(0x40)
            for v in acc:
                put16(v)
            packet.append(self._temp8() & 0xFF)
        else:  # packet 2, 8 bytes
            packet.append(0x20)
            for v in g:
                put16(v)
            packet.append(self._temp8() & 0xFF)
        self._enqueue(packet)

    def push_si(self, gyr_rad_s, acc_m_s2):
        """One ODR tick in SI units, converted with the configured full scales."""
        b0 = self.banks[0]
        g = 1.0 / (_ICM_GYRO_LSB_PER_DPS[b0[_I_GYRO_CONFIG0] >> 5] / _DEG)
        a = GRAVITY_M_S2 / _ICM_ACCEL_LSB_PER_G[(b0[_I_ACCEL_CONFIG0] >> 5) & 0x03]
        self.push_sample(
            _round(gyr_rad_s[0] / g),
            _round(gyr_rad_s[1] / g),
            _round(gyr_rad_s[2] / g),
            _round(acc_m_s2[0] / a),
            _round(acc_m_s2[1] / a),
            _round(acc_m_s2[2] / a),
        )

    # -- checks ---------------------------------------------------------------------------
    def odr_hz(self):
        return ICM_ODR_HZ.get(self.banks[0][_I_GYRO_CONFIG0] & 0x0F, -1.0)

    def _ui_bandwidth_problem(self, name, code, odr):
        if code == 0:
            return f"{name} UI filter bandwidth ODR/2 (no margin below Nyquist)"
        if code > 7:
            return f"{name} UI filter code {code} (low-latency, not anti-aliasing)"
        bandwidth = max(400.0, odr) / _ICM_UI_FILTER_DIV[code]
        if bandwidth >= 0.45 * odr:
            return f"{name} UI filter bandwidth {bandwidth:.1f} Hz not below Nyquist (ODR {odr} Hz)"
        return None

    def _aaf_problem(self, name, disabled, delt, deltsqr, bitshift):
        if disabled:
            return f"{name} anti-aliasing filter disabled"
        if not 1 <= delt <= 63:
            return f"{name} AAF_DELT {delt} outside 1..63"
        if deltsqr != _ICM_AAF_DELTSQR[delt] or bitshift != _ICM_AAF_BITSHIFT[delt]:
            row = f"{delt}/{deltsqr}/{bitshift}"
            return f"{name} AAF DELT/DELTSQR/BITSHIFT {row} not a row of the AAF table"
        return None

    def problems(self, rate_hz=None):
        """Differences from the configuration coxa needs, then the datasheet rules broken."""
        b0, b1, b2 = self.banks[0], self.banks[1], self.banks[2]
        found = []
        if self.reset_count == 0:
            found.append("no soft reset since power-on")
        if self.bank != 0:
            found.append(f"register bank {self.bank} left selected")
        if b0[_I_GYRO_CONFIG0] >> 5:
            found.append("gyro full scale is not +-2000 dps (GYRO_CONFIG0)")
        if b0[_I_ACCEL_CONFIG0] >> 5:
            found.append("accel full scale is not +-16 g (ACCEL_CONFIG0)")
        g_odr = b0[_I_GYRO_CONFIG0] & 0x0F
        a_odr = b0[_I_ACCEL_CONFIG0] & 0x0F
        if g_odr not in ICM_ODR_HZ or g_odr in (12, 13, 14):
            found.append(f"gyro ODR code {g_odr} invalid")
        if a_odr != g_odr:
            found.append(f"accel ODR code {a_odr} differs from gyro ODR code {g_odr}")
        odr = ICM_ODR_HZ.get(g_odr, 0.0)
        if rate_hz is not None and odr != rate_hz:
            found.append(f"ODR {odr} Hz, expected {rate_hz} Hz")
        pwr = b0[_I_PWR_MGMT0]
        if (pwr >> 2) & 0x03 != 3:
            found.append("gyro not in low-noise mode (PWR_MGMT0)")
        if pwr & 0x03 != 3:
            found.append("accel not in low-noise mode (PWR_MGMT0)")
        if pwr & 0x20:
            found.append("temperature sensor disabled (PWR_MGMT0.TEMP_DIS)")
        if b0[_I_FIFO_CONFIG] >> 6 != ICM_FIFO_STREAM:
            found.append("FIFO not in stream mode (FIFO_CONFIG)")
        if b0[_I_FIFO_CONFIG1] & 0x03 != 0x03:
            found.append("FIFO does not batch both accel and gyro (FIFO_CONFIG1)")
        if b0[_I_FIFO_CONFIG1] & 0x10:
            found.append("20-bit FIFO packets on (FIFO_CONFIG1.FIFO_HIRES_EN)")
        if odr:
            bw = b0[_I_GYRO_ACCEL_CONFIG0]
            for name, code in (("gyro", bw & 0x0F), ("accel", bw >> 4)):
                p = self._ui_bandwidth_problem(name, code, odr)
                if p:
                    found.append(p)
        p = self._aaf_problem(
            "gyro",
            b1[0x0B] & 0x02,
            b1[0x0C] & 0x3F,
            b1[0x0D] | ((b1[0x0E] & 0x0F) << 8),
            b1[0x0E] >> 4,
        )
        if p:
            found.append(p)
        p = self._aaf_problem(
            "accel",
            b2[0x03] & 0x01,
            (b2[0x03] >> 1) & 0x3F,
            b2[0x04] | ((b2[0x05] & 0x0F) << 8),
            b2[0x05] >> 4,
        )
        if p:
            found.append(p)
        for v in self.violations:
            found.append(v)
        return found


class UnknownChip:
    """A device that answers every register with ``value`` (a chip the drivers do not know)."""

    def __init__(self, value=0x12):
        self.value = value
        self.writes = []

    def i2c_read_into(self, reg, buf):
        for i in range(len(buf)):
            buf[i] = self.value

    def i2c_write(self, reg, data):
        for value in data:
            self.writes.append((reg, value))
