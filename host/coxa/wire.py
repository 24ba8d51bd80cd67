"""coxa wire protocol, version 1: the executable specification.

This one module is shared verbatim by the board firmware (MicroPython 1.28 on ESP32-S3) and
the host package (CPython 3.11). It therefore uses only :mod:`struct` and
``micropython.const``; no typing, dataclasses, ``match`` or ``__future__``. The prose
version with byte tables is ``docs/protocol.md``; golden byte vectors live in
``tests/protocol/vectors.json`` and are checked on both runtimes.

Layers
------
* **Frames** (this module's core): data (live / backfill), command, ack and status frames.
  Every frame starts with ``u8 version, u8 kind``. All multi-byte integers are little-endian.
* **BLE packets**: each notification or control write is one header byte
  (bits 7-6 position, bits 5-0 counter mod 64) followed by a frame or a fragment of one.
* **Serial framing**: ``COBS(frame + CRC-16/CCITT-FALSE little-endian) + b"\\x00"``.
* **Advertising**: flags, the 128-bit service UUID and an 8-character name ``cxTR1A2B``;
  the scan response carries manufacturer data with version, board id, segment and firmware.

Conventions
-----------
* Encoders come in two flavours: ``*_into(buf, offset, ...)`` writes into a preallocated
  ``bytearray`` and returns the offset after the written bytes (no allocation on the board);
  ``encode_*`` returns new ``bytes`` (host and tests).
* Decoders accept ``bytes``, ``bytearray`` or ``memoryview`` and raise :class:`ProtocolError`
  (a ``ValueError``) for any malformed input, never another exception type.
* Encoders validate every field and raise :class:`ProtocolError` for out-of-range values, so
  the two runtimes behave the same (MicroPython's ``struct`` silently truncates).
* A change to anything on the wire bumps :data:`PROTOCOL_VERSION` and adds golden vectors;
  existing vectors are never edited.
"""

import struct

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


# --------------------------------------------------------------------------------------------
# Versions, frame kinds and limits
# --------------------------------------------------------------------------------------------

PROTOCOL_VERSION = 1

KIND_DATA_LIVE = 0x01
KIND_DATA_BACKFILL = 0x02
KIND_COMMAND = 0x10
KIND_ACK = 0x11
KIND_STATUS = 0x20

MAX_FRAME_BYTES = 243
"""Largest frame in bytes: frame + 1 packet header byte fit a 244-byte notification."""

DATA_HEADER_BYTES = 16
QUAT_SAMPLE_BYTES = 15
RAW_SAMPLE_BYTES = 21
MAX_SAMPLES_QUAT = 15
MAX_SAMPLES_RAW = 10

COMMAND_HEADER_BYTES = 4
ACK_HEADER_BYTES = 5
STATUS_BYTES = 28

_U8_MAX = const(0xFF)
_U16_MAX = const(0xFFFF)
_U32_MASK = const(0xFFFFFFFF)
_U32_HALF = const(0x80000000)
_U32_MOD = const(0x100000000)
_I16_MAX = const(32767)
_I16_MIN = const(-32768)

_DATA_HEADER_FMT = "<BBHIIHBB"
_QUAT_SAMPLE_FMT = "<hhhhhhhB"
_RAW_SAMPLE_FMT = "<hhhhhhhBhhh"
_STATUS_FMT = "<BBHBBBBHHHIhHBBI"

# --------------------------------------------------------------------------------------------
# Data frames: content flags, sample flags, fixed-point scales
# --------------------------------------------------------------------------------------------

CONTENT_ACC = 0x01
"""Data frame content flag: samples carry the accelerometer (raw mode)."""

SAMPLE_AT_REST = 0x01
SAMPLE_GYR_CLIPPED = 0x02
SAMPLE_ACC_CLIPPED = 0x04
SAMPLE_FILTER_RESET = 0x08
_SAMPLE_FLAGS_RESERVED = const(0xF0)
_CONTENT_RESERVED = const(0xFE)

Q14_ONE = 16384
"""Raw Q14 value of 1.0 (quaternion components)."""

GYR_FULL_SCALE_DEG_S = 2000
GYR_RAD_S_PER_LSB = 2000.0 / 32768.0 * 3.141592653589793 / 180.0
"""Gyroscope scale in rad/s per LSB: 32768 LSB per 2000 deg/s."""

STANDARD_GRAVITY_M_S2 = 9.80665
ACC_LSB_PER_G = 2048
ACC_M_S2_PER_LSB = 9.80665 / 2048.0
"""Accelerometer scale in m/s^2 per LSB: 2048 LSB per g (full scale +-16 g)."""

# --------------------------------------------------------------------------------------------
# Commands, acks, status
# --------------------------------------------------------------------------------------------

OP_START_STREAM = 0x01
OP_STOP_STREAM = 0x02
OP_SET_RATE = 0x03
OP_SET_MODE = 0x04
OP_IDENTIFY = 0x05
OP_TIME_PING = 0x06
OP_BACKFILL = 0x07
OP_ZERO_AT_REST = 0x08
OP_GET_STATUS = 0x09

MODE_QUAT = 0
MODE_QUAT_RAW = 1

RATE_MIN_HZ = 1
RATE_MAX_HZ = 1000

RESULT_OK = 0
RESULT_BAD_ARGUMENT = 1
RESULT_UNSUPPORTED = 2
RESULT_BUSY = 3
RESULT_NOT_PERMITTED = 4
RESULT_UNAVAILABLE = 5

STATE_STREAMING = 0x01
STATE_IMU_ERROR = 0x02
STATE_BONDED = 0x04
STATE_PAIRING_MODE = 0x08
STATE_CHARGING = 0x10
STATE_IDENTIFYING = 0x20
_STATE_RESERVED = const(0xC0)

TEMPERATURE_UNKNOWN = -32768
"""Status ``temperature_centi_c`` value meaning "no temperature reading"."""

OPCODE_NAMES: dict[int, str] = {
    OP_START_STREAM: "START_STREAM",
    OP_STOP_STREAM: "STOP_STREAM",
    OP_SET_RATE: "SET_RATE",
    OP_SET_MODE: "SET_MODE",
    OP_IDENTIFY: "IDENTIFY",
    OP_TIME_PING: "TIME_PING",
    OP_BACKFILL: "BACKFILL",
    OP_ZERO_AT_REST: "ZERO_AT_REST",
    OP_GET_STATUS: "GET_STATUS",
}

RESULT_NAMES: dict[int, str] = {
    RESULT_OK: "OK",
    RESULT_BAD_ARGUMENT: "BAD_ARGUMENT",
    RESULT_UNSUPPORTED: "UNSUPPORTED",
    RESULT_BUSY: "BUSY",
    RESULT_NOT_PERMITTED: "NOT_PERMITTED",
    RESULT_UNAVAILABLE: "UNAVAILABLE",
}

# Argument layout per opcode: (name, struct code, lowest, highest), in wire order.
COMMAND_ARGS: dict[int, tuple[tuple[str, str, int, int], ...]] = {
    OP_START_STREAM: (),
    OP_STOP_STREAM: (),
    OP_SET_RATE: (("rate_hz", "H", 1, 1000),),
    OP_SET_MODE: (("mode", "B", 0, 1),),
    OP_IDENTIFY: (("duration_s", "B", 0, 255),),
    OP_TIME_PING: (("host_token", "I", 0, 0xFFFFFFFF),),
    OP_BACKFILL: (("from_seq", "I", 0, 0xFFFFFFFF), ("count", "H", 1, 0xFFFF)),
    OP_ZERO_AT_REST: (),
    OP_GET_STATUS: (),
}

# Payload layout of an OK ack per opcode (opcodes not listed: empty payload).
ACK_ARGS: dict[int, tuple[tuple[str, str, int, int], ...]] = {
    OP_TIME_PING: (("host_token", "I", 0, 0xFFFFFFFF), ("board_t_us", "I", 0, 0xFFFFFFFF)),
    OP_BACKFILL: (("first_seq", "I", 0, 0xFFFFFFFF), ("count", "H", 1, 0xFFFF)),
}

# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------

SEGMENT_PELVIS = 0
SEGMENT_THIGH_L = 1
SEGMENT_THIGH_R = 2
SEGMENT_SHANK_L = 3
SEGMENT_SHANK_R = 4

SEGMENT_NAMES: tuple[str, ...] = ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r")
SEGMENT_CODES: tuple[str, ...] = ("PV", "TL", "TR", "SL", "SR")
SEGMENT_CODE_BY_NAME: dict[str, str] = {
    "pelvis": "PV",
    "thigh_l": "TL",
    "thigh_r": "TR",
    "shank_l": "SL",
    "shank_r": "SR",
}
SEGMENT_NAME_BY_CODE: dict[str, str] = {
    "PV": "pelvis",
    "TL": "thigh_l",
    "TR": "thigh_r",
    "SL": "shank_l",
    "SR": "shank_r",
}

# --------------------------------------------------------------------------------------------
# BLE: GATT, packets, advertising
# --------------------------------------------------------------------------------------------

SERVICE_UUID = "0c0a0001-5e11-4a7e-9b1d-3f6c8e2a1b40"
DATA_CHAR_UUID = "0c0a0002-5e11-4a7e-9b1d-3f6c8e2a1b40"
"""Data characteristic (notify): data frames, in BLE packets."""
CONTROL_CHAR_UUID = "0c0a0003-5e11-4a7e-9b1d-3f6c8e2a1b40"
"""Control characteristic (write, write without response): commands, in BLE packets."""
STATUS_CHAR_UUID = "0c0a0004-5e11-4a7e-9b1d-3f6c8e2a1b40"
"""Status characteristic (notify, read): acks and status frames, in BLE packets."""

RECOMMENDED_ATT_MTU = 247
MIN_ATT_MTU = 23
MAX_ATT_MTU = 517
MAX_BLE_PAYLOAD_BYTES = 244
"""Largest notification payload used (ATT_MTU 247 - 3); bigger MTUs do not send more."""

PACKET_COMPLETE = 0
PACKET_FIRST = 1
PACKET_MIDDLE = 2
PACKET_LAST = 3
PACKET_COUNTER_MODULO = 64

