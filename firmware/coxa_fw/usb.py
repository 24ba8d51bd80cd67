"""USB serial link: protocol v1 frames as ``COBS(frame + CRC16) + 0x00`` packets, both ways.

:class:`SerialLink` works on any byte stream with non-blocking ``readinto(buf) -> n`` (None or
0 when nothing is waiting) and ``write(buf) -> n`` (may write less, or None when it cannot
write now), like ``machine.UART(..., timeout=0)``. On the board's native USB CDC port, which
is also the REPL, wrap ``sys.stdin``/``sys.stdout`` in :class:`StdioStream`. Tests use a
fake stream.

When it streams
---------------
Nothing is written before the host has opened the port, which the link learns from the first
valid command frame it receives (CRC and COBS checked; ``opened``). MicroPython on the
ESP32-S3 cannot read the DTR line of its USB CDC port; if a stream can (``dtr()``), the link
also closes when DTR drops and re-opens when it rises. A host therefore starts with any
command (typically GET_STATUS or START_STREAM). Acks go out right after their command; a
GET_STATUS is followed by a status frame; data frames (live and backfill) come from
:meth:`coxa_fw.app.App.next_frame_into` on this link's own framer (``link``), full-size
(``wire.MAX_FRAME_BYTES``).

Partial writes
--------------
A packet that the stream took only partly is finished on the next :meth:`pump` before anything
else is written; packets are never interleaved. A write error (OSError) drops the packet in
progress (``tx_errors``; a data frame so dropped is ``frames_lost``; its samples stay in the
FIFO for backfill).
"""

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


_TX_BYTES = const(250)  # >= SERIAL_MAX_PACKET_BYTES + 1 delimiter (+ margin)
_KIND_NONE = const(0)
_KIND_DATA = const(1)
_KIND_OTHER = const(2)


