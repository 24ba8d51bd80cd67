"""The capture benchmark (``tools/bench_capture.py``): its damaged copies are damaged as it
says, the recovery reports what was lost, and a tiny run prints every row.

No timing asserts: the numbers depend on the machine.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coxa.capture import read_capture
from coxa.record import check_capture
from tests.support.tools import load_tool

bench = load_tool("bench_capture")

BOARDS = 3
RATE_HZ = 200.0
HOURS = 10.0 / 3600.0  # 10 s: 3 boards x 2000 samples = 400 notifications


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    path = tmp_path_factory.mktemp("bench-capture") / "real.coxa"
    t_rx, offsets = bench.write_protocol_capture(path, BOARDS, RATE_HZ, HOURS)
    return path, t_rx, offsets


def test_the_protocol_capture_holds_every_sample_of_every_board(
    capture: tuple[Path, Any, Any],
) -> None:
    path, t_rx, offsets = capture
    check = check_capture(path)
    assert check.report.clean
    assert check.protocol_errors == 0
    assert check.samples_lost == 0
    assert len(check.boards) == BOARDS
    n = round(BOARDS * RATE_HZ * HOURS * 3600.0 / 15)  # boards take turns, 15 samples each
    assert check.report.records == t_rx.size == offsets.size == n
    assert [b.samples for b in check.boards] == [15 * len(range(k, n, BOARDS)) for k in range(3)]
    assert np.all(np.diff(offsets) > 0)
    assert int(offsets[0]) == check.report.header_bytes


def test_a_torn_copy_loses_exactly_its_last_record(
    capture: tuple[Path, Any, Any], tmp_path: Path
) -> None:
    path, _, offsets = capture
    torn = tmp_path / "torn.coxa"
    bench.torn_copy(path, torn, offsets)
    assert offsets[-1] < torn.stat().st_size < path.stat().st_size
    report = bench.read_to_end(torn)
    assert report.records == offsets.size - 1
    assert report.tail is not None
    assert report.tail.offset == offsets[-1]
    assert read_capture(torn).records == read_capture(path).records[:-1]


@pytest.mark.parametrize("fill", [os.urandom, bytes], ids=["garbage", "zeros"])
def test_a_bad_last_second_is_dropped_and_nothing_before_it(
    capture: tuple[Path, Any, Any], tmp_path: Path, fill: Any
) -> None:
    path, t_rx, offsets = capture
    cut = bench.last_second_offset(t_rx, offsets)
    k = int(np.flatnonzero(offsets == cut)[0])
    assert t_rx[k] > t_rx[-1] - 10**9 >= t_rx[k - 1]  # first record of the last second
    damaged = tmp_path / "damaged.coxa"
    bench.tail_copy(path, damaged, cut, fill)
    assert damaged.stat().st_size == path.stat().st_size
    report = bench.read_to_end(damaged)
    assert report.records == k
    assert report.tail is not None
    assert report.tail.offset == cut
    assert read_capture(damaged).records == read_capture(path).records[:k]
    lines = bench.describe(check_capture(damaged))
    assert f"torn or truncated end at byte {cut}" in lines[1]
    assert lines[-1].endswith("samples lost: 0")  # a lost tail is not a gap


def test_a_tiny_run_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--hours", str(HOURS), "--boards", "2", "--repeat", "1", "--sync-records", "5"])
    out = capsys.readouterr().out
    names = [
        "plain write (floor)",
        "CaptureWriter append+close",
        "read_capture",
        "iter_capture",
        "sync every record (5 records)",
    ]
    for variant in ("intact", "torn final record", "last second garbage", "last second zeros"):
        names += [f"recover {variant}: iter_capture", f"recover {variant}: check_capture"]
    for name in names:
        row = re.search(rf"^\| {re.escape(name)} \| ([0-9.]+) \|", out, re.MULTILINE)
        assert row is not None, name
    assert out.count("torn or truncated end at byte") == 3
    assert out.count("samples lost: 0") == 4
