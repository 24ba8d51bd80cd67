"""wire.py stays dialect-neutral: CPython 3.11 and MicroPython run the same file unchanged.

* an AST allow-list (imports and constructs MicroPython lacks or handles differently);
* ``mpy-cross`` compiles it for the ESP32-S3 (bytecode and native emitter);
* MicroPython exposes the same public names with the same constant values as CPython.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from coxa import wire
from tests.support.micropython import run_micropython_code

ROOT = Path(__file__).resolve().parent.parent.parent
WIRE_PATH = ROOT / "host" / "coxa" / "wire.py"
ALLOWED_IMPORTS = {"struct", "micropython"}
ALLOWED_DECORATORS = {"property", "staticmethod", "classmethod"}
FORBIDDEN_NAMES = {"typing", "dataclasses", "enum", "abc", "Final", "Protocol", "TypedDict"}
FSTRING_DEBUG = re.compile(r"=\s*(![rsa])?\s*(:[^}]*)?}")


def dialect_violations(source: str) -> list[str]:
    """Constructs in ``source`` that wire.py must not use, as ``"line N: what"`` strings."""
    tree = ast.parse(source)
    found: list[str] = []

    def add(node: ast.AST, what: str) -> None:
        found.append(f"line {getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED_IMPORTS:
                    add(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.module not in ALLOWED_IMPORTS:
                add(node, f"from {node.module} import ...")
            elif node.module == "micropython" and [a.name for a in node.names] != ["const"]:
                add(node, "from micropython import anything but const")
        elif isinstance(node, ast.Match):
            add(node, "match statement")
        elif isinstance(node, ast.NamedExpr):
            add(node, "walrus operator")
        elif isinstance(node, ast.Assert):
            add(node, "assert statement (raise ProtocolError instead)")
        elif isinstance(node, ast.ExceptHandler) and node.type is None:
            add(node, "bare except")
        elif isinstance(node, ast.TryStar):
            add(node, "except*")
        elif isinstance(node, ast.Global | ast.Nonlocal):
            add(node, "global/nonlocal")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            if node.args.posonlyargs:
                add(node, "positional-only parameters")
            if not isinstance(node, ast.Lambda):
                for dec in node.decorator_list:
                    text = ast.unparse(dec)
                    if text not in ALLOWED_DECORATORS and not text.endswith(".setter"):
                        add(dec, f"decorator @{text}")
        elif isinstance(node, ast.ClassDef):
            for dec in node.decorator_list:
                add(dec, f"class decorator @{ast.unparse(dec)}")
            if node.keywords:
                add(node, "class keywords (metaclass=...)")
        elif isinstance(node, ast.JoinedStr):
            segment = ast.get_source_segment(source, node) or ""
            if FSTRING_DEBUG.search(segment):
                add(node, "f-string '=' specifier")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in FORBIDDEN_NAMES:
                add(node, f"name {name}")
    return found


def test_wire_py_is_dialect_neutral() -> None:
    assert dialect_violations(WIRE_PATH.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("snippet", "what"),
    [
        ("import typing", "import typing"),
        ("from typing import Any", "from typing import"),
        ("from __future__ import annotations", "from __future__ import"),
        ("import dataclasses", "import dataclasses"),
        ("from micropython import native", "anything but const"),
        ("match x:\n    case 1:\n        pass", "match statement"),
        ("if (n := 3):\n    pass", "walrus"),
        ("assert x", "assert statement"),
        ("try:\n    pass\nexcept:\n    pass", "bare except"),
        ("try:\n    pass\nexcept* ValueError:\n    pass", "except*"),
        ("def f(a, /, b):\n    pass", "positional-only"),
        ("@dataclass\nclass A:\n    pass", "class decorator"),
        ("@functools.cache\ndef f():\n    pass", "decorator @functools.cache"),
        ("@dataclasses.dataclass(frozen=True)\nclass A:\n    pass", "class decorator"),
        (
            "class A:\n    @micropython.native\n    def f(self):\n        pass",
            "@micropython.native",
        ),
        ("x = f'{a=}'", "f-string '=' specifier"),
        ("x = f'{a = !r:>4}'", "f-string '=' specifier"),
        ("class A(metaclass=M):\n    pass", "class keywords"),
    ],
)
def test_dialect_checker_catches(snippet: str, what: str) -> None:
    found = dialect_violations(snippet)
    assert any(what in item for item in found), found


def test_dialect_checker_allows_what_wire_py_may_use() -> None:
    ok = (
        "import struct\n"
        "from micropython import const\n"
        "_X = const(3)\n"
        "def f(a: bytes, b: 'int | None' = None) -> list[int]:\n"
        "    return [a[0], _X]\n"
        "y = f'{_X:04X} {_X!r}'\n"
        "class A:\n    @property\n    def p(self) -> int:\n        return 1\n"
        "    @p.setter\n    def p(self, v: int) -> None:\n        pass\n"
        "    @staticmethod\n    def s() -> None:\n        pass\n"
        "try:\n    f(b'')\nexcept ValueError:\n    pass\n"
    )
    assert dialect_violations(ok) == []


def _mpy_cross() -> Path:
    exe = Path(sys.executable).parent / "mpy-cross"
    if not exe.is_file():
        pytest.fail(f"mpy-cross not found at {exe}; install the `firmware` dependency group")
    return exe


@pytest.mark.parametrize("emit", ["bytecode", "native"])
def test_mpy_cross_compiles_for_esp32_s3(tmp_path: Path, emit: str) -> None:
    out = tmp_path / "wire.mpy"
    cmd = [str(_mpy_cross()), "-march=xtensawin", "-O2", "-o", str(out), str(WIRE_PATH)]
    if emit == "native":
        cmd[1:1] = ["-X", "emit=native"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 1000
    assert out.read_bytes()[0:1] == b"M"  # .mpy magic


def _public_values() -> dict[str, object]:
    out: dict[str, object] = {}
    for name in dir(wire):
        if name.startswith("_") or name in ("const", "TYPE_CHECKING"):
            continue
        value = getattr(wire, name)
        if isinstance(value, int | str | float):
            out[name] = value
        elif isinstance(value, bytes):
            out[name] = value.hex()
        elif isinstance(value, dict | tuple):
            out[name] = json.loads(json.dumps(value))
        else:
            out[name] = "<" + ("class" if isinstance(value, type) else "function") + ">"
    return out


MP_PUBLIC_VALUES = """
import json
import wire
out = {}
for name in dir(wire):
    if name.startswith("_") or name in ("const", "TYPE_CHECKING"):
        continue
    value = getattr(wire, name)
    if isinstance(value, (int, str, float)):
        out[name] = value
    elif isinstance(value, bytes):
        out[name] = value.hex()
    elif isinstance(value, (dict, tuple)):
        out[name] = value
    else:
        out[name] = "<" + ("class" if isinstance(value, type) else "function") + ">"
print(json.dumps(out))
private = [n for n in dir(wire) if n.startswith("_") and n.upper() == n and n != "__name__"]
print(json.dumps(private))
"""


@pytest.mark.micropython
def test_micropython_sees_the_same_public_api() -> None:
    lines = run_micropython_code(MP_PUBLIC_VALUES, WIRE_PATH.parent).splitlines()
    mp_values = json.loads(lines[0])
    # json turns dict keys into strings; compare like with like
    assert mp_values == json.loads(json.dumps(_public_values()))
    # const() folded the private integer constants away (no module globals on the board)
    private_left = [n for n in json.loads(lines[1]) if n not in ("_CRC_TABLE", "_HEX_UPPER")]
    assert not [n for n in private_left if not n.endswith("_FMT")], private_left
