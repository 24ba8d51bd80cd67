"""Wrap-around of u32 sequence numbers and device time, and the host-side helpers."""

from __future__ import annotations

import itertools

import pytest

from coxa import wire

TOP = 2**32 - 1


def _quat_frame(seq0: int, t0_us: int, period_us: int, count: int, kind: int = 1) -> wire.DataFrame:
    return wire.DataFrame(
        kind,
        0x0101,
        seq0,
        t0_us,
        period_us,
        [16384, 0, 0, 0] * count,
        [0, 0, 0] * count,
        [0] * count,
    )


def test_frame_at_top_of_range_wraps_seq_and_time() -> None:
    frame = _quat_frame(TOP, TOP, 5000, 4)
    back = wire.decode_frame(frame.encode())
    assert isinstance(back, wire.DataFrame)
    assert [back.sample_seq(i) for i in range(4)] == [TOP, 0, 1, 2]
    assert [back.sample_t_us(i) for i in range(4)] == [TOP, 4999, 9999, 14999]


def test_raw_frame_wraps_time_mid_frame() -> None:
    count = wire.MAX_SAMPLES_RAW
    frame = wire.DataFrame(
        wire.KIND_DATA_BACKFILL,
        7,
        TOP - 4,
        TOP - 3 * 65535,
        65535,
        [0, 0, 0, 16384] * count,
        [1, 2, 3] * count,
        [0] * count,
        [0, 0, 2048] * count,
    )
    back = wire.decode_frame(frame.encode())
    assert isinstance(back, wire.DataFrame)
    seqs = [back.sample_seq(i) for i in range(count)]
    assert seqs[:6] == [TOP - 4, TOP - 3, TOP - 2, TOP - 1, TOP, 0]
    times = [back.sample_t_us(i) for i in range(count)]
    assert times[3] == TOP
    assert times[4] == 65534
    # consecutive samples stay exactly one period apart across the wrap
    assert all(wire.seq_diff(b, a) == 65535 for a, b in itertools.pairwise(times))


def test_header_fields_above_u32_are_refused() -> None:
    with pytest.raises(wire.ProtocolError, match="seq0"):
        _quat_frame(2**32, 0, 5000, 1)
    with pytest.raises(wire.ProtocolError, match="t0_us"):
        _quat_frame(0, 2**32, 5000, 1)
    with pytest.raises(wire.ProtocolError, match="seq0"):
        _quat_frame(-1, 0, 5000, 1)


@pytest.mark.parametrize(
    ("a", "b", "diff"),
    [
        (0, TOP, 1),
        (TOP, 0, -1),
        (5, TOP - 4, 10),
        (TOP - 4, 5, -10),
        (2**31, 0, 2**31),  # exactly half the range counts as forward
        (0, 2**31, 2**31),
        (2**31 + 1, 0, -(2**31) + 1),
        (123, 123, 0),
    ],
)
def test_seq_diff(a: int, b: int, diff: int) -> None:
    assert wire.seq_diff(a, b) == diff
    assert wire.seq_add(b, diff) == a


def test_seq_add_wraps_both_ways() -> None:
    assert wire.seq_add(TOP, 1) == 0
    assert wire.seq_add(TOP, 3) == 2
    assert wire.seq_add(0, -1) == TOP
    assert wire.seq_add(10, 2**32) == 10


def test_unwrap_across_several_wraps() -> None:
    period_us = 700_000_000  # a few steps per wrap of the u32 clock
    truth = [TOP - 100 + k * period_us for k in range(30)]
    unwrapped: int | None = None
    out: list[int] = []
    for t in truth:
        unwrapped = wire.unwrap_u32(unwrapped, t % 2**32)
        out.append(unwrapped)
    assert out == truth
    assert out[-1] > 4 * 2**32


def test_unwrap_steps_backwards_across_the_wrap() -> None:
    # a late (out-of-order) value just before a wrap that already happened
    assert wire.unwrap_u32(2**32 + 5, TOP) == 2**32 - 1
    assert wire.unwrap_u32(2**32 + 5, 10) == 2**32 + 10
    assert wire.unwrap_u32(None, TOP) == TOP


def test_unwrap_rejects_values_outside_u32() -> None:
    with pytest.raises(wire.ProtocolError):
        wire.unwrap_u32(0, 2**32)
    with pytest.raises(wire.ProtocolError):
        wire.unwrap_u32(0, -1)


def test_backfill_command_and_ack_across_the_wrap() -> None:
    cmd = wire.decode_command(wire.encode_command(wire.OP_BACKFILL, 1, TOP - 2, 10))
    assert cmd.arg("from_seq") == TOP - 2
    ack = wire.decode_ack(wire.encode_ack(wire.OP_BACKFILL, 1, wire.RESULT_OK, 1, 8))
    # the board could only send from seq 1 on: 3 samples (TOP-2, TOP-1, TOP) and seq 0 are gone
    assert wire.seq_diff(ack.arg("first_seq"), cmd.arg("from_seq")) == 4
