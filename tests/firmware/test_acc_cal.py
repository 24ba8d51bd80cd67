"""Accelerometer calibration on the board (``firmware/coxa_fw/acc_cal.py``), both runtimes.

* the fit, from rest means: seeded draws of the offset (up to 40 mg per axis) at 6-10 rest
  attitudes with sensor noise (within 2 mg of the truth), with scale errors (offset and
  scale model), refusals (rests in one plane, lopsided rests, a bad rest, an implausible
  offset) that keep the calibration in use, the slot policy;
* the per-sample collection (``AccCal.add``): the delay before a rest's end, the minimum
  length, the cap;
* the whole board path (``mp_acc_cal.py``: the real ``App`` with sampler and AHRS on a virtual
  clock) on CPython and on the MicroPython unix port: simulated calibration sessions (board
  put still on its faces, moved between them) with seeded offsets; a one-plane session is
  refused with the reason in the log; the MicroPython run gives the same calibration and the
  same quaternions as CPython;
* persistence: round trip (Hypothesis), corrupt or implausible files (no calibration,
  logged, never raises), the atomic write;
* applied: the sampler's SI floats and wire integers carry ``k (a - b)``; on a simulated squat
  set the AHRS inclination error of a biased board with and without the calibration it
  learnt; MicroPython heap per sample with the calibration applied, and flat over the run.
"""

from __future__ import annotations

import ast
import importlib
import json
import math
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation

from coxa import wire
from coxa.sim import ImuParams, Motion, MotionParams, default_mount, synthesize_imu
from tests.firmware.app_sim import (
    FIRMWARE,
    HERE,
    MP_PATH,
    FirmwareEnv,
    StandInImu,
    firmware_env,
    inclination_error_deg,
)
from tests.protocol.test_protocol_dialect import dialect_violations
from tests.support.micropython import micropython_env, micropython_executable, run_micropython

G = 9.80665
MG = G / 1000.0  # m/s^2 per mg
RATE_HZ = 200
ACC_LSB = wire.ACC_M_S2_PER_LSB
GYR_LSB = wire.GYR_RAD_S_PER_LSB
ACC_NOISE_SD = 75e-6 * G * math.sqrt(RATE_HZ / 2.0)  # 75 ug/sqrt(Hz), per sample
GYR_NOISE_SD = math.radians(3.8e-3) * math.sqrt(RATE_HZ / 2.0)  # 3.8 mdps/sqrt(Hz)
FACES = np.array(
    [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)], dtype=np.float64
)
RESULT = re.compile(r"^RESULT (\{.*\})$", re.MULTILINE)
HEAP = re.compile(r"^HEAP (\{.*\})$", re.MULTILINE)
FloatArray = NDArray[np.float64]


@pytest.fixture(scope="module")
def fw_env() -> Iterator[FirmwareEnv]:
    yield from firmware_env()


@pytest.fixture(scope="module")
def acc_cal(fw_env: FirmwareEnv) -> Any:
    return fw_env.module("coxa_fw.acc_cal")


@pytest.fixture(scope="module")
def harness(fw_env: FirmwareEnv) -> Any:
    return fw_env.module("mp_acc_cal")


# ------------------------------------------------------------------------------------------
# simulated boards
# ------------------------------------------------------------------------------------------


def unit(v: FloatArray) -> FloatArray:
    return v / np.linalg.norm(v)


def tilted(rng: np.random.Generator, u: FloatArray, max_deg: float) -> FloatArray:
    """``u`` turned about a random axis by up to ``max_deg``."""
    axis = unit(rng.standard_normal(3))
    return Rotation.from_rotvec(axis * math.radians(rng.uniform(0.0, max_deg))).apply(u)


def rest_directions(rng: np.random.Generator, n: int, face_tilt_deg: float = 5.0) -> FloatArray:
    """Gravity's direction in the board frame at ``n`` rests (6..10): the six faces (each
    within ``face_tilt_deg``: a table and a case are not perfect), then edges tilted about
    45 deg between two faces of different axes (a board leant against something)."""
    dirs = [tilted(rng, f, face_tilt_deg) for f in FACES]
    while len(dirs) < n:
        a, b = rng.choice(6, size=2, replace=False)
        if a // 2 == b // 2:
            continue
        edge = unit(FACES[a] + FACES[b])
        if all(float(np.dot(edge, d)) < math.cos(math.radians(30.0)) for d in dirs):
            dirs.append(tilted(rng, edge, 10.0))
    return np.array(dirs)


def draw_offset(rng: np.random.Generator, max_mg: float = 40.0) -> FloatArray:
    return rng.uniform(-max_mg, max_mg, 3) * MG


def rest_means(
    rng: np.random.Generator,
    dirs: FloatArray,
    offset_m_s2: FloatArray,
    sens: FloatArray | None = None,
    samples: int = 300,
) -> FloatArray:
    """Mean accelerometer reading of each rest: ``sens * g u + b`` plus the mean of
    ``samples`` noise draws."""
    s = np.ones(3) if sens is None else sens
    noise = rng.standard_normal(dirs.shape) * ACC_NOISE_SD / math.sqrt(samples)
    return G * dirs * s + offset_m_s2 + noise


def session_counts(
    rng: np.random.Generator,
    dirs: FloatArray,
    offset_m_s2: FloatArray,
    sens: FloatArray | None = None,
    hold_s: float = 3.5,
    move_s: float = 1.5,
    gyr_bias_dps: float = 0.3,
) -> NDArray[np.int64]:
    """Raw counts (board axes, wire scales) of a calibration session: the board still for
    ``hold_s`` with gravity along each of ``dirs`` in turn (random heading), turned between
    them in ``move_s`` (minimum-jerk angle about the fixed relative axis) and at the end back
    to the first attitude (picked up: the last rest ends), sensor reading
    ``sens * f + b`` with white noise (75 ug/sqrt(Hz), 3.8 mdps/sqrt(Hz)) and a gyro bias.
    """
    s = np.ones(3) if sens is None else sens
    rots: list[Rotation] = []
    for u in dirs:
        # sensor-to-world rotation whose inverse maps world up to u
        align, _ = Rotation.align_vectors([[0.0, 0.0, 1.0]], [u])
        heading = Rotation.from_rotvec([0.0, 0.0, rng.uniform(-math.pi, math.pi)])
        rots.append(heading * align)
    n_hold = int(hold_s * RATE_HZ)
    n_move = int(move_s * RATE_HZ)
    gyr: list[FloatArray] = []
    acc: list[FloatArray] = []
    up = np.array([0.0, 0.0, G])
    for i, r in enumerate(rots):
        gyr.append(np.zeros((n_hold, 3)))
        acc.append(np.tile(r.inv().apply(up), (n_hold, 1)))
        rel = (r.inv() * rots[(i + 1) % len(rots)]).as_rotvec()  # body frame
        angle = float(np.linalg.norm(rel))
        axis = rel / angle
        x = (np.arange(n_move) + 1.0) / n_move
        theta = angle * (10 * x**3 - 15 * x**4 + 6 * x**5)
        rate = angle * (30 * x**2 - 60 * x**3 + 30 * x**4) / move_s
        rt = r * Rotation.from_rotvec(np.outer(theta, axis))
        gyr.append(np.outer(rate, axis))
        acc.append(rt.inv().apply(up))
    g_all = np.concatenate(gyr)
    a_all = np.concatenate(acc)
    g_all = g_all + math.radians(gyr_bias_dps) + rng.standard_normal(g_all.shape) * GYR_NOISE_SD
    a_all = a_all * s + offset_m_s2 + rng.standard_normal(a_all.shape) * ACC_NOISE_SD
    raw = np.concatenate([np.rint(g_all / GYR_LSB), np.rint(a_all / ACC_LSB)], axis=1)
    return np.clip(raw, -32767, 32767).astype(np.int64)