AD_FLAGS = 0x01
AD_INCOMPLETE_UUID128 = 0x06
AD_COMPLETE_UUID128 = 0x07
AD_SHORT_NAME = 0x08
AD_COMPLETE_NAME = 0x09
AD_MANUFACTURER = 0xFF
ADV_FLAGS_VALUE = 0x06
"""LE General Discoverable, BR/EDR not supported."""
MANUFACTURER_COMPANY_ID = 0xFFFF
"""Bluetooth SIG company id reserved for tests / unassigned use."""
MANUFACTURER_MARKER = b"cx"
ADV_BYTES = 31
SCAN_RESPONSE_BYTES = 13
BOARD_NAME_PREFIX = "cx"
BOARD_NAME_CHARS = 8

# --------------------------------------------------------------------------------------------
# Serial framing
# --------------------------------------------------------------------------------------------

SERIAL_DELIMITER = 0x00
SERIAL_CRC_BYTES = 2
SERIAL_MAX_PACKET_BYTES = 246
"""Longest COBS-encoded packet, delimiter excluded: MAX_FRAME_BYTES + 2 CRC + 1 COBS code."""


# ============================================================================================
# Errors and small checks
# ============================================================================================


class ProtocolError(ValueError):
    """Malformed or unsupported wire data, or a value that cannot be encoded."""


class UnsupportedVersionError(ProtocolError):
    """A frame or scan response in a protocol version this side does not speak.

    Attributes
    ----------
    version : int
        The protocol version found on the wire.
    """

    def __init__(self, version: int) -> None:
        super().__init__(
            "unsupported protocol version %d (this side speaks %d)" % (version, PROTOCOL_VERSION)
        )
        self.version = version


def _check_int(value: object, low: int, high: int, name: str) -> None:
    if not isinstance(value, int) or value < low or value > high:
        raise ProtocolError("%s must be an integer in %d..%d, got %r" % (name, low, high, value))


def _check_space(buf: bytearray, offset: int, size: int, what: str) -> None:
    if offset < 0 or offset + size > len(buf):
        raise ProtocolError(
            "%s needs %d bytes at offset %d but the buffer holds %d"
            % (what, size, offset, len(buf))
        )


def _check_header(data: bytes | bytearray | memoryview, kind_name: str) -> int:
    """Check version and minimum length; return the kind byte."""
    n = len(data)
    if n == 0:
        raise ProtocolError("%s is empty" % kind_name)
    if data[0] != PROTOCOL_VERSION:
        raise UnsupportedVersionError(data[0])
    if n < 2:
        raise ProtocolError("%s of 1 byte has no kind byte" % kind_name)
    return data[1]


# ============================================================================================
# Sequence numbers and device time (u32, wrapping)
# ============================================================================================


