"""A bleak backend over a bumble central on a virtual radio.

(bumble's ``Peer`` methods take ``AttributeProxy[Unknown]``; the few calls that pyright's
strict mode flags for that carry a line-level ignore.)

Unmodified bleak-API code (``BleakScanner(backend=...)``, ``BleakClient(address,
backend=...)``) scans, connects, exchanges the ATT MTU, pairs (LE Secure Connections with
bonding), reads, writes and subscribes through these classes. They are bound to one
:class:`coxa.sources.virtual.VirtualRadio` by subclassing (``radio.backend``); every bumble
error surfaces as :class:`bleak.exc.BleakError`, as the platform backends do.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble.core import UUID
from bumble.device import Advertisement, Connection, Peer
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy
from bumble.hci import Address

from coxa import wire

if TYPE_CHECKING:
    from bleak.assigned_numbers import CharacteristicPropertyName

    from coxa.sources.virtual._radio import VirtualRadio

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

_AD_UUID16 = (0x02, 0x03)
_AD_UUID128 = (0x06, 0x07)
_AD_SERVICE_DATA16 = 0x16
_AD_TX_POWER = 0x0A

_PROPERTY_NAMES: tuple[tuple[Characteristic.Properties, CharacteristicPropertyName], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


def _uuid_str(uuid: UUID) -> str:
    """A bumble UUID as bleak spells UUIDs: 128-bit, lower case."""
    return str(uuid_module.UUID(bytes=uuid.to_bytes(force_128=True)[::-1]))


def advertisement_data(data: bytes, rssi: int, details: object) -> AdvertisementData:
    """bleak's view of legacy advertising bytes (AD structures per Core Supplement Part A)."""
    name: str | None = None
    manufacturer: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    uuids: list[str] = []
    tx_power: int | None = None
    for ad_type, value in wire.parse_ad_structures(data):
        if ad_type in (wire.AD_COMPLETE_NAME, wire.AD_SHORT_NAME) and (
            name is None or ad_type == wire.AD_COMPLETE_NAME
        ):
            name = value.decode("utf-8", errors="replace")
        elif ad_type == wire.AD_MANUFACTURER and len(value) >= 2:
            manufacturer[int.from_bytes(value[:2], "little")] = bytes(value[2:])
        elif ad_type in _AD_UUID128:
            uuids.extend(
                _uuid_str(UUID.from_bytes(value[j : j + 16])) for j in range(0, len(value) - 15, 16)
            )
        elif ad_type in _AD_UUID16:
            uuids.extend(
                _uuid_str(UUID.from_bytes(value[j : j + 2])) for j in range(0, len(value) - 1, 2)
            )
        elif ad_type == _AD_SERVICE_DATA16 and len(value) >= 2:
            service_data[_uuid_str(UUID.from_bytes(value[:2]))] = bytes(value[2:])
        elif ad_type == _AD_TX_POWER and len(value) == 1:
            tx_power = int.from_bytes(value, "little", signed=True)
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(details,),
    )


