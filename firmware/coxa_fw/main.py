"""The board's thin asyncio shell: hardware from a profile, the app, the links, the tasks.

``run(profile_name, segment)`` (called by the launcher ``/main.py`` that
``tools/fw_deploy.py`` writes) builds everything and runs these tasks until reset:

=========  =====================================================================================
sampling   ``app.step()`` every ``SAMPLE_BATCH`` sample periods (the IMU FIFO's watermark), then
           ``app.calibrate()`` (accelerometer calibration: rests, fits; ``ACC_CAL_PATH``)
ble        ``BlePeripheral.pump()``: connection changes, commands, notifications (back-pressure)
usb        ``SerialLink.poll()`` / ``pump()`` on the USB CDC port (once a host has sent a command)
status     a status frame every ``STATUS_PERIOD_MS`` on both links; battery level
led        the LED code of the board's state (``docs/firmware.md``, "LED codes")
button     short press: pairing mode; held ``LONG_PRESS_MS``: forget all bonds
=========  =====================================================================================

The main coroutine feeds ``machine.WDT`` only while every task has checked in within
``HEALTHY_MS``; a task that dies or hangs stops the feeding and the watchdog resets the board
(``WDT_TIMEOUT_MS``). IMU trouble never gets that far: the app reports it (status bit
IMU_ERROR, LED code) and keeps retrying; the shell and the radio keep running.

Holding the button while the board starts skips all of this (safe mode: the REPL stays free
for ``mpremote``). Log lines go to a small ring log file (``LOG_PATH``, rotated to
``LOG_OLD_PATH``; read with ``tools/fw_log.py``) and, unless the USB link is open, to the
console as ``NUL "#LOG " text LF NUL``.
"""

import asyncio
import os
import sys
import time

import machine
import wire

from coxa_fw import VERSION, profiles
from coxa_fw.acc_cal import AccCal
from coxa_fw.app import LINK_BLE, LINK_USB, App

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


LOG_PATH = "log.txt"
LOG_OLD_PATH = "log.1.txt"
LOG_MAX_BYTES = 16384
SECRETS_PATH = "ble_secrets.bin"
ACC_CAL_PATH = "acc_cal.bin"
RATE_HZ = 200
SAMPLE_BATCH = 4
WDT_TIMEOUT_MS = 8000
HEALTHY_MS = 3000
STATUS_PERIOD_MS = 1000
BATTERY_PERIOD_MS = 10000
LONG_PRESS_MS = 5000
_DEBOUNCE_MS = const(50)

# LED codes: (on_ms, off_ms, on_ms, off_ms, ...), repeated; first match wins.
LED_IDENTIFY = (50, 50)
LED_IMU_ERROR = (100, 100, 100, 100, 100, 700)
LED_PAIRING = (100, 100, 100, 700)
LED_STREAMING = (900, 100)
LED_CONNECTED = (1000, 0)
LED_ADVERTISING = (50, 1950)
# colours on boards with an RGB LED (neopixel), same order
LED_COLOURS = {
    LED_IDENTIFY: (255, 255, 255),
    LED_IMU_ERROR: (255, 0, 0),
    LED_PAIRING: (0, 0, 255),
    LED_STREAMING: (0, 255, 0),
    LED_CONNECTED: (0, 160, 160),
    LED_ADVERTISING: (0, 160, 160),
}

# LiPo open-circuit voltage (mV) to charge (%), piecewise linear
_BATTERY_CURVE = (
    (3300, 0),
    (3600, 8),
    (3700, 25),
    (3750, 40),
    (3800, 55),
    (3900, 72),
    (4000, 84),
    (4100, 94),
    (4200, 100),
)


def battery_percent(mv: int) -> int:
    """Charge estimate of a 1-cell LiPo from its voltage in mV."""
    curve = _BATTERY_CURVE
    if mv <= curve[0][0]:
        return 0
    for i in range(1, len(curve)):
        v1, p1 = curve[i]
        if mv <= v1:
            v0, p0 = curve[i - 1]
            return p0 + (p1 - p0) * (mv - v0) // (v1 - v0)
    return 100


