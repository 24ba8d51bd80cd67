"""Which boards of a rig the fusion core uses: the segment names a source may report."""

from __future__ import annotations

from collections.abc import Mapping

from coxa.body import SEGMENTS, SegmentName

UNASSIGNED_SEGMENT = "unassigned"
"""Segment of a board that belongs to a rig but is not fused (a spare or extra board): its
frames are recorded and its link is monitored, nothing more."""


def fused_segments(segments_by_board: Mapping[int, str]) -> dict[int, SegmentName]:
    """The boards on a body segment the fusion core knows (``coxa.body.SEGMENTS``).

    Parameters
    ----------
    segments_by_board : mapping of int to str
        Segment of every board of a rig (:data:`UNASSIGNED_SEGMENT` for extra boards).

    Returns
    -------
    dict of int to str
        Board id to segment, boards without a known segment left out.
    """
    out: dict[int, SegmentName] = {}
    for board_id, name in segments_by_board.items():
        for segment in SEGMENTS:
            if segment == name:
                out[board_id] = segment
    return out
