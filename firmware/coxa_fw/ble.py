"""BLE GATT peripheral on MicroPython's low-level ``bluetooth`` API (protocol v1).

One connection at a time. The board registers the coxa service (data notify, control write and
write-without-response, status notify and read) and the standard Battery Service, advertises
with ``wire.encode_advertising`` / ``wire.encode_scan_response`` and re-advertises after every
disconnection.

Rules this module keeps (see ``docs/firmware.md`` and ``docs/protocol.md``):

* **The IRQ handler only records.** It copies control writes into a preallocated ring of
  packet slots, notes connection, MTU and encryption state in plain attributes and answers the
  secret-store look-ups (those must be answered synchronously). Commands run in
  :meth:`BlePeripheral.pump`, called from the asyncio shell, never inside the IRQ.
* **Every notification is one packet** (``wire.packet_into`` into a preallocated buffer): a
  frame in one complete packet when it fits the negotiated ATT MTU, else first/middle/last
  fragments. Frames are sized from the MTU of the connection (``_IRQ_MTU_EXCHANGED``).
* **ENOMEM is back-pressure.** ``gatts_notify`` raising ``OSError(ENOMEM)`` keeps the packet;
  it is retried on the next pump and counted (``enomem``). A frame taken from the app is sent
  whole or, on a disconnection, lost as a frame (``frames_lost``); its samples stay in the
  board FIFO for the host's BACKFILL.
* **Status read value.** The status characteristic's value (served by the stack without
  the app) is the latest status frame: refreshed at start, by every :meth:`send_status`,
  on each connection, on a new bond and when pairing mode opens or closes. GET_STATUS
  answers with a status frame made at that moment.
* **Pairing gate.** LE Secure Connections with bonding; secrets live in a small file
  (:class:`SecretStore`, path chosen by the caller). A control write counts as *trusted* when
  the link is encrypted and bonded with a bond accepted by this board, or while the board is
  in pairing mode (button press, or no bond stored yet; times out). ``App.on_command`` gets
  that flag and answers untrusted commands with NOT_PERMITTED.

Dialect-neutral: runs on the board, on the MicroPython unix port and on CPython (tests give a
fake ``bluetooth`` module through ``sys.modules``).
"""

import bluetooth
import wire

TYPE_CHECKING = False
if TYPE_CHECKING:

    def const(x: int) -> int:
        return x

else:
    try:
        from micropython import const
    except ImportError:

        def const(x):
            return x


_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_PASSKEY_ACTION = const(31)

_FLAG_READ = const(0x0002)
_FLAG_WRITE_NO_RESPONSE = const(0x0004)
_FLAG_WRITE = const(0x0008)
_FLAG_NOTIFY = const(0x0010)

IO_DISPLAY_ONLY = 0
IO_DISPLAY_YESNO = 1
IO_KEYBOARD_ONLY = 2
IO_NO_INPUT_OUTPUT = 3
IO_KEYBOARD_DISPLAY = 4

_PASSKEY_ACTION_NUMCMP = const(4)

SEC_TYPE_OUR = 1
"""Secret type of our own keys for a peer (NimBLE ``BLE_STORE_OBJ_TYPE_OUR_SEC``)."""
SEC_TYPE_PEER = 2
"""Secret type of a peer's keys (NimBLE ``BLE_STORE_OBJ_TYPE_PEER_SEC``): one per bond."""
SEC_TYPE_CCCD = 3

_ENOMEM = const(12)
_DEFAULT_ATT_MTU = const(23)
_PAYLOAD = const(244)  # wire.MAX_BLE_PAYLOAD_BYTES
_MAX_FRAME = const(243)  # wire.MAX_FRAME_BYTES
_MIN_UNFRAGMENTED = const(96)
_RX_SLOTS = const(8)
_STATUS_SLOTS = const(6)
_STATUS_SLOT_BYTES = const(48)
_STATE_BYTE = const(23)  # offset of the state byte in a status frame
_STATE_BONDED = const(0x04)
_STATE_PAIRING_MODE = const(0x08)

DEFAULT_ADV_INTERVAL_US = 100000
DEFAULT_PAIRING_TIMEOUT_MS = 120000
DEFAULT_PACKETS_PER_PUMP = 12

