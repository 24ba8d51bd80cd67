"""End to end with the real firmware: ``firmware/coxa_fw`` in the MicroPython unix port, its
radio bridged to a bumble peripheral on the virtual radio, streamed by ``BleSource``.

Each session runs the unchanged firmware shell (``coxa_fw.main.Shell``: sampling, radio,
status, LED, button tasks) on a simulated squat pushed into an LSM6DSOX register model in real
time, and compares what ``BleSource`` delivered with the firmware's own FIFO (written out when
it stops): every sample from the first one received to the newest one taken, byte for byte.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import replace
from pathlib import Path

import pytest

from coxa import wire
from coxa.sources import BleBoard, BleLinkError, BleLinkStats, BleSource, pair_board
from coxa.sources.virtual import CENTRAL_ADDRESS, VirtualRadio
from tests.sources.bridge._bridge import (
    SEC_TYPE_PEER,
    BridgeConfig,
    BridgeFaults,
    FirmwareBoard,
    peer_key,
)
from tests.sources.bridge._session import FAST, BridgeOutcome, squat_counts, stream

pytestmark = pytest.mark.micropython

BOARD_ID = 0x1A2B
DROPS = BridgeFaults(drop_after_s=(0.8, 1.9), away_s=0.6)


def _rig(board: FirmwareBoard, bonded: bool = False) -> BleBoard:
    return BleBoard(board.address, board.config.board_id, board.config.segment, bonded)


async def _session(workdir: Path, config: BridgeConfig, seconds: float) -> BridgeOutcome:
    async with VirtualRadio() as radio:
        board = FirmwareBoard(radio, workdir, squat_counts(seconds), config)
        await board.start()
        try:
            outcome = await stream(board, _rig(board))
        finally:
            await board.kill()
        assert board.errors == [], board.errors
        return outcome


def _assert_complete(outcome: BridgeOutcome) -> None:
    truth = outcome.truth
    assert outcome.missing() == [], "samples the firmware took never arrived"
    assert outcome.mismatched() == [], "received samples differ from the firmware's FIFO"
    assert outcome.health.lost_samples == 0
    assert outcome.health.backfill_pending == 0
    assert truth.next_k == truth.pushed, "the firmware did not read every IMU sample"
    assert truth.samples_dropped == 0
    assert truth.unsent_wanted == 0


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> BridgeOutcome:
    workdir = tmp_path_factory.mktemp("bridge_clean")
    return asyncio.run(_session(workdir, BridgeConfig(board_id=BOARD_ID), 3.0))


@pytest.fixture(scope="module")
def drop_run(tmp_path_factory: pytest.TempPathFactory) -> BridgeOutcome:
    workdir = tmp_path_factory.mktemp("bridge_drops")
    return asyncio.run(_session(workdir, BridgeConfig(board_id=BOARD_ID, faults=DROPS), 3.0))


def test_firmware_streams_every_sample_to_ble_source(clean_run: BridgeOutcome) -> None:
    _assert_complete(clean_run)
    truth = clean_run.truth
    assert truth.pushed == len(squat_counts(3.0)) // 12
    assert len(set(clean_run.seqs)) > 0.9 * truth.pushed  # streaming began within 0.3 s
    assert clean_run.stats.att_mtu == wire.RECOMMENDED_ATT_MTU
    assert clean_run.stats.duplicates == 0
    assert clean_run.health.reconnects == 0
    assert clean_run.frames(wire.KIND_DATA_BACKFILL) == []
    live = clean_run.frames(wire.KIND_DATA_LIVE)
    # one complete packet per frame at MTU 247, ~50 ms of samples each (framer default)
    assert len(live) == sum(len(a.frames) for a in clean_run.arrivals)
    assert all(len(a.record.payload) <= wire.RECOMMENDED_ATT_MTU - 3 for a in clean_run.arrivals)
    assert 8 <= sum(f.count for f in live) / len(live) <= 15
    assert truth.ble["frames_lost"] == 0
    assert truth.ble["connections"] == 1
    assert clean_run.health.battery_pct == 72.0  # 3.9 V on the fake ADC, firmware's LiPo curve


def test_completeness_checks_catch_a_hole_and_a_changed_byte(clean_run: BridgeOutcome) -> None:
    arrivals = [a for a in clean_run.arrivals if a.frames]
    holed = BridgeOutcome(
        arrivals[:5] + arrivals[6:],
        clean_run.health,
        clean_run.stats,
        clean_run.truth,
        clean_run.wall_s,
    )
    hole = arrivals[5].frames[0].frame
    assert holed.missing() == [wire.seq_add(hole.seq0, i) for i in range(hole.count)]
    samples = bytearray(clean_run.truth.samples)
    k = hole.seq0 - clean_run.truth.oldest_k
    samples[k * wire.QUAT_SAMPLE_BYTES] ^= 0x01
    changed = BridgeOutcome(
        clean_run.arrivals,
        clean_run.health,
        clean_run.stats,
        replace(clean_run.truth, samples=bytes(samples)),
        clean_run.wall_s,
    )
    assert changed.mismatched() == [hole.seq0]


def test_link_drops_mid_stream_are_recovered_by_backfill(drop_run: BridgeOutcome) -> None:
    _assert_complete(drop_run)
    truth = drop_run.truth
    assert drop_run.health.reconnects == len(DROPS.drop_after_s)
    assert drop_run.stats.reboots == 0  # reconnections, not sequence restarts
    assert truth.ble["connections"] == 1 + len(DROPS.drop_after_s)
    # what the board took while out of reach came back from its FIFO, not from live frames
    backfilled = {
        wire.seq_add(f.seq0, i)
        for f in drop_run.frames(wire.KIND_DATA_BACKFILL)
        for i in range(f.count)
    }
    away_samples = DROPS.away_s * 200 * len(DROPS.drop_after_s)
    assert len(backfilled) >= 0.8 * away_samples
    live = {
        wire.seq_add(f.seq0, i)
        for f in drop_run.frames(wire.KIND_DATA_LIVE)
        for i in range(f.count)
    }
    assert len(set(range(min(live), truth.next_k)) - live) >= 0.8 * away_samples


# ------------------------------------------------------------------------------------ pairing


def _secret_records(path: Path) -> list[tuple[int, bytes, bytes]]:
    """The records of the firmware's secret-store file (``coxa_fw.ble.SecretStore``)."""
    data = path.read_bytes()
    assert data[:4] == b"CXS1"
    out: list[tuple[int, bytes, bytes]] = []
    i = 4
    while i < len(data):
        sec_type, klen, vlen = struct.unpack_from("<BBH", data, i)
        i += 4
        out.append((sec_type, data[i : i + klen], data[i + klen : i + klen + vlen]))
        i += klen + vlen
    return out


