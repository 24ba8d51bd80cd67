"""Host side of the firmware bridge: the real firmware as a bumble peripheral on a virtual radio.

:class:`FirmwareBoard` starts ``mp_bridge_board.py`` (the unchanged firmware shell in the
MicroPython unix port, its ``bluetooth`` module replaced by ``bridge_bluetooth``) and serves
it over a TCP socket on 127.0.0.1. It owns a bumble ``Device`` with its own virtual controller
on the radio's ``LocalLink`` and mirrors the firmware's GATT table there, so
:class:`coxa.sources.BleSource` (through the radio's bleak backend) scans, connects, pairs and
streams exactly as with a board:

* firmware -> radio: ``config`` (ATT MTU, pairing parameters), the service table,
  advertising starts and stops, values written with ``gatts_write`` (served to reads from here,
  as NimBLE serves them from its attribute table), notifications (``force``: MicroPython sends
  them whether or not the central subscribed), disconnections, security requests
  (``gap_pair``) and the peripheral's own ATT MTU exchange;
* radio -> firmware: connections, disconnections, ATT MTU updates, control writes,
  encryption updates, and the bond store: the device's bumble key store is
  :class:`FirmwareKeyStore`, which keeps nothing itself and asks the firmware's secret store
  (``_IRQ_GET_SECRET`` / ``_IRQ_SET_SECRET``) for every look-up and every new bond.

Faults (:class:`BridgeFaults`): forced link drops a given time after the first data
notification, with the board out of reach (no advertising) for a while, as a supervision
timeout while the athlete walks away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bumble.controller import Controller
from bumble.core import UUID
from bumble.device import Connection, Device, Peer
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import KeyStore, PairingKeys
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from coxa import wire
from coxa.sources.virtual import VirtualRadio, board_address
from tests.sources.bridge import bridge_bluetooth as bb
from tests.support.micropython import micropython_env, micropython_executable

_LOG = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
MP_SCRIPT = HERE / "mp_bridge_board.py"
MP_PATH = (HERE, ROOT / "tests" / "firmware" / "fakes", ROOT / "firmware", ROOT / "host" / "coxa")
"""MICROPYPATH entries (after ``.frozen``) of the firmware run."""

SEC_TYPE_PEER = 2
"""NimBLE's secret type of a peer's keys (``coxa_fw.ble.SEC_TYPE_PEER``): one per bond."""

_IO_CAPABILITIES = {
    0: PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY,
    1: PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_YES_NO_INPUT,
    2: PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY,
    3: PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT,
    4: PairingDelegate.IoCapability.DISPLAY_OUTPUT_AND_KEYBOARD_INPUT,
}


class BridgeError(RuntimeError):
    """The firmware process or the bridge failed (the message carries the process output)."""


@dataclass(frozen=True)
class BridgeFaults:
    """Faults the bridge injects on the radio side.

    Attributes
    ----------
    drop_after_s : tuple of float
        Host seconds after the first data notification at which the peripheral drops the
        link (both sides see a disconnection; the firmware's frame in flight is lost).
        Default none.
    away_s : float
        After each drop the board is out of reach for this long: the firmware's request to
        advertise is held back, so its samples pile up in its FIFO. Default 0.6 s
        [assumption: long enough for a few live frames to be missed].
    """

    drop_after_s: tuple[float, ...] = ()
    away_s: float = 0.6


@dataclass(frozen=True)
class BridgeConfig:
    """One bridged board.

    Attributes
    ----------
    board_id : int
        u16 board id the firmware uses. Default 0x1A2B [assumption].
    segment : str
        Segment name passed to the firmware shell. Default ``thigh_r``.
    profile : str
        Board profile (``coxa_fw.profiles``); its IMU is modelled on the fake I2C bus.
        Default ``coxa-s3-lsm6dsox`` [src: the reference board].
    window : int
        Notifications in flight before ``gatts_notify`` raises ENOMEM. Default 8
        [assumption: ``bridge_bluetooth.DEFAULT_WINDOW``].
    faults : BridgeFaults
        Radio faults. Default none.
    """

    board_id: int = 0x1A2B
    segment: str = "thigh_r"
    profile: str = "coxa-s3-lsm6dsox"
    window: int = bb.DEFAULT_WINDOW
    faults: BridgeFaults = field(default_factory=BridgeFaults)


@dataclass(frozen=True)
class FirmwareTruth:
    """What the firmware held when it stopped (written by ``mp_bridge_board.write_truth``).

    Attributes
    ----------
    oldest_k, next_k : int
        Ordinals of the oldest sample in the FIFO and of the next one (the first sequence
        number is 0, so ordinal = sequence number for these short runs).
    samples : bytes
        Wire bytes (quaternion mode, 15 each) of ordinals ``oldest_k .. next_k - 1``.
    pushed : int
        Samples pushed into the IMU model.
    unsent_wanted, samples_dropped, imu_errors, bonds : int
        FIFO and app counters; bonds in the firmware's secret store.
    ble, bridge : dict of str to int
        ``BlePeripheral`` counters and the stand-in's counters.
    """

    oldest_k: int
    next_k: int
    samples: bytes
    pushed: int
    unsent_wanted: int
    samples_dropped: int
    imu_errors: int
    bonds: int
    ble: dict[str, int]
    bridge: dict[str, int]

    @classmethod
    def load(cls, path: Path) -> FirmwareTruth:
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            oldest_k=d["oldest_k"],
            next_k=d["next_k"],
            samples=bytes.fromhex(d["samples"]),
            pushed=d["pushed"],
            unsent_wanted=d["unsent_wanted"],
            samples_dropped=d["samples_dropped"],
            imu_errors=d["imu_errors"],
            bonds=d["bonds"],
            ble=d["ble"],
            bridge=d["bridge"],
        )

    def sample(self, seq: int) -> bytes | None:
        """The wire bytes of sample ``seq``, None if the FIFO does not hold it."""
        if not self.oldest_k <= seq < self.next_k:
            return None
        size = wire.QUAT_SAMPLE_BYTES
        o = (seq - self.oldest_k) * size
        return self.samples[o : o + size]


def peer_key(name: str) -> bytes:
    """NimBLE's key of a peer's secrets: ``ble_addr_t`` (address type, 6 address bytes LE)."""
    address = Address(name)
    return bytes([address.address_type]) + bytes(address)


class FirmwareKeyStore(KeyStore):
    """bumble key store of the bridged peripheral: the firmware's secret store, nothing here.

    A bond is one ``SEC_TYPE_PEER`` secret keyed like NimBLE's (:func:`peer_key`), its value
    the JSON of the name and bumble's ``PairingKeys``. ``refused`` lists the names whose bond
    the firmware refused to store (outside its pairing window).
    """

    def __init__(self, board: FirmwareBoard) -> None:
        self._board = board
        self.refused: list[str] = []
        self.stored: list[str] = []

    async def get(self, _name: str) -> PairingKeys | None:
        value = await self._board.get_secret(SEC_TYPE_PEER, 0, peer_key(_name))
        return None if value is None else PairingKeys.from_dict(json.loads(value)["keys"])

    async def update(self, name: str, keys: PairingKeys) -> None:
        value = json.dumps({"name": name, "keys": keys.to_dict()}).encode()
        if await self._board.set_secret(SEC_TYPE_PEER, peer_key(name), value):
            self.stored.append(name)
        else:
            self.refused.append(name)

    async def delete(self, name: str) -> None:
        await self._board.set_secret(SEC_TYPE_PEER, peer_key(name), None)

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        out: list[tuple[str, PairingKeys]] = []
        index = 0
        while (value := await self._board.get_secret(SEC_TYPE_PEER, index, None)) is not None:
            entry = json.loads(value)
            out.append((entry["name"], PairingKeys.from_dict(entry["keys"])))
            index += 1
        return out


def _properties(flags: int) -> tuple[Characteristic.Properties, Characteristic.Permissions]:
    props = Characteristic.Properties(0)
    perms = Characteristic.Permissions(0)
    if flags & bb.FLAG_READ:
        props |= Characteristic.Properties.READ
        perms |= Characteristic.Permissions.READABLE
    if flags & bb.FLAG_WRITE:
        props |= Characteristic.Properties.WRITE
        perms |= Characteristic.Permissions.WRITEABLE
    if flags & bb.FLAG_WRITE_NO_RESPONSE:
        props |= Characteristic.Properties.WRITE_WITHOUT_RESPONSE
        perms |= Characteristic.Permissions.WRITEABLE
    if flags & bb.FLAG_NOTIFY:
        props |= Characteristic.Properties.NOTIFY
    return props, perms


def _uuid(value: int | str) -> UUID:
    return UUID.from_16_bits(value) if isinstance(value, int) else UUID(value)


class FirmwareBoard:
    """The firmware in MicroPython behind a bumble peripheral on ``radio``.

    Parameters
    ----------
    radio : VirtualRadio
        The radio (its ``LocalLink``); the board's address is ``board_address(board_id)``.
    workdir : Path
        Scratch folder: configuration, counts, log, truth, the process's output; the secret
        store too unless ``secrets`` is given.
    counts : bytes
        Raw IMU samples (12 bytes each, i16 LE gx gy gz ax ay az, sensor axes) the IMU model
        produces at its data rate.
    config : BridgeConfig
    secrets : Path, optional
        The firmware's secret-store file (keep it across two runs to model a reboot).

    Attributes
    ----------
    imu_done : asyncio.Event
        Set when every count was pushed and read by the firmware (``newest_k`` then holds the
        ordinal of its newest sample).
    connections, drops, notifications : int
        Connections accepted, forced drops, notifications relayed to the radio.
    errors : list of str
        Failures of the bridge itself (a test asserts there are none).
    keystore : FirmwareKeyStore
    """

    def __init__(
        self,
        radio: VirtualRadio,
        workdir: Path,
        counts: bytes,
        config: BridgeConfig,
        secrets: Path | None = None,
    ) -> None:
        self.radio = radio
        self.workdir = workdir
        self.config = config
        self.address = board_address(config.board_id)
        self.secrets = secrets or workdir / "secrets.bin"
        self._counts_path = workdir / "counts.bin"
        self._counts_path.write_bytes(counts)
        name = wire.board_name(config.board_id, wire.segment_from_name(config.segment))
        controller = Controller(name, link=radio.link)
        self._controller: Controller | None = controller
        self.device = Device(
            name=name,
            address=Address(self.address, Address.RANDOM_DEVICE_ADDRESS),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        self.keystore = FirmwareKeyStore(self)
        self.device.keystore = self.keystore
        self.device.pairing_config_factory = self._pairing_config
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        self.imu_done = asyncio.Event()
        self.newest_k = -1
        self.connections = 0
        self.drops = 0
        self.notifications = 0
        self.errors: list[str] = []
        self._config: dict[str, Any] = {"mtu": wire.MIN_ATT_MTU}
        self._chars: dict[int, Characteristic[bytes]] = {}
        self._values: dict[int, bytes] = {}
        self._data_handle = -1
        self._conns: dict[int, Connection] = {}
        self._pairing_now: set[int] = set()
        self._first_data: float | None = None
        self._away_until = 0.0
        self._adv_wanted: dict[str, Any] | None = None
        self._adv_lock = asyncio.Lock()
        self._adv_timer: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._next_req = 1
        self._inbox: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._connected = asyncio.Event()

    # ------------------------------------------------------------------------------------
    # Life cycle
    # ------------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.errors.append(f"bridge task failed: {task.exception()!r}")
            _LOG.error("bridge task failed", exc_info=task.exception())

    def output(self) -> str:
        """The firmware process's stdout and stderr so far (for failure messages)."""
        parts = []
        for name in ("stdout.txt", "stderr.txt"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    async def start(self, timeout_s: float = 20.0) -> None:
        """Start the firmware; return once it advertises on the radio."""
        self._server = await asyncio.start_server(self._on_socket, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        cfg = {
            "port": port,
            "profile": self.config.profile,
            "segment": self.config.segment,
            "board_id": self.config.board_id,
            "counts": str(self._counts_path),
            "secrets": str(self.secrets),
            "log": str(self.workdir / "log.txt"),
            "truth": str(self.workdir / "truth.json"),
            "window": self.config.window,
        }
        cfg_path = self.workdir / "bridge.json"
        cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
        with (
            (self.workdir / "stdout.txt").open("wb") as out,
            (self.workdir / "stderr.txt").open("wb") as err,
        ):
            self._proc = await asyncio.create_subprocess_exec(
                str(micropython_executable()),
                str(MP_SCRIPT),
                str(cfg_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=micropython_env(MP_PATH),
                cwd=str(self.workdir),
            )
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            await self.kill()
            raise BridgeError(
                f"the firmware did not advertise within {timeout_s} s\n{self.output()}"
            ) from None

    async def stop(self, timeout_s: float = 15.0) -> FirmwareTruth:
        """Stop the firmware (STOP message), wait for it to exit; return its truth."""
        proc = self._proc
        if proc is None:
            raise BridgeError("the firmware was not started")
        self._send(bb.H_STOP)
        try:
            rc = await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            await self.kill()
            raise BridgeError(
                f"the firmware did not stop within {timeout_s} s\n{self.output()}"
            ) from None
        await self._close()
        if rc != 0:
            raise BridgeError(f"the firmware exited with status {rc}\n{self.output()}")
        return FirmwareTruth.load(self.workdir / "truth.json")

    async def kill(self) -> None:
        """End the firmware process at once (a power cut) and close the bridge."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await self._close()

    async def _close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()
        for conn in list(self._conns.values()):
            with contextlib.suppress(Exception):
                await conn.disconnect()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._controller is not None:  # off the air: a new boot gets a new controller
            self.radio.link.remove_controller(self._controller)
            self._controller = None

    # ------------------------------------------------------------------------------------
    # The socket
    # ------------------------------------------------------------------------------------

    async def _on_socket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._writer is not None:
            writer.close()
            return
        self._writer = writer
        self._spawn(self._work())
        try:
            while True:
                n, kind = struct.unpack("<HB", await reader.readexactly(3))
                body = await reader.readexactly(n - 1) if n > 1 else b""
                if kind == bb.M_REPLY:
                    (req,) = struct.unpack_from("<I", body, 0)
                    future = self._replies.pop(req, None)
                    if future is not None and not future.done():
                        future.set_result(json.loads(body[4:]))
                else:
                    self._inbox.put_nowait((kind, body))
        except (asyncio.IncompleteReadError, ConnectionError):
            self._stopped.set()
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(BridgeError("the firmware closed the bridge"))

    def _send(self, kind: int, body: bytes = b"") -> None:
        if self._writer is None or self._writer.is_closing():
            return
        self._writer.write(bb.frame(kind, body))

    async def _request(self, kind: int, body: bytes) -> Any:
        req = self._next_req
        self._next_req += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[req] = future
        self._send(kind, struct.pack("<I", req) + body)
        try:
            return await asyncio.wait_for(future, 5.0)
        finally:
            self._replies.pop(req, None)

    async def get_secret(self, sec_type: int, index: int, key: bytes | None) -> bytes | None:
        """``_IRQ_GET_SECRET`` on the firmware: the value, or None."""
        body = struct.pack("<BBB", sec_type, index, 0 if key is None else 1) + (key or b"")
        answer = await self._request(bb.H_GET_SECRET, body)
        return None if answer is None else bytes.fromhex(answer)

    async def set_secret(self, sec_type: int, key: bytes, value: bytes | None) -> bool:
        """``_IRQ_SET_SECRET`` on the firmware (None deletes): True if it stored it."""
        body = struct.pack("<BB", sec_type, len(key)) + key
        body += b"\x00" if value is None else b"\x01" + value
        return bool(await self._request(bb.H_SET_SECRET, body))

    # ------------------------------------------------------------------------------------
    # Firmware -> radio
    # ------------------------------------------------------------------------------------

    async def _work(self) -> None:
        handlers: dict[int, Callable[[bytes], Any]] = {
            bb.M_CONFIG: self._on_config,
            bb.M_REGISTER: self._on_register,
            bb.M_ADVERTISE: self._on_advertise,
            bb.M_GATTS_WRITE: self._on_gatts_write,
            bb.M_NOTIFY: self._on_notify,
            bb.M_DISCONNECT: self._on_disconnect_request,
            bb.M_PAIR: self._on_pair_request,
            bb.M_PASSKEY: self._on_passkey,
            bb.M_EXCHANGE_MTU: self._on_exchange_mtu,
            bb.M_EVENT: self._on_event,
        }
        while True:
            kind, body = await self._inbox.get()
            handler = handlers.get(kind)
            if handler is None:
                self.errors.append(f"unknown message kind {kind} from the firmware")
                continue
            result = handler(body)
            if asyncio.iscoroutine(result):
                await result

    def _on_config(self, body: bytes) -> None:
        self._config.update(json.loads(body))
        if "mtu" in self._config:
            self.device.gatt_server.max_mtu = int(self._config["mtu"])

    async def _on_register(self, body: bytes) -> None:
        for service_uuid, chars in json.loads(body):
            characteristics: list[Characteristic[bytes]] = []
            for uuid, flags, handle in chars:
                props, perms = _properties(flags)
                self._values[handle] = b""
                value = CharacteristicValue(
                    read=self._reader(handle),
                    write=self._writer_of(handle) if perms & perms.WRITEABLE else None,
                )
                char: Characteristic[bytes] = Characteristic(_uuid(uuid), props, perms, value)
                characteristics.append(char)
                self._chars[handle] = char
                if uuid == wire.DATA_CHAR_UUID:
                    self._data_handle = handle
            self.device.add_service(Service(_uuid(service_uuid), characteristics))
        await self.device.power_on()

    def _reader(self, handle: int) -> Callable[[Connection], bytes]:
        return lambda _conn: self._values[handle]

    def _writer_of(self, handle: int) -> Callable[[Connection, bytes], None]:
        def on_write(conn: Connection, value: bytes) -> None:
            self._send(bb.H_WRITE, struct.pack("<HH", conn.handle, handle) + bytes(value))

        return on_write

    def _pairing_config(self, _connection: Connection) -> PairingConfig:
        c = self._config
        return PairingConfig(
            sc=bool(c.get("le_secure", False)),
            mitm=bool(c.get("mitm", False)),
            bonding=bool(c.get("bond", False)),
            delegate=PairingDelegate(io_capability=_IO_CAPABILITIES[int(c.get("io", 3))]),
            identity_address_type=PairingConfig.AddressType.RANDOM,
        )

    async def _on_advertise(self, body: bytes) -> None:
        msg = json.loads(body)
        self._adv_wanted = None if msg["interval_us"] is None else msg
        delay = self._away_until - asyncio.get_running_loop().time()
        if delay > 0:
            if self._adv_timer is None or self._adv_timer.done():
                self._adv_timer = asyncio.get_running_loop().create_task(self._advertise_in(delay))
            return
        await self._apply_advertising()

    async def _advertise_in(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._apply_advertising()

    async def _apply_advertising(self) -> None:
        async with self._adv_lock:
            if self.device.is_advertising:
                await self.device.stop_advertising()
            msg = self._adv_wanted
            if msg is None:
                return
            interval_ms = msg["interval_us"] / 1000.0
            await self.device.start_advertising(
                advertising_data=bytes.fromhex(msg.get("adv", "")),
                scan_response_data=bytes.fromhex(msg.get("resp", "")),
                auto_restart=False,
                advertising_interval_min=interval_ms,
                advertising_interval_max=interval_ms,
            )
            self._ready.set()

    async def _on_gatts_write(self, body: bytes) -> None:
        handle, send_update = struct.unpack_from("<HB", body, 0)
        self._values[handle] = body[3:]
        if send_update:
            for conn in list(self._conns.values()):
                await self._notify(conn, handle, body[3:])

    async def _on_notify(self, body: bytes) -> None:
        conn_handle, handle = struct.unpack_from("<HH", body, 0)
        conn = self._conns.get(conn_handle)
        if conn is not None:
            await self._notify(conn, handle, body[4:])
        self._send(bb.H_CREDIT, struct.pack("<H", 1))

    async def _notify(self, conn: Connection, handle: int, value: bytes) -> None:
        try:
            await self.device.notify_subscriber(conn, self._chars[handle], value, force=True)
        except Exception as err:  # the link went away under the notification
            _LOG.debug("notification on a closing link: %r", err)
            return
        self.notifications += 1
        if handle == self._data_handle and self._first_data is None:
            self._first_data = asyncio.get_running_loop().time()
            for delay in self.config.faults.drop_after_s:
                self._spawn(self._drop_after(delay))

    async def _drop_after(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        conns = list(self._conns.values())
        if not conns:
            return
        self.drops += 1
        self._away_until = asyncio.get_running_loop().time() + self.config.faults.away_s
        for conn in conns:
            await conn.disconnect()

    def _on_disconnect_request(self, body: bytes) -> None:
        conn = self._conns.get(struct.unpack_from("<H", body, 0)[0])
        if conn is not None:
            self._spawn(conn.disconnect())

    def _on_pair_request(self, body: bytes) -> None:
        conn = self._conns.get(struct.unpack_from("<H", body, 0)[0])
        if conn is not None:
            self.device.request_pairing(conn)  # SMP Security Request to the central

    def _on_passkey(self, body: bytes) -> None:
        # The bridge never raises _IRQ_PASSKEY_ACTION (Just Works has no passkey step).
        self.errors.append(f"unexpected gap_passkey {body.hex()}")

    def _on_exchange_mtu(self, body: bytes) -> None:
        conn = self._conns.get(struct.unpack_from("<H", body, 0)[0])
        if conn is not None:
            self._spawn(self._exchange_mtu(conn))

    async def _exchange_mtu(self, conn: Connection) -> None:
        try:
            await Peer(conn).request_mtu(int(self._config["mtu"]))
        except Exception as err:  # the central went away meanwhile
            _LOG.debug("peripheral MTU exchange failed: %r", err)

    def _on_event(self, body: bytes) -> None:
        msg = json.loads(body)
        name = msg["event"]
        if name == "imu_done":
            self.newest_k = int(msg["newest_k"])
            self.imu_done.set()
        elif name != "stopped":
            self.errors.append(f"unknown firmware event {msg}")

    # ------------------------------------------------------------------------------------
    # Radio -> firmware
    # ------------------------------------------------------------------------------------

    @staticmethod
    def _peer(conn: Connection) -> bytes:
        address = conn.peer_address
        return struct.pack("<HB", conn.handle, address.address_type) + bytes(address)

    def _on_connection(self, conn: Connection) -> None:
        handle = conn.handle
        self._conns[handle] = conn
        self.connections += 1

        def on_disconnection(_reason: int) -> None:
            self._conns.pop(handle, None)
            self._pairing_now.discard(handle)
            self._send(bb.H_DISCONNECT, self._peer(conn))

        def on_mtu() -> None:
            self._send(bb.H_MTU, struct.pack("<HH", handle, conn.att_mtu))

        def on_encryption() -> None:
            # During pairing NimBLE reports once the keys are stored (see on_pairing);
            # a re-encryption with a stored bond reports at once.
            if handle not in self._pairing_now:
                self._encryption_update(conn, bonded=True)

        def on_pairing_start() -> None:
            self._pairing_now.add(handle)

        def on_pairing(_keys: PairingKeys) -> None:
            self._pairing_now.discard(handle)
            bonded = str(conn.peer_address) in self.keystore.stored
            self._encryption_update(conn, bonded=bonded)

        def on_pairing_failure(_reason: int) -> None:
            self._pairing_now.discard(handle)

        conn.on(conn.EVENT_DISCONNECTION, on_disconnection)
        conn.on(conn.EVENT_CONNECTION_ATT_MTU_UPDATE, on_mtu)
        conn.on(conn.EVENT_CONNECTION_ENCRYPTION_CHANGE, on_encryption)
        conn.on(conn.EVENT_PAIRING_START, on_pairing_start)
        conn.on(conn.EVENT_PAIRING, on_pairing)
        conn.on(conn.EVENT_PAIRING_FAILURE, on_pairing_failure)
        self._send(bb.H_CONNECT, self._peer(conn))

    def _encryption_update(self, conn: Connection, bonded: bool) -> None:
        body = struct.pack(
            "<HBBBB",
            conn.handle,
            1 if conn.is_encrypted else 0,
            1 if conn.authenticated else 0,
            1 if bonded else 0,
            16,
        )
        self._send(bb.H_ENCRYPTION, body)
