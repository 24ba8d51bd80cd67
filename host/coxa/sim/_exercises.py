"""Posture templates of the simulated exercises and clinical tests (data, with labels).

A template says where the athlete is (standing, prone, seated), what is fixed in the room (the
working foot or the pelvis), and how each commanded angle moves from the top of a rep
(progress 0) to the bottom (progress 1). Bottom values are given at the exercise's default
depth (peak knee flexion of the working leg) and change linearly with depth, so a shallower or
deeper rep keeps a plausible shank inclination. Angles in degrees; hip flexion is the femur
relative to the pelvis; pelvis tilt is anterior-positive, relative to the base posture.

Every number below is an [assumption] (a plausible posture chosen for this simulator) unless
its comment says otherwise. Sagittal consistency was [derived] for each exercise: the world
forward inclination of the working shank is ``hip flexion - knee flexion - pelvis tilt``
(negative when the knee is ahead of the ankle) and stays within about -40..+10 deg over the
allowed depth range.

Standing sets start in the neutral pose (all angles 0) and move into the top position before
the first rep (``MotionParams.setup_s``). The pipeline calibrates on that neutral rest, so the
knees read their true flexion at the top: every top position keeps both knees below 20 deg,
the end threshold of the rep counter (:class:`coxa.analysis.RepParams`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    FloatArray,
    quat_from_axis_angle,
    quat_multiply,
)

Exercise = Literal[
    "squat",
    "split_squat",
    "ffe_split_squat",
    "step_up",
    "crossover_step_up",
    "hinge",
    "90_90",
    "rest",
    "prone_ir",
    "seated_ir",
    "supine_ir",
    "aslr",
]

#: Every exercise the simulator knows, in documentation order.
EXERCISES: tuple[Exercise, ...] = (
    "squat",
    "split_squat",
    "ffe_split_squat",
    "step_up",
    "crossover_step_up",
    "hinge",
    "90_90",
    "rest",
    "prone_ir",
    "seated_ir",
    "supine_ir",
    "aslr",
)

Posture = Literal["standing", "prone", "seated", "supine"]
Anchor = Literal["foot", "pelvis"]


@dataclass(frozen=True)
class Ramp:
    """An angle moving from its top value (progress 0) to its bottom value (progress 1).

    Attributes
    ----------
    top_deg, bottom_deg : float
        Values at the exercise's default depth, degrees.
    top_per_depth, bottom_per_depth : float
        Change of each value per degree of depth away from the default (dimensionless).
    """

    top_deg: float
    bottom_deg: float
    bottom_per_depth: float = 0.0
    top_per_depth: float = 0.0

    def top(self, depth_offset_deg: float) -> float:
        """Top value in degrees at ``depth - default depth = depth_offset_deg``."""
        return self.top_deg + self.top_per_depth * depth_offset_deg

    def bottom(self, depth_offset_deg: FloatArray) -> FloatArray:
        """Bottom values in degrees for depth offsets (degrees), shape as the input."""
        return self.bottom_deg + self.bottom_per_depth * depth_offset_deg

    @property
    def is_still(self) -> bool:
        """Whether the angle is 0 at every depth and progress."""
        return not any((self.top_deg, self.bottom_deg, self.top_per_depth, self.bottom_per_depth))


#: The knee of a clinical test: held at the depth at the top and the bottom alike.
_HELD_AT_DEPTH_90 = Ramp(90.0, 90.0, bottom_per_depth=1.0, top_per_depth=1.0)
_STILL_0 = Ramp(0.0, 0.0)
_STILL_90 = Ramp(90.0, 90.0)


@dataclass(frozen=True)
class ExerciseTemplate:
    """How one exercise or clinical test moves.

    Attributes
    ----------
    posture : {'standing', 'prone', 'seated', 'supine'}
        Base orientation of the pelvis before tilt, obliquity and yaw (seated covers sitting
        on a chair and on the floor; the anchor height tells them apart).
    anchor : {'foot', 'pelvis'}
        What stays fixed in the room: the working leg's ankle joint centre, or the pelvis origin.
    anchor_height_m : float
        Foot anchor: height of the surface under the working foot (box, plate), metres.
        Pelvis anchor: height of the pelvis origin (hip joint centres), metres.
    depth_default_deg, depth_min_deg, depth_max_deg : float
        Default and allowed peak knee flexion of the working leg, degrees.
    hip_ir_default_deg : float
        Default hip internal rotation at the bottom of each rep, degrees.
    work_hip_flexion, work_knee_flexion : Ramp
        Working (lead, tested) leg. With ``both_feet_planted`` only the top values are used
        (they place the feet).
    other_hip_flexion, other_knee_flexion : Ramp
        Other leg. With ``other_leg_planted`` only the top values are used: they place the
        other foot, which then stays put while the hip and knee of that leg are solved.
    pelvis_tilt : Ramp
        Anterior pelvic tilt relative to the base posture, degrees.
    plant_feet : bool
        Solve hip adduction so each ankle keeps its lateral distance from the pelvis midline
        (feet do not slide sideways when the hip rotates).
    ankle_lateral_offset_m : float
        Each ankle's lateral distance outside its hip joint centre, metres (stance width).
    other_leg_planted : bool
        Solve the other leg's hip and knee so its ankle stays where it was at the top.
    other_leg_rotates : bool
        The other leg also reaches its commanded hip IR at the bottom (else it stays at 0).
    hip_ir_top_deg, hip_ir_other_top_deg : float
        Default hip internal rotation of the working and the other leg at the top of each rep,
        degrees (negative: external rotation). Default 0 (every rep starts at neutral
        rotation).
    hip_ir_other_default_deg : float or None
        Default hip IR of the other leg at the bottom; None (default): the working leg's.
    work_hip_adduction, other_hip_adduction : Ramp
        Commanded hip adduction, degrees (negative: abduction). Only without ``plant_feet``
        (with it the adduction is solved). Default 0.
    pelvis_yaw_toward_work : Ramp
        Pelvis yaw toward the working leg's side, degrees (for a right working leg a turn to
        the right, i.e. negative ``MotionParams`` yaw). Default 0.
    both_feet_planted : bool
        Pelvis anchor only: each ankle stays where the top position with both hip rotations
        at 0 puts it; the hip flexion, adduction and knee flexion of both legs are solved
        (the knee flexion then stays at the depth while the pelvis is still), the hip IR is
        commanded, so the knees swing about the hip-ankle lines. Default False.
    """

    posture: Posture
    anchor: Anchor
    anchor_height_m: float
    depth_default_deg: float
    depth_min_deg: float
    depth_max_deg: float
    hip_ir_default_deg: float
    work_hip_flexion: Ramp
    work_knee_flexion: Ramp
    other_hip_flexion: Ramp
    other_knee_flexion: Ramp
    pelvis_tilt: Ramp
    plant_feet: bool
    ankle_lateral_offset_m: float
    other_leg_planted: bool
    other_leg_rotates: bool
    hip_ir_top_deg: float = 0.0
    hip_ir_other_top_deg: float = 0.0
    hip_ir_other_default_deg: float | None = None
    work_hip_adduction: Ramp = _STILL_0
    other_hip_adduction: Ramp = _STILL_0
    pelvis_yaw_toward_work: Ramp = _STILL_0
    both_feet_planted: bool = False


TEMPLATES: dict[Exercise, ExerciseTemplate] = {
    # Bilateral squat, both legs alike; IR default 10 deg [assumption]: no published bilateral
    # value (domain notes: single-leg squat peak IR about -2..3 deg [src]).
    "squat": ExerciseTemplate(
        posture="standing",
        anchor="foot",
        anchor_height_m=0.0,
        depth_default_deg=110.0,
        depth_min_deg=20.0,
        depth_max_deg=140.0,
        hip_ir_default_deg=10.0,
        work_hip_flexion=Ramp(0.0, 90.0, bottom_per_depth=0.8),
        work_knee_flexion=Ramp(0.0, 110.0, bottom_per_depth=1.0),
        other_hip_flexion=Ramp(0.0, 90.0, bottom_per_depth=0.8),
        other_knee_flexion=Ramp(0.0, 110.0, bottom_per_depth=1.0),
        pelvis_tilt=Ramp(0.0, 15.0, bottom_per_depth=0.13),
        plant_feet=True,
        ankle_lateral_offset_m=0.05,
        other_leg_planted=False,
        other_leg_rotates=True,
    ),
    # Split squat / lunge on flat ground: working = front leg; rear foot planted about 0.78 m
    # behind, heel up (its ankle 0.2 m high). At the top both knees are at 15 deg, the front
    # knee 10 deg behind its ankle, the rear hip extended 30 deg. At the bottom the front thigh
    # is level (hip flexion 85 + tilt 5) and the front knee about 8 deg ahead of its ankle;
    # the rear knee bends deeply (solved: about 100 deg) and comes down to 0.14 m above the
    # floor (knee joint centre; 0.08 m at the deepest, 100 deg), the rear hip about neutral.
    "split_squat": ExerciseTemplate(
        posture="standing",
        anchor="foot",
        anchor_height_m=0.0,
        depth_default_deg=90.0,
        depth_min_deg=60.0,
        depth_max_deg=100.0,
        hip_ir_default_deg=10.0,
        work_hip_flexion=Ramp(25.0, 85.0, bottom_per_depth=0.9),
        work_knee_flexion=Ramp(15.0, 90.0, bottom_per_depth=1.0),
        other_hip_flexion=Ramp(-30.0, -30.0),
        other_knee_flexion=Ramp(15.0, 15.0),
        pelvis_tilt=Ramp(0.0, 5.0, bottom_per_depth=0.05),
        plant_feet=True,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=True,
        other_leg_rotates=True,
    ),
    # Front-foot-elevated split squat: working = front leg on a 0.10 m plate; rear foot planted
    # about 0.6 m behind, heel up (its ankle about 0.2 m high). At the top both knees are at
    # 15 deg, the front knee about 10 deg behind its ankle. Depths below 60 deg would pull the
    # hip forward out of the rear leg's reach.
    "ffe_split_squat": ExerciseTemplate(
        posture="standing",
        anchor="foot",
        anchor_height_m=0.10,
        depth_default_deg=100.0,
        depth_min_deg=60.0,
        depth_max_deg=125.0,
        hip_ir_default_deg=10.0,
        work_hip_flexion=Ramp(25.0, 85.0, bottom_per_depth=0.85),
        work_knee_flexion=Ramp(15.0, 100.0, bottom_per_depth=1.0),
        other_hip_flexion=Ramp(-15.0, -15.0),
        other_knee_flexion=Ramp(15.0, 15.0),
        pelvis_tilt=Ramp(0.0, 5.0, bottom_per_depth=0.05),
        plant_feet=True,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=True,
        other_leg_rotates=True,
    ),
    # Step-up onto a 0.30 m box, simulated with the lead foot on the box throughout: the set
    # starts and ends standing on the box, the trailing foot reaches the floor at the bottom.
    # Lead hip flexion 79 deg at the bottom is [derived]: linear between 66 deg (0.20 m box)
    # and 93 deg (0.41 m box) [src, domain notes section 6].
    "step_up": ExerciseTemplate(
        posture="standing",
        anchor="foot",
        anchor_height_m=0.30,
        depth_default_deg=90.0,
        depth_min_deg=40.0,
        depth_max_deg=120.0,
        hip_ir_default_deg=5.0,
        work_hip_flexion=Ramp(0.0, 79.0, bottom_per_depth=0.8),
        work_knee_flexion=Ramp(0.0, 90.0, bottom_per_depth=1.0),
        other_hip_flexion=Ramp(0.0, -5.0),
        other_knee_flexion=Ramp(0.0, 5.0),
        pelvis_tilt=Ramp(0.0, 5.0, bottom_per_depth=0.05),
        plant_feet=True,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=False,
    ),
    # Cable crossover step-up: the step-up above with the pelvis turning toward the lead
    # (stance) leg as the lead hip flexes, 10 deg at the bottom [assumption: a little more than
    # the 4-8 deg of a single-leg squat, src, domain notes section 4], and more lead-hip IR:
    # default 15 deg [assumption: the drill aims at IR; no published value].
    "crossover_step_up": ExerciseTemplate(
        posture="standing",
        anchor="foot",
        anchor_height_m=0.30,
        depth_default_deg=90.0,
        depth_min_deg=40.0,
        depth_max_deg=120.0,
        hip_ir_default_deg=15.0,
        work_hip_flexion=Ramp(0.0, 79.0, bottom_per_depth=0.8),
        work_knee_flexion=Ramp(0.0, 90.0, bottom_per_depth=1.0),
        other_hip_flexion=Ramp(0.0, -5.0),
        other_knee_flexion=Ramp(0.0, 5.0),
        pelvis_tilt=Ramp(0.0, 5.0, bottom_per_depth=0.05),
        plant_feet=True,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=False,
        pelvis_yaw_toward_work=Ramp(0.0, 10.0),
    ),
    # Staggered-stance hinge: working = lead leg, soft knee; rear foot planted half a step back.
    # Hips go back: the lead thigh inclines from 10 to 0.8 x depth + 2 deg while the lead shank
    # tips forward by 0.2 deg per degree of knee flexion beyond 10 deg.
    "hinge": ExerciseTemplate(
        posture="standing",
        anchor="foot",
        anchor_height_m=0.0,
        depth_default_deg=25.0,
        depth_min_deg=10.0,
        depth_max_deg=45.0,
        hip_ir_default_deg=10.0,
        work_hip_flexion=Ramp(10.0, 77.0, bottom_per_depth=0.3),
        work_knee_flexion=Ramp(10.0, 25.0, bottom_per_depth=1.0),
        other_hip_flexion=Ramp(-10.0, -10.0),
        other_knee_flexion=Ramp(15.0, 15.0),
        pelvis_tilt=Ramp(0.0, 55.0, bottom_per_depth=-0.5),
        plant_feet=True,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=True,
        other_leg_rotates=True,
    ),
    # 90/90 transitions seated on the floor, feet planted: hip centres 0.10 m high, pelvis
    # still and tilted 20 deg posteriorly (sitting on the floor, trunk slightly back). The feet
    # are placed where hip flexion 115, abduction 30, rotation 0 and the knee at the depth
    # (90) put them: about 0.57 m in front of the hips, 0.6 m apart, ankles 0.06 m high. Both
    # legs are then solved with the hip IR commanded, so the knees stay at the depth and swing
    # about the hip-ankle lines. At the top both knees have dropped to the working side: the
    # working hip in ER (-45, front leg), the other in IR (35, rear leg); at the bottom they
    # have swung over to the other side (working hip IR 35, other ER -45). Halfway the knees
    # are up (about 0.37 m); at the ends they stop about 0.2 m above the floor (joint ranges
    # ER 45 / IR 35 [assumption: typical seated ranges, domain notes section 3]). Solved hip
    # flexion 97-104 deg, so "hips and knees at about 90".
    "90_90": ExerciseTemplate(
        posture="seated",
        anchor="pelvis",
        anchor_height_m=0.10,
        depth_default_deg=90.0,
        depth_min_deg=70.0,
        depth_max_deg=110.0,
        hip_ir_default_deg=35.0,
        work_hip_flexion=Ramp(115.0, 115.0),
        work_knee_flexion=_HELD_AT_DEPTH_90,
        other_hip_flexion=Ramp(115.0, 115.0),
        other_knee_flexion=_HELD_AT_DEPTH_90,
        pelvis_tilt=Ramp(-20.0, -20.0),
        plant_feet=False,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=True,
        hip_ir_top_deg=-45.0,
        hip_ir_other_top_deg=35.0,
        hip_ir_other_default_deg=-45.0,
        work_hip_adduction=Ramp(-30.0, -30.0),
        other_hip_adduction=Ramp(-30.0, -30.0),
        both_feet_planted=True,
    ),
    # Quiet standing (the calibration pose): all segments in their neutral orientation.
    "rest": ExerciseTemplate(
        posture="standing",
        anchor="foot",
        anchor_height_m=0.0,
        depth_default_deg=0.0,
        depth_min_deg=0.0,
        depth_max_deg=0.0,
        hip_ir_default_deg=0.0,
        work_hip_flexion=_STILL_0,
        work_knee_flexion=_STILL_0,
        other_hip_flexion=_STILL_0,
        other_knee_flexion=_STILL_0,
        pelvis_tilt=_STILL_0,
        plant_feet=True,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=False,
    ),
    # Prone hip IR test: pelvis on a table (origin 0.85 m high), hips at 0 deg, tested knee at
    # 90 deg [src: test protocol], femur rotated internally so the shank falls outward.
    # IR default 35 deg: population mean [src, domain notes section 3].
    "prone_ir": ExerciseTemplate(
        posture="prone",
        anchor="pelvis",
        anchor_height_m=0.85,
        depth_default_deg=90.0,
        depth_min_deg=60.0,
        depth_max_deg=120.0,
        hip_ir_default_deg=35.0,
        work_hip_flexion=_STILL_0,
        work_knee_flexion=_HELD_AT_DEPTH_90,
        other_hip_flexion=_STILL_0,
        other_knee_flexion=_STILL_0,
        pelvis_tilt=_STILL_0,
        plant_feet=False,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=False,
    ),
    # Seated hip IR test: hips and knees at 90 deg [src: test protocol], pelvis origin 0.55 m
    # high. IR default 33 deg: midpoint of population means 28-38 deg [derived from src].
    "seated_ir": ExerciseTemplate(
        posture="seated",
        anchor="pelvis",
        anchor_height_m=0.55,
        depth_default_deg=90.0,
        depth_min_deg=60.0,
        depth_max_deg=120.0,
        hip_ir_default_deg=33.0,
        work_hip_flexion=_STILL_90,
        work_knee_flexion=_HELD_AT_DEPTH_90,
        other_hip_flexion=_STILL_90,
        other_knee_flexion=_STILL_90,
        pelvis_tilt=_STILL_0,
        plant_feet=False,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=False,
    ),
    # Supine hip IR test at 90 deg: lying on the back on a table (hip centres 0.85 m high),
    # tested hip and knee at 90 deg [src: test protocol], femur vertical, the shank falls
    # outward with IR; the other leg straight on the table. IR default 33 deg: as seated
    # [derived from src, domain notes section 3: "as seated"].
    "supine_ir": ExerciseTemplate(
        posture="supine",
        anchor="pelvis",
        anchor_height_m=0.85,
        depth_default_deg=90.0,
        depth_min_deg=60.0,
        depth_max_deg=120.0,
        hip_ir_default_deg=33.0,
        work_hip_flexion=_STILL_90,
        work_knee_flexion=_HELD_AT_DEPTH_90,
        other_hip_flexion=_STILL_0,
        other_knee_flexion=_STILL_0,
        pelvis_tilt=_STILL_0,
        plant_feet=False,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=False,
    ),
    # Active straight leg raise: supine on a table (hip centres 0.85 m high), the straight
    # working leg lifted from the table to 70 deg hip flexion at the bottom of the rep
    # [assumption: the coaching pass mark, no primary source, domain notes section 3], knee
    # held at the depth (straight, 0 deg), no hip rotation; the other leg stays on the table.
    "aslr": ExerciseTemplate(
        posture="supine",
        anchor="pelvis",
        anchor_height_m=0.85,
        depth_default_deg=0.0,
        depth_min_deg=0.0,
        depth_max_deg=15.0,
        hip_ir_default_deg=0.0,
        work_hip_flexion=Ramp(0.0, 70.0),
        work_knee_flexion=Ramp(0.0, 0.0, bottom_per_depth=1.0, top_per_depth=1.0),
        other_hip_flexion=_STILL_0,
        other_knee_flexion=_STILL_0,
        pelvis_tilt=_STILL_0,
        plant_feet=False,
        ankle_lateral_offset_m=0.0,
        other_leg_planted=False,
        other_leg_rotates=False,
    ),
}


def quat_world_pelvis_base_wxyz(posture: Posture) -> FloatArray:
    """Pelvis orientation of a base posture before tilt, obliquity and yaw, ``wxyz``, ``(4,)``.

    Standing and seated: the neutral segment frame, facing world +X. Prone: the standing frame
    pitched forward by 90 deg about world Y, so the head points to world +X and the face down.
    Supine: pitched backward by 90 deg, so the head points to world -X and the face up (the
    athlete's right stays at world -Y in both).
    """
    if posture in ("standing", "seated"):
        return QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ.copy()
    if posture in ("prone", "supine"):
        angle = np.pi / 2 if posture == "prone" else -np.pi / 2
        pitch = quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), angle)
        return quat_multiply(pitch, QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ)
    raise ValueError(f"unknown posture {posture!r}")