def seq_add(a: int, n: int) -> int:
    """Add ``n`` to a u32 counter modulo 2**32.

    Parameters
    ----------
    a : int
        Sequence number or device time in us, 0..2**32-1.
    n : int
        Increment (may be negative).

    Returns
    -------
    int
        ``(a + n) mod 2**32``.
    """
    return (a + n) & _U32_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between two u32 counters, in (-2**31, 2**31].

    Parameters
    ----------
    a, b : int
        Sequence numbers or device times in us, 0..2**32-1.

    Returns
    -------
    int
        The ``d`` in (-2**31, 2**31] with ``seq_add(b, d) == a``.
    """
    d = (a - b) & _U32_MASK
    if d > _U32_HALF:
        d -= _U32_MOD
    return d


def unwrap_u32(previous_unwrapped: "int | None", value: int) -> int:
    """Unwrap a wrapping u32 counter on the host.

    Parameters
    ----------
    previous_unwrapped : int or None
        The previous unwrapped value (any integer), or None for the first value.
    value : int
        The new wrapped u32 value (sequence number or device time in us).

    Returns
    -------
    int
        The integer congruent to ``value`` mod 2**32 closest to ``previous_unwrapped``
        (a forward step of exactly 2**31 counts as forward).
    """
    _check_int(value, 0, _U32_MASK, "value")
    if previous_unwrapped is None:
        return value
    return previous_unwrapped + seq_diff(value, previous_unwrapped & _U32_MASK)


# ============================================================================================
# Fixed point
# ============================================================================================


def _round_clamp(value: float, what: str) -> int:
    """Round half away from zero and clamp to +-32767."""
    if value != value:
        raise ProtocolError("cannot encode NaN as %s" % what)
    if value >= _I16_MAX:
        return _I16_MAX
    if value <= -_I16_MAX:
        return -_I16_MAX
    if value >= 0:
        return int(value + 0.5)
    return -int(0.5 - value)


def float_to_q14(value: float) -> int:
    """Quaternion component to Q14 (raw = value * 16384, rounded half away, clamped +-32767)."""
    return _round_clamp(value * 16384.0, "Q14")


def q14_to_float(raw: int) -> float:
    """Q14 raw value to a float (raw / 16384)."""
    return raw / 16384.0


def quat_to_q14(quat_wxyz: list[float]) -> list[int]:
    """Quaternion ``[w, x, y, z]`` (floats) to four Q14 raw integers."""
    return [
        float_to_q14(quat_wxyz[0]),
        float_to_q14(quat_wxyz[1]),
        float_to_q14(quat_wxyz[2]),
        float_to_q14(quat_wxyz[3]),
    ]


def q14_to_quat(q14: list[int]) -> list[float]:
    """Four Q14 raw integers to a quaternion ``[w, x, y, z]`` of floats."""
    return [q14[0] / 16384.0, q14[1] / 16384.0, q14[2] / 16384.0, q14[3] / 16384.0]


def gyr_rad_s_to_raw(rad_s: float) -> int:
    """Angular rate in rad/s to raw gyroscope LSB (rounded half away, clamped +-32767)."""
    return _round_clamp(rad_s / GYR_RAD_S_PER_LSB, "gyroscope LSB")


def gyr_raw_to_rad_s(raw: int) -> float:
    """Raw gyroscope LSB to angular rate in rad/s."""
    return raw * GYR_RAD_S_PER_LSB


def acc_m_s2_to_raw(m_s2: float) -> int:
    """Specific force in m/s^2 to raw accelerometer LSB (rounded half away, clamped +-32767)."""
    return _round_clamp(m_s2 / ACC_M_S2_PER_LSB, "accelerometer LSB")


def acc_raw_to_m_s2(raw: int) -> float:
    """Raw accelerometer LSB to specific force in m/s^2."""
    return raw * ACC_M_S2_PER_LSB


# ============================================================================================
# Data frames
# ============================================================================================


def samples_per_frame(raw: bool) -> int:
    """Most samples one data frame carries: 15 in quaternion mode, 10 in raw mode.

    Parameters
    ----------
    raw : bool
        True for raw mode (accelerometer included, 21-byte samples).
    """
    return MAX_SAMPLES_RAW if raw else MAX_SAMPLES_QUAT


def data_frame_bytes(count: int, raw: bool) -> int:
    """Size in bytes of a data frame with ``count`` samples."""
    return DATA_HEADER_BYTES + count * (RAW_SAMPLE_BYTES if raw else QUAT_SAMPLE_BYTES)


def data_header_into(
    buf: bytearray,
    offset: int,
    kind: int,
    board_id: int,
    seq0: int,
    t0_us: int,
    period_us: int,
    count: int,
    raw: bool,
) -> int:
    """Write a 16-byte data frame header into ``buf``.

    The board typically writes samples at ``offset + 16 + i * sample size`` as they arrive
    and writes the header last, when the frame is sent and ``count`` is known.

    Parameters
    ----------
    buf : bytearray
        Destination buffer.
    offset : int
        Byte offset of the frame start in ``buf``.
    kind : int
        ``KIND_DATA_LIVE`` or ``KIND_DATA_BACKFILL``.
    board_id : int
        Board identifier, u16.
    seq0 : int
        Sequence number of the first sample, u32 (wraps at 2**32).
    t0_us : int
        Board-accumulated device time of the first sample in us, u32 (wraps at 2**32).
    period_us : int
        Sample period in us, 1..65535.
    count : int
        Number of samples, 1..15 (quaternion mode) or 1..10 (raw mode).
    raw : bool
        True if samples carry the accelerometer (sets content flag ``CONTENT_ACC``).

    Returns
    -------
    int
        ``offset + 16``.
    """
    if kind != KIND_DATA_LIVE and kind != KIND_DATA_BACKFILL:
        raise ProtocolError("data frame kind must be 0x01 or 0x02, got %r" % (kind,))
    _check_int(board_id, 0, _U16_MAX, "board_id")
    _check_int(seq0, 0, _U32_MASK, "seq0")
    _check_int(t0_us, 0, _U32_MASK, "t0_us")
    _check_int(period_us, 1, _U16_MAX, "period_us")
    _check_int(count, 1, MAX_SAMPLES_RAW if raw else MAX_SAMPLES_QUAT, "count")
    _check_space(buf, offset, DATA_HEADER_BYTES, "data frame header")
    struct.pack_into(
        _DATA_HEADER_FMT,
        buf,
        offset,
        PROTOCOL_VERSION,
        kind,
        board_id,
        seq0,
        t0_us,
        period_us,
        count,
        CONTENT_ACC if raw else 0,
    )
    return offset + DATA_HEADER_BYTES


def _check_i16(value: object, name: str) -> None:
    if not isinstance(value, int) or value < _I16_MIN or value > _I16_MAX:
        raise ProtocolError("%s must be an integer in -32768..32767, got %r" % (name, value))


def _check_sample(
    qw: int, qx: int, qy: int, qz: int, gx: int, gy: int, gz: int, flags: int
) -> None:
    _check_i16(qw, "quaternion w (Q14)")
    _check_i16(qx, "quaternion x (Q14)")
    _check_i16(qy, "quaternion y (Q14)")
    _check_i16(qz, "quaternion z (Q14)")
    _check_i16(gx, "gyroscope x (LSB)")
    _check_i16(gy, "gyroscope y (LSB)")
    _check_i16(gz, "gyroscope z (LSB)")
    _check_int(flags, 0, 0x0F, "sample flags")


def sample_into(
    buf: bytearray,
    offset: int,
    qw: int,
    qx: int,
    qy: int,
    qz: int,
    gx: int,
    gy: int,
    gz: int,
    flags: int,
) -> int:
    """Write one 15-byte quaternion-mode sample.

    Parameters
    ----------
    buf : bytearray
        Destination buffer.
    offset : int
        Byte offset of the sample in ``buf``.
    qw, qx, qy, qz : int
        Orientation of the sensor frame relative to the board's world frame (Z up),
        Q14 fixed point (raw / 16384), i16.
    gx, gy, gz : int
        Angular rate in the sensor frame, raw LSB (``GYR_RAD_S_PER_LSB`` rad/s each), i16.
    flags : int
        ``SAMPLE_*`` bits, 0..15.

    Returns
    -------
    int
        ``offset + 15``.
    """
    _check_sample(qw, qx, qy, qz, gx, gy, gz, flags)
    _check_space(buf, offset, QUAT_SAMPLE_BYTES, "sample")
    struct.pack_into(_QUAT_SAMPLE_FMT, buf, offset, qw, qx, qy, qz, gx, gy, gz, flags)
    return offset + QUAT_SAMPLE_BYTES


def sample_raw_into(
    buf: bytearray,
    offset: int,
    qw: int,
    qx: int,
    qy: int,
    qz: int,
    gx: int,
    gy: int,
    gz: int,
    flags: int,
    ax: int,
    ay: int,
    az: int,
) -> int:
    """Write one 21-byte raw-mode sample: as :func:`sample_into` plus the accelerometer.

    Parameters
    ----------
    ax, ay, az : int
        Specific force in the sensor frame, raw LSB (``ACC_M_S2_PER_LSB`` m/s^2 each), i16.

    Returns
    -------
    int
        ``offset + 21``.
    """
    _check_sample(qw, qx, qy, qz, gx, gy, gz, flags)
    _check_i16(ax, "accelerometer x (LSB)")
    _check_i16(ay, "accelerometer y (LSB)")
    _check_i16(az, "accelerometer z (LSB)")
    _check_space(buf, offset, RAW_SAMPLE_BYTES, "sample")
    struct.pack_into(_RAW_SAMPLE_FMT, buf, offset, qw, qx, qy, qz, gx, gy, gz, flags, ax, ay, az)
    return offset + RAW_SAMPLE_BYTES


def sample_floats_into(
    buf: bytearray,
    offset: int,
    quat_wxyz: list[float],
    gyr_rad_s: list[float],
    flags: int,
    acc_m_s2: "list[float] | None" = None,
) -> int:
    """Convert one sample from physical units and write it (15 bytes, or 21 with ``acc_m_s2``).

    Parameters
    ----------
    buf : bytearray
        Destination buffer.
    offset : int
        Byte offset of the sample in ``buf``.
    quat_wxyz : sequence of 4 float
        Orientation quaternion, scalar first (sensor relative to board world frame, Z up).
    gyr_rad_s : sequence of 3 float
        Angular rate in rad/s (sensor frame).
    flags : int
        ``SAMPLE_*`` bits, 0..15.
    acc_m_s2 : sequence of 3 float, optional
        Specific force in m/s^2 (sensor frame); given only in raw mode.

    Returns
    -------
    int
        Offset after the sample.
    """
    qw = float_to_q14(quat_wxyz[0])
    qx = float_to_q14(quat_wxyz[1])
    qy = float_to_q14(quat_wxyz[2])
    qz = float_to_q14(quat_wxyz[3])
    gx = gyr_rad_s_to_raw(gyr_rad_s[0])
    gy = gyr_rad_s_to_raw(gyr_rad_s[1])
    gz = gyr_rad_s_to_raw(gyr_rad_s[2])
    if acc_m_s2 is None:
        return sample_into(buf, offset, qw, qx, qy, qz, gx, gy, gz, flags)
    return sample_raw_into(
        buf,
        offset,
        qw,
        qx,
        qy,
        qz,
        gx,
        gy,
        gz,
        flags,
        acc_m_s2_to_raw(acc_m_s2[0]),
        acc_m_s2_to_raw(acc_m_s2[1]),
        acc_m_s2_to_raw(acc_m_s2[2]),
    )


class DataFrame:
    """A decoded (or to-be-encoded) data frame: ``count`` consecutive samples of one board.

    Sample arrays are flat lists of raw integers, sample-major, so that
    ``numpy.asarray(frame.quat_q14).reshape(-1, 4)`` gives one row per sample.

    Parameters
    ----------
    kind : int
        ``KIND_DATA_LIVE`` or ``KIND_DATA_BACKFILL``.
    board_id : int
        Board identifier, u16.
    seq0 : int
        Sequence number of the first sample, u32; sample ``i`` has ``(seq0 + i) mod 2**32``.
    t0_us : int
        Device time of the first sample in us, u32; sample ``i`` was taken at
        ``(t0_us + i * period_us) mod 2**32``.
    period_us : int
        Sample period in us, 1..65535.
    quat_q14 : list of int
        ``4 * count`` Q14 quaternion components ``w, x, y, z`` per sample (value = raw / 16384),
        sensor frame relative to the board's world frame (Z up).
    gyr_raw : list of int
        ``3 * count`` gyroscope components ``x, y, z`` per sample, LSB
        (``GYR_RAD_S_PER_LSB`` rad/s each, full scale +-2000 deg/s).
    flags : list of int
        ``count`` sample flag bytes (``SAMPLE_*``); its length defines ``count`` (1..15, 1..10 raw).
    acc_raw : list of int or None
        Raw mode only: ``3 * count`` accelerometer components ``x, y, z`` per sample, LSB
        (``ACC_M_S2_PER_LSB`` m/s^2 each, full scale +-16 g). None in quaternion mode.

    Attributes
    ----------
    count : int
        Number of samples.
    raw : bool
        True if the samples carry the accelerometer.
    """

    def __init__(
        self,
        kind: int,
        board_id: int,
        seq0: int,
        t0_us: int,
        period_us: int,
        quat_q14: list[int],
        gyr_raw: list[int],
        flags: list[int],
        acc_raw: "list[int] | None" = None,
    ) -> None:
        count = len(flags)
        raw = acc_raw is not None
        if kind != KIND_DATA_LIVE and kind != KIND_DATA_BACKFILL:
            raise ProtocolError("data frame kind must be 0x01 or 0x02, got %r" % (kind,))
        _check_int(board_id, 0, _U16_MAX, "board_id")
        _check_int(seq0, 0, _U32_MASK, "seq0")
        _check_int(t0_us, 0, _U32_MASK, "t0_us")
        _check_int(period_us, 1, _U16_MAX, "period_us")
        _check_int(count, 1, MAX_SAMPLES_RAW if raw else MAX_SAMPLES_QUAT, "sample count")
        if len(quat_q14) != 4 * count:
            raise ProtocolError(
                "quat_q14 needs %d values for %d samples, got %d"
                % (4 * count, count, len(quat_q14))
            )
        if len(gyr_raw) != 3 * count:
            raise ProtocolError(
                "gyr_raw needs %d values for %d samples, got %d" % (3 * count, count, len(gyr_raw))
            )
        for v in quat_q14:
            _check_i16(v, "quaternion component (Q14)")
        for v in gyr_raw:
            _check_i16(v, "gyroscope component (LSB)")
        for v in flags:
            _check_int(v, 0, 0x0F, "sample flags")
        if acc_raw is not None:
            if len(acc_raw) != 3 * count:
                raise ProtocolError(
                    "acc_raw needs %d values for %d samples, got %d"
                    % (3 * count, count, len(acc_raw))
                )
            for v in acc_raw:
                _check_i16(v, "accelerometer component (LSB)")
        self.kind = kind
        self.board_id = board_id
        self.seq0 = seq0
        self.t0_us = t0_us
        self.period_us = period_us
        self.count = count
        self.raw = raw
        self.quat_q14 = list(quat_q14)
        self.gyr_raw = list(gyr_raw)
        self.flags = list(flags)
        self.acc_raw: "list[int] | None" = None if acc_raw is None else list(acc_raw)

    @property
    def is_backfill(self) -> bool:
        """True for a backfill frame (re-sent from the board FIFO on request)."""
        return self.kind == KIND_DATA_BACKFILL

    @property
    def content(self) -> int:
        """Content flags byte (``CONTENT_ACC`` in raw mode)."""
        return CONTENT_ACC if self.raw else 0

    def size(self) -> int:
        """Encoded size in bytes."""
        return data_frame_bytes(self.count, self.raw)

    def sample_seq(self, i: int) -> int:
        """Sequence number of sample ``i``, u32."""
        return (self.seq0 + i) & _U32_MASK

    def sample_t_us(self, i: int) -> int:
        """Device time of sample ``i`` in us, u32."""
        return (self.t0_us + i * self.period_us) & _U32_MASK

    def quat_wxyz(self, i: int) -> list[float]:
        """Quaternion ``[w, x, y, z]`` of sample ``i`` as floats."""
        q = self.quat_q14
        j = 4 * i
        return [q[j] / 16384.0, q[j + 1] / 16384.0, q[j + 2] / 16384.0, q[j + 3] / 16384.0]

    def gyr_rad_s(self, i: int) -> list[float]:
        """Angular rate ``[x, y, z]`` of sample ``i`` in rad/s."""
        g = self.gyr_raw
        j = 3 * i
        s = GYR_RAD_S_PER_LSB
        return [g[j] * s, g[j + 1] * s, g[j + 2] * s]

    def acc_m_s2(self, i: int) -> list[float]:
        """Specific force ``[x, y, z]`` of sample ``i`` in m/s^2 (raw mode only)."""
        a = self.acc_raw
        if a is None:
            raise ProtocolError("quaternion-mode data frame carries no accelerometer")
        j = 3 * i
        s = ACC_M_S2_PER_LSB
        return [a[j] * s, a[j + 1] * s, a[j + 2] * s]

    def encode_into(self, buf: bytearray, offset: int) -> int:
        """Write the frame into ``buf`` at ``offset``; return the offset after it."""
        _check_space(buf, offset, self.size(), "data frame")
        o = data_header_into(
            buf,
            offset,
            self.kind,
            self.board_id,
            self.seq0,
            self.t0_us,
            self.period_us,
            self.count,
            self.raw,
        )
        q = self.quat_q14
        g = self.gyr_raw
        f = self.flags
        a = self.acc_raw
        for i in range(self.count):
            j = 4 * i
            k = 3 * i
            if a is None:
                o = sample_into(
                    buf, o, q[j], q[j + 1], q[j + 2], q[j + 3], g[k], g[k + 1], g[k + 2], f[i]
                )
            else:
                o = sample_raw_into(
                    buf,
                    o,
                    q[j],
                    q[j + 1],
                    q[j + 2],
                    q[j + 3],
                    g[k],
                    g[k + 1],
                    g[k + 2],
                    f[i],
                    a[k],
                    a[k + 1],
                    a[k + 2],
                )
        return o

    def encode(self) -> bytes:
        """Return the encoded frame."""
        buf = bytearray(self.size())
        self.encode_into(buf, 0)
        return bytes(buf)

    def _key(self) -> tuple[object, ...]:
        return (
            self.kind,
            self.board_id,
            self.seq0,
            self.t0_us,
            self.period_us,
            self.quat_q14,
            self.gyr_raw,
            self.flags,
            self.acc_raw,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataFrame) and self._key() == other._key()

    def __repr__(self) -> str:
        return "DataFrame(kind=%d, board_id=%d, seq0=%d, t0_us=%d, period_us=%d, count=%d%s)" % (
            self.kind,
            self.board_id,
            self.seq0,
            self.t0_us,
            self.period_us,
            self.count,
            ", raw" if self.raw else "",
        )


def encode_data_frame(
    kind: int,
    board_id: int,
    seq0: int,
    t0_us: int,
    period_us: int,
    quat_q14: list[int],
    gyr_raw: list[int],
    flags: list[int],
    acc_raw: "list[int] | None" = None,
) -> bytes:
    """Encode a data frame; arguments as for :class:`DataFrame`."""
    return DataFrame(
        kind, board_id, seq0, t0_us, period_us, quat_q14, gyr_raw, flags, acc_raw
    ).encode()


def decode_data_frame(data: bytes | bytearray | memoryview) -> DataFrame:
    """Decode a data frame (live or backfill).

    Raises
    ------
    ProtocolError
        If the bytes are not a valid v1 data frame (wrong version or kind, bad header
        fields, reserved bits set, or a length that does not match the declared count).
    """
    kind = _check_header(data, "data frame")
    if kind != KIND_DATA_LIVE and kind != KIND_DATA_BACKFILL:
        raise ProtocolError("frame kind 0x%02x is not a data frame" % kind)
    n = len(data)
    if n < DATA_HEADER_BYTES:
        raise ProtocolError(
            "data frame of %d bytes is shorter than its %d-byte header" % (n, DATA_HEADER_BYTES)
        )
    _, _, board_id, seq0, t0_us, period_us, count, content = struct.unpack_from(
        _DATA_HEADER_FMT, data, 0
    )
    if content & _CONTENT_RESERVED:
        raise ProtocolError("data frame content flags 0x%02x set reserved bits" % content)
    raw = (content & CONTENT_ACC) != 0
    if period_us == 0:
        raise ProtocolError("data frame declares a sample period of 0 us")
    if count == 0:
        raise ProtocolError("data frame declares 0 samples")
    limit = MAX_SAMPLES_RAW if raw else MAX_SAMPLES_QUAT
    if count > limit:
        raise ProtocolError(
            "data frame declares %d samples but at most %d fit in %s mode"
            % (count, limit, "raw" if raw else "quaternion")
        )
    size = RAW_SAMPLE_BYTES if raw else QUAT_SAMPLE_BYTES
    payload = n - DATA_HEADER_BYTES
    if payload != count * size:
        raise ProtocolError(
            "data frame declares %d samples (%d bytes) but carries %d bytes"
            % (count, count * size, payload)
        )
    quat: list[int] = []
    gyr: list[int] = []
    flags: list[int] = []
    acc: "list[int] | None" = [] if raw else None
    o = DATA_HEADER_BYTES
    for i in range(count):
        if acc is None:
            qw, qx, qy, qz, gx, gy, gz, f = struct.unpack_from(_QUAT_SAMPLE_FMT, data, o)
        else:
            qw, qx, qy, qz, gx, gy, gz, f, ax, ay, az = struct.unpack_from(_RAW_SAMPLE_FMT, data, o)
            acc.append(ax)
            acc.append(ay)
            acc.append(az)
        if f & _SAMPLE_FLAGS_RESERVED:
            raise ProtocolError("sample %d flags 0x%02x set reserved bits 4-7" % (i, f))
        quat.append(qw)
        quat.append(qx)
        quat.append(qy)
        quat.append(qz)
        gyr.append(gx)
        gyr.append(gy)
        gyr.append(gz)
        flags.append(f)
        o += size
    return DataFrame(kind, board_id, seq0, t0_us, period_us, quat, gyr, flags, acc)


# ============================================================================================
# Commands and acks
# ============================================================================================


def _args_size(specs: tuple[tuple[str, str, int, int], ...]) -> int:
    size = 0
    for spec in specs:
        code = spec[1]
        size += 1 if code == "B" else 2 if code == "H" else 4
    return size


def _check_args(
    specs: tuple[tuple[str, str, int, int], ...], args: tuple[int, ...], what: str
) -> None:
    if len(args) != len(specs):
        raise ProtocolError(
            "%s takes %d argument(s) %s, got %d"
            % (what, len(specs), tuple([s[0] for s in specs]), len(args))
        )
    for i in range(len(specs)):
        spec = specs[i]
        _check_int(args[i], spec[2], spec[3], "%s %s" % (what, spec[0]))


def _pack_args(
    buf: bytearray, offset: int, specs: tuple[tuple[str, str, int, int], ...], args: tuple[int, ...]
) -> int:
    for i in range(len(specs)):
        code = specs[i][1]
        struct.pack_into("<" + code, buf, offset, args[i])
        offset += 1 if code == "B" else 2 if code == "H" else 4
    return offset


def _unpack_args(
    data: bytes | bytearray | memoryview,
    offset: int,
    specs: tuple[tuple[str, str, int, int], ...],
    what: str,
) -> tuple[int, ...]:
    values: list[int] = []
    for spec in specs:
        code = spec[1]
        v: int = struct.unpack_from("<" + code, data, offset)[0]
        if v < spec[2] or v > spec[3]:
            raise ProtocolError(
                "%s %s must be in %d..%d, got %d" % (what, spec[0], spec[2], spec[3], v)
            )
        values.append(v)
        offset += 1 if code == "B" else 2 if code == "H" else 4
    return tuple(values)


def _opcode_specs(opcode: object) -> tuple[tuple[str, str, int, int], ...]:
    if not isinstance(opcode, int) or opcode not in COMMAND_ARGS:
        raise ProtocolError("unknown command opcode %r" % (opcode,))
    return COMMAND_ARGS[opcode]


def _opcode_name(opcode: int) -> str:
    name = OPCODE_NAMES.get(opcode)
    return "opcode 0x%02x" % opcode if name is None else name


def command_into(buf: bytearray, offset: int, opcode: int, token: int, *args: int) -> int:
    """Write a command frame; return the offset after it.

    Parameters
    ----------
    buf : bytearray
        Destination buffer.
    offset : int
        Byte offset of the frame in ``buf``.
    opcode : int
        ``OP_*`` opcode.
    token : int
        Request id 0..255, echoed in the ack.
    *args : int
        The opcode's arguments in wire order (see ``COMMAND_ARGS``): SET_RATE ``rate_hz``
        (1..1000 Hz); SET_MODE ``mode`` (``MODE_*``); IDENTIFY ``duration_s`` (s, 0 stops);
        TIME_PING ``host_token`` (low 32 bits of the host clock in us); BACKFILL
        ``from_seq`` (u32), ``count`` (1..65535 samples); other opcodes none.
    """
    specs = _opcode_specs(opcode)
    _check_int(token, 0, _U8_MAX, "token")
    _check_args(specs, args, _opcode_name(opcode))
    _check_space(buf, offset, COMMAND_HEADER_BYTES + _args_size(specs), "command")
    struct.pack_into("<BBBB", buf, offset, PROTOCOL_VERSION, KIND_COMMAND, opcode, token)
    return _pack_args(buf, offset + COMMAND_HEADER_BYTES, specs, args)


class Command:
    """A command frame (host to board).

    Parameters
    ----------
    opcode : int
        ``OP_*`` opcode.
    token : int
        Request id 0..255, echoed in the ack.
    args : tuple of int
        The opcode's arguments in wire order (see :func:`command_into`).
    """

    def __init__(self, opcode: int, token: int, args: tuple[int, ...] = ()) -> None:
        args = tuple(args)
        specs = _opcode_specs(opcode)
        _check_int(token, 0, _U8_MAX, "token")
        _check_args(specs, args, _opcode_name(opcode))
        self.opcode = opcode
        self.token = token
        self.args = args

    @property
    def name(self) -> str:
        """Opcode name, e.g. ``"SET_RATE"``."""
        return _opcode_name(self.opcode)

    def arg_names(self) -> tuple[str, ...]:
        """Names of the arguments in wire order."""
        return tuple([s[0] for s in COMMAND_ARGS[self.opcode]])

    def arg(self, name: str) -> int:
        """Argument by name, e.g. ``cmd.arg("rate_hz")``."""
        specs = COMMAND_ARGS[self.opcode]
        for i in range(len(specs)):
            if specs[i][0] == name:
                return self.args[i]
        raise ProtocolError("%s has no argument %r" % (self.name, name))

    def size(self) -> int:
        """Encoded size in bytes."""
        return COMMAND_HEADER_BYTES + _args_size(COMMAND_ARGS[self.opcode])

    def encode_into(self, buf: bytearray, offset: int) -> int:
        """Write the frame into ``buf`` at ``offset``; return the offset after it."""
        return command_into(buf, offset, self.opcode, self.token, *self.args)

    def encode(self) -> bytes:
        """Return the encoded frame."""
        buf = bytearray(self.size())
        self.encode_into(buf, 0)
        return bytes(buf)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Command)
            and self.opcode == other.opcode
            and self.token == other.token
            and self.args == other.args
        )

    def __repr__(self) -> str:
        return "Command(%s, token=%d, args=%r)" % (self.name, self.token, self.args)


def encode_command(opcode: int, token: int, *args: int) -> bytes:
    """Encode a command frame; arguments as for :func:`command_into`."""
    return Command(opcode, token, args).encode()


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """Decode a command frame.

    Raises
    ------
    ProtocolError
        Wrong version or kind, unknown opcode, wrong argument length or argument value.
    """
    kind = _check_header(data, "command")
    if kind != KIND_COMMAND:
        raise ProtocolError("frame kind 0x%02x is not a command" % kind)
    n = len(data)
    if n < COMMAND_HEADER_BYTES:
        raise ProtocolError("command of %d bytes is shorter than its 4-byte header" % n)
    opcode = data[2]
    token = data[3]
    specs = _opcode_specs(opcode)
    expect = COMMAND_HEADER_BYTES + _args_size(specs)
    if n != expect:
        raise ProtocolError(
            "%s command must be %d bytes, got %d" % (_opcode_name(opcode), expect, n)
        )
    args = _unpack_args(data, COMMAND_HEADER_BYTES, specs, _opcode_name(opcode))
    return Command(opcode, token, args)


def _ack_specs(opcode: int, result: int) -> tuple[tuple[str, str, int, int], ...]:
    if result != RESULT_OK:
        return ()
    return ACK_ARGS.get(opcode, ())


def ack_into(buf: bytearray, offset: int, opcode: int, token: int, result: int, *args: int) -> int:
    """Write an ack frame; return the offset after it.

    Parameters
    ----------
    buf : bytearray
        Destination buffer.
    offset : int
        Byte offset of the frame in ``buf``.
    opcode : int
        Opcode of the command acknowledged (any u8 if ``result`` is not OK, so that unknown
        opcodes can be answered with ``RESULT_UNSUPPORTED``).
    token : int
        The command's token, 0..255.
    result : int
        ``RESULT_*`` code.
    *args : int
        Only when ``result == RESULT_OK`` (see ``ACK_ARGS``): TIME_PING ``host_token`` (echo),
        ``board_t_us`` (device time at receipt, us, u32); BACKFILL ``first_seq`` (u32, first
        sample that will be sent), ``count`` (1..65535 samples that will be sent); others none.
    """
    _check_int(opcode, 0, _U8_MAX, "opcode")
    _check_int(token, 0, _U8_MAX, "token")
    _check_int(result, 0, RESULT_UNAVAILABLE, "result")
    if result == RESULT_OK:
        _opcode_specs(opcode)
    specs = _ack_specs(opcode, result)
    _check_args(specs, args, "%s ack" % _opcode_name(opcode))
    _check_space(buf, offset, ACK_HEADER_BYTES + _args_size(specs), "ack")
    struct.pack_into("<BBBBB", buf, offset, PROTOCOL_VERSION, KIND_ACK, opcode, token, result)
    return _pack_args(buf, offset + ACK_HEADER_BYTES, specs, args)


class Ack:
    """An ack frame (board to host), the answer to one command.

    Parameters
    ----------
    opcode : int
        Opcode of the command acknowledged.
    token : int
        The command's token, 0..255.
    result : int
        ``RESULT_*`` code.
    args : tuple of int
        Payload of an OK ack in wire order (see :func:`ack_into`); empty otherwise.
    """

    def __init__(self, opcode: int, token: int, result: int, args: tuple[int, ...] = ()) -> None:
        args = tuple(args)
        _check_int(opcode, 0, _U8_MAX, "opcode")
        _check_int(token, 0, _U8_MAX, "token")
        _check_int(result, 0, RESULT_UNAVAILABLE, "result")
        if result == RESULT_OK:
            _opcode_specs(opcode)
        _check_args(_ack_specs(opcode, result), args, "%s ack" % _opcode_name(opcode))
        self.opcode = opcode
        self.token = token
        self.result = result
        self.args = args

    @property
    def ok(self) -> bool:
        """True if the command succeeded."""
        return self.result == RESULT_OK

    @property
    def result_name(self) -> str:
        """Result name, e.g. ``"OK"``."""
        return RESULT_NAMES[self.result]

    def arg_names(self) -> tuple[str, ...]:
        """Names of the payload fields in wire order."""
        return tuple([s[0] for s in _ack_specs(self.opcode, self.result)])

    def arg(self, name: str) -> int:
        """Payload field by name, e.g. ``ack.arg("board_t_us")``."""
        specs = _ack_specs(self.opcode, self.result)
        for i in range(len(specs)):
            if specs[i][0] == name:
                return self.args[i]
        raise ProtocolError("%s ack has no field %r" % (_opcode_name(self.opcode), name))

    def size(self) -> int:
        """Encoded size in bytes."""
        return ACK_HEADER_BYTES + _args_size(_ack_specs(self.opcode, self.result))

    def encode_into(self, buf: bytearray, offset: int) -> int:
        """Write the frame into ``buf`` at ``offset``; return the offset after it."""
        return ack_into(buf, offset, self.opcode, self.token, self.result, *self.args)

    def encode(self) -> bytes:
        """Return the encoded frame."""
        buf = bytearray(self.size())
        self.encode_into(buf, 0)
        return bytes(buf)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Ack)
            and self.opcode == other.opcode
            and self.token == other.token
            and self.result == other.result
            and self.args == other.args
        )

    def __repr__(self) -> str:
        return "Ack(%s, token=%d, %s, args=%r)" % (
            _opcode_name(self.opcode),
            self.token,
            self.result_name,
            self.args,
        )


def encode_ack(opcode: int, token: int, result: int, *args: int) -> bytes:
    """Encode an ack frame; arguments as for :func:`ack_into`."""
    return Ack(opcode, token, result, args).encode()


def decode_ack(data: bytes | bytearray | memoryview) -> Ack:
    """Decode an ack frame.

    Raises
    ------
    ProtocolError
        Wrong version or kind, unknown result, unknown opcode in an OK ack, wrong length.
    """
    kind = _check_header(data, "ack")
    if kind != KIND_ACK:
        raise ProtocolError("frame kind 0x%02x is not an ack" % kind)
    n = len(data)
    if n < ACK_HEADER_BYTES:
        raise ProtocolError("ack of %d bytes is shorter than its 5-byte header" % n)
    opcode = data[2]
    token = data[3]
    result = data[4]
    if result > RESULT_UNAVAILABLE:
        raise ProtocolError("ack carries unknown result code %d" % result)
    if result == RESULT_OK:
        _opcode_specs(opcode)
    specs = _ack_specs(opcode, result)
    expect = ACK_HEADER_BYTES + _args_size(specs)
    if n != expect:
        raise ProtocolError(
            "%s ack with result %s must be %d bytes, got %d"
            % (_opcode_name(opcode), RESULT_NAMES[result], expect, n)
        )
    args = _unpack_args(data, ACK_HEADER_BYTES, specs, "%s ack" % _opcode_name(opcode))
    return Ack(opcode, token, result, args)


def reject_command(data: bytes | bytearray | memoryview) -> "Ack | None":
    """The ack a board sends for a command frame that :func:`decode_command` rejects.

    Parameters
    ----------
    data : bytes-like
        A frame received on the control characteristic or serial link.

    Returns
    -------
    Ack or None
        ``RESULT_UNSUPPORTED`` for an unknown opcode, ``RESULT_BAD_ARGUMENT`` for a known
        opcode with bad arguments; None if the frame decodes fine or is not a v1 command with
        at least opcode and token (nothing to answer).
    """
    if len(data) < COMMAND_HEADER_BYTES or data[0] != PROTOCOL_VERSION:
        return None
    if data[1] != KIND_COMMAND:
        return None
    opcode = data[2]
    if opcode not in COMMAND_ARGS:
        return Ack(opcode, data[3], RESULT_UNSUPPORTED)
    try:
        decode_command(data)
    except ProtocolError:
        return Ack(opcode, data[3], RESULT_BAD_ARGUMENT)
    return None


# ============================================================================================
# Status
# ============================================================================================


def status_into(
    buf: bytearray,
    offset: int,
    board_id: int,
    segment: int,
    fw_major: int,
    fw_minor: int,
    fw_patch: int,
    battery_mv: int,
    fifo_fill: int,
    fifo_capacity: int,
    samples_dropped: int,
    temperature_centi_c: int,
    rate_hz: int,
    mode: int,
    state: int,
    newest_seq: int,
) -> int:
    """Write a 28-byte status frame; return ``offset + 28``. Fields as for :class:`Status`."""
    _check_status(
        board_id,
        segment,
        fw_major,
        fw_minor,
        fw_patch,
        battery_mv,
        fifo_fill,
        fifo_capacity,
        samples_dropped,
        temperature_centi_c,
        rate_hz,
        mode,
        state,
        newest_seq,
    )
    _check_space(buf, offset, STATUS_BYTES, "status")
    struct.pack_into(
        _STATUS_FMT,
        buf,
        offset,
        PROTOCOL_VERSION,
        KIND_STATUS,
        board_id,
        segment,
        fw_major,
        fw_minor,
        fw_patch,
        battery_mv,
        fifo_fill,
        fifo_capacity,
        samples_dropped,
        temperature_centi_c,
        rate_hz,
        mode,
        state,
        newest_seq,
    )
    return offset + STATUS_BYTES


def _check_status(
    board_id: int,
    segment: int,
    fw_major: int,
    fw_minor: int,
    fw_patch: int,
    battery_mv: int,
    fifo_fill: int,
    fifo_capacity: int,
    samples_dropped: int,
    temperature_centi_c: int,
    rate_hz: int,
    mode: int,
    state: int,
    newest_seq: int,
) -> None:
    _check_int(board_id, 0, _U16_MAX, "board_id")
    _check_int(segment, 0, SEGMENT_SHANK_R, "segment")
    _check_int(fw_major, 0, _U8_MAX, "fw_major")
    _check_int(fw_minor, 0, _U8_MAX, "fw_minor")
    _check_int(fw_patch, 0, _U8_MAX, "fw_patch")
    _check_int(battery_mv, 0, _U16_MAX, "battery_mv")
    _check_int(fifo_fill, 0, _U16_MAX, "fifo_fill")
    _check_int(fifo_capacity, 0, _U16_MAX, "fifo_capacity")
    _check_int(samples_dropped, 0, _U32_MASK, "samples_dropped")
    _check_i16(temperature_centi_c, "temperature_centi_c")
    _check_int(rate_hz, RATE_MIN_HZ, RATE_MAX_HZ, "rate_hz")
    _check_int(mode, 0, MODE_QUAT_RAW, "mode")
    _check_int(state, 0, 0x3F, "state")
    _check_int(newest_seq, 0, _U32_MASK, "newest_seq")


STATUS_FIELD_NAMES = (
    "board_id",
    "segment",
    "fw_major",
    "fw_minor",
    "fw_patch",
    "battery_mv",
    "fifo_fill",
    "fifo_capacity",
    "samples_dropped",
    "temperature_centi_c",
    "rate_hz",
    "mode",
    "state",
    "newest_seq",
)
"""Names of the status fields after version and kind, in wire order (``Status`` attributes)."""


class Status:
    """A status frame (board to host): identity, health and configuration.

    Parameters
    ----------
    board_id : int
        Board identifier, u16.
    segment : int
        ``SEGMENT_*`` the board is strapped to, 0..4.
    fw_major, fw_minor, fw_patch : int
        Firmware version, u8 each.
    battery_mv : int
        Battery voltage in mV, u16 (0 = not measured).
    fifo_fill : int
        Samples currently held in the board FIFO (available for backfill), u16.
    fifo_capacity : int
        FIFO capacity in samples, u16.
    samples_dropped : int
        Samples lost on the board since boot (FIFO overflow), u32.
    temperature_centi_c : int
        Board / IMU temperature in 0.01 deg C, i16 (``TEMPERATURE_UNKNOWN`` = no reading).
    rate_hz : int
        Configured sample rate in Hz, 1..1000.
    mode : int
        ``MODE_QUAT`` or ``MODE_QUAT_RAW``.
    state : int
        ``STATE_*`` bits (bits 6-7 reserved, 0).
    newest_seq : int
        Sequence number of the newest sample taken, u32.
    """

    def __init__(
        self,
        board_id: int,
        segment: int,
        fw_major: int,
        fw_minor: int,
        fw_patch: int,
        battery_mv: int,
        fifo_fill: int,
        fifo_capacity: int,
        samples_dropped: int,
        temperature_centi_c: int,
        rate_hz: int,
        mode: int,
        state: int,
        newest_seq: int,
    ) -> None:
        _check_status(
            board_id,
            segment,
            fw_major,
            fw_minor,
            fw_patch,
            battery_mv,
            fifo_fill,
            fifo_capacity,
            samples_dropped,
            temperature_centi_c,
            rate_hz,
            mode,
            state,
            newest_seq,
        )
        self.board_id = board_id
        self.segment = segment
        self.fw_major = fw_major
        self.fw_minor = fw_minor
        self.fw_patch = fw_patch
        self.battery_mv = battery_mv
        self.fifo_fill = fifo_fill
        self.fifo_capacity = fifo_capacity
        self.samples_dropped = samples_dropped
        self.temperature_centi_c = temperature_centi_c
        self.rate_hz = rate_hz
        self.mode = mode
        self.state = state
        self.newest_seq = newest_seq

    def fields(self) -> tuple[int, ...]:
        """All fields in wire order (the constructor's arguments)."""
        return (
            self.board_id,
            self.segment,
            self.fw_major,
            self.fw_minor,
            self.fw_patch,
            self.battery_mv,
            self.fifo_fill,
            self.fifo_capacity,
            self.samples_dropped,
            self.temperature_centi_c,
            self.rate_hz,
            self.mode,
            self.state,
            self.newest_seq,
        )

    def temperature_c(self) -> "float | None":
        """Temperature in deg C, or None if unknown."""
        if self.temperature_centi_c == TEMPERATURE_UNKNOWN:
            return None
        return self.temperature_centi_c / 100.0

    def size(self) -> int:
        """Encoded size in bytes (28)."""
        return STATUS_BYTES

    def encode_into(self, buf: bytearray, offset: int) -> int:
        """Write the frame into ``buf`` at ``offset``; return the offset after it."""
        return status_into(buf, offset, *self.fields())

    def encode(self) -> bytes:
        """Return the encoded frame."""
        buf = bytearray(STATUS_BYTES)
        self.encode_into(buf, 0)
        return bytes(buf)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Status) and self.fields() == other.fields()

    def __repr__(self) -> str:
        return "Status%r" % (self.fields(),)