def segment_number(segment) -> int:
    """A segment name (``"thigh_r"``), code (``"TR"``) or number to its ``wire.SEGMENT_*``."""
    if isinstance(segment, int):
        wire.segment_name(segment)  # range check
        return segment
    if len(segment) == 2:
        return wire.segment_from_code(segment)
    return wire.segment_from_name(segment)


def board_id_from_chip() -> int:
    """The low 16 bits of the chip's unique id (its MAC on the ESP32-S3)."""
    uid = machine.unique_id()
    return (uid[len(uid) - 2] << 8) | uid[len(uid) - 1]


class RingLog:
    """Append-only log in two rotating files, optionally echoed to the console.

    Never raises: a full or missing filesystem only loses log lines.
    """

    def __init__(
        self,
        path: str = LOG_PATH,
        old_path: str = LOG_OLD_PATH,
        max_bytes: int = LOG_MAX_BYTES,
        clock=time,
        echo=None,
    ) -> None:
        self.path = path
        self.old_path = old_path
        self.max_bytes = max_bytes
        self._clock = clock
        self._t0 = clock.ticks_ms()
        self.echo = echo  # callable(bytes) or None
        self.lines = 0
        self.errors = 0
        try:
            self._size = os.stat(path)[6]
        except OSError:
            self._size = 0

    def write(self, text: str) -> None:
        ms = self._clock.ticks_diff(self._clock.ticks_ms(), self._t0)
        line = "%d.%03d %s\n" % (ms // 1000, ms % 1000, text)
        self.lines += 1
        try:
            if self._size + len(line) > self.max_bytes:
                try:
                    os.remove(self.old_path)
                except OSError:
                    pass
                os.rename(self.path, self.old_path)
                self._size = 0
            with open(self.path, "a") as f:
                f.write(line)
            self._size += len(line)
        except OSError:
            self.errors += 1
        echo = self.echo
        if echo is not None:
            try:
                echo(b"\x00#LOG " + line.encode() + b"\x00")
            except (OSError, ValueError):
                self.errors += 1


class Led:
    """The status LED of a profile (plain GPIO or one neopixel); None-safe."""

    def __init__(self, spec) -> None:
        self._pin = None
        self._np = None
        self._active_high = True
        if not spec:
            return
        self._active_high = spec.get("active_high", True)
        if spec.get("kind") == "neopixel":
            import neopixel

            self._np = neopixel.NeoPixel(machine.Pin(spec["pin"], machine.Pin.OUT), 1)
        else:
            self._pin = machine.Pin(spec["pin"], machine.Pin.OUT)
        self.set(False)

    def set(self, on: bool, colour=(0, 160, 160)) -> None:
        if self._np is not None:
            self._np[0] = colour if on else (0, 0, 0)
            self._np.write()
        elif self._pin is not None:
            self._pin.value(1 if on == self._active_high else 0)


class Shell:
    """Everything ``run`` builds; tests build it with fakes and drive ``main()``."""

    def __init__(
        self,
        profile_name: str,
        segment,
        board_id=None,
        log_echo: bool = True,
        ble=None,
        usb_stream=None,
        secrets_path: str = SECRETS_PATH,
        log_path: str = LOG_PATH,
        log_old_path: str = LOG_OLD_PATH,
        rate_hz: int = RATE_HZ,
        clock=time,
        acc_cal_path: str = ACC_CAL_PATH,
    ) -> None:
        self.clock = clock
        self.profile = profiles.get_profile(profile_name)
        self.segment = segment_number(segment)
        self.board_id = board_id_from_chip() if board_id is None else board_id
        self.log = RingLog(log_path, log_old_path, clock=clock)
        self.log.write(
            "boot: coxa %d.%d.%d, profile %s, %s, board %04X"
            % (
                VERSION[0],
                VERSION[1],
                VERSION[2],
                profile_name,
                wire.segment_name(self.segment),
                self.board_id,
            )
        )
        self.led = Led(self.profile.get("led"))
        self.button = None
        self._button_active_low = True
        spec = self.profile.get("button")
        if spec:
            self._button_active_low = spec.get("active_low", True)
            self.button = machine.Pin(spec["pin"], machine.Pin.IN, machine.Pin.PULL_UP)
        self._adc = None
        self._divider = 1.0
        spec = self.profile.get("battery")
        if spec:
            self._adc = machine.ADC(machine.Pin(spec["adc_pin"]), atten=machine.ADC.ATTN_11DB)
            self._divider = spec.get("divider_ratio", 1.0)
        bus = self.profile["i2c"]
        self.i2c = machine.I2C(
            bus["bus"],
            scl=machine.Pin(bus["scl"]),
            sda=machine.Pin(bus["sda"]),
            freq=bus.get("freq", 400000),
        )
        imu = None
        try:
            imu = self._open_imu(rate_hz)
            self.log.write("imu: %s ok" % self.profile["imu"]["type"])
        except (OSError, ValueError) as e:
            self.log.write("imu: not available (%r); retrying in the background" % (e,))
        self.acc_cal = AccCal(acc_cal_path, log=self.log.write)
        self.acc_cal.load()
        self.app = App(
            imu,
            clock,
            self.board_id,
            self.segment,
            rate_hz=rate_hz,
            fw_version=VERSION,
            imu_factory=self._open_imu,
            axis_map=self.profile["imu"].get("board_from_sensor"),
            battery_mv=self.battery_mv if self._adc is not None else None,
            acc_cal=self.acc_cal,
        )
        if ble is None:
            import bluetooth

            ble = bluetooth.BLE()
        from coxa_fw.ble import BlePeripheral

        self.ble = BlePeripheral(
            ble,
            self.app,
            self.board_id,
            self.segment,
            fw_version=VERSION,
            secrets_path=secrets_path,
            time_module=clock,
            log=self.log.write,
            link=LINK_BLE,
        )
        from coxa_fw.usb import SerialLink

        if usb_stream is None:
            from coxa_fw.usb import StdioStream

            usb_stream = StdioStream()
        self.usb = SerialLink(usb_stream, self.app, LINK_USB)
        self._echo_out = None
        if log_echo:
            out = getattr(sys.stdout, "buffer", sys.stdout)
            self._echo_out = out.write
            self.log.echo = self._echo
        self.tasks = []
        self.beats = {}
        self.wdt = None
        self.running = False
        self.imu_was_ok = self.app.imu_ok

    # ------------------------------------------------------------------------- hardware
    def _open_imu(self, rate_hz):
        return profiles.open_imu(self.i2c, self.profile, rate_hz)

    def battery_mv(self) -> int:
        adc = self._adc
        if adc is None:
            return 0
        return int(adc.read_uv() * self._divider) // 1000

    def button_pressed(self) -> bool:
        if self.button is None:
            return False
        v = self.button.value()
        return v == 0 if self._button_active_low else v == 1

    def _echo(self, data) -> None:
        if not self.usb.opened and self._echo_out is not None:  # never inside COBS traffic
            self._echo_out(data)

    # ------------------------------------------------------------------------- tasks
    def beat(self, name: str) -> None:
        self.beats[name] = self.clock.ticks_ms()

    def healthy(self) -> bool:
        """True if every task is alive and checked in within ``HEALTHY_MS``."""
        now = self.clock.ticks_ms()
        for t in self.tasks:
            if t.done():
                return False
        for name in self.beats:
            if self.clock.ticks_diff(now, self.beats[name]) > HEALTHY_MS:
                return False
        return True

    async def _guard(self, name, body):
        self.beat(name)
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # log it; the watchdog then resets the board
            self.log.write("task %s died: %r" % (name, e))
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)  # pyright: ignore[reportAttributeAccessIssue]

    async def sampling(self):
        app = self.app
        while self.running:
            app.step()
            app.calibrate()
            ok = app.imu_ok
            if ok != self.imu_was_ok:
                self.imu_was_ok = ok
                self.log.write("imu: %s" % ("recovered" if ok else "error %r" % (app.last_error,)))
            self.beat("sampling")
            # Not a multiple of the sample period, so polls sweep across the sampling phase
            # and the sampler's timestamp estimator can observe it.
            period = 1000 * SAMPLE_BATCH // app.rate_hz + 3
            await asyncio.sleep_ms(period)

    async def radio(self):
        ble = self.ble
        while self.running:
            sent = ble.pump()
            self.beat("ble")
            await asyncio.sleep_ms(2 if sent else 10)

    async def serial(self):
        usb = self.usb
        while self.running:
            usb.poll()
            sent = usb.pump()
            self.beat("usb")
            await asyncio.sleep_ms(2 if sent else 10)

    async def status(self):
        next_battery = self.clock.ticks_ms()
        while self.running:
            self.ble.send_status()
            self.usb.send_status()
            now = self.clock.ticks_ms()
            if self._adc is not None and self.clock.ticks_diff(now, next_battery) >= 0:
                next_battery = self.clock.ticks_add(now, BATTERY_PERIOD_MS)
                self.ble.set_battery_percent(battery_percent(self.battery_mv()))
            self.beat("status")
            await asyncio.sleep_ms(STATUS_PERIOD_MS)

    def led_code(self):
        """The LED code (pattern tuple) of the board's state right now."""
        app = self.app
        if app.identifying():
            return LED_IDENTIFY
        if not app.imu_ok:
            return LED_IMU_ERROR
        if self.ble.pairing_mode:
            return LED_PAIRING
        if app.streaming():
            return LED_STREAMING
        if self.ble.connected or self.usb.opened:
            return LED_CONNECTED
        return LED_ADVERTISING

    async def blink(self):
        while self.running:
            code = self.led_code()
            colour = LED_COLOURS.get(code, (0, 160, 160))
            for i in range(len(code)):
                if code[i]:
                    self.led.set(i % 2 == 0, colour)
                    await asyncio.sleep_ms(code[i])
            self.beat("led")

    async def buttons(self):
        pressed_at = None
        long_done = False
        while self.running:
            now = self.clock.ticks_ms()
            if self.button_pressed():
                if pressed_at is None:
                    pressed_at = now
                    long_done = False
                elif not long_done and self.clock.ticks_diff(now, pressed_at) >= LONG_PRESS_MS:
                    long_done = True
                    self.log.write("button: long press, forgetting bonds")
                    self.ble.forget_bonds()
            elif pressed_at is not None:
                held = self.clock.ticks_diff(now, pressed_at)
                pressed_at = None
                if not long_done and held >= _DEBOUNCE_MS:
                    self.log.write("button: pairing mode")
                    self.ble.enter_pairing_mode()
            self.beat("button")
            await asyncio.sleep_ms(20)

    async def main(self, wdt_timeout_ms: int = WDT_TIMEOUT_MS, period_ms: int = 500):
        """Start the tasks and feed the watchdog while they are healthy (until stop())."""
        self.running = True
        self.tasks = [
            asyncio.create_task(self._guard("sampling", self.sampling)),
            asyncio.create_task(self._guard("ble", self.radio)),
            asyncio.create_task(self._guard("usb", self.serial)),
            asyncio.create_task(self._guard("status", self.status)),
            asyncio.create_task(self._guard("led", self.blink)),
            asyncio.create_task(self._guard("button", self.buttons)),
        ]
        self.wdt = machine.WDT(timeout=wdt_timeout_ms)
        reported = False
        while self.running:
            if self.healthy():
                self.wdt.feed()
                reported = False
            elif not reported:
                reported = True
                self.log.write("watchdog: a task is stuck or dead; not feeding")
            await asyncio.sleep_ms(period_ms)
        for t in self.tasks:
            t.cancel()
        await asyncio.sleep_ms(0)

    def stop(self) -> None:
        """End ``main()`` (tests; the board normally runs until reset)."""
        self.running = False


def run(profile_name: str, segment="pelvis", board_id=None, log_echo: bool = True) -> None:
    """Start the firmware for board profile ``profile_name`` worn on ``segment``.

    Holding the button while this starts skips everything (safe mode, REPL free).
    """
    profile = profiles.get_profile(profile_name)
    spec = profile.get("button")
    if spec:
        pin = machine.Pin(spec["pin"], machine.Pin.IN, machine.Pin.PULL_UP)
        if pin.value() == (0 if spec.get("active_low", True) else 1):
            print("coxa: button held at start: safe mode, firmware not started")
            return
    shell = Shell(profile_name, segment, board_id, log_echo)
    try:
        asyncio.run(shell.main())
    finally:
        asyncio.new_event_loop()
