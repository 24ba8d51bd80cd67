"""Captures of whole sessions: write a simulated one, read BLE packets back for the decoders."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import coxa
from coxa.capture._format import CaptureRecord, LinkKind
from coxa.capture._reader import Capture
from coxa.capture._writer import CaptureWriter

if TYPE_CHECKING:
    from coxa.sim import RigRecording


def sim_metadata(recording: RigRecording) -> dict[str, Any]:
    """Header metadata describing a simulated session.

    Returns
    -------
    dict
        ``{"source": "simulation", "link_kind": "ble", "coxa_version": ..., "exercise": ...,
        "seed": ..., "rig": {"<board_id>": "<segment>", ...}}``; JSON object keys are strings,
        so board ids are written in decimal.
    """
    return {
        "source": "simulation",
        "link_kind": "ble",
        "coxa_version": coxa.__version__,
        "exercise": recording.params.motion.exercise,
        "seed": recording.params.seed,
        "rig": {str(board_id): seg for board_id, seg in recording.segments_by_board.items()},
    }


def write_sim_capture(
    path: str | os.PathLike[str],
    recording: RigRecording,
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Write every delivered notification of a simulated session to a new capture.

    Each :class:`coxa.sim.RigPacket` becomes one BLE record: ``t_rx_ns = t_rx_us * 1000``,
    link id = board id, payload = the packet, in host receive order.

    Parameters
    ----------
    path : str or os.PathLike
        File to create; never overwritten.
    recording : coxa.sim.RigRecording
        The simulated session.
    metadata : mapping, optional
        Extra header keys; they override those of :func:`sim_metadata`.

    Returns
    -------
    int
        Records written.
    """
    header = sim_metadata(recording) | dict(metadata or {})
    with CaptureWriter(path, header, flush_interval_s=float("inf")) as writer:
        for packet in recording.packets:
            writer.append(packet.t_rx_us * 1000, packet.board_id, LinkKind.BLE, packet.packet)
        return writer.records


def capture_packets(source: Capture | Iterable[CaptureRecord]) -> list[tuple[int, int, bytes]]:
    """The BLE records of a capture as ``(t_rx_us, board_id, packet)`` tuples.

    Feed them, per board, to :meth:`coxa.sources.LinkDecoder.push`. Other record kinds are left
    out; receive times are floored to whole microseconds.

    Parameters
    ----------
    source : Capture or iterable of CaptureRecord
        A capture read whole, or a stream from :func:`coxa.capture.iter_capture`.
    """
    records = source.records if isinstance(source, Capture) else source
    return [(r.t_rx_ns // 1000, r.link_id, r.payload) for r in records if r.kind == LinkKind.BLE]