def encode_status(
    board_id: int,
    segment: int,
    fw_major: int,
    fw_minor: int,
    fw_patch: int,
    battery_mv: int,
    fifo_fill: int,
    fifo_capacity: int,
    samples_dropped: int,
    temperature_centi_c: int,
    rate_hz: int,
    mode: int,
    state: int,
    newest_seq: int,
) -> bytes:
    """Encode a status frame; arguments as for :class:`Status`."""
    buf = bytearray(STATUS_BYTES)
    status_into(
        buf,
        0,
        board_id,
        segment,
        fw_major,
        fw_minor,
        fw_patch,
        battery_mv,
        fifo_fill,
        fifo_capacity,
        samples_dropped,
        temperature_centi_c,
        rate_hz,
        mode,
        state,
        newest_seq,
    )
    return bytes(buf)


def decode_status(data: bytes | bytearray | memoryview) -> Status:
    """Decode a status frame.

    Raises
    ------
    ProtocolError
        Wrong version, kind or length, or a field outside its range (segment, rate, mode,
        reserved state bits).
    """
    kind = _check_header(data, "status")
    if kind != KIND_STATUS:
        raise ProtocolError("frame kind 0x%02x is not a status frame" % kind)
    if len(data) != STATUS_BYTES:
        raise ProtocolError("status frame must be %d bytes, got %d" % (STATUS_BYTES, len(data)))
    v = struct.unpack_from(_STATUS_FMT, data, 0)
    if v[3] > SEGMENT_SHANK_R:
        raise ProtocolError("status carries unknown segment %d" % v[3])
    if v[12] < RATE_MIN_HZ or v[12] > RATE_MAX_HZ:
        raise ProtocolError("status rate_hz must be in 1..1000, got %d" % v[12])
    if v[13] > MODE_QUAT_RAW:
        raise ProtocolError("status carries unknown mode %d" % v[13])
    if v[14] & _STATE_RESERVED:
        raise ProtocolError("status state flags 0x%02x set reserved bits 6-7" % v[14])
    return Status(
        v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]
    )


