"""Where a sensor sits on a segment and how it is turned (sensor-to-segment mounting).

A mounting is the rigid transform from the sensor frame to the segment frame: the sensor
orientation ``quat_segment_sensor_wxyz`` (sensor-frame vectors into the segment frame) and
the sensor's position in the segment frame. The defaults put boards where straps go in
practice (sacrum, lateral mid-thigh, anteromedial shank) with their axes deliberately *not*
aligned with the segment axes: assuming alignment costs 11-19 deg RMS [src, domain notes
section 5], so the pipeline must calibrate, and the simulator must make it.

All default positions and angles are [assumption] (typical strap sites, rounded).
:func:`random_mount` draws seeded random straps with a bounded angle off the nominal placement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coxa.body import NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ, SEGMENTS, SegmentName
from coxa.geometry import FloatArray, quat_from_axis_angle, quat_multiply


@dataclass(frozen=True)
class SensorMount:
    """A sensor strapped on a segment.

    Attributes
    ----------
    segment : str
        One of :data:`coxa.body.SEGMENTS`.
    quat_segment_sensor_wxyz : tuple of 4 floats
        Sensor frame relative to the segment frame (rotates sensor vectors into the segment
        frame), unit quaternion ``wxyz``.
    position_in_segment_m : tuple of 3 floats
        Sensor origin in the segment frame, metres.
    """

    segment: SegmentName
    quat_segment_sensor_wxyz: tuple[float, float, float, float]
    position_in_segment_m: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"segment must be one of {SEGMENTS}, got {self.segment!r}")
        norm = float(np.linalg.norm(self.quat_segment_sensor_wxyz))
        if abs(norm - 1.0) > 1e-6:
            raise ValueError(f"quat_segment_sensor_wxyz must be a unit quaternion, norm {norm}")

    @property
    def quat_wxyz(self) -> FloatArray:
        """``quat_segment_sensor_wxyz`` as an array, shape ``(4,)``."""
        return np.array(self.quat_segment_sensor_wxyz, dtype=np.float64)

    @property
    def position_m(self) -> FloatArray:
        """``position_in_segment_m`` as an array, shape ``(3,)``."""
        return np.array(self.position_in_segment_m, dtype=np.float64)


def _mount(
    segment: SegmentName,
    rotations_deg: tuple[tuple[int, float], ...],
    position_m: tuple[float, float, float],
) -> SensorMount:
    """Nominal placement turned by successive rotations ``(sensor axis index, degrees)``."""
    q = NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment]
    for axis, angle_deg in rotations_deg:
        q = quat_multiply(q, quat_from_axis_angle(np.eye(3)[axis], np.radians(angle_deg)))
    return SensorMount(
        segment=segment,
        quat_segment_sensor_wxyz=(float(q[0]), float(q[1]), float(q[2]), float(q[3])),
        position_in_segment_m=position_m,
    )


def default_mount(segment: SegmentName) -> SensorMount:
    """The default strap site and board orientation of one segment [assumption].

    Starts from the product's nominal placement (:data:`coxa.body.NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ`:
    board face on the skin, sensor Z out of the body, sensor X up the limb) and turns the board
    the way real straps sit:

    - ``pelvis``: on the sacrum, 0.13 m posterior and 0.05 m superior of the hip-centre
      midpoint; face tilted 25 deg upward (sacral slope), then 8 deg askew about its normal.
    - ``femur_*``: lateral mid-thigh, 0.20 m below the hip centre, 0.08 m lateral; face turned
      20 deg anteriorly about the thigh axis, then 12 deg askew.
    - ``tibia_*``: anteromedial shank on the flat of the tibia, 0.15 m below the knee centre;
      face turned 30 deg medially about the shank axis, then 10 deg askew.

    The left side mirrors the right (turned the other way about the limb axis).
    """
    lateral = -1.0 if segment.endswith("_l") else 1.0
    if segment == "pelvis":
        return _mount(segment, ((1, 25.0), (2, 8.0)), (-0.13, 0.05, 0.0))
    if segment.startswith("femur"):
        return _mount(
            segment, ((0, 20.0 * lateral), (2, 12.0 * lateral)), (0.0, -0.20, 0.08 * lateral)
        )
    return _mount(
        segment, ((0, 30.0 * lateral), (2, -10.0 * lateral)), (0.03, -0.15, -0.02 * lateral)
    )


def default_mounts() -> dict[SegmentName, SensorMount]:
    """Default mountings of all five segments, keyed by segment name."""
    return {segment: default_mount(segment) for segment in SEGMENTS}


def random_mount(segment: SegmentName, *, seed: int, max_angle_deg: float = 30.0) -> SensorMount:
    """A strap at the default site, turned off the nominal placement by a seeded random rotation.

    The board frame is the product's nominal placement
    (:data:`coxa.body.NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ`) turned about a random axis (uniform on
    the sphere, in the sensor frame) by an angle drawn uniformly from ``[0, max_angle_deg]``;
    the position is :func:`default_mount`'s. The draw depends only on ``seed`` and the segment,
    so a segment gets the same strap whichever other boards a rig carries.

    Parameters
    ----------
    segment : str
        One of :data:`coxa.body.SEGMENTS`.
    seed : int
        Seed of the draw, >= 0 (with the segment's index in :data:`coxa.body.SEGMENTS`, the
        entropy of a ``numpy.random.SeedSequence``).
    max_angle_deg : float
        Largest angle off the nominal placement, degrees, in [0, 180]. Default 30
        [assumption: the range the fusion-core accuracy tests must cover].

    Returns
    -------
    SensorMount
        At most ``max_angle_deg`` off the nominal placement.
    """
    if segment not in SEGMENTS:
        raise ValueError(f"segment must be one of {SEGMENTS}, got {segment!r}")
    if not 0.0 <= max_angle_deg <= 180.0:
        raise ValueError(f"max_angle_deg must be within [0, 180], got {max_angle_deg}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, SEGMENTS.index(segment)]))
    angle_rad = np.radians(rng.uniform(0.0, max_angle_deg))
    axis = rng.standard_normal(3)
    while float(np.linalg.norm(axis)) < 1e-9:  # a zero vector has no direction: draw again
        axis = rng.standard_normal(3)
    nominal = NOMINAL_QUAT_SEGMENT_SENSOR_WXYZ[segment]
    q = quat_multiply(nominal, quat_from_axis_angle(axis, angle_rad))
    return SensorMount(
        segment=segment,
        quat_segment_sensor_wxyz=(float(q[0]), float(q[1]), float(q[2]), float(q[3])),
        position_in_segment_m=default_mount(segment).position_in_segment_m,
    )
