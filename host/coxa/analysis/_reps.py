"""Streaming rep segmentation on knee flexion, with per-leg peak values in each rep's bottom.

A rep starts when the deeper knee's flexion rises above ``start_knee_deg`` and ends when it
falls back below ``end_knee_deg`` (hysteresis). It counts when its peak knee flexion reaches
``min_peak_knee_deg`` and it lasts ``min_duration_s``. Peak hip rotation is taken over the
bottom window (samples within ``bottom_window_deg`` of that leg's peak knee flexion), not from
a single frame, as the domain notes propose (section 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coxa.geometry import FloatArray, Side
from coxa.pipeline import AngleBlock

_SIDES: tuple[Side, ...] = ("r", "l")


@dataclass(frozen=True)
class RepParams:
    """Thresholds of the rep segmentation, all [assumption] values tuned on the simulator.

    Attributes
    ----------
    start_knee_deg : float
        Knee flexion (deg) above which a rep begins. Default 30.
    end_knee_deg : float
        Knee flexion (deg) below which a rep ends. Default 20.
    min_peak_knee_deg : float
        Reps whose peak knee flexion stays below this (deg) are not counted. Default 45.
    min_duration_s : float
        Shorter excursions (s) are not counted. Default 0.6.
    bottom_window_deg : float
        The bottom window holds the samples within this many degrees of the peak knee
        flexion of that leg. Default 10.
    """

    start_knee_deg: float = 30.0
    end_knee_deg: float = 20.0
    min_peak_knee_deg: float = 45.0
    min_duration_s: float = 0.6
    bottom_window_deg: float = 10.0


@dataclass(frozen=True)
class LegRep:
    """One leg's values in one rep.

    Attributes
    ----------
    side : {'r', 'l'}
    peak_knee_deg : float
        Largest knee flexion in the rep, degrees.
    t_bottom_us : float
        Host time of the peak knee flexion, microseconds.
    peak_hip_rotation_deg : float
        Largest hip (or femoral) internal rotation over the bottom window, degrees; NaN if the
        hip angle was unavailable.
    """

    side: Side
    peak_knee_deg: float
    t_bottom_us: float
    peak_hip_rotation_deg: float


@dataclass(frozen=True)
class Rep:
    """A completed rep.

    Attributes
    ----------
    index : int
        1-based rep number in the set.
    t_start_us, t_end_us : float
        Host-clock start and end, microseconds.
    legs : dict of str to LegRep
        Values per instrumented leg.
    """

    index: int
    t_start_us: float
    t_end_us: float
    legs: dict[Side, LegRep]

    @property
    def duration_s(self) -> float:
        """Rep duration in seconds."""
        return (self.t_end_us - self.t_start_us) / 1e6


@dataclass
class _Open:
    t_us: list[FloatArray] = field(default_factory=list[FloatArray])
    knee: dict[Side, list[FloatArray]] = field(default_factory=dict[Side, list[FloatArray]])
    hip: dict[Side, list[FloatArray]] = field(default_factory=dict[Side, list[FloatArray]])


class RepCounter:
    """Streaming rep counter: feed :class:`~coxa.pipeline.AngleBlock` rows with :meth:`update`.

    Parameters
    ----------
    params : RepParams, optional
        Thresholds.
    """

    def __init__(self, params: RepParams | None = None) -> None:
        self.params = params or RepParams()
        self.reps: list[Rep] = []
        self.rejected = 0
        self._open: _Open | None = None

    @property
    def in_rep(self) -> bool:
        """Whether a rep is under way."""
        return self._open is not None

    def update(self, block: AngleBlock) -> list[Rep]:
        """Process a block and return the reps completed in it."""
        sides: list[Side] = [s for s in _SIDES if f"knee_angle_{s}" in block.angles_deg]
        if block.n_rows == 0 or not sides:
            return []
        knees = np.stack([block.angles_deg[f"knee_angle_{s}"] for s in sides])
        deepest = np.full(block.n_rows, -np.inf)
        valid = ~np.all(np.isnan(knees), axis=0)
        deepest[valid] = np.nanmax(knees[:, valid], axis=0)
        completed: list[Rep] = []
        start = 0
        while start < block.n_rows:
            if self._open is None:
                above = np.flatnonzero(deepest[start:] > self.params.start_knee_deg)
                if above.size == 0:
                    break
                start += int(above[0])
                self._open = _Open()
            below = np.flatnonzero(deepest[start:] < self.params.end_knee_deg)
            stop = block.n_rows if below.size == 0 else start + int(below[0]) + 1
            self._collect(block, sides, start, stop)
            if below.size:
                rep = self._close()
                if rep is not None:
                    completed.append(rep)
            start = stop
        return completed

    def _collect(self, block: AngleBlock, sides: list[Side], start: int, stop: int) -> None:
        opened = self._open
        if opened is None:
            return
        opened.t_us.append(block.t_us[start:stop])
        missing = np.full(block.n_rows, np.nan)
        for side in sides:
            knee = block.angles_deg[f"knee_angle_{side}"]
            hip = block.angles_deg.get(f"hip_rotation_{side}", missing)
            opened.knee.setdefault(side, []).append(knee[start:stop])
            opened.hip.setdefault(side, []).append(hip[start:stop])

    def _close(self) -> Rep | None:
        opened = self._open
        self._open = None
        if opened is None or not opened.t_us:
            return None
        t_us = np.concatenate(opened.t_us)
        legs: dict[Side, LegRep] = {}
        for side, knee_parts in opened.knee.items():
            knee = np.concatenate(knee_parts)
            hip = np.concatenate(opened.hip[side])
            if np.all(np.isnan(knee)):
                continue
            i_peak = int(np.nanargmax(knee))
            peak = float(knee[i_peak])
            bottom = knee >= peak - self.params.bottom_window_deg
            hip_bottom = hip[bottom]
            peak_hip = float(np.nanmax(hip_bottom)) if np.any(~np.isnan(hip_bottom)) else np.nan
            legs[side] = LegRep(side, peak, float(t_us[i_peak]), peak_hip)
        deepest = max((leg.peak_knee_deg for leg in legs.values()), default=-np.inf)
        duration_s = (t_us[-1] - t_us[0]) / 1e6
        if deepest < self.params.min_peak_knee_deg or duration_s < self.params.min_duration_s:
            self.rejected += 1
            return None
        rep = Rep(len(self.reps) + 1, float(t_us[0]), float(t_us[-1]), legs)
        self.reps.append(rep)
        return rep