# ============================================================================================
# Any frame
# ============================================================================================


def frame_kind(data: bytes | bytearray | memoryview) -> int:
    """Kind byte of a frame, after checking its version and that it has one."""
    return _check_header(data, "frame")


def decode_frame(
    data: bytes | bytearray | memoryview,
) -> "DataFrame | Command | Ack | Status":
    """Decode any v1 frame by its kind byte.

    Returns
    -------
    DataFrame, Command, Ack or Status

    Raises
    ------
    ProtocolError
        For any malformed input (:class:`UnsupportedVersionError` for another version).
    """
    kind = _check_header(data, "frame")
    if kind == KIND_DATA_LIVE or kind == KIND_DATA_BACKFILL:
        return decode_data_frame(data)
    if kind == KIND_COMMAND:
        return decode_command(data)
    if kind == KIND_ACK:
        return decode_ack(data)
    if kind == KIND_STATUS:
        return decode_status(data)
    raise ProtocolError("unknown frame kind 0x%02x" % kind)


# ============================================================================================
# BLE packets: fragmentation and reassembly
# ============================================================================================


def ble_payload_bytes(att_mtu: int) -> int:
    """Bytes per notification / write used for an ATT MTU: ``min(att_mtu, 247) - 3``.

    Parameters
    ----------
    att_mtu : int
        Negotiated ATT MTU, 23..517.
    """
    _check_int(att_mtu, MIN_ATT_MTU, MAX_ATT_MTU, "att_mtu")
    if att_mtu > RECOMMENDED_ATT_MTU:
        att_mtu = RECOMMENDED_ATT_MTU
    return att_mtu - 3


