"""Streaming rep segmentation of one drive signal: a state machine fed row by row.

The drive (leg depth, or the swing of right minus left hip rotation, see
:class:`~coxa.analysis.RepParams`) is *still* at a row when it changed slower than
``still_speed_deg_s`` over the preceding ``speed_window_s``. While idle, the machine remembers
the last still row (the *anchor*, at most ``lookback_s`` back) and the lowest (and, for a
bidirectional drive, highest) drive since then. A rep is detected when the drive moves
``start_rise_deg`` beyond that level; it **starts at the anchor**, so its start is the moment the
athlete left the top, not the detection. It has *come back* once the drive is within
``end_rise_deg`` of its start level or has recovered ``end_recovered_fraction`` of its
excursion; it **ends** at the first still row from then on, or ``end_max_wait_s`` after coming
back if the drive keeps moving (stepping out of the stance). Rows out of the exercise's own
position (``RepParams.position_min_flexion_deg``) forget the anchor: while idle, no rep starts
until the drive has been still in the position again. A rep also ends at a still row
once ``end_still_fraction`` of its excursion is recovered (an athlete who stops higher than
they started, such as one who stepped into a split stance during the first rep). The machine
then idles with that row as its anchor. A rep is kept when its excursion reaches
``min_excursion_deg`` and it lasts ``min_duration_s``.

Every decision depends on the rows alone, never on how they were split into blocks, so the
same rows fed in any blocks give the same reps (the offline analysis is the online one run on
the whole table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coxa.analysis._exercise_params import RepParams
from coxa.analysis._metrics import BoolArray
from coxa.geometry import FloatArray


@dataclass(frozen=True)
class Span:
    """One excursion of the drive found by :class:`Segmenter`.

    Attributes
    ----------
    start, end : int
        Row numbers (counted from the first row ever fed) of the rep's first and last row.
    direction : float
        +1 when the drive rose into the rep, -1 when it fell (bidirectional drives only).
    start_level_deg : float
        Drive level the rep started from, times ``direction``, degrees.
    peak_deg : float
        Largest drive in the rep, times ``direction``, degrees.
    accepted : bool
        Whether the excursion and duration are large enough for a rep.
    """

    start: int
    end: int
    direction: float
    start_level_deg: float
    peak_deg: float
    accepted: bool


class Segmenter:
    """The state machine of the module docstring.

    Parameters
    ----------
    params : RepParams
        Thresholds.
    """

    def __init__(self, params: RepParams) -> None:
        self.params = params
        self._n = 0  # rows fed so far
        # Times of the rows from ``_first`` on (the anchor or the open rep's start onward),
        # microseconds.
        self._first = 0
        self._t_us: list[float] = []
        # Rows of the last speed window (for the speed of the next rows).
        self._hist_t_us = np.empty(0)
        self._hist_drive = np.empty(0)
        # Idle state (``_anchored``: a still row in position since the last row out of it).
        self._anchor = 0
        self._anchored = True
        self._low = math.nan
        self._high = math.nan
        # Open rep (``_direction`` 0 while idle).
        self._direction = 0.0
        self._start = 0
        self._start_level = math.nan
        self._peak = math.nan
        self._back_t_us = math.nan

    @property
    def in_rep(self) -> bool:
        """Whether a rep has been detected and has not ended yet."""
        return self._direction != 0.0

    @property
    def keep_from(self) -> int:
        """First row a future rep can contain (the open rep's start, or the anchor)."""
        return self._start if self.in_rep else self._anchor

    def speeds_deg_s(self, t_us: FloatArray, drive: FloatArray) -> FloatArray:
        """Absolute rate of change of the drive over the preceding ``speed_window_s`` at each
        row of a block, deg/s, ``(m,)`` (NaN where the drive or the window is incomplete).

        Advances the speed history: call once per block, before :meth:`update`.
        """
        window_us = self.params.speed_window_s * 1e6
        all_t = np.concatenate([self._hist_t_us, t_us])
        all_drive = np.concatenate([self._hist_drive, drive])
        back = np.searchsorted(all_t, t_us - window_us, side="left")
        dt_us = t_us - all_t[back]
        with np.errstate(invalid="ignore", divide="ignore"):
            speed = np.abs(drive - all_drive[back]) / dt_us * 1e6
        speed[dt_us < 0.5 * window_us] = np.nan
        if all_t.size:
            keep = all_t >= all_t[-1] - window_us
            self._hist_t_us, self._hist_drive = all_t[keep], all_drive[keep]
        return speed

    def update(
        self, t_us: FloatArray, drive: FloatArray, in_position: BoolArray | None = None
    ) -> list[Span]:
        """Feed a block of rows; return the excursions that ended in it.

        Parameters
        ----------
        t_us : ndarray, shape (m,)
            Strictly increasing row times, microseconds (also across blocks).
        drive : ndarray, shape (m,)
            Drive signal, degrees; NaN where unknown.
        in_position : ndarray of bool, shape (m,), optional
            Rows in the exercise's own position (default: all).

        Raises
        ------
        ValueError
            Times not strictly increasing.
        """
        if t_us.size == 0:
            return []
        previous = self._hist_t_us[-1:] if self._hist_t_us.size else np.empty(0)
        if np.any(np.diff(np.concatenate([previous, t_us])) <= 0):
            raise ValueError("rep segmentation needs strictly increasing row times")
        speed = self.speeds_deg_s(t_us, drive)
        p = self.params
        lookback_us = p.lookback_s * 1e6
        spans: list[Span] = []
        placed = np.ones(t_us.size, dtype=bool) if in_position is None else in_position
        rows = zip(t_us.tolist(), drive.tolist(), speed.tolist(), placed.tolist(), strict=True)
        for t, s, v, here in rows:
            g = self._n
            self._n += 1
            self._t_us.append(t)
            still = v < p.still_speed_deg_s
            if self._direction == 0.0:
                if here:
                    self._idle_row(g, t, s, still, lookback_us)
                else:
                    self._anchored = False
                    self._set_anchor(g, math.nan)
                continue
            x = self._direction * s
            self._peak = max(self._peak, x) if not math.isnan(x) else self._peak
            if math.isnan(self._back_t_us):
                excursion = self._peak - self._start_level
                level = max(
                    self._start_level + p.end_rise_deg,
                    self._peak - p.end_recovered_fraction * excursion,
                )
                if x < level:
                    self._back_t_us = t
            halfway = x < self._peak - p.end_still_fraction * (self._peak - self._start_level)
            if (still and halfway) or (
                not math.isnan(self._back_t_us)
                and (still or t - self._back_t_us >= p.end_max_wait_s * 1e6)
            ):
                span = self._close(g, t)
                spans.append(span)
                self._set_anchor(g, s)
                if not p.bidirectional:
                    # The next rep starts from the top: at most this rep's start level, also
                    # when a radio gap hides the rest of the way up.
                    self._low = float(np.fmin(self._low, span.start_level_deg))
        self._trim()
        return spans

    def _idle_row(self, g: int, t: float, s: float, still: bool, lookback_us: float) -> None:
        p = self.params
        if still:
            self._anchored = True
            self._set_anchor(g, s)
            return
        if not self._anchored:
            self._set_anchor(g, math.nan)
            return
        while self._t_us[self._anchor - self._first] < t - lookback_us:
            self._anchor += 1
        if math.isnan(s):
            return
        self._low = s if math.isnan(self._low) else min(self._low, s)
        self._high = s if math.isnan(self._high) else max(self._high, s)
        if s > self._low + p.start_rise_deg:
            self._open(1.0, self._low, s)
        elif p.bidirectional and s < self._high - p.start_rise_deg:
            self._open(-1.0, -self._high, -s)

    def _set_anchor(self, g: int, s: float) -> None:
        self._anchor = g
        self._low = self._high = s

    def _open(self, direction: float, start_level: float, x: float) -> None:
        self._direction = direction
        self._start = self._anchor
        self._start_level = start_level
        self._peak = x
        self._back_t_us = math.nan

    def _close(self, g: int, t: float) -> Span:
        p = self.params
        duration_s = (t - self._t_us[self._start - self._first]) / 1e6
        excursion = self._peak - self._start_level
        span = Span(
            start=self._start,
            end=g,
            direction=self._direction,
            start_level_deg=self._start_level,
            peak_deg=self._peak,
            accepted=excursion >= p.min_excursion_deg and duration_s >= p.min_duration_s,
        )
        self._direction = 0.0
        return span

    def _trim(self) -> None:
        keep = self.keep_from
        if keep > self._first:
            del self._t_us[: keep - self._first]
            self._first = keep
