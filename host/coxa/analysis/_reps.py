"""Streaming rep segmentation on leg depth, with per-leg peak values in each rep's bottom.

A leg's *depth* is the larger of its knee flexion and hip flexion, so knee-dominant patterns
(squat, split squat, step-up) and hip-dominant ones (hinge) are segmented alike; the deeper
leg's depth drives the segmentation. The *top* level is the lowest depth since the previous rep
ended (a split stance tops out with its knees and hips still bent). A rep starts when the depth
rises ``start_rise_deg`` above the top; it ends on the way up, once the depth is back below both
``top + end_rise_deg`` or the point where ``end_recovered_fraction`` of the excursion is
recovered, whichever is higher (hysteresis). It counts when its excursion reaches
``min_excursion_deg`` and it lasts ``min_duration_s``. Peak hip rotation is taken over the
bottom window (samples within ``bottom_window_deg`` of that leg's peak depth), not from a single
frame, as the domain notes propose (section 7).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from coxa.fusion import AngleTable
from coxa.geometry import FloatArray, Side

_SIDES: tuple[Side, ...] = ("r", "l")


@dataclass(frozen=True)
class RepParams:
    """Thresholds of the rep segmentation, all [assumption] values tuned on the simulator.

    Attributes
    ----------
    start_rise_deg : float
        A rep begins when the depth is this far above the top level, degrees. Default 30.
    end_rise_deg : float
        A rep may end once the depth is back within this of the top level, degrees. Default 20.
    end_recovered_fraction : float
        ... or once this fraction of the rep's excursion is recovered. Default 0.6.
    min_excursion_deg : float
        Reps whose peak depth stays less than this above the top are not counted, degrees.
        Default 40.
    min_duration_s : float
        Shorter excursions (s) are not counted. Default 0.6.
    bottom_window_deg : float
        The bottom window holds the samples within this many degrees of the peak depth of that
        leg. Default 10.
    """

    start_rise_deg: float = 30.0
    end_rise_deg: float = 20.0
    end_recovered_fraction: float = 0.6
    min_excursion_deg: float = 40.0
    min_duration_s: float = 0.6
    bottom_window_deg: float = 10.0


@dataclass(frozen=True)
class LegRep:
    """One leg's values in one rep.

    Attributes
    ----------
    side : {'r', 'l'}
    peak_knee_deg : float
        Largest knee flexion in the rep, degrees (NaN without a shank board).
    peak_hip_flexion_deg : float
        Largest hip flexion in the rep, degrees.
    t_bottom_us : float
        Host time of the leg's peak depth, microseconds.
    peak_hip_rotation_deg : float
        Largest hip (or femoral) internal rotation over the bottom window, degrees.
    """

    side: Side
    peak_knee_deg: float
    peak_hip_flexion_deg: float
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


def _nanmax(values: FloatArray) -> float:
    return float(np.nanmax(values)) if np.any(~np.isnan(values)) else float("nan")


@dataclass
class _Open:
    """Rows of the rep under way, per leg: knee, hip flexion, hip rotation."""

    top_deg: float
    peak_deg: float = -np.inf
    t_us: list[FloatArray] = field(default_factory=list[FloatArray])
    columns: dict[str, list[FloatArray]] = field(default_factory=dict[str, list[FloatArray]])

    def joined(self, name: str) -> FloatArray:
        return np.concatenate(self.columns[name])


def _leg_columns(side: Side) -> tuple[str, str, str]:
    return f"knee_angle_{side}", f"hip_flexion_{side}", f"hip_rotation_{side}"


class RepCounter:
    """Streaming rep counter: feed :class:`~coxa.fusion.AngleTable` rows with :meth:`update`.

    Splitting the same rows into different blocks gives the same reps.

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
        self._top_deg = np.nan

    @property
    def in_rep(self) -> bool:
        """Whether a rep is under way."""
        return self._open is not None

    def update(self, block: AngleTable) -> list[Rep]:
        """Process a block and return the reps completed in it."""
        sides: list[Side] = [s for s in _SIDES if f"hip_flexion_{s}" in block.angles_deg]
        if block.n_rows == 0 or not sides:
            return []
        missing = np.full(block.n_rows, np.nan)
        depths = np.stack(
            [
                np.fmax(
                    block.angles_deg.get(f"knee_angle_{s}", missing),
                    block.angles_deg[f"hip_flexion_{s}"],
                )
                for s in sides
            ]
        )
        deepest = np.full(block.n_rows, np.nan)
        valid = ~np.all(np.isnan(depths), axis=0)
        deepest[valid] = np.nanmax(depths[:, valid], axis=0)
        p = self.params
        completed: list[Rep] = []
        start = 0
        while start < block.n_rows:
            if self._open is None:
                # Idle: follow the top level, wait for the depth to rise above it.
                top = np.fmin.accumulate(np.concatenate([[self._top_deg], deepest[start:]]))[1:]
                above = np.flatnonzero(deepest[start:] > top + p.start_rise_deg)
                if above.size == 0:
                    self._top_deg = float(top[-1])
                    break
                self._open = _Open(top_deg=float(top[above[0]]))
                start += int(above[0])
            opened = self._open
            peak = np.fmax.accumulate(np.concatenate([[opened.peak_deg], deepest[start:]]))[1:]
            end_level = np.maximum(
                opened.top_deg + p.end_rise_deg,
                peak - p.end_recovered_fraction * (peak - opened.top_deg),
            )
            below = np.flatnonzero(deepest[start:] < end_level)
            stop = block.n_rows if below.size == 0 else start + int(below[0]) + 1
            opened.peak_deg = float(peak[stop - start - 1])
            self._collect(block, sides, start, stop)
            if below.size:
                self._top_deg = float(deepest[stop - 1])
                rep = self._close()
                if rep is not None:
                    completed.append(rep)
            start = stop
        return completed

    def _collect(self, block: AngleTable, sides: list[Side], start: int, stop: int) -> None:
        opened = self._open
        if opened is None:
            return
        opened.t_us.append(block.t_us[start:stop])
        missing = np.full(block.n_rows, np.nan)
        for side in sides:
            for name in _leg_columns(side):
                values = block.angles_deg.get(name, missing)
                opened.columns.setdefault(name, []).append(values[start:stop])

    def _close(self) -> Rep | None:
        opened = self._open
        self._open = None
        if opened is None or not opened.t_us:
            return None
        t_us = np.concatenate(opened.t_us)
        legs: dict[Side, LegRep] = {}
        for side in _SIDES:
            knee_name, flexion_name, rotation_name = _leg_columns(side)
            if flexion_name not in opened.columns:
                continue
            knee = opened.joined(knee_name)
            flexion = opened.joined(flexion_name)
            depth = np.fmax(knee, flexion)
            if np.all(np.isnan(depth)):
                continue
            i_peak = int(np.nanargmax(depth))
            bottom = depth >= depth[i_peak] - self.params.bottom_window_deg
            legs[side] = LegRep(
                side=side,
                peak_knee_deg=_nanmax(knee),
                peak_hip_flexion_deg=_nanmax(flexion),
                t_bottom_us=float(t_us[i_peak]),
                peak_hip_rotation_deg=_nanmax(opened.joined(rotation_name)[bottom]),
            )
        deep_enough = opened.peak_deg - opened.top_deg >= self.params.min_excursion_deg
        long_enough = (t_us[-1] - t_us[0]) / 1e6 >= self.params.min_duration_s
        if not (deep_enough and long_enough):
            self.rejected += 1
            return None
        rep = Rep(len(self.reps) + 1, float(t_us[0]), float(t_us[-1]), legs)
        self.reps.append(rep)
        return rep
