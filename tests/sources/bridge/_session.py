"""Sessions of BleSource against the bridged firmware, and their checks against its truth."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from coxa import wire
from coxa.sources import Arrival, BleBoard, BleLinkStats, BleParams, BleSource, BoardHealth
from tests.firmware.app_sim import lsm6dsox_odr_hz, make_squat_counts
from tests.sources.bridge._bridge import FirmwareBoard, FirmwareTruth

#: Quick reconnection for tests (the defaults suit a real radio).
FAST = BleParams(
    backoff_initial_s=0.05,
    backoff_max_s=0.4,
    connect_timeout_s=5.0,
    status_interval_s=0.25,
    backfill_retry_s=0.5,
)


@functools.cache
def squat_counts(seconds: float) -> bytes:
    """``seconds`` of a simulated squat as LSM6DSOX raw counts (chip axes = board axes)."""
    rate_hz = lsm6dsox_odr_hz(200)
    data = make_squat_counts("lsm6dsox", [[1, 0, 0], [0, 1, 0], [0, 0, 1]], rate_hz, reps=1)
    start = round(1.0 * rate_hz)  # into the movement
    n = round(seconds * rate_hz)
    if start + n > data.n:
        raise ValueError(f"the simulated set has {data.n} samples, {start + n} wanted")
    return data.counts[12 * start : 12 * (start + n)]


@dataclass
class BridgeOutcome:
    """What BleSource delivered from the firmware, and what the firmware held."""

    arrivals: list[Arrival]
    health: BoardHealth
    stats: BleLinkStats
    truth: FirmwareTruth
    wall_s: float
    seqs: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        for arrival in self.arrivals:
            for received in arrival.frames:
                frame = received.frame
                self.seqs.extend(wire.seq_add(frame.seq0, i) for i in range(frame.count))

    def frames(self, kind: int) -> list[wire.DataFrame]:
        """Data frames of ``kind`` (live or backfill) received."""
        return [r.frame for a in self.arrivals for r in a.frames if r.frame.kind == kind]

    def missing(self) -> list[int]:
        """Samples the firmware took after the first one received that never arrived."""
        assert self.seqs, "nothing received"
        first = min(self.seqs)
        got = set(self.seqs)
        return [k for k in range(first, self.truth.next_k) if k not in got]

    def mismatched(self) -> list[int]:
        """Received samples whose bytes differ from the firmware's FIFO (or it lacks them)."""
        bad: list[int] = []
        size = wire.QUAT_SAMPLE_BYTES
        for arrival in self.arrivals:
            for received in arrival.frames:
                frame = received.frame
                body = frame.encode()[wire.DATA_HEADER_BYTES :]
                for i in range(frame.count):
                    seq = wire.seq_add(frame.seq0, i)
                    if body[i * size : (i + 1) * size] != self.truth.sample(seq):
                        bad.append(seq)
        return bad


def _have_all(arrivals: Sequence[Arrival], newest: int) -> bool:
    got: set[int] = set()
    for arrival in arrivals:
        for received in arrival.frames:
            frame = received.frame
            got.update(wire.seq_add(frame.seq0, i) for i in range(frame.count))
    if not got:
        return False
    return all(k in got for k in range(min(got), newest + 1))


async def stream(
    board: FirmwareBoard,
    rig_board: BleBoard,
    params: BleParams = FAST,
    settle_s: float = 4.0,
    limit_s: float = 30.0,
) -> BridgeOutcome:
    """Stream from the bridged firmware until its samples are used up and everything up to
    its newest sample arrived (or ``settle_s`` after that), then stop it."""
    arrivals: list[Arrival] = []
    t0 = time.perf_counter()
    radio = board.radio
    async with BleSource([rig_board], params=params, backend=radio.backend) as source:

        async def consume() -> None:
            async for arrival in source:
                arrivals.append(arrival)

        consumer = asyncio.get_running_loop().create_task(consume())
        try:
            await asyncio.wait_for(board.imu_done.wait(), limit_s)
        except TimeoutError:
            raise AssertionError(f"the firmware did not finish\n{board.output()}") from None
        end = time.perf_counter() + settle_s
        while time.perf_counter() < end and not _have_all(arrivals, board.newest_k):
            await asyncio.sleep(0.05)
        health = source.health()[rig_board.board_id]
        stats = source.stats()[rig_board.board_id]
    await asyncio.wait_for(consumer, 5.0)
    truth = await board.stop()
    return BridgeOutcome(arrivals, health, stats, truth, time.perf_counter() - t0)
