"""A ``bluetooth`` module stand-in that relays the firmware's BLE calls to a host-side radio.

The firmware (``firmware/coxa_fw/ble.py``) runs unchanged in the MicroPython unix port with
this module installed as ``sys.modules["bluetooth"]``. Its calls (``active``, ``config``,
``gatts_register_services``, ``gatts_write``, ``gatts_notify``, ``gap_advertise``,
``gap_disconnect``, ``gap_pair``, ``gap_passkey``, ``gattc_exchange_mtu``) go out as small
framed messages; the host side (``_bridge.py``: a bumble peripheral on the virtual radio)
performs them on the air and sends back the IRQ events (connect, disconnect, MTU exchanged,
control writes, encryption updates, secret look-ups and stores), which :func:`deliver` hands
to the firmware's IRQ handler with MicroPython's tuple layouts.

What stays local, as in NimBLE: the attribute values (``gatts_read`` of a control write, the
value the firmware last wrote) and the write buffer sizes. ``gatts_notify`` raises
``OSError(ENOMEM)`` while ``window`` notifications are still on their way to the radio
(the host returns a credit for each one it handed to bumble), like the stack's buffer pool.

Messages: ``u16 length (LE) | u8 kind | body``, the length counting kind and body. Bodies are
packed with ``struct`` (frequent messages) or JSON (rare ones). Dialect-neutral: no typing
or dataclasses.
"""

import json
import struct
from binascii import hexlify

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010

IRQ_CENTRAL_CONNECT = 1
IRQ_CENTRAL_DISCONNECT = 2
IRQ_GATTS_WRITE = 3
IRQ_MTU_EXCHANGED = 21
IRQ_ENCRYPTION_UPDATE = 28
IRQ_GET_SECRET = 29
IRQ_SET_SECRET = 30

ENOMEM = 12
EINVAL = 22
ENOTCONN = 107

# board -> host
M_CONFIG = 1
M_REGISTER = 2
M_ADVERTISE = 3
M_GATTS_WRITE = 4
M_NOTIFY = 5
M_DISCONNECT = 6
M_PAIR = 7
M_PASSKEY = 8
M_EXCHANGE_MTU = 9
M_REPLY = 10
M_EVENT = 11
# host -> board
H_CONNECT = 1
H_DISCONNECT = 2
H_WRITE = 3
H_MTU = 4
H_ENCRYPTION = 5
H_GET_SECRET = 6
H_SET_SECRET = 7
H_CREDIT = 8
H_STOP = 9

DEFAULT_WINDOW = 8
"""Notifications in flight before ``gatts_notify`` raises ENOMEM [assumption: a small NimBLE
buffer pool; the firmware must cope with any value]."""
_DEFAULT_BUFFER = 20

_send = None
_ble = None
window = DEFAULT_WINDOW
counters = {"notified": 0, "enomem": 0, "irqs": 0}


def frame(kind, body=b""):
    """One message: ``u16 length | u8 kind | body``."""
    return struct.pack("<HB", len(body) + 1, kind) + body


def attach(send):
    """Route outgoing messages to ``send(bytes)`` (the runner's socket writer)."""
    global _send
    _send = send


def _out(kind, body=b""):
    if _send is None:
        raise OSError(ENOTCONN)
    _send(frame(kind, body))


def event(name, **fields):
    """Send a runner event (not part of the ``bluetooth`` API) to the host."""
    fields["event"] = name
    _out(M_EVENT, json.dumps(fields).encode())


class UUID:
    """``bluetooth.UUID``: a 16-bit integer or a 128-bit UUID string (kept as given)."""

    def __init__(self, value):
        if isinstance(value, UUID):
            value = value.value
        if isinstance(value, int):
            if value < 0 or value > 0xFFFF:
                raise ValueError("16-bit UUID out of range")
        elif not isinstance(value, str) or len(value) != 36:
            raise ValueError("invalid UUID")
        self.value = value

    def __eq__(self, other):
        return isinstance(other, UUID) and self.value == other.value

    def __hash__(self):
        return hash(self.value)


