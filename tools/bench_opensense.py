"""OpenSense inverse kinematics speed (issue #4 benchmark): frames per second on its example.

Runs OpenSim's OpenSense workflow (``opensim`` 4.6 from PyPI) on the OpenSense example read in
place from ``../shared/data/opensense_example`` (relative to the project root): the IMU placer
calibrates ``Rajagopal_2015.osim`` on the first frame of ``walking_orientations.sto``, then IMU
inverse kinematics runs over 7.25-15 s, with the settings of the example's own setup files
(``myIMUPlacer_Setup.xml``, ``myIMUIK_Setup.xml``). Those files name their inputs relative to
their folder and with the original trial name, so the tool writes copies with absolute paths
into a temporary working folder, which also receives every output; nothing is written next to
the data or into the repository.

Reported: frames per second of the inverse kinematics (``IMUInverseKinematicsTool.run``: model
and data loading, the per-frame fits, writing the results), median of ``--repeats`` runs, and
the largest absolute difference between the computed joint angles and the stored result
``opensense_ik_7.25-15s.mot`` (OpenSim 4.6 on another machine; the fit stops at the optimizer's
tolerance, so a few frames of weakly determined coordinates differ by a tenth of a degree).

Reference: Al Borno M. et al. (2022) "OpenSense: An open-source toolbox for inertial-measurement-
unit-based measurement of lower extremity kinematics over long durations", J NeuroEng Rehabil
19:22, doi:10.1186/s12984-022-01001-x.

Usage::

    .venv/bin/python tools/bench_opensense.py               # 3 runs, median frames/s, check
    .venv/bin/python tools/bench_opensense.py --repeats 1
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT.parent / "shared" / "data" / "opensense_example"
FloatArray = NDArray[np.float64]

MODEL_FILE = "Rajagopal_2015.osim"
ORIENTATIONS_FILE = "walking_orientations.sto"
PLACER_SETUP = "myIMUPlacer_Setup.xml"
IK_SETUP = "myIMUIK_Setup.xml"
REFERENCE_MOT = "opensense_ik_7.25-15s.mot"
#: The trial file name the example's setup files refer to (renamed in shared/data).
SETUP_TRIAL_FILE = "MT_012005D6_009-001_orientations.sto"
#: Largest accepted difference from the stored result, degrees [assumption: a few times the
#: 0.12 deg seen between OpenSim 4.6 runs on two machines, well below any convention error].
MAX_ABS_DIFF_DEG = 0.5
#: Columns the fusion core also reports.
HIP_KNEE_COLUMNS = tuple(
    f"{name}_{side}"
    for side in ("r", "l")
    for name in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_angle")
)

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenSenseRun:
    """One OpenSense run: IMU placer, then IMU inverse kinematics.

    Attributes
    ----------
    frames : int
        Rows (time frames) of the inverse kinematics result.
    placer_s, ik_s : float
        Wall time of the IMU placer and of the inverse kinematics, seconds.
    ik_cpu_s : float
        CPU time of this process during the inverse kinematics, seconds (less sensitive to
        other load on the machine).
    mot_path : Path
        The joint angles written by the inverse kinematics (degrees).
    """

    frames: int
    placer_s: float
    ik_s: float
    ik_cpu_s: float
    mot_path: Path


def read_mot(path: Path) -> tuple[list[str], FloatArray]:
    """Column names and values of an OpenSim ``.mot``/``.sto`` table of numbers.

    Parameters
    ----------
    path : Path
        File with header lines, an ``endheader`` line, a tab-separated column line and rows.

    Returns
    -------
    columns : list of str
        Column names, ``time`` first.
    values : ndarray, shape (rows, columns)

    Raises
    ------
    ValueError
        No ``endheader``, or a row that is not numbers of the column count (file and line named).
    """
    lines = path.read_text().splitlines()
    try:
        end = next(i for i, line in enumerate(lines) if line.strip() == "endheader")
    except StopIteration:
        raise ValueError(f"{path}: no 'endheader' line") from None
    if end + 1 >= len(lines):
        raise ValueError(f"{path}: no column line after 'endheader'")
    columns = lines[end + 1].split("\t")
    rows: list[list[float]] = []
    for number, line in enumerate(lines[end + 2 :], start=end + 3):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise ValueError(
                f"{path}:{number}: {len(cells)} cells, the column line has {len(columns)}"
            )
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
    return columns, np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))


def _setup_with_paths(text: str, replacements: dict[str, str], name: str) -> str:
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"{name}: expected {old!r} in the setup file")
        text = text.replace(old, new)
    return text


def write_setups(data_dir: Path, workdir: Path) -> tuple[Path, Path]:
    """Copies of the example's placer and IK setup files with absolute paths, in ``workdir``.

    Inputs point into ``data_dir``; the calibrated model and the results go into ``workdir``.
    Returns the paths of the placer and the IK setup copies.
    """
    orientations = str(data_dir / ORIENTATIONS_FILE)
    calibrated = workdir / "Rajagopal_2015_calibrated.osim"
    placer = _setup_with_paths(
        (data_dir / PLACER_SETUP).read_text(),
        {
            f"<model_file>{MODEL_FILE}<": f"<model_file>{data_dir / MODEL_FILE}<",
            SETUP_TRIAL_FILE: orientations,
            "<output_model_file>Rajagopal_2015_calibrated.osim<": (
                f"<output_model_file>{calibrated}<"
            ),
        },
        PLACER_SETUP,
    )
    ik = _setup_with_paths(
        (data_dir / IK_SETUP).read_text(),
        {
            "<model_file>Rajagopal_2015_calibrated.osim<": f"<model_file>{calibrated}<",
            SETUP_TRIAL_FILE: orientations,
            "<results_directory>IKResults<": f"<results_directory>{workdir / 'IKResults'}<",
        },
        IK_SETUP,
    )
    placer_path, ik_path = workdir / "placer_setup.xml", workdir / "ik_setup.xml"
    placer_path.write_text(placer)
    ik_path.write_text(ik)
    return placer_path, ik_path


def run_opensense(data_dir: Path, workdir: Path) -> OpenSenseRun:
    """IMU placer, then IMU inverse kinematics, on the example in ``data_dir``.

    Parameters
    ----------
    data_dir : Path
        Folder with the OpenSense example (read only).
    workdir : Path
        Existing empty folder for the setup copies and every output.

    Raises
    ------
    FileNotFoundError
        A file of the example is missing, or OpenSim wrote no result.
    """
    import opensim as osim  # type: ignore[import-untyped]  # 72 MB: only when used

    for name in (MODEL_FILE, ORIENTATIONS_FILE, PLACER_SETUP, IK_SETUP):
        if not (data_dir / name).is_file():
            raise FileNotFoundError(f"{data_dir / name}: OpenSense example file missing")
    placer_setup, ik_setup = write_setups(data_dir, workdir)
    t0 = time.perf_counter()
    osim.IMUPlacer(str(placer_setup)).run(False)
    placer_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    osim.IMUInverseKinematicsTool(str(ik_setup)).run(False)
    ik_s, ik_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    mots = sorted((workdir / "IKResults").glob("ik_*.mot"))
    if len(mots) != 1:
        raise FileNotFoundError(f"{workdir / 'IKResults'}: expected one ik_*.mot, found {mots}")
    _, values = read_mot(mots[0])
    _LOG.info("placer %.2f s, IK %.2f s for %d frames", placer_s, ik_s, values.shape[0])
    return OpenSenseRun(
        frames=values.shape[0], placer_s=placer_s, ik_s=ik_s, ik_cpu_s=ik_cpu_s, mot_path=mots[0]
    )


def run_opensense_ik(data_dir: Path, workdir: Path) -> tuple[int, float]:
    """OpenSense on the example; returns (IK frames, IK wall time in seconds).

    The IMU placer runs first and is not counted; see :func:`run_opensense`.
    """
    result = run_opensense(data_dir, workdir)
    return result.frames, result.ik_s


def compare_with_reference(mot_path: Path, reference_path: Path) -> dict[str, float]:
    """Largest absolute difference per column between two joint-angle tables, degrees.

    Raises
    ------
    ValueError
        The tables differ in columns or time frames.
    """
    columns, values = read_mot(mot_path)
    ref_columns, ref_values = read_mot(reference_path)
    if columns != ref_columns:
        raise ValueError(f"{mot_path}: columns differ from {reference_path}")
    if values.shape != ref_values.shape or not np.allclose(values[:, 0], ref_values[:, 0]):
        raise ValueError(f"{mot_path}: time frames differ from {reference_path}")
    diff = np.abs(values - ref_values).max(axis=0)
    return {column: float(d) for column, d in zip(columns[1:], diff[1:], strict=True)}


def main(argv: list[str] | None = None) -> int:
    """Command line: median frames/s of OpenSense IK and the check against the stored result."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-v", "--verbose", action="store_true", help="OpenSim's own messages")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    if not data_dir.is_dir():
        print(f"skipped: OpenSense example not found at {data_dir}")
        return 0
    import opensim as osim  # type: ignore[import-untyped]

    osim.Logger.setLevelString("info" if args.verbose else "error")
    print(f"opensim {osim.__version__}; load average at start {os.getloadavg()[0]:.2f}")
    runs: list[OpenSenseRun] = []
    worst: dict[str, float] = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="coxa-opensense-") as tmp:
            run = run_opensense(data_dir, Path(tmp))
            runs.append(run)
            diff = compare_with_reference(run.mot_path, data_dir / REFERENCE_MOT)
            worst = {c: max(d, worst.get(c, 0.0)) for c, d in diff.items()}
        print(
            f"  run: placer {run.placer_s:.2f} s, IK {run.ik_s:.2f} s (CPU {run.ik_cpu_s:.2f} s) "
            f"for {run.frames} frames ({run.frames / run.ik_s:.1f} frames/s)"
        )
        sys.stdout.flush()
    frames = runs[0].frames
    ik_median = statistics.median(r.ik_s for r in runs)
    cpu_median = statistics.median(r.ik_cpu_s for r in runs)
    all_max = max(worst.values())
    hip_knee_max = max(worst[c] for c in HIP_KNEE_COLUMNS)
    print(
        f"OpenSense IMU inverse kinematics: {frames} frames, median {ik_median:.2f} s of "
        f"{len(runs)} -> {frames / ik_median:.1f} frames/s (per CPU second: "
        f"{frames / cpu_median:.1f}; placer median "
        f"{statistics.median(r.placer_s for r in runs):.2f} s, not counted)"
    )
    print(
        f"vs {REFERENCE_MOT}: max |diff| {all_max:.4f} deg over all coordinates "
        f"({max(worst, key=worst.__getitem__)}), {hip_knee_max:.4f} deg over hip and knee"
    )
    ok = all_max <= MAX_ABS_DIFF_DEG
    print("check", "passed" if ok else f"FAILED (limit {MAX_ABS_DIFF_DEG} deg)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
