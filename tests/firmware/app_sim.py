"""CPython side of the app tests: simulated IMU counts with truth, the firmware environment,
and decoding of what the rig's host received (``mp_app_rig.Rig.write_records``)."""

from __future__ import annotations

import importlib.util
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from coxa import wire
from coxa.geometry import quat_conjugate, quat_multiply, quat_rotate
from coxa.sim import ImuParams, Motion, MotionParams, default_mount, synthesize_imu

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FAKES = HERE / "fakes"
FIRMWARE = ROOT / "firmware"
WIRE_DIR = ROOT / "host" / "coxa"
MP_PATH = (FAKES, FIRMWARE, WIRE_DIR, HERE)
"""MICROPYPATH entries (after ``.frozen``) for the app scripts."""

REC_RX, REC_TX, REC_LOST = 1, 2, 3

# Driver scales, as in coxa_fw/drivers (checked against the classes in test_app_e2e.py).
CHIP_SCALES: dict[str, tuple[float, float]] = {
    "lsm6dsox": (0.070 * np.pi / 180.0, 0.488e-3 * 9.80665),
    "ism330dhcx": (0.070 * np.pi / 180.0, 0.488e-3 * 9.80665),
    "icm42688": (np.pi / 180.0 / 16.4, 9.80665 / 2048.0),
}

_FIRMWARE_MODULES = (
    "coxa_fw",
    "coxa_fw.app",
    "coxa_fw.fifo",
    "coxa_fw.framer",
    "coxa_fw.sampler",
    "coxa_fw.usb",
    "coxa_fw.ahrs",
    "coxa_fw.profiles",
    "coxa_fw.drivers",
    "coxa_fw.drivers.lsm6dsox",
    "coxa_fw.drivers.icm42688",
    "mp_app_rig",
    "mp_app_e2e",
    "machine",
    "imu_models",
)


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class FirmwareEnv:
    """Firmware importable on CPython: ``firmware/`` and the fakes on ``sys.path``,
    ``coxa.wire`` as ``wire``, the fake ``time`` module loaded as ``ftime``."""

    ftime: Any
    modules: dict[str, ModuleType] = field(default_factory=dict)

    def module(self, name: str) -> Any:
        if name not in self.modules:
            self.modules[name] = importlib.import_module(name)
        return self.modules[name]


def firmware_env() -> Iterator[FirmwareEnv]:
    """Body of the ``fw_env`` fixture of the app test modules (module scope)::

    @pytest.fixture(scope="module")
    def fw_env() -> Iterator[FirmwareEnv]:
        yield from firmware_env()
    """
    with pytest.MonkeyPatch.context() as mp:
        for name in _FIRMWARE_MODULES:
            mp.delitem(sys.modules, name, raising=False)
        mp.syspath_prepend(str(HERE))
        mp.syspath_prepend(str(FAKES))
        mp.syspath_prepend(str(FIRMWARE))
        mp.setitem(sys.modules, "wire", wire)
        ftime = load_module("coxa_fake_time", FAKES / "time.py")
        yield FirmwareEnv(ftime)
        for name in _FIRMWARE_MODULES:
            sys.modules.pop(name, None)
        sys.modules.pop("coxa_fake_time", None)


def lsm6dsox_odr_hz(rate_hz: int, freq_fine: int = 0) -> float:
    """The LSM6DSOX driver's ``odr_hz`` (nominal ODR corrected by INTERNAL_FREQ_FINE)."""
    codes = {25: 2, 50: 3, 100: 4, 200: 5, 400: 6, 800: 7}
    return 6667.0 * (1.0 + 0.0015 * freq_fine) / (1 << (10 - codes[rate_hz]))


@dataclass(frozen=True)
class SquatCounts:
    """Raw IMU counts (sensor axes) of a simulated squat set with the truth per sample."""

    counts: bytes
    quat_world_board_wxyz: NDArray[np.float64]
    gyr_board_rad_s: NDArray[np.float64]
    acc_board_m_s2: NDArray[np.float64]
    board_counts: NDArray[np.int64]  # counts mapped to board axes (what the firmware sees)
    rate_hz: float

    @property
    def n(self) -> int:
        return len(self.counts) // 12


def make_squat_counts(
    chip: str,
    board_from_sensor: list[list[int]],
    rate_true_hz: float,
    reps: int = 3,
    seed: int = 7,
    clean: bool = True,
) -> SquatCounts:
    """A squat set on the right thigh as the chip's raw counts (sensor axes).

    The simulator's sensor frame is the board frame; the chip sits on the board as
    ``board_from_sensor`` says, so chip counts are ``M^T`` times the board vector.
    """
    motion = Motion(MotionParams(exercise="squat", reps=reps))
    params = ImuParams.clean(rate_hz=rate_true_hz) if clean else ImuParams(rate_hz=rate_true_hz)
    rec = synthesize_imu(motion, default_mount("femur_r"), params, seed=seed)
    m = np.asarray(board_from_sensor, dtype=np.float64)
    gyr_s = rec.gyr_rad_s @ m  # row vectors: sensor = board @ M (M orthogonal)
    acc_s = rec.acc_m_s2 @ m
    g_lsb, a_lsb = CHIP_SCALES[chip]
    raw = np.concatenate([np.rint(gyr_s / g_lsb), np.rint(acc_s / a_lsb)], axis=1)
    raw = np.clip(raw, -32768, 32767).astype(np.int64)
    board = np.concatenate(
        [raw[:, :3] @ m.T.astype(np.int64), raw[:, 3:] @ m.T.astype(np.int64)], 1
    )
    return SquatCounts(
        counts=raw.astype("<i2").tobytes(),
        quat_world_board_wxyz=rec.quat_world_sensor_wxyz,
        gyr_board_rad_s=rec.gyr_rad_s,
        acc_board_m_s2=rec.acc_m_s2,
        board_counts=board,
        rate_hz=rate_true_hz,
    )


