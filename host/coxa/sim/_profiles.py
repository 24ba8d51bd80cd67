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


def screw_home_deg(flexion_deg: ArrayLike, rotation_deg: float, range_deg: float) -> FloatArray:
    """Tibial internal rotation of the screw-home mechanism at a knee flexion, degrees.

    The tibia turns internally relative to the femur by ``rotation_deg`` as the knee flexes
    from 0 to ``range_deg`` (a :func:`minimum_jerk` blend), and stays there beyond. Shape as
    ``flexion_deg``.
    """
    return rotation_deg * minimum_jerk(np.asarray(flexion_deg, dtype=np.float64) / range_deg)


@dataclass(frozen=True)
class RepSchedule:
    """When the setup, the sets and each rep of a session happen.

    A session is: ``rest_before_s`` still in the neutral pose, ``setup_s`` moving into the top
    position, the reps of the first set (each followed by ``top_pause_s`` except the last),
    then for every further set ``setup_s`` moving back to the neutral pose, ``set_rest_s``
    still in it, ``setup_s`` moving into the top position again and the set's reps; finally
    ``rest_after_s`` still in the top position. With ``setup_s`` 0 there is no move: the
    whole session, the rests between sets included, stays in the top position.

    Attributes
    ----------
    rest_before_s : float
        Still time before the setup, seconds (in the neutral pose; in the top position when
        ``setup_s`` is 0).
    reps : int
        Number of reps per set (0: the whole session is rest).
    descent_s, bottom_pause_s, ascent_s, top_pause_s : float
        Tempo of one rep, seconds: top to bottom, held at the bottom, bottom to top, held at
        the top between two reps.
    rest_after_s : float
        Still time after the last rep, seconds.
    setup_s : float
        Move from the neutral pose into the top position right after the initial rest (and
        back and forth between sets), seconds; 0 (default): no move, the session starts in
        the top position.
    sets : int
        Number of sets, >= 1 (more than one needs ``reps >= 1``). Default 1.
    set_rest_s : float
        Still time in the neutral pose between two sets, seconds. Default 20 [assumption].
    """

    rest_before_s: float
    reps: int
    descent_s: float
    bottom_pause_s: float
    ascent_s: float
    top_pause_s: float
    rest_after_s: float
    setup_s: float = 0.0
    sets: int = 1
    set_rest_s: float = 20.0

    def __post_init__(self) -> None:
        if self.reps < 0:
            raise ValueError(f"reps must be >= 0, got {self.reps}")
        if self.descent_s <= 0 or self.ascent_s <= 0:
            raise ValueError("descent_s and ascent_s must be positive")
        pauses = (self.bottom_pause_s, self.top_pause_s, self.rest_before_s, self.rest_after_s)
        if min(*pauses, self.setup_s, self.set_rest_s) < 0:
            raise ValueError("pauses, rests, set_rest_s and setup_s must be >= 0")
        if self.sets < 1:
            raise ValueError(f"sets must be >= 1, got {self.sets}")
        if self.sets > 1 and self.reps == 0:
            raise ValueError("more than one set needs reps >= 1")

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
    def set_span_s(self) -> float:
        """One set's reps, from leaving the top in the first to reaching it in the last, s."""
        if self.reps == 0:
            return 0.0
        return self.reps * self.cycle_s - self.top_pause_s

    @property
    def set_gap_s(self) -> float:
        """Between two sets: back to the neutral pose, the rest, into the top position, s."""
        return 2.0 * self.setup_s + self.set_rest_s

    @property
    def set_period_s(self) -> float:
        """Start of one set's first rep to the start of the next set's first rep, seconds."""
        return self.set_span_s + self.set_gap_s

    @property
    def duration_s(self) -> float:
        """Whole session including the rests, the setups and the moves between sets, s."""
        if self.reps == 0:
            return self.first_start_s + self.rest_after_s
        if self.sets == 1:
            head = self.first_start_s + self.reps * self.cycle_s
            return head - self.top_pause_s + self.rest_after_s
        return (
            self.first_start_s
            + self.sets * self.set_span_s
            + (self.sets - 1) * self.set_gap_s
            + self.rest_after_s
        )

    @property
    def set_start_t_s(self) -> FloatArray:
        """Start of each set's first rep, seconds, shape ``(sets,)``."""
        return self.first_start_s + self.set_period_s * np.arange(self.sets, dtype=np.float64)

    @property
    def set_end_t_s(self) -> FloatArray:
        """End of each set's last rep (back at the top), seconds, shape ``(sets,)``."""
        return self.set_start_t_s + self.set_span_s

    @property
    def set_rest_t_s(self) -> FloatArray:
        """Still windows between sets, ``[start, end]`` in seconds, shape ``(sets - 1, 2)``.

        In the neutral pose when ``setup_s > 0`` (else in the top position).
        """
        start = self.set_end_t_s[:-1] + self.setup_s
        return np.stack([start, start + self.set_rest_s], axis=-1)

    @property
    def start_t_s(self) -> FloatArray:
        """Start time of each rep (leaving the top), seconds, shape ``(sets * reps,)``."""
        within = self.cycle_s * np.arange(self.reps, dtype=np.float64)
        if self.sets == 1:
            return self.first_start_s + within
        return (self.set_start_t_s[:, None] + within[None, :]).ravel()

    @property
    def set_index_of_rep(self) -> IntArray:
        """Set of each rep, shape ``(sets * reps,)``."""
        return np.repeat(np.arange(self.sets, dtype=np.int64), self.reps)

    @property
    def bottom_t_s(self) -> FloatArray:
        """Middle of each bottom pause, seconds, shape ``(sets * reps,)``."""
        return self.start_t_s + self.descent_s + 0.5 * self.bottom_pause_s

    @property
    def end_t_s(self) -> FloatArray:
        """End time of each rep (back at the top), seconds, shape ``(sets * reps,)``."""
        return self.start_t_s + self.rep_duration_s

    def _set_of(self, t_s: FloatArray) -> IntArray:
        """Set whose first rep starts at or before each time (0 before the first)."""
        after = np.searchsorted(self.set_start_t_s, t_s, side="right")
        return np.maximum(after - 1, 0).astype(np.int64)

    def _rep_in_set(self, t_s: FloatArray) -> tuple[IntArray, FloatArray]:
        """Rep index within its set (clipped to ``[0, reps - 1]``) and the time since that
        rep's start, seconds, each shaped as ``t_s``."""
        if self.sets == 1:
            since_set = t_s - self.first_start_s
        else:
            since_set = t_s - self.set_start_t_s[self._set_of(t_s)]
        u = since_set / self.cycle_s
        rep = np.clip(np.floor(u), 0, max(self.reps - 1, 0)).astype(np.int64)
        return rep, since_set - self.cycle_s * rep

    def rep_index(self, t_s: FloatArray) -> IntArray:
        """Index of the rep whose cycle contains each time, clipped to ``[0, sets * reps - 1]``.

        Reps are numbered through the session (set ``k``'s rep ``j`` is ``k * reps + j``).
        Times before a set's first rep map to the previous set's last rep (0 before the
        first), and after the last rep to ``sets * reps - 1``; the progress is zero there, so
        the index only selects which rep's targets are (not) in use. With no reps the index
        is 0 everywhere. Shape as ``t_s``.
        """
        rep, _ = self._rep_in_set(t_s)
        if self.sets == 1:
            return rep
        return self._set_of(t_s) * self.reps + rep

    def setup_progress(self, t_s: FloatArray) -> FloatArray:
        """Setup progress ``w(t)`` in [0, 1] (0 neutral pose, 1 top position), C2 in time.

        0 up to ``rest_before_s``, a minimum-jerk rise over ``setup_s``, 1 from the first rep
        on; between two sets a minimum-jerk fall to 0 over ``setup_s`` right after the last
        rep, 0 for ``set_rest_s``, a rise back to 1 over ``setup_s``. 1 everywhere when
        ``setup_s`` is 0. Shape as ``t_s``.
        """
        if self.setup_s == 0:
            return np.ones_like(t_s)
        w = minimum_jerk((t_s - self.rest_before_s) / self.setup_s)
        for end_s in self.set_end_t_s[:-1].tolist():
            back_s = end_s + self.setup_s + self.set_rest_s
            down = 1.0 - minimum_jerk((t_s - end_s) / self.setup_s)
            up = minimum_jerk((t_s - back_s) / self.setup_s)
            w = np.where(t_s > end_s, np.where(t_s < back_s, down, up), w)
        return w

    def progress(self, t_s: FloatArray) -> FloatArray:
        """Rep progress ``s(t)`` in [0, 1] (0 top, 1 bottom), C2 in time, shape as ``t_s``."""
        if self.reps == 0:
            return np.zeros_like(t_s)
        _, local = self._rep_in_set(t_s)
        down = minimum_jerk(local / self.descent_s)
        up_start = self.descent_s + self.bottom_pause_s
        up = minimum_jerk(1.0 - (local - up_start) / self.ascent_s)
        return np.where(local < up_start, down, up)
