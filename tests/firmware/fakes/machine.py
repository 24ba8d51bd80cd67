"""Fake ``machine`` module for running firmware without hardware.

Dialect-neutral: the same file runs under MicroPython (put this folder on ``MICROPYPATH`` so
``import machine`` finds it, or assign ``sys.modules["machine"]``) and under CPython.

What it offers
--------------
- ``I2C(id, scl=None, sda=None, freq=400000)``: ``readfrom_mem_into``, ``readfrom_mem``,
  ``writeto_mem``, ``readfrom_into``, ``readfrom``, ``writeto``, ``scan``. Devices attach to a
  bus id (``attach(bus_id, address, device)`` or ``I2C.attach``), so an ``I2C`` object that the
  firmware creates itself sees the devices a test attached. An address with no device raises
  ``OSError(19)`` (ENODEV), like the ESP32 port on a NACK (with a second argument, so that
  ``errno`` is set on CPython too). ``inject_fault(bus_id, count, errno)``
  makes the next ``count`` transfers fail with ``OSError(errno)``.
  A device is any object with ``i2c_read_into(register, buf)`` and ``i2c_write(register, data)``
  (see ``imu_models.py``). The register read path allocates nothing.
- ``Pin`` (``value``, ``on``, ``off``, ``toggle``, ``irq`` storing the handler; ``set_level(pin,
  value)`` drives an input from a test), ``ADC`` (``read_u16``, ``read_uv``, ``atten``;
  ``set_adc_uv(pin, uv)``), ``WDT(timeout=...)`` with ``feed()`` counting in ``feeds``,
  ``Timer`` (stores the callback), ``reset()`` (raises ``MachineReset``), ``soft_reset()``,
  ``reset_cause()``, ``unique_id()``, ``freq()``, ``idle()``, ``lightsleep``/``deepsleep``
  (recorded), ``disable_irq``/``enable_irq``.

``reset_all()`` forgets every bus, pin level, ADC voltage, watchdog and call record.
"""

ENODEV = 19
ETIMEDOUT = 110

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

UNIQUE_ID = b"\x24\x6f\x28\xc0\xff\xee"

_buses = {}  # bus id -> _Bus
_levels = {}  # pin id -> level driven by a test
_adc_uv = {}  # pin id -> microvolts
_pins = {}  # pin id -> the last Pin object made for it
calls = {"reset": 0, "soft_reset": 0, "lightsleep": [], "deepsleep": []}
watchdogs = []
_state = {"cause": PWRON_RESET, "freq": 240000000}


class MachineReset(BaseException):
    """Raised by ``reset()`` so that code after it does not run in a test."""


class _Bus:
    def __init__(self):
        self.devices = {}
        self.faults = 0
        self.fault_errno = ETIMEDOUT
        self.transfers = 0


def _bus(bus_id):
    bus = _buses.get(bus_id)
    if bus is None:
        bus = _Bus()
        _buses[bus_id] = bus
    return bus


def attach(bus_id, address, device):
    """Put ``device`` on bus ``bus_id`` at 7-bit ``address``; returns the device."""
    _bus(bus_id).devices[address] = device
    return device


def detach(bus_id, address):
    _bus(bus_id).devices.pop(address, None)


def inject_fault(bus_id, count=1, errno=ETIMEDOUT):
    """Make the next ``count`` transfers on ``bus_id`` raise ``OSError(errno)``."""
    bus = _bus(bus_id)
    bus.faults = count
    bus.fault_errno = errno


def set_level(pin_id, value):
    """Drive input ``pin_id`` to ``value`` (0/1); fires an attached IRQ handler on an edge."""
    old = _levels.get(pin_id, 0)
    _levels[pin_id] = 1 if value else 0
    pin = _pins.get(pin_id)
    if pin is not None and pin._handler is not None and old != _levels[pin_id]:
        rising = _levels[pin_id] == 1
        if (rising and pin._trigger & Pin.IRQ_RISING) or (
            not rising and pin._trigger & Pin.IRQ_FALLING
        ):
            pin._handler(pin)


def set_adc_uv(pin_id, microvolts):
    _adc_uv[pin_id] = microvolts