class BLE:
    """``bluetooth.BLE`` over the bridge (the newest instance receives the events)."""

    def __init__(self):
        global _ble
        _ble = self
        self.handler = None
        self.is_active = False
        self.config_values = {"mtu": 23, "gap_name": "MPY NIMBLE"}
        self.values = {}
        self.buffers = {}
        self.connected = []
        self.in_flight = 0

    def active(self, *args):
        if args:
            self.is_active = bool(args[0])
            return None
        return self.is_active

    def config(self, *args, **kwargs):
        if args:
            if args[0] not in self.config_values:
                raise ValueError("unknown config param")
            return self.config_values[args[0]]
        if "mtu" in kwargs and not self.is_active:
            raise OSError(EINVAL)
        for name in kwargs:
            self.config_values[name] = kwargs[name]
        _out(M_CONFIG, json.dumps(kwargs).encode())
        return None

    def irq(self, handler):
        self.handler = handler

    def gatts_register_services(self, services):
        if not self.is_active:
            raise OSError(EINVAL)
        handle = 1
        table = []
        result = []
        for service in services:
            handle += 1  # service declaration
            chars = []
            handles = []
            for char in service[1]:
                handle += 1  # characteristic declaration
                chars.append([char[0].value, char[1], handle])
                handles.append(handle)
                self.values[handle] = b""
                self.buffers[handle] = _DEFAULT_BUFFER
                handle += 1
                if char[1] & FLAG_NOTIFY:
                    handle += 1  # CCCD
            table.append([service[0].value, chars])
            result.append(tuple(handles))
        _out(M_REGISTER, json.dumps(table).encode())
        return tuple(result)

    def gatts_read(self, value_handle):
        if value_handle not in self.values:
            raise OSError(EINVAL)
        return self.values[value_handle]

    def gatts_write(self, value_handle, data, send_update=False):
        if value_handle not in self.values:
            raise OSError(EINVAL)
        value = bytes(data)
        self.values[value_handle] = value
        if len(value) > self.buffers[value_handle]:
            self.buffers[value_handle] = len(value)
        _out(M_GATTS_WRITE, struct.pack("<HB", value_handle, 1 if send_update else 0) + value)

    def gatts_set_buffer(self, value_handle, length, append=False):
        if value_handle not in self.values:
            raise OSError(EINVAL)
        self.buffers[value_handle] = length

    def gatts_notify(self, conn_handle, value_handle, data=None):
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        if value_handle not in self.values:
            raise OSError(EINVAL)
        if self.in_flight >= window:
            counters["enomem"] += 1
            raise OSError(ENOMEM)
        value = self.values[value_handle] if data is None else bytes(data)
        self.in_flight += 1
        counters["notified"] += 1
        _out(M_NOTIFY, struct.pack("<HH", conn_handle, value_handle) + value)

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        if not self.is_active:
            raise OSError(EINVAL)
        msg = {"interval_us": interval_us, "connectable": bool(connectable)}
        if adv_data is not None:
            msg["adv"] = hexlify(bytes(adv_data)).decode()
        if resp_data is not None:
            msg["resp"] = hexlify(bytes(resp_data)).decode()
        _out(M_ADVERTISE, json.dumps(msg).encode())

    def gap_disconnect(self, conn_handle):
        if conn_handle not in self.connected:
            return False
        _out(M_DISCONNECT, struct.pack("<H", conn_handle))
        return True

    def gap_pair(self, conn_handle):
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        _out(M_PAIR, struct.pack("<H", conn_handle))

    def gap_passkey(self, conn_handle, action, passkey):
        _out(M_PASSKEY, struct.pack("<HBI", conn_handle, action, passkey))

    def gattc_exchange_mtu(self, conn_handle):
        if conn_handle not in self.connected:
            raise OSError(ENOTCONN)
        _out(M_EXCHANGE_MTU, struct.pack("<H", conn_handle))

    # ------------------------------------------------------------------ host events

    def _irq(self, event, data):
        counters["irqs"] += 1
        if self.handler is None:
            return None
        return self.handler(event, data)

    def _on_connection(self, kind, body):
        conn, addr_type = struct.unpack_from("<HB", body, 0)
        addr = bytearray(body[3:9])
        if kind == H_CONNECT:
            self.connected.append(conn)
            self._irq(IRQ_CENTRAL_CONNECT, (conn, addr_type, memoryview(addr)))
        else:
            if conn in self.connected:
                self.connected.remove(conn)
            self._irq(IRQ_CENTRAL_DISCONNECT, (conn, addr_type, memoryview(addr)))

    def _on_write(self, body):
        conn, handle = struct.unpack_from("<HH", body, 0)
        if handle not in self.values:
            return
        value = bytes(body[4:])
        self.values[handle] = value[0 : self.buffers[handle]]
        self._irq(IRQ_GATTS_WRITE, (conn, handle))

    def _on_secret(self, kind, body):
        req, sec_type = struct.unpack_from("<IB", body, 0)
        if kind == H_GET_SECRET:
            index, has_key = struct.unpack_from("<BB", body, 5)
            key = memoryview(bytearray(body[7:])) if has_key else None
            value = self._irq(IRQ_GET_SECRET, (sec_type, index, key))
            answer = None if value is None else hexlify(bytes(value)).decode()
        else:
            klen = body[5]
            key = bytearray(body[6 : 6 + klen])
            has_value = body[6 + klen]
            value = memoryview(bytearray(body[7 + klen :])) if has_value else None
            answer = bool(self._irq(IRQ_SET_SECRET, (sec_type, memoryview(key), value)))
        _out(M_REPLY, struct.pack("<I", req) + json.dumps(answer).encode())

    def deliver(self, kind, body):
        if kind in (H_CONNECT, H_DISCONNECT):
            self._on_connection(kind, body)
        elif kind == H_WRITE:
            self._on_write(body)
        elif kind == H_MTU:
            conn, mtu = struct.unpack_from("<HH", body, 0)
            self._irq(IRQ_MTU_EXCHANGED, (conn, mtu))
        elif kind == H_ENCRYPTION:
            conn, enc, auth, bonded, key_size = struct.unpack_from("<HBBBB", body, 0)
            self._irq(IRQ_ENCRYPTION_UPDATE, (conn, bool(enc), bool(auth), bool(bonded), key_size))
        elif kind in (H_GET_SECRET, H_SET_SECRET):
            self._on_secret(kind, body)
        elif kind == H_CREDIT:
            n = struct.unpack_from("<H", body, 0)[0]
            self.in_flight = self.in_flight - n if self.in_flight > n else 0
        else:
            raise ValueError(f"unknown host message kind {kind}")


def deliver(kind, body):
    """Hand one host message (``kind``, ``body`` bytes) to the current ``BLE`` object."""
    if _ble is None:
        raise OSError(EINVAL)
    _ble.deliver(kind, body)