def write_counts(path: Path, counts: NDArray[np.int64]) -> Path:
    path.write_bytes(counts.astype("<i2").tobytes())
    return path


def fit_means(acc_cal: Any, means: FloatArray, logs: list[str] | None = None) -> Any:
    cal = acc_cal.AccCal(None, log=None if logs is None else logs.append)
    for m in means:
        cal.add_rest(float(m[0]), float(m[1]), float(m[2]))
        cal.process()
    return cal


def err_mg(cal: Any, offset_m_s2: FloatArray) -> float:
    return float(np.max(np.abs(np.array(cal.offset_m_s2) - offset_m_s2))) / MG


# ------------------------------------------------------------------------------------------
# the fit, from rest means
# ------------------------------------------------------------------------------------------


def test_fit_recovers_the_offset_over_seeded_draws(acc_cal: Any) -> None:
    """Offsets up to 40 mg per axis, 6-10 rests, noise: within 2 mg (measured max printed)."""
    rng = np.random.default_rng(2024)
    worst = 0.0
    models: dict[int, int] = {3: 0, 6: 0}
    for k in range(400):
        b = draw_offset(rng)
        dirs = rest_directions(rng, 6 + k % 5)
        cal = fit_means(acc_cal, rest_means(rng, dirs, b))
        assert cal.valid, (k, cal.reason)
        models[cal.fit_model] += 1  # the last fit (an unchanged result is not taken)
        worst = max(worst, err_mg(cal, b))
    print(f"\nfit from rest means, 400 draws: max offset error {worst:.3f} mg; models {models}")
    assert worst < 2.0
    assert models[3] > 0
    assert models[6] > 0


def test_scale_errors_need_the_scale_model(acc_cal: Any) -> None:
    """With sensitivity errors up to 1 % the offset model alone can be off by several mg;
    with 8+ well-spread rests the offset and scale model gets both right."""
    rng = np.random.default_rng(77)
    worst_b = 0.0
    worst_k = 0.0
    for k in range(200):
        b = draw_offset(rng)
        sens = 1.0 + rng.uniform(-0.01, 0.01, 3)
        dirs = rest_directions(rng, 8 + k % 3)
        cal = fit_means(acc_cal, rest_means(rng, dirs, b, sens))
        assert cal.valid, (k, cal.reason)
        assert cal.model == 6, k
        worst_b = max(worst_b, err_mg(cal, b))
        worst_k = max(worst_k, float(np.max(np.abs(np.array(cal.scale) * sens - 1.0))))
    print(f"\noffset+scale model, 200 draws: offset {worst_b:.3f} mg, scale {worst_k:.2e}")
    assert worst_b < 2.0
    assert worst_k < 3e-4


def test_offset_model_is_guarded_against_scale_errors(acc_cal: Any) -> None:
    """Six rests with 1 % scale errors: accepted fits stay within the leverage bound
    (LEVERAGE_MAX_MG = 5 mg plus noise); lopsided ones are refused."""
    rng = np.random.default_rng(5)
    refused = 0
    worst = 0.0
    for _ in range(300):
        b = draw_offset(rng)
        sens = 1.0 + rng.choice([-0.01, 0.01], 3)
        dirs = rest_directions(rng, 6, face_tilt_deg=15.0)
        cal = fit_means(acc_cal, rest_means(rng, dirs, b, sens))
        if cal.valid:
            worst = max(worst, err_mg(cal, b))
        else:
            refused += 1
            assert cal.reason in (acc_cal.LEVERAGE, acc_cal.RESIDUAL)
    print(f"\noffset model, 1 % scale errors: max error {worst:.2f} mg, {refused}/300 refused")
    assert worst < acc_cal.LEVERAGE_MAX_MG + 0.5
    # lopsided: three faces and their edges only (the positive octant)
    pos = np.array([unit(np.array(v, dtype=np.float64)) for v in FACES[::2].tolist()])
    edges = np.array([unit(pos[0] + pos[1]), unit(pos[1] + pos[2]), unit(pos[0] + pos[2])])
    logs: list[str] = []
    cal = fit_means(acc_cal, rest_means(rng, np.concatenate([pos, edges]), draw_offset(rng)), logs)
    assert not cal.valid
    assert cal.reason == acc_cal.LEVERAGE
    assert any("lopsided" in line for line in logs), logs


def test_rests_in_one_plane_are_refused_with_the_reason_logged(acc_cal: Any) -> None:
    rng = np.random.default_rng(3)
    b = draw_offset(rng)
    angles = np.radians(np.arange(0.0, 360.0, 30.0))  # rotations about board X only
    dirs = np.stack([np.zeros_like(angles), np.cos(angles), np.sin(angles)], 1)
    logs: list[str] = []
    cal = fit_means(acc_cal, rest_means(rng, dirs, b), logs)
    assert cal.slots == 12
    assert not cal.valid
    assert cal.reason == acc_cal.SPREAD
    assert cal.spread < 0.01  # the offset lifts the rests off the plane by up to 4 mg/g
    refusals = [line for line in logs if "not fitted" in line]
    assert len(refusals) == 1, logs  # logged once, not at every rest
    assert "span too few directions" in refusals[0]


