"""Rep segmentation and per-rep values on synthetic angle curves with known reps."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.analysis import EXERCISE_IDS, Rep, RepCounter, RepParams, segment_reps
from coxa.fusion import AngleTable

RATE_HZ = 100.0
REST_S = 1.0
DOWN_S, PAUSE_S, UP_S = 1.5, 0.5, 1.2


def _rep_shape() -> np.ndarray:
    """Minimum-jerk descent, bottom pause, minimum-jerk ascent: 0 -> 1 -> 0."""

    def mj(n: int) -> np.ndarray:
        x = np.linspace(0.0, 1.0, n)
        return 10 * x**3 - 15 * x**4 + 6 * x**5

    down = mj(int(DOWN_S * RATE_HZ))
    up = 1.0 - mj(int(UP_S * RATE_HZ))
    return np.concatenate([down, np.ones(int(PAUSE_S * RATE_HZ)), up])


def _session(
    peaks_deg: list[float], ir_peaks_deg: list[float]
) -> tuple[AngleTable, list[tuple[float, float]]]:
    """Reps separated by rests; IR reaches its peak once the knee is within 5 deg of its own
    (so the bottom-window mean is the IR peak). Also returns each rep's true (start, end), s."""
    shape = _rep_shape()
    rest = np.zeros(int(REST_S * RATE_HZ))
    knee_parts, ir_parts, spans = [rest], [rest], []
    n = rest.size
    for knee_peak, ir_peak in zip(peaks_deg, ir_peaks_deg, strict=True):
        knee = knee_peak * shape
        knee_parts += [knee, rest]
        ir_parts += [ir_peak * np.clip(knee / (knee_peak - 5.0), 0.0, 1.0), rest]
        spans.append((n / RATE_HZ, (n + shape.size - 1) / RATE_HZ))
        n += shape.size + rest.size
    knee = np.concatenate(knee_parts)
    ir = np.concatenate(ir_parts)
    t_us = np.arange(knee.size, dtype=np.float64) * (1e6 / RATE_HZ)
    angles = {
        "knee_angle_r": knee,
        "knee_angle_l": knee * 0.95,
        "hip_flexion_r": knee * 0.8,
        "hip_flexion_l": knee * 0.75,
        "hip_rotation_r": ir,
        "hip_rotation_l": ir - 3.0,
    }
    return AngleTable(t_us=t_us, angles_deg=angles, hip_reference="pelvis"), spans


def _split(block: AngleTable, cuts: list[int]) -> list[AngleTable]:
    bounds = [0, *sorted(set(cuts)), block.n_rows]
    return [
        AngleTable(
            t_us=block.t_us[a:b],
            angles_deg={k: v[a:b] for k, v in block.angles_deg.items()},
            quat_world_segment_wxyz={k: v[a:b] for k, v in block.quat_world_segment_wxyz.items()},
            hip_reference=block.hip_reference,
        )
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]


