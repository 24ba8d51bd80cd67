"""Fusion benchmark (issue #4, "Speed"): ``make bench``, one run, one session, one table.

Every measurement runs on the same simulated session and the results are printed as one markdown
table with ratios against the goals of issue #4 and against the reference tools:

1. **Offline core**: the whole fusion core (clock alignment, resampling, calibration applied,
   heading correction, joint angles; ``FusionParams.offline()``) fed the session as per-board
   :class:`coxa.fusion.SampleBlock` objects of 10 s of receive time each, board-samples per
   second of wall time and per second of CPU time (``time.process_time``: on a shared machine
   the wall time also holds the waits for a core), medians of ``--repeats`` runs; the first
   run (numba compilation, or loading numba's cache) is reported separately.
2. **Reference**: the same steps done with qmt's knee-hinge heading correction plus SciPy
   rotations (``reference_pipeline`` of ``tools/bench_fusion_reference.py``) on the same board
   orientations and gyroscope samples (index-aligned, equidistant times as qmt requires). qmt
   is slow, so a prefix of the session is timed within ``--reference-budget-s`` and the rate
   is per board-sample (said so in the table). The reference does no clock alignment or
   resampling; the core does. The timed runs of 1 and 2 alternate (core, reference, core,
   ...), so their ratio compares runs made in the same machine state.
3. **OpenSense**: OpenSim's IMU inverse kinematics on the OpenSense example
   (``tools/bench_opensense.py``, frames per second of the IK tool, which includes its model
   and data loading and writing) against the core on the same ``.sto`` (orientation-only
   blocks from :func:`coxa.fusion.blocks_from_orientations`, offline parameters with the
   calibration at the first row, as OpenSense's IMU placer). Skipped, with the reason, when
   ``opensim`` or the data (``../shared/data/opensense_example``) is missing.
4. **Live latency**: the session fed as 20 ms blocks of host receive time (what a 5-board rig
   delivers in 20 ms: on average 4 samples per board, in BLE notifications of about 15 samples
   at their simulated receive times) to a core with the live parameters (``FusionParams()``),
   wall and CPU time of each ``update`` call (``time.perf_counter_ns``, and the calling
   thread's ``time.thread_time_ns``), p50/p99/max after the warm-up
   (until the core has calibrated and returned rows, then 5 simulated seconds more). Process
   RSS is read every simulated minute of the same run.
5. **Memory**: a second live run under ``tracemalloc`` (which slows Python allocations several
   times, so its latencies are not reported): current and peak traced memory every simulated
   minute; growth from minute 5 to the end, for tracemalloc and for the RSS of run 4.

The session (default: 1 hour, five boards at 200 Hz, 8-squat sets with 20 s standing rests,
straps 23-32 deg off nominal, default IMU errors and clock drift, a lossless radio with its
delay jitter) runs once through the full simulator (``coxa.sim.simulate_rig``: firmware AHRS,
protocol v1 frames, BLE packets; about 4 minutes for an hour here) and is decoded by the host's
link decoders. It is NOT tiled: the decoded per-board arrays are cached in
``build/bench/session-<key>.npz`` (git-ignored), the key being a digest of the session's
parameters and of the simulator, firmware and decoder sources, so a changed simulator
simulates again.

Options: ``--quick`` (10-minute session, 1 repeat; a smoke run), ``--repeats N``,
``--live-minutes M`` (shorten both live runs), ``--json PATH``, ``--skip-opensense``,
``--profile`` (cProfile of the offline run and of the 20 ms-block loop instead of the table).
Numbers depend on the machine and its load (the 1-minute load average after each measurement
is printed with the table); nothing here is a test.

Usage::

    make bench
    .venv/bin/python tools/bench.py --quick --json build/bench/quick.json
    .venv/bin/python tools/bench.py --quick --profile
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import bench_fusion_reference as reference
import bench_opensense as opensense
from coxa.body import SEGMENTS, SegmentName
from coxa.fusion import (
    FrameUnpacker,
    FusionCore,
    FusionParams,
    SampleBlock,
    blocks_from_orientations,
)
from coxa.io import read_opensense_sto
from coxa.sim import Motion, MotionParams, RigParams, simulate_rig
from coxa.sources import LinkDecoder, ReceivedFrame

FloatArray = NDArray[np.float64]
Int64Array = NDArray[np.int64]

_LOG = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = ROOT / "build" / "bench"
#: Sources whose output the cached session depends on (digested into the cache key).
SESSION_SOURCES = (
    "host/coxa/sim",
    "host/coxa/wire.py",
    "host/coxa/sources",
    "host/coxa/fusion/_unpack.py",
    "host/coxa/fusion/_samples.py",
    "firmware/coxa_fw",
)
#: Bumped when the cache file layout changes.
CACHE_FORMAT = "coxa-bench-session-v1"
_BLOCK_FIELDS = ("seq", "t_device_us", "t_rx_us", "quat_wxyz", "gyr_rad_s", "flags")

#: Offline throughput goal, board-samples per second on one core [src: issue #4, Speed].
OFFLINE_GOAL_RATE = 5e6
#: Goal of the offline core's speed over qmt's heading correction plus SciPy [src: issue #4].
REFERENCE_RATIO_GOAL = 100.0
#: Live goal: p99 of one 20 ms block of a 5-board rig, ms [src: issue #4].
LIVE_P99_GOAL_MS = 2.0
#: Largest tracemalloc growth from minute 5 to the end still called "no growth", bytes
#: [assumption: the core's buffers hold about 1.25 s per board, 5 x 250 samples x ~100 B =
#: ~125 kB; churn of a few such buffers is not a leak, a leak of one row per block is
#: 180 000 rows an hour].
TRACEMALLOC_GROWTH_LIMIT_B = 1 << 20
#: Largest RSS growth from minute 5 to the end still called bounded, bytes [assumption: the
#: allocator and numpy keep freed memory mapped; a few MiB of drift is not a leak].
RSS_GROWTH_LIMIT_B = 16 << 20


# ------------------------------------------------------------------------------------------
# The session
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionParams:
    """The simulated session every measurement runs on.

    Attributes
    ----------
    duration_s : float
        Length, seconds. Default 3600 [src: issue #4, Speed: a 1-hour session]. As many whole
        sets as fit; the remainder is spent standing after the last set.
    reps_per_set : int
        Squats per set. Default 8 [assumption: a gym set].
    set_rest_s : float
        Standing rest in the neutral pose between sets, seconds. Default 20 [assumption: the
        simulator's default].
    seed : int
        Seed of the per-rep spreads and of the rig (board ids, clocks, IMU errors, radio).
        Default 1 [assumption].
    """

    duration_s: float = 3600.0
    reps_per_set: int = 8
    set_rest_s: float = 20.0
    seed: int = 1

    def __post_init__(self) -> None:
        self.motion()  # refuses a session shorter than one set

    def motion(self) -> MotionParams:
        """The motion: squat sets filling :attr:`duration_s` (depth SD 8 deg, hip IR SD 3 deg,
        4 deg of pelvis yaw per rep [assumption: the mix of ``tools/bench_fusion_reference.py``]).

        Raises
        ------
        ValueError
            :attr:`duration_s` is shorter than one set with its initial rest.
        """
        base = MotionParams(
            exercise="squat",
            reps=self.reps_per_set,
            set_rest_s=self.set_rest_s,
            depth_spread_deg=8.0,
            hip_ir_spread_deg=3.0,
            pelvis_yaw_excursion_deg=4.0,
            rest_after_s=0.0,
            seed=self.seed,
        )
        one_s = Motion(base).duration_s
        if self.duration_s < one_s:
            raise ValueError(
                f"a session of {self.duration_s} s is shorter than one set ({one_s} s)"
            )
        per_set_s = Motion(dataclasses.replace(base, sets=2)).duration_s - one_s
        sets = 1 + math.floor((self.duration_s - one_s) / per_set_s + 1e-9)
        rest_after_s = self.duration_s - Motion(dataclasses.replace(base, sets=sets)).duration_s
        return dataclasses.replace(base, sets=sets, rest_after_s=max(0.0, rest_after_s))

    def rig(self) -> RigParams:
        """The rig: all five boards, realistic straps, default IMU errors, lossless radio."""
        return RigParams(motion=self.motion(), mounting="realistic", seed=self.seed)


@dataclass(frozen=True, eq=False)
class BenchSession:
    """A decoded session: what the host's link decoders made of the simulated packets.

    Attributes
    ----------
    params : SessionParams
    segments_by_board : dict of int to str
        Segment of each board.
    blocks : tuple of SampleBlock
        One block per board with the whole session, in receive order (``t_rx_us``
        non-decreasing).
    quat_segment_sensor_wxyz : dict of str to ndarray, shape (4,)
        True strap of each segment's board (sensor frame in the segment frame), for the
        reference pipeline, which does not calibrate.
    rate_hz : float
        Nominal sample rate of every board, Hz.
    origin : str
        Where it came from (simulated, or the cache file).
    """

    params: SessionParams
    segments_by_board: dict[int, SegmentName]
    blocks: tuple[SampleBlock, ...]
    quat_segment_sensor_wxyz: dict[SegmentName, FloatArray]
    rate_hz: float
    origin: str

    @property
    def board_samples(self) -> int:
        """Samples of all boards together."""
        return sum(block.n_samples for block in self.blocks)

    def __post_init__(self) -> None:
        for block in self.blocks:
            if block.n_samples < 2 or np.any(np.diff(block.t_rx_us) < 0):
                raise ValueError(
                    f"board {block.board_id}: needs at least 2 samples in receive order"
                )
            if block.board_id not in self.segments_by_board:
                raise ValueError(f"board {block.board_id} has no segment")


def session_key(params: SessionParams, root: Path = ROOT) -> str:
    """Cache key of a session: ``<parameters>-<sources>``, digests of its rig parameters (and
    the cache format) and of :data:`SESSION_SOURCES` under ``root``."""
    of_params = hashlib.sha256(f"{CACHE_FORMAT}\n{params.rig()!r}".encode())
    of_sources = hashlib.sha256()
    for entry in SESSION_SOURCES:
        path = root / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            of_sources.update(file.relative_to(root).as_posix().encode())
            of_sources.update(file.read_bytes())
    return f"{of_params.hexdigest()[:12]}-{of_sources.hexdigest()[:12]}"


def simulate_session(params: SessionParams) -> BenchSession:
    """Run the session through the simulator and decode its packets as the host would."""
    t0 = time.perf_counter()
    rig = params.rig()
    _LOG.info(
        "simulating %.0f s, %d sets, five boards (the firmware AHRS takes a while)",
        params.duration_s,
        rig.motion.sets,
    )
    rec = simulate_rig(rig)
    links = {board_id: LinkDecoder(board_id) for board_id in rec.boards}
    frames: list[ReceivedFrame] = []
    for packet in rec.packets:
        frame = links[packet.board_id].push(packet.t_rx_us, packet.packet)
        if frame is not None:
            frames.append(frame)
    blocks = FrameUnpacker().unpack(frames)
    mounts: dict[SegmentName, FloatArray] = {
        rec.segments_by_board[b]: np.asarray(
            rec.imu[b].mount.quat_segment_sensor_wxyz, dtype=np.float64
        )
        for b in rec.boards
    }
    elapsed = time.perf_counter() - t0
    _LOG.info("simulated and decoded in %.1f s (%d packets lost)", elapsed, rec.lost_packets)
    return BenchSession(
        params=params,
        segments_by_board=dict(rec.segments_by_board),
        blocks=tuple(blocks),
        quat_segment_sensor_wxyz=mounts,
        rate_hz=rig.imu.rate_hz,
        origin=f"simulated in {elapsed:.0f} s",
    )


def save_session(session: BenchSession, path: Path) -> None:
    """Write a session's arrays to an ``.npz`` file (atomically: a temporary file renamed)."""
    arrays: dict[str, Any] = {
        "format": np.array(CACHE_FORMAT),
        "rate_hz": np.array(session.rate_hz),
        "board_ids": np.array([block.board_id for block in session.blocks], dtype=np.int64),
        "segments": np.array([session.segments_by_board[b.board_id] for b in session.blocks]),
    }
    for i, block in enumerate(session.blocks):
        if block.gyr_rad_s is None:
            raise ValueError(f"board {block.board_id}: the session has no gyroscope samples")
        for name in _BLOCK_FIELDS:
            arrays[f"b{i}_{name}"] = getattr(block, name)
    for segment, quat in session.quat_segment_sensor_wxyz.items():
        arrays[f"mount_{segment}"] = quat
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, **arrays)
    os.replace(tmp.name, path)


def load_session(path: Path, params: SessionParams) -> BenchSession:
    """Read a session written by :func:`save_session`.

    Raises
    ------
    ValueError
        The file is not a readable session of this format (the message names the file).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != CACHE_FORMAT:
                raise ValueError(f"format {data['format']!s}, expected {CACHE_FORMAT}")
            segments_by_board: dict[int, SegmentName] = {}
            blocks: list[SampleBlock] = []
            for i, (board_id, name) in enumerate(
                zip(data["board_ids"].tolist(), data["segments"].tolist(), strict=True)
            ):
                segments_by_board[int(board_id)] = _segment(str(name))
                fields = {key: data[f"b{i}_{key}"] for key in _BLOCK_FIELDS}
                blocks.append(SampleBlock(board_id=int(board_id), acc_m_s2=None, **fields))
            mounts: dict[SegmentName, FloatArray] = {
                _segment(key.removeprefix("mount_")): np.asarray(data[key], dtype=np.float64)
                for key in data.files
                if key.startswith("mount_")
            }
            rate_hz = float(data["rate_hz"])
        return BenchSession(params, segments_by_board, tuple(blocks), mounts, rate_hz, str(path))
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path}: not a benchmark session ({error})") from error


def _segment(name: str) -> SegmentName:
    for segment in SEGMENTS:
        if segment == name:
            return segment
    raise ValueError(f"unknown segment {name!r}")


def build_session(params: SessionParams, cache_dir: Path | None) -> BenchSession:
    """The session, from ``cache_dir`` when it holds it, else simulated (and cached there).

    A cache file that cannot be read is reported (logged) and replaced; files of the same
    parameters made by other simulator sources (stale) are deleted when a new one is written.
    ``cache_dir`` None: always simulate, write nothing.
    """
    if cache_dir is None:
        return simulate_session(params)
    key = session_key(params)
    path = cache_dir / f"session-{key}.npz"
    if path.is_file():
        try:
            session = load_session(path, params)
        except ValueError as error:
            _LOG.warning("%s; simulating again", error)
        else:
            _LOG.info("session loaded from %s", path)
            return session
    session = simulate_session(params)
    save_session(session, path)
    _LOG.info("session cached in %s", path)
    for stale in cache_dir.glob(f"session-{key.split('-')[0]}-*.npz"):
        if stale != path:
            stale.unlink()
            _LOG.info("stale session %s deleted", stale)
    return session


def window_grid(session: BenchSession, window_us: int, span_s: float | None) -> tuple[int, int]:
    """Start (host receive time, us) and number of the windows of :func:`rx_windows`."""
    if window_us <= 0:
        raise ValueError(f"window_us must be positive, got {window_us}")
    start = min(int(block.t_rx_us[0]) for block in session.blocks) // window_us * window_us
    end = max(int(block.t_rx_us[-1]) for block in session.blocks) + 1
    if span_s is not None:
        end = min(end, start + round(span_s * 1e6))
    return start, max(0, -(-(end - start) // window_us))


def rx_windows(
    session: BenchSession, window_us: int, span_s: float | None = None
) -> Iterator[list[SampleBlock]]:
    """What the host has received in each window of host receive time, one block per board.

    Windows are ``[start + k window_us, start + (k + 1) window_us)`` with ``start`` the first
    receive time rounded down to a multiple of ``window_us`` (a host tick); a window in which
    nothing arrived gives an empty list. The window bounds are found at once; the blocks are
    made lazily (an hour of 20 ms windows is 180 000).

    Parameters
    ----------
    session : BenchSession
    window_us : int
        Window length, microseconds (> 0).
    span_s : float, optional
        Only the first ``span_s`` seconds of windows; default all (to the last sample).

    Returns
    -------
    iterator of list of SampleBlock
        Views into the session's arrays, boards in session order, empty boards left out.
    """
    start, count = window_grid(session, window_us, span_s)
    edges = start + window_us * np.arange(count + 1, dtype=np.int64)
    bounds = np.stack([np.searchsorted(block.t_rx_us, edges) for block in session.blocks])
    return _windows(session.blocks, bounds)


def _windows(blocks: Sequence[SampleBlock], bounds: Int64Array) -> Iterator[list[SampleBlock]]:
    """Rows ``bounds[:, k]:bounds[:, k + 1]`` of every block, for each ``k``."""
    for k in range(bounds.shape[1] - 1):
        lo: list[int] = bounds[:, k].tolist()
        hi: list[int] = bounds[:, k + 1].tolist()
        yield [
            block.select(slice(a, b)) for block, a, b in zip(blocks, lo, hi, strict=True) if b > a
        ]


# ------------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchParams:
    """What to measure and how long.

    Attributes
    ----------
    repeats : int
        Timed runs of the offline core, the reference and OpenSense; the median counts.
        Default 3 [assumption].
    offline_block_s : float
        Receive-time span of each offline input batch, s. Default 10 [assumption: large
        blocks, as a file reader would hand them over].
    live_block_ms : float
        Receive-time span of each live update, ms. Default 20 [src: issue #4].
    live_s : float or None
        Simulated seconds of the latency run; None: the whole session.
    memory_s : float or None
        Simulated seconds of the tracemalloc run; None: as ``live_s``.
    warmup_s : float
        Simulated seconds after the first rows of the calibrated live core that are not
        counted in the latency figures. Default 5 [assumption].
    sample_every_s : float
        Memory sampling interval, simulated seconds. Default 60 [src: issue #4: every
        simulated minute].
    growth_from_s : float
        Memory growth is measured from the first sample at or after this time to the last,
        simulated seconds. Default 300 [assumption: minute 5, after calibration and the
        buffers' fill].
    reference_budget_s : float
        Wall time allowed to the timed repeats of the reference pipeline, s. Default 120
        [assumption: as ``tools/bench_fusion_reference.py``].
    reference_probe_s : float
        Session seconds of the reference's untimed sizing run (it is also the shortest timed
        prefix). Default 120 [derived: well past qmt's 8 s start-up].
    opensense_ik : bool
        Run OpenSense's IK (about 20 s a run); False: only the core on the ``.sto``.
    opensense_dir : Path
        The OpenSense example, read in place.
    """

    repeats: int = 3
    offline_block_s: float = 10.0
    live_block_ms: float = 20.0
    live_s: float | None = None
    memory_s: float | None = None
    warmup_s: float = 5.0
    sample_every_s: float = 60.0
    growth_from_s: float = 300.0
    reference_budget_s: float = 120.0
    reference_probe_s: float = 120.0
    opensense_ik: bool = True
    opensense_dir: Path = opensense.DATA_DIR

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        positive = {
            "offline_block_s": self.offline_block_s,
            "live_block_ms": self.live_block_ms,
            "sample_every_s": self.sample_every_s,
            "reference_budget_s": self.reference_budget_s,
            "reference_probe_s": self.reference_probe_s,
        }
        if self.live_s is not None:
            positive["live_s"] = self.live_s
        if self.memory_s is not None:
            positive["memory_s"] = self.memory_s
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")


@dataclass(frozen=True)
class Skipped:
    """A measurement that could not run, and why."""

    reason: str


@dataclass(frozen=True)
class OfflineResult:
    """Offline core runs over the whole session.

    Attributes
    ----------
    board_samples : int
        Samples fed, all boards.
    rows : int
        Output rows of a run.
    first_s, first_cpu_s : float
        Wall and CPU time of the first run (numba compilation or cache load included), s.
    seconds, cpu_seconds : tuple of float
        Wall and CPU time of each timed run, s.
    """

    board_samples: int
    rows: int
    first_s: float
    first_cpu_s: float
    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]

    @property
    def rate(self) -> float:
        """Board-samples per second, median wall time."""
        return self.board_samples / statistics.median(self.seconds)

    @property
    def cpu_rate(self) -> float:
        """Board-samples per CPU second, median CPU time."""
        return self.board_samples / statistics.median(self.cpu_seconds)

    @property
    def first_rate(self) -> float:
        """Board-samples per second of the first run."""
        return self.board_samples / self.first_s


@dataclass(frozen=True)
class ReferenceResult:
    """qmt heading correction plus SciPy on (a prefix of) the session.

    Attributes
    ----------
    requested_board_samples, measured_board_samples : int
        Board-samples of the session (index-aligned) and of the timed prefix.
    seconds, cpu_seconds : tuple of float
        Wall and CPU time of each timed run, s.
    startup_share_prefix, startup_share_session : float
        Share of qmt's window fits spent in its start-up on the prefix and on the whole
        session: a short prefix understates the reference by about their difference.
    """

    requested_board_samples: int
    measured_board_samples: int
    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]
    startup_share_prefix: float
    startup_share_session: float

    @property
    def rate(self) -> float:
        """Board-samples per second, median wall time."""
        return self.measured_board_samples / statistics.median(self.seconds)

    @property
    def cpu_rate(self) -> float:
        """Board-samples per CPU second, median CPU time."""
        return self.measured_board_samples / statistics.median(self.cpu_seconds)


@dataclass(frozen=True)
class OpenSenseResult:
    """OpenSense IK and the core on the OpenSense example.

    Attributes
    ----------
    sto_rows : int
        Rows (frames) of the ``.sto`` file, all of which the core processes.
    read_s : float
        Time to read the ``.sto`` with ``coxa.io`` (not in the core's time), s.
    core_seconds : tuple of float
        Wall time of each core run (blocks, ``update``, ``finish``), s.
    core_rows : int
        Output rows of the core.
    ik_frames : int
        Frames of OpenSense's IK (the example's 7.25-15 s range); 0 when skipped.
    ik_seconds : tuple of float
        Wall time of each IK run, s; empty when skipped.
    ik_skipped : str
        Why the IK did not run; empty when it did.
    """

    sto_rows: int
    read_s: float
    core_seconds: tuple[float, ...]
    core_rows: int
    ik_frames: int
    ik_seconds: tuple[float, ...]
    ik_skipped: str

    @property
    def core_rate(self) -> float:
        """Core frames per second (median)."""
        return self.sto_rows / statistics.median(self.core_seconds)

    @property
    def ik_rate(self) -> float:
        """IK frames per second (median); NaN when skipped."""
        return self.ik_frames / statistics.median(self.ik_seconds) if self.ik_seconds else math.nan


@dataclass(frozen=True)
class MemorySample:
    """One memory reading of a live run.

    Attributes
    ----------
    t_s : float
        Simulated seconds since the first window.
    current_b : int
        tracemalloc current bytes (tracemalloc run) or RSS bytes (latency run).
    peak_b : int
        tracemalloc peak since the previous sample; equal to ``current_b`` for RSS.
    """

    t_s: float
    current_b: int
    peak_b: int


@dataclass(frozen=True)
class LiveResult:
    """The latency run.

    Attributes
    ----------
    simulated_s : float
        Simulated seconds fed.
    calls : int
        ``update`` calls (one per 20 ms window, empty windows included).
    warmup_calls : int
        Calls not counted (before the calibrated core's first rows, plus the warm-up).
    latency_ms : tuple of float
        p50, p99, max of the counted calls, ms (wall time).
    cpu_latency_ms : tuple of float
        p50, p99, max of the CPU time of the calling thread (``time.thread_time_ns``) in the
        counted calls, ms: the wall time less the waits for a core that other processes of a
        shared machine held.
    rows_latency_ms : tuple of float
        p50, p99, max of the counted calls that returned rows, ms.
    calibration_max_ms : float
        Slowest call before the warm-up ended (calibration attempts), ms.
    samples_per_board_per_call : float
        Mean samples per board and call.
    rows : int
        Output rows.
    rss : tuple of MemorySample
        Process RSS every ``sample_every_s`` (empty where ``/proc`` is not available).
    """

    simulated_s: float
    calls: int
    warmup_calls: int
    latency_ms: tuple[float, float, float]
    cpu_latency_ms: tuple[float, float, float]
    rows_latency_ms: tuple[float, float, float]
    calibration_max_ms: float
    samples_per_board_per_call: float
    rows: int
    rss: tuple[MemorySample, ...]


@dataclass(frozen=True)
class MemoryResult:
    """The tracemalloc run.

    Attributes
    ----------
    simulated_s : float
        Simulated seconds fed.
    wall_s : float
        Wall time of the run (tracemalloc makes it slow), s.
    samples : tuple of MemorySample
        tracemalloc current and peak every ``sample_every_s`` (after a garbage collection).
    """

    simulated_s: float
    wall_s: float
    samples: tuple[MemorySample, ...]


def _run_offline(
    session: BenchSession, batches: Sequence[Sequence[SampleBlock]]
) -> tuple[float, float, int]:
    """One offline core run: wall s, CPU s, output rows."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    core = FusionCore(session.segments_by_board, FusionParams.offline())
    rows = sum(core.update(batch).n_rows for batch in batches)
    rows += core.finish().n_rows
    return time.perf_counter() - t0, time.process_time() - c0, rows


class _OfflineRuns:
    """Timed offline core runs over the whole session, one per :meth:`run` call."""

    def __init__(self, session: BenchSession, params: BenchParams) -> None:
        self.session = session
        self.batches = list(rx_windows(session, round(params.offline_block_s * 1e6)))
        self.first_s, self.first_cpu_s, self.rows = _run_offline(session, self.batches)
        _LOG.info("offline first run %.1f s (%d rows)", self.first_s, self.rows)
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []

    def run(self) -> None:
        wall, cpu, rows = _run_offline(self.session, self.batches)
        if rows != self.rows:
            raise RuntimeError(f"offline runs disagree: {self.rows} rows, then {rows}")
        self.seconds.append(wall)
        self.cpu_seconds.append(cpu)
        _LOG.info("offline run %.1f s", wall)

    def result(self) -> OfflineResult:
        return OfflineResult(
            self.session.board_samples,
            self.rows,
            self.first_s,
            self.first_cpu_s,
            tuple(self.seconds),
            tuple(self.cpu_seconds),
        )


def bench_offline_and_reference(
    session: BenchSession, params: BenchParams
) -> tuple[OfflineResult, ReferenceResult | Skipped]:
    """The offline core over the whole session (a first run, then ``params.repeats`` timed)
    and the reference (:func:`bench_reference`), their timed runs interleaved (core, reference,
    core, reference, ...) so that the ratio of the two compares runs made in the same machine
    state."""
    offline = _OfflineRuns(session, params)
    ref = bench_reference(session, params, before_each=offline.run)
    if isinstance(ref, Skipped):
        for _ in range(params.repeats):
            offline.run()
    return offline.result(), ref


def aligned_streams(
    session: BenchSession,
) -> tuple[FloatArray, dict[str, FloatArray], dict[str, FloatArray]]:
    """The session as the reference pipeline needs it: equidistant times and index-aligned
    board orientations and gyroscopes (sample ``k`` of every board at ``k / rate_hz``).

    Raises
    ------
    ValueError
        A board lost samples (its sequence numbers jump) or has no gyroscope.
    """
    n = min(block.n_samples for block in session.blocks)
    quat: dict[str, FloatArray] = {}
    gyr: dict[str, FloatArray] = {}
    for block in session.blocks:
        if block.gyr_rad_s is None:
            raise ValueError(f"board {block.board_id}: no gyroscope samples")
        if np.any(np.diff(block.seq[:n]) != 1):
            raise ValueError(f"board {block.board_id}: samples lost; the reference needs all")
        segment = session.segments_by_board[block.board_id]
        quat[segment] = np.ascontiguousarray(block.quat_wxyz[:n])
        gyr[segment] = np.ascontiguousarray(block.gyr_rad_s[:n])
    return np.arange(n, dtype=np.float64) / session.rate_hz, quat, gyr


def bench_reference(
    session: BenchSession,
    params: BenchParams,
    before_each: Callable[[], object] | None = None,
) -> ReferenceResult | Skipped:
    """qmt heading correction plus SciPy (``reference_pipeline``) on a prefix of the session
    within ``params.reference_budget_s``; ``before_each`` runs before each timed repeat,
    outside its timing (see :func:`bench_fusion_reference.time_prefix`)."""
    if importlib.util.find_spec("qmt") is None:
        return Skipped("qmt is not installed (the bench dependency group)")
    t_s, quat, gyr = aligned_streams(session)
    mounts: dict[str, FloatArray] = {
        segment: quat for segment, quat in session.quat_segment_sensor_wxyz.items()
    }
    rate_hz = session.rate_hz

    def run(k: int) -> object:
        return reference.reference_pipeline(
            t_s[:k],
            {s: q[:k] for s, q in quat.items()},
            {s: g[:k] for s, g in gyr.items()},
            rate_hz,
            quat_segment_sensor_wxyz_by_segment=mounts,
        )

    n = t_s.size
    probe = min(n, round(params.reference_probe_s * rate_hz))
    m = reference.time_prefix(
        "reference",
        run,
        n,
        len(session.blocks),
        repeats=params.repeats,
        budget_s=params.reference_budget_s,
        probe_samples=probe,
        before_each=before_each,
    )
    _LOG.info("reference %s s on %d board-samples", m.seconds, m.measured_board_samples)
    boards = len(session.blocks)
    return ReferenceResult(
        requested_board_samples=m.requested_board_samples,
        measured_board_samples=m.measured_board_samples,
        seconds=m.seconds,
        cpu_seconds=m.cpu_seconds,
        startup_share_prefix=reference.qmt_startup_share(
            m.measured_board_samples / boards / rate_hz
        ),
        startup_share_session=reference.qmt_startup_share(n / rate_hz),
    )


IkRunner = Callable[[Path, Path], tuple[int, float]]


def _ik_runner() -> IkRunner | str:
    """OpenSense's IK runner with OpenSim's messages off, or why it cannot run."""
    if importlib.util.find_spec("opensim") is None:
        return "opensim is not installed (the bench dependency group)"
    import opensim as osim  # type: ignore[import-untyped]  # 72 MB: only when used

    osim.Logger.setLevelString("error")
    return opensense.run_opensense_ik


def bench_opensense(
    data_dir: Path, repeats: int, run_ik: IkRunner | str
) -> OpenSenseResult | Skipped:
    """OpenSense IK (``run_ik``; a string says why it is skipped) against the core on the
    example's ``.sto``, ``repeats`` runs each."""
    sto = data_dir / opensense.ORIENTATIONS_FILE
    if not sto.is_file():
        return Skipped(f"OpenSense example not found ({sto})")
    t0 = time.perf_counter()
    table = read_opensense_sto(sto)
    read_s = time.perf_counter() - t0
    core_seconds: list[float] = []
    core_rows = 0
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        segments, blocks = blocks_from_orientations(table.t_s, table.by_segment())
        offline = FusionParams.offline()
        calibration = dataclasses.replace(
            offline.calibration, calibration_t_us=float(blocks[0].t_device_us[0])
        )
        core = FusionCore(segments, dataclasses.replace(offline, calibration=calibration))
        core_rows = core.update(blocks).n_rows + core.finish().n_rows
        core_seconds.append(time.perf_counter() - t0)
    ik_frames = 0
    ik_seconds: list[float] = []
    if not isinstance(run_ik, str):
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="coxa-bench-opensense-") as tmp:
                ik_frames, ik_s = run_ik(data_dir, Path(tmp))
            ik_seconds.append(ik_s)
            _LOG.info("OpenSense IK %.1f s for %d frames", ik_s, ik_frames)
    return OpenSenseResult(
        sto_rows=int(table.t_s.size),
        read_s=read_s,
        core_seconds=tuple(core_seconds),
        core_rows=core_rows,
        ik_frames=ik_frames,
        ik_seconds=tuple(ik_seconds),
        ik_skipped=run_ik if isinstance(run_ik, str) else "",
    )


def rss_bytes() -> int | None:
    """Resident set size of this process, bytes (Linux ``/proc``); None elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


@dataclass
class _LiveRun:
    """Raw record of a live run (see :func:`live_run`); its arrays are allocated before the
    run so that tracing sees the core's memory, not this record's."""

    latency_ns: Int64Array
    cpu_ns: Int64Array
    produced_rows: NDArray[np.bool_]
    ready_call: int
    samples: int
    rows: int
    window_s: float
    readings: Int64Array  # (n, 3): calls done, current bytes, peak bytes
    n_readings: int

    @property
    def memory(self) -> list[MemorySample]:
        """The memory readings, in order."""
        return [
            MemorySample(float(t_s), int(current), int(peak))
            for t_s, current, peak in zip(
                self.readings[: self.n_readings, 0] * self.window_s,
                self.readings[: self.n_readings, 1],
                self.readings[: self.n_readings, 2],
                strict=True,
            )
        ]


def live_run(
    session: BenchSession,
    params: BenchParams,
    span_s: float | None,
    sample: Callable[[], tuple[int, int] | None],
    *,
    trace: bool = False,
) -> _LiveRun:
    """Feed the session as live windows to a live core, timing each ``update``.

    ``sample()`` is called (untimed) every ``params.sample_every_s`` simulated seconds and at
    the end, and its ``(current, peak)`` bytes recorded; None records nothing. ``trace``:
    ``tracemalloc`` runs from the core's construction to the end (the run's own bookkeeping,
    made before, is not traced).
    """
    window_us = round(params.live_block_ms * 1e3)
    windows = rx_windows(session, window_us, span_s)
    _, calls = window_grid(session, window_us, span_s)
    every = max(1, round(params.sample_every_s * 1e6 / window_us))
    record = _LiveRun(
        latency_ns=np.zeros(calls, dtype=np.int64),
        cpu_ns=np.zeros(calls, dtype=np.int64),
        produced_rows=np.zeros(calls, dtype=np.bool_),
        ready_call=calls,
        samples=0,
        rows=0,
        window_s=window_us * 1e-6,
        readings=np.zeros((calls // every + 1, 3), dtype=np.int64),
        n_readings=0,
    )
    gc.collect()
    if trace:
        tracemalloc.start()
    try:
        _feed_live(session, record, windows, every, window_us, sample)
    finally:
        if trace:
            tracemalloc.stop()
    return record


def _feed_live(
    session: BenchSession,
    record: _LiveRun,
    windows: Iterator[list[SampleBlock]],
    every: int,
    window_us: int,
    sample: Callable[[], tuple[int, int] | None],
) -> None:
    calls = record.latency_ns.size
    core = FusionCore(session.segments_by_board, FusionParams())
    for k, blocks in enumerate(windows):
        t0 = time.perf_counter_ns()
        c0 = time.thread_time_ns()
        table = core.update(blocks)
        record.cpu_ns[k] = time.thread_time_ns() - c0
        record.latency_ns[k] = time.perf_counter_ns() - t0
        record.samples += sum(block.n_samples for block in blocks)
        if table.n_rows:
            record.produced_rows[k] = True
            record.rows += table.n_rows
            if record.ready_call == calls and core.calibration is not None:
                record.ready_call = k
        if (k + 1) % every == 0 or k + 1 == calls:
            reading = sample()
            if reading is not None:
                record.readings[record.n_readings] = (k + 1, reading[0], reading[1])
                record.n_readings += 1
            if (k + 1) % (10 * every) == 0:
                _LOG.info("live: %.0f simulated s", (k + 1) * window_us * 1e-6)


def _percentiles_ms(latency_ns: Int64Array) -> tuple[float, float, float]:
    if latency_ns.size == 0:
        return (math.nan, math.nan, math.nan)
    p50, p99 = np.percentile(latency_ns, [50.0, 99.0]) * 1e-6
    return (float(p50), float(p99), float(latency_ns.max()) * 1e-6)


def bench_live(session: BenchSession, params: BenchParams) -> LiveResult:
    """The latency run (``params.live_s`` simulated seconds), RSS read every sample time."""

    def read_rss() -> tuple[int, int] | None:
        rss = rss_bytes()
        return None if rss is None else (rss, rss)

    run = live_run(session, params, params.live_s, read_rss)
    calls = run.latency_ns.size
    warmup = min(calls, run.ready_call + round(params.warmup_s * 1e3 / params.live_block_ms))
    counted = run.latency_ns[warmup:]
    with_rows = counted[run.produced_rows[warmup:]]
    if calls and run.ready_call == calls:
        _LOG.warning("the live core never returned calibrated rows: no latency after warm-up")
    return LiveResult(
        simulated_s=calls * params.live_block_ms * 1e-3,
        calls=calls,
        warmup_calls=warmup,
        latency_ms=_percentiles_ms(counted),
        cpu_latency_ms=_percentiles_ms(run.cpu_ns[warmup:]),
        rows_latency_ms=_percentiles_ms(with_rows),
        calibration_max_ms=float(run.latency_ns[:warmup].max()) * 1e-6 if warmup else math.nan,
        samples_per_board_per_call=run.samples / max(1, calls) / len(session.blocks),
        rows=run.rows,
        rss=tuple(run.memory),
    )


def bench_memory(session: BenchSession, params: BenchParams) -> MemoryResult:
    """The tracemalloc run (``params.memory_s`` or ``params.live_s`` simulated seconds)."""

    def read_traced() -> tuple[int, int]:
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        return current, peak

    span_s = params.memory_s if params.memory_s is not None else params.live_s
    t0 = time.perf_counter()
    run = live_run(session, params, span_s, read_traced, trace=True)
    return MemoryResult(
        simulated_s=run.latency_ns.size * params.live_block_ms * 1e-3,
        wall_s=time.perf_counter() - t0,
        samples=tuple(run.memory),
    )


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Attributes
    ----------
    item : str
        Which measurement of the module docstring (1-5).
    measurement : str
    value : str
    goal : str
        Goal or anchor it is compared with ('-' if none).
    ratio : str
        Value over goal or anchor, as a factor ('-' if none).
    met : str
        'yes', 'no' or '-' (no goal, or not measured).
    """

    item: str
    measurement: str
    value: str
    goal: str = "-"
    ratio: str = "-"
    met: str = "-"


@dataclass(frozen=True)
class BenchReport:
    """Everything one benchmark run measured.

    Attributes
    ----------
    rows : tuple of Row
    notes : tuple of str
        Lines printed under the table.
    data : dict
        Raw results (JSON-serialisable).
    """

    rows: tuple[Row, ...]
    notes: tuple[str, ...]
    data: dict[str, Any]


def _rate(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.1f}"


def _size(value: float) -> str:
    """Signed byte count in kB below 1 MiB, else MiB."""
    if not math.isfinite(value):
        return "n/a"
    if abs(value) < 1 << 20:
        return f"{value / 1e3:+.1f} kB"
    return f"{value / (1 << 20):+.2f} MiB"


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def growth(samples: Sequence[MemorySample], from_s: float) -> tuple[float, float, float]:
    """``(t_from, t_to, bytes)``: change of ``current_b`` from the first sample at or after
    ``from_s`` to the last sample; NaNs when no sample is that late or only one is."""
    late = [s for s in samples if s.t_s >= from_s - 1e-9]
    if len(late) < 2:
        return (math.nan, math.nan, math.nan)
    return (late[0].t_s, late[-1].t_s, float(late[-1].current_b - late[0].current_b))


def offline_rows(result: OfflineResult) -> list[Row]:
    """Rows of item 1."""
    return [
        Row(
            "1",
            f"offline core, median of {len(result.seconds)} "
            f"({statistics.median(result.seconds):.2f} s)",
            f"{_rate(result.rate)} board-samples/s",
            f"{_rate(OFFLINE_GOAL_RATE)} board-samples/s",
            f"{result.rate / OFFLINE_GOAL_RATE:.3g}x",
            _met(result.rate >= OFFLINE_GOAL_RATE),
        ),
        Row(
            "1",
            f"offline core by CPU time (process_time), median of {len(result.cpu_seconds)} "
            f"({statistics.median(result.cpu_seconds):.2f} s)",
            f"{_rate(result.cpu_rate)} board-samples/s",
            f"{_rate(OFFLINE_GOAL_RATE)} board-samples/s",
            f"{result.cpu_rate / OFFLINE_GOAL_RATE:.3g}x",
            _met(result.cpu_rate >= OFFLINE_GOAL_RATE),
        ),
        Row(
            "1",
            f"offline core, first run incl. numba compile/cache load ({result.first_s:.2f} s)",
            f"{_rate(result.first_rate)} board-samples/s",
        ),
    ]


def reference_rows(result: ReferenceResult | Skipped, offline: OfflineResult) -> list[Row]:
    """Rows of item 2."""
    if isinstance(result, Skipped):
        return [
            Row("2", "qmt heading correction + SciPy", f"skipped: {result.reason}"),
            Row("2", "offline core / qmt + SciPy", "skipped"),
            Row("2", "offline core / qmt + SciPy by CPU time", "skipped"),
        ]
    prefix = result.measured_board_samples < result.requested_board_samples
    where = (
        f"on the first {result.measured_board_samples / result.requested_board_samples:.0%}"
        " of the session, per sample"
        if prefix
        else "whole session"
    )
    ratio = offline.rate / result.rate
    cpu_ratio = offline.cpu_rate / result.cpu_rate
    return [
        Row(
            "2",
            f"qmt heading correction + SciPy, median of {len(result.seconds)} ({where})",
            f"{_rate(result.rate)} board-samples/s",
        ),
        Row(
            "2",
            "offline core / qmt + SciPy",
            f"{ratio:.1f}x",
            f"{REFERENCE_RATIO_GOAL:.0f}x",
            f"{ratio / REFERENCE_RATIO_GOAL:.3g}x",
            _met(ratio >= REFERENCE_RATIO_GOAL),
        ),
        Row(
            "2",
            f"offline core / qmt + SciPy by CPU time (qmt + SciPy {_rate(result.cpu_rate)} "
            "board-samples per CPU s)",
            f"{cpu_ratio:.1f}x",
            f"{REFERENCE_RATIO_GOAL:.0f}x",
            f"{cpu_ratio / REFERENCE_RATIO_GOAL:.3g}x",
            _met(cpu_ratio >= REFERENCE_RATIO_GOAL),
        ),
    ]


def opensense_rows(result: OpenSenseResult | Skipped) -> list[Row]:
    """Rows of item 3."""
    if isinstance(result, Skipped):
        return [
            Row("3", "OpenSense IK (OpenSense example)", f"skipped: {result.reason}"),
            Row("3", "core on the same .sto", f"skipped: {result.reason}"),
        ]
    core = Row(
        "3",
        f"core on the same .sto ({result.sto_rows} frames, median of {len(result.core_seconds)})",
        f"{_rate(result.core_rate)} frames/s",
    )
    if not result.ik_seconds:
        return [Row("3", "OpenSense IK (OpenSense example)", f"skipped: {result.ik_skipped}"), core]
    ik = Row(
        "3",
        f"OpenSense IK ({result.ik_frames} frames, median of {len(result.ik_seconds)})",
        f"{_rate(result.ik_rate)} frames/s",
    )
    return [
        ik,
        dataclasses.replace(
            core, goal="OpenSense IK", ratio=f"{result.core_rate / result.ik_rate:.0f}x"
        ),
    ]


def live_rows(result: LiveResult) -> list[Row]:
    """Rows of item 4."""
    p50, p99, worst = result.latency_ms
    c50, c99, cworst = result.cpu_latency_ms
    r50, r99, rworst = result.rows_latency_ms
    counted = result.calls - result.warmup_calls
    return [
        Row(
            "4",
            f"live 20 ms block, p50 / p99 / max over {counted} calls "
            f"({result.simulated_s / 60:.1f} min)",
            f"{p50:.3f} / {p99:.3f} / {worst:.2f} ms",
            f"p99 <= {LIVE_P99_GOAL_MS:g} ms",
            f"{p99 / LIVE_P99_GOAL_MS:.3g}x" if math.isfinite(p99) else "-",
            _met(p99 <= LIVE_P99_GOAL_MS) if math.isfinite(p99) else "-",
        ),
        Row(
            "4",
            "live 20 ms block by CPU time (thread_time): p50 / p99 / max",
            f"{c50:.3f} / {c99:.3f} / {cworst:.2f} ms",
            f"p99 <= {LIVE_P99_GOAL_MS:g} ms",
            f"{c99 / LIVE_P99_GOAL_MS:.3g}x" if math.isfinite(c99) else "-",
            _met(c99 <= LIVE_P99_GOAL_MS) if math.isfinite(c99) else "-",
        ),
        Row(
            "4",
            "live, calls that returned rows: p50 / p99 / max",
            f"{r50:.3f} / {r99:.3f} / {rworst:.2f} ms",
        ),
        Row("4", "live, slowest call while calibrating", f"{result.calibration_max_ms:.2f} ms"),
    ]


def _growth_text(t0_s: float, t1_s: float, size: float) -> str:
    if not math.isfinite(size) or t1_s <= t0_s:
        return _size(size)
    return f"{_size(size)} ({_size(size * 60.0 / (t1_s - t0_s))}/min)"


def memory_rows(live: LiveResult, memory: MemoryResult, from_s: float) -> list[Row]:
    """Rows of item 5."""
    t0, t1, traced = growth(memory.samples, from_s)
    peak = max((s.peak_b for s in memory.samples), default=0)
    last = memory.samples[-1].current_b if memory.samples else 0
    r0, r1, rss = growth(live.rss, from_s)
    span = f"min {t0 / 60:.3g} -> {t1 / 60:.3g}" if math.isfinite(t0) else "too short"
    rss_span = f"min {r0 / 60:.3g} -> {r1 / 60:.3g}" if math.isfinite(r0) else "too short"
    rss_last = live.rss[-1].current_b if live.rss else math.nan
    return [
        Row(
            "5",
            f"tracemalloc current growth ({span}); end {last / (1 << 20):.2f} MiB, "
            f"peak {peak / (1 << 20):.2f} MiB",
            _growth_text(t0, t1, traced),
            f"<= {_size(TRACEMALLOC_GROWTH_LIMIT_B)}",
            "-",
            _met(traced <= TRACEMALLOC_GROWTH_LIMIT_B) if math.isfinite(traced) else "-",
        ),
        Row(
            "5",
            f"process RSS growth ({rss_span}); end {rss_last / (1 << 20):.0f} MiB",
            _growth_text(r0, r1, rss),
            f"<= {_size(RSS_GROWTH_LIMIT_B)}",
            "-",
            _met(rss <= RSS_GROWTH_LIMIT_B) if math.isfinite(rss) else "-",
        ),
    ]


def _jsonable(value: object) -> object:
    """Dataclasses, tuples, paths and floats as JSON values (non-finite floats as None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}  # type: ignore[misc]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]  # type: ignore[misc]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def run_bench(session: BenchSession, params: BenchParams) -> BenchReport:
    """Every measurement on ``session``, in order 1-5, and the table."""
    load: dict[str, float] = {"start": os.getloadavg()[0]}
    offline, ref = bench_offline_and_reference(session, params)
    load["offline and reference"] = os.getloadavg()[0]
    _LOG.info("OpenSense comparison")
    os_result = bench_opensense(
        params.opensense_dir,
        params.repeats,
        _ik_runner() if params.opensense_ik else "not requested (--skip-opensense)",
    )
    _LOG.info("live latency run")
    live = bench_live(session, params)
    load["live"] = os.getloadavg()[0]
    _LOG.info("live run under tracemalloc (slow)")
    memory = bench_memory(session, params)
    load["end"] = os.getloadavg()[0]
    rows = [
        *offline_rows(offline),
        *reference_rows(ref, offline),
        *opensense_rows(os_result),
        *live_rows(live),
        *memory_rows(live, memory, params.growth_from_s),
    ]
    s = session.params
    notes = [
        f"Session: {s.duration_s / 60:.0f} min, {len(session.blocks)} boards at "
        f"{session.rate_hz:g} Hz, {session.board_samples:,} board-samples, "
        f"{s.rig().motion.sets} sets of {s.reps_per_set} squats ({session.origin}).",
        f"Offline input: blocks of {params.offline_block_s:g} s of receive time per board; "
        f"{offline.rows:,} output rows at 100 Hz; per CPU second "
        f"{_rate(offline.cpu_rate)} board-samples/s.",
        f"Live: {live.samples_per_board_per_call:.2f} samples per board per 20 ms call on "
        f"average (BLE notifications of ~15 samples at simulated receive times), "
        f"{live.warmup_calls} warm-up calls not counted; the tracemalloc run took "
        f"{memory.wall_s:.0f} s for {memory.simulated_s / 60:.1f} simulated min.",
        f"Machine: {os.cpu_count()} cores shared with other work; 1-minute load average "
        + ", ".join(f"{value:.2f} {when}" for when, value in _load_labels(load))
        + f"; Python {platform.python_version()}, "
        f"numpy {np.__version__}.",
    ]
    if isinstance(ref, ReferenceResult):
        notes.append(
            f"Reference: {ref.measured_board_samples:,} of {ref.requested_board_samples:,} "
            "board-samples timed (index-aligned, equidistant times); qmt's start-up fits are "
            f"{ref.startup_share_prefix:.0%} of that prefix and "
            f"{ref.startup_share_session:.0%} of the session (the reference rate is low by up "
            "to about the difference). It does no clock alignment or resampling."
        )
    if isinstance(os_result, OpenSenseResult):
        notes.append(
            f"OpenSense: the IK time includes its model/data loading and writing; the core's "
            f"excludes reading the .sto ({os_result.read_s:.2f} s with coxa.io) and covers all "
            f"{os_result.sto_rows} rows (calibration at the first row)."
        )
    data: dict[str, Any] = {
        "session": s,
        "board_samples": session.board_samples,
        "params": params,
        "offline": offline,
        "reference": ref,
        "opensense": os_result,
        "live": live,
        "memory": memory,
        "load": load,
        "rows": rows,
        "notes": notes,
    }
    return BenchReport(tuple(rows), tuple(notes), data)


def _load_labels(load: Mapping[str, float]) -> list[tuple[str, float]]:
    """Load readings with what they were taken after (``start``: before everything)."""
    return [
        (f"at {when}" if when in ("start", "end") else f"after {when}", v)
        for when, v in load.items()
    ]


def render(report: BenchReport) -> str:
    """The report as a markdown table and the notes under it."""
    header = ("#", "measurement", "value", "goal / anchor", "ratio", "met")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report.rows:
        cells = (row.item, row.measurement, row.value, row.goal, row.ratio, row.met)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(f"- {note}" for note in report.notes)
    return "\n".join(lines)


def write_json(report: BenchReport, path: Path) -> None:
    """The report's raw results as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(report.data), indent=2) + "\n", encoding="utf-8")


def profile(session: BenchSession, params: BenchParams, top: int = 25) -> str:
    """cProfile of one offline run (after an untimed one) and of the live 20 ms-block loop
    (``params.live_s``), the ``top`` entries of each by cumulative time."""
    batches = list(rx_windows(session, round(params.offline_block_s * 1e6)))
    _run_offline(session, batches)  # numba compilation out of the profile
    out = io.StringIO()
    runs: tuple[tuple[str, Callable[[], object]], ...] = (
        ("offline core, whole session", lambda: _run_offline(session, batches)),
        ("live 20 ms blocks", lambda: live_run(session, params, params.live_s, lambda: None)),
    )
    for label, run in runs:
        prof = cProfile.Profile()
        prof.enable()
        run()
        prof.disable()
        out.write(f"\n## {label}\n")
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build or load the session, measure, print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="a 10-minute session and 1 repeat (smoke run)"
    )
    parser.add_argument("--repeats", type=int, help="timed runs, median counts (default 3)")
    parser.add_argument("--session-minutes", type=float, help="session length (default 60)")
    parser.add_argument(
        "--live-minutes", type=float, help="simulated minutes of each live run (default: all)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--skip-opensense", action="store_true", help="no OpenSense IK runs")
    parser.add_argument("--reference-budget-s", type=float, default=120.0)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--no-cache", action="store_true", help="simulate, write no cache")
    parser.add_argument(
        "--profile", action="store_true", help="print cProfile top 25 instead of the table"
    )
    args = parser.parse_args(argv)
    minutes: float = args.session_minutes
    if minutes is None:
        minutes = 10.0 if args.quick else 60.0
    repeats: int = args.repeats
    if repeats is None:
        repeats = 1 if args.quick else 3
    live_s = None if args.live_minutes is None else args.live_minutes * 60.0
    try:
        session_params = SessionParams(duration_s=minutes * 60.0)
        params = BenchParams(
            repeats=repeats,
            live_s=live_s,
            reference_budget_s=args.reference_budget_s,
            opensense_ik=not args.skip_opensense,
        )
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    _LOG.setLevel(logging.INFO)
    session = build_session(session_params, None if args.no_cache else args.cache_dir)
    if args.profile:
        print(profile(session, params))
        return 0
    report = run_bench(session, params)
    print(render(report))
    if args.json is not None:
        write_json(report, args.json)
        print(f"\nraw results: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
