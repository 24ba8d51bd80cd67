"""LSM6DSOX and ISM330DHCX over I2C: gyro + accel batched into the on-chip FIFO at the ODR.

Both chips share this register map (ST DS12814 LSM6DSOX, DS13012 ISM330DHCX; FIFO use in
AN5272); WHO_AM_I (0x0F) reads 0x6C on the LSM6DSOX and 0x6B on the ISM330DHCX. I2C address
0x6A (SA0 low) or 0x6B (SA0 high).

Configuration written by ``__init__`` (after a software reset):

- CTRL3_C = BDU | IF_INC: block data update, register auto-increment.
- CTRL9_XL bit 1 set (DEN bits left at their defaults): I3C_disable on the LSM6DSOX,
  DEVICE_CONF on the ISM330DHCX ("always set to 1").
- CTRL2_G: ODR_G = the rate, FS_G = 11 (+-2000 dps, 70 mdps/LSB), gyro high-performance mode
  (CTRL7_G.G_HM_MODE = 0, the default). Gyro bandwidth: the ODR-dependent digital low-pass of
  the gyro chain (LPF1 not selected, CTRL4_C.LPF1_SEL_G = 0).
- CTRL1_XL: ODR_XL = the rate, FS_XL = 01 (+-16 g, 0.488 mg/LSB with CTRL8_XL.XL_FS_MODE = 0),
  LPF2_XL_EN = 1 with CTRL8_XL.HPCF_XL = 000: accelerometer low-pass at ODR/4 after the analog
  anti-aliasing filter and the ODR/2 digital LPF1 (high-performance mode, the default).
- FIFO_CTRL3: BDR_GY = BDR_XL = the ODR code; FIFO_CTRL4 = continuous mode (110: when full the
  oldest word is overwritten), no temperature or timestamp batching. The FIFO is switched from
  bypass to continuous only after ``settle_ms`` (default 90: the gyro needs about 70 ms plus
  3 ODR periods to settle, AN5398) so start-up samples are not batched.

FIFO words are 7 bytes: a tag byte (TAG_SENSOR[7:3], TAG_CNT[2:1], TAG_PARITY[0]; gyro 0x01,
accel 0x02) and X, Y, Z as little-endian int16. A multi-byte read from FIFO_DATA_OUT_TAG
(0x78) rolls over from 0x7E back to 0x78, so one transfer reads several words. Gyro and accel
words of one time slot carry the same TAG_CNT; the driver pairs words by it, keeps an unpaired
word for the next read (a slot can be half written when the FIFO is read) and drops a word
whose partner was overwritten (counted in ``dropped``).

Nominal rates 25/50/100/200/400/800 Hz map to the chip ODRs 26/52/104/208/416/833 Hz (also
accepted by those names); ``odr_hz`` is the rate corrected with INTERNAL_FREQ_FINE (0x63,
0.15 % per LSB, AN5192/AN5272), the best a-priori sample rate for the filter and time base.
"""

