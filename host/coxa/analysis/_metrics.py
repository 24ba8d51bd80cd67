"""Per-leg values of one rep, from the rep's rows and its bottom window.

The *bottom window* of a leg is the set of the rep's rows where its bottom signal (knee
flexion, hip flexion or the drive, per exercise: :class:`~coxa.analysis.RepParams`) is within
``bottom_window_deg`` of that signal's peak in the rep, so one noisy frame cannot set a peak
value. Definitions, units and signs of every value: :class:`LegRep` and ``docs/analysis.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from coxa.geometry import FloatArray, Side

BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class LegRep:
    """One leg's values in one rep; angles in degrees, times in microseconds (host clock),
    durations in seconds, NaN when the needed columns are missing.

    Attributes
    ----------
    side : {'r', 'l'}
    lead : bool
        The working leg of the rep (front leg of a split squat, stance leg of a step-up or
        hinge, the leg rotating internally in a 90/90 transition); both legs of a bilateral
        squat.
    t_start_us, t_bottom_us, t_end_us : float
        Rep start, middle of the leg's bottom window, rep end.
    peak_hip_rotation_deg : float
        Mean hip internal rotation (+IR) over the bottom window. Femoral rotation relative to
        the room when the rep's ``hip_reference`` is ``'room'``.
    hip_rotation_excursion_deg : float
        Largest minus smallest hip rotation within the rep (>= 0).
    hip_rotation_start_deg : float
        Hip rotation at the rep start (first finite value within ``start_window_s`` of it,
        :class:`~coxa.analysis.RepParams`).
    peak_knee_deg : float
        Largest knee flexion in the rep.
    peak_hip_flexion_deg : float
        Largest hip flexion in the rep.
    hip_flexion_bottom_deg : float
        Mean hip flexion over the bottom window.
    shank_inclination_start_deg, shank_inclination_bottom_deg : float
        Forward inclination of the shank from vertical in the sagittal plane of the facing
        direction (world X), positive when the knee is ahead of the ankle: at the rep start,
        and the mean over the bottom window.
    knee_valgus_proxy_deg : float
        Mean of ``-knee_adduction`` over the bottom window: a frontal-plane proxy of knee
        valgus (positive = knee abducted), not a true valgus angle.
    pelvis_rotation_change_deg, pelvis_obliquity_change_deg, pelvis_tilt_change_deg : float
        Bottom-window mean minus rep-start value of ``pelvis_rotation``, ``pelvis_list``,
        ``pelvis_tilt`` (OpenSim signs); NaN without a pelvis board.
    eccentric_s : float
        Rep start to the first bottom-window row.
    concentric_s : float
        Last bottom-window row to the rep end.
    """

    side: Side
    lead: bool
    t_start_us: float
    t_bottom_us: float
    t_end_us: float
    peak_hip_rotation_deg: float
    hip_rotation_excursion_deg: float
    hip_rotation_start_deg: float
    peak_knee_deg: float
    peak_hip_flexion_deg: float
    hip_flexion_bottom_deg: float
    shank_inclination_start_deg: float
    shank_inclination_bottom_deg: float
    knee_valgus_proxy_deg: float
    pelvis_rotation_change_deg: float
    pelvis_obliquity_change_deg: float
    pelvis_tilt_change_deg: float
    eccentric_s: float
    concentric_s: float


def nanmax(values: FloatArray) -> float:
    """Largest finite value, NaN if there is none."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else math.nan


def nanmin(values: FloatArray) -> float:
    """Smallest finite value, NaN if there is none."""
    finite = values[np.isfinite(values)]
    return float(finite.min()) if finite.size else math.nan