def test_refusals_keep_the_calibration_in_use(acc_cal: Any) -> None:
    rng = np.random.default_rng(11)
    b = draw_offset(rng)
    dirs = rest_directions(rng, 6)
    means = rest_means(rng, dirs, b)
    logs: list[str] = []
    cal = fit_means(acc_cal, means, logs)
    assert cal.valid
    assert cal.accepted == 1
    kept = np.array(cal.offset_m_s2)
    assert any("acc cal: accepted offset" in line for line in logs)
    # a bad rest (an accelerating platform: 60 mg along gravity) far from the others
    bad = G * unit(np.array([1.0, 1.0, 1.0])) + b + 60 * MG * unit(np.array([1.0, 1.0, 1.0]))
    cal.add_rest(*bad.tolist())
    assert not cal.process()
    assert cal.reason == acc_cal.RESIDUAL
    assert cal.fit_residual_m_s2 / MG > acc_cal.RESIDUAL_MAX_MG
    assert cal.valid
    assert np.array_equal(np.array(cal.offset_m_s2), kept)
    assert "residual" in logs[-1]
    # an implausible offset (200 mg) is refused as such
    logs2: list[str] = []
    big = unit(np.array([2.0, -1.0, 1.0])) * 200.0 * MG
    cal2 = fit_means(acc_cal, rest_means(rng, dirs, big), logs2)
    assert not cal2.valid
    assert cal2.reason == acc_cal.OFFSET
    assert "implausible" in logs2[-1]


def test_small_changes_are_not_taken(acc_cal: Any) -> None:
    """The same attitudes again (put down a degree differently, new noise): the fits pass but
    move the offset by less than CHANGE_MIN_MG: nothing applied, written or logged; the very
    same attitude (not moved) does not even refit."""
    rng = np.random.default_rng(13)
    b = draw_offset(rng)
    dirs = rest_directions(rng, 7)
    logs: list[str] = []
    cal = fit_means(acc_cal, rest_means(rng, dirs, b), logs)
    assert cal.accepted == 1
    n_logs = len(logs)
    kept = list(cal.offset_m_s2)
    fits = cal.fits
    for m in rest_means(rng, np.array([tilted(rng, d, 1.0) for d in dirs]), b):
        cal.add_rest(*m.tolist())
        assert not cal.process()
        assert cal.reason == acc_cal.UNCHANGED
    assert cal.fits == fits + len(dirs)
    slot0 = np.array([cal._sx[0], cal._sy[0], cal._sz[0]])
    cal.add_rest(*(slot0 + 0.05 * MG).tolist())  # not moved: within REFRESH_MIN_MG
    assert not cal.process()
    assert cal.fits == fits + len(dirs)
    assert cal.rests_same == 1
    assert cal.accepted == 1
    assert len(logs) == n_logs
    assert list(cal.offset_m_s2) == kept
    # a real change (the offset moved by 3 mg, e.g. with temperature) is taken
    for m in rest_means(rng, dirs, b + 3.0 * MG):
        cal.add_rest(*m.tolist())
        cal.process()
    assert cal.accepted >= 2
    assert err_mg(cal, b + 3.0 * MG) < 0.5


def test_slots_refresh_replace_and_stay_spread(acc_cal: Any) -> None:
    rng = np.random.default_rng(8)
    cal = acc_cal.AccCal(None)
    # the same attitude within 25 deg refreshes its slot
    for _ in range(5):
        cal.add_rest(*(G * tilted(rng, FACES[4], 10.0)).tolist())
    assert cal.slots == 1
    newest = G * tilted(rng, FACES[4], 5.0) + 0.05
    cal.add_rest(*newest.tolist())
    assert cal.slots == 1
    assert (cal._sx[0], cal._sy[0], cal._sz[0]) == pytest.approx(tuple(newest), rel=1e-6)
    # 40 random attitudes: never more than 12 slots, and the set stays spread out
    for _ in range(40):
        cal.add_rest(*(G * unit(rng.standard_normal(3))).tolist())
        cal.process()
    assert cal.slots == acc_cal.SLOTS
    u = np.array([[cal._sx[i], cal._sy[i], cal._sz[i]] for i in range(cal.slots)])
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    cos = u @ u.T - 2.0 * np.eye(len(u))
    assert float(np.degrees(np.arccos(np.max(cos)))) > 15.0
    # full: a new direction replaces one of the two closest slots
    full = acc_cal.AccCal(None)
    base = [unit(np.array(v, dtype=np.float64)) for v in FACES.tolist()]
    base += [unit(np.array(v)) for v in ([1.0, 1.0, 1.0], [-1.0, -1.0, 1.0], [1.0, -1.0, -1.0])]
    base += [unit(np.array(v)) for v in ([-1.0, 1.0, -1.0], [1.0, -1.0, 1.0])]
    axis = unit(np.cross(base[-1], [0.0, 0.0, 1.0]))
    near = Rotation.from_rotvec(axis * math.radians(27.0)).apply(base[-1])  # 27 deg away
    for d in [*base, near]:
        full.add_rest(*(G * d).tolist())
    assert full.slots == acc_cal.SLOTS
    far = unit(np.array([-1.0, 1.0, 1.0]))
    full.add_rest(*(G * far).tolist())
    held = np.array([[full._sx[i], full._sy[i], full._sz[i]] for i in range(full.slots)]) / G
    assert np.min(np.linalg.norm(held - far, axis=1)) < 1e-6  # the new one is in
    close_pair_left = [np.min(np.linalg.norm(held - v, axis=1)) < 1e-6 for v in (base[-1], near)]
    assert close_pair_left.count(True) == 1  # one of the pair made room
    # a rest whose |a| no calibration can explain is ignored
    before = cal.rests_ignored
    cal.add_rest(0.0, 0.0, 1.3 * G)
    assert cal.rests_ignored == before + 1


