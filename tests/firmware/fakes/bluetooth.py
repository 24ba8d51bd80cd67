"""Fake MicroPython ``bluetooth`` module for firmware tests (CPython and the MicroPython unix port).

The firmware side sees the low-level API of MicroPython's ``bluetooth`` module (NimBLE on the
ESP32): ``BLE().active``, ``config``, ``irq``, ``gatts_register_services``, ``gatts_read``,
``gatts_write``, ``gatts_set_buffer``, ``gatts_notify``, ``gatts_indicate``, ``gap_advertise``,
``gap_disconnect``, ``gap_pair``, ``gap_passkey``, ``gattc_exchange_mtu``; ``UUID`` and the
``FLAG_*`` constants. Every call is recorded in ``BLE.calls`` as ``(name, args)``.

The test side plays the central and the stack: :meth:`BLE.central_connect`,
:meth:`BLE.exchange_mtu`, :meth:`BLE.central_write`, :meth:`BLE.encryption_update`,
:meth:`BLE.central_disconnect`, :meth:`BLE.set_secret` / :meth:`BLE.get_secret` (the secret
store events), and :meth:`BLE.enomem_storm` (``gatts_notify`` raises ``OSError(ENOMEM)`` for
the next N calls). Events are delivered to the registered IRQ handler synchronously, with
the same tuple layouts as MicroPython; address, key and value entries are memoryviews into a
buffer that is scrambled after the handler returns (as the real ring buffer is reused), so a
handler that keeps them without copying is caught.

Behaviours copied from the real stack: connecting stops advertising; a notification longer
than ``ATT_MTU - 3`` is truncated (``truncated_notifications`` counts them); a remote write
is truncated to the characteristic's buffer (20 bytes unless ``gatts_set_buffer`` or a longer
local ``gatts_write`` enlarged it); registering services while advertising raises.
Dialect-neutral: no typing, dataclasses or f-string ``=``.
"""

FLAG_BROADCAST = 0x0001
FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

IRQ_CENTRAL_CONNECT = 1
IRQ_CENTRAL_DISCONNECT = 2
IRQ_GATTS_WRITE = 3
IRQ_GATTS_INDICATE_DONE = 20
IRQ_MTU_EXCHANGED = 21
IRQ_CONNECTION_UPDATE = 27
IRQ_ENCRYPTION_UPDATE = 28
IRQ_GET_SECRET = 29
IRQ_SET_SECRET = 30
IRQ_PASSKEY_ACTION = 31

ENOMEM = 12
ENOTCONN = 107
EINVAL = 22

_CONFIG_NAMES = (
    "mac",
    "addr_mode",
    "gap_name",
    "rxbuf",
    "mtu",
    "bond",
    "mitm",
    "io",
    "le_secure",
)
_DEFAULT_BUFFER = 20
_HEX = "0123456789abcdef"


class UUID:
    """``bluetooth.UUID``: a 16-bit integer or a 128-bit UUID string."""

    def __init__(self, value):
        if isinstance(value, UUID):
            self.value = value.value
        elif isinstance(value, int):
            if value < 0 or value > 0xFFFF:
                raise ValueError("16-bit UUID out of range")
            self.value = value
        elif isinstance(value, str):
            text = value.lower()
            if len(text) != 36:
                raise ValueError("invalid UUID")
            for i in range(36):
                c = text[i]
                if i in (8, 13, 18, 23):
                    if c != "-":
                        raise ValueError("invalid UUID")
                elif _HEX.find(c) < 0:
                    raise ValueError("invalid UUID")
            self.value = text
        else:
            raise TypeError("UUID takes an int or a str")

    def __eq__(self, other):
        return isinstance(other, UUID) and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        if isinstance(self.value, int):
            return "UUID(0x%04x)" % self.value
        return "UUID('%s')" % self.value


class Characteristic:
    """What the fake knows about one registered characteristic (for assertions)."""

    def __init__(self, service_uuid, uuid, flags, value_handle, cccd_handle):
        self.service_uuid = service_uuid
        self.uuid = uuid
        self.flags = flags
        self.value_handle = value_handle
        self.cccd_handle = cccd_handle


