"""The link benchmark (``tools/bench_link.py``): a short run end to end, and its parts.

The smoke run is the real thing scaled down (2 boards, 6 s, one forced drop, 5 % bursty loss):
the tool starts its peripheral process, streams through ``BleSource`` and the recorder, and
prints its table. No timing asserts: numbers must exist and be plausible, the capture must
have no gap, and every sample missing against the boards' truth must be one the source
itself counted as lost.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT
from tests.support.tools import load_tool

TOOL = PROJECT_ROOT / "tools" / "bench_link.py"


bench = load_tool("bench_link")

ROW = re.compile(r"^\| (.+?) \| (.*?) \| (.*?) \|$")


def parse_table(text: str) -> tuple[dict[str, str], int]:
    """The report's rows (measurement -> value) and its ``samples lost: N`` line."""
    rows: dict[str, str] = {}
    lost: int | None = None
    for line in text.splitlines():
        if line == "|---|---|---|":
            continue
        if line.startswith("|"):
            match = ROW.match(line)
            assert match is not None, f"not a table row: {line!r}"
            rows[match.group(1)] = match.group(2)
        elif line.startswith("samples lost: "):
            lost = int(line.removeprefix("samples lost: "))
        else:
            assert not line.strip(), f"unexpected line: {line!r}"
    assert lost is not None, "no 'samples lost: N' line"
    return rows, lost


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench-link")
    report = out / "report.json"
    argv = ["--minutes", "0.1", "--boards", "2", "--disconnects", "1", "--seed", "3"]
    done = subprocess.run(
        [sys.executable, str(TOOL), *argv, "--out", str(out), "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads(report.read_text(encoding="utf-8")), out


def test_the_smoke_run_prints_a_table_with_no_sample_lost(smoke: tuple[str, Any, Path]) -> None:
    text, data, _ = smoke
    rows, lost = parse_table(text)
    assert lost == 0
    assert rows["samples lost (coxa capture check)"] == "0"
    assert rows["capture damaged"] == "no"
    assert rows["link drops done"] == "1 of 1"
    assert data["check_samples_lost"] == 0
    assert not data["check_damaged"]
    # Anything missing against the truth (a lost tail is not a gap) the source counted.
    assert data["truth_samples_lost"] == data["monitor_lost"]
    # 2 boards, 6 s at 200 Hz; the boards stream from the moment the host has started each
    # one, which a loaded machine delays by up to about a second.
    assert data["samples_produced"] >= 0.8 * 2 * 200 * 6
    assert data["backfilled"] > 0  # the drop and the losses were recovered by backfill
    assert data["notifications_lost"] > 0


def test_the_smoke_run_measures_cpu_and_delay(smoke: tuple[str, Any, Path]) -> None:
    text, data, out = smoke
    rows, _ = parse_table(text)
    for key in ("host_cpu_pct", "host_cpu_median_pct", "peripheral_cpu_pct", "wall_s"):
        assert math.isfinite(data[key]), key
        assert data[key] > 0, key
    assert data["host_cpu_pct"] < 100.0  # one process on one core at most
    assert data["profile_samples"] > 0
    assert abs(sum(data["components_pct"].values()) - 100.0) < 1e-6
    median, p99 = data["link_delay_ms"]
    assert 0 < median <= p99 < 10_000
    assert 0 <= data["clock_bias_ms"] < 50  # about the smallest link delay
    assert rows["host CPU, overall (% of one core)"] == f"{data['host_cpu_pct']:.1f}"
    (recovery,) = data["recoveries"]
    assert recovery["link_back_s"] > recovery["away_s"]  # not before the board is back
    assert recovery["complete_s"] >= recovery["link_back_s"]
    assert (out / "bench.coxa").is_file()
    assert "paired with board" in (out / "host.log").read_text(encoding="utf-8")


def test_planned_drops_are_inside_the_session_and_never_overlap() -> None:
    params = bench.LinkBenchParams(minutes=2.0, boards=3, disconnects=12, seed=5)
    plan = bench.plan_disconnects(params, [11, 22, 33])
    assert plan == bench.plan_disconnects(params, [11, 22, 33])  # deterministic
    assert len(plan) == 12
    assert [d.at_s for d in plan] == sorted(d.at_s for d in plan)
    for d in plan:
        assert d.board_id in (11, 22, 33)
        assert 1.0 <= d.away_s <= 5.0
        assert d.at_s >= params.lead_s
    for board in (11, 22, 33):
        mine = [d for d in plan if d.board_id == board]
        for a, b in itertools.pairwise(mine):
            assert b.at_s >= a.at_s + a.away_s + 1.0


@pytest.mark.parametrize("loss", [0.0, 0.05, 0.3])
def test_the_loss_chain_loses_the_asked_fraction(loss: float) -> None:
    params = bench.LinkBenchParams(loss=loss)
    faults = bench.faults_of(params, 7, 0, [])
    p_in, p_out = faults.p_enter_loss, faults.p_leave_loss
    assert p_out == pytest.approx(1.0 / params.mean_burst_packets)
    # Stationary share of the burst state of the two-state chain.
    assert p_in / (p_in + p_out) == pytest.approx(loss)
    rng = np.random.default_rng(0)
    in_burst, lost, n = False, 0, 200_000
    for draw in rng.uniform(size=n):
        in_burst = draw >= p_out if in_burst else draw < p_in
        lost += in_burst
    assert lost / n == pytest.approx(loss, abs=0.01)


def test_bad_options_are_refused() -> None:
    for argv in (["--minutes", "0"], ["--boards", "1"], ["--loss", "1"], ["--disconnects", "-1"]):
        with pytest.raises(SystemExit):
            bench.main(argv)
