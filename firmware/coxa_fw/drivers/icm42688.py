"""ICM-42688-P over I2C: gyro + accel in the 2 kB FIFO as 16-byte packets at the ODR.

Register map: TDK InvenSense DS-000347 (ICM-42688-P datasheet). WHO_AM_I (bank 0, 0x75) reads
0x47; I2C address 0x68 (AP_AD0 low) or 0x69. Registers live in banks selected by REG_BANK_SEL
(0x76, present in every bank); the driver always returns to bank 0.

Configuration written by ``__init__`` (after DEVICE_CONFIG.SOFT_RESET_CONFIG and the 1 ms the
datasheet asks for):

- INTF_CONFIG0 = 0x70: FIFO_COUNT_REC (count in packets), FIFO count and sensor data big endian
  (the reset default endianness, stated explicitly).
- GYRO_CONFIG0 / ACCEL_CONFIG0: FS_SEL = 000 (+-2000 dps, 16.4 LSB/dps; +-16 g, 2048 LSB/g),
  ODR = the rate. The chip has no 400 Hz ODR: 25, 50, 100, 200, 500 and 1000 Hz are supported.
- GYRO_ACCEL_CONFIG0: UI low-pass bandwidth about ODR/4 for both sensors (25 Hz at 100 Hz,
  50 Hz at 200 Hz, 125 Hz at 500 Hz, 250 Hz at 1 kHz; 10 Hz at 25 and 50 Hz), the default
  2nd-order filters.
- Anti-aliasing filters (bank 1 GYRO_CONFIG_STATIC2..5, bank 2 ACCEL_CONFIG_STATIC2..4): enabled,
  3 dB bandwidth 258 Hz (AAF_DELT = 6, AAF_DELTSQR = 36, AAF_BITSHIFT = 10, datasheet table).
- FIFO_CONFIG1 = accel + gyro + temperature (packet 3: header, accel, gyro, temperature,
  timestamp = 16 bytes), FIFO_CONFIG = stream mode (01).
- PWR_MGMT0 = gyro and accel in low-noise mode; after ``settle_ms`` (gyro start-up) the FIFO is
  flushed (SIGNAL_PATH_RESET.FIFO_FLUSH) so start-up packets with invalid data are not read.

Overflow: INT_STATUS.FIFO_FULL_INT (cleared on read) is read with FIFO_COUNT in one transfer;
each read that sees it counts one in ``overflows`` (the FIFO filled up, so data was lost or
about to be). A packet whose header is not an accel+gyro 16-bit packet means the reader lost
packet alignment: the FIFO is flushed and ``dropped`` counts it.
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


# bank 0
_DEVICE_CONFIG = const(0x11)
_FIFO_CONFIG = const(0x16)
_TEMP_DATA1 = const(0x1D)
_INT_STATUS = const(0x2D)
_FIFO_DATA = const(0x30)
_SIGNAL_PATH_RESET = const(0x4B)
_INTF_CONFIG0 = const(0x4C)
_PWR_MGMT0 = const(0x4E)
_GYRO_CONFIG0 = const(0x4F)
_ACCEL_CONFIG0 = const(0x50)
_GYRO_ACCEL_CONFIG0 = const(0x52)
_FIFO_CONFIG1 = const(0x5F)
_WHO_AM_I = const(0x75)
_REG_BANK_SEL = const(0x76)
# bank 1
_GYRO_CONFIG_STATIC2 = const(0x0B)
_GYRO_CONFIG_STATIC3 = const(0x0C)
_GYRO_CONFIG_STATIC4 = const(0x0D)
_GYRO_CONFIG_STATIC5 = const(0x0E)
# bank 2
_ACCEL_CONFIG_STATIC2 = const(0x03)
_ACCEL_CONFIG_STATIC3 = const(0x04)
_ACCEL_CONFIG_STATIC4 = const(0x05)

_ID_ICM42688P = const(0x47)

_SOFT_RESET = const(0x01)
_INTF_CONFIG0_VALUE = const(0x70)  # FIFO_COUNT_REC | FIFO_COUNT_ENDIAN | SENSOR_DATA_ENDIAN
_FIFO_STREAM = const(0x40)
_FIFO_ACCEL_GYRO_TEMP = const(0x07)
_PWR_LN = const(0x0F)  # GYRO_MODE = 11, ACCEL_MODE = 11 (low noise), temperature on
_FIFO_FLUSH = const(0x02)
_FIFO_FULL_INT = const(0x02)
_GYRO_AAF_DIS = const(0x02)
_AAF_DELT = const(6)  # 258 Hz row of the anti-aliasing filter table
_AAF_DELTSQR = const(36)
_AAF_BITSHIFT = const(10)

_PACKET = const(16)
_CHUNK = const(8)  # packets per I2C transfer (128 bytes)

# accepted rate (Hz) -> (ODR code, UI filter bandwidth code)
_RATES = (
    (25, 0x0A, 7),
    (50, 0x09, 7),
    (100, 0x08, 5),
    (200, 0x07, 3),
    (500, 0x0F, 1),
    (1000, 0x06, 1),
)


def _rate_codes(rate_hz):
    for rate, odr, bandwidth in _RATES:
        if rate == rate_hz:
            return odr, bandwidth
    raise ValueError(
        f"ICM-42688-P: unsupported rate {rate_hz!r} Hz (supported: 25, 50, 100, 200, 500, 1000)"
    )


class ICM42688:
    """ICM-42688-P driver (see the module docstring for the configuration).

    Attributes
    ----------
    RATES_HZ : tuple of int
        The ``rate_hz`` values accepted (class attribute; others raise ValueError).
    chip : str
        ``"ICM-42688-P"``.
    odr_hz : float
        Nominal output data rate (the chip's RC oscillator is trimmed to about 1 %).
    overflows : int
        Reads that found INT_STATUS.FIFO_FULL_INT set (the FIFO filled up).
    dropped : int
        Times the FIFO was flushed because a packet header was not the expected one.
    """

    RATES_HZ = (25, 50, 100, 200, 500, 1000)  # the chip has no 400 Hz ODR
    gyr_rad_s_per_lsb = 3.141592653589793 / 180.0 / 16.4  # 16.4 LSB/dps at +-2000 dps
    acc_m_s2_per_lsb = 9.80665 / 2048.0  # 2048 LSB/g at +-16 g

    def __init__(self, i2c, address=0x68, rate_hz=200, settle_ms=50):
        odr, bandwidth = _rate_codes(rate_hz)
        self._i2c = i2c
        self.address = address
        self.rate_hz = rate_hz
        self.odr_hz = float(rate_hz)
        self.chip = "ICM-42688-P"
        self.overflows = 0
        self.dropped = 0
        self._one = bytearray(1)
        self._two = bytearray(2)
        self._status = bytearray(3)
        self._raw = bytearray(_CHUNK * _PACKET)
        raw_view = memoryview(self._raw)
        self._views = [raw_view[: _PACKET * k] for k in range(_CHUNK + 1)]

        errno = 0
        try:
            who = self._read_u8(_WHO_AM_I)
        except OSError as exc:  # nothing answers: keep the bus's errno, say where
            errno = exc.args[0] if exc.args else 19
            who = -1
        if errno:
            raise OSError(errno, f"ICM-42688-P: no device answers at I2C address 0x{address:02X}")
        if who != _ID_ICM42688P:
            # a previous run may have left another register bank selected
            bank = self._read_u8(_REG_BANK_SEL)
            if 1 <= bank <= 4:
                self._write(_REG_BANK_SEL, 0)
                who = self._read_u8(_WHO_AM_I)
        if who != _ID_ICM42688P:
            raise ValueError(self._wrong_chip(who))

        self._write(_DEVICE_CONFIG, _SOFT_RESET)
        sleep_ms(2)  # datasheet: wait 1 ms before any register access

        self._write(_INTF_CONFIG0, _INTF_CONFIG0_VALUE)
        self._write(_GYRO_CONFIG0, odr)  # GYRO_FS_SEL = 000: +-2000 dps
        self._write(_ACCEL_CONFIG0, odr)  # ACCEL_FS_SEL = 000: +-16 g
        self._write(_GYRO_ACCEL_CONFIG0, (bandwidth << 4) | bandwidth)

        self._write(_REG_BANK_SEL, 1)
        static2 = self._read_u8(_GYRO_CONFIG_STATIC2)
        self._write(_GYRO_CONFIG_STATIC2, static2 & ~_GYRO_AAF_DIS & 0xFF)
        self._write(_GYRO_CONFIG_STATIC3, _AAF_DELT)
        self._write(_GYRO_CONFIG_STATIC4, _AAF_DELTSQR & 0xFF)
        self._write(_GYRO_CONFIG_STATIC5, (_AAF_BITSHIFT << 4) | (_AAF_DELTSQR >> 8))
        self._write(_REG_BANK_SEL, 2)
        self._write(_ACCEL_CONFIG_STATIC2, _AAF_DELT << 1)  # ACCEL_AAF_DIS = 0
        self._write(_ACCEL_CONFIG_STATIC3, _AAF_DELTSQR & 0xFF)
        self._write(_ACCEL_CONFIG_STATIC4, (_AAF_BITSHIFT << 4) | (_AAF_DELTSQR >> 8))
        self._write(_REG_BANK_SEL, 0)

        self._write(_FIFO_CONFIG1, _FIFO_ACCEL_GYRO_TEMP)
        self._write(_FIFO_CONFIG, _FIFO_STREAM)
        self._write(_PWR_MGMT0, _PWR_LN)
        sleep_ms(1)  # datasheet: no register writes for 200 us after turning sensors on
        if settle_ms:
            sleep_ms(settle_ms)
        self._write(_SIGNAL_PATH_RESET, _FIFO_FLUSH)
        self._fifo_packets()  # clears stale INT_STATUS flags
        self.overflows = 0

    # -- identity -------------------------------------------------------------------------
    def _wrong_chip(self, who):
        return wrong_chip_message(
            self._read_u8,
            self.address,
            "ICM-42688-P",
            INVENSENSE_WHO_AM_I,
            INVENSENSE_IDS,
            who,
            ST_WHO_AM_I,
            ST_IDS,
        )

    # -- register access ------------------------------------------------------------------
    def _read_u8(self, reg):
        self._i2c.readfrom_mem_into(self.address, reg, self._one)
        return self._one[0]

    def _write(self, reg, value):
        self._one[0] = value
        self._i2c.writeto_mem(self.address, reg, self._one)

    def _fifo_packets(self):
        """INT_STATUS + FIFO_COUNTH/L in one read: packets waiting; counts FIFO_FULL_INT."""
        st = self._status
        self._i2c.readfrom_mem_into(self.address, _INT_STATUS, st)
        if st[0] & _FIFO_FULL_INT:
            self.overflows += 1
        return (st[1] << 8) | st[2]

    # -- interface ------------------------------------------------------------------------
    def fifo_samples(self):
        """Complete 6-axis samples (packets) waiting in the FIFO."""
        return self._fifo_packets()

    def read_fifo_into(self, buf, max_samples):
        """Read up to ``max_samples`` samples into ``buf`` (12 bytes each: gx, gy, gz, ax, ay,
        az as little-endian int16, sensor axes); return how many. Allocates nothing."""
        limit = len(buf) // 12
        if max_samples < limit:
            limit = max_samples
        n = 0
        packets = self._fifo_packets()
        raw = self._raw
        while packets > 0 and n < limit:
            k = limit - n
            if k > packets:
                k = packets
            if k > _CHUNK:
                k = _CHUNK
            self._i2c.readfrom_mem_into(self.address, _FIFO_DATA, self._views[k])
            packets -= k
            for i in range(k):
                o = _PACKET * i
                if (raw[o] & 0xF0) != 0x60:
                    # FIFO empty (HEADER_MSG) or not an accel + gyro 16-bit packet
                    if not raw[o] & 0x80:
                        self.dropped += 1
                        self._write(_SIGNAL_PATH_RESET, _FIFO_FLUSH)
                    return n
                b = 12 * n
                # gyro: big endian at o + 7 .. o + 12; accel: big endian at o + 1 .. o + 6
                buf[b] = raw[o + 8]
                buf[b + 1] = raw[o + 7]
                buf[b + 2] = raw[o + 10]
                buf[b + 3] = raw[o + 9]
                buf[b + 4] = raw[o + 12]
                buf[b + 5] = raw[o + 11]
                buf[b + 6] = raw[o + 2]
                buf[b + 7] = raw[o + 1]
                buf[b + 8] = raw[o + 4]
                buf[b + 9] = raw[o + 3]
                buf[b + 10] = raw[o + 6]
                buf[b + 11] = raw[o + 5]
                n += 1
        return n

    def flush(self):
        """Discard everything in the FIFO."""
        self._write(_SIGNAL_PATH_RESET, _FIFO_FLUSH)

    def temperature_c(self):
        """Die temperature, deg C (TEMP_DATA: 132.48 LSB/deg C, 0 at 25 deg C)."""
        t = self._two
        self._i2c.readfrom_mem_into(self.address, _TEMP_DATA1, t)
        raw = (t[0] << 8) | t[1]
        if raw > 32767:
            raw -= 65536
        return 25.0 + raw / 132.48