@dataclass(frozen=True)
class Record:
    kind: int
    link: int
    t_us: int
    data: bytes


def read_records(path: Path) -> list[Record]:
    blob = path.read_bytes()
    out: list[Record] = []
    o = 0
    while o < len(blob):
        kind, link, t_us, n = struct.unpack_from("<BBQH", blob, o)
        o += 12
        out.append(Record(kind, link, t_us, blob[o : o + n]))
        o += n
    return out


@dataclass
class Samples:
    """Samples the host received, keyed by unwrapped sequence number."""

    t_us: dict[int, int] = field(default_factory=dict)
    quat: dict[int, list[float]] = field(default_factory=dict)
    gyr: dict[int, list[int]] = field(default_factory=dict)
    acc: dict[int, list[int]] = field(default_factory=dict)
    flags: dict[int, int] = field(default_factory=dict)
    live: set[int] = field(default_factory=set)
    backfill: set[int] = field(default_factory=set)
    frames: list[wire.DataFrame] = field(default_factory=list)
    duplicates: int = 0


def decode_samples(records: list[Record], first_seq: int) -> Samples:
    """Decode every received data frame; sequence numbers unwrapped near ``first_seq``."""
    out = Samples()
    prev: int | None = first_seq
    for rec in records:
        if rec.kind != REC_RX or rec.data[1] not in (wire.KIND_DATA_LIVE, wire.KIND_DATA_BACKFILL):
            continue
        fr = wire.decode_data_frame(rec.data)
        out.frames.append(fr)
        seq0 = wire.unwrap_u32(prev, fr.seq0)
        for i in range(fr.count):
            s = seq0 + i
            if s in out.t_us:
                out.duplicates += 1
            out.t_us[s] = fr.sample_t_us(i)
            out.quat[s] = fr.quat_wxyz(i)
            out.gyr[s] = fr.gyr_raw[3 * i : 3 * i + 3]
            if fr.acc_raw is not None:
                out.acc[s] = fr.acc_raw[3 * i : 3 * i + 3]
            out.flags[s] = fr.flags[i]
            (out.backfill if fr.is_backfill else out.live).add(s)
    return out


def inclination_error_deg(q_est: NDArray[np.float64], q_true: NDArray[np.float64]) -> NDArray:
    """Angle between the estimated and true world-up directions in the sensor frame."""
    up = np.array([0.0, 0.0, 1.0])
    a = quat_rotate(quat_conjugate(q_est), up)
    b = quat_rotate(quat_conjugate(q_true), up)
    c = np.clip(np.sum(a * b, axis=1), -1.0, 1.0)
    return np.degrees(np.arccos(c))


def relative_rotation_error_deg(
    q_est: NDArray[np.float64], q_true: NDArray[np.float64], i0: int = 0
) -> NDArray:
    """Angle between the rotations since sample ``i0``, estimated vs true (removes heading)."""
    rel_est = quat_multiply(quat_conjugate(q_est[i0]), q_est)
    rel_true = quat_multiply(quat_conjugate(q_true[i0]), q_true)
    d = quat_multiply(quat_conjugate(rel_est), rel_true)
    w = np.clip(np.abs(d[:, 0]), 0.0, 1.0)
    return np.degrees(2.0 * np.arccos(w))


class StandInImu:
    """A minimal IMU driver for unit tests: a hardware FIFO of at most ``depth`` samples that
    :meth:`produce` fills at the true period (virtual microseconds), oldest overwritten.

    Scales equal the wire's, so wire integers equal raw counts. ``fail = True`` makes every
    call raise ``OSError(5)``.
    """

    gyr_rad_s_per_lsb = wire.GYR_RAD_S_PER_LSB
    acc_m_s2_per_lsb = wire.ACC_M_S2_PER_LSB

    def __init__(
        self,
        period_us: float,
        t0_us: int = 0,
        depth: int = 128,
        sample: Any = None,
        odr_hz: float | None = None,
    ) -> None:
        self.period_us = period_us
        self.t0_us = t0_us
        self.depth = depth
        self.sample = sample if sample is not None else (lambda j: (0, 0, 0, 0, 0, 2048))
        if odr_hz is not None:
            self.odr_hz = odr_hz
        self.queue: list[tuple[int, ...]] = []
        self.produced = 0
        self.overwritten = 0
        self.fail = False
        self.reads = 0
        self.delivered: list[int] = []  # recording index of every sample read

    def time_of(self, j: int) -> int:
        """Virtual time (us) at which sample ``j`` is produced."""
        return self.t0_us + int(j * self.period_us)

    def produce(self, now_us: int) -> None:
        while self.time_of(self.produced) <= now_us:
            self.queue.append((self.produced, *self.sample(self.produced)))
            self.produced += 1
            if len(self.queue) > self.depth:
                self.queue.pop(0)
                self.overwritten += 1

    def fifo_samples(self) -> int:
        if self.fail:
            raise OSError(5, "bus error")
        return len(self.queue)

    def read_fifo_into(self, buf: bytearray, max_samples: int) -> int:
        if self.fail:
            raise OSError(5, "bus error")
        self.reads += 1
        n = min(max_samples, len(self.queue), len(buf) // 12)
        for i in range(n):
            struct.pack_into("<hhhhhh", buf, 12 * i, *self.queue[i][1:])
            self.delivered.append(self.queue[i][0])
        del self.queue[:n]
        return n

    def temperature_c(self) -> float:
        if self.fail:
            raise OSError(5, "bus error")
        return 31.25
