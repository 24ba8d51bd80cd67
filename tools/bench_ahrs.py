"""Benchmark the on-board AHRS (``firmware/coxa_fw/ahrs.py``) on BROAD and on MicroPython.

Accuracy (default mode): every selected BROAD trial (Laidig et al. 2021, "BROAD - A Benchmark
for Robust Inertial Orientation Estimation", Data 6(7):72, doi:10.3390/data6070072) is read in
place from ``../shared/data/broad`` (relative to the project root) and filtered, in one run, by

- ``coxa`` : our ``Ahrs6D`` on CPython (the very code that runs on the board);
- ``vqf``  : ``vqf.VQF`` 6D (``updateBatch`` without magnetometer), default parameters;
- ``madgwick`` : ``ahrs.filters.Madgwick`` 6D at its default gain;
- ``mahony`` : ``ahrs.filters.Mahony`` 6D at its default gains (k_P = 1, k_I = 0.3);
- ``mahony_ki0`` : the same with the integral gain off (k_I = 0), a tuned variant, labelled so.

Scoring (our implementation of the BROAD method): an estimate ``q_E_S(t)`` (sensor S in the
filter's world E) and the optical reference ``q_G_B(t)`` (body B in the reference world G) are
related by two unknown constant rotations, ``q_G_B = q_G_E * q_E_S * q_S_B``. Both are estimated
per trial and per filter by alternating least squares over the scored samples (``movement`` mask,
finite reference): with one fixed, the other is the chordal L2 mean (principal eigenvector of
the summed outer products) of the rotations it must explain; ten alternations from identity.
The error ``q_err = q_G_B * conj(q_G_E * q_E_S * q_S_B)`` (reference world frame) is split into
a heading part about the vertical and an inclination part:
``heading = 2 atan2(z, w)`` and ``inclination = 2 acos(sqrt(w^2 + z^2))`` (the angle between the
true and the estimated vertical). Per trial: RMS over the scored samples. Without a
magnetometer the heading offset is arbitrary and ``q_G_E`` absorbs its mean, so the heading
figure is the RMS heading drift about the best constant offset. Per group: mean of the trials.

MicroPython (``--micropython``): runs ``Ahrs6D.update`` on the unix port (bytecode and
``-X emit=native``), median of repeated timed runs, and heap bytes per update from
``gc.mem_alloc()`` with the collector disabled.

Usage::

    .venv/bin/python tools/bench_ahrs.py                 # all trials found, Markdown table
    .venv/bin/python tools/bench_ahrs.py --trials 3      # the first three trials
    .venv/bin/python tools/bench_ahrs.py --micropython   # cost per update on MicroPython
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import quat_conjugate, quat_multiply

ROOT = Path(__file__).resolve().parent.parent
BROAD_DIR = ROOT.parent / "shared" / "data" / "broad"
FIRMWARE_DIR = ROOT / "firmware"
FloatArray = NDArray[np.float64]

if str(FIRMWARE_DIR) not in sys.path:
    sys.path.insert(0, str(FIRMWARE_DIR))


# ------------------------------------------------------------------------------------------
# Quaternion mean (products and conjugates come from coxa.geometry)
# ------------------------------------------------------------------------------------------


def quat_mean(q: FloatArray) -> FloatArray:
    """Chordal L2 mean of unit quaternions ``(n, 4)``: principal eigenvector of sum q q^T."""
    m = q.T @ q
    _, vecs = np.linalg.eigh(m)
    mean: FloatArray = vecs[:, -1]
    return mean if mean[0] >= 0 else -mean


# ------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """Errors of one filter on one trial, degrees (RMS over the scored samples)."""

    inclination_deg: float
    heading_deg: float


def align(
    q_est: FloatArray, q_ref: FloatArray, iterations: int = 10
) -> tuple[FloatArray, FloatArray]:
    """Estimate ``q_G_E`` and ``q_S_B`` with ``q_ref ~ q_G_E * q_est * q_S_B`` (see module doc)."""
    q_ge = np.array([1.0, 0.0, 0.0, 0.0])
    q_sb = np.array([1.0, 0.0, 0.0, 0.0])
    for _ in range(iterations):
        q_ge = quat_mean(quat_multiply(q_ref, quat_conjugate(quat_multiply(q_est, q_sb))))
        q_sb = quat_mean(quat_multiply(quat_conjugate(quat_multiply(q_ge, q_est)), q_ref))
    return q_ge, q_sb


def score(q_est: FloatArray, q_ref: FloatArray, mask: NDArray[np.bool_]) -> Score:
    """Inclination and heading error of ``q_est`` against ``q_ref`` on ``mask`` samples."""
    use = mask & np.all(np.isfinite(q_ref), axis=1) & np.all(np.isfinite(q_est), axis=1)
    est = q_est[use] / np.linalg.norm(q_est[use], axis=1, keepdims=True)
    ref = q_ref[use] / np.linalg.norm(q_ref[use], axis=1, keepdims=True)
    q_ge, q_sb = align(est, ref)
    err = quat_multiply(ref, quat_conjugate(quat_multiply(quat_multiply(q_ge, est), q_sb)))
    err = np.where(err[:, :1] < 0, -err, err)
    w, z = err[:, 0], err[:, 3]
    heading = 2.0 * np.arctan2(z, w)
    inclination = 2.0 * np.arccos(np.clip(np.sqrt(w * w + z * z), 0.0, 1.0))
    return Score(
        inclination_deg=float(np.degrees(np.sqrt(np.mean(inclination**2)))),
        heading_deg=float(np.degrees(np.sqrt(np.mean(heading**2)))),
    )


# ------------------------------------------------------------------------------------------
# Trials
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One BROAD trial read from its MATLAB file."""

    name: str
    groups: tuple[str, ...]
    rate_hz: float
    gyr_rad_s: FloatArray
    acc_m_s2: FloatArray
    quat_ref_wxyz: FloatArray
    movement: NDArray[np.bool_]


