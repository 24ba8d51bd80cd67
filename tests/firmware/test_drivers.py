"""IMU drivers (LSM6DSOX / ISM330DHCX, ICM-42688-P) against datasheet register models.

The drivers run on CPython here (the fake bus and models from ``tests/firmware/fakes`` are
loaded by path; the drivers import nothing from ``machine``) and under the MicroPython unix
port (``mp_drivers.py``, ``mp_squat.py``): identity checks, configuration registers, FIFO
round trips (tagged words with odd leftovers, 16-byte packets), overflow, rejected rates,
axis maps, board profiles, a simulated squat end to end, and the heap allocated per
``read_fifo_into`` (target 0 bytes).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.sim import ImuParams, Motion, MotionParams, default_mount, synthesize_imu
from tests.support.micropython import run_micropython

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
FAKES = Path(__file__).resolve().parent / "fakes"
BOARDS = ROOT / "hardware" / "boards"
HERE = Path(__file__).resolve().parent

DEG = math.pi / 180.0
G = 9.80665
# Datasheet sensitivities at the full scales coxa uses (DS12814 table 2, DS-000347 tables 1-2)
ST_GYR_RAD_S_PER_LSB = 0.070 * DEG
ST_ACC_M_S2_PER_LSB = 0.488e-3 * G
ICM_GYR_RAD_S_PER_LSB = DEG / 16.4
ICM_ACC_M_S2_PER_LSB = G / 2048.0

ST_CHIPS = ("lsm6dsox-ga", "lsm6dsox-ag", "ism330dhcx")
CHIPS = (*ST_CHIPS, "icm42688")
CAPACITY = {"lsm6dsox-ga": 256, "lsm6dsox-ag": 256, "ism330dhcx": 256, "icm42688": 128}

Sample = tuple[int, int, int, int, int, int]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Firmware:
    """The modules under test and the fakes, loaded once."""

    machine: Any
    models: Any
    lsm: Any
    icm: Any
    profiles: Any


@pytest.fixture(scope="module")
def fw() -> Iterator[Firmware]:
    sys.path.insert(0, str(FIRMWARE))
    try:
        yield Firmware(
            machine=_load("_coxa_fake_machine", FAKES / "machine.py"),
            models=_load("_coxa_fake_imu_models", FAKES / "imu_models.py"),
            lsm=importlib.import_module("coxa_fw.drivers.lsm6dsox"),
            icm=importlib.import_module("coxa_fw.drivers.icm42688"),
            profiles=importlib.import_module("coxa_fw.profiles"),
        )
    finally:
        sys.path.remove(str(FIRMWARE))


@dataclass
class Rig:
    i2c: Any
    model: Any
    driver: Any


def make_model(fw: Firmware, chip: str) -> Any:
    if chip == "icm42688":
        return fw.models.Icm42688Model()
    name, _, order = chip.partition("-")
    return fw.models.Lsm6dsoxModel(name, order or "ga")


def rig(fw: Firmware, chip: str, rate_hz: int = 200, address: int | None = None) -> Rig:
    fw.machine.reset_all()
    i2c = fw.machine.I2C(0, scl=9, sda=8, freq=400000)
    is_icm = chip == "icm42688"
    if address is None:
        address = 0x68 if is_icm else 0x6A
    model = fw.machine.attach(0, address, make_model(fw, chip))
    cls = fw.icm.ICM42688 if is_icm else fw.lsm.LSM6DSOX
    return Rig(i2c, model, cls(i2c, address, rate_hz, settle_ms=0))


def drain(driver: Any, per_read: int = 16) -> list[Sample]:
    buf = bytearray(12 * 16)
    out: list[Sample] = []
    while n := driver.read_fifo_into(buf, per_read):
        out.extend(struct.iter_unpack("<6h", bytes(buf[: 12 * n])))
    return out


def sample(k: int) -> Sample:
    """Distinct values per sample; gyro and accel tied together so that mispairs show."""
    return (k % 30000, -k, k - 1000, 2 * k + 1, -(k % 30000), 5 - k)


# -- identity -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("chip", "address", "name"),
    [
        ("lsm6dsox-ga", 0x6A, "LSM6DSOX"),
        ("lsm6dsox-ga", 0x6B, "LSM6DSOX"),
        ("ism330dhcx", 0x6A, "ISM330DHCX"),
        ("icm42688", 0x68, "ICM-42688-P"),
        ("icm42688", 0x69, "ICM-42688-P"),
    ],
)
def test_identity_accepts_the_right_chip(fw: Firmware, chip: str, address: int, name: str) -> None:
    r = rig(fw, chip, address=address)
    assert r.driver.chip == name
    assert r.driver.address == address


def test_wrong_chip_raises_value_error_naming_it(fw: Firmware) -> None:
    fw.machine.reset_all()
    i2c = fw.machine.I2C(0)
    icm = fw.machine.attach(0, 0x6A, fw.models.Icm42688Model())
    lsm = fw.machine.attach(0, 0x68, fw.models.Lsm6dsoxModel())
    with pytest.raises(ValueError, match=r"0x6A.*ICM-42688-P"):
        fw.lsm.LSM6DSOX(i2c, 0x6A)
    with pytest.raises(ValueError, match=r"0x68.*LSM6DSOX"):
        fw.icm.ICM42688(i2c, 0x68)
    assert icm.writes == [], "a foreign chip must not be written to"
    assert lsm.writes == [], "a foreign chip must not be written to"
    fw.machine.attach(0, 0x6B, fw.models.UnknownChip(0x12))
    with pytest.raises(ValueError, match=r"0x12, found an unknown chip"):
        fw.lsm.LSM6DSOX(i2c, 0x6B)
    with pytest.raises(ValueError, match=r"0x12, found an unknown chip"):
        fw.icm.ICM42688(i2c, 0x6B)


@pytest.mark.parametrize("cls_name", ["lsm", "icm"])
def test_absent_chip_raises_oserror(fw: Firmware, cls_name: str) -> None:
    fw.machine.reset_all()
    i2c = fw.machine.I2C(0)
    cls = fw.lsm.LSM6DSOX if cls_name == "lsm" else fw.icm.ICM42688
    with pytest.raises(OSError, match="0x6B") as info:
        cls(i2c, 0x6B)
    assert info.value.errno == 19


def test_bus_errors_propagate(fw: Firmware) -> None:
    r = rig(fw, "lsm6dsox-ga")
    fw.machine.inject_fault(0, 1, 110)
    with pytest.raises(OSError, match="injected") as info:
        r.driver.read_fifo_into(bytearray(12), 1)
    assert info.value.errno == 110


# -- configuration ----------------------------------------------------------------------------
ST_RATES = [(25, 26.0), (50, 52.0), (100, 104.0), (200, 208.0), (400, 416.0), (800, 833.0)]
ICM_RATES = [(25, 25.0), (50, 50.0), (100, 100.0), (200, 200.0), (500, 500.0), (1000, 1000.0)]


@pytest.mark.parametrize(
    ("chip", "rate", "odr"),
    [(c, r, o) for c in ("lsm6dsox-ga", "ism330dhcx") for r, o in ST_RATES]
    + [("icm42688", r, o) for r, o in ICM_RATES],
)
def test_configuration_matches_datasheet_requirements(
    fw: Firmware, chip: str, rate: int, odr: float
) -> None:
    r = rig(fw, chip, rate)
    assert r.model.problems(odr) == []
    assert r.model.odr_hz() == odr
    assert r.driver.odr_hz == pytest.approx(odr, rel=0.002)


def test_rates_attribute_lists_the_accepted_rates(fw: Firmware) -> None:
    st_rates, icm_rates = fw.lsm.LSM6DSOX.RATES_HZ, fw.icm.ICM42688.RATES_HZ
    assert st_rates == tuple(r for r, _ in ST_RATES)
    assert icm_rates == tuple(r for r, _ in ICM_RATES)


def test_st_registers_at_200_hz(fw: Firmware) -> None:
    regs = rig(fw, "lsm6dsox-ga").model.regs
    assert regs[0x12] == 0x44  # CTRL3_C: BDU | IF_INC
    assert regs[0x11] == 0x5C  # CTRL2_G: 208 Hz, +-2000 dps
    assert regs[0x10] == 0x56  # CTRL1_XL: 208 Hz, +-16 g, LPF2 (ODR/4 with HPCF_XL = 0)
    assert regs[0x17] == 0x00  # CTRL8_XL
    assert regs[0x09] == 0x55  # FIFO_CTRL3: BDR_GY = BDR_XL = 208 Hz
    assert regs[0x0A] == 0x06  # FIFO_CTRL4: continuous


def test_icm_registers_at_200_hz(fw: Firmware) -> None:
    model = rig(fw, "icm42688").model
    b0, b1, b2 = model.banks[0], model.banks[1], model.banks[2]
    assert b0[0x4F] == 0x07
    assert b0[0x50] == 0x07
    assert b0[0x52] == 0x33  # UI filters: max(400, ODR)/8 = 50 Hz
    assert b0[0x16] == 0x40  # FIFO stream mode
    assert b0[0x5F] & 0x13 == 0x03  # accel + gyro, 16-bit packets
    assert b0[0x4E] == 0x0F  # gyro + accel low-noise
    assert (b1[0x0C], b1[0x0D], b1[0x0E] >> 4) == (6, 36, 10)  # gyro AAF 258 Hz
    assert (b2[0x03] >> 1, b2[0x04], b2[0x05] >> 4) == (6, 36, 10)  # accel AAF 258 Hz
    assert model.bank == 0


def test_st_odr_uses_internal_freq_fine(fw: Firmware) -> None:
    fw.machine.reset_all()
    i2c = fw.machine.I2C(0)
    fw.machine.attach(0, 0x6A, fw.models.Lsm6dsoxModel(freq_fine=-10))
    driver = fw.lsm.LSM6DSOX(i2c, 0x6A, 200, settle_ms=0)
    assert driver.odr_hz == pytest.approx(6667.0 * (1 - 0.015) / 32)


def test_scale_attributes_are_the_datasheet_sensitivities(fw: Firmware) -> None:
    assert fw.lsm.LSM6DSOX.gyr_rad_s_per_lsb == pytest.approx(ST_GYR_RAD_S_PER_LSB, rel=1e-12)
    assert fw.lsm.LSM6DSOX.acc_m_s2_per_lsb == pytest.approx(ST_ACC_M_S2_PER_LSB, rel=1e-12)
    assert fw.icm.ICM42688.gyr_rad_s_per_lsb == pytest.approx(ICM_GYR_RAD_S_PER_LSB, rel=1e-12)
    assert fw.icm.ICM42688.acc_m_s2_per_lsb == pytest.approx(ICM_ACC_M_S2_PER_LSB, rel=1e-12)


@pytest.mark.parametrize(
    ("cls_name", "rate"), [("lsm", 300), ("lsm", 0), ("icm", 400), ("icm", 800)]
)
def test_unsupported_rates_are_rejected_before_bus_traffic(
    fw: Firmware, cls_name: str, rate: int
) -> None:
    fw.machine.reset_all()
    i2c = fw.machine.I2C(0)
    fw.machine.attach(0, 0x6A, fw.models.Lsm6dsoxModel())
    fw.machine.attach(0, 0x68, fw.models.Icm42688Model())
    cls, address = (fw.lsm.LSM6DSOX, 0x6A) if cls_name == "lsm" else (fw.icm.ICM42688, 0x68)
    with pytest.raises(ValueError, match="unsupported rate"):
        cls(i2c, address, rate)
    assert i2c.transfers == 0


@pytest.mark.parametrize("chip", CHIPS)
def test_init_recovers_from_a_previous_run(fw: Firmware, chip: str) -> None:
    fw.machine.reset_all()
    i2c = fw.machine.I2C(0)
    address = 0x68 if chip == "icm42688" else 0x6A
    model = fw.machine.attach(0, address, make_model(fw, chip))
    model.dirty()
    cls = fw.icm.ICM42688 if chip == "icm42688" else fw.lsm.LSM6DSOX
    driver = cls(i2c, address, 200, settle_ms=0)
    assert model.problems(model.odr_hz()) == []
    assert driver.fifo_samples() == 0
    for k in range(3):
        model.push_sample(*sample(k))
    assert drain(driver) == [sample(k) for k in range(3)]


def test_icm_model_enforces_the_soft_reset_wait(fw: Firmware) -> None:
    fw.machine.reset_all()
    i2c = fw.machine.I2C(0)
    fw.machine.attach(0, 0x68, fw.models.Icm42688Model(clock_us=lambda: 0))
    with pytest.raises(OSError, match="ENODEV"):  # the chip does not answer during reset
        fw.icm.ICM42688(i2c, 0x68, 200, settle_ms=0)


# -- FIFO -------------------------------------------------------------------------------------
int16 = st.integers(-32768, 32767)


@settings(max_examples=40, deadline=None)
@given(
    chip=st.sampled_from(CHIPS),
    samples=st.lists(st.tuples(int16, int16, int16, int16, int16, int16), min_size=1, max_size=120),
    per_read=st.integers(1, 40),
)
def test_fifo_returns_exactly_the_pushed_samples(
    fw: Firmware, chip: str, samples: list[Sample], per_read: int
) -> None:
    r = rig(fw, chip)
    for s in samples:
        r.model.push_sample(*s)
    assert r.driver.fifo_samples() == len(samples)
    assert drain(r.driver, per_read) == samples
    assert (r.driver.overflows, r.driver.dropped) == (0, 0)


@pytest.mark.parametrize("chip", ST_CHIPS)
def test_st_odd_leftover_is_kept_for_the_next_read(fw: Firmware, chip: str) -> None:
    r = rig(fw, chip)
    for k in range(3):
        r.model.push_sample(*sample(k), hold_second=(k == 2))
    assert r.model.words_in_fifo == 5
    assert r.driver.fifo_samples() == 2
    assert drain(r.driver, 1) == [sample(0), sample(1)]
    assert r.driver.fifo_samples() == 0
    r.model.release()
    assert r.driver.fifo_samples() == 1
    assert drain(r.driver) == [sample(2)]
    assert r.driver.dropped == 0


@pytest.mark.parametrize("chip", ST_CHIPS)
def test_st_realigns_when_an_overflow_ate_the_partner_word(fw: Firmware, chip: str) -> None:
    r = rig(fw, chip)
    r.model.push_sample(*sample(0), hold_second=True)
    assert drain(r.driver) == []  # one word read and held
    for k in range(1, 301):
        r.model.push_sample(*sample(k))  # releases the partner first, then overflows
    got = drain(r.driver)
    assert r.driver.overflows == 1
    assert r.driver.dropped == 1
    assert got == [sample(k) for k in range(301 - len(got), 301)]
    assert len(got) >= CAPACITY[chip] - 1


@pytest.mark.parametrize("chip", ST_CHIPS)
def test_st_pairs_by_time_slot_when_an_overflow_split_a_slot(fw: Firmware, chip: str) -> None:
    r = rig(fw, chip)
    for k in range(256):
        r.model.push_sample(*sample(k))  # FIFO exactly full
    r.model.push_sample(*sample(256), hold_second=True)  # overwrites the first word of slot 0
    got = drain(r.driver)
    assert got == [sample(k) for k in range(1, 256)]  # the orphan of slot 0 is not paired
    assert (r.driver.overflows, r.driver.dropped) == (1, 1)
    r.model.release()
    assert drain(r.driver) == [sample(256)]


@pytest.mark.parametrize("chip", CHIPS)
def test_overflow_is_counted_and_the_newest_samples_kept(fw: Firmware, chip: str) -> None:
    r = rig(fw, chip)
    capacity = CAPACITY[chip]
    for k in range(capacity + 50):
        r.model.push_sample(*sample(k))
    assert drain(r.driver, 7) == [sample(k) for k in range(50, capacity + 50)]
    assert r.driver.overflows == 1
    for k in range(10):
        r.model.push_sample(*sample(1000 + k))
    assert drain(r.driver) == [sample(1000 + k) for k in range(10)]
    assert r.driver.overflows == 1


@pytest.mark.parametrize("chip", CHIPS)
def test_no_overflow_below_capacity(fw: Firmware, chip: str) -> None:
    r = rig(fw, chip)
    for k in range(CAPACITY[chip] - 2):
        r.model.push_sample(*sample(k))
    assert len(drain(r.driver)) == CAPACITY[chip] - 2
    assert r.driver.overflows == 0


def test_icm_resynchronises_on_a_foreign_packet(fw: Firmware) -> None:
    r = rig(fw, "icm42688")
    r.model.push_sample(*sample(0))
    r.model.banks[0][0x5F] = 0x01  # accel-only packets (8 bytes) from now on
    r.model.push_sample(*sample(1))
    r.model.banks[0][0x5F] = 0x03
    assert drain(r.driver) == [sample(0)]
    assert r.driver.dropped == 1
    r.model.push_sample(*sample(2))
    assert drain(r.driver) == [sample(2)]


@pytest.mark.parametrize("chip", CHIPS)
def test_read_respects_buffer_and_max_samples(fw: Firmware, chip: str) -> None:
    r = rig(fw, chip)
    for k in range(20):
        r.model.push_sample(*sample(k))
    small = bytearray(12 * 3)
    assert r.driver.read_fifo_into(small, 10) == 3
    assert r.driver.read_fifo_into(bytearray(12 * 16), 2) == 2
    assert r.driver.read_fifo_into(bytearray(12 * 16), 0) == 0
    assert len(drain(r.driver)) == 15


@pytest.mark.parametrize(("chip", "celsius"), [("lsm6dsox-ga", 31.25), ("icm42688", 37.0)])
def test_temperature(fw: Firmware, chip: str, celsius: float) -> None:
    r = rig(fw, chip)
    r.model.set_temperature_c(celsius)
    assert r.driver.temperature_c() == pytest.approx(celsius, abs=1 / 132.0)


# -- register models (the models themselves behave per datasheet) ----------------------------
def test_st_model_fifo_output_rolls_over_and_status_latch_clears(fw: Firmware) -> None:
    r = rig(fw, "lsm6dsox-ga")
    for k in range(2):
        r.model.push_sample(*sample(k))
    words = bytearray(14)
    r.i2c.readfrom_mem_into(0x6A, 0x78, words)  # two words in one burst: 0x7E rolls to 0x78
    assert words[0] >> 3 == 1
    assert words[7] >> 3 == 2
    assert (words[0] >> 1) & 3 == (words[7] >> 1) & 3  # same time slot, same TAG_CNT
    assert struct.unpack_from("<3h", words, 1) == sample(0)[:3]
    for k in range(300):
        r.model.push_sample(*sample(k))
    status = r.i2c.readfrom_mem(0x6A, 0x3A, 2)
    assert status[1] & 0x08
    assert (status[0] | (status[1] & 3) << 8) == 512
    assert not r.i2c.readfrom_mem(0x6A, 0x3B, 1)[0] & 0x08  # FIFO_OVR_LATCHED cleared by read


def test_icm_model_partial_packet_is_read_again(fw: Firmware) -> None:
    r = rig(fw, "icm42688")
    r.model.push_sample(*sample(7))
    first = r.i2c.readfrom_mem(0x68, 0x30, 8)
    whole = r.i2c.readfrom_mem(0x68, 0x30, 16)
    assert whole[:8] == first
    assert whole[0] == 0x68
    assert struct.unpack(">3h", whole[7:13]) == sample(7)[:3]
    assert r.i2c.readfrom_mem(0x68, 0x30, 1) == b"\xff"  # empty


def test_icm_model_counts_bytes_or_records_in_either_endianness(fw: Firmware) -> None:
    r = rig(fw, "icm42688")
    for k in range(20):
        r.model.push_sample(*sample(k))
    for intf0, want in ((0x70, b"\x00\x14"), (0x30, b"\x01\x40"), (0x10, b"\x40\x01")):
        r.i2c.writeto_mem(0x68, 0x4C, bytes([intf0]))
        assert r.i2c.readfrom_mem(0x68, 0x2E, 2) == want


def test_models_flag_bad_configurations(fw: Firmware) -> None:
    r = rig(fw, "lsm6dsox-ga")
    r.i2c.writeto_mem(0x6A, 0x11, b"\x54")  # +-500 dps
    r.i2c.writeto_mem(0x6A, 0x0F, b"\x00")  # WHO_AM_I is read-only
    problems = " | ".join(r.model.problems())
    assert "+-2000 dps" in problems
    assert "read-only" in problems
    r = rig(fw, "icm42688")
    r.i2c.writeto_mem(0x68, 0x52, b"\x11")  # UI filter BW 100 Hz at 200 Hz ODR
    r.i2c.writeto_mem(0x68, 0x76, b"\x01")
    problems = " | ".join(r.model.problems())
    assert "Nyquist" in problems
    assert "bank 1" in problems


# -- axis maps and profiles -------------------------------------------------------------------
def _rotations() -> list[list[list[int]]]:
    out: list[list[list[int]]] = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3), dtype=int)
            for i in range(3):
                m[i, perm[i]] = -1 if signs[i] else 1
            if round(np.linalg.det(m)) == 1:
                out.append(m.tolist())
    return out


ROTATIONS = _rotations()


def test_there_are_24_axis_rotations() -> None:
    assert len(ROTATIONS) == 24


@settings(max_examples=60, deadline=None)
@given(
    matrix=st.sampled_from(ROTATIONS),
    samples=st.lists(st.tuples(int16, int16, int16, int16, int16, int16), min_size=1, max_size=8),
)
def test_axis_map_applies_the_matrix_in_place(
    fw: Firmware, matrix: list[list[int]], samples: list[Sample]
) -> None:
    code = fw.profiles.axis_map(matrix)
    buf = bytearray(b"".join(struct.pack("<6h", *s) for s in samples))
    fw.profiles.apply_axis_map_into(buf, len(samples), code)
    raw = np.array(samples, dtype=np.int64).reshape(-1, 2, 3)
    want = np.clip(np.einsum("ij,ntj->nti", np.array(matrix), raw), -32768, 32767)
    assert list(struct.iter_unpack("<6h", bytes(buf))) == [tuple(r) for r in want.reshape(-1, 6)]


@pytest.mark.parametrize(
    "matrix",
    [
        [[1, 0, 0], [0, 1, 0], [0, 0, -1]],  # reflection
        [[1, 0, 0], [1, 0, 0], [0, 0, 1]],  # not a permutation
        [[2, 0, 0], [0, 1, 0], [0, 0, 1]],
        [[1, 1, 0], [0, 1, 0], [0, 0, 1]],
        [[1, 0, 0], [0, 1, 0]],
        [[1, 0], [0, 1], [0, 0]],
    ],
)
def test_axis_map_rejects_non_rotations(fw: Firmware, matrix: list[list[int]]) -> None:
    with pytest.raises(ValueError, match="board_from_sensor"):
        fw.profiles.axis_map(matrix)


def test_board_files_equal_profiles(fw: Firmware) -> None:
    files = {p.stem: json.loads(p.read_text()) for p in sorted(BOARDS.glob("*.json"))}
    assert set(files) == set(fw.profiles.PROFILES)
    for name, data in files.items():
        assert data == fw.profiles.PROFILES[name], name
        assert data["name"] == name


@pytest.mark.parametrize("name", sorted(p.stem for p in BOARDS.glob("*.json")))
def test_profile_is_usable(fw: Firmware, name: str) -> None:
    profile = fw.profiles.get_profile(name)
    imu = profile["imu"]
    fw.profiles.axis_map(imu["board_from_sensor"])
    chip = {"lsm6dsox": "lsm6dsox-ga", "ism330dhcx": "ism330dhcx", "icm42688": "icm42688"}
    fw.machine.reset_all()
    i2c = fw.machine.I2C(profile["i2c"]["bus"], freq=profile["i2c"]["freq"])
    model = fw.machine.attach(
        profile["i2c"]["bus"], imu["address"], make_model(fw, chip[imu["type"]])
    )
    driver = fw.profiles.open_imu(i2c, profile, 200)
    assert model.problems(model.odr_hz()) == []
    assert driver.address == imu["address"]
    board = profile["battery"]
    if board is not None:
        assert board["divider_ratio"] >= 1.0


def test_profile_axes_turn_sensor_into_board_axes(fw: Firmware) -> None:
    profile = fw.profiles.get_profile("coxa-s3-icm42688")
    code = fw.profiles.axis_map(profile["imu"]["board_from_sensor"])
    buf = bytearray(struct.pack("<6h", 10, 20, 30, 0, 2048, 0))  # 1 g along sensor +Y
    fw.profiles.apply_axis_map_into(buf, 1, code)
    assert struct.unpack("<6h", buf) == (20, -10, 30, 2048, 0, 0)  # board +X


def test_unknown_profile(fw: Firmware) -> None:
    with pytest.raises(ValueError, match="coxa-s3-lsm6dsox"):
        fw.profiles.get_profile("nope")


# -- MicroPython ------------------------------------------------------------------------------
def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(FAKES), str(FIRMWARE)])
    return env


def _run(script: Path, runtime: str, args: list[str]) -> str:
    if runtime == "micropython":
        return run_micropython(script, FAKES, FIRMWARE, args=args, timeout=60)
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env=_python_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.micropython
@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_driver_checks_script(runtime: str) -> None:
    out = _run(HERE / "mp_drivers.py", runtime, [])
    assert not [line for line in out.splitlines() if line.startswith("FAIL ")], out
    assert out.strip().splitlines()[-1] == "CHECKS 8 FAILED 0", out
    if runtime == "micropython":
        allocs = [line for line in out.splitlines() if line.startswith("ALLOC")]
        assert len(allocs) == 11
        assert all(" bytes=0 " in line for line in allocs), allocs


@pytest.fixture(scope="module")
def squat_counts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    motion = Motion(MotionParams(exercise="squat", reps=2))
    rec = synthesize_imu(motion, default_mount("femur_r"), ImuParams(rate_hz=200.0), seed=3)
    folder = tmp_path_factory.mktemp("squat")
    paths = []
    for name, g_lsb, a_lsb in (
        ("st", ST_GYR_RAD_S_PER_LSB, ST_ACC_M_S2_PER_LSB),
        ("icm", ICM_GYR_RAD_S_PER_LSB, ICM_ACC_M_S2_PER_LSB),
    ):
        counts = np.concatenate([rec.gyr_rad_s / g_lsb, rec.acc_m_s2 / a_lsb], axis=1)
        assert np.abs(counts).max() < 32767
        path = folder / f"{name}.bin"
        np.rint(counts).astype("<i2").tofile(path)
        paths.append(path)
    return paths[0], paths[1], rec


@pytest.mark.micropython
@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_simulated_squat_through_model_and_driver(
    runtime: str, squat_counts: tuple[Path, Path, Any], tmp_path: Path
) -> None:
    st_path, icm_path, rec = squat_counts
    out = _run(HERE / "mp_squat.py", runtime, [str(st_path), str(icm_path), str(tmp_path)])
    summaries = {s["chip"]: s for s in map(json.loads, out.strip().splitlines())}
    assert set(summaries) == set(CHIPS)
    si = np.concatenate([rec.gyr_rad_s, rec.acc_m_s2], axis=1)
    for chip, s in summaries.items():
        sent = np.fromfile(icm_path if chip == "icm42688" else st_path, dtype="<i2")
        got = np.fromfile(tmp_path / f"{chip}.bin", dtype="<i2")
        assert (s["problems"], s["overflows"], s["dropped"]) == ([], 0, 0), s
        assert s["samples"] == len(si)
        np.testing.assert_array_equal(got, sent)
        scale = np.repeat([s["gyr_rad_s_per_lsb"], s["acc_m_s2_per_lsb"]], 3)
        error_lsb = np.abs(got.reshape(-1, 6) * scale - si) / scale
        assert error_lsb.max() <= 0.5 + 1e-6, (chip, error_lsb.max())
        if chip != "icm42688":
            assert s["odd_reads"] > 0  # the stream did leave half-written slots
