"""tools/assess_accuracy.py runs end to end on a few sessions and prints its table."""

from __future__ import annotations

import pytest

from tests.support.tools import load_tool


def test_prints_a_row_for_error_free_boards(capsys: pytest.CaptureFixture[str]) -> None:
    status = load_tool("assess_accuracy").main(["--sessions", "3", "--models", "clean"])
    out = capsys.readouterr().out
    assert status == 0
    (row,) = [line for line in out.splitlines() if line.startswith("| clean |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "3"  # one prone, one seated, one supine session measured
    assert float(cells[4]) <= 2.0  # max error of the method, error-free boards
    assert cells[6] == "0"


def test_rejects_a_non_positive_session_count() -> None:
    with pytest.raises(SystemExit):
        load_tool("assess_accuracy").main(["--sessions", "0"])
