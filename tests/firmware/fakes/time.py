"""Fake ``time`` module with a settable virtual clock, for firmware tests.

Dialect-neutral: the same file runs on CPython (import it as
``tests.firmware.fakes.time``) and on the MicroPython unix port (put
``tests/firmware/fakes`` on ``MICROPYPATH``; a ``time.py`` there shadows the built-in
``time``, or assign ``sys.modules["time"]`` yourself before importing firmware).

The virtual clock is an unbounded count of microseconds (:func:`now_us`) that only moves when
a test moves it (:func:`set_us`, :func:`advance_us`, :func:`advance_ms`) or when firmware
sleeps (``sleep``, ``sleep_ms``, ``sleep_us`` advance it instead of waiting). The ``ticks_*``
functions behave like MicroPython's: ``ticks_us``/``ticks_ms``/``ticks_cpu`` return the clock
modulo ``TICKS_PERIOD`` (2**30), ``ticks_diff`` gives the signed distance in
[-2**29, 2**29), ``ticks_add`` adds modulo the period (and rejects a delta of half the period
or more, as MicroPython does).

Listeners: ``listeners.append(fn)`` registers ``fn(now_us)``, called after every move of the
clock (e.g. a fake IMU that produces the samples due by then). ``reset()`` restores the
defaults (clock 0, no listeners, no auto-advance).

``auto_advance_us``: if non-zero, every ``ticks_us``/``ticks_ms``/``ticks_cpu`` call first
advances the clock by that much (a crude model of code taking time).
"""

TICKS_PERIOD = 1 << 30
"""Period of MicroPython's ticks counters (they wrap at 2**30)."""

_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2

_now_us = 0
_epoch_s = 946684800  # time() at virtual 0: 2000-01-01 (MicroPython's epoch), in Unix seconds
auto_advance_us = 0
listeners = []


def _notify():
    for fn in listeners:
        fn(_now_us)


def reset(start_us=0):
    """Set the clock to ``start_us``, drop all listeners and switch auto-advance off."""
    global _now_us, auto_advance_us
    if start_us < 0:
        raise ValueError("start_us must be >= 0")
    _now_us = start_us
    auto_advance_us = 0
    listeners.clear()


def now_us():
    """The unwrapped virtual clock in microseconds (never wraps)."""
    return _now_us


def set_us(t_us):
    """Move the clock to ``t_us`` (must not go backwards)."""
    global _now_us
    if t_us < _now_us:
        raise ValueError(f"the virtual clock cannot go backwards ({t_us} < {_now_us})")
    _now_us = t_us
    _notify()


def advance_us(delta_us):
    """Move the clock forward by ``delta_us`` (>= 0)."""
    if delta_us < 0:
        raise ValueError("delta_us must be >= 0")
    set_us(_now_us + delta_us)


def advance_ms(delta_ms):
    """Move the clock forward by ``delta_ms`` milliseconds."""
    advance_us(delta_ms * 1000)


def _auto():
    if auto_advance_us:
        advance_us(auto_advance_us)


def ticks_us():
    _auto()
    return _now_us & _TICKS_MAX


def ticks_ms():
    _auto()
    return (_now_us // 1000) & _TICKS_MAX


def ticks_cpu():
    _auto()
    return _now_us & _TICKS_MAX


def ticks_diff(ticks1, ticks2):
    """Signed ``ticks1 - ticks2`` modulo 2**30, in [-2**29, 2**29)."""
    return ((ticks1 - ticks2 + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def ticks_add(ticks, delta):
    """``ticks + delta`` modulo 2**30; ``|delta|`` must be below 2**29."""
    if delta >= _TICKS_HALF or delta < -_TICKS_HALF:
        raise OverflowError("ticks interval overflow")
    return (ticks + delta) & _TICKS_MAX


def sleep_us(us):
    if us > 0:
        advance_us(us)


def sleep_ms(ms):
    if ms > 0:
        advance_us(ms * 1000)


def sleep(seconds):
    if seconds > 0:
        advance_us(int(seconds * 1000000))


def time():
    """Seconds since the Unix epoch (virtual; starts at 2000-01-01)."""
    return _epoch_s + _now_us // 1000000


def time_ns():
    return _epoch_s * 1000000000 + _now_us * 1000
