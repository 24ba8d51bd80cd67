"""The rule engine: each rule fires exactly when its number crosses threshold plus margin, with
the right rule id, side, numbers and explanation; the pelvis-to-femur mapping against the joint
angles of the fusion core."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st

from coxa.analysis import (
    Capacity,
    CapacityPoint,
    DemandTable,
    Finding,
    FindingRules,
    LegRep,
    Rep,
    RuleParams,
    load_demand,
    pelvic_rotation_about_femur_deg,
    segment_reps,
)
from coxa.analysis._demand import parse_demand
from coxa.fusion import AngleTable, FusionCore, FusionParams, HipReference, joint_angles_deg
from coxa.geometry import (
    QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
    Side,
    quat_from_cardan_zxy,
    quat_hip_from_angles_deg,
    quat_multiply,
)
from coxa.sim import (
    Exercise,
    ImuParams,
    Motion,
    MotionParams,
    RigParams,
    RigRecording,
    simulate_rig,
)
from coxa.sources import LinkDecoder, ReceivedFrame
from tests.analysis.test_reps_sim import ra

#: Step either side of a rule's limit, degrees.
EPS = 1e-6
SIDES: tuple[Side, ...] = ("r", "l")
LEG_NAME = {"r": "right", "l": "left"}


def leg(side: Side, lead: bool = True, **values: float) -> LegRep:
    """A LegRep with NaN for every value not given."""
    base: dict[str, Any] = {f.name: math.nan for f in fields(LegRep)}
    base.update(side=side, lead=lead, **values)
    return LegRep(**base)


def rep(
    *legs: LegRep, index: int = 1, exercise: str = "squat", hip_reference: HipReference = "pelvis"
) -> Rep:
    return Rep(
        index=index,
        t_start_us=0.0,
        t_end_us=3e6,
        legs={leg.side: leg for leg in legs},
        exercise=exercise,
        hip_reference=hip_reference,
    )


def demand(mean_deg: float, status: str = "derived", exercise: str = "squat") -> DemandTable:
    text = (
        "version = 1\n[[row]]\n"
        f'exercise = "{exercise}"\nlimb = "lead"\nstatus = "{status}"\n'
        f'mean_deg = {mean_deg!r}\nreference = "test demand"\n'
    )
    return parse_demand(text, "test.toml")


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def check_numbers(finding: Finding, *names: str) -> None:
    """The message quotes the values it names, as printed with one decimal."""
    for name in names:
        assert f"{abs(finding.values[name]):.1f}" in finding.message, (name, finding.message)


params_st = st.builds(
    RuleParams,
    ir_error_deg=st.floats(0.5, 8.0),
    ir_random_error_deg=st.just(0.0),  # only the session rule uses it
    capacity_error_deg=st.floats(0.0, 4.0),
    margin_sigmas=st.floats(0.5, 3.0),
    capacity_reserve_deg=st.floats(0.0, 10.0),
    demand_shortfall_deg=st.floats(0.0, 10.0),
    pelvis_threshold_deg=st.floats(0.0, 10.0),
    pelvis_change_error_deg=st.floats(0.5, 4.0),
    knee_back_threshold_deg=st.floats(0.0, 10.0),
    shank_inclination_error_deg=st.floats(0.5, 4.0),
    asymmetry_threshold_deg=st.floats(0.0, 10.0),
)


@settings(max_examples=100, deadline=None)
@given(
    p=params_st,
    side=st.sampled_from(SIDES),
    capacity_ir=st.floats(-5.0, 60.0),
    capacity_sd=st.floats(0.0, 6.0),
    flexion=st.floats(0.0, 110.0),
    above=st.booleans(),
    reference=st.sampled_from(["pelvis", "room"]),
    exercise=st.sampled_from(["squat", "split_squat", "step_up"]),
)
def test_at_capacity_fires_exactly_beyond_reserve_plus_margin(
    p: RuleParams,
    side: Side,
    capacity_ir: float,
    capacity_sd: float,
    flexion: float,
    above: bool,
    reference: HipReference,
    exercise: str,
) -> None:
    capacity = Capacity(
        (
            CapacityPoint(side, 0.0, capacity_ir, capacity_sd, "prone_ir"),
            CapacityPoint(side, 90.0, capacity_ir, capacity_sd, "seated_ir"),
        )
    )
    rep_error = p.ir_error_deg
    if reference == "room" and exercise != "squat":
        rep_error = math.sqrt(p.ir_error_deg**2 + p.pelvis_unknown_deg**2)
    margin = p.margin_sigmas * math.sqrt(rep_error**2 + p.capacity_error_deg**2 + capacity_sd**2)
    limit = capacity_ir - p.capacity_reserve_deg + margin
    ir = limit + (EPS if above else -EPS)
    the_rep = rep(
        leg(side, peak_hip_rotation_deg=ir, hip_flexion_bottom_deg=flexion),
        index=4,
        exercise=exercise,
        hip_reference=reference,
    )
    findings = FindingRules(load_demand(), capacity, p).evaluate([the_rep])
    hits = by_rule(findings, "at_capacity")
    assert len(hits) == int(above)
    if above:
        (hit,) = hits
        assert (hit.side, hit.rep) == (side, 4)
        assert hit.values["margin_deg"] == pytest.approx(margin, rel=1e-9)
        assert hit.values["capacity_deg"] == pytest.approx(capacity_ir, abs=1e-9)
        assert hit.values["hip_rotation_deg"] == ir
        assert hit.message.startswith(f"Rep 4, {LEG_NAME[side]} leg: ")
        check_numbers(hit, "hip_rotation_deg", "capacity_deg", "margin_deg", "reserve_deg")
        label = "femoral rotation (relative to the room" if reference == "room" else "hip internal"
        assert label in hit.message
        assert "end of the measured range" in hit.message
    # The shipped demand rows have no means: nothing else can fire from this rep.
    assert all(f.rule == "at_capacity" for f in findings)


@settings(max_examples=100, deadline=None)
@given(
    p=params_st,
    side=st.sampled_from(SIDES),
    demand_deg=st.floats(-5.0, 30.0),
    headroom=st.floats(1e-3, 20.0),
    status=st.sampled_from(["source", "derived", "assumption"]),
    above=st.booleans(),
)
def test_short_of_demand_fires_exactly_below_shortfall_plus_margin(
    p: RuleParams, side: Side, demand_deg: float, headroom: float, status: str, above: bool
) -> None:
    # Capacity measurably above the demand: the athlete has the range.
    cap_sd = 1.0
    cap_margin = p.margin_sigmas * math.hypot(p.capacity_error_deg, cap_sd)
    cap_ir = demand_deg + cap_margin + headroom
    capacity = Capacity((CapacityPoint(side, 90.0, cap_ir, cap_sd, "seated_ir"),))
    margin = p.margin_sigmas * p.ir_error_deg
    limit = demand_deg - p.demand_shortfall_deg - margin
    ir = limit - (EPS if above else -EPS)
    leg_rep = leg(side, peak_hip_rotation_deg=ir, hip_flexion_bottom_deg=85.0)
    table = demand(demand_deg, status)
    findings = FindingRules(table, capacity, p).evaluate([rep(leg_rep, index=2)])
    hits = by_rule(findings, "short_of_demand")
    assert len(hits) == int(above)
    if above:
        (hit,) = hits
        assert (hit.side, hit.rep) == (side, 2)
        assert hit.values["shortfall_deg"] == pytest.approx(demand_deg - ir)
        assert hit.values["margin_deg"] == pytest.approx(margin)
        check_numbers(hit, "hip_rotation_deg", "demand_deg", "shortfall_deg", "capacity_deg")
        assert f"({status}: test demand)" in hit.message
        assert "the range is there and this rep did not use it" in hit.message
    # Never from the population mean alone: no capacity, a capacity below the demand, a
    # 'not found' row or a status the parameters exclude give no finding, however short.
    far = replace(leg_rep, peak_hip_rotation_deg=demand_deg - 100.0)
    low_capacity = Capacity((CapacityPoint(side, 90.0, cap_ir - headroom - EPS, cap_sd, "x"),))
    for rules in (
        FindingRules(table, None, p),
        FindingRules(table, low_capacity, p),
        FindingRules(load_demand(), capacity, p),
        FindingRules(table, capacity, replace(p, demand_statuses=())),
    ):
        assert not by_rule(rules.evaluate([rep(far)]), "short_of_demand")


@settings(max_examples=100, deadline=None)
@given(
    p=params_st,
    side=st.sampled_from(SIDES),
    flexion=st.floats(0.0, 120.0),
    direction=st.floats(0.0, 2 * math.pi),
    above=st.booleans(),
)
def test_pelvis_compensation_fires_exactly_beyond_threshold_plus_margin(
    p: RuleParams, side: Side, flexion: float, direction: float, above: bool
) -> None:
    limit = p.pelvis_threshold_deg + p.margin_sigmas * p.pelvis_change_error_deg
    target = limit + (EPS if above else -EPS)
    unit = pelvic_rotation_about_femur_deg(side, flexion, math.cos(direction), math.sin(direction))
    assume(unit >= 0.05)  # directions that carry the femur outward are checked below
    d_rot, d_obl = target / unit * math.cos(direction), target / unit * math.sin(direction)
    leg_rep = leg(
        side,
        hip_flexion_bottom_deg=flexion,
        pelvis_rotation_change_deg=d_rot,
        pelvis_obliquity_change_deg=d_obl,
        peak_hip_rotation_deg=12.0,
        hip_rotation_start_deg=2.0,
    )
    rules = FindingRules(load_demand(), None, p)
    hits = by_rule(rules.evaluate([rep(leg_rep, index=3)]), "pelvis_compensation")
    assert len(hits) == int(above)
    if above:
        (hit,) = hits
        assert (hit.side, hit.rep) == (side, 3)
        assert hit.values["pelvic_rotation_about_femur_deg"] == pytest.approx(target, rel=1e-6)
        check_numbers(hit, "pelvis_rotation_change_deg", "pelvis_obliquity_change_deg")
        check_numbers(hit, "pelvic_rotation_about_femur_deg", "threshold_deg", "margin_deg")
        assert "hip itself rotated +10.0 deg" in hit.message
    # Without a pelvis board the rule does not run; the same pelvis turned the other way
    # carries the femur outward and is not a compensation.
    room = rep(leg_rep, hip_reference="room")
    assert not by_rule(rules.evaluate([room]), "pelvis_compensation")
    mirrored = replace(
        leg_rep, pelvis_rotation_change_deg=-d_rot, pelvis_obliquity_change_deg=-d_obl
    )
    assert not by_rule(rules.evaluate([rep(mirrored)]), "pelvis_compensation")


@settings(max_examples=100, deadline=None)
@given(
    p=params_st,
    side=st.sampled_from(SIDES),
    start=st.floats(-15.0, 40.0),
    above=st.booleans(),
    exercise=st.sampled_from(["split_squat", "ffe_split_squat", "step_up", "crossover_step_up"]),
)
def test_front_knee_back_fires_exactly_beyond_threshold_plus_margin(
    p: RuleParams, side: Side, start: float, above: bool, exercise: str
) -> None:
    limit = p.knee_back_threshold_deg + p.margin_sigmas * p.shank_inclination_error_deg
    bottom = start - limit - (EPS if above else -EPS)
    lead = leg(side, shank_inclination_start_deg=start, shank_inclination_bottom_deg=bottom)
    rules = FindingRules(load_demand(), None, p)
    hits = by_rule(rules.evaluate([rep(lead, index=7, exercise=exercise)]), "front_knee_back")
    assert len(hits) == int(above)
    if above:
        (hit,) = hits
        assert (hit.side, hit.rep) == (side, 7)
        assert hit.values["fall_deg"] == pytest.approx(limit, abs=1e-5)
        check_numbers(hit, "shank_inclination_start_deg", "shank_inclination_bottom_deg")
        assert "knee drifted back" in hit.message
    # Not for the rear leg, nor in a squat or a hinge.
    trail = replace(lead, lead=False)
    assert not by_rule(rules.evaluate([rep(trail, exercise=exercise)]), "front_knee_back")
    for other in ("squat", "hinge"):
        assert not by_rule(rules.evaluate([rep(lead, exercise=other)]), "front_knee_back")


@settings(max_examples=100, deadline=None)
@given(
    p=params_st,
    right=st.floats(-10.0, 40.0),
    left_lower=st.booleans(),
    above=st.booleans(),
    reference=st.sampled_from(["pelvis", "room"]),
    exercise=st.sampled_from(["squat", "hinge"]),
)
def test_asymmetry_fires_exactly_beyond_threshold_plus_margin(
    p: RuleParams,
    right: float,
    left_lower: bool,
    above: bool,
    reference: HipReference,
    exercise: str,
) -> None:
    error = p.ir_error_deg
    if reference == "room" and exercise != "squat":
        error = math.hypot(p.ir_error_deg, p.pelvis_unknown_deg)
    limit = p.asymmetry_threshold_deg + p.margin_sigmas * math.sqrt(2) * error
    diff = limit + (EPS if above else -EPS)
    left = right - diff if left_lower else right + diff
    legs = (leg("r", peak_hip_rotation_deg=right), leg("l", peak_hip_rotation_deg=left))
    rules = FindingRules(load_demand(), None, p)
    the_rep = rep(*legs, index=5, exercise=exercise, hip_reference=reference)
    hits = by_rule(rules.evaluate([the_rep]), "asymmetry")
    assert len(hits) == int(above)
    if above:
        (hit,) = hits
        lower: Side = "l" if left_lower else "r"
        assert (hit.side, hit.rep) == (lower, 5)
        assert abs(hit.values["difference_deg"]) == pytest.approx(limit, abs=1e-5)
        assert hit.values["margin_deg"] == pytest.approx(limit - p.asymmetry_threshold_deg)
        check_numbers(hit, "hip_rotation_r_deg", "hip_rotation_l_deg", "difference_deg")
        assert f"less on the {LEG_NAME[lower]}" in hit.message
    # Legs in different roles (split stance) are not compared within a rep.
    split = rep(legs[0], replace(legs[1], lead=False), exercise=exercise)
    assert not by_rule(rules.evaluate([split]), "asymmetry")


def test_findings_come_in_rep_then_rule_order() -> None:
    p = RuleParams()
    capacity = Capacity((CapacityPoint("r", 90.0, 20.0, 0.0, "seated_ir"),))
    legs = (
        leg("r", peak_hip_rotation_deg=40.0, hip_flexion_bottom_deg=90.0),
        leg("l", peak_hip_rotation_deg=0.0, hip_flexion_bottom_deg=90.0),
    )
    reps = [rep(*legs, index=1), rep(*legs, index=2)]
    findings = FindingRules(load_demand(), capacity, p).evaluate(reps)
    assert [(f.rep, f.rule, f.side) for f in findings] == [
        (1, "at_capacity", "r"),
        (1, "asymmetry", "l"),
        (2, "at_capacity", "r"),
        (2, "asymmetry", "l"),
    ]


@settings(max_examples=60, deadline=None)
@given(
    side=st.sampled_from(SIDES),
    tilt=st.floats(-20.0, 20.0),
    obliquity=st.floats(-3.0, 3.0),
    rotation=st.floats(-3.0, 3.0),
    hip=st.tuples(st.floats(-10.0, 110.0), st.floats(-10.0, 10.0), st.floats(-25.0, 25.0)),
)
def test_pelvic_rotation_about_femur_matches_the_joint_angles(
    side: Side,
    tilt: float,
    obliquity: float,
    rotation: float,
    hip: tuple[float, float, float],
) -> None:
    """Femoral rotation relative to the room minus hip IR (both from the fusion core's joint
    angles) is the pelvis turning carried onto the femur, for small pelvis angles."""
    pelvis = quat_multiply(
        QUAT_WORLD_SEGMENT_NEUTRAL_WXYZ,
        quat_from_cardan_zxy(np.radians([tilt, obliquity, rotation])),
    )
    femur = quat_multiply(pelvis, quat_hip_from_angles_deg(hip, side))
    facing = np.zeros(1)
    with_pelvis = joint_angles_deg({"pelvis": pelvis[None], f"femur_{side}": femur[None]}, facing)
    room = joint_angles_deg({f"femur_{side}": femur[None]}, facing)
    assert with_pelvis["pelvis_list"][0] == pytest.approx(obliquity, abs=1e-6)
    assert with_pelvis["pelvis_rotation"][0] == pytest.approx(rotation, abs=1e-6)
    carried = room[f"hip_rotation_{side}"][0] - with_pelvis[f"hip_rotation_{side}"][0]
    predicted = pelvic_rotation_about_femur_deg(side, hip[0], rotation, obliquity)
    # Second-order terms of the small pelvis angles (and of hip adduction) remain.
    assert carried == pytest.approx(predicted, abs=0.25)


# --- end to end: simulated sets through the fusion core and the rep counter -----------------

#: Capacity of the simulated athlete at 90 deg hip flexion (seated test), degrees.
E2E_CAPACITY_DEG: dict[Side, float] = {"r": 25.0, "l": 35.0}
#: Demand of the squat's lead legs in the user's demand file, degrees [assumption of the test].
E2E_DEMAND_DEG = 18.0


def _frames(params: RigParams) -> tuple[RigRecording, list[ReceivedFrame]]:
    rig = simulate_rig(params)
    links = {board_id: LinkDecoder(board_id) for board_id in rig.boards}
    frames = [
        frame
        for packet in rig.packets
        if (frame := links[packet.board_id].push(packet.t_rx_us, packet.packet)) is not None
    ]
    return rig, frames


def _fused_reps(motion: MotionParams, seed: int) -> list[Rep]:
    """A simulated squat set (five boards, error-free IMUs, no loss) fused offline with the
    mounts of a separate calibration set of plain squats (same straps), and segmented.

    The separate calibration matters: a pelvis that tilts sideways in step with every rep turns
    about one fixed axis, which the pelvis board's own-axis calibration cannot tell from a
    board mounted askew (it would read the obliquity as tilt).
    """
    params = RigParams(motion=motion, imu=ImuParams.clean(), seed=seed, mount_seed=seed)
    calibration = replace(params, motion=MotionParams(exercise="squat", reps=3, seed=seed))
    rig, frames = _frames(calibration)
    core = FusionCore(dict(rig.segments_by_board), FusionParams.offline())
    core.update_frames(frames)
    core.finish()
    rig, frames = _frames(params)
    core = FusionCore(dict(rig.segments_by_board), FusionParams.offline(), core.calibration)
    table = AngleTable.concatenate([core.update_frames(frames), core.finish()])
    assert table.hip_reference == "pelvis"
    return segment_reps(table, motion.exercise)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ir_r", "ir_l", "obliquity", "expected"),
    [
        # Right above its at-capacity limit (25 - 5 + 5.5 = 25.5) by 9.5, left under the
        # demand's limit (18 - 5 = 13) by 7, 29 deg apart (margin 7.1), the right hip hiked
        # 12 deg at about 90 deg hip flexion (pelvis limit 4 + 2 = 6).
        (
            35.0,
            6.0,
            -12.0,
            {
                ("at_capacity", "r"),
                ("short_of_demand", "l"),
                ("asymmetry", "l"),
                ("pelvis_compensation", "r"),
            },
        ),
        # Every number on the quiet side of its limit by 5 deg or more.
        (18.0, 20.0, 0.0, set()),
    ],
)
def test_simulated_truth_on_either_side_of_the_limits(
    ir_r: float, ir_l: float, obliquity: float, expected: set[tuple[str, str]]
) -> None:
    motion = MotionParams(
        exercise="squat",
        reps=3,
        hip_ir_bottom_deg=ir_r,
        hip_ir_other_bottom_deg=ir_l,
        pelvis_obliquity_excursion_deg=obliquity,
        side="r",
        seed=3,
    )
    reps = _fused_reps(motion, seed=3)
    assert len(reps) == motion.reps
    capacity = Capacity(
        tuple(CapacityPoint(s, 90.0, ir, 1.0, "seated_ir") for s, ir in E2E_CAPACITY_DEG.items())
    )
    rules = FindingRules(demand(E2E_DEMAND_DEG, "assumption"), capacity, RuleParams())
    for one in reps:
        assert one.legs["r"].hip_flexion_bottom_deg == pytest.approx(90.0, abs=15.0)
        findings = rules.evaluate([one])
        assert {(f.rule, f.side) for f in findings} == expected, [f.message for f in findings]


# --- front knee drifting back: the simulator's drift through the fusion core -----------------

#: Largest error of the fused fall of the front shank's inclination (rep start minus bottom
#: window) against the truth, clean IMUs, degrees [measured: see docs/analysis.md].
KNEE_BACK_TOLERANCE_DEG = 1.5


@pytest.mark.parametrize("exercise", ["split_squat", "ffe_split_squat"])
@pytest.mark.parametrize("side", SIDES)
def test_simulator_front_knee_drift_is_exact_and_keeps_the_feet_planted(
    exercise: Exercise, side: Side
) -> None:
    """``MotionParams.front_knee_back_deg``: at each bottom time the true front shank leans
    exactly that much less forward than at the top, both ankles stay put, the front hip keeps
    its flexion and the front knee flexes less; 0 is the template's path."""
    common: dict[str, Any] = dict(
        exercise=exercise, reps=3, side=side, depth_spread_deg=3.0, hip_ir_spread_deg=2.0
    )
    still = Motion(MotionParams(**common, hip_ir_bottom_deg=12.0))
    drift = Motion(MotionParams(**common, hip_ir_bottom_deg=12.0, front_knee_back_deg=7.5))
    sch = drift.schedule
    times = np.concatenate([sch.start_t_s, sch.bottom_t_s])
    n = sch.start_t_s.size
    for motion, fall in ((drift, 7.5), (still, None)):
        state = motion.evaluate(times)
        inclination = state.shank_inclination_deg(side)
        if fall is None:  # the knee travels forward: the shank leans more at the bottom
            assert np.all(inclination[n:] - inclination[:n] > 10.0)
        else:
            np.testing.assert_allclose(inclination[:n] - inclination[n:], fall, atol=1e-6)
    dense = np.linspace(sch.start_t_s[0], sch.end_t_s[-1], 3000)
    a, b = drift.evaluate(dense), still.evaluate(dense)
    for leg_side in SIDES:
        assert np.ptp(a.ankle_m(leg_side), axis=0).max() < 1e-4
    np.testing.assert_allclose(a.hip_angles_deg(side)[:, 0], b.hip_angles_deg(side)[:, 0])
    bottom_knee = drift.evaluate(sch.bottom_t_s).knee_angles_deg(side)[:, 0]
    np.testing.assert_allclose(bottom_knee, drift.rep_depth_deg - drift.rep_knee_back_deg)
    assert np.all(drift.rep_knee_back_deg > 7.5)
    # Refused where it does not apply or cannot be done.
    with pytest.raises(ValueError, match="front_knee_back_deg applies to"):
        MotionParams(exercise="squat", front_knee_back_deg=5.0)
    with pytest.raises(ValueError, match="finite and >= 0"):
        MotionParams(exercise=exercise, front_knee_back_deg=-1.0)
    with pytest.raises(ValueError, match="too much drift"):
        Motion(MotionParams(exercise=exercise, depth_deg=60.0, front_knee_back_deg=25.0))


