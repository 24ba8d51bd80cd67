"""Streaming rep counter on synthetic knee-flexion and hip-rotation curves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.analysis import RepCounter, RepParams
from coxa.fusion import AngleTable

RATE_HZ = 100.0


def _session(
    peaks_deg: list[float], ir_peaks_deg: list[float], rep_s: float = 2.0, rest_s: float = 1.0
) -> AngleTable:
    """Cosine reps separated by rests; IR follows knee flexion and peaks at the bottom."""
    knee_parts: list[np.ndarray] = [np.zeros(int(rest_s * RATE_HZ))]
    ir_parts: list[np.ndarray] = [np.zeros(int(rest_s * RATE_HZ))]
    phase = np.linspace(0.0, 1.0, int(rep_s * RATE_HZ))
    shape = 0.5 - 0.5 * np.cos(2 * np.pi * phase)
    for knee_peak, ir_peak in zip(peaks_deg, ir_peaks_deg, strict=True):
        knee_parts += [knee_peak * shape, np.zeros(int(rest_s * RATE_HZ))]
        ir_parts += [ir_peak * shape**2, np.zeros(int(rest_s * RATE_HZ))]
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
    return AngleTable(t_us=t_us, angles_deg=angles, hip_reference="pelvis")


def _split(block: AngleTable, cuts: list[int]) -> list[AngleTable]:
    bounds = [0, *sorted(set(cuts)), block.n_rows]
    return [
        AngleTable(
            t_us=block.t_us[a:b],
            angles_deg={k: v[a:b] for k, v in block.angles_deg.items()},
            hip_reference=block.hip_reference,
        )
        for a, b in itertools.pairwise(bounds)
    ]


def test_counts_reps_and_takes_peaks_in_the_bottom_window() -> None:
    block = _session([90.0, 70.0, 100.0], [20.0, 12.0, 31.0])
    counter = RepCounter()
    reps = counter.update(block)
    assert [rep.index for rep in reps] == [1, 2, 3]
    assert [rep.legs["r"].peak_knee_deg for rep in reps] == pytest.approx([90, 70, 100], abs=0.1)
    assert [rep.legs["r"].peak_hip_rotation_deg for rep in reps] == pytest.approx(
        [20, 12, 31], abs=0.05
    )
    assert reps[0].legs["l"].peak_hip_rotation_deg == pytest.approx(17.0, abs=0.05)
    # Starts at 30 deg on the way down; ends at 90 - 0.6 * 90 = 36 deg on the way up.
    phase_start = np.arccos(1 - 2 * 30 / 90) / (2 * np.pi)
    phase_end = 1 - np.arccos(1 - 2 * 36 / 90) / (2 * np.pi)
    assert reps[0].duration_s == pytest.approx(2.0 * (phase_end - phase_start), abs=0.02)


def test_split_stance_tops_out_bent_and_still_counts() -> None:
    block = _session([90.0, 90.0, 90.0], [10.0, 10.0, 10.0])
    # Between reps the front knee stays at 25 deg (split stance), never back to 0.
    for name in ("knee_angle_r", "hip_flexion_r"):
        values = block.angles_deg[name]
        values[200:] = np.maximum(values[200:], 25.0)
    reps = RepCounter().update(block)
    assert len(reps) == 3


def test_shallow_excursions_are_not_reps() -> None:
    counter = RepCounter(RepParams(min_excursion_deg=40.0))
    reps = counter.update(_session([90.0, 35.0, 90.0], [10.0, 10.0, 10.0]))
    assert len(reps) == 2
    assert counter.rejected == 1


@settings(max_examples=40)
@given(st.lists(st.integers(1, 2999), max_size=12))
def test_block_splits_do_not_change_the_reps(cuts: list[int]) -> None:
    block = _session([80.0, 95.0, 60.0], [15.0, 25.0, 5.0])
    whole = RepCounter().update(block)
    split_counter = RepCounter()
    pieces = [rep for part in _split(block, cuts) for rep in split_counter.update(part)]
    assert len(pieces) == len(whole) == 3
    for a, b in zip(whole, pieces, strict=True):
        assert a.t_start_us == b.t_start_us
        assert a.legs["r"].peak_hip_rotation_deg == b.legs["r"].peak_hip_rotation_deg


def test_missing_rotation_gives_nan_but_the_rep_counts() -> None:
    block = _session([90.0], [20.0])
    del block.angles_deg["hip_rotation_r"]
    reps = RepCounter().update(block)
    assert len(reps) == 1
    assert np.isnan(reps[0].legs["r"].peak_hip_rotation_deg)


def test_hip_dominant_hinge_counts_on_hip_flexion() -> None:
    block = _session([25.0, 25.0], [8.0, 12.0])
    for side, scale in (("r", 3.0), ("l", 2.5)):
        block.angles_deg[f"hip_flexion_{side}"] = block.angles_deg[f"knee_angle_{side}"] * scale
    reps = RepCounter().update(block)
    assert len(reps) == 2
    assert reps[1].legs["r"].peak_hip_flexion_deg == pytest.approx(75.0, abs=0.1)
    assert reps[1].legs["r"].peak_knee_deg == pytest.approx(25.0, abs=0.1)
    assert reps[1].legs["r"].peak_hip_rotation_deg == pytest.approx(12.0, abs=0.05)


def test_without_shank_boards_the_hip_alone_drives_the_count() -> None:
    block = _session([90.0, 90.0], [10.0, 10.0])
    del block.angles_deg["knee_angle_r"], block.angles_deg["knee_angle_l"]
    reps = RepCounter().update(block)
    assert len(reps) == 2
    assert np.isnan(reps[0].legs["r"].peak_knee_deg)