def packet_header(position: int, counter: int) -> int:
    """BLE packet header byte: ``position << 6 | counter`` (``PACKET_*``, counter 0..63)."""
    _check_int(position, 0, 3, "packet position")
    _check_int(counter, 0, 63, "packet counter")
    return (position << 6) | counter


def packet_into(
    buf: bytearray,
    offset: int,
    frame: bytes | bytearray | memoryview,
    start: int,
    att_mtu: int,
    counter: int,
    frame_len: int = -1,
) -> int:
    """Write the BLE packet that carries ``frame`` from byte ``start`` on.

    Loop: ``start = 0``; while ``start < frame_len``: ``end = packet_into(...)``, send
    ``buf[offset:end]``, ``start += end - offset - 1``, ``counter = (counter + 1) % 64``.

    Parameters
    ----------
    buf : bytearray
        Destination buffer (room for ``ble_payload_bytes(att_mtu)`` bytes).
    offset : int
        Byte offset of the packet in ``buf``.
    frame : bytes-like
        The frame (or a buffer whose first ``frame_len`` bytes are the frame).
    start : int
        First frame byte this packet carries; 0 for the first packet.
    att_mtu : int
        Negotiated ATT MTU, 23..517.
    counter : int
        Packet counter of this characteristic, 0..63.
    frame_len : int, optional
        Frame length in bytes if ``frame`` is a larger buffer; default ``len(frame)``.

    Returns
    -------
    int
        Offset after the packet.
    """
    n = len(frame) if frame_len < 0 else frame_len
    _check_int(n, 1, MAX_FRAME_BYTES, "frame length")
    if n > len(frame):
        raise ProtocolError("frame_len %d exceeds the %d-byte frame buffer" % (n, len(frame)))
    _check_int(start, 0, n - 1, "fragment start")
    payload = ble_payload_bytes(att_mtu)
    _check_int(counter, 0, 63, "packet counter")
    if start == 0 and n + 1 <= payload:
        position = PACKET_COMPLETE
        end = n
    else:
        end = start + payload - 1
        if end >= n:
            end = n
            position = PACKET_LAST
        elif start == 0:
            position = PACKET_FIRST
        else:
            position = PACKET_MIDDLE
    _check_space(buf, offset, 1 + end - start, "BLE packet")
    buf[offset] = (position << 6) | counter
    buf[offset + 1 : offset + 1 + end - start] = frame[start:end]
    return offset + 1 + end - start


def fragment(
    frame: bytes | bytearray | memoryview, att_mtu: int, counter: int
) -> tuple[list[bytes], int]:
    """Split a frame into BLE packets.

    Parameters
    ----------
    frame : bytes-like
        One frame, 1..243 bytes.
    att_mtu : int
        Negotiated ATT MTU, 23..517 (payload per packet ``min(att_mtu, 247) - 3``).
    counter : int
        Counter of the first packet, 0..63.

    Returns
    -------
    packets : list of bytes
        One complete packet if ``len(frame) + 1 <= payload``, else first, middle..., last
        fragments of ``payload - 1`` frame bytes each (the last may be shorter).
    next_counter : int
        Counter for the next packet on this characteristic.
    """
    payload = ble_payload_bytes(att_mtu)
    buf = bytearray(payload)
    packets: list[bytes] = []
    n = len(frame)
    _check_int(n, 1, MAX_FRAME_BYTES, "frame length")
    _check_int(counter, 0, 63, "packet counter")
    start = 0
    while start < n:
        end = packet_into(buf, 0, frame, start, att_mtu, counter)
        packets.append(bytes(buf[:end]))
        start += end - 1
        counter = (counter + 1) & 63
    return packets, counter


