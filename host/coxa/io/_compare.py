"""Agreement of coxa's joint angles with a reference angle file (e.g. OpenSense IK output)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from coxa.geometry import FloatArray
from coxa.io._mot import AngleFile


@dataclass(frozen=True)
class AngleAgreement:
    """How one of our angles matches the reference over the samples both have.

    Attributes
    ----------
    pearson_r : float
        Pearson correlation of ours with the reference; NaN with fewer than 2 samples or a
        constant series.
    rms_deg : float
        Root mean square of ``ours - reference - offset_deg``, degrees (the shape difference).
    offset_deg : float
        Mean of ``ours - reference``, degrees (a constant offset, e.g. from calibration).
    n_samples : int
        Reference samples compared: inside our time span and finite in both series.
    """

    pearson_r: float
    rms_deg: float
    offset_deg: float
    n_samples: int


def compare_angles(
    reference: AngleFile,
    t_s: ArrayLike,
    angles_deg: Mapping[str, ArrayLike],
    names: Sequence[str],
) -> dict[str, AngleAgreement]:
    """Compare our angles with a reference file, angle by angle.

    Ours are linearly interpolated onto the reference times inside our time span (a reference
    time between a finite and a NaN sample of ours gets NaN); reference samples outside that span,
    and pairs where either value is NaN, are left out. A reference with ``in_degrees`` False is
    converted to degrees. Angles are compared as they are (no unwrapping across +/-180 deg).

    Parameters
    ----------
    reference : AngleFile
        The reference (e.g. :func:`read_mot` of an OpenSense IK result).
    t_s : array_like, shape (n,)
        Our sample times, finite and strictly increasing, seconds, on the reference's clock.
    angles_deg : mapping of str to array_like, shape (n,)
        Our angles, degrees, NaN where unknown.
    names : sequence of str
        Angles to compare; each must be in both ``reference.columns`` and ``angles_deg``.

    Returns
    -------
    dict of str to AngleAgreement
        In the order of ``names``.

    Raises
    ------
    ValueError
        On a name missing from either side, bad shapes, or times not strictly increasing.
    """
    times = np.asarray(t_s, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"t_s must be a non-empty 1-D array, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0.0):
        raise ValueError("t_s must be finite and strictly increasing")
    out: dict[str, AngleAgreement] = {}
    for name in names:
        if name not in reference.columns:
            raise ValueError(f"{name!r} is not a reference column ({', '.join(reference.columns)})")
        if name not in angles_deg:
            raise ValueError(f"{name!r} is not in angles_deg ({', '.join(angles_deg)})")
        ours = np.asarray(angles_deg[name], dtype=np.float64)
        if ours.shape != times.shape:
            raise ValueError(f"{name!r}: shape {ours.shape}, expected {times.shape}")
        ref = reference.columns[name]
        ref_deg = ref if reference.in_degrees else np.degrees(ref)
        out[name] = _agreement(_interpolate(times, ours, reference.t_s), ref_deg)
    return out


def _interpolate(t_s: FloatArray, values: FloatArray, t_new_s: FloatArray) -> FloatArray:
    """Linear interpolation; NaN outside ``t_s`` and next to a NaN neighbour (unless exact)."""
    out = np.full(t_new_s.shape, np.nan)
    inside = (t_new_s >= t_s[0]) & (t_new_s <= t_s[-1])
    if t_s.size == 1:
        out[inside] = values[0]
        return out
    t = t_new_s[inside]
    i = np.clip(np.searchsorted(t_s, t, side="right") - 1, 0, t_s.size - 2)
    fraction = (t - t_s[i]) / (t_s[i + 1] - t_s[i])
    v0 = values[i]
    v1 = values[i + 1]
    with np.errstate(invalid="ignore"):
        blended = v0 + fraction * (v1 - v0)
    out[inside] = np.where(fraction == 0.0, v0, np.where(fraction == 1.0, v1, blended))
    return out


def _agreement(ours: FloatArray, reference: FloatArray) -> AngleAgreement:
    both = np.isfinite(ours) & np.isfinite(reference)
    n = int(np.count_nonzero(both))
    if n == 0:
        return AngleAgreement(math.nan, math.nan, math.nan, 0)
    a = ours[both]
    b = reference[both]
    difference = a - b
    offset_deg = float(np.mean(difference))
    rms_deg = float(np.sqrt(np.mean((difference - offset_deg) ** 2)))
    a_centred = a - np.mean(a)
    b_centred = b - np.mean(b)
    scale = float(np.sqrt(np.sum(a_centred**2) * np.sum(b_centred**2)))
    pearson_r = (
        min(1.0, max(-1.0, float(np.sum(a_centred * b_centred)) / scale))
        if scale > 0.0
        else math.nan
    )
    return AngleAgreement(pearson_r, rms_deg, offset_deg, n)
