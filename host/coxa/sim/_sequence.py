"""Composite sessions: several exercise segments in one recording, with smooth posture
transitions between them (e.g. stand still, three squats to calibrate, lie down, prone hip IR).

Each segment is an ordinary :class:`coxa.sim.Motion` on its own timeline; the session places
them one after the other with a transition of ``transition_s`` between two segments. During a
transition the athlete moves from the last pose of one segment to the first pose of the next:
the pelvis orientation by spherical linear interpolation (SLERP), the hip angles and the knee
flexion and adduction of both legs linearly (the knee's axial rotation follows its flexion by
the screw-home law, as within a segment), and the pelvis origin in a straight line, all with
the same minimum-jerk fraction, so the motion is C2 at both ends (every segment starts and
ends still). Thighs and shanks follow by composition ``pelvis ⊗ hip ⊗ knee`` and forward
kinematics from the pelvis origin, as within a segment, so the transition is a rigid-body
motion of the same skeleton (the pelvis angles relative to each segment's base posture are
blended as numbers and mean little while the base posture changes; they are truth for the
segments only).

:func:`simulate_session` turns a session into one recording of the same boards (same ids, IMU
errors, clocks and radio links) over its whole time, as :func:`coxa.sim.simulate_rig` does for
one segment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from coxa.body import SEGMENTS, SegmentName
from coxa.geometry import (
    FloatArray,
    Side,
    quat_hip_from_angles_deg,
    quat_knee_from_angles_deg,
    quat_to_rotvec,
)
from coxa.sim import _columns as cols
from coxa.sim._board import BoardOutput, BoardSpec
from coxa.sim._columns import QuatCols, VecCols
from coxa.sim._imu import ImuRecording
from coxa.sim._motion import Motion, MotionParams, MotionState, RepTruth, TruthColumns
from coxa.sim._profiles import minimum_jerk, screw_home_deg
from coxa.sim._rig import RigPacket, RigParams, record_boards
from coxa.sim._skeleton import leg_links_m

_log = logging.getLogger(__name__)

_SIDES: tuple[Side, ...] = ("r", "l")


@dataclass(frozen=True)
class SessionParams:
    """A composite session: exercise segments one after the other.

    Attributes
    ----------
    segments : tuple of MotionParams
        The segments in time order (at least one). All must share one ``body``. Each keeps
        its own rests: e.g. a calibration segment ``MotionParams(exercise='squat', reps=3)``
        starts with its 3 s standing rest, and a clinical test starts in position with its
        own ``rest_before_s``.
    transition_s : float or tuple of float
        Duration of the move from one segment's last pose into the next one's first pose,
        seconds, > 0: one for every transition, or one per transition (``len(segments) - 1``
        values). Default 4 [assumption: lying down on a table or sitting down on its edge
        deliberately].
    """

    segments: tuple[MotionParams, ...]
    transition_s: float | tuple[float, ...] = 4.0

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a session needs at least one segment")
        if (
            isinstance(self.transition_s, tuple)
            and len(self.transition_s) != len(self.segments) - 1
        ):
            raise ValueError(
                f"need one transition_s per transition ({len(self.segments) - 1}), got "
                f"{len(self.transition_s)}"
            )
        if not all(t > 0.0 for t in self.transitions_s):
            raise ValueError(f"transition_s must be > 0, got {self.transition_s}")
        if any(s.body != self.segments[0].body for s in self.segments[1:]):
            raise ValueError("all segments of a session must share one body (Anthropometry)")

    @property
    def transitions_s(self) -> tuple[float, ...]:
        """Duration of each transition, seconds, ``len(segments) - 1`` values."""
        if isinstance(self.transition_s, tuple):
            return self.transition_s
        return (self.transition_s,) * (len(self.segments) - 1)


class SessionMotion:
    """Ground truth of a composite session (the interface of :class:`coxa.sim.Motion` that
    the IMU synthesis uses: ``duration_s``, :meth:`evaluate`, :meth:`evaluate_columns`).

    Parameters
    ----------
    params : SessionParams

    Attributes
    ----------
    params : SessionParams
    motions : tuple of Motion
        One per segment, each on its own timeline starting at 0.
    start_t_s, end_t_s : ndarray, shape (n_segments,)
        Session times where each segment starts and ends, seconds.
    """

    def __init__(self, params: SessionParams) -> None:
        self.params = params
        self.motions = tuple(Motion(p) for p in params.segments)
        durations = np.array([m.duration_s for m in self.motions])
        gaps = np.concatenate([[0.0], params.transitions_s])
        self.start_t_s: FloatArray = np.cumsum(gaps + np.concatenate([[0.0], durations[:-1]]))
        self.end_t_s: FloatArray = self.start_t_s + durations
        reps = [int(m.rep_truth.start_t_s.size) for m in self.motions]
        self._rep_offset = np.concatenate([[0], np.cumsum(reps)[:-1]]).astype(np.int64)
        _log.debug(
            "session of %d segments (%s), %.2f s",
            len(self.motions),
            ", ".join(p.exercise for p in params.segments),
            self.duration_s,
        )

    @property
    def duration_s(self) -> float:
        """Length of the session, seconds."""
        return float(self.end_t_s[-1])

    @cached_property
    def rep_truths(self) -> tuple[RepTruth, ...]:
        """Per-rep truth of each segment, its times in session time (seconds)."""
        out: list[RepTruth] = []
        for motion, start in zip(self.motions, self.start_t_s.tolist(), strict=True):
            truth = motion.rep_truth
            out.append(
                replace(
                    truth,
                    start_t_s=truth.start_t_s + start,
                    bottom_t_s=truth.bottom_t_s + start,
                    end_t_s=truth.end_t_s + start,
                )
            )
        return tuple(out)

    def segment_of(self, t_s: ArrayLike) -> np.ndarray:
        """Index of the segment each time falls in, -1 in a transition, ``(N,)`` int64
        (before 0 the first segment, after the end the last)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        out = np.full(t.shape, -1, dtype=np.int64)
        last = len(self.motions) - 1
        for i in range(len(self.motions)):
            lo = -np.inf if i == 0 else self.start_t_s[i]
            hi = np.inf if i == last else self.end_t_s[i]
            out[(t >= lo) & (t <= hi)] = i
        return out

    def evaluate(self, t_s: ArrayLike) -> MotionState:
        """Ground truth at arbitrary session times (see :meth:`coxa.sim.Motion.evaluate`);
        ``rep_index`` numbers the reps through the session, -1 between reps and in the
        transitions."""
        return self.evaluate_columns(t_s).state()

    def evaluate_columns(self, t_s: ArrayLike) -> TruthColumns:
        """:meth:`evaluate` as component columns."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if t.ndim != 1:
            raise ValueError(f"t_s must be one-dimensional, got shape {t.shape}")
        out = _Columns(t)
        segment = self.segment_of(t)
        for i, motion in enumerate(self.motions):
            rows = segment == i
            if np.any(rows):
                part = motion.evaluate_columns(t[rows] - self.start_t_s[i])
                rep = np.where(part.rep_index >= 0, part.rep_index + self._rep_offset[i], -1)
                out.put(rows, replace(part, rep_index=rep))
        for i in range(len(self.motions) - 1):
            rows = (t > self.end_t_s[i]) & (t < self.start_t_s[i + 1])
            if np.any(rows):
                fraction = (t[rows] - self.end_t_s[i]) / self.params.transitions_s[i]
                out.put(rows, self._transition(i, t[rows], minimum_jerk(fraction)))
        return out.columns()

    def _transition_knee_deg(self, i: int, blended: VecCols, w: FloatArray) -> VecCols:
        """Knee angles in transition ``i``: flexion and adduction ``blended``, the axial
        rotation coupled to the flexion by the screw-home law of the segment before
        (weight ``1 - w``) and after (``w``), as within a segment, so the knee stays a hinge
        beyond the screw-home range."""
        flexion, adduction, _ = blended
        before, after = self.motions[i].params, self.motions[i + 1].params
        rotation = (1.0 - w) * screw_home_deg(
            flexion, before.screw_home_deg, before.screw_home_range_deg
        ) + w * screw_home_deg(flexion, after.screw_home_deg, after.screw_home_range_deg)
        return flexion, adduction, rotation

    def _transition(self, i: int, t_s: FloatArray, w: FloatArray) -> TruthColumns:
        """Truth of transition ``i`` (from segment ``i`` to ``i + 1``) at fractions ``w``."""
        a = self._end_pose(i)
        b = self._start_pose(i + 1)
        body = self.params.segments[0].body
        q_a = _quat_row(a.quats["pelvis"])
        turn = quat_to_rotvec(_quat_product(_quat_conj(q_a), _quat_row(b.quats["pelvis"])))
        angle = float(np.linalg.norm(turn))
        q_pelvis: QuatCols
        if angle > 1e-12:
            q_pelvis = cols.multiply(cols.quat_cols(q_a), cols.from_axis_angle(turn, w * angle))
        else:
            q_pelvis = cols.quat_cols(np.broadcast_to(q_a, (w.size, 4)))
        pelvis_m = _blend(a.origins["pelvis"], b.origins["pelvis"], w)
        quats: dict[SegmentName, QuatCols] = {"pelvis": q_pelvis}
        origins: dict[SegmentName, VecCols] = {"pelvis": pelvis_m}
        ankles: dict[Side, VecCols] = {}
        hip_deg: dict[Side, VecCols] = {}
        knee_deg: dict[Side, VecCols] = {}
        for side in _SIDES:
            hip = _blend(a.hip_deg[side], b.hip_deg[side], w)
            knee = self._transition_knee_deg(i, _blend(a.knee_deg[side], b.knee_deg[side], w), w)
            q_hip = cols.quat_cols(quat_hip_from_angles_deg(np.column_stack(hip), side))
            q_knee = cols.quat_cols(quat_knee_from_angles_deg(np.column_stack(knee), side))
            q_femur = cols.multiply(q_pelvis, q_hip)
            q_tibia = cols.multiply(q_femur, q_knee)
            links = leg_links_m(body, side, q_pelvis, q_femur, q_tibia)
            hip_m, knee_m, ankle_m = links.positions_m(pelvis_m)
            femur: SegmentName = "femur_r" if side == "r" else "femur_l"
            tibia: SegmentName = "tibia_r" if side == "r" else "tibia_l"
            quats[femur], quats[tibia] = q_femur, q_tibia
            origins[femur], origins[tibia], ankles[side] = hip_m, knee_m, ankle_m
            hip_deg[side], knee_deg[side] = hip, knee
        return TruthColumns(
            t_s=t_s,
            progress=np.zeros_like(t_s),
            rep_index=np.full(t_s.shape, -1, dtype=np.int64),
            pelvis_deg=_blend(a.pelvis_deg, b.pelvis_deg, w),
            quats=quats,
            origins=origins,
            ankles=ankles,
            hip_deg=hip_deg,
            knee_deg=knee_deg,
        )

    def _end_pose(self, i: int) -> TruthColumns:
        return self.motions[i].evaluate_columns(np.array([self.motions[i].duration_s]))

    def _start_pose(self, i: int) -> TruthColumns:
        return self.motions[i].evaluate_columns(np.zeros(1))


def _quat_row(q: QuatCols) -> FloatArray:
    return np.array([float(np.ravel(c)[0]) for c in q])


def _quat_conj(q: FloatArray) -> FloatArray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _quat_product(p: FloatArray, q: FloatArray) -> FloatArray:
    w, x, y, z = cols.multiply(cols.quat_cols(p), cols.quat_cols(q))
    return np.array([float(w[0]), float(x[0]), float(y[0]), float(z[0])])


def _blend(a: VecCols, b: VecCols, w: FloatArray) -> VecCols:
    """``a + w (b - a)`` per column, ``a`` and ``b`` one row each."""
    x0, y0, z0 = (float(np.ravel(c)[0]) for c in a)
    x1, y1, z1 = (float(np.ravel(c)[0]) for c in b)
    return (x0 + w * (x1 - x0), y0 + w * (y1 - y0), z0 + w * (z1 - z0))


class _Columns:
    """Preallocated truth columns filled row subset by row subset."""

    def __init__(self, t_s: FloatArray) -> None:
        n = t_s.size
        self.t_s = t_s
        self.progress = np.zeros(n)
        self.rep_index = np.full(n, -1, dtype=np.int64)
        self.pelvis_deg = _empty(3, n)
        self.quats: dict[SegmentName, tuple[FloatArray, ...]] = {s: _empty(4, n) for s in SEGMENTS}
        self.origins: dict[SegmentName, tuple[FloatArray, ...]] = {
            s: _empty(3, n) for s in SEGMENTS
        }
        self.ankles: dict[Side, tuple[FloatArray, ...]] = {s: _empty(3, n) for s in _SIDES}
        self.hip_deg: dict[Side, tuple[FloatArray, ...]] = {s: _empty(3, n) for s in _SIDES}
        self.knee_deg: dict[Side, tuple[FloatArray, ...]] = {s: _empty(3, n) for s in _SIDES}

    def put(self, rows: np.ndarray, part: TruthColumns) -> None:
        k = int(np.count_nonzero(rows))
        self.progress[rows] = np.broadcast_to(part.progress, (k,))
        self.rep_index[rows] = np.broadcast_to(part.rep_index, (k,))
        pairs: list[tuple[tuple[FloatArray, ...], tuple[FloatArray, ...]]] = [
            (self.pelvis_deg, part.pelvis_deg)
        ]
        pairs += [(self.quats[s], part.quats[s]) for s in SEGMENTS]
        pairs += [(self.origins[s], part.origins[s]) for s in SEGMENTS]
        pairs += [(self.ankles[s], part.ankles[s]) for s in _SIDES]
        pairs += [(self.hip_deg[s], part.hip_deg[s]) for s in _SIDES]
        pairs += [(self.knee_deg[s], part.knee_deg[s]) for s in _SIDES]
        for target, source in pairs:
            for column, values in zip(target, source, strict=True):
                column[rows] = np.broadcast_to(values, (k,))

    def columns(self) -> TruthColumns:
        def q(c: tuple[FloatArray, ...]) -> QuatCols:
            return (c[0], c[1], c[2], c[3])

        def v(c: tuple[FloatArray, ...]) -> VecCols:
            return (c[0], c[1], c[2])

        return TruthColumns(
            t_s=self.t_s,
            progress=self.progress,
            rep_index=self.rep_index,
            pelvis_deg=v(self.pelvis_deg),
            quats={s: q(c) for s, c in self.quats.items()},
            origins={s: v(c) for s, c in self.origins.items()},
            ankles={s: v(c) for s, c in self.ankles.items()},
            hip_deg={s: v(c) for s, c in self.hip_deg.items()},
            knee_deg={s: v(c) for s, c in self.knee_deg.items()},
        )


def _empty(k: int, n: int) -> tuple[FloatArray, ...]:
    return tuple(np.full(n, np.nan) for _ in range(k))


@dataclass(frozen=True, eq=False)
class SessionRecording:
    """Everything a simulated composite session produced, with its truth (the fields of
    :class:`coxa.sim.RigRecording`, with the session's motion and per-segment rep truth).

    Attributes
    ----------
    params : RigParams
        Boards, straps, IMU, radio and seeds (its ``motion`` is not used).
    session : SessionParams
    motion : SessionMotion
        Ground truth.
    boards, segments_by_board, imu, outputs, packets, lost_packets
        As in :class:`coxa.sim.RigRecording`.
    """

    params: RigParams
    session: SessionParams
    motion: SessionMotion
    boards: dict[int, BoardSpec]
    segments_by_board: dict[int, SegmentName]
    imu: dict[int, ImuRecording]
    outputs: dict[int, BoardOutput]
    packets: list[RigPacket]
    lost_packets: int

    @property
    def duration_s(self) -> float:
        """Length of the session, seconds."""
        return self.motion.duration_s


def simulate_session(session: SessionParams, rig: RigParams) -> SessionRecording:
    """Run a composite session end to end through the boards of a rig, deterministically
    from ``rig.seed``: the same board ids, clock offsets, IMU error draws and radio draws as
    :func:`coxa.sim.simulate_rig` gives the same rig, over the whole session.

    Parameters
    ----------
    session : SessionParams
        What the athlete does.
    rig : RigParams
        Boards, straps, IMU error model, radio and seeds (``rig.motion`` is not used).

    Returns
    -------
    SessionRecording
    """
    motion = SessionMotion(session)
    streams = record_boards(motion, rig)
    return SessionRecording(
        params=rig,
        session=session,
        motion=motion,
        boards=streams.boards,
        segments_by_board=streams.segments_by_board,
        imu=streams.imu,
        outputs=streams.outputs,
        packets=streams.packets,
        lost_packets=streams.lost_packets,
    )
