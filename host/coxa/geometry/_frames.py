"""World and segment frame conventions shared by the simulator and the pipeline.

World frame: Z up (against gravity), X the direction the athlete faces at calibration, Y to the
athlete's left. Segment frames (ISB / OpenSim): X anterior, Y proximal (up when standing), Z to
the right. Standing upright and facing world +X, every segment frame is the world frame turned
+90 deg about world X (segment Y -> world Z, segment Z -> world -Y).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from coxa.geometry._quaternion import FloatArray, as_quat_array

#: Standard gravity, m/s^2 (CGPM 1901).
GRAVITY_M_S2 = 9.80665

#: Segment frame in the world frame when standing upright facing world +X, ``wxyz``.
QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ: FloatArray = np.array(
    [np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0]
)


def heading_rad(quat_world_segment_wxyz: ArrayLike) -> FloatArray:
    """Heading of a segment's anterior (X) axis about world Z, radians in (-pi, pi], ``(...)``.

    Zero when the segment faces world +X, positive turning left (counter-clockwise seen from
    above). Undefined (returns an arbitrary value) when the X axis is vertical.
    """
    q = as_quat_array(quat_world_segment_wxyz)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    # First column of the rotation matrix: the segment X axis in world coordinates.
    ax = 1 - 2 * (y * y + z * z)
    ay = 2 * (x * y + w * z)
    return np.arctan2(ay, ax)
