"""Shared set-up of the BLE tests: simulated samples, a virtual radio session, its truth."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from coxa import wire
from coxa.sim import MotionParams, RigParams, simulate_rig
from coxa.sources import BleBoard, BleLinkStats, BleParams, BleSource
from coxa.sources._source import Arrival, BoardHealth
from coxa.sources.virtual import BoardSamples, VirtualBoard, VirtualRadio, board_samples

#: A short squat: 2.1 s of samples at 200 Hz per board.
SHORT_MOTION = MotionParams(
    reps=1,
    rest_before_s=0.5,
    rest_after_s=0.5,
    descent_s=0.5,
    ascent_s=0.5,
    bottom_pause_s=0.1,
    top_pause_s=0.1,
)

#: Quick reconnection for tests (the defaults suit a real radio).
FAST = BleParams(
    backoff_initial_s=0.05,
    backoff_max_s=0.4,
    connect_timeout_s=3.0,
    status_interval_s=0.25,
    backfill_retry_s=0.3,
)


@functools.cache
def sim_samples(n_boards: int) -> tuple[BoardSamples, ...]:
    """Samples of ``n_boards`` simulated boards (two sessions when more than five)."""
    out: list[BoardSamples] = []
    seed = 0
    while len(out) < n_boards:
        recording = simulate_rig(RigParams(motion=SHORT_MOTION, seed=seed))
        taken = {s.board_id for s in out}
        out.extend(s for s in board_samples(recording) if s.board_id not in taken)
        seed += 1
    return tuple(out[:n_boards])


@dataclass
class Outcome:
    """What a session delivered, with the boards' truth."""

    arrivals: list[Arrival]
    health: dict[int, BoardHealth]
    stats: dict[int, BleLinkStats]
    boards: dict[int, VirtualBoard]
    wall_s: float
    seqs: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for arrival in self.arrivals:
            for received in arrival.frames:
                frame = received.frame
                self.seqs.setdefault(frame.board_id, []).extend(
                    wire.seq_add(frame.seq0, i) for i in range(frame.count)
                )

    def missing(self, board_id: int, boot: int = 0) -> list[int]:
        """Samples of ``boot`` the board took after the first one the host got, not received."""
        produced = [seq for b, seq, _ in self.boards[board_id].produced if b == boot]
        got = set(self.seqs.get(board_id, []))
        first = next((i for i, seq in enumerate(produced) if seq in got), None)
        assert first is not None, f"board {board_id}: nothing of boot {boot} received"
        return [seq for seq in produced[first:] if seq not in got]

    def sample_bytes_match(self, board_id: int) -> bool:
        """Every received sample carries exactly the bytes the board took for that seq."""
        board = self.boards[board_id]
        index_of = {(seq): idx for b, seq, idx in board.produced if b == board.reboots}
        size = wire.QUAT_SAMPLE_BYTES
        for arrival in self.arrivals:
            for received in arrival.frames:
                frame = received.frame
                if frame.board_id != board_id:
                    continue
                body = frame.encode()[wire.DATA_HEADER_BYTES :]
                for i in range(frame.count):
                    idx = index_of.get(wire.seq_add(frame.seq0, i))
                    if idx is None:
                        continue
                    if body[i * size : (i + 1) * size] != board.samples.sample(idx):
                        return False
        return True


async def run_session(
    radio: VirtualRadio,
    rig: Sequence[BleBoard],
    params: BleParams = FAST,
    settle_s: float = 1.0,
    limit_s: float = 20.0,
) -> Outcome:
    """Stream from ``rig`` until every board of the radio finished its samples, plus
    ``settle_s`` for backfill to complete; fails after ``limit_s``."""
    arrivals: list[Arrival] = []
    t0 = time.perf_counter()
    async with BleSource(rig, params=params, backend=radio.backend) as source:

        async def consume() -> None:
            async for arrival in source:
                arrivals.append(arrival)

        consumer = asyncio.get_running_loop().create_task(consume())
        deadline = t0 + limit_s
        while not all(b.finished for b in radio.boards.values()):
            assert time.perf_counter() < deadline, "boards did not finish in time"
            await asyncio.sleep(0.05)
        end = time.perf_counter() + settle_s
        while time.perf_counter() < end:
            await asyncio.sleep(0.05)
        health = dict(source.health())
        stats = dict(source.stats())
    await asyncio.wait_for(consumer, 5.0)
    boards = {b.board_id: b for b in radio.boards.values()}
    return Outcome(arrivals, health, stats, boards, time.perf_counter() - t0)


def rig_of(boards: Sequence[VirtualBoard], bonded: bool = False) -> list[BleBoard]:
    """The rig entries of virtual boards (segment names are placeholders)."""
    return [BleBoard(b.address, b.board_id, f"segment{i}", bonded) for i, b in enumerate(boards)]


def with_seq_start(samples: BoardSamples, seq_start: int) -> BoardSamples:
    """The same samples starting at another sequence number."""
    return replace(samples, seq_start=seq_start)
