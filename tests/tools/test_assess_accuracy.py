"""tools/assess_accuracy.py runs end to end on a few sessions and prints its table."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.conftest import PROJECT_ROOT

TOOL = PROJECT_ROOT / "tools" / "assess_accuracy.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("assess_accuracy_tool", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_prints_a_row_for_error_free_boards(capsys: pytest.CaptureFixture[str]) -> None:
    status = _load().main(["--sessions", "3", "--models", "clean"])
    out = capsys.readouterr().out
    assert status == 0
    (row,) = [line for line in out.splitlines() if line.startswith("| clean |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "3"  # one prone, one seated, one supine session measured
    assert float(cells[4]) <= 2.0  # max error of the method, error-free boards
    assert cells[6] == "0"


def test_rejects_a_non_positive_session_count() -> None:
    with pytest.raises(SystemExit):
        _load().main(["--sessions", "0"])
