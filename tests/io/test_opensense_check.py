"""Real data: ``coxa analyze`` on the OpenSense example's Xsens walking against OpenSim's IK.

Runs ``tools/opensense_check.py`` (which the test shares, so the numbers can be shown with
``.venv/bin/python tools/opensense_check.py``) on ``../shared/data/opensense_example`` read in
place: the calibration pose is the first row (t = 0 s), as OpenSense's IMU placer takes it, and
the sagittal angles must correlate with OpenSim's (Pearson r >= 0.9): a sign or axis convention
error gives r near 0 or negative.
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

#: Why the pelvis-referenced hip flexion falls short on walking (see the final report of the
#: analyze task): the calibration takes the pelvis's medio-lateral axis from the pelvis board's
#: own dominant rotation, which in gait is pelvic obliquity, not tilt.
PELVIS_AXIS_DIAGNOSIS = (
    "pelvis ML axis taken from the pelvis board's own dominant rotation (fit_segment_axis): in "
    "walking that is the obliquity (AP) axis (0.29 vs 0.20 rad/s RMS about AP vs ML), found "
    "89 deg off the ML axis OpenSense implies, so pelvic list is read as tilt; with only the "
    "pelvis calibration replaced by OpenSense's r = 0.98-0.99, with the pelvis ML axis taken "
    "from the thighs' at the rest (shared heading of OpenSense data) r = 0.98-0.99"
)
XFAIL = {
    "hip_flexion_r": PELVIS_AXIS_DIAGNOSIS,
}


@functools.cache
def agreement() -> dict[str, AngleAgreement]:
    results, summary = run_check(DATA_DIR)
    print(summary)
    print("\n".join(format_table(results, CHECKED_ANGLES)))
    return results


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=XFAIL[name]))
        if name in XFAIL
        else name
        for name in CHECKED_ANGLES
    ],
)
def test_sagittal_angles_follow_opensense(name: str) -> None:
    result = agreement()[name]
    # Most of the 7.25-15 s IK window at 100 Hz is compared.
    assert result.n_samples > 700
    assert result.pearson_r >= MIN_PEARSON_R, (
        f"{name}: r = {result.pearson_r:.3f}, RMS {result.rms_deg:.2f} deg"
    )