def list_trials(broad_dir: Path = BROAD_DIR) -> list[tuple[str, tuple[str, ...]]]:
    """Trials listed in ``trials.json`` whose ``.mat`` file is present, in order."""
    meta = json.loads((broad_dir / "trials.json").read_text())
    out: list[tuple[str, tuple[str, ...]]] = []
    for name, info in meta["trials"].items():
        if (broad_dir / f"{name}.mat").is_file():
            out.append((name, tuple(info["groups"])))
    return out


def load_trial(name: str, groups: Sequence[str], broad_dir: Path = BROAD_DIR) -> Trial:
    """Read one trial in place (``scipy.io.loadmat``)."""
    from scipy.io import loadmat

    data = loadmat(str(broad_dir / f"{name}.mat"))
    return Trial(
        name=name,
        groups=tuple(groups),
        rate_hz=float(np.asarray(data["sampling_rate"]).ravel()[0]),
        gyr_rad_s=np.ascontiguousarray(data["imu_gyr"], dtype=np.float64),
        acc_m_s2=np.ascontiguousarray(data["imu_acc"], dtype=np.float64),
        quat_ref_wxyz=np.asarray(data["opt_quat"], dtype=np.float64),
        movement=np.asarray(data["movement"]).ravel().astype(bool),
    )


def truncate_trial(trial: Trial, movement_s: float) -> Trial:
    """The trial up to ``movement_s`` seconds after the movement phase starts (quick checks)."""
    start = int(np.argmax(trial.movement))
    end = min(trial.movement.shape[0], start + int(movement_s * trial.rate_hz))
    return Trial(
        name=trial.name,
        groups=trial.groups,
        rate_hz=trial.rate_hz,
        gyr_rad_s=np.ascontiguousarray(trial.gyr_rad_s[:end]),
        acc_m_s2=np.ascontiguousarray(trial.acc_m_s2[:end]),
        quat_ref_wxyz=trial.quat_ref_wxyz[:end],
        movement=trial.movement[:end],
    )


