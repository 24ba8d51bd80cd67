"""Orientation-only inputs (files such as OpenSense ``.sto``) as fusion-core sample blocks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from coxa.body import SegmentName
from coxa.fusion._samples import SampleBlock
from coxa.geometry import FloatArray


def blocks_from_orientations(
    t_s: FloatArray, quat_wxyz_by_segment: Mapping[SegmentName, FloatArray]
) -> tuple[dict[int, SegmentName], list[SampleBlock]]:
    """One pseudo-board per segment, on the file's clock (no receive delay), no gyroscope.

    Parameters
    ----------
    t_s : ndarray, shape (n,)
        Sample times, seconds, strictly increasing.
    quat_wxyz_by_segment : mapping of str to ndarray, shape (n, 4)
        Sensor orientation relative to a Z-up ground, per segment. Each column keeps its own
        heading reference as far as the core is concerned (nothing assumes they share one).

    Returns
    -------
    segments_by_board : dict of int to str
    blocks : list of SampleBlock
    """
    t_us = np.rint(np.asarray(t_s, dtype=np.float64) * 1e6).astype(np.int64)
    n = t_us.size
    segments: dict[int, SegmentName] = {}
    blocks: list[SampleBlock] = []
    for board_id, (segment, quat) in enumerate(quat_wxyz_by_segment.items()):
        segments[board_id] = segment
        blocks.append(
            SampleBlock(
                board_id=board_id,
                seq=np.arange(n, dtype=np.int64),
                t_device_us=t_us,
                t_rx_us=t_us,
                quat_wxyz=np.asarray(quat, dtype=np.float64),
                gyr_rad_s=None,
                acc_m_s2=None,
                flags=np.zeros(n, dtype=np.uint8),
            )
        )
    return segments, blocks
