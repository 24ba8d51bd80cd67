"""The board's synchronous core: sample -> filter -> FIFO -> frames, commands, status.

Hardware-free and dialect-neutral: the IMU driver, the ``time``-like clock, the AHRS (default
:class:`coxa_fw.ahrs.Ahrs6D`) and the battery reading come in as arguments, so the same code
runs on the board, on the MicroPython unix port and on CPython. The asyncio shell
(``main.py``) calls :meth:`App.step` often enough to keep the IMU's FIFO from overflowing
(every 5-50 ms), and the links (``ble.py``, ``usb.py``) call :meth:`App.next_frame_into`,
:meth:`App.on_command` and :meth:`App.status_into`.

Links
-----
Each link (``LINK_BLE`` = 0, ``LINK_USB`` = 1 by default) has its own
:class:`coxa_fw.framer.Framer`: its own START/STOP_STREAM state, live cursor, backfill queue
and GET_STATUS request. Rate and mode are board-wide. A sample counts as sent when any link
got it.

IMU errors
----------
An ``OSError`` from the driver (or a FIFO that stays empty for ``stall_ms``) puts the app in
the error state: status bit ``IMU_ERROR``, ``imu_errors`` counts the failures, sampling stops.
:meth:`step` retries after a back-off (``retry_ms``, doubling up to ``retry_max_ms``): with an
``imu_factory`` it builds a new driver (re-initialising the chip), without one it reads
again. It never blocks or raises. After a recovery the time line restarts (a break) and the
AHRS re-initialises from the next sample (flag ``FILTER_RESET``: the heading restarts), as it
does after an IMU FIFO overrun: its state is stale after a gap in the samples.

Samples dropped (status ``samples_dropped``)
--------------------------------------------
Samples lost on the board: (a) samples taken while at least one link was streaming that left the
RAM FIFO (overwritten, or evicted when its break lines run out) without ever having been put
into a frame on any link, live or backfill, plus (b) samples the IMU produced but the board
never read because its hardware FIFO overflowed (estimated from the time gap; ``Sampler.lost``).
Not counted: frames a link lost after taking them (the host gets those samples by backfill while
the FIFO holds them), and time without samples during an IMU error (bit ``IMU_ERROR``; the
sequence numbers stay contiguous, the frame times show the gap).

Accelerometer calibration
-------------------------
With an ``acc_cal`` (:class:`coxa_fw.acc_cal.AccCal`), :meth:`step` hands every sample's
flags and uncorrected accelerometer counts to ``acc_cal.add`` (integers only), and the
calibration in use is subtracted from every sample before the AHRS (by the sampler:
:meth:`coxa_fw.sampler.Sampler.set_acc_cal`). The fit runs in :meth:`calibrate`, which the
shell calls after :meth:`step`: it allocates floats and takes milliseconds, so it stays out
of the sampling path.
"""

import wire

from coxa_fw.fifo import SampleFifo
from coxa_fw.framer import Framer
from coxa_fw.sampler import Sampler

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


LINK_BLE = 0
LINK_USB = 1
SUPPORTED_RATES_HZ = (100, 200, 400)

_ACK_BUF = const(16)
_UNTRUSTED_OK = (wire.OP_GET_STATUS, wire.OP_IDENTIFY)


