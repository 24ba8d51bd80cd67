"""The samples a virtual board streams: protocol v1 sample bytes and device times, per board."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.sim import RigRecording


@dataclass(frozen=True, eq=False)
class BoardSamples:
    """Every sample one virtual board will take, already in protocol v1 layout.

    Attributes
    ----------
    board_id : int
        u16 board id (advertised name, frames).
    placement : int
        Wire segment of the board (``coxa.wire.SEGMENT_*``), advertised.
    period_us : int
        Sample period the board declares in its frames, microseconds.
    t_us : ndarray of int64, shape (n,)
        Device time of each sample, microseconds (unwrapped; sent modulo 2**32).
    payload : bytes
        ``n`` samples of ``coxa.wire.QUAT_SAMPLE_BYTES`` bytes each, back to back.
    seq_start : int
        Sequence number of the first sample after power-on, u32.
    """

    board_id: int
    placement: int
    period_us: int
    t_us: NDArray[np.int64]
    payload: bytes
    seq_start: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.board_id <= 0xFFFF:
            raise ValueError(f"board_id must be a u16, got {self.board_id}")
        if not 1 <= self.period_us <= 0xFFFF:
            raise ValueError(f"period_us must be within 1..65535, got {self.period_us}")
        if len(self.payload) != self.t_us.shape[0] * wire.QUAT_SAMPLE_BYTES:
            raise ValueError(
                f"payload holds {len(self.payload)} bytes for {self.t_us.shape[0]} samples "
                f"of {wire.QUAT_SAMPLE_BYTES} bytes"
            )

    @property
    def count(self) -> int:
        """Number of samples."""
        return int(self.t_us.shape[0])

    @property
    def rate_hz(self) -> float:
        """Nominal sample rate, Hz."""
        return 1e6 / self.period_us

    def sample(self, index: int) -> bytes:
        """The bytes of sample ``index`` (0-based)."""
        size = wire.QUAT_SAMPLE_BYTES
        return self.payload[index * size : (index + 1) * size]


def board_samples(
    recording: RigRecording, board_ids: dict[int, int] | None = None
) -> list[BoardSamples]:
    """The samples each board of a simulated session sent, ready for virtual boards.

    Parameters
    ----------
    recording : coxa.sim.RigRecording
        A simulated session (quaternion mode); its boards' frames are unpacked sample by
        sample, so the virtual boards send exactly the simulator's bytes.
    board_ids : dict of int to int, optional
        Renames boards (simulated id to the id the virtual board uses), e.g. to put the
        boards of two sessions on one radio without clashing ids.

    Returns
    -------
    list of BoardSamples
        One per board, in the order of ``recording.boards``.
    """
    renames = board_ids or {}
    out: list[BoardSamples] = []
    for board_id, spec in recording.boards.items():
        if spec.raw_mode:
            raise ValueError(f"board {board_id} streams raw mode; virtual boards send quaternions")
        frames = [wire.decode_data_frame(f) for f in recording.outputs[board_id].frames]
        if not frames:
            raise ValueError(f"board {board_id} sent no frame")
        period_us = frames[0].period_us
        t_list: list[int] = []
        chunks: list[bytes] = []
        for raw, frame in zip(recording.outputs[board_id].frames, frames, strict=True):
            t_list.extend(frame.t0_us + i * frame.period_us for i in range(frame.count))
            chunks.append(raw[wire.DATA_HEADER_BYTES :])
        t_u32 = np.asarray(t_list, dtype=np.int64)
        # unwrap the u32 device clock so the virtual board can restart it on a reboot
        steps = np.diff(t_u32, prepend=t_u32[:1]) % (1 << 32)
        t_us = t_u32[0] + np.cumsum(steps)
        out.append(
            BoardSamples(
                board_id=renames.get(board_id, board_id),
                placement=wire.segment_from_name(spec.placement),
                period_us=period_us,
                t_us=t_us.astype(np.int64),
                payload=b"".join(chunks),
                seq_start=frames[0].seq0,
            )
        )
    return out
