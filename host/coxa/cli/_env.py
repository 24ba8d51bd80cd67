"""The BLE environment the CLI's commands run in: which bleak backend, link settings, and the
event loop that BLE operations run on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from coxa.sources import BleBackend, BleParams

_T = TypeVar("_T")


class EventLoopRunner(Protocol):
    """Something that runs a coroutine to completion and returns its result
    (``asyncio.Runner`` is one)."""

    def run(self, coro: Coroutine[Any, Any, _T], /) -> _T:
        """Run ``coro`` to completion; return its result or raise its exception."""
        ...


class NewLoopEach:
    """Runs every coroutine in an event loop of its own (``asyncio.run``)."""

    def run(self, coro: Coroutine[Any, Any, _T], /) -> _T:
        """Run ``coro`` in a new event loop, closed afterwards."""
        return asyncio.run(coro)


@dataclass(frozen=True)
class BleEnvironment:
    """Where the CLI's BLE commands (``coxa scan``, ``coxa rig create``, and ``coxa live`` /
    ``coxa record`` of a BLE rig) find the boards.

    The default is this computer's Bluetooth stack through bleak's platform backend, each
    command's BLE work in a fresh event loop. Another environment is passed to
    :func:`coxa.cli.main` (``main(argv, ble=...)``), e.g. the virtual radio of
    :mod:`coxa.sources.virtual`, whose boards live in one event loop::

        with asyncio.Runner() as runner:
            radio = runner.run(make_radio())  # a started VirtualRadio
            env = BleEnvironment(backend=radio.backend, loop=runner)
            main(["scan"], ble=env)

    Attributes
    ----------
    backend : coxa.sources.BleBackend
        bleak backend classes. Default: bleak's platform backends (BlueZ, CoreBluetooth,
        WinRT).
    params : coxa.sources.BleParams
        Link settings (timeouts, back-off, backfill). Default: ``BleParams()``.
    connect_wait_s : float
        Longest wait, at the start of a session, for every board of the rig to connect and
        stream, s; a board that has not by then ends the session with an error naming it.
        Default 30 [assumption: a few connection attempts of at most
        ``BleParams.connect_timeout_s`` (10 s) each, with back-off, one board at a time].
    loop : EventLoopRunner or None
        Where BLE coroutines run. None (default): each in a new event loop
        (:class:`NewLoopEach`). A BLE stack bound to one event loop (the virtual radio) needs
        its ``asyncio.Runner`` here, so that every operation of every command runs on it.
    """

    backend: BleBackend = field(default_factory=BleBackend)
    params: BleParams = field(default_factory=BleParams)
    connect_wait_s: float = 30.0
    loop: EventLoopRunner | None = None

    def __post_init__(self) -> None:
        if not self.connect_wait_s > 0.0:
            raise ValueError(f"connect_wait_s must be positive, got {self.connect_wait_s}")

    def run(self, coro: Coroutine[Any, Any, _T], /) -> _T:
        """Run one BLE coroutine of a command to completion (on :attr:`loop`)."""
        return (self.loop or NewLoopEach()).run(coro)
