"""A virtual coxa board: a bumble GATT peripheral speaking protocol v1 like the firmware.

It mirrors ``firmware/coxa_fw/ble.py`` (GATT layout, advertising, pairing gate, status and
ack packets, fragmentation at the connection's ATT MTU, a status read value that is a cache
refreshed at boot, on connection, on a new bond and once a second with the periodic status
notification; events recorded by the stack and acted on in the board's pump) and
``firmware/coxa_fw/framer.py`` (live frames of the newest samples interleaved with backfill
frames from a RAM FIFO), fed by the simulator's samples in real or accelerated time. Faults
can be injected: link drops, reboots (the sequence restarts), bursty notification loss,
duplicated and reordered notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from bumble import pairing
from bumble.core import UUID
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.keys import MemoryKeyStore, PairingKeys

from coxa import wire
from coxa.sources.virtual._samples import BoardSamples

_LOG = logging.getLogger(__name__)

_BATTERY_SERVICE_UUID = UUID.from_16_bits(0x180F)
_BATTERY_LEVEL_UUID = UUID.from_16_bits(0x2A19)
_MIN_UNFRAGMENTED = 96
_FW_VERSION = (0, 1, 0)


def board_address(board_id: int) -> str:
    """The random static address a virtual board uses, derived from its id.

    Random static addresses have the two top bits set (Bluetooth Core, Vol 6, Part B, 1.3.2.1).
    """
    return f"C6:0A:00:00:{board_id >> 8:02X}:{board_id & 0xFF:02X}"


def frame_budget(att_mtu: int) -> int:
    """Largest frame a board builds for a connection with this ATT MTU (as the firmware).

    One complete packet when the packet payload has room for a useful frame (at least 96
    bytes), else full 243-byte frames cut into fragments.
    """
    room = wire.ble_payload_bytes(att_mtu) - 1
    if room >= _MIN_UNFRAGMENTED:
        return min(room, wire.MAX_FRAME_BYTES)
    return wire.MAX_FRAME_BYTES


@dataclass(frozen=True)
class BoardFaults:
    """Faults a virtual board injects. Times are board seconds since power-on.

    Attributes
    ----------
    drop_at_s : tuple of float
        The board drops the link at these times (a supervision timeout as seen by both
        sides); the frame in flight is lost, its samples stay in the FIFO. Default none.
    reboot_at_s : tuple of float
        The board resets at these times: link dropped, RAM FIFO lost, sequence numbers and
        device time restart, streaming stops; bonds survive (flash). Default none.
    p_enter_loss : float
        Per step of the loss chain, probability of entering a loss burst (two-state
        Gilbert-Elliott chain, doi:10.1002/j.1538-7305.1960.tb03959.x). Default 0.
    p_leave_loss : float
        Per step, probability of leaving a loss burst. Default 0.25 [assumption: bursts of 4
        steps on average, as ``coxa.sim.RadioParams`` counts them in packets].
    loss_step_s : float
        The chain takes one step per data notification, and one more per ``loss_step_s`` of
        board time that passed since the previous notification: interference lasts a time, so
        a burst ends while the board is quiet (a request retried a second later is not lost
        because the burst was counted in notifications). Default 0.05 s [assumption: the
        firmware's live frame period, so streaming steps about once per notification].
    p_duplicate : float
        Probability that a data notification is sent twice. Default 0.
    p_reorder : float
        Probability that a data notification is held back and sent after the next one.
        Default 0.
    seed : int
        Seed of the random faults.
    """

    drop_at_s: tuple[float, ...] = ()
    reboot_at_s: tuple[float, ...] = ()
    p_enter_loss: float = 0.0
    p_leave_loss: float = 0.25
    loss_step_s: float = 0.05
    p_duplicate: float = 0.0
    p_reorder: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("p_enter_loss", "p_duplicate", "p_reorder"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        if not 0.0 < self.p_leave_loss <= 1.0:
            raise ValueError(f"p_leave_loss must lie in (0, 1], got {self.p_leave_loss}")
        if not self.loss_step_s > 0.0:
            raise ValueError(f"loss_step_s must be positive, got {self.loss_step_s}")


@dataclass(frozen=True)
class VirtualBoardParams:
    """Behaviour of a virtual board.

    Attributes
    ----------
    speed : float
        Board seconds per host second: 1 is real time, 10 streams a 10 s recording in 1 s.
        Default 1.
    fifo_capacity : int
        RAM FIFO, samples. Default 6000 [src: firmware ``App`` default, 30 s at 200 Hz].
    live_max_age_ms : int
        A live frame goes once this much data waits. Default 50 [src: firmware default].
    live_max_lag_ms : int
        The live cursor skips ahead when more than this waits. Default 250 [src: firmware].
    backfill_slots : int
        Backfill ranges queued at most (more is BUSY). Default 8 [src: firmware default].
    packets_per_pump : int
        Notifications sent per pump at most. Default 12 [src: firmware default].
    pump_interval_s : float
        Host seconds between two pumps. Default 0.005 [assumption: the firmware's shell
        steps every 5-50 ms].
    adv_interval_ms : float
        Advertising interval, ms. Default 20 [assumption: the shortest connectable legacy
        interval, so reconnections are quick; the firmware uses 100 ms].
    pairing_window_s : float
        Length of the pairing window, board seconds. Default 120 [src: firmware
        ``DEFAULT_PAIRING_TIMEOUT_MS``].
    boot_s : float
        Board seconds a reboot keeps the board silent. Default 0.2 [assumption].
    reboot_seq : int
        First sequence number after a reboot. Default 0 [src: firmware ``App`` default].
    battery_pct : int
        Battery Level characteristic value, percent. Default 80 [assumption].
    status_period_s : float
        Board seconds between two periodic status frames: each is notified on the status
        characteristic and becomes its read value, which is otherwise only refreshed at
        boot, on connection, on a new bond and when the pairing window opens (a read is
        served from that cache, as the firmware's NimBLE attribute table does). Default 1
        [src: firmware ``main.STATUS_PERIOD_MS``].
    refresh_status_on_connect : bool
        Refresh the status read value when a central connects. Default True [src: firmware
        ``ble.py``]; False models firmware that did not, whose read value after a
        reconnection is up to ``status_period_s`` old.
    """

    speed: float = 1.0
    fifo_capacity: int = 6000
    live_max_age_ms: int = 50
    live_max_lag_ms: int = 250
    backfill_slots: int = 8
    packets_per_pump: int = 12
    pump_interval_s: float = 0.005
    adv_interval_ms: float = 20.0
    pairing_window_s: float = 120.0
    boot_s: float = 0.2
    reboot_seq: int = 0
    battery_pct: int = 80
    status_period_s: float = 1.0
    refresh_status_on_connect: bool = True

    def __post_init__(self) -> None:
        if self.speed <= 0 or self.pump_interval_s <= 0 or self.adv_interval_ms <= 0:
            raise ValueError("speed, pump_interval_s and adv_interval_ms must be positive")
        if self.status_period_s <= 0:
            raise ValueError(f"status_period_s must be positive, got {self.status_period_s}")
        if self.fifo_capacity < 1 or self.backfill_slots < 1 or self.packets_per_pump < 1:
            raise ValueError("fifo_capacity, backfill_slots and packets_per_pump must be >= 1")


class _PairingGate(pairing.PairingDelegate):
    """Accepts a new pairing only while the board's pairing window is open."""

    def __init__(self, board: VirtualBoard) -> None:
        super().__init__(io_capability=pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)
        self._board = board

    async def accept(self) -> bool:
        allowed = self._board.pairing_mode
        if not allowed:
            self._board.refused_pairings += 1
        return allowed


class _TxChannel:
    """Packet counter and pending packets of one notifying characteristic."""

    def __init__(self) -> None:
        self.counter = 0
        self.packets: deque[bytes] = deque()

    def reset(self) -> bool:
        """New connection: counter back to 0; True if a frame was in flight."""
        lost = bool(self.packets)
        self.packets.clear()
        self.counter = 0
        return lost

    def load(self, frame: bytes, att_mtu: int) -> None:
        packets, self.counter = wire.fragment(frame, att_mtu, self.counter)
        self.packets.extend(packets)


class VirtualBoard:
    """A simulated board on a virtual radio: a bumble peripheral that streams protocol v1.

    Create it through :meth:`coxa.sources.virtual.VirtualRadio.add_board`; it powers on,
    advertises and streams once the radio has started (``await radio.start()``).

    Parameters
    ----------
    device : bumble.device.Device
        The board's bumble device on the radio's link.
    samples : BoardSamples
        What it samples.
    params : VirtualBoardParams
    faults : BoardFaults
    address : str
        Its random static address.

    Attributes
    ----------
    board_id, placement : int
    address : str
    connections, drops, reboots : int
        Connections accepted, injected link drops and reboots so far.
    refused_pairings : int
        Pairing requests refused outside the pairing window.
    frames_live, frames_backfill, samples_live, samples_backfill : int
        Data frames and samples sent.
    lost_notifications, duplicated_notifications, reordered_notifications : int
        Injected faults on data notifications.
    frames_lost : int
        Frames in flight when a link went down (their samples stay in the FIFO).
    identify_count : int
        IDENTIFY commands with a duration > 0 received.
    commands, rejected_commands : int
        Commands executed, and refused with NOT_PERMITTED (untrusted link).
    produced : list of (int, int, int)
        ``(boot, seq, sample_index)`` of every sample taken, in order: the truth a test
        compares the host's capture with.
    """

    def __init__(
        self,
        device: Device,
        samples: BoardSamples,
        params: VirtualBoardParams,
        faults: BoardFaults,
        address: str,
    ) -> None:
        self.device = device
        self.samples = samples
        self.params = params
        self.faults = faults
        self.board_id = samples.board_id
        self.placement = samples.placement
        self.address = address
        self._rng = np.random.default_rng(faults.seed)
        self._in_burst = False
        self._loss_step_at_s = -np.inf  # board time of the loss chain's last step
        self._held: bytes | None = None
        self._t_rel_s = (samples.t_us - samples.t_us[0]).astype(np.float64) * 1e-6
        self._adv = wire.encode_advertising(self.board_id, self.placement)
        self._scan = wire.encode_scan_response(self.board_id, self.placement, *_FW_VERSION)
        # characteristics (firmware GATT layout)
        self._data: Characteristic[bytes] = Characteristic(
            wire.DATA_CHAR_UUID, Characteristic.Properties.NOTIFY, Characteristic.Permissions(0)
        )
        self._control: Characteristic[bytes] = Characteristic(
            wire.CONTROL_CHAR_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.Permissions.WRITEABLE,
            CharacteristicValue(write=self._on_control_write),
        )
        self._status: Characteristic[bytes] = Characteristic(
            wire.STATUS_CHAR_UUID,
            Characteristic.Properties.NOTIFY | Characteristic.Properties.READ,
            Characteristic.Permissions.READABLE,
            CharacteristicValue(read=self._on_status_read),
        )
        self._battery: Characteristic[bytes] = Characteristic(
            _BATTERY_LEVEL_UUID,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Characteristic.Permissions.READABLE,
            CharacteristicValue(read=lambda _conn: bytes([params.battery_pct])),
        )
        device.add_service(Service(wire.SERVICE_UUID, [self._data, self._control, self._status]))
        device.add_service(Service(_BATTERY_SERVICE_UUID, [self._battery]))
        device.keystore = MemoryKeyStore()
        device.pairing_config_factory = self._pairing_config
        device.on(device.EVENT_CONNECTION, self._on_connection)
        # state
        self.connections = 0
        self.drops = 0
        self.reboots = 0
        self.refused_pairings = 0
        self.frames_live = 0
        self.frames_backfill = 0
        self.samples_live = 0
        self.samples_backfill = 0
        self.lost_notifications = 0
        self.duplicated_notifications = 0
        self.reordered_notifications = 0
        self.frames_lost = 0
        self.identify_count = 0
        self.commands = 0
        self.rejected_commands = 0
        self.produced: list[tuple[int, int, int]] = []
        self._bonds: set[str] = set()
        self._new_bonds: list[str] = []  # recorded by the pairing event, stored by the pump
        self._conn: Connection | None = None
        self._conn_seen: Connection | None = None  # the connection the pump last saw
        self._status_value = b""  # the status characteristic's read value
        self._next_status_s = 0.0
        self._control_rx: deque[tuple[Connection, bytes]] = deque()
        self._control_reasm = wire.Reassembler()
        self._tx_data = _TxChannel()
        self._tx_status = _TxChannel()
        self._status_q: deque[bytes] = deque()
        self._task: asyncio.Task[None] | None = None
        self._t_start = 0.0
        self._aux_tasks: set[asyncio.Task[None]] = set()
        self._pairing_until_s: float | None = None
        self._identify_until_s: float | None = None
        self._next_drop = 0
        self._next_reboot = 0
        self._booting_until_s: float | None = None
        self._reset_epoch(seq_start=samples.seq_start, first_index=0)

    # ------------------------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on, open the pairing window if no bond is stored, advertise, start sampling."""
        loop = asyncio.get_running_loop()
        await self.device.power_on()
        self._t_start = time.monotonic()
        if not self._bonds:
            self.enter_pairing_mode()
        self._refresh_status()
        self._next_status_s = self.params.status_period_s
        await self._advertise()
        self._task = loop.create_task(self._run(), name=f"virtual board {self.board_id}")

    async def stop(self) -> None:
        """Stop sampling and drop the link."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.disconnect()

    @property
    def board_time_s(self) -> float:
        """Board seconds since power-on (the radio's speed applied)."""
        return (time.monotonic() - self._t_start) * self.params.speed

    @property
    def connected(self) -> bool:
        """True while a central is connected."""
        return self._conn is not None

    @property
    def streaming(self) -> bool:
        """True while live frames are produced (START_STREAM received)."""
        return self._streaming

    @property
    def finished(self) -> bool:
        """True once every sample of :attr:`samples` has been taken."""
        return self._next_index >= self.samples.count

    @property
    def pairing_mode(self) -> bool:
        """True while the pairing window is open."""
        until = self._pairing_until_s
        if until is not None and self.board_time_s >= until:
            self._pairing_until_s = None
        return self._pairing_until_s is not None

    @property
    def bonded(self) -> bool:
        """True if at least one bond is stored."""
        return bool(self._bonds)

    @property
    def identifying(self) -> bool:
        """True while an IDENTIFY blink runs."""
        until = self._identify_until_s
        return until is not None and self.board_time_s < until

    def enter_pairing_mode(self) -> None:
        """Open the pairing window (the board's button)."""
        self._pairing_until_s = self.board_time_s + self.params.pairing_window_s
        self._refresh_status()

    def forget_bonds(self) -> None:
        """Delete every bond (long button press) and open the pairing window."""
        self._bonds.clear()
        self._new_bonds.clear()
        self.device.keystore = MemoryKeyStore()
        self.enter_pairing_mode()

    # ------------------------------------------------------------------------------------
    # Sampling and the FIFO (one boot = one epoch of sequence numbers)
    # ------------------------------------------------------------------------------------

    def _reset_epoch(self, seq_start: int, first_index: int) -> None:
        self._boot = self.reboots
        self._seq_start = seq_start
        self._index0 = first_index  # sample index of ordinal k = 0 in this boot
        self._next_index = first_index
        self._k_next = 0
        self._k_oldest = 0
        self._live_k = 0
        self._streaming = False
        self._last_backfill = False
        self._backfill: deque[list[int]] = deque()
        self._dropped = 0
        self._unsent_from = 0  # FIFO samples below this were handed to a frame
        first_t = int(self.samples.t_us[min(first_index, self.samples.count - 1)])
        # device time restarts near 0 on a reboot; the first boot keeps the simulator's clock
        self._t_offset_us = 0 if first_index == 0 else first_t - round(self.params.boot_s * 1e6)

    def _seq(self, k: int) -> int:
        return (self._seq_start + k) & 0xFFFFFFFF

    def _produce(self) -> None:
        """Take the samples that are due (board time), as the IMU would deliver them."""
        due = int(np.searchsorted(self._t_rel_s, self.board_time_s, side="right"))
        while self._next_index < due:
            self.produced.append((self._boot, self._seq(self._k_next), self._next_index))
            self._next_index += 1
            self._k_next += 1
        capacity = self.params.fifo_capacity
        if self._k_next - self._k_oldest > capacity:
            new_oldest = self._k_next - capacity
            if self._streaming and self._unsent_from < new_oldest:
                self._dropped += new_oldest - max(self._unsent_from, self._k_oldest)
                self._unsent_from = new_oldest
            self._k_oldest = new_oldest

    def _frame(self, kind: int, k: int, n: int) -> bytes:
        index = self._index0 + k
        t0 = (int(self.samples.t_us[index]) - self._t_offset_us) & 0xFFFFFFFF
        header = bytearray(wire.DATA_HEADER_BYTES)
        wire.data_header_into(
            header, 0, kind, self.board_id, self._seq(k), t0, self.samples.period_us, n, False
        )
        size = wire.QUAT_SAMPLE_BYTES
        body = bytes(self.samples.payload[index * size : (index + n) * size])
        if k + n > self._unsent_from:
            self._unsent_from = k + n
        return bytes(header + body)

    def _next_frame(self, att_mtu: int) -> bytes | None:
        """The next live or backfill frame (alternating when both are due), as the framer."""
        fit = min(wire.MAX_SAMPLES_QUAT, (frame_budget(att_mtu) - wire.DATA_HEADER_BYTES) // 15)
        rate_hz = self.samples.rate_hz
        live_n = 0
        if self._streaming:
            self._live_k = max(self._live_k, self._k_oldest)
            pending = self._k_next - self._live_k
            lag = max(1, int(rate_hz * self.params.live_max_lag_ms / 1000))
            if pending > lag and pending > fit:
                self._live_k += pending - fit
                pending = fit
            need = min(fit, max(1, int(np.ceil(rate_hz * self.params.live_max_age_ms / 1000))))
            if self.finished:
                need = 1
            if pending >= need:
                live_n = min(pending, fit)
        while self._backfill:
            head = self._backfill[0]
            head[0] = max(head[0], self._k_oldest)
            if head[0] < head[1]:
                break
            self._backfill.popleft()
        if live_n > 0 and (not self._backfill or self._last_backfill):
            k = self._live_k
            self._live_k += live_n
            self._last_backfill = False
            self.frames_live += 1
            self.samples_live += live_n
            return self._frame(wire.KIND_DATA_LIVE, k, live_n)
        if self._backfill:
            head = self._backfill[0]
            k = head[0]
            n = min(fit, head[1] - k)
            head[0] = k + n
            if head[0] >= head[1]:
                self._backfill.popleft()
            self._last_backfill = True
            self.frames_backfill += 1
            self.samples_backfill += n
            return self._frame(wire.KIND_DATA_BACKFILL, k, n)
        return None

    def _request_backfill(self, from_seq: int, count: int) -> tuple[int, int, int]:
        """BACKFILL: (result, first_seq, count), clipped to the FIFO like the firmware."""
        if self._k_next == self._k_oldest:
            return wire.RESULT_UNAVAILABLE, 0, 0
        newest = self._k_next - 1
        start = newest + wire.seq_diff(from_seq, self._seq(newest))
        lo = max(start, self._k_oldest)
        hi = min(start + count, self._k_next)
        if hi <= lo:
            return wire.RESULT_UNAVAILABLE, 0, 0
        if len(self._backfill) >= self.params.backfill_slots:
            return wire.RESULT_BUSY, 0, 0
        self._backfill.append([lo, hi])
        return wire.RESULT_OK, self._seq(lo), hi - lo

    def status_frame(self) -> bytes:
        """The board's current status frame (28 bytes)."""
        state = 0
        if self._streaming:
            state |= wire.STATE_STREAMING
        if self.bonded:
            state |= wire.STATE_BONDED
        if self.pairing_mode:
            state |= wire.STATE_PAIRING_MODE
        if self.identifying:
            state |= wire.STATE_IDENTIFYING
        newest = self._seq(self._k_next - 1) if self._k_next > 0 else 0
        return wire.encode_status(
            self.board_id,
            self.placement,
            *_FW_VERSION,
            3700,
            self._k_next - self._k_oldest,
            self.params.fifo_capacity,
            self._dropped & 0xFFFFFFFF,
            wire.TEMPERATURE_UNKNOWN,
            round(self.samples.rate_hz),
            wire.MODE_QUAT,
            state,
            newest,
        )

    # ------------------------------------------------------------------------------------
    # Radio side
    # ------------------------------------------------------------------------------------

    def _pairing_config(self, _connection: Connection) -> pairing.PairingConfig:
        return pairing.PairingConfig(
            sc=True,
            mitm=False,
            bonding=True,
            delegate=_PairingGate(self),
            identity_address_type=pairing.PairingConfig.AddressType.RANDOM,
        )

    async def _advertise(self) -> None:
        await self.device.start_advertising(
            advertising_data=self._adv,
            scan_response_data=self._scan,
            auto_restart=True,
            advertising_interval_min=self.params.adv_interval_ms,
            advertising_interval_max=self.params.adv_interval_ms,
        )

    def _on_connection(self, connection: Connection) -> None:
        if self._conn is not None or self._booting_until_s is not None:
            # one central at a time, as the firmware
            task = asyncio.get_running_loop().create_task(self._disconnect_extra(connection))
            self._aux_tasks.add(task)
            task.add_done_callback(self._aux_tasks.discard)
            return
        self._conn = connection
        self.connections += 1
        if self._tx_data.reset():
            self.frames_lost += 1
        self._tx_status.reset()
        self._status_q.clear()
        self._control_reasm.reset()
        self._held = None
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        connection.on(connection.EVENT_PAIRING, self._on_pairing)

    async def _disconnect_extra(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            await connection.disconnect()

    def _on_disconnection(self, _reason: int) -> None:
        self._conn = None
        if self._tx_data.reset():
            self.frames_lost += 1
        self._held = None

    def _on_pairing(self, keys: PairingKeys) -> None:
        # like the firmware's IRQ: record only; the pump stores the bond
        conn = self._conn
        if conn is not None:
            self._new_bonds.append(str(conn.peer_address))
        _LOG.debug("board %d: paired (%s)", self.board_id, keys)

    def _store_bonds(self) -> None:
        """The pump's part of a new bond: store it, close the pairing window (a new bond
        does), refresh the status value (as the firmware)."""
        if not self._new_bonds:
            return
        self._bonds.update(self._new_bonds)
        self._new_bonds.clear()
        self._pairing_until_s = None
        self._refresh_status()
        _LOG.debug("board %d: bond stored", self.board_id)

    def _refresh_status(self) -> None:
        """Write the current status into the status characteristic's read value."""
        self._status_value = bytes([0]) + self.status_frame()

    def _periodic_status(self, t_s: float) -> None:
        """Every ``status_period_s``: refresh the read value, notify the status if connected."""
        if t_s < self._next_status_s:
            return
        self._next_status_s = t_s + self.params.status_period_s
        self._refresh_status()
        if self._conn is not None:
            self._status_q.append(self._status_value[1:])

    def _on_control_write(self, connection: Connection, value: Any) -> None:
        # like the firmware's IRQ handler: record only
        self._control_rx.append((connection, bytes(value)))

    def _on_status_read(self, _connection: Connection) -> bytes:
        return self._status_value  # served from the attribute table, as NimBLE does

    def _trusted(self, connection: Connection) -> bool:
        if self.pairing_mode:
            return True
        return connection.is_encrypted and str(connection.peer_address) in self._bonds

    def _command(self, connection: Connection, data: bytes) -> None:
        self.commands += 1
        try:
            cmd = wire.decode_command(data)
        except wire.ProtocolError:
            reject = wire.reject_command(data)
            if reject is not None:
                self._status_q.append(reject.encode())
            return
        op, token = cmd.opcode, cmd.token
        if not self._trusted(connection) and op not in (wire.OP_GET_STATUS, wire.OP_IDENTIFY):
            self.rejected_commands += 1
            self._status_q.append(wire.encode_ack(op, token, wire.RESULT_NOT_PERMITTED))
            return
        result = wire.RESULT_OK
        extra: tuple[int, ...] = ()
        if op == wire.OP_START_STREAM:
            if not self._streaming:
                self._streaming = True
                self._live_k = self._k_next
        elif op == wire.OP_STOP_STREAM:
            self._streaming = False
        elif op == wire.OP_SET_RATE:
            if cmd.args[0] != round(self.samples.rate_hz):
                result = wire.RESULT_UNSUPPORTED  # the recording has one rate
        elif op == wire.OP_SET_MODE:
            if cmd.args[0] != wire.MODE_QUAT:
                result = wire.RESULT_UNSUPPORTED  # the simulator's frames carry quaternions
        elif op == wire.OP_IDENTIFY:
            seconds = cmd.args[0]
            self._identify_until_s = self.board_time_s + seconds if seconds else None
            self.identify_count += 1 if seconds else 0
        elif op == wire.OP_TIME_PING:
            t_dev = self._device_time_us()
            extra = (cmd.args[0], t_dev)
        elif op == wire.OP_BACKFILL:
            result, first, count = self._request_backfill(cmd.args[0], cmd.args[1])
            if result == wire.RESULT_OK:
                extra = (first, count)
        elif op == wire.OP_ZERO_AT_REST:
            result = wire.RESULT_UNSUPPORTED  # replayed samples cannot be re-zeroed
        self._status_q.append(wire.encode_ack(op, token, result, *extra))
        if op == wire.OP_GET_STATUS:
            self._status_q.append(self.status_frame())

    def _device_time_us(self) -> int:
        t_s = self.board_time_s
        index = min(int(np.searchsorted(self._t_rel_s, t_s)), self.samples.count - 1)
        base = int(self.samples.t_us[index]) - self._t_offset_us
        return (base + round((t_s - float(self._t_rel_s[index])) * 1e6)) & 0xFFFFFFFF

    # ------------------------------------------------------------------------------------
    # The pump
    # ------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.params.pump_interval_s)
            t_s = self.board_time_s
            if self._booting_until_s is not None:
                if t_s < self._booting_until_s:
                    continue
                await self._finish_boot()
            await self._faults_due(t_s)
            if self._booting_until_s is not None:
                continue
            self._produce()
            self._store_bonds()
            self._periodic_status(t_s)
            conn = self._conn
            if conn is None:
                continue
            if conn is not self._conn_seen:
                self._conn_seen = conn
                if self.params.refresh_status_on_connect:
                    self._refresh_status()
            while self._control_rx:
                c, packet = self._control_rx.popleft()
                if c is not conn:
                    continue
                try:
                    frame = self._control_reasm.push(packet)
                except wire.ProtocolError:
                    continue
                if frame is not None:
                    self._command(conn, frame)
            await self._send(conn)

    async def _faults_due(self, t_s: float) -> None:
        drops = self.faults.drop_at_s
        if self._next_drop < len(drops) and t_s >= drops[self._next_drop]:
            self._next_drop += 1
            conn = self._conn
            if conn is not None:
                self.drops += 1
                _LOG.info("board %d: link dropped at %.2f s", self.board_id, t_s)
                await self._disconnect(conn)
        reboots = self.faults.reboot_at_s
        if self._next_reboot < len(reboots) and t_s >= reboots[self._next_reboot]:
            self._next_reboot += 1
            await self._reboot(t_s)

    async def _disconnect(self, conn: Connection) -> None:
        self._on_disconnection(0)
        with contextlib.suppress(Exception):
            await conn.disconnect()

    async def _reboot(self, t_s: float) -> None:
        self.reboots += 1
        _LOG.info("board %d: reboot at %.2f s", self.board_id, t_s)
        self._booting_until_s = t_s + self.params.boot_s
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()
        conn = self._conn
        if conn is not None:
            await self._disconnect(conn)
        self._identify_until_s = None

    async def _finish_boot(self) -> None:
        self._booting_until_s = None
        first = int(np.searchsorted(self._t_rel_s, self.board_time_s, side="right"))
        self._reset_epoch(seq_start=self.params.reboot_seq, first_index=first)
        if not self._bonds:
            self.enter_pairing_mode()
        self._refresh_status()
        self._next_status_s = self.board_time_s + self.params.status_period_s
        await self._advertise()

    def _faulty_packets(self, packet: bytes) -> list[bytes]:
        """What the radio delivers for one data notification under the injected faults."""
        f = self.faults
        if f.p_enter_loss > 0.0:
            self._step_loss_chain()
            if self._in_burst:
                self.lost_notifications += 1
                return []
        out = [packet]
        if f.p_duplicate > 0.0 and float(self._rng.uniform()) < f.p_duplicate:
            self.duplicated_notifications += 1
            out.append(packet)
        if self._held is not None:
            out.append(self._held)
            self._held = None
        elif f.p_reorder > 0.0 and float(self._rng.uniform()) < f.p_reorder:
            self.reordered_notifications += 1
            self._held = packet
            out.remove(packet)
        return out

    def _step_loss_chain(self) -> None:
        """Advance the loss chain by one step plus one per ``loss_step_s`` of quiet time.

        ``k`` steps of the two-state chain at once: with stationary burst share ``pi`` and
        ``lam = 1 - p_enter - p_leave``, P(burst after k) is ``pi + (1 - pi) lam^k`` from a
        burst and ``pi (1 - lam^k)`` from outside one.
        """
        f = self.faults
        t_s = self.board_time_s
        quiet_steps = (
            0
            if np.isinf(self._loss_step_at_s)
            else int((t_s - self._loss_step_at_s) / f.loss_step_s)
        )
        self._loss_step_at_s = t_s
        k = 1 + max(quiet_steps, 0)
        lam = 1.0 - f.p_enter_loss - f.p_leave_loss
        pi = f.p_enter_loss / (f.p_enter_loss + f.p_leave_loss)
        decay = lam**k
        p_burst = pi + (1.0 - pi) * decay if self._in_burst else pi * (1.0 - decay)
        self._in_burst = float(self._rng.uniform()) < p_burst

    async def _send(self, conn: Connection) -> None:
        budget = self.params.packets_per_pump
        mtu = conn.att_mtu
        try:
            while budget > 0:
                if not self._tx_status.packets:
                    if not self._status_q:
                        break
                    self._tx_status.load(self._status_q.popleft(), mtu)
                packet = self._tx_status.packets.popleft()
                await self.device.notify_subscriber(conn, self._status, packet)
                budget -= 1
            while budget > 0:
                if not self._tx_data.packets:
                    frame = self._next_frame(mtu)
                    if frame is None:
                        break
                    self._tx_data.load(frame, mtu)
                packet = self._tx_data.packets.popleft()
                for delivered in self._faulty_packets(packet):
                    await self.device.notify_subscriber(conn, self._data, delivered)
                budget -= 1
        except Exception as err:  # the link went away under the notification
            _LOG.debug("board %d: notify failed: %r", self.board_id, err)
            if self._tx_data.reset():
                self.frames_lost += 1
