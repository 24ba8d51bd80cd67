"""Agreement of our angles with a reference file: time alignment, offset, shape error, NaN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coxa.io import AngleFile, compare_angles, read_mot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_MOT = ROOT.parent / "shared" / "data" / "opensense_example" / "opensense_ik_7.25-15s.mot"


def _reference(t_s: np.ndarray, in_degrees: bool = True, **columns: np.ndarray) -> AngleFile:
    return AngleFile(t_s=t_s, columns=columns, in_degrees=in_degrees, header={}, notes=())


def _sine_deg(t_s: np.ndarray) -> np.ndarray:
    return 20.0 * np.sin(2.0 * np.pi * 0.5 * t_s) + 5.0 * np.sin(2.0 * np.pi * 1.3 * t_s)


def test_offset_shape_error_and_overlap_on_different_grids() -> None:
    t_ref = np.arange(0.0, 10.0 + 1e-9, 0.01)  # 100 Hz, 0-10 s
    reference = _reference(t_ref, hip_rotation_r=_sine_deg(t_ref))
    t_ours = np.arange(2.0, 12.0, 1.0 / 60.0)  # 60 Hz, 2-12 s
    noise = np.random.default_rng(3).normal(scale=0.5, size=t_ours.size)
    ours = {"hip_rotation_r": _sine_deg(t_ours) + 3.0 + noise}
    result = compare_angles(reference, t_ours, ours, ["hip_rotation_r"])["hip_rotation_r"]
    overlap = np.count_nonzero((t_ref >= t_ours[0]) & (t_ref <= t_ours[-1]))
    assert result.n_samples == overlap
    assert result.offset_deg == pytest.approx(3.0, abs=0.05)
    # linear interpolation of noise samples averages some of it away: RMS between 0.35 and 0.5
    assert 0.3 < result.rms_deg < 0.55
    assert 0.99 < result.pearson_r < 1.0


def test_exact_match_minus_sign_and_radians() -> None:
    t_s = np.linspace(0.0, 4.0, 401)
    angle_deg = _sine_deg(t_s)
    reference = _reference(t_s, in_degrees=False, knee_angle_r=np.radians(angle_deg))
    result = compare_angles(
        reference,
        t_s,
        {"knee_angle_r": angle_deg - 7.0, "hip_rotation_r": np.zeros_like(t_s)},
        ["knee_angle_r"],
    )
    assert list(result) == ["knee_angle_r"]
    same = result["knee_angle_r"]
    assert same.pearson_r == pytest.approx(1.0, abs=1e-12)
    assert same.offset_deg == pytest.approx(-7.0, abs=1e-9)
    assert same.rms_deg < 1e-9
    assert same.n_samples == t_s.size
    mirrored = compare_angles(reference, t_s, {"knee_angle_r": -angle_deg}, ["knee_angle_r"])
    assert mirrored["knee_angle_r"].pearson_r == pytest.approx(-1.0, abs=1e-12)


def test_nan_in_ours_drops_only_the_reference_times_it_touches() -> None:
    # binary fractions: reference and our sample times coincide exactly where they should
    t_ref = np.arange(256) / 128.0
    reference = _reference(t_ref, a=_sine_deg(t_ref))
    t_ours = np.arange(64) / 32.0
    ours = _sine_deg(t_ours)
    ours[10] = np.nan
    result = compare_angles(reference, t_ours, {"a": ours}, ["a"])["a"]
    inside = t_ref <= t_ours[-1]
    touched = (t_ref > t_ours[9]) & (t_ref < t_ours[11])
    assert np.count_nonzero(touched) == 7
    assert result.n_samples == np.count_nonzero(inside & ~touched)
    assert result.rms_deg < 0.1


def test_nan_on_a_sample_time_does_not_spread() -> None:
    t_s = np.arange(0.0, 1.0, 0.01)
    ours = _sine_deg(t_s)
    ours[[5, 50]] = np.nan
    reference_values = _sine_deg(t_s)
    reference_values[70] = np.nan
    reference = _reference(t_s, a=reference_values)
    result = compare_angles(reference, t_s, {"a": ours}, ["a"])["a"]
    assert result.n_samples == t_s.size - 3
    assert result.rms_deg < 1e-12


def test_no_overlap_and_constant_series_give_nan() -> None:
    t_ref = np.arange(0.0, 1.0, 0.1)
    reference = _reference(t_ref, a=np.ones_like(t_ref), b=t_ref.copy())
    apart = compare_angles(reference, t_ref + 5.0, {"a": t_ref, "b": t_ref}, ["a"])["a"]
    assert apart.n_samples == 0
    assert np.isnan([apart.pearson_r, apart.rms_deg, apart.offset_deg]).all()
    flat = compare_angles(reference, t_ref, {"a": t_ref}, ["a"])["a"]
    assert np.isnan(flat.pearson_r)
    assert flat.offset_deg == pytest.approx(np.mean(t_ref) - 1.0)


@pytest.mark.parametrize(
    ("t_s", "angles", "names", "words"),
    [
        ([0.0, 1.0], {"a": [0.0, 1.0]}, ["z"], "not a reference column"),
        ([0.0, 1.0], {"b": [0.0, 1.0]}, ["a"], "not in angles_deg"),
        ([0.0, 1.0], {"a": [0.0]}, ["a"], "shape"),
        ([1.0, 0.0], {"a": [0.0, 1.0]}, ["a"], "increasing"),
        ([], {"a": []}, ["a"], "non-empty"),
    ],
)
def test_bad_input_is_refused(
    t_s: list[float], angles: dict[str, list[float]], names: list[str], words: str
) -> None:
    reference = _reference(np.array([0.0, 1.0]), a=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=words):
        compare_angles(reference, t_s, angles, names)


@pytest.mark.skipif(
    not EXAMPLE_MOT.is_file(),
    reason=f"OpenSense IK example not found at {EXAMPLE_MOT} (see ../shared/data/README.md)",
)
def test_the_ik_output_against_a_shifted_copy_of_itself() -> None:
    reference = read_mot(EXAMPLE_MOT)
    names = ["hip_flexion_r", "hip_adduction_r", "hip_rotation_r", "knee_angle_r"]
    t_ours = np.arange(7.0, 16.0, 0.005)  # 200 Hz, wider than the reference
    ours = {n: np.interp(t_ours, reference.t_s, reference.columns[n]) + 2.0 for n in names}
    for name, result in compare_angles(reference, t_ours, ours, names).items():
        assert result.n_samples == reference.t_s.size, name
        assert result.offset_deg == pytest.approx(2.0, abs=1e-9), name
        assert result.rms_deg < 1e-9, name
        assert result.pearson_r == pytest.approx(1.0, abs=1e-12), name