def test_spread_criteria_match_numpy(acc_cal: Any) -> None:
    """The smallest eigenvalue of the direction scatter (closed form) and the offset+scale
    model's test (Cholesky of the information matrix minus SPREAD_SCALE_MIN) against numpy's
    eigenvalues, on known sets and 300 random ones."""
    cal = fit_means(acc_cal, G * FACES + 0.001)
    assert cal.spread == pytest.approx(1.0 / 3.0, abs=1e-5)
    extra = np.array([unit(np.array([1.0, 0.0, 1.0])), unit(np.array([0.0, 1.0, 1.0]))])
    cal = fit_means(acc_cal, G * np.concatenate([FACES, extra]))
    assert cal.spread == pytest.approx(0.25, abs=1e-5)
    assert cal.fit_model == 6  # its scale-model eigenvalue is 0.25
    rng = np.random.default_rng(1)
    decided = {3: 0, 6: 0, 0: 0}
    for k in range(300):
        n = 6 + k % 7
        if k % 3 == 0:  # faces on one side only: the scale model must be refused
            dirs = np.array([tilted(rng, f, 40.0) for f in FACES[[0, 2, 4, 1, 3]]])
            dirs = np.concatenate([dirs, [unit(rng.standard_normal(3) + 1.0) for _ in range(n)]])
        else:
            dirs = np.array([unit(rng.standard_normal(3)) for _ in range(n)])
        cal = fit_means(acc_cal, G * dirs)
        u = np.array([[cal._sx[i], cal._sy[i], cal._sz[i]] for i in range(cal.slots)])
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        if cal.slots < acc_cal.MIN_RESTS:
            continue
        s3 = np.linalg.eigvalsh(u.T @ u / len(u))[0]
        assert cal.spread == pytest.approx(s3, abs=1e-5)
        if s3 < acc_cal.SPREAD_MIN:
            assert cal.fit_model == 0
            decided[0] += 1
            continue
        j = np.hstack([u, u**2])
        s6 = np.linalg.eigvalsh(j.T @ j / len(u))[0]
        if abs(s6 - acc_cal.SPREAD_SCALE_MIN) < 1e-4:
            continue
        scale_ok = cal.slots >= acc_cal.MIN_RESTS_SCALE and s6 > acc_cal.SPREAD_SCALE_MIN
        assert cal.fit_model == (6 if scale_ok else 3), (k, s6, cal.slots)
        decided[cal.fit_model] += 1
    print(f"\nspread decisions (refused / offset / offset+scale): {decided}")
    assert min(decided.values()) > 10


def test_module_dialect() -> None:
    """MicroPython dialect (the wire module's rules) and hardware-free imports only."""
    source = (FIRMWARE / "coxa_fw" / "acc_cal.py").read_text(encoding="utf-8")
    problems = [p for p in dialect_violations(source) if "import" not in p]
    imports: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.add(node.module)
    allowed = {"array", "math", "micropython", "os", "struct", "wire"}
    assert not problems, problems
    assert imports <= allowed, imports - allowed


# ------------------------------------------------------------------------------------------
# per-sample collection
# ------------------------------------------------------------------------------------------


def feed(cal: Any, flags: int, value: tuple[int, int, int], n: int) -> None:
    for _ in range(n):
        cal.add(flags, value[0], value[1], value[2])


def test_collection_drops_the_end_of_a_rest_and_needs_a_minimum(acc_cal: Any) -> None:
    cal = acc_cal.AccCal(None)
    cal.start(RATE_HZ, ACC_LSB, ACC_LSB, ACC_LSB)
    v = (10, -20, 2048)
    feed(cal, 0, (0, 0, 0), 100)  # moving: nothing
    assert not cal._ready
    feed(cal, wire.SAMPLE_AT_REST, v, 300)  # 1.5 s still
    # the last 0.4 s are a motion onset under the rest thresholds
    feed(cal, wire.SAMPLE_AT_REST, (300, 300, 2300), 80)
    feed(cal, 0, (0, 0, 0), 1)
    assert cal._ready
    cal.process()
    assert cal.slots == 1
    assert (cal._sx[0], cal._sy[0], cal._sz[0]) == pytest.approx(
        (10 * ACC_LSB, -20 * ACC_LSB, 2048 * ACC_LSB), rel=1e-6
    )
    # too short: 0.9 s of rest = 0.4 s after the delay, under the 0.5 s minimum
    cal.start(RATE_HZ, ACC_LSB, ACC_LSB, ACC_LSB)
    feed(cal, wire.SAMPLE_AT_REST, (2048, 0, 0), 180)
    feed(cal, 0, (0, 0, 0), 1)
    assert not cal._ready
    # samples flagged clipped or FILTER_RESET end a rest too
    for flag in (wire.SAMPLE_ACC_CLIPPED, wire.SAMPLE_FILTER_RESET):
        cal.process()
        feed(cal, wire.SAMPLE_AT_REST, (2048, 0, 0), 300)
        assert not cal._ready
        feed(cal, wire.SAMPLE_AT_REST | flag, (2048, 0, 0), 1)
        assert cal._ready


def test_collection_caps_a_long_rest(acc_cal: Any) -> None:
    cal = acc_cal.AccCal(None)
    cal.start(RATE_HZ, ACC_LSB, ACC_LSB, ACC_LSB)
    handed = 0
    for _ in range(int(60 * RATE_HZ)):  # a minute on the table: one rest
        cal.add(wire.SAMPLE_AT_REST, 0, 0, 2048)
        if cal._ready:
            handed += 1
            cal.process()
    assert handed == 1
    assert cal._rn == int(acc_cal.CAP_S * RATE_HZ)


# ------------------------------------------------------------------------------------------
# the board path: App + sampler + AHRS + AccCal, CPython and MicroPython
# ------------------------------------------------------------------------------------------


def run_board(
    harness: Any, fw_env: FirmwareEnv, counts: Path, cal: Path | None, quat: Path | None, load: bool
) -> dict[str, Any]:
    out: dict[str, Any] = harness.run(
        fw_env.ftime,
        str(counts),
        None if cal is None else str(cal),
        None if quat is None else str(quat),
        load,
    )
    return out


def run_board_mp(
    counts: Path, cal: Path | None, quat: Path | None, load: bool, timeout: float = 120.0
) -> dict[str, Any]:
    args = ["run", str(counts), "-" if cal is None else str(cal)]
    args += ["-" if quat is None else str(quat), "1" if load else "0"]
    out = run_micropython(HERE / "mp_acc_cal.py", *MP_PATH, args=args, timeout=timeout)
    m = RESULT.search(out)
    assert m is not None, out
    result: dict[str, Any] = json.loads(m.group(1))
    return result


def read_quats(path: Path) -> tuple[FloatArray, NDArray[np.uint8]]:
    rec = np.frombuffer(path.read_bytes(), dtype=np.dtype([("q", "<f4", 4), ("f", "u1")]))
    return rec["q"].astype(np.float64), rec["f"]


def test_board_learns_its_offset_over_seeded_draws(
    harness: Any, fw_env: FirmwareEnv, tmp_path: Path
) -> None:
    """Simulated sessions through the whole board path (CPython): faces (and edges), moved
    between, noise and gyro bias; offsets up to 40 mg per axis: within 2 mg."""
    rng = np.random.default_rng(99)
    worst = 0.0
    for k in range(16):
        b = draw_offset(rng)
        sens = None if k % 2 == 0 else 1.0 + rng.uniform(-0.01, 0.01, 3)
        n = 6 + k % 5 if sens is None else 8 + k % 3
        counts = write_counts(
            tmp_path / "c.bin", session_counts(rng, rest_directions(rng, n), b, sens)
        )
        cal_file = tmp_path / f"cal{k}.bin"
        out = run_board(harness, fw_env, counts, cal_file, None, False)
        assert out["imu_errors"] == 0
        assert out["valid"], (k, out)
        assert out["slots"] == n, out
        e = float(np.max(np.abs(np.array(out["offset_m_s2"]) - b))) / MG
        worst = max(worst, e)
        assert cal_file.exists()
        assert any(line.startswith("acc cal: accepted offset") for line in out["log"])
    print(f"\nboard path (CPython), 16 sessions: max offset error {worst:.3f} mg")
    assert worst < 2.0


