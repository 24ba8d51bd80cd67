"""Board clock: when a board samples (true time) and what its microsecond counter says.

A board samples at a fixed nominal period of its *own* clock (the IMU's output data rate is
derived from the board's oscillator), so sample ``k`` happens at device time
``d_k = d_0 + k * 1e6 / rate_hz`` microseconds. The device clock runs fast by ``drift_ppm``:
``device_us = offset_us + t_s * 1e6 * (1 + drift_ppm * 1e-6)``, so in true time the samples are
``1e6 / rate_hz / (1 + drift_ppm * 1e-6)`` microseconds apart. The timestamp the board reports is
the counter read when the sample is picked up: ``round(d_k + jitter)``, with zero-mean Gaussian
jitter of standard deviation ``jitter_us``; the jitter moves the timestamp, not the sampling
instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import FloatArray

Int64Array = NDArray[np.int64]


@dataclass(frozen=True)
class ClockParams:
    """A board's clock.

    Attributes
    ----------
    drift_ppm : float
        Rate error of the board clock, parts per million, positive = runs fast. Default 20
        [assumption: typical crystal tolerance].
    jitter_us : float
        Standard deviation of the timestamp jitter, microseconds. Default 30 [assumption].
    offset_us : int
        Counter value at true time 0, microseconds. Default 1 000 000 [assumption: the board
        booted 1 s before the set; keeps jittered timestamps positive].
    """

    drift_ppm: float = 20.0
    jitter_us: float = 30.0
    offset_us: int = 1_000_000

    def __post_init__(self) -> None:
        if self.jitter_us < 0:
            raise ValueError("jitter_us must be >= 0")
        if abs(self.drift_ppm) >= 1e5:
            raise ValueError("drift_ppm must be well below 1e5")

    @property
    def rate_ratio(self) -> float:
        """Device microseconds per true microsecond, ``1 + drift_ppm * 1e-6``."""
        return 1.0 + self.drift_ppm * 1e-6

    def device_us(self, t_s: FloatArray) -> FloatArray:
        """Jitter-free device counter at true times (seconds), microseconds (float)."""
        return self.offset_us + t_s * 1e6 * self.rate_ratio

    def true_s(self, device_us: FloatArray) -> FloatArray:
        """True time in seconds at jitter-free device counter values (microseconds)."""
        return (device_us - self.offset_us) / (1e6 * self.rate_ratio)


@dataclass(frozen=True, eq=False)
class SampleTimes:
    """When a board's samples were taken.

    Attributes
    ----------
    t_s : ndarray, shape (N,)
        True sampling instants, seconds.
    t_us : ndarray of int64, shape (N,)
        Device timestamps (board counter with drift, offset and jitter), microseconds.
    """

    t_s: FloatArray
    t_us: Int64Array


def sample_times(
    clock: ClockParams,
    rate_hz: float,
    t_start_s: float,
    t_end_s: float,
    rng: np.random.Generator,
) -> SampleTimes:
    """Samples of a board running at ``rate_hz`` of its own clock within ``[t_start_s, t_end_s]``.

    The first sample is at the first whole device microsecond at or after ``t_start_s``.

    Parameters
    ----------
    clock : ClockParams
        The board's clock.
    rate_hz : float
        Nominal sample rate (in device time), Hz.
    t_start_s, t_end_s : float
        True time span, seconds.
    rng : numpy.random.Generator
        Source of the timestamp jitter (one normal draw per sample, also when ``jitter_us`` is 0).
    """
    if rate_hz <= 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    if t_end_s < t_start_s:
        raise ValueError("t_end_s must not be before t_start_s")
    period_us = 1e6 / rate_hz
    first_us = float(math.ceil(float(clock.device_us(np.array([t_start_s]))[0])))
    last_us = float(clock.device_us(np.array([t_end_s]))[0])
    n = math.floor((last_us - first_us) / period_us) + 1
    device = first_us + period_us * np.arange(n, dtype=np.float64)
    jitter = clock.jitter_us * rng.standard_normal(n)
    return SampleTimes(t_s=clock.true_s(device), t_us=np.rint(device + jitter).astype(np.int64))
