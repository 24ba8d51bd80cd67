"""Segment lengths, hip joint centres and forward kinematics of the pelvis-thigh-shank chain.

Frames follow :mod:`coxa.geometry`: segment X anterior, Y proximal, Z to the right. The pelvis
origin is the midpoint between the two hip joint centres; each femur frame has its origin at its
hip joint centre, each tibia frame at its knee joint centre. The ankle joint centre lies on the
tibia's long axis, ``shank_length_m`` below the knee. Hip and knee are ball and hinge joints
(the knee's coupled axial rotation is a commanded angle, not a second degree of freedom here).

Default lengths are Winter's segment-length ratios of body height (Winter 2009, Fig. 4.1:
thigh 0.245 H, leg 0.246 H, ankle height 0.039 H) for a body height of 1.75 m [assumption],
so the lengths are [derived]. The hip joint centre half-distance 0.09 m is from Harrington et
al.'s regression (lateral offset ``0.33 PW + 7.3 mm`` from the pelvis midline) with a pelvic
width PW of 0.25 m [assumption], i.e. [derived].

References
----------
Winter D.A. (2009) Biomechanics and Motor Control of Human Movement, 4th ed. Wiley.
doi:10.1002/9780470549148
Harrington M.E. et al. (2007) Prediction of the hip joint centre in adults, children, and
patients with cerebral palsy based on magnetic resonance imaging. J Biomech 40:595-602.
doi:10.1016/j.jbiomech.2006.02.003
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coxa.geometry import FloatArray, Side
from coxa.sim._columns import QuatCols, VecCols, rotate, vec_cols


def side_sign(side: Side) -> float:
    """+1 for the right leg, -1 for the left (the sign of the pelvis Z coordinate of its hip)."""
    if side == "r":
        return 1.0
    if side == "l":
        return -1.0
    raise ValueError(f"side must be 'r' or 'l', got {side!r}")


@dataclass(frozen=True)
class Anthropometry:
    """Segment dimensions of the simulated athlete, metres.

    Attributes
    ----------
    thigh_length_m : float
        Hip joint centre to knee joint centre. Default 0.429 m [derived: 0.245 x 1.75 m].
    shank_length_m : float
        Knee joint centre to ankle joint centre. Default 0.431 m [derived: 0.246 x 1.75 m].
    hip_half_width_m : float
        Pelvis midline to each hip joint centre. Default 0.090 m [derived: Harrington 2007,
        PW 0.25 m assumed].
    ankle_height_m : float
        Floor (or box top) to the ankle joint centre when the foot is flat. Default 0.068 m
        [derived: 0.039 x 1.75 m].
    """

    thigh_length_m: float = 0.429
    shank_length_m: float = 0.431
    hip_half_width_m: float = 0.090
    ankle_height_m: float = 0.068

    def __post_init__(self) -> None:
        if min(self.thigh_length_m, self.shank_length_m, self.hip_half_width_m) <= 0:
            raise ValueError("segment lengths must be positive")
        if self.ankle_height_m < 0:
            raise ValueError("ankle_height_m must be >= 0")

    def hip_centre_in_pelvis_m(self, side: Side) -> FloatArray:
        """Hip joint centre in the pelvis frame, metres, shape ``(3,)``."""
        return np.array([0.0, 0.0, side_sign(side) * self.hip_half_width_m])

    def knee_in_femur_m(self) -> FloatArray:
        """Knee joint centre in the femur frame, metres, shape ``(3,)``."""
        return np.array([0.0, -self.thigh_length_m, 0.0])

    def ankle_in_tibia_m(self) -> FloatArray:
        """Ankle joint centre in the tibia frame, metres, shape ``(3,)``."""
        return np.array([0.0, -self.shank_length_m, 0.0])


@dataclass(frozen=True, eq=False)
class LegLinks:
    """World vectors along one leg's chain, metres, each ``(x, y, z)`` columns of shape ``(N,)``.

    Attributes
    ----------
    pelvis_to_hip_m, hip_to_knee_m, knee_to_ankle_m : tuple of 3 ndarrays
        Pelvis origin to hip joint centre, hip to knee, knee to ankle joint centre.
    """

    pelvis_to_hip_m: VecCols
    hip_to_knee_m: VecCols
    knee_to_ankle_m: VecCols

    @property
    def pelvis_to_ankle_m(self) -> VecCols:
        """Pelvis origin to the ankle joint centre, metres."""
        a, b, c = self.pelvis_to_hip_m, self.hip_to_knee_m, self.knee_to_ankle_m
        return (a[0] + b[0] + c[0], a[1] + b[1] + c[1], a[2] + b[2] + c[2])

    def positions_m(self, pelvis_m: VecCols) -> tuple[VecCols, VecCols, VecCols]:
        """Hip, knee and ankle joint centres from the pelvis origin, metres."""
        a, b, c = self.pelvis_to_hip_m, self.hip_to_knee_m, self.knee_to_ankle_m
        hip = (pelvis_m[0] + a[0], pelvis_m[1] + a[1], pelvis_m[2] + a[2])
        knee = (hip[0] + b[0], hip[1] + b[1], hip[2] + b[2])
        ankle = (knee[0] + c[0], knee[1] + c[1], knee[2] + c[2])
        return hip, knee, ankle


def leg_links_m(
    body: Anthropometry,
    side: Side,
    quat_world_pelvis_wxyz: QuatCols,
    quat_world_femur_wxyz: QuatCols,
    quat_world_tibia_wxyz: QuatCols,
) -> LegLinks:
    """Forward kinematics of one leg from the segment orientations (columns ``w, x, y, z``)."""
    return LegLinks(
        pelvis_to_hip_m=rotate(quat_world_pelvis_wxyz, vec_cols(body.hip_centre_in_pelvis_m(side))),
        hip_to_knee_m=rotate(quat_world_femur_wxyz, vec_cols(body.knee_in_femur_m())),
        knee_to_ankle_m=rotate(quat_world_tibia_wxyz, vec_cols(body.ankle_in_tibia_m())),
    )