@pytest.mark.micropython
def test_board_path_on_micropython_matches_cpython(
    harness: Any, fw_env: FirmwareEnv, tmp_path: Path
) -> None:
    rng = np.random.default_rng(4)
    b = draw_offset(rng)
    sens = 1.0 + rng.uniform(-0.008, 0.008, 3)
    counts = write_counts(tmp_path / "c.bin", session_counts(rng, rest_directions(rng, 9), b, sens))
    py = run_board(harness, fw_env, counts, tmp_path / "py.bin", tmp_path / "py.q", False)
    mp = run_board_mp(counts, tmp_path / "mp.bin", tmp_path / "mp.q", False)
    assert py["valid"]
    assert mp["valid"]
    assert mp["model"] == py["model"] == 6
    assert mp["slots"] == py["slots"]
    assert mp["offset_m_s2"] == pytest.approx(py["offset_m_s2"], abs=1e-9)
    assert mp["scale"] == pytest.approx(py["scale"], abs=1e-9)
    assert mp["log"] == py["log"]
    e = float(np.max(np.abs(np.array(mp["offset_m_s2"]) - b))) / MG
    print(f"\nMicroPython board path: offset error {e:.3f} mg; log: {mp['log'][-1]}")
    assert e < 2.0
    q_py, f_py = read_quats(tmp_path / "py.q")
    q_mp, f_mp = read_quats(tmp_path / "mp.q")
    assert np.array_equal(q_py, q_mp)
    assert np.array_equal(f_py, f_mp)
    # the file the board wrote is the one CPython wrote, and loads on both runtimes
    assert (tmp_path / "mp.bin").read_bytes() == (tmp_path / "py.bin").read_bytes()
    loaded = run_micropython(
        HERE / "mp_acc_cal.py", *MP_PATH, args=["load", str(tmp_path / "py.bin")]
    )
    m = RESULT.search(loaded)
    assert m is not None
    assert json.loads(m.group(1))["offset_m_s2"] == pytest.approx(mp["offset_m_s2"], abs=1e-6)


def one_plane_counts(rng: np.random.Generator) -> NDArray[np.int64]:
    angles = np.radians(np.arange(0.0, 360.0, 45.0))  # rotations about board Y only
    dirs = np.stack([np.cos(angles), np.zeros_like(angles), np.sin(angles)], 1)
    return session_counts(rng, dirs, draw_offset(rng))


def test_board_refuses_one_plane_and_logs_why(
    harness: Any, fw_env: FirmwareEnv, tmp_path: Path
) -> None:
    counts = write_counts(tmp_path / "c.bin", one_plane_counts(np.random.default_rng(6)))
    cal_file = tmp_path / "cal.bin"
    out = run_board(harness, fw_env, counts, cal_file, None, False)
    assert out["slots"] == 8
    assert not out["valid"]
    assert not cal_file.exists()
    refusals = [line for line in out["log"] if "not fitted" in line]
    assert len(refusals) == 1, out["log"]
    assert "span too few directions" in refusals[0]
    print("\n" + refusals[0])


@pytest.mark.micropython
def test_board_refuses_one_plane_on_micropython(tmp_path: Path) -> None:
    counts = write_counts(tmp_path / "c.bin", one_plane_counts(np.random.default_rng(6)))
    cal_file = tmp_path / "cal.bin"
    out = run_board_mp(counts, cal_file, None, False)
    assert not out["valid"]
    assert not cal_file.exists()
    assert any("span too few directions" in line for line in out["log"]), out["log"]


# ------------------------------------------------------------------------------------------
# persistence
# ------------------------------------------------------------------------------------------


def accepted_cal(acc_cal: Any, path: Path, logs: list[str] | None = None) -> Any:
    rng = np.random.default_rng(12)
    b = draw_offset(rng)
    cal = acc_cal.AccCal(str(path), log=None if logs is None else logs.append)
    for m in rest_means(rng, rest_directions(rng, 9), b, 1.0 + rng.uniform(-0.01, 0.01, 3)):
        cal.add_rest(*m.tolist())
        cal.process()
    assert cal.valid
    return cal


def test_file_round_trip(acc_cal: Any, tmp_path: Path) -> None:
    path = tmp_path / "acc_cal.bin"
    cal = accepted_cal(acc_cal, path)
    assert path.stat().st_size == acc_cal.FILE_BYTES
    assert not (tmp_path / "acc_cal.bin.tmp").exists()
    logs: list[str] = []
    again = acc_cal.AccCal(str(path), log=logs.append)
    assert again.load()
    assert list(again.offset_m_s2) == list(cal.offset_m_s2)
    assert list(again.scale) == list(cal.scale)
    assert (again.model, again.rests_used) == (cal.model, cal.rests_used)
    assert again.residual_m_s2 == pytest.approx(cal.residual_m_s2, rel=1e-6)
    assert logs
    assert logs[0].startswith("acc cal: loaded offset (")
    assert " mg, scale (" in logs[0]


@settings(max_examples=60, deadline=None)
@given(
    b=st.lists(st.floats(-0.8, 0.8), min_size=3, max_size=3),
    k=st.lists(st.floats(0.96, 1.04), min_size=3, max_size=3),
    model=st.sampled_from([3, 6]),
    rests=st.integers(0, 300),
)
def test_file_round_trip_any_values(
    acc_cal: Any,
    tmp_path_factory: pytest.TempPathFactory,
    b: list[float],
    k: list[float],
    model: int,
    rests: int,
) -> None:
    path = tmp_path_factory.mktemp("rt") / "c.bin"
    cal = acc_cal.AccCal(str(path))
    for i in range(3):
        cal.offset_m_s2[i] = b[i]
        cal.scale[i] = k[i]
    cal.valid = True
    cal.model = model
    cal.rests_used = rests
    cal.save()
    again = acc_cal.AccCal(str(path))
    assert again.load()
    assert list(again.offset_m_s2) == list(cal.offset_m_s2)
    assert list(again.scale) == list(cal.scale)
    assert again.rests_used == min(rests, 255)