class SerialLink:
    """Commands in, acks, status and data frames out, over one serial stream.

    Parameters
    ----------
    stream : object
        ``readinto(buf)`` (non-blocking) and ``write(buf)``; optional ``dtr()``.
    app : coxa_fw.app.App
    link : int
        The app link (framer) this port uses (``coxa_fw.app.LINK_USB``).
    rx_bytes : int
        Bytes read per ``readinto``.

    Attributes
    ----------
    opened : bool
        A host has sent a valid command (or DTR is up).
    commands, frames_sent, status_sent, frames_lost, tx_errors, rx_errors : int
        Counters (``rx_errors``: bad packets skipped by the deframer).
    """

    def __init__(self, stream, app, link: int = 1, rx_bytes: int = 64) -> None:
        self.stream = stream
        self.app = app
        self.link = link
        self._rx = bytearray(rx_bytes)
        self._rx_mv = memoryview(self._rx)
        self._deframer = wire.SerialDeframer()
        self._frame = bytearray(wire.MAX_FRAME_BYTES)
        self._tx = bytearray(_TX_BYTES)
        self._tx_mv = memoryview(self._tx)
        self._tx_len = 0
        self._tx_pos = 0
        self._tx_kind = _KIND_NONE
        self._dtr = getattr(stream, "dtr", None)
        self._dtr_was = False
        self._acks = []
        self.opened = False
        self.commands = 0
        self.frames_sent = 0
        self.status_sent = 0
        self.frames_lost = 0
        self.tx_errors = 0

    @property
    def rx_errors(self) -> int:
        return self._deframer.errors

    # ---------------------------------------------------------------------------------------
    def poll(self) -> int:
        """Read what the stream has, run the commands in it; return the number of commands.

        Acks are queued and written by :meth:`pump` (called here too).
        """
        if self._dtr is not None:
            up = bool(self._dtr())
            if up != self._dtr_was:
                self._dtr_was = up
                self.opened = up
                self._deframer.reset()
        done = 0
        while True:
            n = self.stream.readinto(self._rx)
            if not n:
                break
            for frame in self._deframer.feed(self._rx_mv[0:n]):
                if len(frame) < 2 or frame[1] != wire.KIND_COMMAND:
                    continue
                if not self.opened:
                    self.opened = True
                    claim = getattr(self.stream, "claim", None)
                    if claim is not None:
                        claim()
                self.commands += 1
                done += 1
                ack = self.app.on_command(frame, True, self.link)
                if ack:
                    self._acks.append(ack)
                m = self.app.pending_status_into(self._frame, self.link)
                if m:  # GET_STATUS: the status frame right after its ack
                    self.status_sent += 1
                    self._acks.append(bytes(self._frame[0:m]))
            if n < len(self._rx):
                break
        if done or self._acks:
            self.pump(0)
        return done

    def pump(self, max_frames: int = 4) -> int:
        """Write pending acks, a requested status frame and up to ``max_frames`` data frames.

        Returns the number of packets completed. Does nothing before the port is opened.
        """
        if not self.opened:
            return 0
        sent = 0
        app = self.app
        while True:
            if self._tx_len:
                if not self._flush():
                    return sent
                sent += 1
            if self._acks:
                ack = self._acks.pop(0)
                self._start(ack, len(ack), _KIND_OTHER)
                continue
            n = app.pending_status_into(self._frame, self.link)
            if n:
                self.status_sent += 1
                self._start(self._frame, n, _KIND_OTHER)
                continue
            if max_frames <= 0:
                return sent
            n = app.next_frame_into(self._frame, wire.MAX_FRAME_BYTES, self.link)
            if n <= 0:
                return sent
            max_frames -= 1
            self._start(self._frame, n, _KIND_DATA)

    def send_status(self) -> bool:
        """Write a status frame now (periodic status); False if the port is not open or busy."""
        if not self.opened or self._tx_len:
            return False
        n = self.app.status_into(self._frame, 0)
        self.status_sent += 1
        self._start(self._frame, n, _KIND_OTHER)
        self._flush()
        return True

    # ---------------------------------------------------------------------------------------
    def _start(self, frame, n: int, kind: int) -> None:
        self._tx_len = wire.serial_encode_into(self._tx, 0, frame, n)
        self._tx_pos = 0
        self._tx_kind = kind

    def _flush(self) -> bool:
        """Write the packet in progress; True when it is complete."""
        while self._tx_pos < self._tx_len:
            try:
                w = self.stream.write(self._tx_mv[self._tx_pos : self._tx_len])
            except OSError:
                self.tx_errors += 1
                if self._tx_kind == _KIND_DATA:
                    self.frames_lost += 1
                self._tx_len = 0
                self._tx_pos = 0
                return False
            if not w:
                return False
            self._tx_pos += w
        if self._tx_kind == _KIND_DATA:
            self.frames_sent += 1
        self._tx_len = 0
        self._tx_pos = 0
        self._tx_kind = _KIND_NONE
        return True


class StdioStream:
    """The board's USB CDC REPL port as a non-blocking stream for :class:`SerialLink`.

    Reads with ``select.poll`` on ``sys.stdin`` (one byte per ready check, so it never
    blocks); writes to ``sys.stdout.buffer``. ``claim()`` disables Ctrl-C
    (``micropython.kbd_intr(-1)``) because COBS packets contain 0x03 bytes; call it when the
    link opens, ``release()`` to give the REPL its Ctrl-C back. Board only (not used in tests).
    """

    def __init__(self, max_read: int = 64) -> None:
        import select
        import sys

        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)
        self._max = max_read
        self.claimed = False

    def claim(self) -> None:
        import micropython

        micropython.kbd_intr(-1)
        self.claimed = True

    def release(self) -> None:
        import micropython

        micropython.kbd_intr(3)
        self.claimed = False

    def readinto(self, buf) -> int:
        n = 0
        limit = len(buf) if len(buf) < self._max else self._max
        while n < limit and self._poll.poll(0):
            if not self._in.readinto(self._one):
                break
            buf[n] = self._one[0]
            n += 1
        return n

    def write(self, data) -> int:
        w = self._out.write(data)
        return len(data) if w is None else w
