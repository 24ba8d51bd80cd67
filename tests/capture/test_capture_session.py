"""A simulated session written to a capture and read back decodes to exactly the same frames;
the reading recipe in docs/capture.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coxa import wire
from coxa.capture import (
    CaptureWriter,
    LinkKind,
    capture_packets,
    iter_capture,
    read_capture,
    write_sim_capture,
)
from coxa.sim import MotionParams, RadioParams, RigParams, simulate_rig
from coxa.sources import LinkDecoder

ROOT = Path(__file__).resolve().parent.parent.parent
_SHORT = MotionParams(exercise="squat", reps=1, rest_before_s=2.0, rest_after_s=1.0)


def _decode(packets: list[tuple[int, int, bytes]]) -> dict[int, list[tuple[int, bytes]]]:
    """Per board: (t_rx_us, encoded frame) of every frame its LinkDecoder completes."""
    links: dict[int, LinkDecoder] = {}
    frames: dict[int, list[tuple[int, bytes]]] = {}
    for t_rx_us, board_id, packet in packets:
        link = links.setdefault(board_id, LinkDecoder(board_id))
        received = link.push(t_rx_us, packet)
        if received is not None:
            frames.setdefault(board_id, []).append((received.t_rx_us, received.frame.encode()))
    assert all(link.protocol_errors == 0 for link in links.values())
    return frames


@pytest.mark.parametrize("loss", [0.0, 0.05])
def test_simulated_session_round_trips_to_the_same_frames(tmp_path: Path, loss: float) -> None:
    radio = RadioParams.lossy(loss) if loss else RadioParams()
    rec = simulate_rig(RigParams(motion=_SHORT, radio=radio, seed=7))
    path = tmp_path / "session.coxa"
    written = write_sim_capture(path, rec, {"athlete": "sim-01"})
    capture = read_capture(path)
    assert capture.report.clean
    assert written == len(capture.records) == len(rec.packets)
    assert capture.metadata["athlete"] == "sim-01"
    assert capture.metadata["exercise"] == "squat"
    assert capture.metadata["rig"] == {str(b): s for b, s in rec.segments_by_board.items()}
    original = [(p.t_rx_us, p.board_id, p.packet) for p in rec.packets]
    assert capture_packets(capture) == original
    with iter_capture(path) as stream:
        assert capture_packets(stream) == original
    frames = _decode(capture_packets(capture))
    assert frames == _decode(original)
    assert set(frames) == set(rec.boards)
    if loss == 0.0:
        for board_id, output in rec.outputs.items():
            assert [f for _, f in frames[board_id]] == list(output.frames)


def test_capture_packets_keeps_only_ble_and_floors_to_microseconds(tmp_path: Path) -> None:
    path = tmp_path / "mixed.coxa"
    with CaptureWriter(path, {}) as writer:
        writer.append(1_999, 3, LinkKind.BLE, b"\x00a")
        writer.append(2_500, 3, LinkKind.SERIAL, b"serial")
        writer.append(-1, 4, LinkKind.BLE, b"\x00b")
    assert capture_packets(read_capture(path)) == [(1, 3, b"\x00a"), (-1, 4, b"\x00b")]


def test_sim_capture_metadata_can_be_overridden(tmp_path: Path) -> None:
    rec = simulate_rig(RigParams(motion=_SHORT, segments=("pelvis",), seed=2))
    path = tmp_path / "s.coxa"
    write_sim_capture(path, rec, {"source": "replayed", "link_kind": "ble"})
    metadata = read_capture(path).metadata
    assert metadata["source"] == "replayed"
    assert list(metadata["rig"].values()) == ["pelvis"]


def test_reading_recipe_in_the_docs_runs(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "capture.md").read_text(encoding="utf-8")
    (recipe,) = re.findall(r"```python\n# recipe: read a capture\n(.*?)```", text, flags=re.DOTALL)
    rec = simulate_rig(RigParams(motion=_SHORT, seed=1))
    path = tmp_path / "session.coxa"
    write_sim_capture(path, rec)
    namespace: dict[str, object] = {"path": path}
    exec(recipe, namespace)
    assert namespace["capture"] is not None
    frames = namespace["frames"]
    assert isinstance(frames, list)
    assert len(frames) == sum(len(o.frames) for o in rec.outputs.values())
    assert all(isinstance(f.frame, wire.DataFrame) for f in frames)


def test_example_bytes_in_the_docs_are_what_the_writer_writes(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "capture.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```\nvector: capture-example\n(.*?)```", text, flags=re.DOTALL)
    expected = bytes.fromhex(block)
    path = tmp_path / "example.coxa"
    with CaptureWriter(
        path, {"athlete": "A01"}, wall_clock_ns=lambda: 1_700_000_000_123_456_789
    ) as w:
        w.append(5_000_000_000, 0x1A2B, LinkKind.BLE, bytes.fromhex("0001012b1a"))
        w.append(5_000_250_000, 1, LinkKind.SERIAL, bytes.fromhex("ab00"))
    assert path.read_bytes() == expected
    capture = read_capture(path)
    assert capture.metadata == {"athlete": "A01"}
    assert [r.payload for r in capture.records] == [bytes.fromhex("0001012b1a"), b"\xab\x00"]