from coxa_fw.drivers._identity import (
    INVENSENSE_IDS,
    INVENSENSE_WHO_AM_I,
    ST_IDS,
    ST_WHO_AM_I,
    wrong_chip_message,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from time import sleep_ms

    from micropython import const
else:
    try:
        from micropython import const
    except ImportError:  # CPython

        def const(x):
            return x

    try:
        from time import sleep_ms
    except ImportError:  # CPython
        from time import sleep

        def sleep_ms(ms):
            sleep(ms / 1000)


_WHO_AM_I = const(0x0F)
_FIFO_CTRL3 = const(0x09)
_FIFO_CTRL4 = const(0x0A)
_CTRL1_XL = const(0x10)
_CTRL2_G = const(0x11)
_CTRL3_C = const(0x12)
_CTRL8_XL = const(0x17)
_CTRL9_XL = const(0x18)
_OUT_TEMP_L = const(0x20)
_FIFO_STATUS1 = const(0x3A)
_INTERNAL_FREQ_FINE = const(0x63)
_FIFO_DATA_OUT_TAG = const(0x78)

_ID_LSM6DSOX = const(0x6C)
_ID_ISM330DHCX = const(0x6B)

_SW_RESET = const(0x01)
_IF_INC = const(0x04)
_BDU = const(0x40)
_CTRL9_XL_VALUE = const(0xE2)  # DEN_X/Y/Z defaults (0xE0) + I3C_disable / DEVICE_CONF
_FS_G_2000 = const(0x0C)
_FS_XL_16G = const(0x04)
_LPF2_XL_EN = const(0x02)
_FIFO_BYPASS = const(0x00)
_FIFO_CONTINUOUS = const(0x06)
_OVR_LATCHED = const(0x08)

_TAG_GYRO = const(0x01)
_TAG_ACC = const(0x02)
_WORD = const(7)
_CHUNK = const(16)  # FIFO words per I2C transfer (112 bytes)

# accepted rate (Hz) -> ODR/BDR code (4 bits); the chip ODRs are 12.5 * 2**(code - 1) Hz
_RATES = (
    (25, 2),
    (26, 2),
    (50, 3),
    (52, 3),
    (100, 4),
    (104, 4),
    (200, 5),
    (208, 5),
    (400, 6),
    (416, 6),
    (417, 6),
    (800, 7),
    (833, 7),
)


def _odr_code(rate_hz):
    for rate, code in _RATES:
        if rate == rate_hz:
            return code
    raise ValueError(
        f"LSM6DSOX: unsupported rate {rate_hz!r} Hz (supported: 25, 50, 100, 200, 400, 800)"
    )


class LSM6DSOX:
    """LSM6DSOX / ISM330DHCX driver (see the module docstring for the configuration).

    Attributes
    ----------
    RATES_HZ : tuple of int
        The ``rate_hz`` values accepted (class attribute; others raise ValueError).
    chip : str
        ``"LSM6DSOX"`` or ``"ISM330DHCX"`` (from WHO_AM_I).
    odr_hz : float
        Output data rate of this part (nominal ODR corrected with INTERNAL_FREQ_FINE).
    overflows : int
        FIFO overruns seen (FIFO_STATUS2.FIFO_OVR_LATCHED): samples were lost.
    dropped : int
        FIFO words discarded because their gyro/accel partner was lost.
    skipped : int
        FIFO words with other tags (not configured; counted, ignored).
    """

    RATES_HZ = (25, 50, 100, 200, 400, 800)  # nominal; chip ODRs 26, 52, 104, 208, 416, 833
    gyr_rad_s_per_lsb = 0.070 * 3.141592653589793 / 180.0  # 70 mdps/LSB at +-2000 dps
    acc_m_s2_per_lsb = 0.488e-3 * 9.80665  # 0.488 mg/LSB at +-16 g

    def __init__(self, i2c, address=0x6A, rate_hz=200, settle_ms=90):
        code = _odr_code(rate_hz)
        self._i2c = i2c
        self.address = address
        self.rate_hz = rate_hz
        self.overflows = 0
        self.dropped = 0
        self.skipped = 0
        self._one = bytearray(1)
        self._two = bytearray(2)
        self._raw = bytearray(_CHUNK * _WORD)
        raw_view = memoryview(self._raw)
        self._views = [raw_view[: _WORD * k] for k in range(_CHUNK + 1)]
        self._pend = bytearray(6)
        self._pend_tag = 0
        self._pend_cnt = 0

        errno = 0
        try:
            who = self._read_u8(_WHO_AM_I)
        except OSError as exc:  # nothing answers: keep the bus's errno, say where
            errno = exc.args[0] if exc.args else 19
            who = -1
        if errno:
            raise OSError(errno, f"LSM6DSOX: no device answers at I2C address 0x{address:02X}")
        if who == _ID_LSM6DSOX:
            self.chip = "LSM6DSOX"
        elif who == _ID_ISM330DHCX:
            self.chip = "ISM330DHCX"
        else:
            raise ValueError(self._wrong_chip(who))

        self._write(_CTRL3_C, _SW_RESET | _IF_INC)
        for _ in range(20):
            sleep_ms(1)
            if not self._read_u8(_CTRL3_C) & _SW_RESET:
                break
        else:
            raise OSError(110, "LSM6DSOX: software reset did not complete")

        self._write(_CTRL3_C, _BDU | _IF_INC)
        self._write(_CTRL9_XL, _CTRL9_XL_VALUE)
        self._write(_CTRL8_XL, 0x00)
        self._write(_FIFO_CTRL4, _FIFO_BYPASS)
        self._write(_FIFO_CTRL3, (code << 4) | code)
        self._write(_CTRL1_XL, (code << 4) | _FS_XL_16G | _LPF2_XL_EN)
        self._write(_CTRL2_G, (code << 4) | _FS_G_2000)
        if settle_ms:
            sleep_ms(settle_ms)
        self._write(_FIFO_CTRL4, _FIFO_CONTINUOUS)

        fine = self._read_u8(_INTERNAL_FREQ_FINE)
        if fine > 127:
            fine -= 256
        self.odr_hz = 6667.0 * (1.0 + 0.0015 * fine) / (1 << (10 - code))
        self._fifo_words()  # clears a stale overrun latch
        self.overflows = 0

    # -- identity -------------------------------------------------------------------------
    def _wrong_chip(self, who):
        return wrong_chip_message(
            self._read_u8,
            self.address,
            "LSM6DSOX/ISM330DHCX",
            ST_WHO_AM_I,
            ST_IDS,
            who,
            INVENSENSE_WHO_AM_I,
            INVENSENSE_IDS,
        )

    # -- register access ------------------------------------------------------------------
    def _read_u8(self, reg):
        self._i2c.readfrom_mem_into(self.address, reg, self._one)
        return self._one[0]

    def _write(self, reg, value):
        self._one[0] = value
        self._i2c.writeto_mem(self.address, reg, self._one)

    def _fifo_words(self):
        """FIFO_STATUS1/2: words waiting (DIFF_FIFO); counts a latched overrun."""
        st = self._two
        self._i2c.readfrom_mem_into(self.address, _FIFO_STATUS1, st)
        if st[1] & _OVR_LATCHED:
            self.overflows += 1
        return st[0] | ((st[1] & 0x03) << 8)

    # -- interface ------------------------------------------------------------------------
    def fifo_samples(self):
        """Complete 6-axis samples waiting (FIFO words plus a held half sample, paired)."""
        words = self._fifo_words()
        if self._pend_tag:
            words += 1
        return words >> 1

    def read_fifo_into(self, buf, max_samples):
        """Read up to ``max_samples`` samples into ``buf`` (12 bytes each: gx, gy, gz, ax, ay,
        az as little-endian int16, sensor axes); return how many. Allocates nothing."""
        limit = len(buf) // 12
        if max_samples < limit:
            limit = max_samples
        n = 0
        words = self._fifo_words()
        while words > 0 and n < limit:
            k = 2 * (limit - n)
            if self._pend_tag:
                k -= 1
            if k > words:
                k = words
            if k > _CHUNK:
                k = _CHUNK
            self._i2c.readfrom_mem_into(self.address, _FIFO_DATA_OUT_TAG, self._views[k])
            words -= k
            n = self._pair(k, buf, n)
        return n

    def _pair(self, words, buf, n):
        raw = self._raw
        pend = self._pend
        for i in range(words):
            o = _WORD * i
            tag_byte = raw[o]
            tag = tag_byte >> 3
            if tag != _TAG_GYRO and tag != _TAG_ACC:
                self.skipped += 1
                continue
            cnt = (tag_byte >> 1) & 0x03
            held = self._pend_tag
            if held and held != tag and self._pend_cnt == cnt:
                b = 12 * n
                if tag == _TAG_ACC:
                    for j in range(6):
                        buf[b + j] = pend[j]
                        buf[b + 6 + j] = raw[o + 1 + j]
                else:
                    for j in range(6):
                        buf[b + j] = raw[o + 1 + j]
                        buf[b + 6 + j] = pend[j]
                n += 1
                self._pend_tag = 0
            else:
                if held:
                    self.dropped += 1
                for j in range(6):
                    pend[j] = raw[o + 1 + j]
                self._pend_tag = tag
                self._pend_cnt = cnt
        return n

    def flush(self):
        """Discard everything in the FIFO (bypass, then continuous again)."""
        self._write(_FIFO_CTRL4, _FIFO_BYPASS)
        self._write(_FIFO_CTRL4, _FIFO_CONTINUOUS)
        self._pend_tag = 0

    def temperature_c(self):
        """Die temperature, deg C (OUT_TEMP: 256 LSB/deg C, 0 at 25 deg C)."""
        t = self._two
        self._i2c.readfrom_mem_into(self.address, _OUT_TEMP_L, t)
        raw = t[0] | (t[1] << 8)
        if raw > 32767:
            raw -= 65536
        return 25.0 + raw / 256.0


ISM330DHCX = LSM6DSOX