SERVICE_UUID = bluetooth.UUID(wire.SERVICE_UUID)
DATA_UUID = bluetooth.UUID(wire.DATA_CHAR_UUID)
CONTROL_UUID = bluetooth.UUID(wire.CONTROL_CHAR_UUID)
STATUS_UUID = bluetooth.UUID(wire.STATUS_CHAR_UUID)
BATTERY_SERVICE_UUID = bluetooth.UUID(0x180F)
BATTERY_LEVEL_UUID = bluetooth.UUID(0x2A19)

COXA_SERVICE = (
    SERVICE_UUID,
    (
        (DATA_UUID, _FLAG_NOTIFY),
        (CONTROL_UUID, _FLAG_WRITE | _FLAG_WRITE_NO_RESPONSE),
        (STATUS_UUID, _FLAG_NOTIFY | _FLAG_READ),
    ),
)
BATTERY_SERVICE = (BATTERY_SERVICE_UUID, ((BATTERY_LEVEL_UUID, _FLAG_READ | _FLAG_NOTIFY),))


def frame_budget(att_mtu: int) -> int:
    """Largest frame to build for a connection with this ATT MTU.

    A frame goes in one complete packet when the packet payload has room for a useful frame
    (at least ``_MIN_UNFRAGMENTED`` bytes, e.g. MTU 100 and up); at smaller MTUs (down to 23)
    full-size frames are built and cut into fragments, which keeps the 16-byte frame header
    from dominating the link.
    """
    room = wire.ble_payload_bytes(att_mtu) - 1
    if room >= _MIN_UNFRAGMENTED:
        return room if room < _MAX_FRAME else _MAX_FRAME
    return _MAX_FRAME


# ============================================================================================
# Bond secrets
# ============================================================================================

_STORE_MAGIC = b"CXS1"


class SecretStore:
    """Pairing/bonding secrets for ``_IRQ_GET_SECRET`` / ``_IRQ_SET_SECRET``, in one small file.

    File format: ``b"CXS1"``, then records ``u8 sec_type, u8 key_len, u16 value_len (LE),
    key, value``. Written to ``path + ".tmp"`` and renamed over ``path``. A missing or
    corrupt file is an empty store (``load_error`` says why). ``set`` and ``delete`` only change
    memory and mark the store dirty; :meth:`save` (called outside the IRQ) writes the file.

    Parameters
    ----------
    path : str
        File path on the board's filesystem (any writable path in tests).
    max_entries : int
        At most this many records; the oldest one goes when a new one would exceed it.
    """

    def __init__(self, path: str, max_entries: int = 24) -> None:
        self.path = path
        self.max_entries = max_entries
        self.entries = []  # [sec_type, key bytes, value bytes], oldest first
        self.dirty = False
        self.load_error = None
        self.saves = 0

    def load(self) -> int:
        """Read the file; return the number of records (0 when absent or corrupt)."""
        self.entries = []
        self.dirty = False
        self.load_error = None
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError:
            return 0
        if data[0:4] != _STORE_MAGIC:
            self.load_error = "bad magic"
            return 0
        i = 4
        n = len(data)
        entries = []
        while i < n:
            if i + 4 > n:
                self.load_error = "truncated record header"
                return 0
            sec_type = data[i]
            klen = data[i + 1]
            vlen = data[i + 2] | (data[i + 3] << 8)
            i += 4
            if i + klen + vlen > n:
                self.load_error = "truncated record"
                return 0
            entries.append(
                [sec_type, bytes(data[i : i + klen]), bytes(data[i + klen : i + klen + vlen])]
            )
            i += klen + vlen
        self.entries = entries
        return len(entries)

    def save(self) -> None:
        """Write the records to the file (atomically, via a temporary file and rename)."""
        import os

        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(_STORE_MAGIC)
            head = bytearray(4)
            for sec_type, key, value in self.entries:
                head[0] = sec_type
                head[1] = len(key)
                head[2] = len(value) & 0xFF
                head[3] = len(value) >> 8
                f.write(head)
                f.write(key)
                f.write(value)
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.rename(tmp, self.path)
        self.dirty = False
        self.saves += 1

    def get(self, sec_type: int, index: int, key) -> "bytes | None":
        """The value for ``key`` (bytes) of ``sec_type``, or the ``index``-th if key is None."""
        if key is None:
            k = 0
            for e in self.entries:
                if e[0] == sec_type:
                    if k == index:
                        return e[2]
                    k += 1
            return None
        for e in self.entries:
            if e[0] == sec_type and e[1] == key:
                return e[2]
        return None

    def has(self, sec_type: int, key) -> bool:
        """True if a record for ``sec_type`` and ``key`` exists."""
        for e in self.entries:
            if e[0] == sec_type and e[1] == key:
                return True
        return False

    def set(self, sec_type: int, key, value) -> None:
        """Add or replace the record for ``sec_type`` and ``key`` (bytes-like)."""
        key = bytes(key)
        value = bytes(value)
        if len(key) > 255 or len(value) > 0xFFFF:
            raise ValueError("secret too large")
        self.delete(sec_type, key)
        if len(self.entries) >= self.max_entries:
            self.entries.pop(0)
        self.entries.append([sec_type, key, value])
        self.dirty = True

    def delete(self, sec_type: int, key) -> bool:
        """Remove the record for ``sec_type`` and ``key``; return True if there was one."""
        for i in range(len(self.entries)):
            e = self.entries[i]
            if e[0] == sec_type and e[1] == key:
                self.entries.pop(i)
                self.dirty = True
                return True
        return False

    def clear(self) -> None:
        """Forget every record (saved by the next :meth:`save`)."""
        self.entries = []
        self.dirty = True

    def bond_count(self) -> int:
        """Number of bonded peers (records of ``SEC_TYPE_PEER``)."""
        n = 0
        for e in self.entries:
            if e[0] == SEC_TYPE_PEER:
                n += 1
        return n


