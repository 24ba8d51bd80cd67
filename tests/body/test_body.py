"""Body segments and placements agree with the wire protocol and with each other."""

from __future__ import annotations

import numpy as np

from coxa import wire
from coxa.body import NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ, SEGMENT_OF_PLACEMENT, SEGMENTS
from coxa.geometry import quat_rotate


def test_placements_are_the_wire_segments() -> None:
    assert set(SEGMENT_OF_PLACEMENT) == set(wire.SEGMENT_NAMES)
    assert set(SEGMENT_OF_PLACEMENT.values()) == set(SEGMENTS)


def test_every_board_faces_out_of_the_body_with_x_up_the_limb() -> None:
    outward = {
        "pelvis": [-1.0, 0.0, 0.0],
        "femur_r": [0.0, 0.0, 1.0],
        "femur_l": [0.0, 0.0, -1.0],
        "tibia_r": [1.0, 0.0, 0.0],
        "tibia_l": [1.0, 0.0, 0.0],
    }
    for segment, quat in NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ.items():
        np.testing.assert_allclose(quat_rotate(quat, [1.0, 0.0, 0.0]), [0, 1, 0], atol=1e-12)
        np.testing.assert_allclose(quat_rotate(quat, [0.0, 0.0, 1.0]), outward[segment], atol=1e-12)