class Reassembler:
    """Rebuild frames from the BLE packets of one characteristic on one connection.

    Packets arrive in order on a BLE link, but may be lost (e.g. notifications dropped by a
    stack under load). A counter gap or an unexpected position abandons the partial frame;
    reassembly resumes at the next first or complete packet.

    Attributes
    ----------
    lost_packets : int
        Packets missing according to counter gaps (counter arithmetic mod 64).
    discarded_frames : int
        Frames of which some packets arrived but that could not be completed.
    packets : int
        Packets accepted by :meth:`push`.
    frames : int
        Frames returned by :meth:`push`.
    """

    def __init__(self) -> None:
        self._buf = bytearray(MAX_FRAME_BYTES)
        self._len = 0
        self._in_frame = False
        self._skipping = False
        self._expect = -1
        self.lost_packets = 0
        self.discarded_frames = 0
        self.packets = 0
        self.frames = 0

    def reset(self) -> None:
        """Forget any partial frame and the expected counter (e.g. after a reconnection)."""
        self._len = 0
        self._in_frame = False
        self._skipping = False
        self._expect = -1

    def _discard(self) -> None:
        if self._in_frame:
            self.discarded_frames += 1
        self._in_frame = False
        self._len = 0

    def push(self, packet: bytes | bytearray | memoryview) -> "bytes | None":
        """Add one packet (a notification or write value).

        Returns
        -------
        bytes or None
            A complete frame, or None if none was completed by this packet.

        Raises
        ------
        ProtocolError
            Only for a packet that is malformed in itself: empty, or a header without any
            frame bytes. Loss and reordering are counted, never raised.
        """
        n = len(packet)
        if n == 0:
            raise ProtocolError("empty BLE packet (no header byte)")
        if n == 1:
            raise ProtocolError("BLE packet of 1 byte carries no frame bytes")
        header = packet[0]
        position = header >> 6
        counter = header & 63
        self.packets += 1
        if self._expect >= 0 and counter != self._expect:
            self.lost_packets += (counter - self._expect) & 63
            if self._in_frame:
                self._discard()
                self._skipping = True
        self._expect = (counter + 1) & 63
        chunk = n - 1
        if position == PACKET_COMPLETE or position == PACKET_FIRST:
            self._discard()
            self._skipping = False
            if chunk > MAX_FRAME_BYTES:
                self.discarded_frames += 1
                self._skipping = position == PACKET_FIRST
                return None
            if position == PACKET_COMPLETE:
                self.frames += 1
                return bytes(packet[1:])
            self._buf[0:chunk] = packet[1:]
            self._len = chunk
            self._in_frame = True
            return None
        # middle or last fragment
        if not self._in_frame:
            if not self._skipping:
                # joined mid-frame, or the first fragment was lost without a counter gap
                self.discarded_frames += 1
                self._skipping = True
            if position == PACKET_LAST:
                self._skipping = False
            return None
        if self._len + chunk > MAX_FRAME_BYTES:
            self._discard()
            self._skipping = position != PACKET_LAST
            return None
        self._buf[self._len : self._len + chunk] = packet[1:]
        self._len += chunk
        if position == PACKET_MIDDLE:
            return None
        frame = bytes(self._buf[: self._len])
        self._in_frame = False
        self._len = 0
        self.frames += 1
        return frame


# ============================================================================================
# Serial framing: CRC-16/CCITT-FALSE + COBS + 0x00
# ============================================================================================


def _make_crc_table() -> list[int]:
    table: list[int] = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC_TABLE = _make_crc_table()