def test_missing_and_corrupt_files_mean_no_calibration(acc_cal: Any, tmp_path: Path) -> None:
    path = tmp_path / "acc_cal.bin"
    logs: list[str] = []
    cal = acc_cal.AccCal(str(path), log=logs.append)
    assert not cal.load()
    assert not cal.valid
    assert cal.load_error is None
    assert logs[-1].startswith("acc cal: none (no file")
    good = accepted_cal(acc_cal, path)
    data = path.read_bytes()

    def crc_fixed(b: bytearray) -> bytes:
        struct.pack_into("<H", b, 36, wire.crc16_ccitt_false(b, 0xFFFF, 36))
        return bytes(b)

    implausible_offset = bytearray(data)
    struct.pack_into("<f", implausible_offset, 8, 1.6)  # 163 mg on X
    implausible_scale = bytearray(data)
    struct.pack_into("<f", implausible_scale, 20, 1.07)
    nan = bytearray(data)
    struct.pack_into("<f", nan, 12, float("nan"))
    bad_model = bytearray(data)
    bad_model[4] = 5
    cases = {
        "length": data[:20],
        "length ": data + b"\x00",
        "bad magic": b"XXXX" + data[4:],
        "bad CRC": data[:10] + bytes([data[10] ^ 0x01]) + data[11:],
        "implausible offset": crc_fixed(implausible_offset),
        "implausible scale": crc_fixed(implausible_scale),
        "implausible offset ": crc_fixed(nan),
        "unknown model": crc_fixed(bad_model),
        "length  ": b"",
    }
    for why, blob in cases.items():
        path.write_bytes(blob)
        logs.clear()
        cal = acc_cal.AccCal(str(path), log=logs.append)
        cal.valid = True  # load() must clear it
        assert not cal.load(), why
        assert not cal.valid
        assert list(cal.offset_m_s2) == [0.0, 0.0, 0.0]
        assert list(cal.scale) == [1.0, 1.0, 1.0]
        assert cal.load_error is not None, why
        assert cal.load_error.startswith(why.strip()), why
        assert "ignored" in logs[-1]
        assert "no calibration" in logs[-1]
    assert good.valid


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=60))
def test_load_never_raises(
    acc_cal: Any, tmp_path_factory: pytest.TempPathFactory, blob: bytes
) -> None:
    path = tmp_path_factory.mktemp("fz") / "c.bin"
    path.write_bytes(acc_cal.FILE_MAGIC + blob)
    cal = acc_cal.AccCal(str(path))
    assert cal.load() is cal.valid


class _FailingWrite:
    """A file whose write raises after ``keep`` bytes (a power cut or full flash)."""

    def __init__(self, path: str, keep: int) -> None:
        self._f = open(path, "wb")  # noqa: SIM115
        self._keep = keep

    def __enter__(self) -> _FailingWrite:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def write(self, data: bytes) -> int:
        self._f.write(bytes(data)[: self._keep])
        raise OSError(28, "no space left on device")