def reset_all():
    _buses.clear()
    _levels.clear()
    _adc_uv.clear()
    _pins.clear()
    watchdogs.clear()
    calls["reset"] = 0
    calls["soft_reset"] = 0
    calls["lightsleep"] = []
    calls["deepsleep"] = []
    _state["cause"] = PWRON_RESET


class I2C:
    """Register-level I2C master over the devices attached to bus ``id``."""

    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        self.id = id
        self.scl = scl
        self.sda = sda
        self.freq = freq
        self.timeout = timeout
        self._bus = _bus(id)
        self._pointer = {}

    def attach(self, address, device):
        self._bus.devices[address] = device
        return device

    @property
    def transfers(self):
        return self._bus.transfers

    def _device(self, addr):
        bus = self._bus
        bus.transfers += 1
        if bus.faults:
            bus.faults -= 1
            raise OSError(bus.fault_errno, "I2C bus error (injected)")
        device = bus.devices.get(addr)
        if device is None:
            raise OSError(ENODEV, "ENODEV")
        return device

    def scan(self):
        return sorted(self._bus.devices)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).i2c_read_into(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self._device(addr).i2c_read_into(memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).i2c_write(memaddr, buf)

    def writeto(self, addr, buf, stop=True):
        """First byte: register address (kept for a following ``readfrom``), rest: data."""
        device = self._device(addr)
        if len(buf):
            self._pointer[addr] = buf[0]
            if len(buf) > 1:
                device.i2c_write(buf[0], buf[1:])
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        self._device(addr).i2c_read_into(self._pointer.get(addr, 0), buf)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf)
        return bytes(buf)

    def deinit(self):
        pass


SoftI2C = I2C


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._handler = None
        self._trigger = 0
        _pins[id] = self
        if value is not None:
            _levels[id] = 1 if value else 0
        elif id not in _levels:
            _levels[id] = 1 if pull == Pin.PULL_UP else 0

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            _levels[self.id] = 1 if value else 0

    def value(self, x=None):
        if x is None:
            return _levels.get(self.id, 0)
        _levels[self.id] = 1 if x else 0
        return None

    def __call__(self, x=None):
        return self.value(x)

    def on(self):
        _levels[self.id] = 1

    def off(self):
        _levels[self.id] = 0

    def toggle(self):
        _levels[self.id] = 0 if _levels.get(self.id, 0) else 1

    def irq(self, handler=None, trigger=3, *, wake=None, hard=False):
        self._handler = handler
        self._trigger = trigger
        return self


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 12
    _FULL_SCALE_UV = (950000, 1250000, 1750000, 3100000)

    def __init__(self, pin, *, atten=3):
        self.pin = pin
        self._pin_id = pin.id if isinstance(pin, Pin) else pin
        self._atten = atten

    def atten(self, atten):
        self._atten = atten

    def width(self, bits):
        pass

    def read_uv(self):
        return _adc_uv.get(self._pin_id, 0)

    def read_u16(self):
        full = ADC._FULL_SCALE_UV[self._atten]
        value = self.read_uv() * 65535 // full
        return 65535 if value > 65535 else value

    def read(self):
        return self.read_u16() >> 4


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.id = id
        self.timeout = timeout
        self.feeds = 0
        watchdogs.append(self)

    def feed(self):
        self.feeds += 1


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kwargs):
        self.id = id
        self.callback = None
        self.period = None
        self.mode = None
        if kwargs:
            self.init(**kwargs)

    def init(self, *, mode=1, period=-1, freq=-1, callback=None):
        self.mode = mode
        self.period = period
        self.callback = callback

    def deinit(self):
        self.callback = None


def reset():
    calls["reset"] += 1
    raise MachineReset()


def soft_reset():
    calls["soft_reset"] += 1
    raise MachineReset()


def reset_cause():
    return _state["cause"]


def set_reset_cause(cause):
    _state["cause"] = cause


def unique_id():
    return UNIQUE_ID


def freq(hz=None):
    if hz is None:
        return _state["freq"]
    _state["freq"] = hz
    return None


def idle():
    pass


def lightsleep(ms=None):
    calls["lightsleep"].append(ms)


def deepsleep(ms=None):
    calls["deepsleep"].append(ms)
    raise MachineReset()


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