def same_reps(a: list[Rep], b: list[Rep]) -> bool:
    """Equal reps, NaN equal to NaN."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        fx, fy = dataclasses.astuple(x), dataclasses.astuple(y)
        if fx[:3] != fy[:3] or fx[4:] != fy[4:] or x.legs.keys() != y.legs.keys():
            return False
        for side in x.legs:
            for u, v in zip(
                dataclasses.astuple(x.legs[side]), dataclasses.astuple(y.legs[side]), strict=True
            ):
                if u != v and not (
                    isinstance(u, float)
                    and isinstance(v, float)
                    and math.isnan(u)
                    and math.isnan(v)
                ):
                    return False
    return True


def test_counts_reps_and_takes_bottom_window_means() -> None:
    block, spans = _session([90.0, 70.0, 100.0], [20.0, 12.0, 31.0])
    reps = segment_reps(block, "squat")
    assert [rep.index for rep in reps] == [1, 2, 3]
    assert [rep.exercise for rep in reps] == ["squat"] * 3
    assert {rep.hip_reference for rep in reps} == {"pelvis"}
    assert [rep.legs["r"].peak_knee_deg for rep in reps] == pytest.approx([90, 70, 100], abs=0.1)
    assert [rep.legs["r"].peak_hip_rotation_deg for rep in reps] == pytest.approx(
        [20, 12, 31], abs=1e-9
    )
    assert reps[0].legs["l"].peak_hip_rotation_deg == pytest.approx(17.0, abs=1e-9)
    # Bilateral: both legs lead. Start and end close to the true ones (a still drive).
    assert all(rep.lead_sides == ("r", "l") for rep in reps)
    for rep, (start_s, end_s) in zip(reps, spans, strict=True):
        assert 0.0 <= rep.t_start_us / 1e6 - start_s <= 0.25
        assert -0.25 <= rep.t_end_us / 1e6 - end_s <= 0.0


def test_split_stance_tops_out_bent_and_the_front_leg_leads() -> None:
    block, _ = _session([90.0, 90.0, 90.0], [10.0, 10.0, 10.0])
    # Between reps the front (right) knee stays at 25 deg, never back to 0; the rear hip is
    # extended.
    for name in ("knee_angle_r", "hip_flexion_r"):
        values = block.angles_deg[name]
        values[200:] = np.maximum(values[200:], 25.0)
    block.angles_deg["hip_flexion_l"] = -0.1 * block.angles_deg["knee_angle_l"]
    reps = segment_reps(block, "split_squat")
    assert len(reps) == 3
    assert all(rep.lead_sides == ("r",) for rep in reps)


def test_shallow_excursions_are_not_reps() -> None:
    counter = RepCounter("squat", RepParams(min_excursion_deg=40.0))
    block, _ = _session([90.0, 35.0, 90.0], [10.0, 10.0, 10.0])
    reps = counter.update(block)
    assert len(reps) == 2
    assert counter.rejected == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 1400), max_size=12), st.sampled_from(EXERCISE_IDS[:-1]))
def test_block_splits_do_not_change_the_reps(cuts: list[int], exercise: str) -> None:
    block, _ = _session([80.0, 95.0, 60.0], [15.0, 25.0, 5.0])
    whole = segment_reps(block, exercise)
    counter = RepCounter(exercise)
    pieces = [rep for part in _split(block, cuts) for rep in counter.update(part)]
    assert len(whole) == 3
    assert same_reps(whole, pieces)


def test_missing_rotation_gives_nan_but_the_rep_counts() -> None:
    block, _ = _session([90.0], [20.0])
    del block.angles_deg["hip_rotation_r"]
    reps = segment_reps(block, "squat")
    assert len(reps) == 1
    assert np.isnan(reps[0].legs["r"].peak_hip_rotation_deg)


def test_a_gap_in_one_leg_does_not_end_the_rep() -> None:
    block, _ = _session([90.0, 90.0], [10.0, 10.0])
    for name in ("knee_angle_r", "hip_flexion_r", "knee_angle_l", "hip_flexion_l"):
        block.angles_deg[name][230:260] = np.nan  # lost at the bottom of the first rep
    block.angles_deg["hip_flexion_l"] = -0.1 * block.angles_deg["knee_angle_l"]
    block.angles_deg["knee_angle_l"] = np.full(block.n_rows, 5.0)
    block.angles_deg["knee_angle_r"][330:360] = np.nan  # the lead leg alone, on the way up
    block.angles_deg["hip_flexion_r"][330:360] = np.nan
    reps = segment_reps(block, "step_up")
    assert len(reps) == 2


def test_a_gap_over_the_top_between_two_shallow_reps_loses_no_rep() -> None:
    # Two 20 deg squats; the rows from the end of the first rep's way up (below 4.5 deg) to
    # the second rep's way down (above 7 deg) are lost: the second rep starts from the first
    # one's top level, not from the first value after the gap (its excursion would read
    # 13 deg, under the squat's 15 deg minimum).
    block, spans = _session([20.0, 20.0], [5.0, 5.0])
    knee = block.angles_deg["knee_angle_r"]
    first_end = int(spans[0][1] * RATE_HZ)
    peak = int(np.argmax(knee[:first_end]))
    lost_from = peak + int(np.argmax(knee[peak:] < 4.5))
    second = int(spans[1][0] * RATE_HZ)
    lost_to = second + int(np.argmax(knee[second:] > 7.0))
    for name in ("knee_angle_r", "hip_flexion_r", "knee_angle_l", "hip_flexion_l"):
        block.angles_deg[name][lost_from:lost_to] = np.nan
    reps = segment_reps(block, "squat")
    assert len(reps) == 2


def test_a_squat_leg_lost_over_the_top_does_not_merge_two_reps() -> None:
    # The left leg's rows are lost from the first rep's way up (below 30 deg) to the second
    # rep's way down (above 30 deg): the right leg carries the drive over the top.
    block, spans = _session([90.0, 90.0], [5.0, 5.0])
    knee = block.angles_deg["knee_angle_l"]
    first_end = int(spans[0][1] * RATE_HZ)
    peak = int(np.argmax(knee[:first_end]))
    lost_from = peak + int(np.argmax(knee[peak:] < 30.0))
    second = int(spans[1][0] * RATE_HZ)
    lost_to = second + int(np.argmax(knee[second:] > 30.0))
    for name in ("knee_angle_l", "hip_flexion_l"):
        block.angles_deg[name][lost_from:lost_to] = np.nan
    assert len(segment_reps(block, "squat")) == 2


def test_hip_dominant_hinge_counts_and_reads_the_bottom_on_hip_flexion() -> None:
    block, _ = _session([25.0, 25.0], [8.0, 12.0])
    for side, scale in (("r", 3.0), ("l", 1.0)):
        block.angles_deg[f"hip_flexion_{side}"] = block.angles_deg[f"knee_angle_{side}"] * scale
    reps = segment_reps(block, "hinge")
    assert len(reps) == 2
    assert reps[1].lead_sides == ("r",)
    assert reps[1].legs["r"].peak_hip_flexion_deg == pytest.approx(75.0, abs=0.1)
    assert reps[1].legs["r"].peak_knee_deg == pytest.approx(25.0, abs=0.1)
    assert reps[1].legs["r"].hip_flexion_bottom_deg > 72.0


def test_without_shank_boards_the_hip_alone_drives_the_count() -> None:
    block, _ = _session([90.0, 90.0], [10.0, 10.0])
    del block.angles_deg["knee_angle_r"], block.angles_deg["knee_angle_l"]
    reps = segment_reps(block, "squat")
    assert len(reps) == 2
    assert np.isnan(reps[0].legs["r"].peak_knee_deg)


@pytest.mark.parametrize("first_to", [1.0, -1.0])
def test_90_90_swings_are_segmented_on_hip_rotation_either_way(first_to: float) -> None:
    block, spans = _session([60.0, 60.0, 60.0], [0.0, 0.0, 0.0])
    swing = block.angles_deg["knee_angle_r"] / 60.0 * 35.0  # 0 -> 35 deg -> 0
    block.angles_deg["knee_angle_r"] = np.full(block.n_rows, 90.0)
    block.angles_deg["knee_angle_l"] = np.full(block.n_rows, 88.0)
    block.angles_deg["hip_flexion_r"] = np.full(block.n_rows, 105.0)
    block.angles_deg["hip_flexion_l"] = np.full(block.n_rows, 110.0)
    block.angles_deg["hip_rotation_r"] = first_to * swing
    block.angles_deg["hip_rotation_l"] = -first_to * swing
    reps = segment_reps(block, "90-90")
    assert len(reps) == 3
    into_ir = "r" if first_to > 0 else "l"
    assert all(rep.lead_sides == (into_ir,) for rep in reps)
    assert reps[0].legs[into_ir].peak_hip_rotation_deg == pytest.approx(35.0, abs=1.0)
    for rep, (start_s, _) in zip(reps, spans, strict=True):
        assert 0.0 <= rep.t_start_us / 1e6 - start_s <= 0.25


def _stand_sit_then_swing(sit_s: float) -> tuple[AngleTable, list[tuple[float, float]]]:
    """A 90/90 recording as the product asks for it: stand still (hips and knees at 0), sit
    down over ``sit_s`` into the start pose (right hip in ER, left in IR: right minus left
    rotation -80 deg), then three swings to the other side and back."""
    block, spans = _session([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    swing = block.angles_deg["knee_angle_r"]  # 0 -> 1 -> 0 per rep
    rows_standing = int(2.0 * RATE_HZ)
    rows_sitting = int(sit_s * RATE_HZ)
    sit = np.linspace(0.0, 1.0, rows_sitting)
    sit = 10 * sit**3 - 15 * sit**4 + 6 * sit**5
    posture = np.concatenate([np.zeros(rows_standing), sit, np.ones(block.n_rows)])
    rotation = np.concatenate([np.zeros(rows_standing), sit, 1.0 - 2.0 * swing])
    n = posture.size
    angles = {
        "knee_angle_r": 90.0 * posture,
        "knee_angle_l": 88.0 * posture,
        "hip_flexion_r": 105.0 * posture,
        "hip_flexion_l": 110.0 * posture,
        "hip_rotation_r": -45.0 * rotation,
        "hip_rotation_l": 35.0 * rotation,
    }
    t_us = np.arange(n, dtype=np.float64) * (1e6 / RATE_HZ)
    shift_s = (rows_standing + rows_sitting) / RATE_HZ
    shifted = [(a + shift_s, b + shift_s) for a, b in spans]
    return AngleTable(t_us=t_us, angles_deg=angles, hip_reference="pelvis"), shifted


@pytest.mark.parametrize("sit_s", [1.0, 3.0])
def test_90_90_counts_only_in_the_seated_position(sit_s: float) -> None:
    """Standing up and sitting down into the start pose turns the hips as much as a swing;
    only the swings in the seated position are reps, online as offline."""
    block, spans = _stand_sit_then_swing(sit_s)
    reps = segment_reps(block, "90-90")
    assert len(reps) == 3
    for rep, (start_s, _) in zip(reps, spans, strict=True):
        assert 0.0 <= rep.t_start_us / 1e6 - start_s <= 0.25
    counter = RepCounter("90-90")
    online = [
        rep
        for part in _split(block, list(range(7, block.n_rows, 37)))
        for rep in counter.update(part)
    ]
    assert same_reps(reps, online)
    # Without the position, the sitting down counts as a swing (the test can fail).
    anywhere = dataclasses.replace(RepParams.for_exercise("90_90"), position_min_flexion_deg=None)
    assert len(RepCounter("90-90", anywhere).update(block)) != 3


def test_rows_fed_one_by_one_report_each_rep_within_half_a_second_of_its_end() -> None:
    block, spans = _session([90.0, 60.0], [10.0, 10.0])
    counter = RepCounter("squat")
    reported_s: list[float] = []
    for i in range(block.n_rows):
        if counter.update(_split(block, [i, i + 1])[1 if i else 0]):
            reported_s.append(block.t_us[i] / 1e6)
    assert len(reported_s) == 2
    for t, (_, end_s) in zip(reported_s, spans, strict=True):
        assert abs(t - end_s) <= 0.5


def test_unknown_exercise_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="known: squat, split_squat"):
        RepCounter("lunge_jump")
    with pytest.raises(ValueError, match="known"):
        RepParams.for_exercise("prone_ir")
    assert RepParams.for_exercise("ffe-split-squat") == RepParams.for_exercise("ffe_split_squat")


def test_times_must_increase() -> None:
    block, _ = _session([90.0], [10.0])
    counter = RepCounter("squat")
    counter.update(_split(block, [100])[0])
    with pytest.raises(ValueError, match="increasing"):
        counter.update(_split(block, [50])[0])
