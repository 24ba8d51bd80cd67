"""Real data: ``coxa analyze`` on the OpenSense example's Xsens walking against OpenSim's IK.

Runs ``tools/opensense_check.py`` (which the test shares, so the numbers can be shown with
``.venv/bin/python tools/opensense_check.py``) on ``../shared/data/opensense_example`` read in
place: the calibration pose is the first row (t = 0 s), as OpenSense's IMU placer takes it, and
the sagittal angles must correlate with OpenSim's (Pearson r >= 0.9): a sign or axis convention
error gives r near 0 or negative. The pelvis's medio-lateral axis comes from the body's lean into
the walk's turns (its own dominant axis is the obliquity one in gait), which the hip flexion
needs.
"""

from __future__ import annotations

import functools

import pytest
from tools.opensense_check import (
    CHECKED_ANGLES,
    DATA_DIR,
    MIN_PEARSON_R,
    ORIENTATIONS_FILE,
    REFERENCE_MOT,
    format_table,
    run_check,
)

from coxa.io import AngleAgreement

pytestmark = pytest.mark.skipif(
    not (DATA_DIR / ORIENTATIONS_FILE).is_file() or not (DATA_DIR / REFERENCE_MOT).is_file(),
    reason=f"the OpenSense example is absent: expected {ORIENTATIONS_FILE} and {REFERENCE_MOT} "
    "in ../shared/data/opensense_example beside the project",
)


@functools.cache
def checked() -> tuple[dict[str, AngleAgreement], str]:
    results, summary = run_check(DATA_DIR)
    print(summary)
    print("\n".join(format_table(results, CHECKED_ANGLES)))
    return results, summary


def agreement() -> dict[str, AngleAgreement]:
    return checked()[0]


@pytest.mark.parametrize("name", CHECKED_ANGLES)
def test_sagittal_angles_follow_opensense(name: str) -> None:
    result = agreement()[name]
    # Most of the 7.25-15 s IK window at 100 Hz is compared.
    assert result.n_samples > 700
    assert result.pearson_r >= MIN_PEARSON_R, (
        f"{name}: r = {result.pearson_r:.3f}, RMS {result.rms_deg:.2f} deg"
    )


def test_pelvis_axis_comes_from_the_walking_lean() -> None:
    """In this walk the pelvis rolls (obliquity) more than it tilts, so its own dominant axis
    is the antero-posterior one; the calibration takes its axis from the body's lean into the
    turns instead (docs/fusion.md)."""
    summary = checked()[1]
    pelvis = [line for line in summary.splitlines() if line.strip().startswith("pelvis ")]
    assert len(pelvis) == 1, summary
    assert "axis by body lean" in pelvis[0]
