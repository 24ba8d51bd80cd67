"""The simulator's column arithmetic is bit-identical to coxa.geometry's (it is only faster)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coxa.geometry import (
    quat_conjugate,
    quat_from_axis_angle,
    quat_from_cardan_zxy,
    quat_multiply,
    quat_rotate,
)
from coxa.sim import _columns as cols

# Finite values with signed zeros and exact zeros in the mix (the rests produce many).
_values = st.one_of(
    st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, -1.0]),
)


def _arrays(width: int) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float64, st.tuples(st.integers(1, 40), st.just(width)), elements=_values)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal bit for bit (signed zeros included)."""
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@settings(max_examples=60)
@given(_arrays(8))
def test_multiply_and_conjugate_match_geometry(pq: np.ndarray) -> None:
    p, q = pq[:, :4], pq[:, 4:]
    n = p.shape[0]
    got = cols.join(cols.multiply(cols.quat_cols(p), cols.quat_cols(q)), n)
    _same(got, quat_multiply(p, q))
    _same(cols.join(cols.conjugate(cols.quat_cols(q)), n), quat_conjugate(q))
    # A constant quaternion (one row) broadcasts like a (4,) array does.
    _same(
        cols.join(cols.multiply(cols.quat_cols(p[0]), cols.quat_cols(q)), n), quat_multiply(p[0], q)
    )


@settings(max_examples=60)
@given(
    _arrays(3),
    arrays(np.float64, 3, elements=st.floats(-2.0, 2.0)).filter(
        lambda a: float(np.linalg.norm(a)) > 1e-3
    ),
)
def test_axis_angle_and_cardan_match_geometry(angles: np.ndarray, axis: np.ndarray) -> None:
    n = angles.shape[0]
    got = cols.join(cols.from_axis_angle(axis, angles[:, 0]), n)
    _same(got, quat_from_axis_angle(axis, angles[:, 0]))
    cardan = cols.from_cardan_zxy(angles[:, 0], angles[:, 1], angles[:, 2])
    _same(cols.join(cardan, n), quat_from_cardan_zxy(angles))


@settings(max_examples=60)
@given(_arrays(7))
def test_rotate_matches_geometry(qv: np.ndarray) -> None:
    q, v = qv[:, :4], qv[:, 4:]
    n = q.shape[0]
    got = cols.join(cols.rotate(cols.quat_cols(q), cols.vec_cols(v)), n)
    _same(got, quat_rotate(q, v))
    constant = cols.join(cols.rotate(cols.quat_cols(q), cols.vec_cols(v[0])), n)
    _same(constant, quat_rotate(q, v[0]))


def test_zero_axis_is_rejected() -> None:
    with pytest.raises(ValueError, match="axis"):
        cols.from_axis_angle(np.zeros(3), np.zeros(2))
