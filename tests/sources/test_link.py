"""Virtual board frames through the radio model and the host link decoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa import wire
from coxa.geometry import GRAVITY_M_S2, quat_from_axis_angle, quat_rotate
from coxa.sim import RigPacket
from coxa.sim._board import BoardSpec, packetize, run_board, to_fixed_point
from coxa.sim._radio import RadioParams, transmit
from coxa.sources import LinkDecoder, decode_packets, frame_arrays

RATE_HZ = 200.0
PERIOD_US = 5000


def _tilted_still_board(
    n: int, seq_start: int = 0, board_id: int = 0x1A2B
) -> tuple[BoardSpec, list[bytes], np.ndarray]:
    """A board lying still with a known tilt: its filter must find that tilt."""
    tilt = quat_from_axis_angle([1.0, 0.3, 0.0], 0.4)
    acc = np.tile(quat_rotate(tilt * np.array([1, -1, -1, -1]), [0.0, 0.0, GRAVITY_M_S2]), (n, 1))
    spec = BoardSpec(board_id=board_id, placement="thigh_r", seq_start=seq_start)
    t_true = np.arange(n) / RATE_HZ
    out = run_board(
        spec,
        t_true,
        (np.arange(n) * PERIOD_US + 2**32 - 10_000).astype(np.int64),
        PERIOD_US,
        np.zeros((n, 3)),
        acc,
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
    )
    return spec, out.frames, tilt


def _decode_all(spec: BoardSpec, packets: list[bytes]) -> tuple[LinkDecoder, list[wire.DataFrame]]:
    link = LinkDecoder(spec.board_id)
    frames = [r.frame for i, p in enumerate(packets) if (r := link.push(i, p)) is not None]
    return link, frames


@pytest.mark.parametrize("att_mtu", [23, 100, 247])
def test_frames_survive_fragmentation_at_any_mtu(att_mtu: int) -> None:
    spec, frames, tilt = _tilted_still_board(400, seq_start=2**32 - 100)
    packets, _ = packetize(frames, np.zeros(len(frames)), att_mtu)
    link, decoded = _decode_all(spec, packets)
    assert link.protocol_errors == 0
    assert len(decoded) == len(frames) == int(np.ceil(400 / wire.samples_per_frame(False)))
    seqs = [(f.seq0 + i) % 2**32 for f in decoded for i in range(f.count)]
    assert seqs == [(2**32 - 100 + i) % 2**32 for i in range(400)]
    quat, _, flags = frame_arrays(decoded[-1])
    # Up in the sensor frame seen through the filter's orientation is world Z.
    up = quat_rotate(quat[-1], quat_rotate(tilt * np.array([1, -1, -1, -1]), [0.0, 0.0, 1.0]))
    assert up[2] > np.cos(np.radians(0.5))
    assert flags[-1] & wire.SAMPLE_AT_REST


def test_wrong_board_and_garbage_are_counted_not_raised() -> None:
    spec, frames, _ = _tilted_still_board(30)
    link = LinkDecoder(board_id=spec.board_id + 1)
    assert link.push(0, bytes([0x00]) + frames[0]) is None
    assert link.push(1, b"\x00\x07garbage") is None
    assert link.protocol_errors == 2
    assert link.last_error  # the newest error message is kept for the status display


def test_decode_packets_keeps_one_link_per_board_in_arrival_order() -> None:
    """Two boards' fragmented notifications interleaved mid-frame, and a garbage one: every
    frame of both boards back, each with its board and receive time, in arrival order."""
    spec_a, frames_a, _ = _tilted_still_board(60)
    spec_b, frames_b, _ = _tilted_still_board(60, board_id=0x2C3D)
    packets_a, _ = packetize(frames_a, np.zeros(len(frames_a)), 23)
    packets_b, _ = packetize(frames_b, np.zeros(len(frames_b)), 23)
    order = (
        [(spec_a.board_id, p) for p in packets_a[:7]]
        + [(spec_b.board_id, p) for p in packets_b]
        + [(spec_b.board_id, b"\x00\x07garbage")]
        + [(spec_a.board_id, p) for p in packets_a[7:]]
    )
    arrivals = [RigPacket(10 * i, board, packet) for i, (board, packet) in enumerate(order)]
    decoded = decode_packets(arrivals)
    boards = [r.frame.board_id for r in decoded]
    assert boards.count(spec_a.board_id) == len(frames_a)
    assert boards.count(spec_b.board_id) == len(frames_b)
    assert [r.t_rx_us for r in decoded] == sorted(r.t_rx_us for r in decoded)


@settings(max_examples=30)
@given(st.floats(0.0, 0.3), st.integers(0, 2**16))
def test_radio_keeps_order_and_loses_in_bursts(loss: float, seed: int) -> None:
    t_q = np.sort(np.random.default_rng(seed).uniform(0, 60, 3000))
    t_rx, delivered = transmit(t_q, RadioParams.lossy(loss), np.random.default_rng(seed))
    assert np.all(np.diff(t_rx) >= 0)
    assert np.all(t_rx >= t_q)
    assert np.all(t_rx - t_q < 0.015 + 0.2)
    lost = 1.0 - delivered.mean()
    assert lost == pytest.approx(loss, abs=0.08)


def test_radio_is_deterministic_by_seed() -> None:
    t_q = np.linspace(0, 10, 500)
    a = transmit(t_q, RadioParams.lossy(0.1), np.random.default_rng(5))
    b = transmit(t_q, RadioParams.lossy(0.1), np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_lost_fragment_drops_only_its_frame() -> None:
    spec, frames, _ = _tilted_still_board(150)
    packets, _ = packetize(frames, np.zeros(len(frames)), 23)
    per_frame = len(packets) // len(frames)
    del packets[per_frame + 1]  # a middle fragment of the second frame
    link, decoded = _decode_all(spec, packets)
    assert len(decoded) == len(frames) - 1
    assert link.lost_packets == 1
    per = wire.samples_per_frame(False)
    assert [f.seq0 for f in decoded] == [k * per for k in range(len(frames)) if k != 1]


def test_vectorised_fixed_point_matches_the_wire_converters() -> None:
    values = np.array([-40000.0, -2.5, -1.5, -0.5, 0.49, 0.5, 1.5, 2.5, 12345.5, 40000.0])
    expected = [wire.float_to_q14(v / wire.Q14_ONE) for v in values]
    assert to_fixed_point(values).tolist() == expected
