"""Decoded frames to sample blocks: per-board unwrapping of sequence numbers and device time."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.fusion._samples import SampleBlock
from coxa.sources import ReceivedFrame, frame_arrays

_LOG = logging.getLogger(__name__)

# Columns of a frame's header row in _BoardFrames.heads.
_SEQ0, _T0, _PERIOD, _COUNT, _T_RX = range(5)


class _BoardFrames:
    """One board's frames of an unpack call: header integers and sample arrays, in order."""

    __slots__ = ("acc_raw", "flags", "gyr", "heads", "quat")

    def __init__(self) -> None:
        self.heads: list[tuple[int, int, int, int, int]] = []
        self.quat: list[NDArray[np.float64]] = []
        self.gyr: list[NDArray[np.float64]] = []
        self.flags: list[NDArray[np.uint8]] = []
        self.acc_raw: list[list[int] | None] = []

    def block(self, board_id: int) -> SampleBlock:
        heads = np.array(self.heads, dtype=np.int64)
        counts = heads[:, _COUNT]
        if len(self.heads) == 1:
            steps = np.arange(int(counts[0]), dtype=np.int64)
            head = heads[0]
            seq = head[_SEQ0] + steps
            t_device = head[_T0] + head[_PERIOD] * steps
            t_rx = np.full(steps.size, head[_T_RX], dtype=np.int64)
        else:
            frame_of_row = np.repeat(np.arange(counts.size), counts)
            first_row = np.cumsum(counts) - counts
            steps = np.arange(frame_of_row.size, dtype=np.int64) - first_row[frame_of_row]
            rows = heads[frame_of_row]
            seq = rows[:, _SEQ0] + steps
            t_device = rows[:, _T0] + rows[:, _PERIOD] * steps
            t_rx = rows[:, _T_RX].copy()
        return SampleBlock(
            board_id=board_id,
            seq=seq,
            t_device_us=t_device,
            t_rx_us=t_rx,
            quat_wxyz=_joined(self.quat),
            gyr_rad_s=_joined(self.gyr),
            acc_m_s2=self._acc(counts),
            flags=_joined(self.flags),
        )

    def _acc(self, counts: NDArray[np.int64]) -> NDArray[np.float64] | None:
        """Accelerometer rows (NaN for frames without), or None when no frame has them."""
        with_acc = [raw for raw in self.acc_raw if raw is not None]
        if not with_acc:
            return None
        flat = [value for raw in with_acc for value in raw]
        values = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
        has_acc = np.repeat([raw is not None for raw in self.acc_raw], counts)
        acc = np.full((has_acc.size, 3), np.nan)
        acc[has_acc] = values * wire.ACC_M_S2_PER_LSB
        return acc


def _joined(parts: list[NDArray[Any]]) -> NDArray[Any]:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class FrameUnpacker:
    """Turns received data frames into :class:`SampleBlock` objects, one per board and call.

    The u32 sequence number and device time of each frame are unwrapped against the previous
    frame of the same board, so counters may wrap and frames may arrive late (backfill). The
    per-frame work is the SI conversion (:func:`coxa.sources.frame_arrays`) and the unwrapping;
    the sample columns of each board are built once per call.

    Frames must come in receive order; a frame whose receive time is older than that of an
    earlier frame (of any board) gets the newest receive time seen before it. The clamping is
    done frame by frame, so it is the same however the frames are split into calls.

    Attributes
    ----------
    clamped_frames : int
        Frames whose receive time was clamped so far.
    """

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}
        self._t_rx_max_us: int | None = None
        self.clamped_frames = 0

    def unpack(self, frames: Iterable[ReceivedFrame]) -> list[SampleBlock]:
        """Sample blocks of the frames, in the order boards first appear."""
        parts: dict[int, _BoardFrames] = {}
        clamped = 0
        for received in frames:
            t_rx_us = received.t_rx_us
            if self._t_rx_max_us is not None and t_rx_us < self._t_rx_max_us:
                t_rx_us = self._t_rx_max_us
                clamped += 1
            self._t_rx_max_us = t_rx_us
            frame = received.frame
            quat, gyr, flags = frame_arrays(frame)
            count = quat.shape[0]
            board_id = frame.board_id
            previous = self._last.get(board_id)
            seq0 = wire.unwrap_u32(previous[0] if previous else None, frame.seq0)
            t0 = wire.unwrap_u32(previous[1] if previous else None, frame.t0_us)
            if previous is None or seq0 > previous[0]:
                self._last[board_id] = (seq0 + count - 1, t0 + frame.period_us * (count - 1))
            board = parts.get(board_id)
            if board is None:
                board = parts[board_id] = _BoardFrames()
            board.heads.append((seq0, t0, frame.period_us, count, t_rx_us))
            board.quat.append(quat)
            board.gyr.append(gyr)
            board.flags.append(flags)
            board.acc_raw.append(frame.acc_raw)
        if clamped:
            self.clamped_frames += clamped
            _LOG.warning("%d frames received out of order: receive times clamped", clamped)
        return [board.block(board_id) for board_id, board in parts.items()]
