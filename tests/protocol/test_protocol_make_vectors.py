"""tools/make_vectors.py is deterministic and append-only: it never edits an existing vector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.tools import load_tool

ROOT = Path(__file__).resolve().parent.parent.parent
VECTORS_PATH = ROOT / "tests" / "protocol" / "vectors.json"

make_vectors = load_tool("make_vectors")


def test_generating_from_scratch_reproduces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "vectors.json"
    assert make_vectors.main(["--path", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == VECTORS_PATH.read_text(encoding="utf-8")
    # a second run changes nothing
    assert make_vectors.main(["--path", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == VECTORS_PATH.read_text(encoding="utf-8")


def test_check_mode_passes_on_the_repository_file() -> None:
    assert make_vectors.main(["--check", "--path", str(VECTORS_PATH)]) == 0


def test_refuses_to_change_an_existing_vector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vectors = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    vectors[3]["hex"] = "00" + vectors[3]["hex"][2:]
    path = tmp_path / "vectors.json"
    text = json.dumps(vectors)
    path.write_text(text, encoding="utf-8")
    assert make_vectors.main(["--path", str(path)]) == 1
    err = capsys.readouterr().err
    assert "refusing to change 1 existing vector" in err
    assert vectors[3]["name"] in err
    assert "bump PROTOCOL_VERSION" in err
    assert path.read_text(encoding="utf-8") == text  # untouched
    assert make_vectors.main(["--check", "--path", str(path)]) == 1


def test_refuses_changed_fields_too(tmp_path: Path) -> None:
    vectors = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    vectors[0]["fields"]["board_id"] += 1
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(vectors), encoding="utf-8")
    assert make_vectors.main(["--path", str(path)]) == 1


def test_appends_missing_vectors_only(tmp_path: Path) -> None:
    vectors = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    path = tmp_path / "vectors.json"
    path.write_text(make_vectors.dumps(vectors[:-5]), encoding="utf-8")
    assert make_vectors.main(["--check", "--path", str(path)]) == 1
    assert make_vectors.main(["--path", str(path)]) == 0
    assert json.loads(path.read_text(encoding="utf-8")) == vectors


def test_keeps_vectors_the_generator_no_longer_makes(tmp_path: Path) -> None:
    vectors = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    retired = dict(vectors[0], name="retired_vector_kept_forever")
    path = tmp_path / "vectors.json"
    path.write_text(make_vectors.dumps([retired, *vectors]), encoding="utf-8")
    assert make_vectors.main(["--path", str(path)]) == 0
    assert json.loads(path.read_text(encoding="utf-8"))[0] == retired


def test_rejects_duplicate_names_in_the_file(tmp_path: Path) -> None:
    vectors = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    path = tmp_path / "vectors.json"
    path.write_text(make_vectors.dumps([*vectors, vectors[0]]), encoding="utf-8")
    assert make_vectors.main(["--path", str(path)]) == 1