# ------------------------------------------------------------------------------------------
# Filters
# ------------------------------------------------------------------------------------------

FilterFn = Callable[[Trial], FloatArray]


def run_coxa(trial: Trial, **tunables: float) -> FloatArray:
    """Our ``Ahrs6D`` on CPython, sample by sample."""
    ahrs_module: Any = importlib.import_module("coxa_fw.ahrs")
    ahrs = ahrs_module.Ahrs6D(trial.rate_hz, **tunables)
    n = trial.gyr_rad_s.shape[0]
    out = np.empty((n, 4))
    q = ahrs.q
    update = ahrs.update
    gyr: list[list[float]] = trial.gyr_rad_s.tolist()
    acc: list[list[float]] = trial.acc_m_s2.tolist()
    for i in range(n):
        g = gyr[i]
        a = acc[i]
        update(g[0], g[1], g[2], a[0], a[1], a[2])
        out[i] = q
    return out


def run_vqf(trial: Trial) -> FloatArray:
    """``vqf.VQF`` 6D, default parameters, batch."""
    from vqf import VQF

    vqf = VQF(1.0 / trial.rate_hz)
    result = vqf.updateBatch(trial.gyr_rad_s, trial.acc_m_s2)
    return np.asarray(result["quat6D"], dtype=np.float64)


def run_madgwick(trial: Trial) -> FloatArray:
    """``ahrs`` Madgwick 6D at its default gain."""
    from ahrs.filters import Madgwick

    filt = Madgwick(gyr=trial.gyr_rad_s, acc=trial.acc_m_s2, frequency=trial.rate_hz)
    return np.asarray(filt.Q, dtype=np.float64)


def run_mahony(trial: Trial, k_i: float | None = None) -> FloatArray:
    """``ahrs`` Mahony 6D at its default gains (or with ``k_I`` overridden)."""
    from ahrs.filters import Mahony

    if k_i is None:
        filt = Mahony(gyr=trial.gyr_rad_s, acc=trial.acc_m_s2, frequency=trial.rate_hz)
    else:
        filt = Mahony(gyr=trial.gyr_rad_s, acc=trial.acc_m_s2, frequency=trial.rate_hz, k_I=k_i)
    return np.asarray(filt.Q, dtype=np.float64)


FILTERS: dict[str, FilterFn] = {
    "coxa": run_coxa,
    "vqf": run_vqf,
    "madgwick": run_madgwick,
    "mahony": run_mahony,
    "mahony_ki0": lambda trial: run_mahony(trial, k_i=1e-9),
}

#: Labels for the table (the Mahony variant is ours, tuned only by switching its integral off).
LABELS: dict[str, str] = {
    "coxa": "coxa Ahrs6D (ours)",
    "vqf": "vqf VQF 6D",
    "madgwick": "ahrs Madgwick (default gain)",
    "mahony": "ahrs Mahony (default k_P=1, k_I=0.3)",
    "mahony_ki0": "ahrs Mahony, tuned: k_I=1e-9 (integral off)",
}
GROUPS = ("undisturbed", "disturbed", "all_trials")


# ------------------------------------------------------------------------------------------
# Accuracy run
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One filter on one trial."""

    trial: str
    groups: tuple[str, ...]
    filter: str
    score: Score
    seconds: float
    samples: int


def run_accuracy(
    trials: Sequence[tuple[str, tuple[str, ...]]],
    filters: Sequence[str],
    broad_dir: Path = BROAD_DIR,
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Filter and score every trial with every filter."""
    results: list[Result] = []
    for name, groups in trials:
        trial = load_trial(name, groups, broad_dir)
        for label in filters:
            started = time.perf_counter()
            quat = FILTERS[label](trial)
            seconds = time.perf_counter() - started
            s = score(quat, trial.quat_ref_wxyz, trial.movement)
            results.append(Result(name, groups, label, s, seconds, quat.shape[0]))
            if progress is not None:
                progress(
                    f"{name:<40} {label:<11} incl {s.inclination_deg:6.3f}  "
                    f"head {s.heading_deg:6.3f} deg  ({seconds:5.1f} s)"
                )
    return results


