"""Hypothesis strategies for simulator parameters (shared by the tests in this folder)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from coxa.geometry import Side
from coxa.sim import EXERCISES, TEMPLATES, Exercise, Motion, MotionParams, MotionState

#: Exercises with reps (everything except standing rest).
MOVING_EXERCISES: tuple[Exercise, ...] = tuple(e for e in EXERCISES if e != "rest")
#: Exercises whose working foot is fixed in the room.
FOOT_ANCHORED: tuple[Exercise, ...] = tuple(e for e in EXERCISES if TEMPLATES[e].anchor == "foot")
#: Exercises done standing: they start in the neutral (calibration) pose.
STANDING: tuple[Exercise, ...] = tuple(e for e in EXERCISES if TEMPLATES[e].posture == "standing")

sides: st.SearchStrategy[Side] = st.sampled_from(("r", "l"))


def _angle(limit_deg: float) -> st.SearchStrategy[float]:
    return st.floats(-limit_deg, limit_deg, allow_nan=False, allow_infinity=False)


@st.composite
def motion_params(
    draw: st.DrawFn,
    exercises: tuple[Exercise, ...] = EXERCISES,
    *,
    spreads: bool = False,
    pelvis: bool = True,
) -> MotionParams:
    """Random but valid parameters: reps 1-8, depth in the exercise's range, IR -10..40 deg,
    pelvis offsets and excursions up to 10 deg (``pelvis=False``: none), short rests, a setup
    of 0.5-2.5 s or none (0: the set starts in the top position)."""
    exercise = draw(st.sampled_from(exercises))
    template = TEMPLATES[exercise]
    depth = draw(st.floats(template.depth_min_deg, template.depth_max_deg))
    spread = st.floats(0.0, 5.0) if spreads else st.just(0.0)
    # Feet planted by the template (90/90): the knee follows from where they stand.
    depth_spread = st.just(0.0) if template.both_feet_planted else spread
    pelvis_angle = _angle(10.0) if pelvis else st.just(0.0)
    return MotionParams(
        exercise=exercise,
        reps=draw(st.integers(1, 8)),
        depth_deg=depth,
        depth_spread_deg=draw(depth_spread),
        descent_s=draw(st.floats(0.5, 2.5)),
        bottom_pause_s=draw(st.floats(0.0, 1.0)),
        ascent_s=draw(st.floats(0.5, 2.5)),
        top_pause_s=draw(st.floats(0.0, 1.0)),
        hip_ir_bottom_deg=draw(st.floats(-10.0, 40.0)),
        hip_ir_other_bottom_deg=draw(st.none() | st.floats(-10.0, 40.0)),
        hip_ir_spread_deg=draw(spread),
        pelvis_tilt_offset_deg=draw(pelvis_angle),
        pelvis_obliquity_offset_deg=draw(pelvis_angle),
        pelvis_yaw_offset_deg=draw(pelvis_angle),
        pelvis_tilt_excursion_deg=draw(pelvis_angle),
        pelvis_obliquity_excursion_deg=draw(pelvis_angle),
        pelvis_yaw_excursion_deg=draw(pelvis_angle),
        side=draw(sides),
        rest_before_s=draw(st.floats(0.0, 3.0)),
        rest_after_s=draw(st.floats(0.0, 2.0)),
        setup_s=draw(st.just(0.0) | st.floats(0.5, 2.5)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def rear_foot_slides(motion: Motion, state: MotionState, planted: np.ndarray) -> bool:
    """Whether the planted rear foot (split squat, hinge) moves by more than 0.1 mm over the
    samples where ``planted`` is true: out of the leg's reach the solved knee saturates and the
    foot slides (documented and logged), smoothly but more abruptly than a C2 bound assumes."""
    if not motion.template.other_leg_planted or not np.any(planted):
        return False
    rear = state.ankle_m(motion.other_side)[planted]
    return bool(np.linalg.norm(rear - rear[0], axis=1).max() > 1e-4)