async def _pair(radio: VirtualRadio, board: FirmwareBoard) -> wire.Status:
    """Pair (LE Secure Connections, bonding); ``pair_board`` returns once the firmware
    reports the bond (its pairing ends after the central's, it acts on the bond in its pump)."""
    try:
        return await pair_board(board.address, radio.backend, FAST)
    except BleLinkError as err:
        raise AssertionError(f"{err}\n{board.output()}") from err


async def _attempt(board: FirmwareBoard, rig_board: BleBoard, seconds: float) -> BleLinkStats:
    """Let BleSource try the board for ``seconds``; the links must all be refused."""
    async with BleSource([rig_board], params=FAST, backend=board.radio.backend) as source:
        delivered: list[object] = []

        async def consume() -> None:
            async for arrival in source:
                delivered.append(arrival)

        consumer = asyncio.get_running_loop().create_task(consume())
        await asyncio.sleep(seconds)
        stats = source.stats()[rig_board.board_id]
    await asyncio.wait_for(consumer, 5.0)
    assert delivered == []
    return stats


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    for name in ("boot1", "boot2", "boot3"):
        (tmp_path / name).mkdir()
    return tmp_path


def test_pairing_bonds_in_the_firmware_secret_store_and_survives_a_reboot(scratch: Path) -> None:
    secrets = scratch / "secrets.bin"
    config = BridgeConfig(board_id=BOARD_ID)

    async def main() -> None:
        async with VirtualRadio() as radio:
            # boot 1: no bond yet, so the pairing window is open
            board = FirmwareBoard(radio, scratch / "boot1", squat_counts(2.0), config, secrets)
            await board.start()
            try:
                status = await _pair(radio, board)
                assert not status.state & wire.STATE_PAIRING_MODE  # a new bond closes it
                assert board.keystore.stored == [CENTRAL_ADDRESS]
                outcome = await stream(board, _rig(board, bonded=True))
            finally:
                await board.kill()
            _assert_complete(outcome)
            assert outcome.truth.bonds == 1
            records = _secret_records(secrets)
            assert [(t, k) for t, k, _ in records] == [(SEC_TYPE_PEER, peer_key(CENTRAL_ADDRESS))]

            # boot 2 (reboot): the bond comes from the firmware's file, the window stays shut
            board = FirmwareBoard(radio, scratch / "boot2", squat_counts(2.0), config, secrets)
            await board.start()
            try:
                refused = await _attempt(board, _rig(board, bonded=False), 0.8)
                assert refused.rejected >= 1  # unencrypted link: NOT_PERMITTED
                assert "refuses control commands" in refused.last_error
                outcome = await stream(board, _rig(board, bonded=True))
            finally:
                await board.kill()
            _assert_complete(outcome)
            assert board.keystore.stored == []  # encrypted with the stored LTK, no new bond
            assert outcome.stats.rejected == 0
            assert _secret_records(secrets) == records

            # boot 3: the secret store is lost; the rig's bond no longer encrypts the link
            secrets.write_bytes(b"garbage")
            board = FirmwareBoard(radio, scratch / "boot3", squat_counts(2.0), config, secrets)
            await board.start()
            try:
                refused = await _attempt(board, _rig(board, bonded=True), 0.8)
            finally:
                await board.kill()
            assert refused.rejected >= 1
            assert "did not encrypt the link" in refused.last_error
            assert board.errors == []

    asyncio.run(main())
