"""The virtual radio through plain bleak: scanning, GATT layout, MTU, commands, identify."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner

from coxa import wire
from coxa.sources import identify_board, scan_boards
from coxa.sources._ble_link import BoardSession
from coxa.sources.virtual import VirtualRadio

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