class VirtualBleakScanner(BaseBleakScanner):
    """bleak scanner backend: advertising reports of the radio's central.

    Bound to a radio by subclassing with the class attribute ``radio`` (see
    :attr:`coxa.sources.virtual.VirtualRadio.backend`).
    """

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._scanning = False

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        adv = advertisement_data(advertisement.data_bytes, advertisement.rssi, advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = str(advertisement.address).removesuffix("/P")
        device = self.create_or_update_device(address, address, adv.local_name, advertisement, adv)
        self.call_detection_callbacks(device, adv)

    async def start(self) -> None:
        self.seen_devices = {}
        await self.radio.scan_start(self._on_advertisement)
        self._scanning = True

    async def stop(self) -> None:
        if self._scanning:
            self._scanning = False
            await self.radio.scan_stop(self._on_advertisement)


class VirtualBleakClient(BaseBleakClient):
    """bleak client backend: one connection of the radio's central to a virtual board.

    ``connect`` performs the ATT MTU exchange with the radio's ``att_mtu`` (the part an OS
    stack does on its own) and discovers every service, characteristic and descriptor.
    ``pair`` encrypts the link with the stored bond if there is one, else pairs with LE
    Secure Connections and bonds.
    """

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        services: set[str] | None = None,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._proxies: dict[int, CharacteristicProxy[bytes]] = {}
        self._closing = False
        self._gone = asyncio.Event()

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else wire.MIN_ATT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    def _peer_or_raise(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        radio = self.radio
        try:
            connection = await radio.connect(Address(self.address), self._timeout)
        except BleakError:
            raise
        except Exception as err:
            raise BleakError(f"connecting to {self.address} failed: {err!r}") from err
        self._connection = connection
        self._closing = False
        self._gone.clear()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            await self._gatt(f"setting up the link to {self.address}", self._set_up(peer, pair))
        except BaseException:
            # Also when the caller gave up (cancelled): the board must not stay connected to
            # nobody (it would stop advertising and refuse every later connection).
            await self.disconnect()
            raise

    async def _set_up(self, peer: Peer, pair: bool) -> None:
        await peer.request_mtu(self.radio.att_mtu)
        await self._discover(peer)
        if pair:
            await self.pair()

    async def _discover(self, peer: Peer) -> None:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bleak_service)
            for proxy in await peer.discover_characteristics(service=service):
                props: list[CharacteristicPropertyName] = [
                    name for flag, name in _PROPERTY_NAMES if proxy.properties & flag
                ]
                char = BleakGATTCharacteristic(
                    proxy,
                    proxy.handle,
                    _uuid_str(proxy.uuid),
                    props,
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(char)
                self._proxies[proxy.handle] = proxy
                for desc in await peer.discover_descriptors(proxy):  # pyright: ignore[reportUnknownMemberType]
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, _uuid_str(desc.type), char)
                    )
                proxy.descriptors_discovered = True
        self.services = collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._peer = None
        self._gone.set()
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        try:
            await connection.disconnect()
            await asyncio.wait_for(self._gone.wait(), self._timeout)
        except Exception as err:
            _LOG.debug("disconnect from %s: %r", self.address, err)
        finally:
            self._connection = None
            self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection = self._connection
        if connection is None:
            raise BleakError("Not connected")
        bonded = await self.radio.has_bond(connection.peer_address)
        await self._gatt(
            f"pairing with {self.address}", connection.encrypt() if bonded else connection.pair()
        )
        if not connection.is_encrypted:
            raise BleakError(f"pairing with {self.address} left the link unencrypted")

    async def unpair(self) -> None:
        await self.radio.forget_bond(self.address)

    def _proxy(self, characteristic: BleakGATTCharacteristic) -> CharacteristicProxy[bytes]:
        proxy = self._proxies.get(characteristic.handle)
        if proxy is None:
            raise BleakError(f"unknown characteristic {characteristic}")
        return proxy

    async def _gatt(self, what: str, operation: Awaitable[_T]) -> _T:
        """Await a GATT operation; its failures surface as ``BleakError`` naming ``what``.

        A link drop makes bumble cancel the pending request's future: that surfaces as
        ``BleakError`` too (as on bleak's platform backends), unless the calling task itself is
        being cancelled, which is passed on.
        """
        try:
            return await operation
        except BleakError:
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            raise BleakError(f"{what} failed: the link dropped") from None
        except Exception as err:
            raise BleakError(f"{what} failed: {err!r}") from err

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._peer_or_raise()
        proxy = self._proxy(characteristic)
        value = await self._gatt(f"reading {characteristic}", peer.read_value(proxy))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._peer_or_raise()
        value = await self._gatt(f"reading {descriptor}", peer.read_value(descriptor.handle))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._peer_or_raise()
        proxy = self._proxy(characteristic)
        await self._gatt(
            f"writing {characteristic}",
            peer.write_value(proxy, bytes(data), response),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._peer_or_raise()
        await self._gatt(
            f"writing {descriptor}",
            peer.write_value(descriptor.handle, bytes(data), True),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        )

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._peer_or_raise()
        proxy = self._proxy(characteristic)

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        await self._gatt(f"subscribing to {characteristic}", peer.subscribe(proxy, deliver))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._peer_or_raise()
        proxy = self._proxy(characteristic)
        await self._gatt(f"unsubscribing from {characteristic}", peer.unsubscribe(proxy))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
