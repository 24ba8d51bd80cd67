"""The knee-hinge heading correction with a knee that is not a pure hinge about the femur's Z
at the neutral pose: the tibia turns about its own axis as the knee flexes (screw-home), so the
flexion axis lies turned in the tibia's frame. The correction compares each segment's own
hinge axis; comparing the frames' Z axes would pull the shank's heading off by the screw-home
angle."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.fusion import HeadingParams, HeadingState
from coxa.fusion._heading import correct_headings
from coxa.geometry import FloatArray, quat_from_axis_angle, quat_multiply, quat_rotate

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])
RATE_HZ = 50.0
#: Standing: the segment's long axis (Y) along the world's up (Z).
STANDING = quat_from_axis_angle(_X, np.pi / 2.0)
#: Board columns: femur_r 0, tibia_r 1 (roles: pelvis, femur_r, femur_l, tibia_r, tibia_l).
ROLES = np.array([-1, 0, -1, 1, -1], dtype=np.int64)


def knee_bends(screw_deg: float, seconds: float) -> tuple[FloatArray, FloatArray]:
    """Thigh and shank segment orientations ``(m, 4)`` of slow knee bends between 50 and 100
    deg of flexion (hip flexing with them), the tibia turned internally by ``screw_deg``
    about its long axis (the screw-home rotation is complete beyond 30 deg)."""
    t = np.arange(0.0, seconds, 1.0 / RATE_HZ)
    knee = np.radians(75.0 + 25.0 * np.sin(2.0 * np.pi * t / 4.0))
    thigh = quat_multiply(STANDING, quat_from_axis_angle(_Z, 0.8 * knee))
    shank = quat_multiply(
        thigh,
        quat_multiply(
            quat_from_axis_angle(_Z, -knee),
            quat_from_axis_angle(_Y, np.full(t.size, np.radians(screw_deg))),
        ),
    )
    return thigh, shank


def shank_heading_error_deg(
    screw_deg: float, start_error_deg: float, hinge_axes: FloatArray
) -> float:
    """Heading error of the shank board after 60 s of knee bends, the shank board's world
    starting ``start_error_deg`` off, degrees."""
    thigh, shank = knee_bends(screw_deg, 60.0)
    quat = np.stack([thigh, shank], axis=1)
    still = np.zeros(quat.shape[:2], dtype=bool)
    state = HeadingState.initial(np.array([0.0, np.radians(start_error_deg)]))
    params = HeadingParams(anchor=False, drift_rate=False)
    correct_headings(quat, still, ROLES, hinge_axes, 1.0 / RATE_HZ, params, state)
    return float(np.degrees(state.heading_rad[1] - state.heading_rad[0]))


@settings(max_examples=10, deadline=None)
@given(screw_deg=st.floats(0.0, 10.0), start_error_deg=st.floats(-5.0, 5.0))
def test_the_correction_settles_on_the_true_heading(
    screw_deg: float, start_error_deg: float
) -> None:
    """Each segment's own hinge axis: the femur's Z, and in the tibia the femur's Z seen
    through the flexed knee (turned back by the screw-home rotation about the tibia's Y)."""
    tibia_axis = quat_rotate(quat_from_axis_angle(_Y, -np.radians(screw_deg)), _Z)
    error = shank_heading_error_deg(screw_deg, start_error_deg, np.stack([_Z, tibia_axis]))
    assert abs(error) < 0.05 * abs(start_error_deg) + 0.05


def test_comparing_the_frames_z_axes_is_off_by_the_screw_home_angle() -> None:
    """The discriminating case: the frames' Z axes as hinge axes (what the correction did
    before) pull the shank's heading off by the screw-home rotation."""
    error = shank_heading_error_deg(7.0, 0.0, np.stack([_Z, _Z]))
    assert abs(abs(error) - 7.0) < 0.5