class BLE:
    """Recording fake of ``bluetooth.BLE`` with a test-side central and stack."""

    def __init__(self):
        self.calls = []
        self.is_active = False
        self.config_values = {
            "gap_name": "MPY NIMBLE",
            "rxbuf": 1024,
            "mtu": 23,
            "bond": False,
            "mitm": False,
            "io": 3,
            "le_secure": False,
            "addr_mode": 0,
            "mac": (0, b"\x24\x0a\xc4\x00\x00\x01"),
        }
        self.handler = None
        self.services = None
        self.characteristics = []
        self.values = {}
        self.buffers = {}
        self.advertising = None
        self.adv_starts = []
        self.notifications = []
        self.indications = []
        self.pair_requests = []
        self.passkey_replies = []
        self.mtu_requests = []
        self.disconnect_requests = []
        self.conn_mtu = {}
        self.connected = []
        self.truncated_notifications = 0
        self.enomem_left = 0
        self.enomem_raised = 0
        self.irq_results = []
        self._next_conn = 64
        self._next_handle = 1

    # ---------------------------------------------------------------- firmware-facing API

    def active(self, *args):
        self.calls.append(("active", args))
        if len(args) == 0:
            return self.is_active
        self.is_active = bool(args[0])
        if not self.is_active:
            self.advertising = None
            self.connected = []
        return None

    def config(self, *args, **kwargs):
        self.calls.append(("config", (args, kwargs)))
        if args:
            if len(args) != 1 or kwargs:
                raise TypeError("config takes one name to query, or keywords to set")
            name = args[0]
            if name not in self.config_values:
                raise ValueError("unknown config param")
            return self.config_values[name]
        for name in kwargs:
            if name not in _CONFIG_NAMES or name == "mac":
                raise ValueError("unknown config param")
            value = kwargs[name]
            if name == "mtu":
                if not self.is_active:
                    raise OSError(EINVAL)
                if value < 23 or value > 517:
                    raise ValueError("mtu out of range")
            self.config_values[name] = value
        return None

    def irq(self, handler):
        self.calls.append(("irq", (handler,)))
        self.handler = handler

    def gatts_register_services(self, services):
        self.calls.append(("gatts_register_services", (services,)))
        if not self.is_active:
            raise OSError(EINVAL)
        if self.advertising is not None:
            raise OSError(EINVAL)
        self.services = services
        self.characteristics = []
        result = []
        handle = 1
        for service in services:
            service_uuid = service[0]
            if not isinstance(service_uuid, UUID):
                raise TypeError("service UUID must be a bluetooth.UUID")
            handle += 1  # service declaration
            handles = []
            for char in service[1]:
                uuid = char[0]
                flags = char[1]
                if not isinstance(uuid, UUID):
                    raise TypeError("characteristic UUID must be a bluetooth.UUID")
                handle += 1  # characteristic declaration
                value_handle = handle
                handle += 1
                cccd = 0
                if flags & (FLAG_NOTIFY | FLAG_INDICATE):
                    cccd = handle
                    handle += 1
                self.characteristics.append(
                    Characteristic(service_uuid, uuid, flags, value_handle, cccd)
                )
                self.values[value_handle] = b""
                self.buffers[value_handle] = _DEFAULT_BUFFER
                handles.append(value_handle)
                if len(char) > 2:
                    for desc in char[2]:
                        if not isinstance(desc[0], UUID):
                            raise TypeError("descriptor UUID must be a bluetooth.UUID")
                        self.values[handle] = b""
                        self.buffers[handle] = _DEFAULT_BUFFER
                        handles.append(handle)
                        handle += 1
            result.append(tuple(handles))
        self._next_handle = handle
        return tuple(result)

    def _check_handle(self, handle):
        if handle not in self.values:
            raise OSError(EINVAL)

    def gatts_read(self, value_handle):
        self.calls.append(("gatts_read", (value_handle,)))
        self._check_handle(value_handle)
        return bytes(self.values[value_handle])

    def gatts_write(self, value_handle, data, send_update=False):
        self.calls.append(("gatts_write", (value_handle, bytes(data), send_update)))
        self._check_handle(value_handle)
        value = bytes(data)
        self.values[value_handle] = value
        if len(value) > self.buffers[value_handle]:
            self.buffers[value_handle] = len(value)
        if send_update:
            for conn in self.connected:
                self.notifications.append((conn, value_handle, value))

    def gatts_set_buffer(self, value_handle, length, append=False):
        self.calls.append(("gatts_set_buffer", (value_handle, length, append)))
        self._check_handle(value_handle)
        self.buffers[value_handle] = length

    def gatts_notify(self, conn_handle, value_handle, data=None):
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        self._check_handle(value_handle)
        if self.enomem_left > 0:
            self.enomem_left -= 1
            self.enomem_raised += 1
            raise OSError(ENOMEM)
        value = self.values[value_handle] if data is None else bytes(data)
        limit = self.conn_mtu.get(conn_handle, 23) - 3
        if len(value) > limit:
            value = value[0:limit]
            self.truncated_notifications += 1
        self.notifications.append((conn_handle, value_handle, value))

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self.calls.append(("gatts_indicate", (conn_handle, value_handle)))
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        self._check_handle(value_handle)
        value = self.values[value_handle] if data is None else bytes(data)
        self.indications.append((conn_handle, value_handle, value))

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        self.calls.append(("gap_advertise", (interval_us, adv_data, resp_data, connectable)))
        if not self.is_active:
            raise OSError(EINVAL)
        if interval_us is None:
            self.advertising = None
            return
        previous = self.advertising
        if adv_data is None:
            adv_data = b"" if previous is None else previous[1]
        if resp_data is None:
            resp_data = b"" if previous is None else previous[2]
        adv = bytes(adv_data)
        resp = bytes(resp_data)
        if len(adv) > 31 or len(resp) > 31:
            raise OSError(EINVAL)
        self.advertising = (interval_us, adv, resp, connectable)
        self.adv_starts.append(self.advertising)

    def gap_disconnect(self, conn_handle):
        self.calls.append(("gap_disconnect", (conn_handle,)))
        self.disconnect_requests.append(conn_handle)
        if conn_handle not in self.connected:
            return False
        self.central_disconnect(conn_handle)
        return True

    def gap_pair(self, conn_handle):
        self.calls.append(("gap_pair", (conn_handle,)))
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        self.pair_requests.append(conn_handle)

    def gap_passkey(self, conn_handle, action, passkey):
        self.calls.append(("gap_passkey", (conn_handle, action, passkey)))
        self.passkey_replies.append((conn_handle, action, passkey))

    def gattc_exchange_mtu(self, conn_handle):
        self.calls.append(("gattc_exchange_mtu", (conn_handle,)))
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        self.mtu_requests.append(conn_handle)

    # ---------------------------------------------------------------- test-facing API

    def _deliver(self, event, data, scratch=None):
        if self.handler is None:
            raise RuntimeError("no IRQ handler registered")
        result = self.handler(event, data)
        self.irq_results.append((event, result))
        if scratch is not None:
            for i in range(len(scratch)):
                scratch[i] = 0xEE  # the stack reuses its buffer after the handler returns
        return result

    def central_connect(self, addr=b"\x11\x22\x33\x44\x55\x66", addr_type=0):
        """A central connects: advertising stops, the IRQ sees ``_IRQ_CENTRAL_CONNECT``."""
        conn = self._next_conn
        self._next_conn += 1
        self.connected.append(conn)
        self.conn_mtu[conn] = 23
        self.advertising = None
        scratch = bytearray(addr)
        self._deliver(IRQ_CENTRAL_CONNECT, (conn, addr_type, memoryview(scratch)), scratch)
        return conn

    def central_disconnect(self, conn_handle, addr=b"\x11\x22\x33\x44\x55\x66", addr_type=0):
        """The link ends (either side): ``_IRQ_CENTRAL_DISCONNECT``."""
        if conn_handle in self.connected:
            self.connected.remove(conn_handle)
        scratch = bytearray(addr)
        self._deliver(
            IRQ_CENTRAL_DISCONNECT, (conn_handle, addr_type, memoryview(scratch)), scratch
        )

    def exchange_mtu(self, conn_handle, central_mtu=247):
        """ATT MTU exchange: the result is the smaller of both sides' MTU."""
        ours = self.config_values["mtu"]
        mtu = central_mtu if central_mtu < ours else ours
        if mtu < 23:
            mtu = 23
        self.conn_mtu[conn_handle] = mtu
        self._deliver(IRQ_MTU_EXCHANGED, (conn_handle, mtu))
        return mtu

    def central_write(self, conn_handle, value_handle, data):
        """The central writes a characteristic (truncated to its buffer, like the stack)."""
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        char = self.characteristic_by_handle(value_handle)
        if char is None or not char.flags & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE):
            raise OSError(EINVAL)
        limit = self.conn_mtu.get(conn_handle, 23) - 3
        if len(data) > limit:
            raise ValueError("write longer than ATT_MTU - 3")
        self.values[value_handle] = bytes(data)[0 : self.buffers[value_handle]]
        return self._deliver(IRQ_GATTS_WRITE, (conn_handle, value_handle))

    def central_read(self, value_handle):
        """The central reads a characteristic value."""
        char = self.characteristic_by_handle(value_handle)
        if char is None or not char.flags & FLAG_READ:
            raise OSError(EINVAL)
        return self.values[value_handle]

    def encryption_update(
        self, conn_handle, encrypted=True, authenticated=False, bonded=True, key_size=16
    ):
        """Pairing or bond re-encryption finished: ``_IRQ_ENCRYPTION_UPDATE``."""
        self._deliver(
            IRQ_ENCRYPTION_UPDATE, (conn_handle, encrypted, authenticated, bonded, key_size)
        )

    def set_secret(self, sec_type, key, value):
        """The stack stores (``value`` bytes) or deletes (None) a secret; returns the answer."""
        scratch_key = bytearray(key)
        scratch_value = None if value is None else bytearray(value)
        result = self._deliver(
            IRQ_SET_SECRET,
            (
                sec_type,
                memoryview(scratch_key),
                None if scratch_value is None else memoryview(scratch_value),
            ),
        )
        for i in range(len(scratch_key)):
            scratch_key[i] = 0xEE
        if scratch_value is not None:
            for i in range(len(scratch_value)):
                scratch_value[i] = 0xEE
        return result

    def get_secret(self, sec_type, index=0, key=None):
        """The stack looks a secret up (by key, or the ``index``-th one when key is None)."""
        if key is None:
            return self._deliver(IRQ_GET_SECRET, (sec_type, index, None))
        scratch = bytearray(key)
        result = self._deliver(IRQ_GET_SECRET, (sec_type, index, memoryview(scratch)), scratch)
        return None if result is None else bytes(result)

    def passkey_action(self, conn_handle, action, passkey=0):
        self._deliver(IRQ_PASSKEY_ACTION, (conn_handle, action, passkey))

    def enomem_storm(self, n):
        """The next ``n`` calls of ``gatts_notify`` raise ``OSError(ENOMEM)``."""
        self.enomem_left = n

    def characteristic(self, uuid):
        """The registered characteristic with this UUID (``UUID`` or str/int), or None."""
        want = uuid if isinstance(uuid, UUID) else UUID(uuid)
        for char in self.characteristics:
            if char.uuid == want:
                return char
        return None

    def characteristic_by_handle(self, value_handle):
        for char in self.characteristics:
            if char.value_handle == value_handle:
                return char
        return None

    def take_notifications(self, value_handle=None):
        """Remove and return the notified values (for one handle, or all as tuples)."""
        if value_handle is None:
            out = self.notifications
            self.notifications = []
            return out
        keep = []
        out = []
        for item in self.notifications:
            if item[1] == value_handle:
                out.append(item[2])
            else:
                keep.append(item)
        self.notifications = keep
        return out
