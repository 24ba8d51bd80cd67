"""Joint angles of the fusion core: the shank as a pointer about the femoral axis (the clinical
hip IR tests), and the room as the hip reference when there is no pelvis board.

Poses are built from ISB joint angles with ``coxa.geometry`` (pelvis ⊗ hip ⊗ knee), so the true
hip internal rotation is known exactly. The seated and prone IR tests are drawn with the femur
tilted up to 20 deg off its test position (flexion and adduction), the knee at 70-110 deg, a
thigh-sensor soft-tissue artefact about the femoral axis and a tibial axial rotation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.fusion import POINTER_MIN_KNEE_DEG, femur_from_shank_pointer, joint_angles_deg
from coxa.fusion._angles import joint_angles_from_columns_deg, room_pelvis_wxyz
from coxa.geometry import (
    HIP_ANGLE_NAMES,
    KNEE_ANGLE_NAMES,
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    FloatArray,
    Side,
    cardan_zxy_rad,
    hip_angles_deg,
    knee_angles_deg,
    quat_from_axis_angle,
    quat_hip_from_angles_deg,
    quat_knee_from_angles_deg,
    quat_multiply,
    quat_relative,
    quat_rotate,
)

Posture = Literal["seated", "prone"]
_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])
#: Pelvis lying face down, head toward world +X: anterior down, proximal +X, right -Y.
_PRONE_PELVIS_WXYZ = quat_multiply(
    quat_from_axis_angle(_Y, np.pi / 2), QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ
)
#: Hip flexion of each test position, degrees.
TEST_HIP_FLEXION_DEG: dict[Posture, float] = {"seated": 90.0, "prone": 0.0}
#: The pointer reading is exact for a hinge knee whatever the femur's tilt, degrees.
POINTER_TOLERANCE_DEG = 0.1


@dataclass(frozen=True)
class Poses:
    """Drawn poses of one leg (arrays of shape (m,)) and the segment orientations."""

    side: Side
    posture: Posture
    hip_ir_deg: FloatArray
    thigh_artefact_deg: FloatArray
    pelvis_wxyz: FloatArray
    femur_wxyz: FloatArray
    femur_sensor_wxyz: FloatArray
    tibia_wxyz: FloatArray


def build_poses(
    side: Side,
    posture: Posture,
    hip_ir_deg: FloatArray,
    knee_deg: FloatArray,
    flexion_tilt_deg: FloatArray,
    adduction_deg: FloatArray,
    thigh_artefact_deg: FloatArray,
    tibial_rotation_deg: FloatArray,
) -> Poses:
    """Segment orientations of a clinical IR test pose.

    The femur seen by its sensor is the true femur turned about its own long axis by the
    artefact (mirrored on the left, so that it always adds to the femur's internal rotation).
    """
    m = hip_ir_deg.size
    base = QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ if posture == "seated" else _PRONE_PELVIS_WXYZ
    pelvis = np.tile(base, (m, 1))
    hip = np.column_stack(
        [TEST_HIP_FLEXION_DEG[posture] + flexion_tilt_deg, adduction_deg, hip_ir_deg]
    )
    femur = quat_multiply(pelvis, quat_hip_from_angles_deg(hip, side))
    knee = np.column_stack([knee_deg, np.zeros(m), tibial_rotation_deg])
    tibia = quat_multiply(femur, quat_knee_from_angles_deg(knee, side))
    mirror = 1.0 if side == "r" else -1.0
    artefact = quat_from_axis_angle(_Y, np.radians(mirror * thigh_artefact_deg))
    return Poses(
        side,
        posture,
        hip_ir_deg,
        thigh_artefact_deg,
        pelvis,
        femur,
        quat_multiply(femur, artefact),
        tibia,
    )


def naive_shin_tilt_deg(poses: Poses) -> FloatArray:
    """What an inclinometer on the shin reads: the shank's angle from the vertical in the room's
    plane across the femur's test direction (seated: the femur points forward, the shin hangs
    down; prone: the femur lies along the table, the shin points up), toward lateral positive."""
    distal = -quat_rotate(poses.tibia_wxyz, _Y)
    lateral = -_Y if poses.side == "r" else _Y
    vertical = -_Z if poses.posture == "seated" else _Z
    return np.degrees(np.arctan2(distal @ lateral, distal @ vertical))


def pointer_angles(poses: Poses) -> dict[str, FloatArray]:
    segments = {
        "pelvis": poses.pelvis_wxyz,
        f"femur_{poses.side}": poses.femur_sensor_wxyz,
        f"tibia_{poses.side}": poses.tibia_wxyz,
    }
    return joint_angles_deg(segments, np.zeros(poses.hip_ir_deg.size))


def random_poses(rng: np.random.Generator, m: int, side: Side, posture: Posture) -> Poses:
    return build_poses(
        side,
        posture,
        hip_ir_deg=rng.uniform(-40.0, 40.0, m),
        knee_deg=rng.uniform(70.0, 110.0, m),
        flexion_tilt_deg=rng.uniform(-20.0, 20.0, m),
        adduction_deg=rng.uniform(-20.0, 20.0, m),
        thigh_artefact_deg=rng.uniform(-9.0, 9.0, m),
        tibial_rotation_deg=rng.uniform(-7.0, 7.0, m),
    )


@settings(max_examples=60, deadline=None)
@given(
    side=st.sampled_from(["r", "l"]),
    posture=st.sampled_from(["seated", "prone"]),
    hip_ir_deg=st.floats(-40.0, 40.0),
    knee_deg=st.floats(70.0, 110.0),
    flexion_tilt_deg=st.floats(-20.0, 20.0),
    adduction_deg=st.floats(-20.0, 20.0),
    thigh_artefact_deg=st.floats(-9.0, 9.0),
    tibial_rotation_deg=st.floats(-7.0, 7.0),
)
def test_shank_pointer_reads_true_hip_rotation(
    side: Side,
    posture: Posture,
    hip_ir_deg: float,
    knee_deg: float,
    flexion_tilt_deg: float,
    adduction_deg: float,
    thigh_artefact_deg: float,
    tibial_rotation_deg: float,
) -> None:
    """The pointer reads the true IR whatever the femur's tilt, the thigh sensor's axial
    artefact and the tibia's own axial rotation; the femur sensor's own hip rotation carries the
    artefact one to one."""
    poses = build_poses(
        side,
        posture,
        *(
            np.array([value])
            for value in (
                hip_ir_deg,
                knee_deg,
                flexion_tilt_deg,
                adduction_deg,
                thigh_artefact_deg,
                tibial_rotation_deg,
            )
        ),
    )
    angles = pointer_angles(poses)
    assert abs(angles[f"shank_rotation_{side}"][0] - hip_ir_deg) < POINTER_TOLERANCE_DEG
    femur_reading = angles[f"hip_rotation_{side}"][0]
    assert abs(femur_reading - (hip_ir_deg + thigh_artefact_deg)) < 1e-6


def test_naive_shin_tilt_is_exact_only_at_the_test_position() -> None:
    """The inclinometer model reads the true IR with the femur exactly in its test position (so
    it is a fair model of the clinical reading), is off by more than 5 deg somewhere in the drawn
    tilts, where the pointer is not."""
    rng = np.random.default_rng(7)
    for side in ("r", "l"):
        for posture in ("seated", "prone"):
            m = 400
            exact = build_poses(
                side,
                posture,
                hip_ir_deg=rng.uniform(-40.0, 40.0, m),
                knee_deg=np.full(m, 90.0),
                flexion_tilt_deg=np.zeros(m),
                adduction_deg=np.zeros(m),
                thigh_artefact_deg=np.zeros(m),
                tibial_rotation_deg=rng.uniform(-7.0, 7.0, m),
            )
            np.testing.assert_allclose(naive_shin_tilt_deg(exact), exact.hip_ir_deg, atol=1e-9)
            drawn = random_poses(rng, m, side, posture)
            naive_error = np.abs(naive_shin_tilt_deg(drawn) - drawn.hip_ir_deg)
            pointer_error = np.abs(
                pointer_angles(drawn)[f"shank_rotation_{side}"] - drawn.hip_ir_deg
            )
            assert naive_error.max() > 5.0, (side, posture)
            assert pointer_error.max() < POINTER_TOLERANCE_DEG, (side, posture)


def test_pointer_needs_a_bent_knee() -> None:
    """Below ``POINTER_MIN_KNEE_DEG`` the shank is too short a pointer: NaN, not a guess."""
    knee = np.array([0.0, 10.0, POINTER_MIN_KNEE_DEG - 1.0, POINTER_MIN_KNEE_DEG + 1.0, 90.0])
    m = knee.size
    poses = build_poses(
        "r", "seated", np.full(m, 20.0), knee, np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m)
    )
    pointer = pointer_angles(poses)["shank_rotation_r"]
    np.testing.assert_array_equal(np.isnan(pointer), knee < POINTER_MIN_KNEE_DEG)
    np.testing.assert_allclose(pointer[knee >= POINTER_MIN_KNEE_DEG], 20.0, atol=1e-9)


# --------------------------------------------------------------------------- room reference
HIP_COLUMNS = [
    f"{name}_{side}"
    for side in ("r", "l")
    for name in ("hip_flexion", "hip_adduction", "hip_rotation")
]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    facing_deg=st.floats(-180.0, 180.0),
    turn_deg=st.floats(-180.0, 180.0).filter(lambda turn: abs(turn) > 10.0),
)
def test_pelvis_less_rows_use_the_facing(seed: int, facing_deg: float, turn_deg: float) -> None:
    """Without a pelvis board the hip angles are the femur relative to a room pelvis facing
    ``facing_rad``: turning the whole body and the facing together about the vertical leaves
    every hip and knee angle unchanged; turning the body alone does not (the facing is used)."""
    rng = np.random.default_rng(seed)
    m = 50
    facing = np.full(m, np.radians(facing_deg))
    room_pelvis = quat_multiply(quat_from_axis_angle(_Z, facing), QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ)
    segments: dict[str, FloatArray] = {}
    for side in ("r", "l"):
        hip = np.column_stack(
            [rng.uniform(-10.0, 110.0, m), rng.uniform(-20.0, 20.0, m), rng.uniform(-30.0, 30.0, m)]
        )
        femur = quat_multiply(room_pelvis, quat_hip_from_angles_deg(hip, side))
        knee = np.column_stack([rng.uniform(0.0, 120.0, m), np.zeros(m), np.zeros(m)])
        segments[f"femur_{side}"] = femur
        segments[f"tibia_{side}"] = quat_multiply(femur, quat_knee_from_angles_deg(knee, side))
        # The room reference is the pelvis the hip angles were built on.
        expected = joint_angles_deg(segments, facing)[f"hip_rotation_{side}"]
        np.testing.assert_allclose(expected, hip[:, 2], atol=1e-9)
    turn = quat_from_axis_angle(_Z, np.radians(turn_deg))
    turned = {name: quat_multiply(turn, quat) for name, quat in segments.items()}
    before = joint_angles_deg(segments, facing)
    after = joint_angles_deg(turned, facing + np.radians(turn_deg))
    assert sorted(after) == sorted(before)
    for name, column in before.items():
        np.testing.assert_allclose(after[name], column, atol=1e-9, err_msg=name)
    stale = joint_angles_deg(turned, facing)
    assert max(np.max(np.abs(stale[name] - before[name])) for name in HIP_COLUMNS) > 1.0


def test_pelvis_board_makes_the_facing_irrelevant_to_the_hips() -> None:
    """With a pelvis board the hips are relative to it; the facing only moves the pelvis's own
    rotation angle."""
    rng = np.random.default_rng(3)
    poses = random_poses(rng, 100, "r", "seated")
    segments = {
        "pelvis": poses.pelvis_wxyz,
        "femur_r": poses.femur_wxyz,
        "tibia_r": poses.tibia_wxyz,
    }
    straight = joint_angles_deg(segments, np.zeros(100))
    turned = joint_angles_deg(segments, np.full(100, np.radians(25.0)))
    for name in ("hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r"):
        np.testing.assert_allclose(turned[name], straight[name], atol=1e-9, err_msg=name)
    assert np.all(np.abs(turned["pelvis_rotation"] - straight["pelvis_rotation"]) > 20.0)


# --------------------------------------------------------------------------- fused computation
SEGMENT_NAMES = ("pelvis", "femur_r", "femur_l", "tibia_r", "tibia_l")


def reference_angles(
    segments: dict[str, FloatArray], facing_rad: FloatArray
) -> dict[str, FloatArray]:
    """The angles composed from ``coxa.geometry`` one definition at a time (what
    ``joint_angles_deg`` computes in one pass)."""
    room = room_pelvis_wxyz(facing_rad)
    out: dict[str, FloatArray] = {}
    pelvis = segments.get("pelvis")
    if pelvis is not None:
        zxy = np.degrees(cardan_zxy_rad(quat_relative(room, pelvis)))
        out.update(pelvis_tilt=zxy[:, 0], pelvis_list=zxy[:, 1], pelvis_rotation=zxy[:, 2])
    reference = room if pelvis is None else pelvis
    sides: tuple[Side, ...] = ("r", "l")
    for side in sides:
        femur, tibia = segments.get(f"femur_{side}"), segments.get(f"tibia_{side}")
        if femur is None:
            continue
        hip = hip_angles_deg(reference, femur, side)
        for i, name in enumerate(HIP_ANGLE_NAMES):
            out[f"{name}_{side}"] = hip[:, i]
        if tibia is None:
            continue
        knee = knee_angles_deg(femur, tibia, side)
        for i, name in enumerate(KNEE_ANGLE_NAMES):
            out[f"{name}_{side}"] = knee[:, i]
        pointer = femur_from_shank_pointer(femur, tibia)
        out[f"shank_rotation_{side}"] = hip_angles_deg(reference, pointer, side)[:, 2]
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 60),
    present=st.lists(st.booleans(), min_size=5, max_size=5),
    nan_fraction=st.sampled_from([0.0, 0.2]),
)
def test_fused_angles_equal_the_geometry_definitions(
    seed: int, m: int, present: list[bool], nan_fraction: float
) -> None:
    """Any set of segments, random orientations (knees bent anywhere, so the pointer is both
    defined and not), NaN rows (missing data): the one-pass computation gives the columns, in
    the order, of composing the ``coxa.geometry`` definitions, to 1e-9 deg, NaN where they are
    NaN."""
    rng = np.random.default_rng(seed)
    segments: dict[str, FloatArray] = {}
    for name, here in zip(SEGMENT_NAMES, present, strict=True):
        if not here:
            continue
        if name.startswith("tibia") and f"femur_{name[-1]}" in segments and rng.uniform() < 0.7:
            # A hinge-like knee: the tibia turned about the femur's Z by 0-150 deg.
            flexion = quat_from_axis_angle(_Z, -np.radians(rng.uniform(0.0, 150.0, m)))
            quat = quat_multiply(segments[f"femur_{name[-1]}"], flexion)
        else:
            quat = rng.normal(size=(m, 4))
            quat /= np.linalg.norm(quat, axis=1, keepdims=True)
        quat[rng.uniform(size=m) < nan_fraction] = np.nan
        segments[name] = quat
    facing = rng.uniform(-np.pi, np.pi, m)
    fused = joint_angles_deg(segments, facing)
    expected = reference_angles(segments, facing)
    assert list(fused) == list(expected)
    for name, column in expected.items():
        assert fused[name].shape == (m,)
        np.testing.assert_array_equal(np.isnan(fused[name]), np.isnan(column), err_msg=name)
        np.testing.assert_allclose(fused[name], column, atol=1e-9, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(0, 30),
    present=st.lists(st.booleans(), min_size=5, max_size=5),
    extra_columns=st.integers(0, 2),
)
def test_angles_from_columns_equal_angles_from_segments(
    seed: int, m: int, present: list[bool], extra_columns: int
) -> None:
    """The segments as the columns of one array, in any order and among unused columns (as the
    fusion core holds them), give bit for bit the angles of the same segments by name."""
    rng = np.random.default_rng(seed)
    names = [name for name, here in zip(SEGMENT_NAMES, present, strict=True) if here]
    order = rng.permutation(len(names) + extra_columns)
    quat = rng.normal(size=(m, len(names) + extra_columns, 4))
    quat /= np.linalg.norm(quat, axis=2, keepdims=True)
    quat[rng.uniform(size=quat.shape[:2]) < 0.1] = np.nan
    columns = np.full(len(SEGMENT_NAMES), -1, dtype=np.int64)
    for name, column in zip(names, order, strict=False):
        columns[SEGMENT_NAMES.index(name)] = column
    facing = rng.uniform(-np.pi, np.pi, m)
    by_name = joint_angles_deg(
        {name: quat[:, columns[SEGMENT_NAMES.index(name)]] for name in names}, facing
    )
    from_columns = joint_angles_from_columns_deg(quat, columns, facing)
    assert list(from_columns) == list(by_name)
    for name, column in by_name.items():
        np.testing.assert_array_equal(from_columns[name], column, err_msg=name)


def test_pointer_femur_keeps_the_long_axis_and_faces_the_shank() -> None:
    """The pointer femur is a unit quaternion with the femur's long axis, its medio-lateral
    axis perpendicular to the shank, and NaN where the knee is straighter than the limit."""
    rng = np.random.default_rng(12)
    m = 500
    femur = rng.normal(size=(m, 4))
    femur /= np.linalg.norm(femur, axis=1, keepdims=True)
    knee_deg = rng.uniform(0.0, 150.0, m)
    twist = quat_from_axis_angle(_Y, rng.uniform(-0.5, 0.5, m))
    tibia = quat_multiply(
        quat_multiply(femur, quat_from_axis_angle(_Z, -np.radians(knee_deg))), twist
    )
    pointer = femur_from_shank_pointer(femur, tibia)
    usable = knee_deg >= POINTER_MIN_KNEE_DEG
    np.testing.assert_array_equal(np.isnan(pointer[:, 0]), ~usable)
    p = pointer[usable]
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(quat_rotate(p, _Y), quat_rotate(femur[usable], _Y), atol=1e-12)
    shank = quat_rotate(tibia[usable], _Y)
    np.testing.assert_allclose(np.sum(quat_rotate(p, _Z) * shank, axis=1), 0.0, atol=1e-12)


def test_bad_segments_are_refused() -> None:
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (3, 1))
    with pytest.raises(ValueError, match="unknown segment 'thigh_r'"):
        joint_angles_deg({"thigh_r": quat}, np.zeros(3))
    with pytest.raises(ValueError, match=r"segment 'femur_r' has shape \(2, 4\)"):
        joint_angles_deg({"femur_r": quat[:2]}, np.zeros(3))
    with pytest.raises(ValueError, match="facing_rad"):
        joint_angles_deg({"femur_r": quat}, np.zeros((3, 1)))
