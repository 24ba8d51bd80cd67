"""Board profiles: pins, I2C bus, IMU type and address, and how the IMU sits on the board.

The same data lives in ``hardware/boards/<name>.json`` (one file per profile); a test checks
that both agree. Fields of a profile:

- ``name``, ``description``.
- ``i2c``: ``bus`` (id for ``machine.I2C``), ``sda``, ``scl`` (GPIO numbers), ``freq`` (Hz).
- ``imu``: ``type`` (``"lsm6dsox"``, ``"ism330dhcx"`` or ``"icm42688"``), ``address``
  (7-bit I2C address), ``int_pin`` (GPIO of the IMU's INT1, or None), ``board_from_sensor``
  (3x3 signed permutation, rows = board X, Y, Z, columns = sensor X, Y, Z: board axis i is
  ``sum_j M[i][j] * sensor axis j``; a chip turned on the PCB still yields board axes).
- ``led``: ``pin``, ``kind`` (``"gpio"`` or ``"neopixel"``), ``active_high``.
- ``button``: ``pin``, ``active_low`` (pairing button).
- ``battery``: ``adc_pin`` and ``divider_ratio`` (battery volts per ADC-pin volt), or None.

``board_from_sensor`` must be a proper rotation (determinant +1): turning or flipping a chip
over on a board never mirrors its axes.
"""

PROFILES = {
    "coxa-s3-lsm6dsox": {
        "name": "coxa-s3-lsm6dsox",
        "description": "coxa reference board: ESP32-S3 module, LSM6DSOX at 0x6A on I2C0, "
        "chip axes aligned with the board",
        "i2c": {"bus": 0, "sda": 8, "scl": 9, "freq": 400000},
        "imu": {
            "type": "lsm6dsox",
            "address": 0x6A,
            "int_pin": 7,
            "board_from_sensor": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        },
        "led": {"pin": 21, "kind": "gpio", "active_high": True},
        "button": {"pin": 0, "active_low": True},
        "battery": {"adc_pin": 1, "divider_ratio": 2.0},
    },
    "coxa-s3-icm42688": {
        "name": "coxa-s3-icm42688",
        "description": "coxa board variant: ESP32-S3 module, ICM-42688-P at 0x68 on I2C0, "
        "chip turned 90 deg on the PCB (board X = sensor Y, board Y = -sensor X)",
        "i2c": {"bus": 0, "sda": 8, "scl": 9, "freq": 400000},
        "imu": {
            "type": "icm42688",
            "address": 0x68,
            "int_pin": 7,
            "board_from_sensor": [[0, 1, 0], [-1, 0, 0], [0, 0, 1]],
        },
        "led": {"pin": 21, "kind": "gpio", "active_high": True},
        "button": {"pin": 0, "active_low": True},
        "battery": {"adc_pin": 1, "divider_ratio": 2.0},
    },
    "devkit-s3-ism330dhcx": {
        "name": "devkit-s3-ism330dhcx",
        "description": "ESP32-S3-DevKitC-1 with an ISM330DHCX breakout (0x6A, STEMMA QT) on "
        "GPIO8/9, INT1 wired to GPIO7; RGB LED on GPIO48, BOOT button; no battery",
        "i2c": {"bus": 0, "sda": 8, "scl": 9, "freq": 400000},
        "imu": {
            "type": "ism330dhcx",
            "address": 0x6A,
            "int_pin": 7,
            "board_from_sensor": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        },
        "led": {"pin": 48, "kind": "neopixel", "active_high": True},
        "button": {"pin": 0, "active_low": True},
        "battery": None,
    },
}


def get_profile(name):
    """The profile called ``name``; ValueError (listing the known names) otherwise."""
    profile = PROFILES.get(name)
    if profile is None:
        raise ValueError(
            "unknown board profile {!r} (known: {})".format(name, ", ".join(sorted(PROFILES)))
        )
    return profile


def axis_map(board_from_sensor):
    """Compile a 3x3 signed permutation into the form ``apply_axis_map_into`` takes:
    a bytearray ``(src_x, neg_x, src_y, neg_y, src_z, neg_z)`` where board axis i is sensor
    axis ``src_i``, negated when ``neg_i`` is 1. ValueError unless the matrix is a signed
    permutation with determinant +1."""
    if len(board_from_sensor) != 3:
        raise ValueError("board_from_sensor must have 3 rows")
    code = bytearray(6)
    used = [False, False, False]
    for i in range(3):
        row = board_from_sensor[i]
        if len(row) != 3:
            raise ValueError(f"board_from_sensor row {i} must have 3 entries")
        src = -1
        for j in range(3):
            v = row[j]
            if v == 0:
                continue
            if (v != 1 and v != -1) or src >= 0:
                raise ValueError(f"board_from_sensor row {i} is not +-1 in one column")
            src = j
        if src < 0 or used[src]:
            raise ValueError("board_from_sensor is not a signed permutation")
        used[src] = True
        code[2 * i] = src
        code[2 * i + 1] = 1 if row[src] < 0 else 0
    m = board_from_sensor
    det = (
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    )
    if det != 1:
        raise ValueError(f"board_from_sensor is a reflection (determinant {det}), not a rotation")
    return code


def _get16(buf, o):
    v = buf[o] | (buf[o + 1] << 8)
    if v > 32767:
        v -= 65536
    return v


def _put16(buf, o, v):
    if v > 32767:
        v = 32767  # -(-32768) saturates
    buf[o] = v & 0xFF
    buf[o + 1] = (v >> 8) & 0xFF


def _map3(buf, o, code):
    v0 = _get16(buf, o)
    v1 = _get16(buf, o + 2)
    v2 = _get16(buf, o + 4)
    for i in range(3):
        src = code[2 * i]
        if src == 0:
            v = v0
        elif src == 1:
            v = v1
        else:
            v = v2
        if code[2 * i + 1]:
            v = -v
        _put16(buf, o + 2 * i, v)


def apply_axis_map_into(buf, n, code):
    """Turn ``n`` 12-byte samples in ``buf`` (gx, gy, gz, ax, ay, az, little-endian int16)
    from sensor to board axes in place; ``code`` from ``axis_map``. Allocates nothing."""
    if code[0] == 0 and code[2] == 1 and code[4] == 2 and not (code[1] | code[3] | code[5]):
        return
    for s in range(n):
        _map3(buf, 12 * s, code)
        _map3(buf, 12 * s + 6, code)


def open_imu(i2c, profile, rate_hz=200):
    """The driver for ``profile``'s IMU on ``i2c`` (imported only when needed)."""
    imu = profile["imu"]
    kind = imu["type"]
    if kind == "lsm6dsox" or kind == "ism330dhcx":
        from coxa_fw.drivers.lsm6dsox import LSM6DSOX

        return LSM6DSOX(i2c, imu["address"], rate_hz)
    if kind == "icm42688":
        from coxa_fw.drivers.icm42688 import ICM42688

        return ICM42688(i2c, imu["address"], rate_hz)
    raise ValueError(f"unknown IMU type {kind!r}")
