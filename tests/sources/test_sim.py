"""``SimSource``: simulated boards behind a lossy radio with forced disconnections.

With backfill every sample the boards took reaches the host (loss and dropouts shorter than
the FIFO), and the host's counters agree with what arrived; without backfill, or with a FIFO
too small for a dropout, the samples that never arrived are exactly those reported lost. The
session is deterministic for a seed.
"""

from __future__ import annotations

import asyncio

import pytest

from coxa.sources import SimParams, SimSource, default_sim_rig


def _run(source: SimSource) -> tuple[dict[int, set[int]], list[bytes]]:
    """Samples (u32 sequence numbers) received per board, and every record's payload."""

    async def consume() -> tuple[dict[int, set[int]], list[bytes]]:
        seqs: dict[int, set[int]] = {}
        payloads: list[bytes] = []
        async with source:
            async for arrival in source:
                payloads.append(arrival.record.payload)
                assert arrival.record.link_id in source.segments_by_board
                for received in arrival.frames:
                    frame = received.frame
                    assert received.t_rx_us == arrival.record.t_rx_ns // 1000
                    got = seqs.setdefault(frame.board_id, set())
                    got.update(frame.sample_seq(i) for i in range(frame.count))
        return seqs, payloads

    return asyncio.run(consume())


def test_backfill_makes_the_stream_complete() -> None:
    params = SimParams(boards=6, duration_s=20.0, loss=0.1, disconnects=3, seed=4)
    source = SimSource(params)
    seqs, _ = _run(source)
    produced = source.produced_samples()
    health = source.health()
    assert set(seqs) == set(produced)
    assert sum(h.reconnects for h in health.values()) >= 1
    for board_id, n in produced.items():
        assert len(seqs[board_id]) == n
        assert health[board_id].lost_samples == 0
        assert health[board_id].backfill_pending == 0
    lost_packets = sum(b.packets_lost for b in source._boards.values())  # pyright: ignore[reportPrivateUsage]
    assert lost_packets > 0  # there was something to recover


@pytest.mark.parametrize(
    "params",
    [
        SimParams(boards=3, duration_s=15.0, loss=0.1, backfill=False, seed=2),
        SimParams(
            boards=2,
            duration_s=20.0,
            disconnects=1,
            disconnect_s=(6.0, 6.0),
            fifo_capacity=400,
            seed=3,
        ),
    ],
    ids=["no-backfill", "fifo-too-small"],
)
def test_unrecoverable_samples_are_reported_lost(params: SimParams) -> None:
    source = SimSource(params)
    seqs, _ = _run(source)
    produced = source.produced_samples()
    health = source.health()
    missing = {b: n - len(seqs.get(b, set())) for b, n in produced.items()}
    assert sum(missing.values()) > 0
    for board_id, n in missing.items():
        h = health[board_id]
        assert h.lost_samples + h.backfill_pending == n


def test_deterministic_and_rig_given() -> None:
    rig = {11: "femur_l", 12: "tibia_l", 13: "unassigned"}
    params = SimParams(duration_s=6.0, loss=0.05, disconnects=1, seed=9)
    first = SimSource(params, rig)
    _, payloads = _run(first)
    assert first.segments_by_board == rig
    _, again = _run(SimSource(params, rig))
    assert payloads == again
    assert default_sim_rig(7, 1) == default_sim_rig(7, 1)
    assert list(default_sim_rig(7, 1).values()).count("unassigned") == 2


def test_early_stop_drains_and_ends() -> None:
    source = SimSource(SimParams(boards=2, duration_s=30.0, loss=0.05, seed=1))

    async def consume() -> tuple[int, dict[int, set[int]]]:
        seqs: dict[int, set[int]] = {}
        async with source:
            async for arrival in source:
                if arrival.record.t_rx_ns // 1000 - source.recording.params.host_epoch_us > 5e6:  # pyright: ignore[reportOptionalMemberAccess]
                    source.request_stop()
                for received in arrival.frames:
                    f = received.frame
                    seqs.setdefault(f.board_id, set()).update(
                        f.sample_seq(i) for i in range(f.count)
                    )
        return source.t_end_us, seqs

    t_end, seqs = asyncio.run(consume())
    produced = source.produced_samples()
    assert t_end - source.recording.params.host_epoch_us < 6e6  # pyright: ignore[reportOptionalMemberAccess]
    for board_id, n in produced.items():
        assert 900 < n < 1300
        assert len(seqs[board_id]) >= n
