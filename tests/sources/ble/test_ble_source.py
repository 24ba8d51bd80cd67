"""BleSource over bleak with the virtual bumble radio: concurrency, MTU, security, faults."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from coxa import wire
from coxa.capture import LinkKind
from coxa.sources import BleBoard, BleLinkError, pair_board
from coxa.sources.virtual import BoardFaults, VirtualBoardParams, VirtualRadio

from ._session import FAST, Outcome, rig_of, run_session, sim_samples

SPEED = VirtualBoardParams(speed=2.0)


def _assert_complete(outcome: Outcome) -> None:
    for board_id, board in outcome.boards.items():
        assert outcome.missing(board_id) == [], f"board {board_id} has holes"
        assert outcome.health[board_id].lost_samples == 0
        assert outcome.sample_bytes_match(board_id)
        assert board.finished


@pytest.mark.parametrize("n_boards", [2, 7])
def test_boards_stream_concurrently(n_boards: int) -> None:
    async def main() -> Outcome:
        async with VirtualRadio(board_params=SPEED) as radio:
            boards = [radio.add_board(s) for s in sim_samples(n_boards)]
            for board in boards:
                await board.start()
            return await run_session(radio, rig_of(boards))

    outcome = asyncio.run(main())
    assert len(outcome.boards) == n_boards
    _assert_complete(outcome)
    for board_id, stats in outcome.stats.items():
        assert stats.att_mtu == 247
        assert stats.duplicates == 0
        assert outcome.health[board_id].reconnects == 0
    # every notification is one record of its board, in arrival order
    records = [a.record for a in outcome.arrivals]
    assert all(r.kind == LinkKind.BLE for r in records)
    assert [r.t_rx_ns for r in records] == sorted(r.t_rx_ns for r in records)
    assert {r.link_id for r in records} == set(outcome.boards)


def test_mtu_23_fragments_and_reassembles() -> None:
    async def main() -> Outcome:
        async with VirtualRadio(att_mtu=23, board_params=SPEED) as radio:
            boards = [radio.add_board(s) for s in sim_samples(2)]
            for board in boards:
                await board.start()
            return await run_session(radio, rig_of(boards))

    outcome = asyncio.run(main())
    _assert_complete(outcome)
    assert all(s.att_mtu == 23 for s in outcome.stats.values())
    payloads = [a.record.payload for a in outcome.arrivals]
    assert max(len(p) for p in payloads) == 20  # ATT MTU - 3
    first = sum(1 for p in payloads if p[0] >> 6 == wire.PACKET_FIRST)
    assert first > 0
    assert sum(len(a.frames) for a in outcome.arrivals) == first  # every frame fragmented


def test_link_drop_mid_set_is_recovered_by_backfill() -> None:
    async def main() -> Outcome:
        async with VirtualRadio(board_params=SPEED) as radio:
            s0, s1 = sim_samples(2)
            boards = [radio.add_board(s0, BoardFaults(drop_at_s=(1.0, 1.6))), radio.add_board(s1)]
            for board in boards:
                await board.start()
            return await run_session(radio, rig_of(boards))

    outcome = asyncio.run(main())
    dropped = outcome.boards[sim_samples(2)[0].board_id]
    assert dropped.drops == 2
    assert dropped.frames_backfill > 0
    assert outcome.health[dropped.board_id].reconnects == 2
    assert outcome.stats[dropped.board_id].reboots == 0  # reconnections, not restarts
    _assert_complete(outcome)


def test_bursty_loss_is_recovered_by_backfill() -> None:
    faults = BoardFaults(p_enter_loss=0.08, p_leave_loss=0.3, seed=3)

    async def main() -> Outcome:
        async with VirtualRadio(board_params=SPEED) as radio:
            boards = [radio.add_board(s, faults) for s in sim_samples(2)]
            for board in boards:
                await board.start()
            return await run_session(radio, rig_of(boards))

    outcome = asyncio.run(main())
    assert all(b.lost_notifications > 0 for b in outcome.boards.values())
    assert all(b.frames_backfill > 0 for b in outcome.boards.values())
    _assert_complete(outcome)


def test_bursty_loss_at_mtu_23_is_recovered() -> None:
    faults = BoardFaults(p_enter_loss=0.02, p_leave_loss=0.5, seed=5)

    async def main() -> Outcome:
        async with VirtualRadio(att_mtu=23, board_params=SPEED) as radio:
            board = radio.add_board(sim_samples(1)[0], faults)
            await board.start()
            # At MTU 23 a backfill takes many notifications: on a loaded machine (the suite
            # runs two test processes on two cores) an answer can take longer than FAST's
            # 0.3 s retry, and four unanswered requests declare the samples lost.
            patient = replace(FAST, backfill_retry_s=1.0)
            return await run_session(radio, rig_of([board]), patient, settle_s=6.0)

    outcome = asyncio.run(main())
    (board,) = outcome.boards.values()
    assert board.lost_notifications > 0
    _assert_complete(outcome)


def test_duplicated_and_reordered_notifications() -> None:
    faults = BoardFaults(p_duplicate=0.2, p_reorder=0.2, seed=7)

    async def main() -> Outcome:
        async with VirtualRadio(board_params=SPEED) as radio:
            boards = [radio.add_board(s, faults) for s in sim_samples(2)]
            for board in boards:
                await board.start()
            return await run_session(radio, rig_of(boards))

    outcome = asyncio.run(main())
    for board_id, board in outcome.boards.items():
        assert board.duplicated_notifications > 0
        assert board.reordered_notifications > 0
        assert outcome.stats[board_id].duplicates > 0
        seqs = outcome.seqs[board_id]
        assert len(seqs) > len(set(seqs))  # duplicates reach the capture as received
    _assert_complete(outcome)


def test_board_reboot_restarts_the_sequence() -> None:
    async def main() -> Outcome:
        async with VirtualRadio(board_params=SPEED) as radio:
            s0, s1 = sim_samples(2)
            rebooting = radio.add_board(s0, BoardFaults(reboot_at_s=(1.0,)))
            boards = [rebooting, radio.add_board(s1)]
            for board in boards:
                await board.start()
            return await run_session(radio, rig_of(boards))

    outcome = asyncio.run(main())
    board = outcome.boards[sim_samples(2)[0].board_id]
    assert board.reboots == 1
    stats = outcome.stats[board.board_id]
    assert stats.reboots == 1
    # the new boot is complete from its first sample (backfilled from the board's FIFO)
    boot1 = [seq for b, seq, _ in board.produced if b == 1]
    assert boot1[0] == 0
    assert set(boot1) <= set(outcome.seqs[board.board_id])
    # the samples of the previous boot that did arrive are contiguous from the start
    missing0 = outcome.missing(board.board_id, boot=0)
    produced0 = [seq for b, seq, _ in board.produced if b == 0]
    assert missing0 == produced0[len(produced0) - len(missing0) :]  # only the unsent tail
    assert len(missing0) < 40  # at most what waited for a frame when the board reset
    other = next(b for b in outcome.boards if b != board.board_id)
    assert outcome.missing(other) == []


def test_unknown_board_is_rejected_and_foreign_board_ignored() -> None:
    async def main() -> tuple[Outcome, int]:
        async with VirtualRadio(board_params=SPEED) as radio:
            s0, s1, s2 = sim_samples(3)
            good = radio.add_board(s0)
            impostor = radio.add_board(s1)  # at an address of the rig, wrong board id
            stranger = radio.add_board(s2)  # on air, not in the rig
            for board in (good, impostor, stranger):
                await board.start()
            rig = [
                BleBoard(good.address, good.board_id, "femur_r"),
                BleBoard(impostor.address, 0x7777, "femur_l"),
            ]
            outcome = await run_session(radio, rig, settle_s=0.3)
            return outcome, stranger.connections

    outcome, stranger_connections = asyncio.run(main())
    assert stranger_connections == 0
    assert set(outcome.seqs) == {sim_samples(3)[0].board_id}
    rejected = outcome.stats[0x7777]
    assert rejected.rejected >= 1
    assert "rejected" in rejected.last_error
    assert not outcome.health[0x7777].connected
    assert outcome.missing(sim_samples(3)[0].board_id) == []


def test_pairing_bonding_and_bonded_links_only() -> None:
    async def main() -> tuple[wire.Status, bool, str, int, Outcome]:
        async with VirtualRadio(board_params=SPEED) as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            assert board.pairing_mode  # no bond yet: the window is open
            status = await pair_board(board.address, radio.backend, FAST)
            window_open = board.pairing_mode
            # the host forgets its bond; the board keeps its own and its window is closed
            await radio.forget_bond(board.address)
            try:
                await pair_board(board.address, radio.backend, FAST)
                repair = "accepted"
            except BleLinkError:
                repair = "refused"
            rig = [BleBoard(board.address, board.board_id, "femur_r", bonded=True)]
            outcome = await run_session(radio, rig, settle_s=0.2)
            return status, window_open, repair, board.refused_pairings, outcome

    status, window_open, repair, refused, outcome = asyncio.run(main())
    assert status.state & wire.STATE_BONDED
    assert not window_open  # a new bond closes the pairing window
    assert repair == "refused"
    assert refused >= 1
    (stats,) = outcome.stats.values()
    assert stats.rejected >= 1  # the rig wants the bond, the link cannot be encrypted with it
    assert stats.samples == 0
    assert outcome.arrivals == []


def test_bonded_rig_streams_and_unbonded_host_may_not_command() -> None:
    async def main() -> tuple[Outcome, int, Outcome]:
        async with VirtualRadio(board_params=SPEED) as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            await pair_board(board.address, radio.backend, FAST)
            bonded = await run_session(radio, rig_of([board], bonded=True), limit_s=20.0)
        # a fresh radio: the same board state cannot be carried over, so pair, then forget
        async with VirtualRadio(board_params=SPEED) as radio2:
            board2 = radio2.add_board(sim_samples(1)[0])
            await board2.start()
            await pair_board(board2.address, radio2.backend, FAST)
            await radio2.forget_bond(board2.address)
            unbonded = await run_session(radio2, rig_of([board2]), settle_s=0.2)
            return bonded, board2.rejected_commands, unbonded

    bonded, rejected_commands, unbonded = asyncio.run(main())
    _assert_complete(bonded)
    assert rejected_commands >= 1  # START_STREAM on an unbonded link: NOT_PERMITTED
    (stats,) = unbonded.stats.values()
    assert stats.rejected >= 1
    assert stats.samples == 0