def crc16_ccitt_false(
    data: bytes | bytearray | memoryview, crc: int = 0xFFFF, length: int = -1
) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected, xorout 0).

    Parameters
    ----------
    data : bytes-like
        Bytes to checksum.
    crc : int, optional
        Running CRC to continue from (default the initial value 0xFFFF).
    length : int, optional
        Checksum only the first ``length`` bytes (default all).

    Returns
    -------
    int
        The CRC, u16 (``b"123456789"`` gives 0x29B1).
    """
    table = _CRC_TABLE
    n = len(data) if length < 0 else length
    if n > len(data):
        raise ProtocolError("CRC length %d exceeds the %d-byte buffer" % (n, len(data)))
    for i in range(n):
        crc = ((crc << 8) & 0xFF00) ^ table[(crc >> 8) ^ data[i]]
    return crc


def serial_encode_into(
    buf: bytearray, offset: int, frame: bytes | bytearray | memoryview, frame_len: int = -1
) -> int:
    """Write ``COBS(frame + CRC16 LE) + b"\\x00"`` into ``buf``; return the offset after it.

    Parameters
    ----------
    buf : bytearray
        Destination buffer, room for ``frame_len + 4`` bytes from ``offset``.
    offset : int
        Byte offset of the packet in ``buf``.
    frame : bytes-like
        The frame (or a buffer whose first ``frame_len`` bytes are the frame).
    frame_len : int, optional
        Frame length in bytes, 1..243; default ``len(frame)``.
    """
    n = len(frame) if frame_len < 0 else frame_len
    _check_int(n, 1, MAX_FRAME_BYTES, "frame length")
    if n > len(frame):
        raise ProtocolError("frame_len %d exceeds the %d-byte frame buffer" % (n, len(frame)))
    total = n + SERIAL_CRC_BYTES
    _check_space(buf, offset, total + 2 + total // 254, "serial packet")
    crc = crc16_ccitt_false(frame, 0xFFFF, n)
    code_at = offset
    out = offset + 1
    code = 1
    for i in range(total):
        if i < n:
            b = frame[i]
        elif i == n:
            b = crc & 0xFF
        else:
            b = crc >> 8
        if b == 0:
            buf[code_at] = code
            code_at = out
            out += 1
            code = 1
        else:
            buf[out] = b
            out += 1
            code += 1
            if code == 0xFF:
                buf[code_at] = code
                code_at = out
                out += 1
                code = 1
    buf[code_at] = code
    buf[out] = SERIAL_DELIMITER
    return out + 1


def serial_encode(frame: bytes | bytearray | memoryview) -> bytes:
    """Encode one frame for the serial link: ``COBS(frame + CRC16 LE) + b"\\x00"``."""
    total = len(frame) + SERIAL_CRC_BYTES
    buf = bytearray(total + 2 + total // 254)
    end = serial_encode_into(buf, 0, frame)
    return bytes(buf[:end])


def serial_decode(packet: bytes | bytearray | memoryview) -> bytes:
    """Decode one serial packet (with or without its trailing 0x00) back to the frame.

    Raises
    ------
    ProtocolError
        COBS error, too short, too long, or CRC mismatch.
    """
    n = len(packet)
    if n > 0 and packet[n - 1] == SERIAL_DELIMITER:
        n -= 1
    if n == 0:
        raise ProtocolError("empty serial packet")
    if n > SERIAL_MAX_PACKET_BYTES:
        raise ProtocolError(
            "serial packet of %d bytes exceeds %d bytes" % (n, SERIAL_MAX_PACKET_BYTES)
        )
    out = bytearray()
    i = 0
    while i < n:
        code = packet[i]
        if code == 0:
            raise ProtocolError("COBS error: zero byte inside the packet at byte %d" % i)
        end = i + code
        if end > n:
            raise ProtocolError(
                "COBS error: block at byte %d needs %d bytes but %d remain"
                % (i, code - 1, n - i - 1)
            )
        block = bytes(packet[i + 1 : end])
        if block.find(b"\x00") >= 0:
            raise ProtocolError(
                "COBS error: zero byte inside the packet at byte %d" % (i + 1 + block.find(b"\x00"))
            )
        out.extend(block)
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    m = len(out)
    if m < SERIAL_CRC_BYTES + 1:
        raise ProtocolError("serial packet decodes to %d bytes, too short for frame + CRC" % m)
    want = out[m - 2] | (out[m - 1] << 8)
    got = crc16_ccitt_false(out, 0xFFFF, m - 2)
    if want != got:
        raise ProtocolError(
            "serial CRC mismatch: packet says 0x%04x, frame gives 0x%04x" % (want, got)
        )
    return bytes(out[: m - 2])


class SerialDeframer:
    """Split a serial byte stream into frames; bad packets are skipped and counted.

    Feed it whatever the serial port returns, in any chunking. Packets end at 0x00; empty
    packets (repeated delimiters) are ignored. A packet longer than
    ``SERIAL_MAX_PACKET_BYTES`` is dropped without being buffered, so garbage without
    delimiters cannot grow memory.

    Attributes
    ----------
    errors : int
        Bad packets skipped (COBS error, CRC mismatch, too short, too long).
    last_error : str or None
        Description of the most recent bad packet.
    frames : int
        Good frames returned.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.errors = 0
        self.last_error: "str | None" = None
        self.frames = 0

    def _append(self, data: bytes | bytearray, start: int, end: int) -> None:
        if self._overflow or start == end:
            return
        if len(self._buf) + end - start > SERIAL_MAX_PACKET_BYTES:
            self._overflow = True
            self._buf = bytearray()
            self.errors += 1
            self.last_error = "serial packet longer than %d bytes without a delimiter" % (
                SERIAL_MAX_PACKET_BYTES
            )
            return
        self._buf.extend(data[start:end])

    def _end_packet(self, frames: list[bytes]) -> None:
        if self._overflow:
            self._overflow = False
            return
        if len(self._buf) == 0:
            return
        packet = self._buf
        self._buf = bytearray()
        try:
            frame = serial_decode(packet)
        except ProtocolError as e:
            self.errors += 1
            self.last_error = str(e)
            return
        self.frames += 1
        frames.append(frame)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Consume bytes; return the frames completed by them (possibly none)."""
        if isinstance(data, memoryview):
            data = bytes(data)
        frames: list[bytes] = []
        start = 0
        n = len(data)
        while start < n:
            z = data.find(b"\x00", start)
            if z < 0:
                self._append(data, start, n)
                break
            self._append(data, start, z)
            self._end_packet(frames)
            start = z + 1
        return frames

    def reset(self) -> None:
        """Drop any partial packet (e.g. after reopening the port)."""
        self._buf = bytearray()
        self._overflow = False


# ============================================================================================
# Segments, board names, advertising
# ============================================================================================


def segment_code(segment: int) -> str:
    """Two-letter code of a segment number, e.g. 2 -> ``"TR"``."""
    _check_int(segment, 0, SEGMENT_SHANK_R, "segment")
    return SEGMENT_CODES[segment]


def segment_name(segment: int) -> str:
    """Name of a segment number, e.g. 2 -> ``"thigh_r"``."""
    _check_int(segment, 0, SEGMENT_SHANK_R, "segment")
    return SEGMENT_NAMES[segment]


def segment_from_code(code: str) -> int:
    """Segment number of a two-letter code, e.g. ``"TR"`` -> 2."""
    for i in range(len(SEGMENT_CODES)):
        if SEGMENT_CODES[i] == code:
            return i
    raise ProtocolError("unknown segment code %r" % (code,))


def segment_from_name(name: str) -> int:
    """Segment number of a segment name, e.g. ``"thigh_r"`` -> 2."""
    for i in range(len(SEGMENT_NAMES)):
        if SEGMENT_NAMES[i] == name:
            return i
    raise ProtocolError("unknown segment name %r" % (name,))


def board_name(board_id: int, segment: int) -> str:
    """Advertised name: ``"cx"`` + segment code + board id as 4 uppercase hex digits.

    Example: board 0x1A2B on the right thigh is ``"cxTR1A2B"``.
    """
    _check_int(board_id, 0, _U16_MAX, "board_id")
    return BOARD_NAME_PREFIX + segment_code(segment) + "%04X" % board_id


_HEX_UPPER = "0123456789ABCDEF"


def parse_board_name(name: "str | None") -> tuple[int, int]:
    """Parse an advertised name like ``"cxTR1A2B"``.

    Returns
    -------
    board_id : int
        u16.
    segment : int
        ``SEGMENT_*``.

    Raises
    ------
    ProtocolError
        If the name is not exactly "cx" + a segment code + 4 uppercase hex digits.
    """
    if name is None:
        raise ProtocolError("board has no name")
    if len(name) != BOARD_NAME_CHARS:
        raise ProtocolError("board name must be 8 characters like 'cxTR1A2B', got %r" % (name,))
    if name[0:2] != BOARD_NAME_PREFIX:
        raise ProtocolError("board name %r does not start with 'cx'" % (name,))
    segment = segment_from_code(name[2:4])
    board_id = 0
    for ch in name[4:8]:
        digit = _HEX_UPPER.find(ch)
        if digit < 0:
            raise ProtocolError("board name %r does not end in 4 uppercase hex digits" % (name,))
        board_id = board_id * 16 + digit
    return board_id, segment


def uuid_to_le_bytes(uuid: str) -> bytes:
    """128-bit UUID string to its 16 bytes in BLE (little-endian) order."""
    if len(uuid) != 36:
        raise ProtocolError("UUID must be 36 characters, got %r" % (uuid,))
    for i in (8, 13, 18, 23):
        if uuid[i] != "-":
            raise ProtocolError("UUID %r lacks a hyphen at %d" % (uuid, i))
    hexdigits = uuid.replace("-", "").upper()
    out = bytearray(16)
    for i in range(16):
        hi = _HEX_UPPER.find(hexdigits[2 * i])
        lo = _HEX_UPPER.find(hexdigits[2 * i + 1])
        if hi < 0 or lo < 0:
            raise ProtocolError("UUID %r has a non-hex digit" % (uuid,))
        out[15 - i] = hi * 16 + lo
    return bytes(out)


def encode_advertising(board_id: int, segment: int) -> bytes:
    """Legacy advertising data, exactly 31 bytes.

    Flags (``ADV_FLAGS_VALUE``), the complete list of 128-bit service UUIDs (``SERVICE_UUID``
    little-endian) and the complete local name from :func:`board_name`.
    """
    name = board_name(board_id, segment)
    out = bytearray()
    out.extend(bytes([2, AD_FLAGS, ADV_FLAGS_VALUE]))
    out.extend(bytes([17, AD_COMPLETE_UUID128]))
    out.extend(uuid_to_le_bytes(SERVICE_UUID))
    out.extend(bytes([1 + len(name), AD_COMPLETE_NAME]))
    out.extend(name.encode())
    return bytes(out)


def encode_scan_response(
    board_id: int, segment: int, fw_major: int, fw_minor: int, fw_patch: int
) -> bytes:
    """Scan response data, 13 bytes: one manufacturer-specific AD structure.

    Payload: company id 0xFFFF (u16), ``b"cx"``, u8 protocol version, u16 board id,
    u8 segment, u8 fw_major, u8 fw_minor, u8 fw_patch.
    """
    _check_int(board_id, 0, _U16_MAX, "board_id")
    _check_int(segment, 0, SEGMENT_SHANK_R, "segment")
    _check_int(fw_major, 0, _U8_MAX, "fw_major")
    _check_int(fw_minor, 0, _U8_MAX, "fw_minor")
    _check_int(fw_patch, 0, _U8_MAX, "fw_patch")
    buf = bytearray(SCAN_RESPONSE_BYTES)
    struct.pack_into(
        "<BBH2sBHBBBB",
        buf,
        0,
        SCAN_RESPONSE_BYTES - 1,
        AD_MANUFACTURER,
        MANUFACTURER_COMPANY_ID,
        MANUFACTURER_MARKER,
        PROTOCOL_VERSION,
        board_id,
        segment,
        fw_major,
        fw_minor,
        fw_patch,
    )
    return bytes(buf)


def parse_ad_structures(data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
    """Split advertising or scan response data into ``(ad_type, value)`` pairs.

    A zero length byte ends the significant part (the rest is padding).

    Raises
    ------
    ProtocolError
        If a structure runs past the end of the data.
    """
    out: list[tuple[int, bytes]] = []
    n = len(data)
    i = 0
    while i < n:
        length = data[i]
        if length == 0:
            break
        if i + 1 + length > n:
            raise ProtocolError(
                "AD structure at byte %d declares %d bytes but only %d remain"
                % (i, length, n - i - 1)
            )
        out.append((data[i + 1], bytes(data[i + 2 : i + 1 + length])))
        i += 1 + length
    return out


def _ascii(value: bytes, what: str) -> str:
    for b in value:
        if b < 0x20 or b > 0x7E:
            raise ProtocolError("%s contains a non-printable or non-ASCII byte 0x%02x" % (what, b))
    return value.decode()


def parse_advertising(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Identify a coxa board from its advertising data.

    Returns
    -------
    board_id : int
        u16, from the local name.
    segment : int
        ``SEGMENT_*``, from the local name.

    Raises
    ------
    ProtocolError
        If the data is malformed, does not list ``SERVICE_UUID`` or has no valid board name.
    """
    service = uuid_to_le_bytes(SERVICE_UUID)
    has_service = False
    name: "str | None" = None
    for ad_type, value in parse_ad_structures(data):
        if ad_type == AD_COMPLETE_UUID128 or ad_type == AD_INCOMPLETE_UUID128:
            for j in range(0, len(value) - 15, 16):
                if value[j : j + 16] == service:
                    has_service = True
        elif ad_type == AD_COMPLETE_NAME or (ad_type == AD_SHORT_NAME and name is None):
            name = _ascii(value, "local name")
    if not has_service:
        raise ProtocolError("advertising does not list the coxa service UUID")
    if name is None:
        raise ProtocolError("advertising carries no local name")
    return parse_board_name(name)


class ScanResponse:
    """Manufacturer data of a coxa scan response.

    Attributes
    ----------
    protocol_version : int
        Protocol version the board speaks.
    board_id : int
        u16.
    segment : int
        ``SEGMENT_*``.
    fw_major, fw_minor, fw_patch : int
        Firmware version.
    """

    def __init__(
        self,
        protocol_version: int,
        board_id: int,
        segment: int,
        fw_major: int,
        fw_minor: int,
        fw_patch: int,
    ) -> None:
        self.protocol_version = protocol_version
        self.board_id = board_id
        self.segment = segment
        self.fw_major = fw_major
        self.fw_minor = fw_minor
        self.fw_patch = fw_patch

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScanResponse) and (
            self.protocol_version,
            self.board_id,
            self.segment,
            self.fw_major,
            self.fw_minor,
            self.fw_patch,
        ) == (
            other.protocol_version,
            other.board_id,
            other.segment,
            other.fw_major,
            other.fw_minor,
            other.fw_patch,
        )

    def __repr__(self) -> str:
        return "ScanResponse(v%d, board_id=0x%04X, segment=%d, fw=%d.%d.%d)" % (
            self.protocol_version,
            self.board_id,
            self.segment,
            self.fw_major,
            self.fw_minor,
            self.fw_patch,
        )


def parse_manufacturer_data(value: bytes | bytearray | memoryview) -> ScanResponse:
    """Parse the value of a manufacturer-specific AD structure (company id first).

    Bleak reports this as ``{company_id: payload}``; pass
    ``company_id.to_bytes(2, "little") + payload``.

    Raises
    ------
    ProtocolError
        Not coxa manufacturer data (company id or marker), another protocol version
        (:class:`UnsupportedVersionError`), wrong length or an unknown segment.
    """
    n = len(value)
    if n < 5 or value[0] != 0xFF or value[1] != 0xFF or value[2] != 0x63 or value[3] != 0x78:
        raise ProtocolError("manufacturer data is not coxa's (company 0xFFFF, 'cx')")
    if value[4] != PROTOCOL_VERSION:
        raise UnsupportedVersionError(value[4])
    if n != SCAN_RESPONSE_BYTES - 2:
        raise ProtocolError(
            "coxa manufacturer data must be %d bytes, got %d" % (SCAN_RESPONSE_BYTES - 2, n)
        )
    board_id = value[5] | (value[6] << 8)
    segment = value[7]
    if segment > SEGMENT_SHANK_R:
        raise ProtocolError("scan response carries unknown segment %d" % segment)
    return ScanResponse(value[4], board_id, segment, value[8], value[9], value[10])


def parse_scan_response(data: bytes | bytearray | memoryview) -> ScanResponse:
    """Find and parse coxa manufacturer data in scan response (or advertising) data.

    Raises
    ------
    ProtocolError
        Malformed AD structures, no coxa manufacturer data, or an invalid one.
    """
    for ad_type, value in parse_ad_structures(data):
        if ad_type == AD_MANUFACTURER and len(value) >= 4 and value[0:4] == b"\xff\xffcx":
            return parse_manufacturer_data(value)
    raise ProtocolError("scan response carries no coxa manufacturer data")
