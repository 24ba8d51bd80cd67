"""End to end: a simulated squat set through the IMU register model, the real driver, the real
AHRS and the app, on a virtual clock, out through a BLE-like link or the USB serial link,
decoded on the host with ``coxa.wire`` and compared with the simulator's truth.

Each scenario runs twice, on CPython (in this process) and on the MicroPython unix port
(``mp_app_e2e.py``), and both outputs pass the same checks:

* sequence numbers contiguous (through the u32 wrap: the board starts 1000 samples and 5 s of
  device time before 2**32), no duplicates;
* after a dropout the host's BACKFILL returns exactly the samples live frames missed;
* orientation: inclination error and rotation since the first sample (which removes the
  arbitrary initial heading) against the truth;
* sample times on the board clock against the true production times of the samples (the IMU
  runs off its nominal rate), frame periods, TIME_PING acks;
* status frames (IMU_ERROR during bus faults and cleared after the recovery).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coxa import wire
from tests.firmware.app_sim import (
    HERE,
    MP_PATH,
    REC_RX,
    REC_TX,
    FirmwareEnv,
    Record,
    SquatCounts,
    decode_samples,
    firmware_env,
    inclination_error_deg,
    lsm6dsox_odr_hz,
    make_squat_counts,
    read_records,
    relative_rotation_error_deg,
)
from tests.support.micropython import run_micropython

U32 = 1 << 32
FIRST_SEQ = U32 - 1000
START_US = U32 - 5_000_000
SUMMARY = re.compile(r"^E2E (\{.*\})$", re.MULTILINE)

PROFILES = {
    "coxa-s3-lsm6dsox": ("lsm6dsox", [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    "coxa-s3-icm42688": ("icm42688", [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    profile: str
    link: str
    mode: str = "quat"
    odr_ppm: int = 0
    freq_fine: int = 0
    dropouts: tuple[tuple[int, int, int], ...] = ()
    faults: tuple[tuple[int, int], ...] = ()
    status_ms: tuple[int, ...] = ()

    def rate_true_hz(self) -> float:
        chip = PROFILES[self.profile][0]
        odr = lsm6dsox_odr_hz(200, self.freq_fine) if chip != "icm42688" else 200.0
        return odr * (1.0 + self.odr_ppm * 1e-6)


SCENARIOS = {
    "ble_dropout": Scenario(
        "ble_dropout",
        "coxa-s3-lsm6dsox",
        "ble",
        odr_ppm=800,
        freq_fine=3,
        dropouts=((6000, 7000, 9500),),
        status_ms=(5000, 12000),
    ),
    "usb_raw_rotated": Scenario(
        "usb_raw_rotated",
        "coxa-s3-icm42688",
        "usb",
        mode="raw",
        odr_ppm=-1500,
        dropouts=((5000, 6500, 8000),),
        status_ms=(3000,),
    ),
    "imu_fault": Scenario(
        "imu_fault",
        "coxa-s3-lsm6dsox",
        "ble",
        odr_ppm=-300,
        faults=((6000, 8000),),
        status_ms=(4000, 7000, 12000),
    ),
}


@dataclass
class Outcome:
    scenario: Scenario
    data: SquatCounts
    summary: dict[str, Any]
    records: list[Record]


_DATA: dict[str, SquatCounts] = {}


@pytest.fixture(scope="module")
def fw_env() -> Iterator[FirmwareEnv]:
    yield from firmware_env()


def scenario_data(sc: Scenario) -> SquatCounts:
    if sc.name not in _DATA:
        chip, matrix = PROFILES[sc.profile]
        _DATA[sc.name] = make_squat_counts(chip, matrix, sc.rate_true_hz())
    return _DATA[sc.name]


def run_scenario(
    sc: Scenario, runtime: str, tmp_path: Path, fw_env: FirmwareEnv | None = None
) -> Outcome:
    data = scenario_data(sc)
    counts = tmp_path / "counts.bin"
    counts.write_bytes(data.counts)
    cfg = {
        "counts": str(counts),
        "out": str(tmp_path / "records.bin"),
        "profile": sc.profile,
        "link": sc.link,
        "mode": sc.mode,
        "odr_ppm": sc.odr_ppm,
        "freq_fine": sc.freq_fine,
        "start_us": START_US,
        "first_seq": FIRST_SEQ,
        "dropouts": [list(d) for d in sc.dropouts],
        "faults": [list(f) for f in sc.faults],
        "status_ms": list(sc.status_ms),
        "ping_ms": 1000,
        "seed": 12345,
    }
    if runtime == "micropython":
        cfg_path = tmp_path / "cfg.json"
        cfg_path.write_text(json.dumps(cfg))
        out = run_micropython(HERE / "mp_app_e2e.py", *MP_PATH, args=[str(cfg_path)])
        m = SUMMARY.search(out)
        assert m is not None, out
        summary = json.loads(m.group(1))
    else:
        assert fw_env is not None
        summary = fw_env.module("mp_app_e2e").run(fw_env.ftime, cfg)
    return Outcome(sc, data, summary, read_records(Path(cfg["out"])))


def device_true_us(out: Outcome, idx: np.ndarray) -> np.ndarray:
    """Board-clock time (u32) at which sample ``idx`` of the recording was produced."""
    s = out.summary
    t_virtual = s["t_start_us"] + ((idx * s["p1024"]) >> 10)
    return (s["start_us"] + t_virtual - s["v_app_us"]) % U32


def wrap_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a - b + U32 // 2) % U32) - U32 // 2


def commands_sent(out: Outcome) -> list[wire.Command]:
    return [wire.decode_command(r.data) for r in out.records if r.kind == REC_TX]


def acks(out: Outcome) -> list[tuple[int, wire.Ack]]:
    return [
        (r.t_us, wire.decode_ack(r.data))
        for r in out.records
        if r.kind == REC_RX and r.data[1] == wire.KIND_ACK
    ]


def statuses(out: Outcome) -> list[tuple[int, wire.Status]]:
    return [
        (r.t_us, wire.decode_status(r.data))
        for r in out.records
        if r.kind == REC_RX and r.data[1] == wire.KIND_STATUS
    ]


# ------------------------------------------------------------------------------------ checks


def check_common(out: Outcome) -> None:
    s = out.summary
    sc = out.scenario
    samples = decode_samples(out.records, FIRST_SEQ)
    assert samples.duplicates == 0
    seqs = sorted(samples.t_us)
    assert seqs, "no samples arrived"
    # contiguous from the first live sample to the last sample taken
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    assert seqs[-1] == FIRST_SEQ + s["samples_taken"] - 1
    assert seqs[0] < U32 < seqs[-1]  # the sequence numbers wrapped
    # every ack is OK; backfill acks cover exactly what live frames missed
    got = acks(out)
    assert got
    assert all(a.ok for _, a in got), [a for _, a in got if not a.ok]
    live = samples.live
    missing = set(range(min(live), max(live) + 1)) - live
    acked: set[int] = set()
    for _, a in got:
        if a.opcode == wire.OP_BACKFILL:
            first = wire.unwrap_u32(FIRST_SEQ, a.arg("first_seq"))
            acked.update(range(first, first + a.arg("count")))
    assert samples.backfill == missing == acked
    if sc.dropouts:
        assert len(missing) > 300
    # the host asked for exactly those ranges
    asked: set[int] = set()
    for c in commands_sent(out):
        if c.opcode == wire.OP_BACKFILL:
            first = wire.unwrap_u32(FIRST_SEQ, c.arg("from_seq"))
            asked.update(range(first, first + c.arg("count")))
    assert asked == missing
    # TIME_PING: the board clock at the ack is the virtual clock mapped to the board
    pings = [(t, a) for t, a in got if a.opcode == wire.OP_TIME_PING]
    assert len(pings) >= 10
    for t_us, a in pings:
        want = (s["start_us"] + t_us - s["v_app_us"]) % U32
        assert a.arg("board_t_us") == want
    # status frames
    st = statuses(out)
    assert len(st) >= 2 + len(sc.status_ms)
    last = st[-1][1]
    assert last.board_id == 0x1A2B
    assert last.segment == wire.SEGMENT_THIGH_R
    assert (last.fw_major, last.fw_minor, last.fw_patch) == (0, 1, 0)
    assert last.battery_mv == 3900
    assert last.fifo_capacity == 6000
    assert last.fifo_fill == min(6000, s["samples_taken"])
    assert last.rate_hz == 200
    assert last.mode == (wire.MODE_QUAT_RAW if sc.mode == "raw" else wire.MODE_QUAT)
    assert last.state & wire.STATE_STREAMING
    assert not last.state & wire.STATE_IMU_ERROR
    assert last.samples_dropped == 0
    assert last.newest_seq == seqs[-1] % U32
    assert last.temperature_c() == pytest.approx(25.0, abs=0.5)
    # counters
    assert s["fifo_dropped"] == 0
    assert s["driver_dropped"] == 0
    assert s["ahrs_rate_hz"] == pytest.approx(sc.rate_true_hz(), rel=2e-3)


def check_truth(out: Outcome, upto_index: int | None = None) -> None:
    """Samples map to the recording by sequence number (no sample lost before ``upto``)."""
    s = out.summary
    data = out.data
    samples = decode_samples(out.records, FIRST_SEQ)
    seqs = np.array(sorted(samples.t_us))
    idx = seqs - FIRST_SEQ
    if upto_index is not None:
        keep = idx < upto_index
        seqs, idx = seqs[keep], idx[keep]
    rate = out.scenario.rate_true_hz()
    # orientation
    q = np.array([samples.quat[k] for k in seqs])
    q_true = data.quat_world_board_wxyz[idx]
    inc = inclination_error_deg(q, q_true)
    rel = relative_rotation_error_deg(q, q_true, 0)
    assert inc.max() < 2.0, inc.max()
    assert rel.max() < 3.0, rel.max()
    # raw signals in board axes and wire scale
    gyr = np.array([samples.gyr[k] for k in seqs])
    ratio = np.array([1.0, 1.0, 1.0])
    chip = PROFILES[out.scenario.profile][0]
    g_lsb = {"icm42688": np.pi / 180.0 / 16.4}.get(chip, 0.070 * np.pi / 180.0)
    ratio = g_lsb / wire.GYR_RAD_S_PER_LSB
    want_gyr = np.clip(data.board_counts[idx, :3] * ratio, -32767, 32767)
    assert np.abs(gyr - want_gyr).max() <= 1.0
    if out.scenario.mode == "raw":
        acc = np.array([samples.acc[k] for k in seqs])
        a_lsb = {"icm42688": 9.80665 / 2048.0}.get(chip, 0.488e-3 * 9.80665)
        want_acc = data.board_counts[idx, 3:] * (a_lsb / wire.ACC_M_S2_PER_LSB)
        assert np.abs(acc - want_acc).max() <= 1.0
        if chip == "icm42688":
            assert np.array_equal(acc, data.board_counts[idx, 3:])
    # times on the board clock
    t = np.array([samples.t_us[k] for k in seqs])
    err = wrap_diff(t, device_true_us(out, idx))
    settled = idx >= int(2.5 * rate)
    assert np.abs(err).max() < 1500, np.abs(err).max()
    assert np.abs(err[settled]).max() < 700, np.abs(err[settled]).max()
    assert abs(float(np.median(err[settled]))) < 300
    end = idx[-1]
    late = [
        f
        for f in samples.frames
        if 4 * rate < wire.unwrap_u32(FIRST_SEQ, f.seq0) - FIRST_SEQ < end - 15
    ]
    assert late
    assert all(abs(f.period_us - 1e6 / rate) <= 1.0 for f in late)
    if upto_index is None:
        assert s["period_p16"] / 16.0 == pytest.approx(1e6 / rate, abs=0.2)


@pytest.mark.parametrize(
    "runtime", ["cpython", pytest.param("micropython", marks=pytest.mark.micropython)]
)
def test_ble_dropout_backfill(runtime: str, tmp_path: Path, fw_env: FirmwareEnv) -> None:
    out = run_scenario(SCENARIOS["ble_dropout"], runtime, tmp_path, fw_env)
    check_common(out)
    check_truth(out)
    s = out.summary
    assert s["samples_taken"] == s["samples_produced"] == out.data.n
    assert s["frames_lost"] > 0
    assert s["live_skipped"] > 0
    assert s["overruns"] == s["lost"] == s["imu_errors"] == 0


@pytest.mark.parametrize(
    "runtime", ["cpython", pytest.param("micropython", marks=pytest.mark.micropython)]
)
def test_usb_raw_rotated_board(runtime: str, tmp_path: Path, fw_env: FirmwareEnv) -> None:
    out = run_scenario(SCENARIOS["usb_raw_rotated"], runtime, tmp_path, fw_env)
    check_common(out)
    check_truth(out)
    s = out.summary
    assert s["samples_taken"] == s["samples_produced"] == out.data.n
    assert s["frames_live"] > 100


@pytest.mark.parametrize(
    "runtime", ["cpython", pytest.param("micropython", marks=pytest.mark.micropython)]
)
def test_imu_fault_reported_and_recovered(
    runtime: str, tmp_path: Path, fw_env: FirmwareEnv
) -> None:
    sc = SCENARIOS["imu_fault"]
    out = run_scenario(sc, runtime, tmp_path, fw_env)
    check_common(out)
    s = out.summary
    rate = sc.rate_true_hz()
    fault_start = int(6.0 * rate)
    check_truth(out, upto_index=fault_start - 10)
    assert s["imu_errors"] >= 1
    assert s["imu_recoveries"] == 1
    assert s["factory_calls"] >= 2
    assert s["samples_taken"] < s["samples_produced"] - int(1.5 * rate)
    # status: IMU_ERROR while the bus fails, cleared after
    t_start = s["t_start_us"]
    st = statuses(out)
    during = [x for t, x in st if t_start + 6_100_000 < t < t_start + 7_900_000]
    after = [x for t, x in st if t > t_start + 9_000_000]
    assert during
    assert all(x.state & wire.STATE_IMU_ERROR for x in during)
    assert after
    assert not any(x.state & wire.STATE_IMU_ERROR for x in after)
    # the sample times show the gap, and every sample maps to the recording by its time
    samples = decode_samples(out.records, FIRST_SEQ)
    seqs = np.array(sorted(samples.t_us))
    t = np.array([samples.t_us[k] for k in seqs])
    dev0 = device_true_us(out, np.array([0]))[0]
    pos = wrap_diff(t, np.full_like(t, dev0)) * rate / 1e6  # recording index from the time
    gaps = np.diff(pos)
    g = int(np.argmax(gaps))
    # two seconds of faults, then up to the last back-off wait (100, 200, 400, 800, 1600 ms)
    assert 2.0 * rate < gaps[g] < 3.7 * rate
    # away from the estimator's start-up (3 s after the start and after the recovery),
    # consecutive samples are one period apart on the board clock (within 10 %: the line
    # re-anchors once per second, on the lowest poll of the window)
    settled = ((pos[:-1] > 3 * rate) & (pos[:-1] < pos[g])) | (pos[:-1] > pos[g + 1] + 3 * rate)
    assert np.abs(gaps[settled] - 1.0).max() < 0.1
    # the filter restarted after the gap (stale state), and said so
    assert samples.flags[int(seqs[g + 1])] & wire.SAMPLE_FILTER_RESET
    late = pos > pos[g + 1] + 3 * rate
    assert late.any()
    assert np.abs(pos[late] - np.rint(pos[late])).max() < 0.25
    # the orientation after the gap matches the recording at the time-derived index
    idx = np.rint(pos[late]).astype(int)
    q = np.array([samples.quat[k] for k in seqs[late]])
    inc = inclination_error_deg(q, out.data.quat_world_board_wxyz[idx])
    assert inc.max() < 3.0, inc.max()
