"""Smoke tests of the fusion benchmark (``tools/bench.py``) on a 1-minute session.

No timing asserts: numbers must exist, be finite and positive, and every row of the table must
be there. The plumbing around them (the cached session, the receive-time windows, the session
length, memory growth, the OpenSense comparison with a stand-in IK) is checked exactly.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coxa.sim import Motion
from tests.conftest import PROJECT_ROOT
from tests.support.tools import load_tool

EXAMPLE_DIR = PROJECT_ROOT.parent / "shared" / "data" / "opensense_example"
EXAMPLE_STO = EXAMPLE_DIR / "walking_orientations.sto"
needs_example = pytest.mark.skipif(
    not EXAMPLE_STO.is_file(),
    reason=f"OpenSense example not found at {EXAMPLE_STO} (see ../shared/data/README.md)",
)


#: ``tools/bench.py`` imports its sibling tools: ``load_tool`` puts ``tools`` on the path for it.
bench = load_tool("bench")

#: The smoke run: everything, scaled down to a 1-minute session (memory sampled every 2 s).
SMOKE = bench.BenchParams(
    repeats=1,
    live_s=30.0,
    memory_s=10.0,
    sample_every_s=2.0,
    growth_from_s=4.0,
    reference_budget_s=1.0,
    reference_probe_s=10.0,
    opensense_ik=False,
    opensense_dir=EXAMPLE_DIR,
)


def _finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(scope="module")
def session(cache_dir: Path) -> Any:
    return bench.build_session(bench.SessionParams(duration_s=60.0), cache_dir)


@pytest.fixture(scope="module")
def report(session: Any) -> Any:
    return bench.run_bench(session, SMOKE)


@pytest.mark.parametrize("duration_s", [42.0, 60.0, 600.0, 3600.0])
def test_session_motion_fills_the_duration(duration_s: float) -> None:
    params = bench.SessionParams(duration_s=duration_s)
    motion = params.motion()
    assert Motion(motion).duration_s == pytest.approx(duration_s)
    assert motion.rest_after_s >= 0.0
    assert motion.rest_after_s < 60.0  # otherwise one more set would have fitted


def test_a_session_shorter_than_one_set_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than one set"):
        bench.SessionParams(duration_s=30.0)


def test_the_session_has_five_boards_in_receive_order(session: Any) -> None:
    assert len(session.blocks) == 5
    assert sorted(session.segments_by_board.values()) == sorted(session.quat_segment_sensor_wxyz)
    for block in session.blocks:
        assert block.gyr_rad_s is not None
        assert np.all(np.diff(block.t_rx_us) >= 0)
        assert np.all(np.diff(block.seq) == 1)  # the benchmark's radio is lossless
    assert session.board_samples == sum(block.n_samples for block in session.blocks)


def test_the_cached_session_loads_identical(session: Any, cache_dir: Path) -> None:
    again = bench.build_session(session.params, cache_dir)
    assert again.origin.endswith(".npz")
    assert again.segments_by_board == session.segments_by_board
    assert again.rate_hz == session.rate_hz
    for a, b in zip(again.blocks, session.blocks, strict=True):
        assert a.board_id == b.board_id
        for name in ("seq", "t_device_us", "t_rx_us", "quat_wxyz", "gyr_rad_s", "flags"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for segment, quat in session.quat_segment_sensor_wxyz.items():
        np.testing.assert_array_equal(again.quat_segment_sensor_wxyz[segment], quat)


def test_the_cache_key_follows_the_parameters() -> None:
    a = bench.session_key(bench.SessionParams(duration_s=60.0))
    assert a == bench.session_key(bench.SessionParams(duration_s=60.0))
    assert a != bench.session_key(bench.SessionParams(duration_s=60.0, seed=2))
    assert a != bench.session_key(bench.SessionParams(duration_s=120.0))


def test_a_broken_cache_file_is_named_and_replaced(
    session: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=r"broken\.npz: not a benchmark session"):
        bench.load_session(path, session.params)
    bench.save_session(session, path)
    assert bench.load_session(path, session.params).board_samples == session.board_samples
    # Through build_session: a broken file under the right key is reported and rewritten.
    key = bench.session_key(session.params)
    keyed = tmp_path / f"session-{key}.npz"
    keyed.write_bytes(b"garbage")
    stale = tmp_path / f"session-{key.split('-')[0]}-000000000000.npz"
    stale.write_bytes(b"made by an older simulator")
    other = tmp_path / "session-000000000000-000000000000.npz"
    other.write_bytes(b"another session")
    with caplog.at_level(logging.WARNING, logger="bench"):
        rebuilt = bench.build_session(session.params, tmp_path)
    assert "not a benchmark session" in caplog.text
    assert not stale.exists()
    assert other.exists()
    assert rebuilt.board_samples == session.board_samples
    assert bench.load_session(keyed, session.params).board_samples == session.board_samples


@pytest.mark.parametrize("window_us", [20_000, 1_000_000, 10_000_000])
def test_receive_windows_hold_every_sample_once(session: Any, window_us: int) -> None:
    windows = list(bench.rx_windows(session, window_us))
    start = min(int(b.t_rx_us[0]) for b in session.blocks) // window_us * window_us
    for k, window in enumerate(windows):
        assert len({block.board_id for block in window}) == len(window)
        for block in window:
            assert block.n_samples > 0
            assert np.all(block.t_rx_us >= start + k * window_us)
            assert np.all(block.t_rx_us < start + (k + 1) * window_us)
    for whole in session.blocks:
        parts = [b for window in windows for b in window if b.board_id == whole.board_id]
        np.testing.assert_array_equal(np.concatenate([p.seq for p in parts]), whole.seq)
        np.testing.assert_array_equal(np.concatenate([p.quat_wxyz for p in parts]), whole.quat_wxyz)


def test_receive_windows_stop_after_the_span(session: Any) -> None:
    windows = list(bench.rx_windows(session, 20_000, span_s=10.0))
    assert len(windows) == 500
    with pytest.raises(ValueError, match="window_us"):
        next(bench.rx_windows(session, 0))


def test_live_run_times_every_window_and_samples_at_the_end(session: Any) -> None:
    params = bench.BenchParams(sample_every_s=3.0)
    readings = iter(range(100, 200))

    def sample() -> tuple[int, int]:
        value = next(readings)
        return value, value + 1

    run = bench.live_run(session, params, 10.0, sample)
    assert run.latency_ns.size == 500
    assert np.all(run.latency_ns > 0)
    assert [m.t_s for m in run.memory] == pytest.approx([3.0, 6.0, 9.0, 10.0])
    assert [(m.current_b, m.peak_b) for m in run.memory] == [(100 + k, 101 + k) for k in range(4)]
    total = sum(b.n_samples for w in bench.rx_windows(session, 20_000, 10.0) for b in w)
    assert run.samples == total


def test_growth_is_last_minus_first_sample_from_the_start_time() -> None:
    samples = [bench.MemorySample(60.0 * k, 1000 + 10 * k, 2000) for k in range(1, 11)]
    assert bench.growth(samples, 300.0) == (300.0, 600.0, 50.0)
    t0, t1, size = bench.growth(samples, 600.0)  # one sample only
    assert all(math.isnan(value) for value in (t0, t1, size))


def test_the_table_has_every_row_with_finite_positive_numbers(report: Any, session: Any) -> None:
    text = bench.render(report)
    for row in report.rows:
        assert f"| {row.item} | {row.measurement} | {row.value} |" in text
    items = [row.item for row in report.rows]
    assert items == ["1", "1", "1", "2", "2", "2", "3", "3", "4", "4", "4", "4", "5", "5"]
    data = report.data
    offline = data["offline"]
    assert offline.rows > 0
    assert offline.board_samples == session.board_samples
    assert session.board_samples == pytest.approx(5 * 200 * 60, abs=10)  # 5 boards, 200 Hz
    for rate in (offline.rate, offline.first_rate, offline.cpu_rate):
        assert _finite_positive(rate)
    reference = data["reference"]
    if importlib.util.find_spec("qmt") is not None:
        assert _finite_positive(reference.rate)
        assert _finite_positive(reference.cpu_rate)
        assert 0 < reference.measured_board_samples <= reference.requested_board_samples
        assert "x" in report.rows[4].ratio
        assert "x" in report.rows[5].ratio
    live = data["live"]
    assert live.calls == 1500
    assert live.warmup_calls < live.calls
    assert live.rows > 0
    for ms in (*live.latency_ms, *live.rows_latency_ms, live.calibration_max_ms):
        assert _finite_positive(ms)
    # CPU time is never more than wall time (both clocks read around each call); a call that
    # returns before the CPU clock ticks may read 0.
    assert 0 <= live.cpu_latency_ms[0] <= live.latency_ms[0]
    assert 0 < live.cpu_latency_ms[2] <= live.latency_ms[2]
    assert list(data["load"]) == ["start", "offline and reference", "live", "end"]
    assert all(math.isfinite(value) and value >= 0 for value in data["load"].values())
    assert live.samples_per_board_per_call == pytest.approx(4.0, rel=0.05)
    memory = data["memory"]
    assert memory.simulated_s == pytest.approx(10.0)
    assert len(memory.samples) == 5
    assert all(s.current_b > 0 and s.peak_b >= s.current_b for s in memory.samples)
    assert math.isfinite(bench.growth(memory.samples, SMOKE.growth_from_s)[2])
    if bench.rss_bytes() is not None:
        assert len(live.rss) == 15
        assert all(s.current_b > 0 for s in live.rss)
        assert report.rows[-1].met in ("yes", "no")


@needs_example
def test_the_core_runs_on_the_opensense_file_in_the_smoke_run(report: Any) -> None:
    result = report.data["opensense"]
    assert result.sto_rows == 2432
    assert result.core_rows > 0
    assert _finite_positive(result.core_rate)
    assert result.ik_skipped.startswith("not requested")
    assert report.rows[6].value.startswith("skipped: not requested")


def test_the_json_holds_the_raw_results(report: Any, session: Any, tmp_path: Path) -> None:
    path = tmp_path / "out" / "bench.json"
    bench.write_json(report, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["board_samples"] == session.board_samples
    assert data["session"]["duration_s"] == 60.0
    assert len(data["rows"]) == len(report.rows)
    assert data["live"]["calls"] == 1500
    assert data["offline"]["seconds"][0] > 0


@needs_example
def test_opensense_ratio_with_a_stand_in_ik() -> None:
    calls: list[Path] = []

    def fake_ik(data_dir: Path, workdir: Path) -> tuple[int, float]:
        calls.append(workdir)
        assert data_dir == EXAMPLE_DIR
        assert workdir.is_dir()
        return 776, 4.0

    result = bench.bench_opensense(EXAMPLE_DIR, 2, fake_ik)
    assert len(calls) == 2
    assert result.ik_rate == pytest.approx(776 / 4.0)
    ik_row, core_row = bench.opensense_rows(result)
    assert ik_row.value == "194.0 frames/s"
    assert core_row.ratio == f"{result.core_rate / result.ik_rate:.0f}x"


def test_opensense_without_the_data_is_skipped_with_the_path(tmp_path: Path) -> None:
    def never(data_dir: Path, workdir: Path) -> tuple[int, float]:
        raise AssertionError("the IK must not run without data")

    result = bench.bench_opensense(tmp_path, 1, never)
    assert isinstance(result, bench.Skipped)
    assert str(tmp_path) in result.reason
    rows = bench.opensense_rows(result)
    assert all(row.value.startswith("skipped: OpenSense example not found") for row in rows)


def test_bad_options_are_refused() -> None:
    for argv in (["--repeats", "0"], ["--session-minutes", "0.5"], ["--live-minutes", "-1"]):
        with pytest.raises(SystemExit):
            bench.main([*argv, "--no-cache"])
    with pytest.raises(ValueError, match="live_s must be positive"):
        bench.BenchParams(live_s=0.0)
