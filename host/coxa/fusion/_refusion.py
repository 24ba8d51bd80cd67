"""Research mode: host re-fusion of a board's raw gyroscope and accelerometer samples with VQF.

Boards normally stream their own on-board 6D orientation. In research mode (protocol v1
``MODE_QUAT_RAW``) they also stream the raw accelerometer, and the host re-fuses the orientation
from raw gyro + acc with the ``vqf`` package: VQF by Laidig & Seel (2023), "VQF: Highly accurate
IMU orientation estimation with bias estimation and magnetic disturbance rejection",
Information Fusion 91:187-204, doi:10.1016/j.inffus.2022.10.014.

Conventions (checked by ``tests/fusion/test_refusion.py``): vqf's quaternions are scalar first
(``[w x y z]``) and rotate sensor-frame vectors into vqf's own Z-up world frame
(``v_world = q ⊗ v_sensor ⊗ q*``), exactly like coxa's board quaternions; only the heading of
that world frame is arbitrary (no magnetometer) and differs between boards.

Lost samples. Feed samples in sequence order and pass their sequence numbers (``seq``) so that
holes are seen, inside a block or between blocks:

- a hole of at most ``RefusionParams.max_gap_fill_s`` is filled by linear interpolation between
  the samples on either side; the filter runs over the filled samples (so the rotation during
  the hole is not lost) and returns only the real ones;
- a longer hole resets the filter's orientation but keeps its gyroscope bias estimate: after
  that much unobserved motion the orientation is unknown, and a fresh VQF takes its inclination
  from the next accelerometer sample at once instead of converging over several ``tau_acc_s``.
  The heading restarts (a jump, logged as a warning), which the fusion core's heading
  correction has to absorb;
- ``seq=None`` means the samples follow the previous ones without a hole.

Sequence numbers that do not increase raise ``ValueError``. Backfilled samples that arrive late
are re-fused by restoring a :meth:`VqfRefusion.snapshot` taken before the hole and feeding the
completed run again. Feeding a recording in any split of blocks gives bit-identical quaternions,
holes and all (the state is vqf's own, read and written through its ``state`` property, plus
the little this module keeps: :class:`RefusionState`).

Units. A reading beyond the largest full scale of the supported IMUs raises ``ValueError``: a
gyroscope in deg/s reads a thigh turning at 70 deg/s (a brisk squat) as 70 "rad/s", beyond
the 4000 deg/s = 69.8 rad/s full scale, and an accelerometer in mg or raw counts reads beyond
16 g. A gyroscope in deg/s during slower movement cannot be told from a fast one in rad/s and
is not detected. An accelerometer in g is: the median norm over the stream's first
``units_check_s`` must be near 9.81 m/s² (a median, so a short jump or free fall does not trip
it); the check runs once that much of the stream is in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, cast

import numpy as np
import vqf
from numpy.typing import ArrayLike, NDArray

from coxa.fusion._samples import SampleBlock
from coxa.geometry import GRAVITY_M_S2, FloatArray

_log = logging.getLogger(__name__)

RefusionVariant = Literal["vqf", "basic"]

#: A value of vqf's state dictionary, copied (lists become tuples).
FilterStateValue = float | bool | tuple[float, ...]

_DEG = math.pi / 180.0

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class RefusionParams:
    """Settings of the host re-fusion.

    Attributes
    ----------
    variant : {'vqf', 'basic'}
        ``'vqf'``: the full filter (``vqf.VQF``) with rest detection and gyroscope bias
        estimation. ``'basic'``: ``vqf.BasicVQF``, the same accelerometer correction without
        bias estimation (faster, but a 1 deg/s bias tilts it by about ``tau_acc_s`` deg).
        Default ``'vqf'`` [src: best accuracy in Laidig & Seel 2023].
    tau_acc_s : float
        Time constant of the accelerometer low-pass in the almost-inertial frame, s. Smaller
        trusts the accelerometer more (faster inclination correction, more sensitivity to the
        movement's own acceleration). Default 3.0 [src: vqf's default, Laidig & Seel 2023].
    motion_bias_est : bool
        Estimate the gyroscope bias during motion (``'vqf'`` only). Default True [src: vqf].
    rest_bias_est : bool
        Estimate the gyroscope bias at rest (``'vqf'`` only). Default True [src: vqf].
    bias_clip_deg_s : float
        Largest gyroscope bias per axis the estimate may reach, deg/s (``'vqf'`` only). Default
        5.0 [assumption: vqf's own default of 2 deg/s clips 3 SD of a typical 1 deg/s zero-rate
        level (LSM6DSOX, [src]); measured here on simulated squats, such boards then tilted by
        up to 4 deg RMS instead of below 1.2 deg].
    max_gap_fill_s : float
        Longest hole in the sequence numbers that is filled by interpolation, s; longer holes
        reset the orientation (module docstring). Default 0.5 [derived: measured on simulated
        squats, a 0.5 s hole mid-descent filled left 2.3 deg inclination error (30 deg when
        skipped); a 1 s hole filled still left 10-20 deg, a 1.5 s hole reset about 0.5 deg].
    gyr_max_rad_s : float
        Largest angular rate any supported IMU can report, rad/s: a larger reading is taken as
        wrong units (deg/s) or corrupt data. Default 4000 deg/s [src: ISM330DHCX full scale,
        the largest of the supported IMUs].
    acc_max_m_s2 : float
        Largest specific force per axis any supported IMU can report, m/s²: a larger reading is
        taken as wrong units (mg, raw counts). Default 16 g [src: full scale of LSM6DSOX,
        ISM330DHCX, ICM-42688-P].
    acc_norm_median_range_m_s2 : tuple of float
        Allowed range of the median accelerometer norm over the first ``units_check_s`` of a
        stream, m/s²; outside it the stream is not in m/s² (in g the median is about 1).
        Default (4.9, 19.6), i.e. 0.5 g to 2 g [assumption: a person moving or standing reads
        about 1 g on median].
    units_check_s : float
        Length of stream the accelerometer-units check looks at, s. Default 2.0 [assumption].
    """

    variant: RefusionVariant = "vqf"
    tau_acc_s: float = 3.0
    motion_bias_est: bool = True
    rest_bias_est: bool = True
    bias_clip_deg_s: float = 5.0
    max_gap_fill_s: float = 0.5
    gyr_max_rad_s: float = 4000.0 * _DEG
    acc_max_m_s2: float = 16.0 * GRAVITY_M_S2
    acc_norm_median_range_m_s2: tuple[float, float] = (0.5 * GRAVITY_M_S2, 2.0 * GRAVITY_M_S2)
    units_check_s: float = 2.0

    def __post_init__(self) -> None:
        if self.variant not in ("vqf", "basic"):
            raise ValueError(f"variant must be 'vqf' or 'basic', got {self.variant!r}")
        positive = {
            "tau_acc_s": self.tau_acc_s,
            "bias_clip_deg_s": self.bias_clip_deg_s,
            "gyr_max_rad_s": self.gyr_max_rad_s,
            "acc_max_m_s2": self.acc_max_m_s2,
            "units_check_s": self.units_check_s,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"RefusionParams.{name} must be positive and finite, got {value}")
        if not (math.isfinite(self.max_gap_fill_s) and self.max_gap_fill_s >= 0.0):
            raise ValueError(
                f"RefusionParams.max_gap_fill_s must be >= 0, got {self.max_gap_fill_s}"
            )
        low, high = self.acc_norm_median_range_m_s2
        if not 0.0 <= low < high:
            raise ValueError(
                f"RefusionParams.acc_norm_median_range_m_s2 must be (low, high) with "
                f"0 <= low < high, got {self.acc_norm_median_range_m_s2}"
            )


@dataclass(frozen=True)
class RefusionState:
    """Everything a :class:`VqfRefusion` carries from one block to the next.

    Attributes
    ----------
    params : RefusionParams
        Settings of the re-fuser the state came from.
    rate_hz : float
        Its sample rate, Hz.
    filter_state : tuple of (str, float or bool or tuple of float) pairs
        A copy of vqf's own state dictionary (``VQF.state``), item by item; immutable and
        picklable, like the whole snapshot.
    next_seq : int or None
        Sequence number the next sample should have; None before the first ``seq`` was seen.
    last_gyr_rad_s, last_acc_m_s2 : tuple of 3 float, or None
        The last sample, the left end of an interpolated hole; None before the first sample.
    units_norms_m_s2 : tuple of float
        Accelerometer norms of the stream's first samples, kept until the units check is done.
    units_checked : bool
        Whether the accelerometer-units check is done.
    n_samples : int
        Samples fed so far (without interpolated ones).
    """

    params: RefusionParams
    rate_hz: float
    filter_state: tuple[tuple[str, FilterStateValue], ...]
    next_seq: int | None
    last_gyr_rad_s: tuple[float, float, float] | None
    last_acc_m_s2: tuple[float, float, float] | None
    units_norms_m_s2: tuple[float, ...]
    units_checked: bool
    n_samples: int


class _Filter(Protocol):
    """The part of ``vqf.VQF`` / ``vqf.BasicVQF`` used here (vqf's stubs type arrays as bare
    ``np.ndarray`` and lists as bare ``list``, which strict checking rejects).

    ``updateBatch`` needs C-contiguous float64 arrays of shape ``(n, 3)``.
    """

    state: dict[str, object]

    def updateBatch(self, gyr: FloatArray, acc: FloatArray) -> Mapping[str, FloatArray]: ...  # noqa: N802 (vqf's name)

    def resetState(self) -> None: ...  # noqa: N802 (vqf's name)


class _BiasFilter(_Filter, Protocol):
    def getBiasEstimate(self) -> tuple[FloatArray, float]: ...  # noqa: N802 (vqf's name)

    def setBiasEstimate(self, bias: FloatArray, sigma: float) -> None: ...  # noqa: N802 (vqf's name)


def _vector3(values: FloatArray) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))


def _checked_samples(name: str, values: ArrayLike, max_abs: float, likely_units: str) -> FloatArray:
    """``values`` as a C-contiguous float64 array of shape ``(n, 3)``, finite and in range."""
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {arr.shape}")
    if arr.size and not float(np.abs(arr).max()) <= max_abs:  # also False for NaN
        bad_row = ~(np.abs(arr) <= max_abs).all(axis=1)
        row = int(np.flatnonzero(bad_row)[0])
        if not np.isfinite(arr[row]).all():
            raise ValueError(f"{name} has a non-finite value (NaN or inf) in row {row}")
        raise ValueError(
            f"{name} row {row} reads {arr[row].tolist()}, beyond the {max_abs:.4g} full scale "
            f"of any supported IMU: was it passed in {likely_units}?"
        )
    return arr


def _checked_seq(seq: ArrayLike, n: int) -> IntArray:
    """``seq`` as int64 of shape ``(n,)``."""
    seq_arr = np.asarray(seq)
    if seq_arr.shape != (n,):
        raise ValueError(f"seq must have shape ({n},) like the samples, got {seq_arr.shape}")
    if seq_arr.dtype.kind not in "iu":
        raise ValueError(f"seq must hold integers, got dtype {seq_arr.dtype}")
    return seq_arr.astype(np.int64, copy=False)


class VqfRefusion:
    """Streaming re-fusion of one board's raw samples into its 6D orientation.

    Parameters
    ----------
    rate_hz : float
        The board's nominal sample rate, Hz (gyroscope and accelerometer sampled together).
    params : RefusionParams, optional
        Settings; default ``RefusionParams()``.

    Examples
    --------
    >>> refusion = VqfRefusion(200.0)
    >>> quat_wxyz = refusion.update(gyr_rad_s, acc_m_s2, seq=seq)  # doctest: +SKIP
    """

    def __init__(self, rate_hz: float, params: RefusionParams | None = None) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0.0):
            raise ValueError(f"rate_hz must be positive and finite, got {rate_hz}")
        self._rate_hz = float(rate_hz)
        self._params = RefusionParams() if params is None else params
        self._filter, self._bias_filter = self._new_filter()
        max_gap = self._params.max_gap_fill_s * self._rate_hz
        self._max_fill = math.floor(max_gap + 1e-9)
        self._units_n = max(1, round(self._params.units_check_s * self._rate_hz))
        self._next_seq: int | None = None
        self._last_gyr: FloatArray | None = None
        self._last_acc: FloatArray | None = None
        self._units_norms: FloatArray = np.empty(0)
        self._units_checked = False
        self._n_samples = 0

    def _new_filter(self) -> tuple[_Filter, _BiasFilter | None]:
        p = self._params
        ts = 1.0 / self._rate_hz
        if p.variant == "basic":
            return cast(_Filter, vqf.BasicVQF(ts, ts, tauAcc=p.tau_acc_s)), None
        full = cast(
            _BiasFilter,
            vqf.VQF(
                ts,
                ts,
                tauAcc=p.tau_acc_s,
                motionBiasEstEnabled=p.motion_bias_est,
                restBiasEstEnabled=p.rest_bias_est,
                biasClip=p.bias_clip_deg_s,
            ),
        )
        return full, full

    @property
    def rate_hz(self) -> float:
        """Sample rate, Hz."""
        return self._rate_hz

    @property
    def params(self) -> RefusionParams:
        """Settings."""
        return self._params

    @property
    def n_samples(self) -> int:
        """Samples fed so far (interpolated ones not counted)."""
        return self._n_samples

    @property
    def bias_rad_s(self) -> FloatArray | None:
        """vqf's current gyroscope bias estimate in the sensor frame, rad/s, shape ``(3,)``;
        None for the ``'basic'`` variant, which does not estimate it."""
        if self._bias_filter is None:
            return None
        bias, _sigma = self._bias_filter.getBiasEstimate()
        return np.array(bias, dtype=np.float64)

    def update(
        self, gyr_rad_s: ArrayLike, acc_m_s2: ArrayLike, *, seq: ArrayLike | None = None
    ) -> FloatArray:
        """Fuse the next block of samples.

        Parameters
        ----------
        gyr_rad_s : array_like, shape (n, 3)
            Gyroscope, sensor frame, rad/s.
        acc_m_s2 : array_like, shape (n, 3)
            Accelerometer (specific force, +g up at rest), sensor frame, m/s².
        seq : array_like of int, shape (n,), optional
            Unwrapped sequence numbers, strictly increasing (also across blocks); holes are
            handled as the module docstring says. None: the block follows the previous one
            without a hole.

        Returns
        -------
        quat_wxyz : ndarray, shape (n, 4)
            Orientation of the sensor in vqf's Z-up world frame after each sample.

        Raises
        ------
        ValueError
            On wrong shapes, non-finite values, readings beyond any supported IMU's full
            scale (gyro in deg/s, acc in mg), an accelerometer whose median norm over the
            first ``units_check_s`` of the stream is far from 9.81 m/s² (acc in g), or
            sequence numbers that do not increase. The re-fuser is then left as it was.
        """
        p = self._params
        gyr = _checked_samples("gyr_rad_s", gyr_rad_s, p.gyr_max_rad_s, "deg/s")
        acc = _checked_samples("acc_m_s2", acc_m_s2, p.acc_max_m_s2, "mg or raw counts")
        n = gyr.shape[0]
        if acc.shape[0] != n:
            raise ValueError(f"gyr_rad_s has {n} samples but acc_m_s2 has {acc.shape[0]}")
        seq_i = None if seq is None else _checked_seq(seq, n)
        if n == 0:
            return np.empty((0, 4))
        missing = None if seq_i is None else self._missing_before(seq_i)
        units_norms = self._units_pending(acc)
        # Nothing raises from here on: commit.
        if missing is None:
            quat = self._filter.updateBatch(gyr, acc)["quat6D"]
        else:
            quat = self._update_with_holes(gyr, acc, missing)
        if seq_i is not None:
            self._next_seq = int(seq_i[-1]) + 1
        elif self._next_seq is not None:
            self._next_seq += n
        self._last_gyr = gyr[-1].copy()
        self._last_acc = acc[-1].copy()
        self._units_checked = units_norms is None
        self._units_norms = np.empty(0) if units_norms is None else units_norms
        self._n_samples += n
        return quat

    def update_block(self, block: SampleBlock) -> FloatArray:
        """:meth:`update` with a decoded block's gyroscope, accelerometer and sequence numbers.

        Returns
        -------
        quat_wxyz : ndarray, shape (n, 4)
            Orientation after each sample of the block.

        Raises
        ------
        ValueError
            If the block has no raw samples (the board is not in ``MODE_QUAT_RAW``), and as
            :meth:`update`.
        """
        if block.gyr_rad_s is None or block.acc_m_s2 is None:
            raise ValueError(
                f"board {block.board_id}: re-fusion needs the raw gyroscope and accelerometer "
                "(research mode, MODE_QUAT_RAW); this block has none"
            )
        return self.update(block.gyr_rad_s, block.acc_m_s2, seq=block.seq)

    def _missing_before(self, seq_i: IntArray) -> IntArray | None:
        """Samples lost right before each sample of a non-empty block, shape ``(n,)``; None
        when the block follows the previous sample without a hole."""
        n = seq_i.shape[0]
        before = int(seq_i[0]) - 1 if self._next_seq is None else self._next_seq - 1
        step = np.empty(n, dtype=np.int64)
        step[0] = int(seq_i[0]) - before
        np.subtract(seq_i[1:], seq_i[:-1], out=step[1:])
        lowest = int(step.min())
        if lowest < 1:
            i = int(np.flatnonzero(step < 1)[0])
            prev = int(seq_i[i - 1]) if i else before
            raise ValueError(
                f"sequence numbers must increase: sample {i} has seq {int(seq_i[i])} after "
                f"{prev}; feed backfilled samples in order (restore a snapshot taken before "
                f"the hole and feed the completed run again)"
            )
        if int(seq_i[-1]) - before == n:  # n steps of at least 1 adding up to n: no hole
            return None
        return step - 1

    def _units_pending(self, acc: FloatArray) -> FloatArray | None:
        """Run the accelerometer-units check once enough samples are in.

        Returns the norms still kept for the check, or None once it has passed.
        """
        if self._units_checked:
            return None
        norms = np.concatenate([self._units_norms, np.linalg.norm(acc, axis=1)])
        if norms.size < self._units_n:
            return norms
        median = float(np.median(norms[: self._units_n]))
        low, high = self._params.acc_norm_median_range_m_s2
        if not low <= median <= high:
            hint = " (this looks like g: multiply by 9.80665)" if 0.5 <= median <= 2.0 else ""
            raise ValueError(
                f"acc_m_s2: the median accelerometer norm over the first {self._units_n} "
                f"samples is {median:.4g}, expected about {GRAVITY_M_S2} m/s² (gravity); the "
                f"accelerometer must be in m/s²{hint}"
            )
        return None

    def _update_with_holes(self, gyr: FloatArray, acc: FloatArray, missing: IntArray) -> FloatArray:
        """Run the filter over a block with holes: short ones filled, long ones reset."""
        starts = sorted({0, *np.flatnonzero(missing > self._max_fill).tolist()})
        ends = [*starts[1:], gyr.shape[0]]
        out: list[FloatArray] = []
        for start, end in zip(starts, ends, strict=True):
            run_missing = missing[start:end].copy()
            left: FloatArray | None = None
            if run_missing[0] > self._max_fill:
                self._reset_keeping_bias(int(run_missing[0]))
                run_missing[0] = 0
            elif run_missing[0] > 0:  # a short hole before the block's first sample
                left = np.concatenate(
                    [cast(FloatArray, self._last_gyr), cast(FloatArray, self._last_acc)]
                )
            samples = np.concatenate([gyr[start:end], acc[start:end]], axis=1)
            out.append(self._fill_and_run(samples, run_missing, left))
        return np.concatenate(out)

    def _fill_and_run(
        self, samples: FloatArray, missing: IntArray, left: FloatArray | None
    ) -> FloatArray:
        """Fill short holes by linear interpolation and run the filter.

        Parameters
        ----------
        samples : ndarray, shape (n, 6)
            Gyroscope (rad/s) and accelerometer (m/s²) side by side.
        missing : ndarray of int64, shape (n,)
            Samples lost right before each sample, all at most the fill limit.
        left : ndarray, shape (6,), or None
            The sample before the run, needed when ``missing[0] > 0``.
        """
        if not missing.any():
            return self._run(samples)
        # Positions of the real samples in the filled run.
        pos: IntArray = np.arange(samples.shape[0], dtype=np.int64) + np.cumsum(missing)
        filled = np.empty((int(pos[-1]) + 1, 6))
        filled[pos] = samples
        knots_x: IntArray = pos
        knots = samples
        if left is not None:
            knots_x = np.concatenate([np.array([-1], dtype=np.int64), pos])
            knots = np.concatenate([left[None, :], samples])
        is_hole = np.ones(filled.shape[0], dtype=np.bool_)
        is_hole[pos] = False
        holes = np.flatnonzero(is_hole)
        right = np.searchsorted(knots_x, holes)
        weight = ((holes - knots_x[right - 1]) / (knots_x[right] - knots_x[right - 1]))[:, None]
        filled[holes] = (1.0 - weight) * knots[right - 1] + weight * knots[right]
        _log.debug("interpolated %d lost samples", holes.size)
        return self._run(filled)[pos]

    def _run(self, samples: FloatArray) -> FloatArray:
        """The filter over gyroscope and accelerometer side by side, shape ``(n, 6)``."""
        gyr = np.ascontiguousarray(samples[:, :3])
        acc = np.ascontiguousarray(samples[:, 3:])
        return self._filter.updateBatch(gyr, acc)["quat6D"]

    def _reset_keeping_bias(self, n_lost: int) -> None:
        _log.warning(
            "%d samples (%.3g s) lost: orientation re-initialised from the accelerometer, "
            "heading restarts",
            n_lost,
            n_lost / self._rate_hz,
        )
        if self._bias_filter is None:
            self._filter.resetState()
            return
        bias, sigma = self._bias_filter.getBiasEstimate()
        self._bias_filter.resetState()
        self._bias_filter.setBiasEstimate(np.array(bias, dtype=np.float64), float(sigma))

    def snapshot(self) -> RefusionState:
        """The complete state, to :meth:`restore` into this or another re-fuser with the same
        rate and params (resuming gives bit-identical quaternions)."""
        copied: list[tuple[str, FilterStateValue]] = []
        for key, value in self._filter.state.items():
            if isinstance(value, list):
                copied.append((key, tuple(float(v) for v in cast(list[float], value))))
            else:
                copied.append((key, cast(float | bool, value)))
        return RefusionState(
            params=self._params,
            rate_hz=self._rate_hz,
            filter_state=tuple(copied),
            next_seq=self._next_seq,
            last_gyr_rad_s=None if self._last_gyr is None else _vector3(self._last_gyr),
            last_acc_m_s2=None if self._last_acc is None else _vector3(self._last_acc),
            units_norms_m_s2=tuple(self._units_norms.tolist()),
            units_checked=self._units_checked,
            n_samples=self._n_samples,
        )

    def restore(self, state: RefusionState) -> None:
        """Continue from a :meth:`snapshot`.

        Raises
        ------
        ValueError
            If the snapshot comes from a re-fuser with another rate or other params.
        """
        if state.rate_hz != self._rate_hz or state.params != self._params:
            raise ValueError(
                "the snapshot comes from a re-fuser with other settings: "
                f"rate {state.rate_hz} Hz and {state.params}, this one has rate "
                f"{self._rate_hz} Hz and {self._params}"
            )
        self._filter.state = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in state.filter_state
        }
        self._next_seq = state.next_seq
        self._last_gyr = None if state.last_gyr_rad_s is None else np.array(state.last_gyr_rad_s)
        self._last_acc = None if state.last_acc_m_s2 is None else np.array(state.last_acc_m_s2)
        self._units_norms = np.array(state.units_norms_m_s2, dtype=np.float64)
        self._units_checked = state.units_checked
        self._n_samples = state.n_samples
