"""Streaming rep counter on synthetic knee-flexion and hip-rotation curves."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coxa.analysis import RepCounter, RepParams
from coxa.pipeline import AngleBlock

RATE_HZ = 100.0


def _session(
    peaks_deg: list[float], ir_peaks_deg: list[float], rep_s: float = 2.0, rest_s: float = 1.0
) -> AngleBlock:
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
        "hip_rotation_r": ir,
        "hip_rotation_l": ir - 3.0,
    }
    return AngleBlock(t_us=t_us, angles_deg=angles, hip_reference="pelvis")


def _split(block: AngleBlock, cuts: list[int]) -> list[AngleBlock]:
    bounds = [0, *sorted(set(cuts)), block.n_rows]
    return [
        AngleBlock(
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
    assert reps[0].duration_s == pytest.approx(2.0 * 2 / 3, abs=0.1)


def test_shallow_excursions_are_not_reps() -> None:
    counter = RepCounter(RepParams(min_peak_knee_deg=45.0))
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


def test_missing_hip_gives_nan_but_the_rep_counts() -> None:
    block = _session([90.0], [20.0])
    del block.angles_deg["hip_rotation_r"]
    reps = RepCounter().update(block)
    assert len(reps) == 1
    assert np.isnan(reps[0].legs["r"].peak_hip_rotation_deg)
