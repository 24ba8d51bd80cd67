"""BLE peripheral (``firmware/coxa_fw/ble.py``) on the fake ``bluetooth`` module.

The scenarios live in ``mp_ble_scenarios.py`` and run unchanged on both runtimes:

* on CPython, one test per scenario, in this process (the fake module installed as
  ``bluetooth``, ``coxa.wire`` as ``wire``, ``firmware/`` on ``sys.path``);
* on the MicroPython unix port, all scenarios in one run with
  ``MICROPYPATH=.frozen:tests/firmware/fakes:firmware:host/coxa``;
* on MicroPython again with deliberately broken copies of ``ble.py``, to show the scenarios
  catch the faults they are about (ENOMEM dropping a packet, no re-advertising, the IRQ doing
  the work, the pairing gate left open).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from coxa import wire
from tests.protocol.test_protocol_dialect import dialect_violations
from tests.support.micropython import run_micropython

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FAKES = HERE / "fakes"
FIRMWARE = ROOT / "firmware"
WIRE_DIR = ROOT / "host" / "coxa"
SCENARIOS_PATH = HERE / "mp_ble_scenarios.py"
BLE_PATH = FIRMWARE / "coxa_fw" / "ble.py"
SUMMARY = re.compile(r"^BLE_SCENARIOS passed (\d+) failed (\d+)$", re.MULTILINE)
SCENARIO_NAMES = re.findall(
    r"^def scenario_(\w+)\(", SCENARIOS_PATH.read_text(encoding="utf-8"), re.MULTILINE
)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


FIRMWARE_MODULES = ("coxa_fw", "mp_ble_scenarios")


def _forget_firmware() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in FIRMWARE_MODULES:
            del sys.modules[name]


@pytest.fixture(scope="module")
def fake_bluetooth() -> Iterator[ModuleType]:
    """The fakes for this module: ``bluetooth``, ``machine``, ``imu_models`` and the fake
    ``time`` as ``coxa_fake_time`` (never as ``time``: CPython itself needs that one);
    ``coxa.wire`` as ``wire`` and ``firmware/`` on ``sys.path``."""
    with pytest.MonkeyPatch.context() as mp:
        _forget_firmware()
        mp.syspath_prepend(str(FIRMWARE))
        mp.setitem(sys.modules, "wire", wire)
        fakes: dict[str, ModuleType] = {}
        for name, file in (
            ("bluetooth", "bluetooth.py"),
            ("machine", "machine.py"),
            ("imu_models", "imu_models.py"),
            ("coxa_fake_time", "time.py"),
        ):
            previous = sys.modules.get(name)
            fakes[name] = _load(name, FAKES / file)
            if previous is not None:
                sys.modules[name] = previous
            mp.setitem(sys.modules, name, fakes[name])
        yield fakes["bluetooth"]
        _forget_firmware()


@pytest.fixture(scope="module")
def scenarios(fake_bluetooth: ModuleType) -> ModuleType:
    return _load("mp_ble_scenarios", SCENARIOS_PATH)


def _summary(stdout: str) -> tuple[int, int]:
    m = SUMMARY.search(stdout)
    assert m is not None, f"no summary line in output:\n{stdout}"
    return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------------------- scenarios


def test_scenario_list_is_complete(scenarios: ModuleType) -> None:
    listed = [scenarios.name_of(fn) for fn in scenarios.SCENARIOS]
    assert sorted(listed) == sorted(SCENARIO_NAMES)
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_on_cpython(scenarios: ModuleType, name: str, tmp_path: Path) -> None:
    scenarios.__dict__["SCRATCH"] = str(tmp_path)
    getattr(scenarios, "scenario_" + name)()


@pytest.mark.micropython
def test_scenarios_on_micropython(tmp_path: Path) -> None:
    out = run_micropython(SCENARIOS_PATH, FAKES, FIRMWARE, WIRE_DIR, args=[str(tmp_path)])
    assert _summary(out) == (len(SCENARIO_NAMES), 0), out


MUTATIONS = {
    "enomem_drops_packet": (
        "            self.enomem += 1  # back-pressure",
        "            channel.drop()\n            self.enomem += 1  # back-pressure",
        ["enomem_storm_mtu247", "enomem_storm_mtu23", "app_enomem_storm_mtu23"],
    ),
    "no_readvertise": (
        "            else:\n                self._adv_wanted = True",
        "            else:\n                pass",
        ["readvertise", "dropout_backfill"],
    ),
    "command_in_irq": (
        "                self._rx_head = nxt\n",
        "                self._rx_head = nxt\n                self._process_control()\n",
        ["untrusted_link"],
    ),
    "pairing_never_times_out": (
        "self._ticks_diff(self._ticks_ms(), self._pairing_until) >= 0:",
        "False:",
        ["untrusted_link"],
    ),
    "refused_bond_trusted": (
        "        return self._irq_encrypted and self._irq_bonded and not self._irq_refused_bond",
        "        return self._irq_encrypted and self._irq_bonded",
        ["untrusted_link"],
    ),
    "status_value_stale_on_connect": (
        "from before the drop.\n                self._update_status_value()\n",
        "from before the drop.\n",
        ["status_value_on_connect"],
    ),
    "status_value_stale_on_bond": (
        "            self._update_status_value()  # BONDED readable at once",
        "            pass  # BONDED readable at once",
        ["status_value_on_new_bond"],
    ),
    "frames_ignore_mtu": (
        "next_frame_into(data.frame, frame_budget(mtu), self._link)",
        "next_frame_into(data.frame, 243, self._link)\n                    mtu = 247",
        ["stream_mtu23", "app_stream_mtu23"],
    ),
}


@pytest.mark.micropython
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_scenarios_catch_broken_board(mutation: str, tmp_path: Path) -> None:
    old, new, must_fail = MUTATIONS[mutation]
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE / "coxa_fw", firmware / "coxa_fw")
    ble_py = firmware / "coxa_fw" / "ble.py"
    source = ble_py.read_text(encoding="utf-8")
    assert source.count(old) == 1, f"mutation {mutation} no longer applies"
    ble_py.write_text(source.replace(old, new), encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(AssertionError) as info:
        run_micropython(SCENARIOS_PATH, FAKES, firmware, WIRE_DIR, args=[str(scratch), *must_fail])
    message = str(info.value)
    for name in must_fail:
        assert f"FAIL {name}:" in message, message


# ---------------------------------------------------------------------------- the fake itself


def test_fake_records_and_injects(fake_bluetooth: ModuleType) -> None:
    bt: Any = fake_bluetooth
    b = bt.BLE()
    events: list[tuple[int, tuple[Any, ...]]] = []
    kept: list[Any] = []

    def handler(event: int, data: tuple[Any, ...]) -> Any:
        events.append((event, data))
        if event == bt.IRQ_CENTRAL_CONNECT:
            kept.append(data[2])  # kept without copying: scrambled after return
        if event == bt.IRQ_GET_SECRET:
            return b"v"
        if event == bt.IRQ_SET_SECRET:
            return True
        return None

    b.irq(handler)
    with pytest.raises(OSError, match=r"^22$"):
        b.gatts_register_services(())
    b.active(True)
    b.config(mtu=247)
    assert b.config("mtu") == 247
    with pytest.raises(ValueError, match="unknown"):
        b.config(nonsense=1)
    svc = (bt.UUID(wire.SERVICE_UUID), ((bt.UUID(wire.DATA_CHAR_UUID), bt.FLAG_NOTIFY),))
    bat = (bt.UUID(0x180F), ((bt.UUID(0x2A19), bt.FLAG_READ),))
    ((h_data,), (h_bat,)) = b.gatts_register_services((svc, bat))
    assert h_data != h_bat
    b.gap_advertise(100_000, b"\x02\x01\x06", resp_data=b"")
    assert b.advertising == (100_000, b"\x02\x01\x06", b"", True)
    with pytest.raises(OSError, match=r"^22$"):
        b.gatts_register_services((svc,))  # not while advertising
    conn = b.central_connect(addr=b"\x01\x02\x03\x04\x05\x06")
    assert b.advertising is None
    assert bytes(kept[0]) == b"\xee" * 6
    assert b.exchange_mtu(conn, 185) == 185
    b.enomem_storm(2)
    for _ in range(2):
        with pytest.raises(OSError, match=r"^12$"):
            b.gatts_notify(conn, h_data, b"x")
    b.gatts_notify(conn, h_data, b"y" * 300)
    assert b.take_notifications(h_data) == [b"y" * 182]
    assert b.truncated_notifications == 1
    assert b.enomem_raised == 2
    assert b.get_secret(2, 0, b"key") == b"v"
    assert b.set_secret(2, b"key", b"value") is True
    b.gap_pair(conn)
    assert b.pair_requests == [conn]
    assert b.gap_disconnect(conn) is True
    assert events[-1][0] == bt.IRQ_CENTRAL_DISCONNECT
    with pytest.raises(OSError, match=r"^107$"):
        b.gatts_notify(conn, h_data, b"z")
    with pytest.raises(ValueError, match="invalid UUID"):
        bt.UUID("not-a-uuid")
    assert bt.UUID(0x180F) == bt.UUID(0x180F) != bt.UUID(0x2A19)


# ---------------------------------------------------------------------------- dialect

ALLOWED_IMPORTS = {
    "firmware/coxa_fw/ble.py": {"bluetooth", "wire", "micropython", "os", "time"},
    "firmware/coxa_fw/main.py": {
        "asyncio",
        "bluetooth",
        "coxa_fw",
        "coxa_fw.acc_cal",
        "coxa_fw.app",
        "coxa_fw.ble",
        "coxa_fw.usb",
        "machine",
        "micropython",
        "neopixel",
        "os",
        "sys",
        "time",
        "wire",
    },
    "tests/firmware/fakes/bluetooth.py": set(),
}


@pytest.mark.parametrize("rel", sorted(ALLOWED_IMPORTS))
def test_dialect(rel: str) -> None:
    path = ROOT / rel
    source = path.read_text(encoding="utf-8")
    problems = [p for p in dialect_violations(source) if " import" not in p and "import " not in p]
    imports: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.add(node.module)
    problems += [f"import {name}" for name in sorted(imports - ALLOWED_IMPORTS[rel])]
    assert not problems, problems


def test_ble_module_keeps_the_irq_thin() -> None:
    """The IRQ handler never calls into the app (commands run in pump())."""
    tree = ast.parse(BLE_PATH.read_text(encoding="utf-8"))
    irq_funcs = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and n.name in ("_irq", "_irq_set_secret")
    ]
    assert len(irq_funcs) == 2
    for fn in irq_funcs:
        for node in ast.walk(fn):
            if isinstance(node, ast.Attribute) and node.attr in (
                "_app",
                "on_command",
                "gatts_notify",
                "save",
                "_say",
            ):
                pytest.fail(f"{fn.name} uses .{node.attr} (IRQ handlers only record)")
