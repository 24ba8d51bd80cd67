"""Virtual boards: every frame is exactly what coxa.wire encodes for the same samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa import wire
from coxa.sim import BoardSpec, run_board, to_fixed_point
from coxa.sim import _board as board_module
from coxa.sim._board import sample_flags
from coxa.sim._firmware_ahrs import run_firmware_ahrs


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 70),
    raw_mode=st.booleans(),
    seq_start=st.integers(0, 2**32 - 1),
    t0_us=st.integers(-(2**33), 2**40),
    seed=st.integers(0, 2**32 - 1),
)
def test_frames_equal_the_wire_encoding(
    n: int, raw_mode: bool, seq_start: int, t0_us: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    period_us = 5000
    gyr = rng.normal(0.0, 2.0, (n, 3))
    gyr[rng.random(n) < 0.1] *= 40.0  # some beyond the wire's +-2000 deg/s: clamped
    acc = np.array([0.0, 0.0, 9.81]) + rng.normal(0.0, 3.0, (n, 3))
    acc[rng.random(n) < 0.1] *= 30.0
    gyr_clipped = rng.random(n) < 0.2
    acc_clipped = rng.random(n) < 0.2
    t_true = 0.005 * np.arange(n, dtype=np.float64)
    t_device = t0_us + period_us * np.arange(n, dtype=np.int64)
    spec = BoardSpec(board_id=0xBEEF, placement="thigh_r", raw_mode=raw_mode, seq_start=seq_start)
    out = run_board(spec, t_true, t_device, period_us, gyr, acc, gyr_clipped, acc_clipped)

    quat, ahrs_flags = run_firmware_ahrs(1e6 / period_us, gyr, acc)
    np.testing.assert_array_equal(out.quat_wxyz, quat)
    flags = sample_flags(ahrs_flags, gyr_clipped, acc_clipped).tolist()
    q14 = to_fixed_point(quat * wire.Q14_ONE).tolist()
    gyr_raw = to_fixed_point(gyr / wire.GYR_RAD_S_PER_LSB).tolist()
    acc_raw = to_fixed_point(acc / wire.ACC_M_S2_PER_LSB).tolist()
    per_frame = wire.samples_per_frame(raw_mode)
    expected: list[bytes] = []
    for start in range(0, n, per_frame):
        end = min(start + per_frame, n)
        expected.append(
            wire.encode_data_frame(
                wire.KIND_DATA_LIVE,
                spec.board_id,
                (seq_start + start) % 2**32,
                int(t_device[start]) % 2**32,
                period_us,
                [v for row in q14[start:end] for v in row],
                [v for row in gyr_raw[start:end] for v in row],
                flags[start:end],
                [v for row in acc_raw[start:end] for v in row] if raw_mode else None,
            )
        )
    assert out.frames == expected
    ends = np.minimum(np.arange(0, n, per_frame) + per_frame, n)
    np.testing.assert_array_equal(out.t_queued_s, t_true[ends - 1])


def test_an_empty_recording_sends_nothing() -> None:
    empty = np.zeros((0, 3))
    out = run_board(
        BoardSpec(board_id=1, placement="pelvis"),
        np.zeros(0),
        np.zeros(0, dtype=np.int64),
        5000,
        empty,
        empty,
        np.zeros(0, dtype=bool),
        np.zeros(0, dtype=bool),
    )
    assert out.frames == []
    assert out.t_queued_s.shape == (0,)
    assert out.quat_wxyz.shape == (0, 4)


def test_a_filter_flag_outside_the_protocol_is_a_protocol_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Protocol v1 has four sample flag bits; a firmware that set a fifth must not be encoded.
    def filter_with_unknown_flag(
        rate_hz: float, gyr: np.ndarray, acc: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        quat, flags = run_firmware_ahrs(rate_hz, gyr, acc)
        return quat, flags | np.uint8(0x10)

    monkeypatch.setattr(board_module, "run_firmware_ahrs", filter_with_unknown_flag)
    samples = np.tile([0.0, 0.0, 9.81], (3, 1))
    with pytest.raises(wire.ProtocolError, match="flags"):
        run_board(
            BoardSpec(board_id=1, placement="pelvis"),
            np.zeros(3),
            np.zeros(3, dtype=np.int64),
            5000,
            samples * 0.0,
            samples,
            np.zeros(3, dtype=bool),
            np.zeros(3, dtype=bool),
        )
