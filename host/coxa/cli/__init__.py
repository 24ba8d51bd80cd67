"""The ``coxa`` command line."""

from coxa.cli._env import BleEnvironment, EventLoopRunner, NewLoopEach
from coxa.cli._main import main

__all__ = ["BleEnvironment", "EventLoopRunner", "NewLoopEach", "main"]