def group_means(results: Sequence[Result], group: str, label: str) -> tuple[float, float, int]:
    """Mean inclination and heading error of one filter over the trials of one group."""
    rows = [r.score for r in results if r.filter == label and group in r.groups]
    if not rows:
        return math.nan, math.nan, 0
    return (
        statistics.fmean(s.inclination_deg for s in rows),
        statistics.fmean(s.heading_deg for s in rows),
        len(rows),
    )


def accuracy_table(results: Sequence[Result], filters: Sequence[str]) -> str:
    """Markdown: per group, mean inclination / heading error (deg) and ratio to VQF."""
    lines = [
        "| filter | group | trials | inclination RMSE (deg) | heading drift RMS (deg) "
        "| ratio to VQF (incl / head) | CPython us/sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for group in GROUPS:
        vqf_incl, vqf_head, _ = group_means(results, group, "vqf")
        for label in filters:
            incl, head, n = group_means(results, group, label)
            if n == 0:
                continue
            ratio = (
                f"{incl / vqf_incl:.2f} / {head / vqf_head:.2f}"
                if vqf_incl == vqf_incl and label != "vqf"
                else "-"
            )
            rows = [r for r in results if r.filter == label and group in r.groups]
            us = 1e6 * sum(r.seconds for r in rows) / sum(r.samples for r in rows)
            lines.append(
                f"| {LABELS[label]} | {group} | {n} | {incl:.3f} | {head:.3f} | {ratio} "
                f"| {us:.1f} |"
            )
    return "\n".join(lines)


def per_trial_table(results: Sequence[Result], filters: Sequence[str]) -> str:
    """Markdown: inclination / heading error per trial and filter."""
    head = "| trial | " + " | ".join(filters) + " |"
    lines = [head, "|---|" + "---|" * len(filters)]
    for name in dict.fromkeys(r.trial for r in results):
        cells = []
        for label in filters:
            match = [r.score for r in results if r.trial == name and r.filter == label]
            cells.append(
                f"{match[0].inclination_deg:.2f} / {match[0].heading_deg:.2f}" if match else "-"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# MicroPython cost
# ------------------------------------------------------------------------------------------

MP_RUN = ROOT / "tests" / "firmware" / "ahrs_mp_run.py"
BUDGET_US_200HZ = 5000.0
#: Assumed slowdown of the ESP32-S3 (Xtensa LX7, 240 MHz, in-order) against the unix port on
#: this machine's x86 core for the same MicroPython code: [assumption], not measured on a
#: board. Clock ratio about 10x (2.3 GHz here), lower instructions per clock on the LX7,
#: code and data behind the flash/PSRAM caches: 15x to 40x, 25x as the central guess.
ESP32S3_FACTOR = (15.0, 25.0, 40.0)


def _micropython(args: Sequence[str], emit: str, heapsize: str | None = None) -> str:
    exe = Path(sys.executable).parent / "micropython"
    flags: list[str] = []
    if heapsize:
        flags += ["-X", f"heapsize={heapsize}"]
    if emit == "native":
        flags += ["-X", "emit=native"]
    env = dict(os.environ)
    env["MICROPYPATH"] = f".frozen:{FIRMWARE_DIR}"
    proc = subprocess.run(
        [str(exe), *flags, *args], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"MicroPython failed ({emit}):\n{proc.stderr}\n{proc.stdout}")
    return proc.stdout


def micropython_inputs(path: Path, seconds: float = 20.0, seed: int = 7) -> int:
    """A simulated squat set (realistic LSM6DSOX-like IMU, 200 Hz) as float64 records."""
    from coxa.sim import ImuParams, Motion, MotionParams, default_mount, synthesize_imu

    motion = Motion(MotionParams(exercise="squat", reps=3, seed=seed))
    rec = synthesize_imu(motion, default_mount("femur_r"), ImuParams(), seed=seed)
    n = min(rec.t_s.shape[0], int(seconds * 200.0))
    data = np.hstack([rec.gyr_rad_s[:n], rec.acc_m_s2[:n]])
    np.ascontiguousarray(data, dtype="<f8").tofile(path)
    return n


def run_micropython_cost(repeats: int = 7) -> str:
    """Markdown table of us/update and heap B/update on the unix port, bytecode and native."""
    lines = [
        "| MicroPython unix port | us/update (median, min-max of "
        f"{repeats} runs) | heap B/update | budget left at 200 Hz (5000 us) "
        "| ESP32-S3 estimate [assumption] |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.bin"
        n = micropython_inputs(inputs)
        for emit in ("bytecode", "native"):
            out = _micropython([str(MP_RUN), "time", "200", str(inputs), str(repeats)], emit)
            times = [float(v) for v in out.split()[1:]]
            heap = _micropython(
                [str(MP_RUN), "heap", "200", str(inputs), "10"], emit, heapsize="256k"
            ).split()
            heap_bytes = int(heap[heap.index("heap_bytes") + 1])
            updates = int(heap[heap.index("updates") + 1])
            med = statistics.median(times)
            lo, mid, hi = (med * f for f in ESP32S3_FACTOR)
            lines.append(
                f"| {emit} | {med:.1f} ({min(times):.1f}-{max(times):.1f}) "
                f"| {heap_bytes / updates:.2f} ({heap_bytes} B / {updates}) "
                f"| {BUDGET_US_200HZ - med:.0f} us ({100 * med / BUDGET_US_200HZ:.2f} % used) "
                f"| {mid / 1000:.2f} ms ({lo / 1000:.2f}-{hi / 1000:.2f}), "
                f"{100 * mid / BUDGET_US_200HZ:.0f} % of the budget |"
            )
    lines.append("")
    lines.append(
        f"{n} samples of a simulated squat set (rest, motion); `-X emit=native` compiles every "
        "function with the native emitter; heap under `-X heapsize=256k` with `gc.disable()` "
        "around the updates. Unix-port microseconds on this PC are not ESP32 microseconds: the "
        f"ESP32-S3 column multiplies by {ESP32S3_FACTOR[1]:g}x "
        f"({ESP32S3_FACTOR[0]:g}-{ESP32S3_FACTOR[2]:g}x), an assumption, not a measurement."
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=None, help="only the first N trials")
    parser.add_argument("--broad-dir", type=Path, default=BROAD_DIR)
    parser.add_argument(
        "--filters",
        default=",".join(FILTERS),
        help=f"comma-separated subset of {','.join(FILTERS)}",
    )
    parser.add_argument("--micropython", action="store_true", help="MicroPython cost instead")
    parser.add_argument("--repeats", type=int, default=7, help="MicroPython timing runs")
    args = parser.parse_args(argv)

    if args.micropython:
        print(run_micropython_cost(args.repeats))
        return 0

    if not (args.broad_dir / "trials.json").is_file():
        print(f"BROAD data not found at {args.broad_dir}", file=sys.stderr)
        return 2
    filters = [f for f in args.filters.split(",") if f]
    unknown = [f for f in filters if f not in FILTERS]
    if unknown:
        parser.error(f"unknown filters {unknown}")
    trials = list_trials(args.broad_dir)
    if args.trials is not None:
        trials = trials[: args.trials]
    results = run_accuracy(
        trials, filters, args.broad_dir, lambda line: print(line, file=sys.stderr, flush=True)
    )
    print(f"BROAD, {len(trials)} trial(s) found in {args.broad_dir}\n")
    print(accuracy_table(results, filters))
    print()
    print("Per trial, inclination / heading (deg):\n")
    print(per_trial_table(results, filters))
    print()
    print(
        "Anchors from design.md (30 trials): VQF 0.72 / 2.21, ahrs Madgwick 2.12 / 6.33 "
        "(inclination RMSE / heading drift RMS, deg)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