def test_write_is_atomic(acc_cal: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "acc_cal.bin"
    cal = accepted_cal(acc_cal, path)
    before = path.read_bytes()
    real_open = open

    def failing_open(p: str, mode: str = "r") -> Any:
        if "w" in mode:
            return _FailingWrite(p, 10)
        return real_open(p, mode)

    monkeypatch.setattr(acc_cal, "open", failing_open, raising=False)
    cal.offset_m_s2[0] += 0.01
    with pytest.raises(OSError, match="no space"):
        cal.save()
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old file is untouched
    logs: list[str] = []
    again = acc_cal.AccCal(str(path), log=logs.append)
    assert again.load()  # the truncated .tmp is not looked at while the file exists
    assert (tmp_path / "acc_cal.bin.tmp").stat().st_size == 10

    # an accepted calibration whose save fails: in use, logged as not saved
    logs.clear()
    cal2 = acc_cal.AccCal(str(tmp_path / "missing-dir" / "c.bin"), log=logs.append)
    rng = np.random.default_rng(3)
    for m in rest_means(rng, rest_directions(rng, 6), draw_offset(rng)):
        cal2.add_rest(*m.tolist())
        cal2.process()
    assert cal2.valid
    assert cal2.save_error is not None
    assert "not saved" in logs[-1]


class _FatOs:
    """``os`` of a filesystem whose rename does not replace an existing file (FAT)."""

    def __init__(self, stop_after_remove: bool) -> None:
        import os

        self._os = os
        self._stop = stop_after_remove

    def rename(self, a: str, b: str) -> None:
        if self._os.path.exists(b):
            raise OSError(17, "exists")
        self._os.rename(a, b)

    def remove(self, p: str) -> None:
        self._os.remove(p)
        if self._stop:
            raise KeyboardInterrupt  # the power goes between remove and rename


def test_write_without_replacing_rename(
    acc_cal: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "acc_cal.bin"
    cal = accepted_cal(acc_cal, path)
    monkeypatch.setattr(acc_cal, "os", _FatOs(False))
    cal.offset_m_s2[1] += 0.01
    cal.save()
    assert not (tmp_path / "acc_cal.bin.tmp").exists()
    again = acc_cal.AccCal(str(path))
    assert again.load()
    assert list(again.offset_m_s2) == list(cal.offset_m_s2)
    # power lost between the remove and the rename: load() takes the complete .tmp
    monkeypatch.setattr(acc_cal, "os", _FatOs(True))
    cal.offset_m_s2[2] += 0.01
    with pytest.raises(KeyboardInterrupt):
        cal.save()
    assert not path.exists()
    logs: list[str] = []
    again = acc_cal.AccCal(str(path), log=logs.append)
    assert again.load()
    assert list(again.offset_m_s2) == list(cal.offset_m_s2)
    assert "acc_cal.bin.tmp" in logs[-1]


class _QuietUsb:
    def readinto(self, buf: bytearray) -> int:
        return 0

    def write(self, data: bytes) -> int:
        return len(data)


def make_shell(fw_env: FirmwareEnv, tmp_path: Path, cal_path: Path) -> Any:
    """The board's shell (``coxa_fw.main.Shell``) on the fakes, without an IMU."""
    main = importlib.import_module("coxa_fw.main")
    bluetooth = importlib.import_module("bluetooth")  # the fake (tests/firmware/fakes)
    return main.Shell(
        "coxa-s3-lsm6dsox",
        "thigh_r",
        board_id=0x1A2B,
        log_echo=False,
        ble=bluetooth.BLE(),
        usb_stream=_QuietUsb(),
        secrets_path=str(tmp_path / "secrets.bin"),
        log_path=str(tmp_path / "log.txt"),
        log_old_path=str(tmp_path / "log.1.txt"),
        clock=fw_env.ftime,
        acc_cal_path=str(cal_path),
    )


def test_shell_loads_and_applies_the_file(
    acc_cal: Any, fw_env: FirmwareEnv, tmp_path: Path
) -> None:
    before = set(sys.modules)
    try:
        cal_path = tmp_path / "acc_cal.bin"
        cal = accepted_cal(acc_cal, cal_path)
        shell = make_shell(fw_env, tmp_path, cal_path)
        assert shell.app.acc_cal is shell.acc_cal
        assert shell.acc_cal.valid
        assert shell.app.sampler._cal_b == pytest.approx(list(cal.offset_m_s2))
        assert shell.app.sampler._cal_k == pytest.approx(list(cal.scale))
        log = (tmp_path / "log.txt").read_text()
        assert "acc cal: loaded offset (" in log
        cal_path.write_bytes(b"CXA1" + bytes(34))  # corrupt: bad CRC
        shell = make_shell(fw_env, tmp_path, cal_path)
        assert not shell.acc_cal.valid
        assert shell.app.sampler._cal_b == [0.0, 0.0, 0.0]
        log = (tmp_path / "log.txt").read_text()
        assert "ignored (bad CRC); no calibration" in log
    finally:
        for name in set(sys.modules) - before:
            del sys.modules[name]


@pytest.mark.micropython
def test_files_on_micropython(acc_cal: Any, tmp_path: Path) -> None:
    path = tmp_path / "acc_cal.bin"
    cal = accepted_cal(acc_cal, path)
    out = run_micropython(HERE / "mp_acc_cal.py", *MP_PATH, args=["load", str(path)])
    m = RESULT.search(out)
    assert m is not None, out
    got = json.loads(m.group(1))
    assert got["valid"]
    assert got["offset_m_s2"] == pytest.approx(list(cal.offset_m_s2))
    assert got["log"][0].startswith("acc cal: loaded offset (")
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    out = run_micropython(HERE / "mp_acc_cal.py", *MP_PATH, args=["load", str(path)])
    m = RESULT.search(out)
    assert m is not None, out
    got = json.loads(m.group(1))
    assert not got["valid"]
    assert got["load_error"] == "bad CRC"
    assert "no calibration" in got["log"][0]


# ------------------------------------------------------------------------------------------
# applied
# ------------------------------------------------------------------------------------------

AXIS_MAPS = {
    "identity": None,
    "icm42688 board": [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
    "flipped": [[-1, 0, 0], [0, 1, 0], [0, 0, -1]],
}


@pytest.mark.parametrize("axis_map", list(AXIS_MAPS))
def test_sampler_applies_the_calibration(fw_env: FirmwareEnv, axis_map: str) -> None:
    sampler_mod = fw_env.module("coxa_fw.sampler")
    ftime = fw_env.ftime
    rng = np.random.default_rng(len(axis_map))
    raw = rng.integers(-30000, 30000, size=(64, 6))
    imu = StandInImu(5000.0, sample=lambda j: tuple(int(v) for v in raw[j % 64]))
    # a chip whose LSB differs from the wire's (like the LSM6DSOX's 0.488 mg)
    imu.acc_m_s2_per_lsb = 0.488e-3 * G  # type: ignore[misc]
    ftime.reset(0)
    plain = sampler_mod.Sampler(imu, ftime, 200, axis_map=AXIS_MAPS[axis_map])
    ftime.reset(0)
    imu2 = StandInImu(5000.0, sample=lambda j: tuple(int(v) for v in raw[j % 64]))
    imu2.acc_m_s2_per_lsb = 0.488e-3 * G  # type: ignore[misc]
    calibrated = sampler_mod.Sampler(imu2, ftime, 200, axis_map=AXIS_MAPS[axis_map])
    b = (0.31, -0.77, 1.2)
    k = (1.004, 0.991, 1.012)
    calibrated.set_acc_cal(*b, *k)
    ftime.advance_us(64 * 5000 + 1)
    imu.produce(ftime.now_us())
    imu2.produce(ftime.now_us())
    n = plain.poll()
    assert calibrated.poll() == n > 0
    for i in range(n):
        plain.load(i)
        calibrated.load(i)
        assert calibrated.si[:3] == plain.si[:3]  # gyro untouched, bit for bit
        assert list(calibrated.w[:3]) == list(plain.w[:3])
        assert calibrated.raw == plain.raw
        for a in range(3):
            want = k[a] * (plain.si[3 + a] - b[a])
            # the offset is applied in 1/16 count: off by 1/32 count at most
            step = k[a] * imu.acc_m_s2_per_lsb / 32.0
            assert abs(calibrated.si[3 + a] - want) <= step * (1.0 + 1e-9)
            want_w = want / wire.ACC_M_S2_PER_LSB
            assert abs(calibrated.w[3 + a] - want_w) <= 0.5 + 1e-3  # one rounding
    # the uncalibrated path is exactly the former count * (signed) scale
    for i in range(n):
        plain.load(i)
        for a in range(3):
            assert plain.si[3 + a] == plain.raw[3 + a] * plain.acc_m_s2_per_count[a]
    calibrated.set_acc_cal(0.0, 0.0, 0.0)
    for i in range(n):
        plain.load(i)
        calibrated.load(i)
        assert calibrated.si == plain.si
        assert list(calibrated.w) == list(plain.w)
    with pytest.raises(ValueError, match="out of range"):
        calibrated.set_acc_cal(2.5, 0.0, 0.0)
    with pytest.raises(ValueError, match="out of range"):
        calibrated.set_acc_cal(0.0, 0.0, 0.0, 1.3)
    with pytest.raises(ValueError, match="out of range"):
        calibrated.set_acc_cal(float("nan"), 0.0, 0.0)


def squat_counts(
    offset_m_s2: FloatArray, sens: FloatArray, seed: int
) -> tuple[NDArray[np.int64], FloatArray]:
    """A simulated squat set on the right thigh (board = the simulator's sensor frame) as raw
    counts with the given accelerometer errors plus noise; and the true quaternions."""
    rec = synthesize_imu(
        Motion(MotionParams(exercise="squat", reps=5, seed=seed)),
        default_mount("femur_r"),
        ImuParams.clean(rate_hz=RATE_HZ),
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    gyr = (
        rec.gyr_rad_s + math.radians(0.3) + rng.standard_normal(rec.gyr_rad_s.shape) * GYR_NOISE_SD
    )
    acc = rec.acc_m_s2 * sens + offset_m_s2 + rng.standard_normal(rec.acc_m_s2.shape) * ACC_NOISE_SD
    raw = np.concatenate([np.rint(gyr / GYR_LSB), np.rint(acc / ACC_LSB)], axis=1)
    return np.clip(raw, -32767, 32767).astype(np.int64), rec.quat_world_sensor_wxyz


#: Offset and sensitivity of the board in the inclination test: 20 mg horizontal when the
#: thigh is upright (board Y up: X and Z horizontal) plus a vertical part, 0.5 % scale errors.
BOARD_OFFSET_MG = np.array([14.0, 9.0, -14.0])
BOARD_SENS = np.array([1.004, 0.997, 1.005])
SETTLE_S = 3.0


def inclination_figures(
    run: Callable[[Path, Path | None, Path, bool], dict[str, Any]], tmp_path: Path
) -> dict[str, float]:
    """Learn the calibration from a simulated session, then run a squat set without and
    with it, and the same squat set on an error-free board (the filter's own floor); RMS and
    max inclination error after ``SETTLE_S``."""
    b = BOARD_OFFSET_MG * MG
    rng = np.random.default_rng(21)
    session = write_counts(
        tmp_path / "s.bin", session_counts(rng, rest_directions(rng, 8), b, BOARD_SENS)
    )
    cal_file = tmp_path / "cal.bin"
    learnt = run(session, cal_file, tmp_path / "s.q", False)
    assert learnt["valid"], learnt
    assert learnt["model"] == 6, learnt
    counts, q_true = squat_counts(b, BOARD_SENS, seed=3)
    squat = write_counts(tmp_path / "q.bin", counts)
    ideal = write_counts(tmp_path / "i.bin", squat_counts(np.zeros(3), np.ones(3), seed=3)[0])
    out: dict[str, float] = {
        "offset_err_mg": float(np.max(np.abs(np.array(learnt["offset_m_s2"]) - b))) / MG
    }
    for name, cal in (("without", None), ("with", cal_file), ("ideal", None)):
        res = run(ideal if name == "ideal" else squat, cal, tmp_path / f"{name}.q", True)
        if cal is not None:
            assert res["valid"]
            assert any("loaded offset" in s for s in res["log"])
        q, _ = read_quats(tmp_path / f"{name}.q")
        assert len(q) == len(q_true)
        err = inclination_error_deg(q, q_true)[int(SETTLE_S * RATE_HZ) :]
        out[f"{name}_rms_deg"] = float(np.sqrt(np.mean(err**2)))
        out[f"{name}_max_deg"] = float(np.max(err))
    return out


def test_calibration_removes_the_inclination_error(
    harness: Any, fw_env: FirmwareEnv, tmp_path: Path
) -> None:
    def run(counts: Path, cal: Path | None, quat: Path, load: bool) -> dict[str, Any]:
        return run_board(harness, fw_env, counts, cal, quat, load)

    f = inclination_figures(run, tmp_path)
    print(
        f"\nsquat set, biased board ({np.linalg.norm(BOARD_OFFSET_MG):.0f} mg, 0.5 % scale), "
        f"CPython: inclination error without calibration RMS {f['without_rms_deg']:.2f} deg "
        f"(max {f['without_max_deg']:.2f}); with the learnt calibration (offset error "
        f"{f['offset_err_mg']:.2f} mg) RMS {f['with_rms_deg']:.3f} deg "
        f"(max {f['with_max_deg']:.2f}); error-free board RMS {f['ideal_rms_deg']:.3f} deg "
        f"(max {f['ideal_max_deg']:.2f})"
    )
    assert f["without_rms_deg"] > 0.8
    assert f["with_rms_deg"] < 0.3
    assert f["with_rms_deg"] < f["ideal_rms_deg"] + 0.05


@pytest.mark.micropython
def test_calibration_removes_the_inclination_error_on_micropython(tmp_path: Path) -> None:
    def run(counts: Path, cal: Path | None, quat: Path, load: bool) -> dict[str, Any]:
        return run_board_mp(counts, cal, quat, load)

    f = inclination_figures(run, tmp_path)
    print(
        f"\nMicroPython: inclination RMS without {f['without_rms_deg']:.2f} deg, with "
        f"{f['with_rms_deg']:.3f} deg (offset error {f['offset_err_mg']:.2f} mg), error-free "
        f"board {f['ideal_rms_deg']:.3f} deg"
    )
    assert f["without_rms_deg"] > 0.8
    assert f["with_rms_deg"] < 0.3
    assert f["with_rms_deg"] < f["ideal_rms_deg"] + 0.05


@pytest.mark.micropython
def test_heap_with_the_calibration_applied(acc_cal: Any, tmp_path: Path) -> None:
    """MicroPython heap: ``App.step()`` allocates the six floats per sample it did before
    (rests collected, calibration applied), ``App.calibrate()`` nothing unless it fits, and
    the free heap after collections does not drift over many rests and fits."""
    cal_file = tmp_path / "cal.bin"
    accepted_cal(acc_cal, cal_file)
    rng = np.random.default_rng(31)
    b = draw_offset(rng)
    # session 1 fills all 12 slots; sessions 2 and 3 come back to similar attitudes
    counts = np.concatenate(
        [session_counts(rng, rest_directions(rng, 12), b, hold_s=4.0) for _ in range(3)]
    )
    path = write_counts(tmp_path / "h.bin", counts)
    cmd = [str(micropython_executable()), "-X", "heapsize=448k", str(HERE / "mp_acc_cal.py")]
    proc = subprocess.run(
        [*cmd, "heap", str(path), str(cal_file)],
        capture_output=True,
        text=True,
        timeout=180,
        env=micropython_env(MP_PATH),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = HEAP.search(proc.stdout)
    assert m is not None, proc.stdout
    h = json.loads(m.group(1))
    per_sample = h["step_bytes"] / h["samples"]
    print(
        f"\nMicroPython heap with calibration applied: {per_sample:.1f} B per sample in "
        f"App.step() ({per_sample / h['float_bytes']:.2f} floats of {h['float_bytes']} B) "
        f"over {h['samples']} samples, {h['odd_steps']} steps off 6 floats per sample; "
        f"App.calibrate() {h['calibrate_bytes']} B over {h['calibrate_calls']} calls "
        f"({h['fits']} fits, {h['applied']} applied; the largest {h['calibrate_max_bytes']} B "
        f"and {h['calibrate_max_us']} us on this PC); free heap after collections "
        f"{h['free_min']}..{h['free_max']} B (first {h['free_first']}, last "
        f"{h['free_last']}; over the last two thirds {h['late_min']}..{h['late_max']} B)"
    )
    assert h["imu_errors"] == 0
    assert h["valid"]
    assert h["rests_seen"] >= 25
    assert h["fits"] >= 25
    assert h["odd_steps"] == 0
    assert per_sample == 6 * h["float_bytes"]
    # the fit's fixed buffers and the slots fill with float objects once: bounded by them
    fixed = 3 * acc_cal.SLOTS + 27 + 36 + 42 + 6 + 6
    assert h["free_first"] - h["free_min"] <= fixed * h["float_bytes"] + 512
    # then nothing accumulates over two more sessions of rests and fits
    assert h["late_max"] - h["late_min"] <= 64