@pytest.mark.slow
@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    drift=st.floats(6.0, 12.0),
    side=st.sampled_from(SIDES),
    reps=st.integers(3, 4),
    depth_fraction=st.floats(0.25, 1.0),
    seed=st.integers(0, 2**20),
)
def test_simulated_front_knee_drift_fires_on_the_lead_leg(
    drift: float, side: Side, reps: int, depth_fraction: float, seed: int
) -> None:
    """Front-foot-elevated split squats (two sets, clean IMUs) with the front knee drifting
    back by a drawn amount, well beyond the 0 + 2 deg limit: ``front_knee_back`` fires on the
    lead leg of every rep with the fused numbers close to the truth; the same sets without the
    drift give no such finding."""
    rep_set = replace(
        ra.RepSet.draw("ffe_split_squat", "clean", seed),
        side=side,
        reps=reps,
        depth_fraction=depth_fraction,
    )
    params = rep_set.rig_params()
    rules = FindingRules(load_demand(), None, RuleParams())
    p = rules.params
    limit = p.knee_back_threshold_deg + p.margin_sigmas * p.shank_inclination_error_deg
    for knee_back in (drift, 0.0):
        motion = replace(params.motion, front_knee_back_deg=knee_back)
        rig, frames = ra.accuracy_table.simulate_frames(replace(params, motion=motion))
        recording = ra.Recording(rep_set, rig, frames, None)
        reps_found = segment_reps(ra.fuse(recording), "ffe_split_squat")
        result = ra.evaluate(recording, reps_found)
        assert result.exact, (rep_set, knee_back)
        assert result.lead_correct, (rep_set, knee_back)
        truth = ra.true_leg_reps(recording)
        for j, i in enumerate(ra.match(reps_found, recording)):
            assert i is not None
            found = reps_found[i]
            hits = by_rule(rules.evaluate([found]), "front_knee_back")
            true_leg = truth[j][side]
            true_fall = true_leg.shank_inclination_start_deg - true_leg.shank_inclination_bottom_deg
            if knee_back == 0:
                assert true_fall < -5.0  # the knee travels forward over the toes
                assert hits == []
                continue
            # The truth of the bottom-window mean is a little short of the drift at the bottom.
            assert limit + 2 * KNEE_BACK_TOLERANCE_DEG < true_fall <= knee_back + 1e-6
            (hit,) = hits
            assert (hit.side, hit.rep) == (side, found.index)
            assert hit.values["fall_deg"] == pytest.approx(true_fall, abs=KNEE_BACK_TOLERANCE_DEG)
            for name in ("shank_inclination_start_deg", "shank_inclination_bottom_deg"):
                true_value = getattr(true_leg, name)
                assert hit.values[name] == pytest.approx(true_value, abs=KNEE_BACK_TOLERANCE_DEG)
            assert "knee drifted back" in hit.message
