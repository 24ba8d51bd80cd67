"""Decoded frames to sample blocks: per-board unwrapping of sequence numbers and device time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.fusion._samples import SampleBlock
from coxa.sources import ReceivedFrame, frame_arrays


class FrameUnpacker:
    """Turns received data frames into :class:`SampleBlock` objects, one per board and call.

    The u32 sequence number and device time of each frame are unwrapped against the previous
    frame of the same board, so counters may wrap and frames may arrive late (backfill).
    """

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}

    def unpack(self, frames: Iterable[ReceivedFrame]) -> list[SampleBlock]:
        """Sample blocks of the frames, in the order boards first appear."""
        parts: dict[int, list[tuple[NDArray[Any], ...]]] = {}
        for received in frames:
            frame = received.frame
            quat, gyr, flags = frame_arrays(frame)
            count = quat.shape[0]
            previous = self._last.get(frame.board_id)
            seq0 = wire.unwrap_u32(previous[0] if previous else None, frame.seq0)
            t0 = wire.unwrap_u32(previous[1] if previous else None, frame.t0_us)
            if previous is None or seq0 > previous[0]:
                self._last[frame.board_id] = (seq0 + count - 1, t0 + frame.period_us * (count - 1))
            steps = np.arange(count, dtype=np.int64)
            acc: NDArray[np.float64] = np.full((count, 3), np.nan)
            if frame.acc_raw is not None:
                raw: list[int] = frame.acc_raw
                acc = np.asarray(raw, dtype=np.float64).reshape(-1, 3) * wire.ACC_M_S2_PER_LSB
            parts.setdefault(frame.board_id, []).append(
                (
                    seq0 + steps,
                    t0 + frame.period_us * steps,
                    np.zeros(count, dtype=np.int64) + received.t_rx_us,
                    quat,
                    gyr,
                    acc,
                    flags,
                )
            )
        blocks: list[SampleBlock] = []
        for board_id, rows in parts.items():
            columns = [np.concatenate(column) for column in zip(*rows, strict=True)]
            acc_all = columns[5]
            blocks.append(
                SampleBlock(
                    board_id=board_id,
                    seq=columns[0],
                    t_device_us=columns[1],
                    t_rx_us=columns[2],
                    quat_wxyz=columns[3],
                    gyr_rad_s=columns[4],
                    acc_m_s2=None if np.isnan(acc_all).all() else acc_all,
                    flags=columns[6].astype(np.uint8),
                )
            )
        return blocks