def nanmean(values: FloatArray) -> float:
    """Mean of the finite values, NaN if there is none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def first_finite(values: FloatArray) -> float:
    """First finite value, NaN if there is none."""
    finite = values[np.isfinite(values)]
    return float(finite[0]) if finite.size else math.nan


def bottom_window(signal_deg: FloatArray, window_deg: float) -> BoolArray:
    """Rows whose signal is within ``window_deg`` of its finite peak, ``(n,)`` bool (all False
    when the signal has no finite value)."""
    peak = nanmax(signal_deg)
    if math.isnan(peak):
        return np.zeros(signal_deg.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        return signal_deg >= peak - window_deg


def shank_inclination_deg(quat_world_tibia_wxyz: FloatArray) -> FloatArray:
    """Forward inclination of the shank from vertical, degrees, ``(n,)``.

    The tibia's long (Y) axis, ankle to knee, projected onto the world X-Z plane (X the
    athlete's facing, Z up): ``atan2(y_x, y_z)``, positive when the knee is ahead of the ankle.

    Parameters
    ----------
    quat_world_tibia_wxyz : ndarray, shape (n, 4)
        Tibia orientation in the world, ``wxyz``.
    """
    q = quat_world_tibia_wxyz
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    # Second column of the rotation matrix: the segment Y axis in world coordinates.
    axis_x = 2.0 * (x * y - w * z)
    axis_z = 2.0 * (y * z + w * x)
    return np.degrees(np.arctan2(axis_x, axis_z))


def leg_columns(side: Side) -> dict[str, str]:
    """Row columns a leg's values are computed from, by role."""
    return {
        "knee": f"knee_angle_{side}",
        "flexion": f"hip_flexion_{side}",
        "rotation": f"hip_rotation_{side}",
        "knee_adduction": f"knee_adduction_{side}",
        "shank": f"shank_inclination_{side}",
    }


#: Pelvis columns (OpenSim names) and the LegRep value of each.
PELVIS_COLUMNS: tuple[str, ...] = ("pelvis_rotation", "pelvis_list", "pelvis_tilt")


def leg_rep(
    side: Side,
    lead: bool,
    t_us: FloatArray,
    rows: Mapping[str, FloatArray],
    bottom: BoolArray,
    start_window_s: float,
) -> LegRep:
    """Values of one leg in one rep.

    Parameters
    ----------
    side : {'r', 'l'}
    lead : bool
        Whether the leg is the rep's lead leg.
    t_us : ndarray, shape (n,)
        Times of the rep's rows, microseconds.
    rows : mapping of str to ndarray, shape (n,)
        The rep's rows: the columns of :func:`leg_columns` and :data:`PELVIS_COLUMNS`.
    bottom : ndarray of bool, shape (n,)
        The leg's bottom window.
    start_window_s : float
        Start values are the first finite value within this of the rep start, seconds.
    """
    cols = {role: rows[name] for role, name in leg_columns(side).items()}
    # Start values: the first finite value within ``start_window_s`` of the start (and before
    # the bottom window); NaN when the radio lost all of them.
    before = t_us <= t_us[0] + start_window_s * 1e6
    if bottom.any():
        i_first, i_last = np.flatnonzero(bottom)[[0, -1]]
        t_first, t_last = float(t_us[i_first]), float(t_us[i_last])
        before[int(i_first) + 1 :] = False
    else:
        t_first = t_last = math.nan
    t_start, t_end = float(t_us[0]), float(t_us[-1])
    rotation = cols["rotation"]
    changes = [
        nanmean(rows[name][bottom]) - first_finite(rows[name][before]) for name in PELVIS_COLUMNS
    ]
    return LegRep(
        side=side,
        lead=lead,
        t_start_us=t_start,
        t_bottom_us=0.5 * (t_first + t_last),
        t_end_us=t_end,
        peak_hip_rotation_deg=nanmean(rotation[bottom]),
        hip_rotation_excursion_deg=nanmax(rotation) - nanmin(rotation),
        hip_rotation_start_deg=first_finite(rotation[before]),
        peak_knee_deg=nanmax(cols["knee"]),
        peak_hip_flexion_deg=nanmax(cols["flexion"]),
        hip_flexion_bottom_deg=nanmean(cols["flexion"][bottom]),
        shank_inclination_start_deg=first_finite(cols["shank"][before]),
        shank_inclination_bottom_deg=nanmean(cols["shank"][bottom]),
        knee_valgus_proxy_deg=-nanmean(cols["knee_adduction"][bottom]),
        pelvis_rotation_change_deg=changes[0],
        pelvis_obliquity_change_deg=changes[1],
        pelvis_tilt_change_deg=changes[2],
        eccentric_s=(t_first - t_start) / 1e6,
        concentric_s=(t_end - t_last) / 1e6,
    )
