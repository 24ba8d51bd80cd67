"""The virtual radio through plain bleak: scanning, GATT layout, MTU, commands, identify."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError
from bumble.hci import Address

from coxa import wire
from coxa.sources import identify_board, scan_boards
from coxa.sources._ble_link import BoardSession
from coxa.sources.virtual import BoardFaults, VirtualBoard, VirtualRadio

from ._session import sim_samples


def test_scan_finds_boards_by_their_advertising() -> None:
    async def main() -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        async with VirtualRadio() as radio:
            boards = [radio.add_board(s) for s in sim_samples(3)]
            for board in boards:
                await board.start()
            found = await scan_boards(0.3, radio.backend)
            expected = [(b.board_id, wire.segment_name(b.placement)) for b in boards]
            return sorted((f.board_id, f.segment_hint) for f in found), sorted(expected)

    found, expected = asyncio.run(main())
    assert found == expected


@pytest.mark.parametrize("att_mtu", [23, 185, 247])
def test_bleak_client_sees_the_firmware_gatt_layout(att_mtu: int) -> None:
    async def main() -> tuple[int, dict[str, list[str]], wire.Status, wire.Ack | None]:
        async with VirtualRadio(att_mtu=att_mtu) as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            scanner_backend = radio.backend.scanner
            assert scanner_backend is not None
            device = await BleakScanner.find_device_by_address(
                board.address, timeout=2.0, backend=scanner_backend
            )
            assert device is not None
            async with BleakClient(device, backend=radio.backend.client) as client:
                chars: dict[str, list[str]] = {
                    c.uuid: sorted(str(p) for p in c.properties)
                    for c in client.services.characteristics.values()
                }
                async with BoardSession(client, 2.0) as session:
                    status = await session.read_status()
                    ack = await session.command(wire.OP_TIME_PING, 0xDEADBEEF)
                return client.mtu_size, chars, status, ack

    mtu, chars, status, ack = asyncio.run(main())
    assert mtu == att_mtu
    assert chars[wire.DATA_CHAR_UUID] == ["notify"]
    assert chars[wire.CONTROL_CHAR_UUID] == ["write", "write-without-response"]
    assert chars[wire.STATUS_CHAR_UUID] == ["notify", "read"]
    assert status.board_id == sim_samples(1)[0].board_id
    assert status.state & wire.STATE_PAIRING_MODE  # no bond yet
    assert ack is not None
    assert ack.ok
    assert ack.args[0] == 0xDEADBEEF


def test_a_gatt_read_cut_by_a_link_drop_raises_bleak_error() -> None:
    """bumble cancels a pending request when the link drops; the caller sees ``BleakError``
    (as on bleak's platform backends), not a ``CancelledError`` that would end its task."""

    async def main() -> str:
        async with VirtualRadio() as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            async with BleakClient(board.address, backend=radio.backend.client) as client:
                char = client.services.get_characteristic(wire.STATUS_CHAR_UUID)
                assert char is not None
                connection = next(iter(board.device.connections.values()))
                drop = asyncio.get_running_loop().create_task(connection.disconnect())
                try:
                    await client.read_gatt_char(char)
                    outcome = "read"
                except BleakError as err:
                    outcome = str(err)
                await drop
            return outcome

    outcome = asyncio.run(main())
    assert outcome.startswith(f"reading {wire.STATUS_CHAR_UUID}")
    assert outcome.endswith("failed: the link dropped")


def test_identify_blinks_without_a_bond() -> None:
    async def main() -> tuple[bool, int, bool]:
        async with VirtualRadio() as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            ok = await identify_board(board.address, 3, radio.backend)
            return ok, board.identify_count, board.identifying

    ok, count, identifying = asyncio.run(main())
    assert ok
    assert count == 1
    assert identifying


@pytest.mark.parametrize("outer_timeout", [False, True], ids=["client-timeout", "caller-timeout"])
def test_a_timed_out_connection_does_not_block_the_radio(outer_timeout: bool) -> None:
    """An attempt to a switched-off board ends in time and later connections still work.

    With ``caller-timeout`` the caller abandons the attempt at the same time as the client's
    own timeout, as ``BleSource`` does; both used to leave the virtual controller with a
    pending connection that refused every later one (COMMAND_DISALLOWED).
    """
    timeout_s = 0.4

    async def attempt(address: str, radio: VirtualRadio) -> None:
        client = BleakClient(address, backend=radio.backend.client, timeout=timeout_s)
        bound = timeout_s if outer_timeout else timeout_s + 2.0
        await asyncio.wait_for(client.connect(), bound)
        await client.disconnect()

    async def main() -> tuple[str, float, bool, bool, bool]:
        async with VirtualRadio() as radio:
            off, on = (radio.add_board(s) for s in sim_samples(2))
            await on.start()
            t0 = time.perf_counter()
            with pytest.raises((BleakError, TimeoutError)) as failed:
                await attempt(off.address, radio)
            elapsed_s = time.perf_counter() - t0
            # The present board connects after the failed attempt...
            await attempt(on.address, radio)
            # ...and the absent board, once switched on, is not connected behind our back
            # (the abandoned attempt is over), and accepts a new connection.
            await off.start()
            await asyncio.sleep(0.3)
            ghost = off.connected
            await attempt(off.address, radio)
            return type(failed.value).__name__, elapsed_s, ghost, on.connected, off.connected

    failure, elapsed_s, ghost, on_connected, off_connected = asyncio.run(main())
    assert failure in ("BleakError", "TimeoutError")
    assert elapsed_s < timeout_s + 1.0
    assert not ghost
    assert not on_connected  # both clients disconnected cleanly
    assert not off_connected


def test_a_connection_nobody_waits_for_is_dropped() -> None:
    """A connection completed after its attempt was abandoned (the controller connected in
    the loop turns between the timeout and the clean-up) is dropped, so the board does not
    stay connected to nobody and keeps advertising."""

    async def main() -> tuple[bool, bool]:
        async with VirtualRadio() as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            # Connect the central behind the radio's back, as the late controller would.
            await radio._central.connect(Address(board.address), timeout=2.0)  # pyright: ignore[reportPrivateUsage]
            await asyncio.sleep(0.3)
            dropped = not board.connected
            async with BleakClient(board.address, backend=radio.backend.client, timeout=2.0) as c:
                reconnected = c.is_connected
            return dropped, reconnected

    dropped, reconnected = asyncio.run(main())
    assert dropped
    assert reconnected


@pytest.mark.parametrize(("trigger", "turns"), [("controller", 0), ("board", 2), ("board", 10)])
def test_a_connection_given_up_during_set_up_is_closed(trigger: str, turns: int) -> None:
    """The caller gives up (cancels) ``turns`` event-loop turns after the link came up: at
    the central's controller (its connection event not yet at the host), or at the board
    (the client still exchanges the MTU and discovers the services). The link is closed, not
    left to nobody, and the board accepts the next connection."""

    async def main() -> tuple[bool, bool, bool]:
        async with VirtualRadio() as radio:
            board = radio.add_board(sim_samples(1)[0])
            await board.start()
            client = BleakClient(board.address, backend=radio.backend.client, timeout=2.0)
            attempt = asyncio.get_running_loop().create_task(client.connect())
            controller = radio._central_controller  # pyright: ignore[reportPrivateUsage]
            links = (
                controller.le_connections if trigger == "controller" else board.device.connections
            )
            while not links:
                await asyncio.sleep(0)
            for _ in range(turns):
                await asyncio.sleep(0)
            attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await attempt
            given_up = attempt.cancelled()
            await asyncio.sleep(0.3)
            left_connected = board.connected
            async with BleakClient(board.address, backend=radio.backend.client, timeout=2.0) as c:
                reconnected = c.is_connected
            return given_up, left_connected, reconnected

    given_up, left_connected, reconnected = asyncio.run(main())
    assert given_up  # the set-up was still under way
    assert not left_connected
    assert reconnected


def test_loss_bursts_last_a_time_not_a_number_of_notifications() -> None:
    """Back to back, a lost notification is followed by another lost one with probability
    ``1 - p_leave``; after a long quiet time the chain has forgotten the burst (stationary
    share ``p_enter / (p_enter + p_leave)``), as interference that lasts a time would."""
    p_enter, p_leave, n = 0.05, 0.25, 4000
    faults = BoardFaults(p_enter_loss=p_enter, p_leave_loss=p_leave, seed=11)

    async def on_radio() -> tuple[float, float]:
        board = VirtualRadio().add_board(sim_samples(1)[0], faults)
        return loss_after_loss(board, 0.0), loss_after_loss(board, 10.0)

    def loss_after_loss(board: VirtualBoard, quiet_s: float) -> float:
        after_loss = lost_after_loss = 0
        previous_lost = False
        for _ in range(n):
            board._t_start -= quiet_s / board.params.speed  # pyright: ignore[reportPrivateUsage]
            lost = not board._faulty_packets(b"x")  # pyright: ignore[reportPrivateUsage]
            if previous_lost:
                after_loss += 1
                lost_after_loss += lost
            previous_lost = lost
        return lost_after_loss / after_loss

    back_to_back, after_quiet = asyncio.run(on_radio())
    assert back_to_back == pytest.approx(1.0 - p_leave, abs=0.06)
    assert after_quiet == pytest.approx(p_enter / (p_enter + p_leave), abs=0.06)
