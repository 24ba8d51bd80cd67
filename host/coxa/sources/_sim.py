"""Simulated boards as a :class:`~coxa.sources.Source`: the boards of ``coxa.sim`` behind a
radio with bursty loss and forced disconnections, each with a RAM FIFO that answers the
host's BACKFILL requests, and the host side of the links (gap detection, backfill, retries).

The session is an event simulation on a virtual clock, deterministic for a given seed. It runs
as fast as possible or paced to real time; either way the records carry the simulated host
receive time (``t_rx_ns = t_rx_us * 1000``, as ``coxa.capture.write_sim_capture`` does).
What the boards and links do:

- every board streams protocol v1 live frames (15 samples each) as ``coxa.sim.simulate_rig``
  makes them; each notification goes over a link with connection-event timing, exponential
  host delay and Gilbert-Elliott bursty loss (the model of ``coxa.sim.transmit``);
- a forced disconnection silences a board's link for a while: packets in flight are lost, live
  frames queued meanwhile are not sent (their samples stay in the FIFO), and the host
  reconnects when the board is back (the packet counter restarts at 0);
- the host asks for BACKFILL from its last contiguous sequence number whenever it sees a gap
  (and, after a reconnection and at the end of the session, after a GET_STATUS tells it the
  newest sample); the board answers from the samples its FIFO still holds (the newest
  ``fifo_capacity``), sends them as DATA_BACKFILL frames over the same lossy link, and the host
  asks again for what did not arrive. Samples that left the FIFO are reported lost.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import struct
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Literal, Self

import numpy as np
from numpy.typing import NDArray

from coxa import wire
from coxa.body import SEGMENTS, SegmentName
from coxa.capture import CaptureRecord, LinkKind
from coxa.sim import (
    Exercise,
    ImuParams,
    Motion,
    MotionParams,
    RadioParams,
    RigParams,
    RigRecording,
    simulate_rig,
)
from coxa.sources._link import LinkDecoder
from coxa.sources._monitor import BoardMonitor, MonitorParams
from coxa.sources._rigs import UNASSIGNED_SEGMENT
from coxa.sources._source import Arrival, BoardHealth

_LOG = logging.getLogger(__name__)

_HEADER = struct.Struct("<BBHIIHBB")
"""Data frame header of protocol v1 (version, kind, board, seq0, t0_us, period, count, content)."""

#: Segments of a simulated rig of n boards (n <= 5); boards beyond five are extra boards.
DEFAULT_SEGMENTS: dict[int, tuple[SegmentName, ...]] = {
    2: ("femur_r", "tibia_r"),
    3: ("pelvis", "femur_r", "tibia_r"),
    4: ("femur_r", "tibia_r", "femur_l", "tibia_l"),
    5: ("pelvis", "femur_r", "tibia_r", "femur_l", "tibia_l"),
}


@dataclass(frozen=True)
class SimParams:
    """A simulated session as a source.

    Attributes
    ----------
    boards : int
        Boards of the default rig (2 or more; beyond five they are extra boards, recorded and
        monitored but not fused). Ignored when the source is given a rig. Default 5.
    exercise : str
        ``coxa.sim.EXERCISES`` name. Default ``'squat'``.
    reps : int
        Reps of the set when ``duration_s`` is None. Default 5 [assumption].
    duration_s : float or None
        Length of the session, s: the set is repeated to fill it (reps of the exercise, then
        standing). None: one set of ``reps``.
    loss : float
        Long-run fraction of notifications lost in bursts, 0 <= loss < 1. Default 0.
    mean_burst_packets : float
        Mean length of a loss burst, notifications. Default 4 [assumption, as
        ``coxa.sim.RadioParams.lossy``].
    disconnects : int
        Forced disconnections of a random board at random times. Default 0.
    disconnect_s : tuple of float
        Range of the length of a disconnection, s (board away plus the host's reconnection).
        Default (1, 5) [assumption: a walk out of range, well below the 30 s a 6000-sample
        FIFO holds at 200 Hz].
    fifo_capacity : int
        Samples a board keeps for backfill. Default 6000 [src: ``coxa_fw.app.App``
        default, 30 s at 200 Hz].
    backfill : bool
        Whether the host asks for backfill. Default True.
    realtime : bool
        Pace the arrivals to the wall clock (False: as fast as possible). Default False.
    speed : float
        Playback speed factor in real time. Default 1.
    imu : {'clean', 'typical'}
        IMU errors (``coxa.sim.ImuParams.clean()`` or the typical MEMS defaults). Default
        ``'clean'``.
    seed : int
        Seed of everything: board ids, IMU errors, radio draws, disconnections. Default 0.
    radio : coxa.sim.RadioParams
        Connection interval, delay jitter and ATT MTU of every link (its loss fields are
        replaced by ``loss``/``mean_burst_packets``).
    backfill_frame_ms : float
        Time a board takes per backfill frame, ms. Default 2.5 [assumption: about 400
        notifications per second beside the live stream].
    drain_s : float
        Longest time after the end of the session spent on the last backfills, s. Default 10
        [assumption].
    monitor : MonitorParams
        Host bookkeeping (backfill timeout and attempts).
    """

    boards: int = 5
    exercise: Exercise = "squat"
    reps: int = 5
    duration_s: float | None = None
    loss: float = 0.0
    mean_burst_packets: float = 4.0
    disconnects: int = 0
    disconnect_s: tuple[float, float] = (1.0, 5.0)
    fifo_capacity: int = 6000
    backfill: bool = True
    realtime: bool = False
    speed: float = 1.0
    imu: Literal["clean", "typical"] = "clean"
    seed: int = 0
    radio: RadioParams = field(default_factory=RadioParams)
    backfill_frame_ms: float = 2.5
    drain_s: float = 10.0
    monitor: MonitorParams = field(default_factory=MonitorParams)

    def __post_init__(self) -> None:
        if self.boards < 2:
            raise ValueError(f"a simulated rig needs at least 2 boards, got {self.boards}")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"loss must be within [0, 1), got {self.loss}")
        if self.disconnects < 0:
            raise ValueError(f"disconnects must be >= 0, got {self.disconnects}")
        lo, hi = self.disconnect_s
        if not 0.0 < lo <= hi:
            raise ValueError(f"disconnect_s must be 0 < min <= max, got {self.disconnect_s}")
        if self.duration_s is not None and not self.duration_s > 0.0:
            raise ValueError(f"duration_s must be positive, got {self.duration_s}")
        if self.speed <= 0.0:
            raise ValueError(f"speed must be positive, got {self.speed}")
        if self.reps < 1:
            raise ValueError(f"reps must be >= 1, got {self.reps}")


def default_sim_rig(boards: int, seed: int) -> dict[int, str]:
    """Board ids and segments of the simulated rig of ``boards`` boards drawn from ``seed``.

    The first five boards (fewer for a smaller rig: see :data:`DEFAULT_SEGMENTS`) are on body
    segments, further ones are extra boards (:data:`coxa.sources.UNASSIGNED_SEGMENT`).
    """
    if boards < 2:
        raise ValueError(f"a simulated rig needs at least 2 boards, got {boards}")
    segments: list[str] = list(DEFAULT_SEGMENTS[min(boards, 5)])
    segments += [UNASSIGNED_SEGMENT] * (boards - len(segments))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB0A2D]))
    ids = [int(b) for b in rng.choice(1 << 16, size=boards, replace=False)]
    return dict(zip(ids, segments, strict=True))


@dataclass
class _Board:
    """One simulated board, its link and the host's view of it."""

    board_id: int
    frames: list[bytes]
    t_queued_us: NDArray[np.int64]  # host clock, per live frame
    t_sample_us: NDArray[np.int64]  # host clock at which each sample is taken
    seq_start: int
    per_frame: int
    period_us: int
    rng: np.random.Generator
    phase_us: float
    monitor: BoardMonitor
    decoder: LinkDecoder
    up: bool = True
    connection: int = 0
    counter: int = 0
    bad: bool = False
    last_arrival_us: float = 0.0
    live_sent: int = 0
    live_skipped: int = 0
    packets_lost: int = 0
    tokens: dict[int, tuple[int, int]] = field(default_factory=dict[int, tuple[int, int]])
    token: int = 0

    def newest_index(self, t_us: int) -> int:
        """Index of the newest sample taken by host time ``t_us`` (-1: none yet)."""
        return int(np.searchsorted(self.t_sample_us, t_us, side="right")) - 1

    def backfill_frames(self, k0: int, k1: int) -> list[bytes]:
        """DATA_BACKFILL frames of samples ``[k0, k1)``, cut where the live frames were."""
        out: list[bytes] = []
        header = bytearray(wire.DATA_HEADER_BYTES)
        k = k0
        while k < k1:
            j = k // self.per_frame
            live = self.frames[j]
            _, _, board, _, t0, period, count, _ = _HEADER.unpack_from(live)
            i0 = k - j * self.per_frame
            i1 = min(count, k1 - j * self.per_frame)
            wire.data_header_into(
                header,
                0,
                wire.KIND_DATA_BACKFILL,
                board,
                (self.seq_start + k) % (1 << 32),
                (t0 + i0 * period) % (1 << 32),
                period,
                i1 - i0,
                False,
            )
            start = wire.DATA_HEADER_BYTES + i0 * wire.QUAT_SAMPLE_BYTES
            stop = wire.DATA_HEADER_BYTES + i1 * wire.QUAT_SAMPLE_BYTES
            out.append(bytes(header) + live[start:stop])
            k += i1 - i0
        return out


# Event kinds, in the order they are handled at equal times.
_LINK = 0  # link down or up
_QUEUE = 1  # a frame is handed to the board's radio
_DELIVER = 2  # a notification reaches the host
_COMMAND = 3  # a host command reaches the board
_ANSWER = 4  # an ack (and status) reaches the host
_TICK = 5  # host housekeeping (backfill retries)
_END = 6  # end of the session: the host asks every board for its newest sample

_TICK_US = 250_000


class SimSource:
    """Simulated boards and their links, as a :class:`~coxa.sources.Source`.

    Parameters
    ----------
    params : SimParams
    rig : mapping of int to str, optional
        Board ids and segments (``coxa.body.SEGMENTS`` or ``UNASSIGNED_SEGMENT``) of a rig
        to simulate; default :func:`default_sim_rig` of ``params.boards`` and ``params.seed``.

    Attributes
    ----------
    recording : coxa.sim.RigRecording or None
        The underlying simulation (motion and truth), once entered.
    """

    def __init__(self, params: SimParams | None = None, rig: Mapping[int, str] | None = None):
        self.params = params or SimParams()
        chosen = (
            dict(rig) if rig is not None else default_sim_rig(self.params.boards, self.params.seed)
        )
        if len(chosen) < 1:
            raise ValueError("a simulated rig needs at least one board")
        self._segments = chosen
        self._boards: dict[int, _Board] = {}
        self._events: list[tuple[int, int, int, int, int, tuple[int, ...] | bytes]] = []
        self._order = 0
        self._entered = False
        self._iterated = False
        self._t_end_us = 0
        self._final_status: set[int] | None = None
        self._now_us = 0
        self.recording: RigRecording | None = None

    # ------------------------------------------------------------------ Source interface
    @property
    def segments_by_board(self) -> Mapping[int, str]:
        """Segment of every board (``UNASSIGNED_SEGMENT`` for extra boards)."""
        return dict(self._segments)

    def health(self) -> Mapping[int, BoardHealth]:
        """Current link state of every board."""
        out: dict[int, BoardHealth] = {}
        for board_id, board in self._boards.items():
            board.monitor.protocol_errors = board.decoder.protocol_errors
            out[board_id] = board.monitor.health()
        return out

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a SimSource can be entered once")
        self._entered = True
        await asyncio.to_thread(self._build)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._events.clear()

    def __aiter__(self) -> AsyncIterator[Arrival]:
        if not self._entered:
            raise RuntimeError("enter the source (async with) before iterating it")
        if self._iterated:
            raise RuntimeError("a SimSource can be iterated once")
        self._iterated = True
        return self._run()

    def request_stop(self) -> None:
        """End the session now (before its planned end): the boards stop producing, the host
        reads every board's status and waits for the last backfills (at most ``drain_s``)."""
        if self._final_status is None and self._now_us < self._t_end_us:
            self._t_end_us = self._now_us
            self._push(self._now_us + 1, _END, -1)

    # ------------------------------------------------------------------ extra information
    @property
    def t_end_us(self) -> int:
        """Host time of the end of the session (the last sample), microseconds."""
        return self._t_end_us

    def produced_samples(self) -> dict[int, int]:
        """Samples each board took during the session (up to its end or the stop)."""
        return {b: board.newest_index(self._t_end_us) + 1 for b, board in self._boards.items()}

    # ------------------------------------------------------------------ simulation
    def _motion(self) -> MotionParams:
        p = self.params
        motion = MotionParams(exercise=p.exercise, reps=p.reps, seed=p.seed)
        if p.duration_s is None:
            return motion
        length = Motion(motion).duration_s
        if length < p.duration_s:
            cycle = motion.descent_s + motion.bottom_pause_s + motion.ascent_s + motion.top_pause_s
            extra_reps = max(0, math.floor((p.duration_s - length) / cycle))
            if p.exercise in ("prone_ir", "seated_ir", "rest") or extra_reps == 0:
                motion = replace(motion, rest_after_s=motion.rest_after_s + p.duration_s - length)
            else:
                motion = replace(motion, reps=motion.reps + extra_reps)
                pad = p.duration_s - Motion(motion).duration_s
                motion = replace(motion, rest_after_s=motion.rest_after_s + max(0.0, pad) + 0.1)
        return motion

    def _build(self) -> None:
        p = self.params
        ids = list(self._segments)
        sim_segments: tuple[SegmentName, ...] = tuple(
            _sim_segment(self._segments[b], i) for i, b in enumerate(ids)
        )
        rig = RigParams(
            motion=self._motion(),
            segments=sim_segments,
            imu=ImuParams.clean() if p.imu == "clean" else ImuParams(),
            radio=replace(p.radio, p_enter_loss=0.0),
            seed=p.seed,
        )
        recording = simulate_rig(rig)
        self.recording = recording
        epoch = rig.host_epoch_us
        duration_s = p.duration_s if p.duration_s is not None else recording.duration_s
        self._t_end_us = epoch + round(duration_s * 1e6)
        root = np.random.SeedSequence([p.seed, 0x5113])
        board_seeds = root.spawn(len(ids) + 1)
        for board_id, sim_id, seed in zip(ids, recording.boards, board_seeds[:-1], strict=True):
            output = recording.outputs[sim_id]
            imu = recording.imu[sim_id]
            t_queued = np.rint(output.t_queued_s * 1e6).astype(np.int64) + epoch
            keep = int(np.searchsorted(t_queued, self._t_end_us, side="right"))
            frames = [_with_board_id(frame, board_id) for frame in output.frames[:keep]]
            per_frame = wire.samples_per_frame(False)
            n_samples = sum(_HEADER.unpack_from(f)[6] for f in frames)
            t_sample = (np.rint(imu.t_s[:n_samples] * 1e6).astype(np.int64)) + epoch
            rng = np.random.default_rng(seed)
            self._boards[board_id] = _Board(
                board_id=board_id,
                frames=frames,
                t_queued_us=t_queued[:keep],
                t_sample_us=t_sample,
                seq_start=recording.boards[sim_id].seq_start,
                per_frame=per_frame,
                period_us=round(1e6 / rig.imu.rate_hz),
                rng=rng,
                phase_us=float(rng.uniform(0.0, p.radio.connection_interval_ms * 1e3)),
                monitor=BoardMonitor(board_id, p.monitor),
                decoder=LinkDecoder(board_id),
            )
        self._schedule_session(epoch, np.random.default_rng(board_seeds[-1]))

    def _push(
        self,
        t_us: float,
        kind: int,
        board_id: int,
        aux: int = 0,
        data: tuple[int, ...] | bytes = b"",
    ) -> None:
        self._order += 1
        heapq.heappush(self._events, (round(t_us), kind, self._order, board_id, aux, data))

    def _schedule_session(self, epoch: int, rng: np.random.Generator) -> None:
        p = self.params
        for board in self._boards.values():
            board.monitor.connected = True
            # Connected and streaming before the first sample: the status the host reads
            # says where the stream starts.
            board.monitor.tracker.expect_from(board.seq_start)
            for j, t in enumerate(board.t_queued_us.tolist()):
                self._push(t, _QUEUE, board.board_id, j)
        ids = sorted(self._boards)
        span_us = self._t_end_us - epoch
        for _ in range(p.disconnects):
            board_id = ids[int(rng.integers(len(ids)))]
            length_us = float(rng.uniform(*p.disconnect_s)) * 1e6
            start = epoch + float(rng.uniform(0.1, 0.9)) * max(0.0, span_us - length_us)
            self._push(start, _LINK, board_id, 0)
            self._push(start + length_us, _LINK, board_id, 1)
        self._push(epoch + _TICK_US, _TICK, -1)
        self._push(self._t_end_us + 1, _END, -1)

    async def _run(self) -> AsyncIterator[Arrival]:
        started = time.monotonic()
        t_first: int | None = None
        since_yield = 0
        draining_until: int | None = None
        while self._events:
            t_us, kind, _, board_id, aux, data = heapq.heappop(self._events)
            self._now_us = t_us
            if kind == _QUEUE and aux >= 0 and t_us > self._t_end_us:
                continue  # stopped early: the board produces no more
            if draining_until is not None and (t_us > draining_until or self._settled()):
                break
            if kind == _DELIVER:
                assert isinstance(data, bytes)
                arrival = self._deliver(t_us, self._boards[board_id], aux, data)
                if arrival is None:
                    continue
                if self.params.realtime:
                    if t_first is None:
                        t_first = t_us
                    wait = (t_us - t_first) / 1e6 / self.params.speed - (time.monotonic() - started)
                    if wait > 0:
                        await asyncio.sleep(wait)
                    since_yield = 0
                else:
                    since_yield += 1
                    if since_yield >= 64:
                        since_yield = 0
                        await asyncio.sleep(0)
                yield arrival
            elif kind == _QUEUE:
                assert isinstance(data, bytes)
                self._queue(t_us, self._boards[board_id], aux, data)
            elif kind == _LINK:
                self._link(t_us, self._boards[board_id], up=bool(aux))
            elif kind == _COMMAND:
                assert isinstance(data, tuple)
                self._command(t_us, self._boards[board_id], data)
            elif kind == _ANSWER:
                assert isinstance(data, tuple)
                self._answer(t_us, self._boards[board_id], data)
            elif kind == _TICK:
                for board in self._boards.values():
                    self._ask_backfill(t_us, board)
                self._push(t_us + _TICK_US, _TICK, -1)
            elif kind == _END:
                if self._final_status is not None:
                    continue
                draining_until = t_us + round(self.params.drain_s * 1e6)
                self._final_status = set(self._boards)
                for board in self._boards.values():
                    self._send(t_us, board, (wire.OP_GET_STATUS,))
        for board in self._boards.values():
            board.monitor.connected = False

    def _settled(self) -> bool:
        """Every board's final status read, and its stream complete up to its newest sample
        (or its gaps declared lost)."""
        if self._final_status is None or self._final_status:
            return False
        return all(not board.monitor.tracker.gaps() for board in self._boards.values())

    # ------------------------------------------------------------------ board side
    def _radio_delay_us(self, board: _Board, t_us: float) -> float:
        """Arrival of something handed to the link at ``t_us``: the next connection event
        plus the host stack's delay."""
        interval = self.params.radio.connection_interval_ms * 1e3
        event = math.ceil((t_us - board.phase_us) / interval) * interval + board.phase_us
        return event + float(board.rng.exponential(self.params.radio.jitter_mean_ms * 1e3))

    def _queue(self, t_us: int, board: _Board, live_index: int, frame: bytes) -> None:
        """Hand a frame to the link: live frame ``live_index``, or (index -1) ``frame``."""
        if not board.up:
            board.live_skipped += live_index >= 0
            return
        if live_index >= 0:
            frame = board.frames[live_index]
            board.live_sent += 1
        packets, board.counter = wire.fragment(frame, self.params.radio.att_mtu, board.counter)
        radio = RadioParams.lossy(self.params.loss, self.params.mean_burst_packets)
        for packet in packets:
            if self.params.loss > 0.0:
                draw = float(board.rng.uniform())
                board.bad = draw >= radio.p_leave_loss if board.bad else draw < radio.p_enter_loss
                if board.bad:
                    board.packets_lost += 1
                    continue
            arrival = max(self._radio_delay_us(board, t_us), board.last_arrival_us)
            board.last_arrival_us = arrival
            self._push(arrival, _DELIVER, board.board_id, board.connection, packet)

    def _link(self, t_us: int, board: _Board, up: bool) -> None:
        if up == board.up:
            return
        board.up = up
        board.monitor.connected = up
        board.connection += 1
        if up:
            board.counter = 0
            board.bad = False
            board.monitor.reconnects += 1
            _LOG.info("simulated board %d reconnected", board.board_id)
            # The host reads the status after connecting, then asks for what it missed.
            self._send(t_us, board, (wire.OP_GET_STATUS,))
        else:
            _LOG.info("simulated board %d disconnected", board.board_id)

    def _command(self, t_us: int, board: _Board, command: tuple[int, ...]) -> None:
        if not board.up:
            return
        token, opcode = command[0], command[1]
        newest = board.newest_index(min(t_us, self._t_end_us))
        if opcode == wire.OP_GET_STATUS:
            answer = (token, opcode, wire.RESULT_OK, (board.seq_start + newest) % (1 << 32))
            self._push(self._radio_delay_us(board, t_us), _ANSWER, board.board_id, data=answer)
            return
        from_seq, count = command[2], command[3]
        k0 = wire.seq_diff(from_seq, board.seq_start % (1 << 32))
        oldest = max(0, newest - self.params.fifo_capacity + 1)
        a, b = max(k0, oldest), min(k0 + count, newest + 1)
        if b <= a:
            answer = (token, opcode, wire.RESULT_UNAVAILABLE, 0, 0)
        else:
            answer = (token, opcode, wire.RESULT_OK, (board.seq_start + a) % (1 << 32), b - a)
        self._push(self._radio_delay_us(board, t_us), _ANSWER, board.board_id, data=answer)
        if b > a:
            step = self.params.backfill_frame_ms * 1e3
            for i, frame in enumerate(board.backfill_frames(a, b)):
                self._push(t_us + (i + 1) * step, _QUEUE, board.board_id, -1, frame)

    # ------------------------------------------------------------------ host side
    def _send(self, t_us: float, board: _Board, command: tuple[int, ...]) -> None:
        """Send a command over the board's link (lost if the link is down meanwhile)."""
        if not board.up:
            return
        board.token = (board.token + 1) & 0xFF
        if command[0] == wire.OP_BACKFILL:
            board.tokens[board.token] = (command[1], command[2])
        delay = self._radio_delay_us(board, t_us)
        self._push(delay, _COMMAND, board.board_id, data=(board.token, *command))

    def _deliver(self, t_us: int, board: _Board, connection: int, payload: bytes) -> Arrival | None:
        if connection != board.connection:
            return None  # in flight when the link dropped
        record = CaptureRecord(t_us * 1000, board.board_id, LinkKind.BLE, payload)
        received = board.decoder.push(t_us, payload)
        frames = () if received is None else (received,)
        if received is not None:
            board.monitor.on_frame(received)
            self._ask_backfill(t_us, board)
        return Arrival(record=record, frames=frames)

    def _ask_backfill(self, t_us: float, board: _Board) -> None:
        if not self.params.backfill or not board.up:
            return
        for from_seq, count in board.monitor.backfill_requests(round(t_us * 1000)):
            self._send(t_us, board, (wire.OP_BACKFILL, from_seq, count))

    def _answer(self, t_us: int, board: _Board, answer: tuple[int, ...]) -> None:
        token, opcode, result = answer[0], answer[1], answer[2]
        if opcode == wire.OP_GET_STATUS:
            if self._final_status is not None:
                self._final_status.discard(board.board_id)
            board.monitor.tracker.announce(answer[3])
            self._ask_backfill(t_us, board)
            return
        asked = board.tokens.pop(token, None)
        if asked is None:
            return
        args = (answer[3], answer[4]) if result == wire.RESULT_OK else ()
        board.monitor.on_backfill_ack(asked[0], asked[1], wire.Ack(opcode, token, result, args))


def _sim_segment(segment: str, index: int) -> SegmentName:
    """The segment a board is simulated on (an extra board is worn beside another one)."""
    for known in SEGMENTS:
        if known == segment:
            return known
    return SEGMENTS[index % len(SEGMENTS)]


def _with_board_id(frame: bytes, board_id: int) -> bytes:
    """The frame with another board id in its header."""
    return frame[:2] + struct.pack("<H", board_id) + frame[4:]
