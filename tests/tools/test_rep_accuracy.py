"""tools/rep_accuracy.py runs end to end on a tiny number of sets and prints its table."""

from __future__ import annotations

import pytest

from tests.support.tools import load_tool


def test_prints_the_table_for_one_set(capsys: pytest.CaptureFixture[str]) -> None:
    module = load_tool("rep_accuracy")
    status = module.main(["--sets", "1", "--exercises", "squat", "--cases", "clean", "--online"])
    out = capsys.readouterr().out
    assert status == 0
    rows = [line for line in out.splitlines() if line.startswith("| squat | clean |")]
    assert len(rows) == 1
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[2] == "1"  # sets
    assert cells[4].startswith("1/1")  # the clean squat set is counted exactly
    assert cells[7] != "-"  # online delays measured
    assert len(cells) == 9
    assert "1 sets in" in out


def test_rejects_a_non_positive_set_count() -> None:
    module = load_tool("rep_accuracy")
    with pytest.raises(SystemExit):
        module.main(["--sets", "0"])
