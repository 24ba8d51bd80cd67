"""OpenSense convention check: ``coxa analyze`` on real Xsens walking against OpenSim's IK.

Runs ``coxa analyze`` (in process, through :func:`coxa.cli.main`) on the OpenSense example's
``walking_orientations.sto``, read in place from ``../shared/data/opensense_example`` (relative
to the project root), with the calibration pose OpenSense used: the first row of the file,
t = 0 s. OpenSim's ``IMUPlacer::run`` takes ``orientationsData.updRowAtIndex(0)`` of
``orientation_file_for_calibration``, which ``myIMUPlacer_Setup.xml`` sets to the whole trial
(no time range); ``myIMUIK_Setup.xml`` then runs the inverse kinematics over 7.25-15 s. The
subject stands still for the first 5 s of the file (every segment below 0.1 rad/s), so t = 0 is
a standing pose. (The data README's "frame at t=7.25 s as calibration pose" describes the IK
start, not the placer.)

Our angles are then compared with ``opensense_ik_7.25-15s.mot`` over the overlap with
:func:`coxa.io.compare_angles`: per angle the Pearson r and the RMS difference after removing
the constant offset. The reference is OpenSim's *estimate* (a model fit with a one-degree-of-
freedom knee and hip rotation clamped to +/-40 deg): a check of conventions and signs, not of
accuracy. Nothing is written next to the data or into the repository (the CSV goes to a
temporary folder).

Reference: Al Borno M. et al. (2022) "OpenSense: An open-source toolbox for inertial-measurement-
unit-based measurement of lower extremity kinematics over long durations", J NeuroEng Rehabil
19:22, doi:10.1186/s12984-022-01001-x.

Usage::

    .venv/bin/python tools/opensense_check.py             # table; exit 1 if a checked r < 0.9
    .venv/bin/python tools/opensense_check.py --data DIR  # another copy of the example
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from coxa.cli import main as coxa_main
from coxa.io import AngleAgreement, compare_angles, read_angles_csv, read_mot

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT.parent / "shared" / "data" / "opensense_example"
ORIENTATIONS_FILE = "walking_orientations.sto"
REFERENCE_MOT = "opensense_ik_7.25-15s.mot"
#: The calibration pose of OpenSense's IMU placer: the first row of the orientation file, s.
CALIBRATION_TIME_S = 0.0
#: Angles whose agreement is asserted: sagittal angles, large in walking and fixed by
#: conventions and signs alone.
CHECKED_ANGLES = ("hip_flexion_r", "hip_flexion_l", "knee_angle_r", "knee_angle_l")
#: Angles reported in the table.
REPORTED_ANGLES = tuple(
    f"{name}_{side}"
    for side in ("r", "l")
    for name in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle")
)
#: Smallest accepted Pearson r of a checked angle [assumption: a sign or axis error gives r far
#: below, near 0 or negative; a correct convention with calibration differences stays above].
MIN_PEARSON_R = 0.9


def run_check(data_dir: Path = DATA_DIR) -> tuple[dict[str, AngleAgreement], str]:
    """Analyse the example with ``coxa analyze`` and compare with OpenSense's IK result.

    Parameters
    ----------
    data_dir : pathlib.Path
        Folder holding ``walking_orientations.sto`` and ``opensense_ik_7.25-15s.mot``.

    Returns
    -------
    agreement : dict of str to AngleAgreement
        Per angle of :data:`REPORTED_ANGLES`, in that order.
    summary : str
        What ``coxa analyze`` printed (its calibration description).

    Raises
    ------
    RuntimeError
        ``coxa analyze`` failed (its message is included).
    """
    with tempfile.TemporaryDirectory(prefix="coxa-opensense-") as workdir:
        out = Path(workdir) / "angles.csv"
        printed, errors = io.StringIO(), io.StringIO()
        argv = [
            "analyze",
            str(data_dir / ORIENTATIONS_FILE),
            "--out",
            str(out),
            "--calibration-time",
            repr(CALIBRATION_TIME_S),
        ]
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
            status = coxa_main(argv)
        if status != 0:
            raise RuntimeError(f"coxa analyze exited with {status}: {errors.getvalue().strip()}")
        ours = read_angles_csv(out)
    reference = read_mot(data_dir / REFERENCE_MOT)
    agreement = compare_angles(reference, ours.t_s, ours.columns, REPORTED_ANGLES)
    return agreement, printed.getvalue()


def format_table(agreement: Mapping[str, AngleAgreement], checked: Sequence[str]) -> list[str]:
    """Lines of the agreement table: angle, Pearson r, RMS and offset (degrees), samples."""
    lines = [f"{'angle':<16} {'r':>6} {'RMS deg':>8} {'offset deg':>10} {'n':>5}  check"]
    for name, result in agreement.items():
        verdict = ""
        if name in checked:
            verdict = "ok" if result.pearson_r >= MIN_PEARSON_R else f"r < {MIN_PEARSON_R}"
        lines.append(
            f"{name:<16} {result.pearson_r:6.3f} {result.rms_deg:8.2f} {result.offset_deg:10.2f} "
            f"{result.n_samples:5d}  {verdict}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table; exit status 1 when a checked angle's r is below the bound."""
    parser = argparse.ArgumentParser(
        description="coxa analyze on the OpenSense example against OpenSim's inverse kinematics"
    )
    parser.add_argument(
        "--data", type=Path, default=DATA_DIR, help="folder of the OpenSense example"
    )
    args = parser.parse_args(argv)
    if not (args.data / ORIENTATIONS_FILE).is_file() or not (args.data / REFERENCE_MOT).is_file():
        print(f"the OpenSense example is not in {args.data}", file=sys.stderr)
        return 2
    agreement, summary = run_check(args.data)
    print(summary.rstrip())
    print()
    print(
        f"agreement with {REFERENCE_MOT} (calibration pose t = {CALIBRATION_TIME_S} s, "
        f"RMS after removing the offset):"
    )
    for line in format_table(agreement, CHECKED_ANGLES):
        print(line)
    low = [name for name in CHECKED_ANGLES if not agreement[name].pearson_r >= MIN_PEARSON_R]
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
