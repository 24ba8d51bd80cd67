"""Smooth time profiles: the minimum-jerk blend and the rep schedule of a set.

Every commanded angle of the simulated motion is ``w(t) * top + s(t) * (bottom - top)``: the
setup progress ``w(t)`` in [0, 1] takes the athlete from the neutral pose (every angle 0, the
calibration pose) to the exercise's top position after the initial rest, and the rep progress
``s(t)`` in [0, 1] is 0 at the top position and 1 at the bottom of a rep. Both follow
minimum-jerk blends (Flash & Hogan 1985), whose first and second derivatives vanish at both
ends, so angles, angular velocities and accelerations are continuous (C2) and the synthesised
accelerometer stays finite.

References
----------
Flash T., Hogan N. (1985) The coordination of arm movements: an experimentally confirmed
mathematical model. J Neurosci 5:1688-1703. doi:10.1523/JNEUROSCI.05-07-01688.1985
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from coxa.geometry import FloatArray

IntArray = NDArray[np.int64]


def minimum_jerk(fraction: ArrayLike) -> FloatArray:
    """Minimum-jerk blend ``10 u^3 - 15 u^4 + 6 u^5`` of ``u = clip(fraction, 0, 1)``.

    Rises from 0 to 1 with zero first and second derivatives at both ends; constant outside
    [0, 1]. Shape as ``fraction``.
    """
    u = np.clip(np.asarray(fraction, dtype=np.float64), 0.0, 1.0)
    # The clip removes a rounding overshoot of about 1e-15 just below u = 1.
    return np.minimum(u * u * u * (10.0 + u * (-15.0 + 6.0 * u)), 1.0)


@dataclass(frozen=True)
class RepSchedule:
    """When the setup and each rep of a set happen.

    The set is: ``rest_before_s`` still in the neutral pose, ``setup_s`` moving into the top
    position, the reps (each followed by ``top_pause_s`` except the last), ``rest_after_s``
    still in the top position.

    Attributes
    ----------
    rest_before_s : float
        Still time before the setup, seconds (in the neutral pose; in the top position when
        ``setup_s`` is 0).
    reps : int
        Number of reps (0: the whole set is rest).
    descent_s, bottom_pause_s, ascent_s, top_pause_s : float
        Tempo of one rep, seconds: top to bottom, held at the bottom, bottom to top, held at
        the top between two reps.
    rest_after_s : float
        Still time after the last rep, seconds.
    setup_s : float
        Move from the neutral pose into the top position right after the initial rest,
        seconds; 0 (default): no move, the set starts in the top position.
    """

    rest_before_s: float
    reps: int
    descent_s: float
    bottom_pause_s: float
    ascent_s: float
    top_pause_s: float
    rest_after_s: float
    setup_s: float = 0.0

    def __post_init__(self) -> None:
        if self.reps < 0:
            raise ValueError(f"reps must be >= 0, got {self.reps}")
        if self.descent_s <= 0 or self.ascent_s <= 0:
            raise ValueError("descent_s and ascent_s must be positive")
        pauses = (self.bottom_pause_s, self.top_pause_s, self.rest_before_s, self.rest_after_s)
        if min(*pauses, self.setup_s) < 0:
            raise ValueError("pauses, rests and setup_s must be >= 0")

    @property
    def rep_duration_s(self) -> float:
        """One rep from leaving the top to reaching it again, seconds."""
        return self.descent_s + self.bottom_pause_s + self.ascent_s

    @property
    def cycle_s(self) -> float:
        """Start of one rep to the start of the next, seconds."""
        return self.rep_duration_s + self.top_pause_s

    @property
    def first_start_s(self) -> float:
        """End of the initial rest and the setup: where the first rep starts, seconds."""
        return self.rest_before_s + self.setup_s

    @property
    def duration_s(self) -> float:
        """Whole set including both rests and the setup, seconds."""
        if self.reps == 0:
            return self.first_start_s + self.rest_after_s
        return self.first_start_s + self.reps * self.cycle_s - self.top_pause_s + self.rest_after_s

    @property
    def start_t_s(self) -> FloatArray:
        """Start time of each rep (leaving the top), seconds, shape ``(reps,)``."""
        return self.first_start_s + self.cycle_s * np.arange(self.reps, dtype=np.float64)

    @property
    def bottom_t_s(self) -> FloatArray:
        """Middle of each bottom pause, seconds, shape ``(reps,)``."""
        return self.start_t_s + self.descent_s + 0.5 * self.bottom_pause_s

    @property
    def end_t_s(self) -> FloatArray:
        """End time of each rep (back at the top), seconds, shape ``(reps,)``."""
        return self.start_t_s + self.rep_duration_s

    def rep_index(self, t_s: FloatArray) -> IntArray:
        """Index of the rep whose cycle contains each time, clipped to ``[0, reps - 1]``.

        Times before the first rep map to 0 and after the last to ``reps - 1``; the progress is
        zero there, so the index only selects which rep's targets are (not) in use. With no
        reps the index is 0 everywhere. Shape as ``t_s``.
        """
        u = (t_s - self.first_start_s) / self.cycle_s
        return np.clip(np.floor(u), 0, max(self.reps - 1, 0)).astype(np.int64)

    def setup_progress(self, t_s: FloatArray) -> FloatArray:
        """Setup progress ``w(t)`` in [0, 1] (0 neutral pose, 1 top position), C2 in time.

        0 up to ``rest_before_s``, a minimum-jerk rise over ``setup_s``, 1 from the first rep
        on; 1 everywhere when ``setup_s`` is 0. Shape as ``t_s``.
        """
        if self.setup_s == 0:
            return np.ones_like(t_s)
        return minimum_jerk((t_s - self.rest_before_s) / self.setup_s)

    def progress(self, t_s: FloatArray) -> FloatArray:
        """Rep progress ``s(t)`` in [0, 1] (0 top, 1 bottom), C2 in time, shape as ``t_s``."""
        if self.reps == 0:
            return np.zeros_like(t_s)
        local = t_s - self.first_start_s - self.cycle_s * self.rep_index(t_s)
        down = minimum_jerk(local / self.descent_s)
        up_start = self.descent_s + self.bottom_pause_s
        up = minimum_jerk(1.0 - (local - up_start) / self.ascent_s)
        return np.where(local < up_start, down, up)
