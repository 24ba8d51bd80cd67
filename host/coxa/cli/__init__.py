"""The ``coxa`` command line."""

from coxa.cli._main import main

__all__ = ["main"]