class App:
    """The application core.

    Parameters
    ----------
    imu : driver or None
        The IMU driver (firmware/README.md "IMU driver interface"); None to let
        ``imu_factory`` build it on the first :meth:`step`.
    clock : module or object
        ``ticks_us``, ``ticks_ms``, ``ticks_diff``, ``ticks_add`` (the ``time`` module).
    board_id : int
        u16.
    segment : int
        ``wire.SEGMENT_*``.
    rate_hz : int
        Sample rate, one of ``SUPPORTED_RATES_HZ``.
    fw_version : tuple of 3 int
    imu_factory : callable, optional
        ``imu_factory(rate_hz) -> driver``; used to re-initialise after errors and for
        SET_RATE. Without it SET_RATE to another rate is UNSUPPORTED.
    ahrs_factory : callable, optional
        ``ahrs_factory(rate_hz) -> filter`` with the ``Ahrs6D`` interface; default
        :class:`coxa_fw.ahrs.Ahrs6D`. The filter is rebuilt (its state carried over with
        ``snapshot_into``/``restore``) at the IMU's real sample rate: the driver's ``odr_hz``
        when the IMU starts, and the sampler's measured rate when that differs by more than
        0.2 %.
    axis_map : optional
        The profile's ``imu.board_from_sensor`` matrix, or its code from
        :func:`coxa_fw.profiles.axis_map` (see :func:`coxa_fw.sampler.axis_code`).
    battery_mv : callable, optional
        ``battery_mv() -> int``; None reports 0 (not measured).
    fifo_capacity : int
        RAM FIFO size in samples (21 bytes each).
    links : int
        Number of links (frame streams).
    first_seq, start_us : int
        First sequence number and initial device time (tests).
    batch : int
        Most samples read from the IMU per step.
    live_max_age_ms, live_max_lag_ms, backfill_slots : int
        Framer settings (see :mod:`coxa_fw.framer`).
    stall_ms, retry_ms, retry_max_ms : int
        IMU error handling.
    acc_cal : AccCal, optional
        Accelerometer calibration (:mod:`coxa_fw.acc_cal`): its calibration in use is
        applied from the start, its rests collected in :meth:`step`, its fits run in
        :meth:`calibrate`. None: no calibration.

    Attributes
    ----------
    mode : int
        ``wire.MODE_QUAT`` or ``wire.MODE_QUAT_RAW``.
    identify_until_ms : int or None
        ``ticks_ms`` deadline of IDENTIFY (the LED task blinks while :meth:`identifying`).
    imu_ok : bool
    imu_errors, imu_recoveries : int
    bonded, pairing_mode, charging : bool
        State bits the shell sets for the status frame.
    last_flags : int
        Wire flags of the newest sample.
    """

    def __init__(
        self,
        imu,
        clock,
        board_id: int,
        segment: int,
        rate_hz: int = 200,
        fw_version=(0, 1, 0),
        imu_factory=None,
        ahrs_factory=None,
        axis_map=None,
        battery_mv=None,
        fifo_capacity: int = 6000,
        links: int = 2,
        first_seq: int = 0,
        start_us: int = 0,
        batch: int = 32,
        live_max_age_ms: int = 50,
        live_max_lag_ms: int = 250,
        backfill_slots: int = 8,
        stall_ms: int = 500,
        retry_ms: int = 100,
        retry_max_ms: int = 5000,
        acc_cal=None,
    ) -> None:
        if board_id < 0 or board_id > 0xFFFF:
            raise ValueError("board_id must be a u16")
        if segment < 0 or segment > wire.SEGMENT_SHANK_R:
            raise ValueError("segment must be 0..4")
        if rate_hz not in SUPPORTED_RATES_HZ:
            raise ValueError("rate_hz must be one of %r" % (SUPPORTED_RATES_HZ,))
        if links < 1:
            raise ValueError("links must be >= 1")
        self.clock = clock
        self.board_id = board_id
        self.segment = segment
        self.rate_hz = rate_hz
        self.fw_version = (fw_version[0], fw_version[1], fw_version[2])
        self.imu_factory = imu_factory
        self.battery_mv = battery_mv
        self.mode = wire.MODE_QUAT
        if ahrs_factory is None:
            from coxa_fw.ahrs import Ahrs6D

            ahrs_factory = Ahrs6D
        self.ahrs_factory = ahrs_factory
        self.ahrs = ahrs_factory(rate_hz)
        self._ahrs_p16 = (16000000 + rate_hz // 2) // rate_hz
        self._snap = bytearray(256)
        self._period_version = 0
        self._overruns = 0
        self.ahrs_rebuilds = 0
        self.sampler = Sampler(
            None,
            clock,
            rate_hz,
            axis_map=axis_map,
            batch=batch,
            first_seq=first_seq,
            start_us=start_us,
        )
        self.acc_cal = acc_cal
        self._apply_acc_cal()
        self.fifo = SampleFifo(fifo_capacity, self.sampler, first_seq)
        self.framers = []
        for _ in range(links):
            self.framers.append(
                Framer(
                    self.fifo,
                    board_id,
                    rate_hz,
                    live_max_age_ms=live_max_age_ms,
                    live_max_lag_ms=live_max_lag_ms,
                    backfill_slots=backfill_slots,
                )
            )
        self._ack = bytearray(_ACK_BUF)
        self.identify_until_ms = None
        self.bonded = False
        self.pairing_mode = False
        self.charging = False
        self.last_flags = 0
        self._next_flags = 0
        self.imu_ok = False
        self.imu_errors = 0
        self.imu_recoveries = 0
        self.imu_stalls = 0
        self.last_error = None
        self._flush_us = 2000 * live_max_age_ms
        self.stall_ms = stall_ms
        self.retry_ms = retry_ms
        self.retry_max_ms = retry_max_ms
        self._backoff_ms = retry_ms
        self._retry_at = clock.ticks_ms()
        self.commands = 0
        self.imu = None
        if imu is not None:
            self._use_imu(imu)

    # ---------------------------------------------------------------------------------------
    # Sampling
    # ---------------------------------------------------------------------------------------
    def step(self) -> int:
        """Read the IMU FIFO, filter, store; return the number of samples added.

        Never raises for IMU trouble: see "IMU errors" in the module docstring.
        """
        if not self.imu_ok and not self._try_recover():
            return 0
        s = self.sampler
        try:
            n = s.poll()
        except OSError as e:
            self._fail(e)
            return 0
        if n == 0:
            if self.stall_ms > 0 and s.idle_us() > self.stall_ms * 1000:
                self.imu_stalls += 1
                self._fail(OSError("IMU FIFO stayed empty for %d ms" % self.stall_ms))
            return 0
        if s.overruns != self._overruns:
            # samples were lost in the IMU: the filter state is stale, start it afresh
            self._overruns = s.overruns
            self._reset_ahrs()
        if s.period_version != self._period_version:
            self._period_version = s.period_version
            d = s.period_p16 - self._ahrs_p16
            if (d if d > 0 else -d) * 500 > self._ahrs_p16:
                self._retune_ahrs(16000000.0 / s.period_p16)
        fifo = self.fifo
        fifo.wanted = self.streaming()
        ahrs = self.ahrs
        q = ahrs.q
        si = s.si
        w = s.w
        raw = s.raw
        cal = self.acc_cal
        extra = self._next_flags
        self._next_flags = 0
        f = 0
        for i in range(n):
            s.load(i)
            f = (ahrs.update(si[0], si[1], si[2], si[3], si[4], si[5]) & 0x0F) | s.clip | extra
            extra = 0
            fifo.push(q, w[0], w[1], w[2], f, w[3], w[4], w[5])
            if cal is not None:
                cal.add(f, raw[3], raw[4], raw[5])
        self.last_flags = f
        return n

    def _fail(self, e) -> None:
        self.imu_ok = False
        self.imu_errors += 1
        self.last_error = e
        self._backoff_ms = self.retry_ms
        self._retry_at = self.clock.ticks_add(self.clock.ticks_ms(), self._backoff_ms)

    def _try_recover(self) -> bool:
        clock = self.clock
        now = clock.ticks_ms()
        if clock.ticks_diff(now, self._retry_at) < 0:
            return False
        imu = self.imu
        try:
            if self.imu_factory is not None:
                imu = self.imu_factory(self.rate_hz)
            elif imu is None:
                raise OSError("no IMU and no imu_factory")
            else:
                imu.fifo_samples()  # probe the bus
            self._use_imu(imu)
        except (OSError, ValueError) as e:
            self.imu_errors += 1
            self.last_error = e
            b = self._backoff_ms * 2
            self._backoff_ms = b if b < self.retry_max_ms else self.retry_max_ms
            self._retry_at = clock.ticks_add(now, self._backoff_ms)
            return False
        if self.imu_errors > 0:
            self.imu_recoveries += 1
            self._reset_ahrs()
        self._backoff_ms = self.retry_ms
        return True

    def _reset_ahrs(self) -> None:
        """After a gap in the samples: re-initialise the filter from the next sample (it
        keeps its gyro bias; the sample is flagged FILTER_RESET: the heading restarts)."""
        reset = getattr(self.ahrs, "reset", None)
        if reset is not None:
            reset()
        self._next_flags |= wire.SAMPLE_FILTER_RESET

    def _use_imu(self, imu) -> None:
        """Start sampling from ``imu`` (new or re-initialised) at the configured rate."""
        s = self.sampler
        s.set_imu(imu, self.rate_hz)
        cal = self.acc_cal
        if cal is not None:
            c = s.acc_m_s2_per_count
            cal.start(self.rate_hz, c[0], c[1], c[2])
        self.imu = imu
        self.imu_ok = True
        odr = getattr(imu, "odr_hz", None)
        self._retune_ahrs(odr if odr else self.rate_hz)

    def calibrate(self) -> bool:
        """Do the accelerometer calibration's pending work (store a finished rest, fit) and
        apply a newly accepted calibration; True if one was applied. Call it outside
        :meth:`step` (after it, in the sampling task): a fit takes milliseconds."""
        cal = self.acc_cal
        if cal is None or not cal.process():
            return False
        self._apply_acc_cal()
        return True

    def _apply_acc_cal(self) -> None:
        cal = self.acc_cal
        if cal is None:
            return
        b = cal.offset_m_s2
        k = cal.scale
        if cal.valid:
            self.sampler.set_acc_cal(b[0], b[1], b[2], k[0], k[1], k[2])
        else:
            self.sampler.set_acc_cal(0.0, 0.0, 0.0)

    # ---------------------------------------------------------------------------------------
    # Links
    # ---------------------------------------------------------------------------------------
    def streaming(self) -> bool:
        """True if any link streams live data."""
        for fr in self.framers:
            if fr.streaming:
                return True
        return False

    def next_frame_into(self, buf, max_frame_bytes: int, link: int = LINK_BLE) -> int:
        """Write the next data frame for ``link`` into ``buf``; return its length (0: none).

        ``max_frame_bytes``: ``wire.ble_payload_bytes(mtu) - 1`` for an unfragmented BLE
        link, ``wire.MAX_FRAME_BYTES`` for a fragmenting one or USB. The frame is handed to
        the link: its samples count as sent.
        """
        return self.framers[link].next_frame_into(
            buf,
            max_frame_bytes,
            self.mode == wire.MODE_QUAT_RAW,
            self.sampler.idle_us() > self._flush_us,
        )

    def on_command(self, data, trusted: bool = True, link: int = LINK_BLE) -> bytes:
        """Execute one command frame; return the ack frame (b"" if there is nothing to answer).

        ``trusted`` is False on an unbonded BLE link outside pairing mode: then everything but
        GET_STATUS and IDENTIFY is NOT_PERMITTED.
        """
        self.commands += 1
        try:
            cmd = wire.decode_command(data)
        except wire.ProtocolError:
            rej = wire.reject_command(data)
            return b"" if rej is None else rej.encode()
        op = cmd.opcode
        token = cmd.token
        if not trusted and op not in _UNTRUSTED_OK:
            return self._ack_bytes(op, token, wire.RESULT_NOT_PERMITTED)
        fr = self.framers[link]
        result = wire.RESULT_OK
        if op == wire.OP_START_STREAM:
            fr.start()
            self.fifo.wanted = True
        elif op == wire.OP_STOP_STREAM:
            fr.stop()
            self.fifo.wanted = self.streaming()
        elif op == wire.OP_SET_RATE:
            result = self.set_rate(cmd.args[0])
        elif op == wire.OP_SET_MODE:
            self.mode = cmd.args[0]
        elif op == wire.OP_IDENTIFY:
            d = cmd.args[0]
            if d == 0:
                self.identify_until_ms = None
            else:
                self.identify_until_ms = self.clock.ticks_add(self.clock.ticks_ms(), d * 1000)
        elif op == wire.OP_TIME_PING:
            dc = self.sampler.dclock
            dc.update()
            return self._ack_bytes(op, token, result, cmd.args[0], dc.t_us())
        elif op == wire.OP_BACKFILL:
            result = fr.request_backfill(cmd.args[0], cmd.args[1])
            if result == wire.RESULT_OK:
                return self._ack_bytes(op, token, result, fr.ack_first, fr.ack_count)
        elif op == wire.OP_ZERO_AT_REST:
            result = self.zero_at_rest()
        elif op == wire.OP_GET_STATUS:
            fr.status_requested = True
        return self._ack_bytes(op, token, result)

    def _ack_bytes(self, op: int, token: int, result: int, *args: int) -> bytes:
        n = wire.ack_into(self._ack, 0, op, token, result, *args)
        return bytes(self._ack[0:n])

    def set_rate(self, rate_hz: int) -> int:
        """SET_RATE: reconfigure the IMU and the filter; return a ``wire.RESULT_*`` code.

        UNSUPPORTED for rates outside ``SUPPORTED_RATES_HZ``, without an ``imu_factory``, or
        when the driver rejects the rate (ValueError; the ICM-42688-P has no 400 Hz). OK also
        when the new IMU fails on the bus (the app then reports IMU_ERROR and keeps retrying
        at the new rate).
        """
        if rate_hz == self.rate_hz:
            return wire.RESULT_OK
        if rate_hz not in SUPPORTED_RATES_HZ or self.imu_factory is None:
            return wire.RESULT_UNSUPPORTED
        imu = None
        error = None
        try:
            imu = self.imu_factory(rate_hz)
        except ValueError:
            # the chip has no such rate (the drivers check before touching the bus)
            return wire.RESULT_UNSUPPORTED
        except OSError as e:
            error = e
        self.rate_hz = rate_hz
        for fr in self.framers:
            fr.configure(rate_hz)
        if error is not None:
            self._retune_ahrs(rate_hz)
            self._fail(error)
        else:
            self._use_imu(imu)
        return wire.RESULT_OK

    def _retune_ahrs(self, rate_hz) -> None:
        """Rebuild the filter for ``rate_hz`` (float) unless it already runs within 0.1 %."""
        old = self.ahrs
        cur = getattr(old, "rate_hz", 0) or 0
        if cur and abs(cur - rate_hz) <= 0.001 * rate_hz:
            return
        new = self.ahrs_factory(rate_hz)
        try:
            old.snapshot_into(self._snap)
            new.restore(self._snap)
        except (OSError, ValueError, AttributeError, NotImplementedError):
            self._next_flags |= wire.SAMPLE_FILTER_RESET
        self.ahrs = new
        self.ahrs_rebuilds += 1
        self._ahrs_p16 = int(16000000.0 / rate_hz + 0.5)

    def zero_at_rest(self) -> int:
        """ZERO_AT_REST: re-zero the filter's heading if the newest sample is at rest."""
        if not self.imu_ok:
            return wire.RESULT_UNAVAILABLE
        if not (self.last_flags & wire.SAMPLE_AT_REST):
            return wire.RESULT_BUSY
        self.ahrs.zero_heading()
        self._next_flags |= wire.SAMPLE_FILTER_RESET
        return wire.RESULT_OK

    def identifying(self) -> bool:
        """True while an IDENTIFY is running (clears the deadline when it has passed)."""
        until = self.identify_until_ms
        if until is None:
            return False
        if self.clock.ticks_diff(until, self.clock.ticks_ms()) > 0:
            return True
        self.identify_until_ms = None
        return False

    # ---------------------------------------------------------------------------------------
    # Status
    # ---------------------------------------------------------------------------------------
    def state_bits(self) -> int:
        """The status frame's state byte."""
        st = 0
        if self.streaming():
            st |= wire.STATE_STREAMING
        if not self.imu_ok:
            st |= wire.STATE_IMU_ERROR
        if self.bonded:
            st |= wire.STATE_BONDED
        if self.pairing_mode:
            st |= wire.STATE_PAIRING_MODE
        if self.charging:
            st |= wire.STATE_CHARGING
        if self.identifying():
            st |= wire.STATE_IDENTIFYING
        return st

    def samples_dropped(self) -> int:
        """See "Samples dropped" in the module docstring."""
        return self.fifo.dropped + self.sampler.lost

    def temperature_centi_c(self) -> int:
        """IMU temperature in 0.01 deg C, or ``wire.TEMPERATURE_UNKNOWN``."""
        imu = self.imu
        if imu is None or not self.imu_ok:
            return wire.TEMPERATURE_UNKNOWN
        try:
            t = imu.temperature_c()
        except (OSError, AttributeError):
            return wire.TEMPERATURE_UNKNOWN
        if t is None or t != t:
            return wire.TEMPERATURE_UNKNOWN
        c = int(t * 100.0 + (0.5 if t >= 0 else -0.5))
        if c > 32767:
            return 32767
        if c < -32767:
            return -32767
        return c

    def status_into(self, buf, offset: int = 0) -> int:
        """Write a status frame (28 bytes) at ``offset``; return the offset after it."""
        mv = 0
        if self.battery_mv is not None:
            try:
                mv = int(self.battery_mv())
            except (OSError, ValueError):
                mv = 0
            if mv < 0:
                mv = 0
            elif mv > 0xFFFF:
                mv = 0xFFFF
        fifo = self.fifo
        newest = (fifo.next_k - 1) & 0xFFFFFFFF if fifo.next_k != fifo.first_seq else 0
        return wire.status_into(
            buf,
            offset,
            self.board_id,
            self.segment,
            self.fw_version[0],
            self.fw_version[1],
            self.fw_version[2],
            mv,
            fifo.count,
            fifo.capacity,
            self.samples_dropped() & 0xFFFFFFFF,
            self.temperature_centi_c(),
            self.rate_hz,
            self.mode,
            self.state_bits(),
            newest,
        )

    def pending_status_into(self, buf, link: int = LINK_BLE) -> int:
        """If a GET_STATUS on ``link`` asked for one, write a status frame and return its
        length (clearing the request); else 0."""
        fr = self.framers[link]
        if not fr.status_requested:
            return 0
        fr.status_requested = False
        return self.status_into(buf, 0)
