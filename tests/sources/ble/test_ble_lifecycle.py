"""BleSource over the virtual radio: reconnection versus reboot, pairing completing on the
board after the central, and the stop paths (``request_stop``, the recorder's wall-time stop
when the boards go silent)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

from coxa import wire
from coxa.record import Recorder, RecordParams, RecordResult, check_capture
from coxa.sources import (
    Arrival,
    BleBoard,
    BleSource,
    SerialPort,
    SerialSource,
    SimSource,
    StoppableSource,
    pair_board,
)
from coxa.sources._ble_link import BoardSession
from coxa.sources.virtual import BoardFaults, VirtualBoardParams, VirtualRadio

from ._session import FAST, Outcome, rig_of, run_session, sim_samples

SPEED = VirtualBoardParams(speed=2.0)


def test_reconnection_with_a_stale_status_value_is_no_reboot() -> None:
    # Boards whose status read value is not refreshed on connection (up to a second old
    # after a reconnection): the source must ask for a fresh status, or it takes the value
    # (behind what it received before the drop) for a sequence restart.
    stale = replace(SPEED, refresh_status_on_connect=False, status_period_s=1.0)

    async def main() -> Outcome:
        async with VirtualRadio(board_params=stale) as radio:
            s0, s1 = sim_samples(2)
            # 0.7 board-s after the value's refresh at 1.0 s: about 140 samples stale; late
            # enough that the host streams from both boards before (also on a busy machine)
            dropping = radio.add_board(s0, BoardFaults(drop_at_s=(1.7,)))
            rebooting = radio.add_board(s1, BoardFaults(reboot_at_s=(1.4,)))
            for board in (dropping, rebooting):
                await board.start()
            return await run_session(radio, rig_of([dropping, rebooting]))

    outcome = asyncio.run(main())
    s0, s1 = sim_samples(2)
    dropping = outcome.boards[s0.board_id]
    assert dropping.drops == 1
    assert outcome.health[s0.board_id].reconnects == 1
    assert outcome.stats[s0.board_id].reboots == 0  # a plain reconnection
    assert outcome.missing(s0.board_id) == []
    assert outcome.health[s0.board_id].lost_samples == 0
    # a real reboot is still one, and its new boot is complete from its first sample
    rebooting = outcome.boards[s1.board_id]
    assert rebooting.reboots == 1
    assert outcome.stats[s1.board_id].reboots == 1
    boot1 = [seq for b, seq, _ in rebooting.produced if b == 1]
    assert set(boot1) <= set(outcome.seqs[s1.board_id])


def test_virtual_board_serves_a_cached_status_value_refreshed_on_connection() -> None:
    async def main(refresh: bool) -> tuple[int, int]:
        params = replace(SPEED, refresh_status_on_connect=refresh, status_period_s=5.0)
        async with VirtualRadio(board_params=params) as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            await asyncio.sleep(0.6)  # 1.2 board-s of samples after the value at power-on
            client = radio.backend.make_client(board.address, FAST.connect_timeout_s)
            async with client:
                await asyncio.sleep(0.05)  # a few pumps: the board sees the connection
                async with BoardSession(client, FAST.command_timeout_s) as session:
                    read = await session.read_status()
                    fresh = await session.request_status()
            return read.fifo_fill, fresh.fifo_fill  # samples taken so far (FIFO not full)

    read, fresh = asyncio.run(main(refresh=True))
    assert 0 <= fresh - read <= 60  # refreshed when the central connected
    read, fresh = asyncio.run(main(refresh=False))
    assert read == 0 < 200 < fresh  # still the value written at power-on


def test_pair_board_waits_until_the_board_stored_the_bond() -> None:
    # The board acts on a new bond in its pump (as the firmware): with a slow pump the
    # central has finished pairing long before the board reports the bond.
    slow = replace(SPEED, pump_interval_s=0.5)

    async def main() -> tuple[wire.Status, bool, bool, Outcome]:
        async with VirtualRadio(board_params=slow) as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            status = await pair_board(board.address, radio.backend, FAST)
            bonded, window = board.bonded, board.pairing_mode
        # the bond works: a bonded rig streams (a normal pump again)
        async with VirtualRadio(board_params=SPEED) as radio2:
            board2 = radio2.add_board(sim_samples(1)[0])
            await board2.start()
            await pair_board(board2.address, radio2.backend, FAST)
            outcome = await run_session(radio2, rig_of([board2], bonded=True), settle_s=0.3)
        return status, bonded, window, outcome

    status, bonded, window, outcome = asyncio.run(main())
    assert status.state & wire.STATE_BONDED
    assert not status.state & wire.STATE_PAIRING_MODE
    assert bonded
    assert not window
    (stats,) = outcome.stats.values()
    assert stats.rejected == 0
    assert stats.samples > 0
    (board_id,) = outcome.boards
    assert outcome.missing(board_id) == []


def test_request_stop_drains_disconnects_and_ends_the_iteration() -> None:
    lossy = BoardFaults(p_enter_loss=0.1, p_leave_loss=0.3, seed=11)
    params = replace(FAST, drain_s=3.0)

    async def main() -> tuple[list[Arrival], dict[int, int], float, BleSource, VirtualRadio]:
        async with VirtualRadio(board_params=SPEED) as radio:
            s0, s1, s2 = sim_samples(3)
            clean = radio.add_board(s0)
            noisy = radio.add_board(s1, lossy)
            impostor = radio.add_board(s2)  # at a rig address, wrong board id: rejected
            for board in (clean, noisy, impostor):
                await board.start()
            rig = [*rig_of([clean, noisy]), BleBoard(impostor.address, 0x7777, "femur_l")]
            arrivals: list[Arrival] = []
            source = BleSource(rig, params=params, backend=radio.backend)
            async with source:
                assert isinstance(source, StoppableSource)

                async def consume() -> None:
                    async for arrival in source:
                        arrivals.append(arrival)

                consumer = asyncio.get_running_loop().create_task(consume())
                await asyncio.sleep(1.2)
                taken = {b.board_id: len(b.produced) for b in (clean, noisy)}
                t_stop = time.perf_counter()
                source.request_stop()
                source.request_stop()  # a second request changes nothing
                await asyncio.wait_for(consumer, params.drain_s + 2.0)  # ends by itself
                stop_s = time.perf_counter() - t_stop
                for board in (clean, noisy):
                    assert not board.streaming  # STOP_STREAM arrived
                    assert not board.connected  # the source disconnected
            return arrivals, taken, stop_s, source, radio

    arrivals, taken, stop_s, source, radio = asyncio.run(main())
    assert stop_s < 3.0
    boards = {b.board_id: b for b in radio.boards.values()}
    s0, s1, _ = sim_samples(3)
    health = source.health()
    stats = source.stats()
    for board_id in (s0.board_id, s1.board_id):
        board = boards[board_id]
        got = {
            wire.seq_add(r.frame.seq0, i)
            for a in arrivals
            for r in a.frames
            if r.frame.board_id == board_id
            for i in range(r.frame.count)
        }
        produced = [seq for _, seq, _ in board.produced]
        first = next(i for i, seq in enumerate(produced) if seq in got)
        # everything taken up to the stop request (and a little after) arrived
        assert [seq for seq in produced[first : taken[board_id]] if seq not in got] == []
        assert health[board_id].lost_samples == 0
        assert health[board_id].backfill_pending == 0
        assert not health[board_id].connected
    assert boards[s1.board_id].lost_notifications > 0
    assert boards[s1.board_id].frames_backfill > 0
    # nothing received was held back: every data notification the clean board sent is an
    # arrival (one packet per frame at MTU 247)
    clean = boards[s0.board_id]
    delivered = sum(1 for a in arrivals if a.record.link_id == s0.board_id)
    assert delivered == clean.frames_live + clean.frames_backfill
    assert stats[0x7777].rejected >= 1


def test_live_sources_share_the_stop_interface() -> None:
    rig = [BleBoard("C6:0A:00:00:00:01", 1, "femur_r")]
    assert isinstance(BleSource(rig), StoppableSource)
    assert isinstance(SimSource(), StoppableSource)
    assert isinstance(SerialSource([SerialPort("/dev/null")]), StoppableSource)


def test_recorder_ends_on_wall_time_when_the_boards_go_silent(tmp_path: Path) -> None:
    """The boards run out of data (as if switched off) before the session's data time reaches
    its duration: the recorder stops ``silence_grace_s`` after the duration by wall time and
    keeps a complete capture, instead of waiting for records that never come."""
    duration_s, grace_s = 4.0, 1.0

    async def main() -> tuple[RecordResult, float]:
        async with VirtualRadio() as radio:
            boards = [radio.add_board(s) for s in sim_samples(2)]  # 2.1 s of samples each
            for board in boards:
                await board.start()
            source = BleSource(rig_of(boards), params=FAST, backend=radio.backend)
            params = RecordParams(duration_s=duration_s, silence_grace_s=grace_s)
            t0 = time.monotonic()
            result = await asyncio.wait_for(
                Recorder(source, tmp_path / "silent.coxa", params=params).run(), 30.0
            )
            return result, time.monotonic() - t0

    result, wall_s = asyncio.run(main())
    assert result.duration_s < duration_s  # the data ended early ...
    assert duration_s + grace_s <= wall_s < duration_s + grace_s + FAST.drain_s + 3.0  # ... wall
    check = check_capture(tmp_path / "silent.coxa")
    assert not check.damaged
    assert check.samples_lost == 0