# ============================================================================================
# One notifying characteristic: frame -> packets, with back-pressure
# ============================================================================================


class _TxChannel:
    """Packets of one notifying characteristic: the frame being sent and its pending packet."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.frame = bytearray(_MAX_FRAME)
        self.frame_mv = memoryview(self.frame)
        self.frame_len = 0
        self.pos = 0
        self.pkt = bytearray(_PAYLOAD)
        self.pkt_mv = memoryview(self.pkt)
        self.pkt_len = 0
        self.pkt_chunk = 0
        self.mtu = _DEFAULT_ATT_MTU
        self.counter = 0

    def drop(self) -> bool:
        """Drop the frame in flight (keep the counter); True if there was one."""
        lost = self.frame_len > 0
        self.frame_len = 0
        self.pos = 0
        self.pkt_len = 0
        self.pkt_chunk = 0
        return lost

    def reset(self) -> bool:
        """New connection: drop the frame in flight and restart the counter at 0."""
        self.counter = 0
        return self.drop()

    def busy(self) -> bool:
        return self.frame_len > 0

    def start(self, frame_len: int, mtu: int) -> None:
        self.frame_len = frame_len
        self.pos = 0
        self.pkt_len = 0
        self.mtu = mtu

    def build(self) -> None:
        """Build the next packet of the current frame (only when none is pending)."""
        end = wire.packet_into(
            self.pkt, 0, self.frame_mv, self.pos, self.mtu, self.counter, self.frame_len
        )
        self.pkt_len = end
        self.pkt_chunk = end - 1

    def sent(self) -> bool:
        """The pending packet went out; return True when that finished the frame."""
        self.pos += self.pkt_chunk
        self.counter = (self.counter + 1) & 63
        self.pkt_len = 0
        if self.pos >= self.frame_len:
            self.frame_len = 0
            self.pos = 0
            return True
        return False


# ============================================================================================
# The peripheral
# ============================================================================================


class BlePeripheral:
    """The board's GATT server, advertiser and pairing gate.

    Parameters
    ----------
    ble : bluetooth.BLE
        The BLE object (``bluetooth.BLE()`` on the board, a fake in tests).
    app : coxa_fw.app.App
        The application core: ``next_frame_into(buf, max_frame_bytes, link) -> int`` (0: no
        frame due; a frame taken is this module's to deliver or lose),
        ``on_command(frame, trusted, link) -> bytes`` (the ack frame, b"" for none),
        ``pending_status_into(buf, link) -> int`` (the status frame a GET_STATUS asked for),
        ``status_into(buf) -> int``; attributes ``bonded`` and ``pairing_mode`` are set by
        :meth:`pump` for the app's status frames.
    board_id : int
        u16 board identifier (advertised name and scan response).
    segment : int
        ``wire.SEGMENT_*`` of the board.
    fw_version : tuple of 3 int
        Firmware version for the scan response.
    secrets_path : str
        File of the bond secrets (:class:`SecretStore`).
    time_module : module, optional
        Provides ``ticks_ms()``, ``ticks_add(t, d)`` and ``ticks_diff(a, b)`` (default: ``time``).
    pairing_timeout_ms : int
        How long pairing mode lasts.
    mitm, io : bool, int
        Pairing parameters passed to ``ble.config``; the default (no MITM protection,
        ``IO_NO_INPUT_OUTPUT``) is LE Secure Connections "Just Works": the board has no display
        or keypad, so the button-started pairing window is what protects it.
    adv_interval_us : int
        Advertising interval.
    packets_per_pump : int
        Most notifications one :meth:`pump` sends (status and data together).
    log : callable, optional
        ``log(text)`` for connection and pairing events (never called from the IRQ).
    link : int
        The app's link (framer) for BLE (``coxa_fw.app.LINK_BLE``).

    Attributes
    ----------
    enomem : int
        ``gatts_notify`` calls refused with ENOMEM (the packet was kept and retried).
    notify_errors : int
        Other ``gatts_notify`` failures (the frame in flight was dropped).
    packets_sent, frames_sent : int
        Data-characteristic packets and complete frames sent.
    frames_lost : int
        Data frames taken from the app but not sent whole (disconnection, notify error).
    control_packets, control_overruns, control_errors : int
        Control writes queued by the IRQ, dropped because the queue was full, and malformed
        or failing in processing.
    connections, advertisements : int
        Connections seen and ``gap_advertise`` starts.
    """

    def __init__(
        self,
        ble,
        app,
        board_id: int,
        segment: int,
        fw_version=(0, 0, 0),
        secrets_path: str = "ble_secrets.bin",
        time_module=None,
        pairing_timeout_ms: int = DEFAULT_PAIRING_TIMEOUT_MS,
        mitm: bool = False,
        io: int = IO_NO_INPUT_OUTPUT,
        adv_interval_us: int = DEFAULT_ADV_INTERVAL_US,
        packets_per_pump: int = DEFAULT_PACKETS_PER_PUMP,
        log=None,
        link: int = 0,
    ) -> None:
        if time_module is None:
            import time as time_module
        self._ticks_ms = time_module.ticks_ms
        self._ticks_diff = time_module.ticks_diff
        self._ticks_add = time_module.ticks_add
        self._ble = ble
        self._app = app
        self._log = log
        self._link = link
        self.board_id = board_id
        self.segment = segment
        self.name = wire.board_name(board_id, segment)
        self._adv = wire.encode_advertising(board_id, segment)
        self._scan = wire.encode_scan_response(
            board_id, segment, fw_version[0], fw_version[1], fw_version[2]
        )
        self._adv_interval_us = adv_interval_us
        self._packets_per_pump = packets_per_pump
        self._pairing_timeout_ms = pairing_timeout_ms

        self.secrets = SecretStore(secrets_path)
        self.secrets.load()
        if self.secrets.load_error is not None:
            self._say("ble: secrets file ignored: %s" % self.secrets.load_error)

        # --- state written by the IRQ handler (plain values; the pump reads them) ---
        self._irq_conn = -1
        self._irq_conn_gen = 0
        self._irq_disc_gen = 0
        self._irq_extra_conn = -1
        self._irq_mtu = _DEFAULT_ATT_MTU
        self._irq_encrypted = False
        self._irq_bonded = False
        self._irq_refused_bond = False
        self._irq_new_bond = 0
        self._irq_passkey_action = 0
        self._irq_passkey_conn = -1
        self._rx = [bytearray(_PAYLOAD) for _ in range(_RX_SLOTS)]
        self._rx_len = bytearray(_RX_SLOTS)
        self._rx_gen = [0] * _RX_SLOTS
        self._rx_head = 0
        self._rx_tail = 0
        self.control_packets = 0
        self.control_overruns = 0

        # --- state of the pump ---
        self._seen_conn_gen = 0
        self._seen_disc_gen = 0
        self._seen_new_bond = 0
        self._conn = -1
        self._adv_wanted = True
        self._pairing = False
        self._pairing_until = 0
        self._control = wire.Reassembler()
        self._status_q = [bytearray(_STATUS_SLOT_BYTES) for _ in range(_STATUS_SLOTS)]
        self._status_q_len = bytearray(_STATUS_SLOTS)
        self._status_q_head = 0
        self._status_q_count = 0
        self._status_buf = bytearray(wire.STATUS_BYTES)
        self._read_buf = bytearray(1 + wire.STATUS_BYTES)
        self._battery = bytearray(1)
        self._battery_sent = -1

        self.enomem = 0
        self.notify_errors = 0
        self.packets_sent = 0
        self.frames_sent = 0
        self.frames_lost = 0
        self.status_sent = 0
        self.status_dropped = 0
        self.control_errors = 0
        self.connections = 0
        self.advertisements = 0

        ble.irq(self._irq)
        ble.active(True)
        ble.config(gap_name=self.name)
        ble.config(mtu=wire.RECOMMENDED_ATT_MTU)
        ble.config(bond=True, le_secure=True, mitm=mitm, io=io)
        handles = ble.gatts_register_services((COXA_SERVICE, BATTERY_SERVICE))
        self._h_data, self._h_control, self._h_status = handles[0]
        self._h_battery = handles[1][0]
        ble.gatts_set_buffer(self._h_control, _PAYLOAD)
        ble.gatts_write(self._h_battery, self._battery)
        self._data = _TxChannel(self._h_data)
        self._status = _TxChannel(self._h_status)

        if self.secrets.bond_count() == 0:
            self.enter_pairing_mode()
        self._update_status_value()
        self._advertise()

    # ----------------------------------------------------------------------------------------
    # IRQ: record only
    # ----------------------------------------------------------------------------------------

    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE:
            conn, handle = data[0], data[1]
            if handle == self._h_control and conn == self._irq_conn:
                value = self._ble.gatts_read(handle)
                nxt = (self._rx_head + 1) % _RX_SLOTS
                if nxt == self._rx_tail:
                    self.control_overruns += 1
                    return None
                n = len(value)
                if n > _PAYLOAD:
                    n = _PAYLOAD
                slot = self._rx_head
                self._rx[slot][0:n] = value[0:n]
                self._rx_len[slot] = n
                self._rx_gen[slot] = self._irq_conn_gen
                self._rx_head = nxt
                self.control_packets += 1
        elif event == _IRQ_MTU_EXCHANGED:
            if data[0] == self._irq_conn:
                mtu = data[1]
                if mtu < _DEFAULT_ATT_MTU:
                    mtu = _DEFAULT_ATT_MTU
                elif mtu > wire.MAX_ATT_MTU:
                    mtu = wire.MAX_ATT_MTU
                self._irq_mtu = mtu
        elif event == _IRQ_CENTRAL_CONNECT:
            if self._irq_conn >= 0:
                self._irq_extra_conn = data[0]
                return None
            self._irq_conn = data[0]
            self._irq_mtu = _DEFAULT_ATT_MTU
            self._irq_encrypted = False
            self._irq_bonded = False
            self._irq_refused_bond = False
            self._irq_conn_gen += 1
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self._irq_conn:
                self._irq_conn = -1
                self._irq_encrypted = False
                self._irq_bonded = False
                self._irq_disc_gen += 1
            elif data[0] == self._irq_extra_conn:
                self._irq_extra_conn = -1
        elif event == _IRQ_ENCRYPTION_UPDATE:
            if data[0] == self._irq_conn:
                self._irq_encrypted = bool(data[1])
                self._irq_bonded = bool(data[3])
        elif event == _IRQ_GET_SECRET:
            key = data[2]
            return self.secrets.get(data[0], data[1], None if key is None else bytes(key))
        elif event == _IRQ_SET_SECRET:
            return self._irq_set_secret(data[0], data[1], data[2])
        elif event == _IRQ_PASSKEY_ACTION:
            self._irq_passkey_conn = data[0]
            self._irq_passkey_action = data[1]
        return None

    def _irq_set_secret(self, sec_type, key, value):
        key = bytes(key)
        if value is None:
            return self.secrets.delete(sec_type, key)
        if sec_type in (SEC_TYPE_PEER, SEC_TYPE_OUR) and not self.secrets.has(sec_type, key):
            # A new bond: only inside the pairing window.
            if not self.pairing_mode:
                self._irq_refused_bond = True
                return False
            if sec_type == SEC_TYPE_PEER:
                self._irq_new_bond += 1
        self.secrets.set(sec_type, key, value)
        return True

    # ----------------------------------------------------------------------------------------
    # State
    # ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a central is connected."""
        return self._conn >= 0

    @property
    def conn_handle(self) -> int:
        """Handle of the current connection, -1 when none."""
        return self._conn

    @property
    def mtu(self) -> int:
        """ATT MTU of the current connection (23 until the central exchanges it)."""
        return self._irq_mtu

    @property
    def handles(self) -> tuple:
        """Value handles ``(data, control, status, battery_level)``."""
        return (self._h_data, self._h_control, self._h_status, self._h_battery)

    @property
    def pairing_mode(self) -> bool:
        """True while the pairing window is open (checked against the clock)."""
        if self._pairing and self._ticks_diff(self._ticks_ms(), self._pairing_until) >= 0:
            self._pairing = False
        return self._pairing

    @property
    def bonded(self) -> bool:
        """True if at least one bond is stored."""
        return self.secrets.bond_count() > 0

    @property
    def link_trusted(self) -> bool:
        """True if commands on the current link may change the board (see the module doc)."""
        if self._conn < 0:
            return False
        if self.pairing_mode:
            return True
        return self._irq_encrypted and self._irq_bonded and not self._irq_refused_bond

    @property
    def link_encrypted(self) -> bool:
        return self._conn >= 0 and self._irq_encrypted

    def enter_pairing_mode(self, duration_ms: int = -1) -> None:
        """Open the pairing window (button press; automatically at start without a bond)."""
        if duration_ms < 0:
            duration_ms = self._pairing_timeout_ms
        self._pairing_until = self._ticks_add(self._ticks_ms(), duration_ms)
        self._pairing = True
        self._say("ble: pairing mode for %d s" % (duration_ms // 1000))
        self._update_status_value()

    def leave_pairing_mode(self) -> None:
        """Close the pairing window now."""
        if self._pairing:
            self._pairing = False
            self._say("ble: pairing mode off")
            self._update_status_value()

    def forget_bonds(self) -> None:
        """Delete every stored bond (long button press) and open the pairing window."""
        self.secrets.clear()
        self.secrets.save()
        self._say("ble: bonds forgotten")
        self.enter_pairing_mode()

    def state_bits(self) -> int:
        """The status-frame state bits this module owns (BONDED, PAIRING_MODE)."""
        bits = 0
        if self.bonded:
            bits |= _STATE_BONDED
        if self.pairing_mode:
            bits |= _STATE_PAIRING_MODE
        return bits

    # ----------------------------------------------------------------------------------------
    # Main-loop work
    # ----------------------------------------------------------------------------------------

    def pump(self) -> int:
        """Do the pending work: connection changes, commands, secrets, notifications.

        Returns
        -------
        int
            Notifications sent by this call (status and data).
        """
        self._sync_connection()
        app = self._app
        app.bonded = self.bonded  # the app's status frames (USB too) carry these bits
        app.pairing_mode = self.pairing_mode
        if self.secrets.dirty:
            try:
                self.secrets.save()
            except OSError as e:
                self._say("ble: saving secrets failed: %r" % (e,))
        if self._irq_new_bond != self._seen_new_bond:
            self._seen_new_bond = self._irq_new_bond
            self._say("ble: new bond stored")
            self.leave_pairing_mode()
            self._update_status_value()  # BONDED readable at once (the window may have timed out)
        if self._irq_passkey_action:
            self._answer_passkey()
        if self._conn < 0:
            if self._adv_wanted:
                self._advertise()
            return 0
        self._process_control()
        return self._send()

    def send_status(self) -> bool:
        """Queue a status frame on the status characteristic (periodic and GET_STATUS).

        Also refreshes the status characteristic's read value. Returns False if the queue
        was full or nobody is connected.
        """
        n = self._status_frame()
        if n == 0 or self._conn < 0:
            return False
        return self._queue_status(self._status_buf, n)

    def set_battery_percent(self, percent: int) -> None:
        """Update the Battery Level characteristic (0..100 %); notify when it changed."""
        if percent < 0:
            percent = 0
        elif percent > 100:
            percent = 100
        if percent == self._battery_sent:
            return
        self._battery[0] = percent
        self._ble.gatts_write(self._h_battery, self._battery)
        self._battery_sent = percent
        if self._conn >= 0:
            try:
                self._ble.gatts_notify(self._conn, self._h_battery, self._battery)
            except OSError:
                self._battery_sent = -1  # try again with the next update

    def stop(self) -> None:
        """Stop advertising and disconnect (before a reset)."""
        try:
            self._ble.gap_advertise(None)
        except OSError:
            pass
        if self._conn >= 0:
            try:
                self._ble.gap_disconnect(self._conn)
            except OSError:
                pass

    # ----------------------------------------------------------------------------------------

    def _say(self, text):
        if self._log is not None:
            self._log(text)

    def _advertise(self) -> None:
        try:
            self._ble.gap_advertise(self._adv_interval_us, self._adv, resp_data=self._scan)
        except OSError as e:
            self._say("ble: advertising failed: %r" % (e,))
            self._adv_wanted = True
            return
        self._adv_wanted = False
        self.advertisements += 1

    def _sync_connection(self) -> None:
        extra = self._irq_extra_conn
        if extra >= 0:
            self._irq_extra_conn = -1
            try:
                self._ble.gap_disconnect(extra)
            except OSError:
                pass
        disc_gen = self._irq_disc_gen
        conn_gen = self._irq_conn_gen
        if disc_gen != self._seen_disc_gen or conn_gen != self._seen_conn_gen:
            if self._conn >= 0 and (
                disc_gen != self._seen_disc_gen or self._irq_conn != self._conn
            ):
                self._say("ble: disconnected")
            self._seen_disc_gen = disc_gen
            self._end_link()
            if conn_gen != self._seen_conn_gen:
                self._seen_conn_gen = conn_gen
            conn = self._irq_conn
            if conn >= 0:
                self._conn = conn
                self.connections += 1
                self._say("ble: connected")
                # The read value is refreshed once a second; a central reading it right
                # after a reconnection must not get the one from before the drop.
                self._update_status_value()
                try:
                    # Most centrals start the MTU exchange themselves; NimBLE lets the
                    # peripheral start it too, for those that do not.
                    self._ble.gattc_exchange_mtu(conn)
                except OSError:
                    pass
                try:
                    self._ble.gap_pair(conn)  # security request: (bonded) encryption
                except OSError:
                    pass
            else:
                self._adv_wanted = True

    def _end_link(self) -> None:
        if self._data.reset():
            self.frames_lost += 1
        self._status.reset()
        self._status_q_count = 0
        self._control.reset()
        self._conn = -1

    def _process_control(self) -> None:
        while self._rx_tail != self._rx_head:
            slot = self._rx_tail
            n = self._rx_len[slot]
            stale = self._rx_gen[slot] != self._seen_conn_gen
            frame = None
            if not stale:
                try:
                    frame = self._control.push(memoryview(self._rx[slot])[0:n])
                except ValueError:
                    self.control_errors += 1
            self._rx_tail = (slot + 1) % _RX_SLOTS
            if frame is not None:
                self._command(frame)

    def _command(self, frame) -> None:
        trusted = self.link_trusted
        app = self._app
        try:
            ack = app.on_command(frame, trusted, self._link)
            if ack:
                self._queue_status(ack, len(ack))
            n = app.pending_status_into(self._status_buf, self._link)  # after GET_STATUS
        except Exception as e:  # the app must never take the radio down
            self.control_errors += 1
            self._say("ble: command failed: %r" % (e,))
            return
        if n > 0:
            self._patch_state(self._status_buf, n)
            self._queue_status(self._status_buf, n)

    def _status_frame(self) -> int:
        try:
            n = self._app.status_into(self._status_buf)
        except Exception as e:
            self._say("ble: status failed: %r" % (e,))
            return 0
        if n > _STATE_BYTE:
            self._patch_state(self._status_buf, n)
            self._set_read_value(self._status_buf, n)
        return n

    def _patch_state(self, buf, n) -> None:
        # BONDED and PAIRING_MODE are this module's to say, whatever the app last heard.
        if n > _STATE_BYTE:
            b = buf[_STATE_BYTE] & ~(_STATE_BONDED | _STATE_PAIRING_MODE)
            buf[_STATE_BYTE] = b | self.state_bits()

    def _update_status_value(self) -> None:
        if getattr(self, "_h_status", None) is not None:
            self._status_frame()

    def _set_read_value(self, frame, n) -> None:
        # The read value is one complete packet (header 0x00) carrying the latest status.
        buf = self._read_buf
        buf[0] = 0
        buf[1 : 1 + n] = frame[0:n]
        self._ble.gatts_write(self._h_status, memoryview(buf)[0 : 1 + n])

    def _queue_status(self, frame, n) -> bool:
        if n > _STATUS_SLOT_BYTES or self._status_q_count >= _STATUS_SLOTS:
            self.status_dropped += 1
            return False
        slot = (self._status_q_head + self._status_q_count) % _STATUS_SLOTS
        self._status_q[slot][0:n] = frame[0:n]
        self._status_q_len[slot] = n
        self._status_q_count += 1
        return True

    def _answer_passkey(self) -> None:
        action = self._irq_passkey_action
        conn = self._irq_passkey_conn
        self._irq_passkey_action = 0
        if conn != self._conn:
            return
        accept = 1 if (action == _PASSKEY_ACTION_NUMCMP and self.pairing_mode) else 0
        try:
            self._ble.gap_passkey(conn, action, accept)
        except OSError:
            pass

    def _send(self) -> int:
        """Send status packets first, then data packets, until ENOMEM or the budget."""
        ble = self._ble
        conn = self._conn
        sent = 0
        budget = self._packets_per_pump
        st = self._status
        data = self._data
        while sent < budget:
            if st.pkt_len == 0:
                if not st.busy():
                    if self._status_q_count == 0:
                        break
                    slot = self._status_q_head
                    n = self._status_q_len[slot]
                    st.frame[0:n] = self._status_q[slot][0:n]
                    self._status_q_head = (slot + 1) % _STATUS_SLOTS
                    self._status_q_count -= 1
                    st.start(n, self._irq_mtu)
                st.build()
            try:
                ble.gatts_notify(conn, st.handle, st.pkt_mv[0 : st.pkt_len])
            except OSError as e:
                if self._notify_failed(e, st):
                    return sent
                continue
            sent += 1
            if st.sent():
                self.status_sent += 1
        while sent < budget:
            if data.pkt_len == 0:
                if not data.busy():
                    mtu = self._irq_mtu
                    n = self._app.next_frame_into(data.frame, frame_budget(mtu), self._link)
                    if n <= 0:
                        break
                    data.start(n, mtu)
                data.build()
            try:
                ble.gatts_notify(conn, data.handle, data.pkt_mv[0 : data.pkt_len])
            except OSError as e:
                if self._notify_failed(e, data):
                    return sent
                continue
            sent += 1
            self.packets_sent += 1
            if data.sent():
                self.frames_sent += 1
        return sent

    def _notify_failed(self, e, channel) -> bool:
        """Handle a gatts_notify error; True means stop sending for this pump."""
        code = e.args[0] if len(e.args) > 0 else 0
        if code == _ENOMEM:
            self.enomem += 1  # back-pressure: keep the packet, retry on the next pump
            return True
        # Anything else (e.g. the link just went away): drop the frame in flight.
        self.notify_errors += 1
        if channel.drop() and channel is self._data:
            self.frames_lost += 1
        return True
