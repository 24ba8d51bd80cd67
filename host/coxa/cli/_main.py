"""coxa: wearable IMU measurement of femoral rotation and hip internal rotation."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from coxa import __version__
from coxa.cli import _analyze as analyze
from coxa.cli import _assess as assess
from coxa.cli import _capture as capture
from coxa.cli import _demo as demo
from coxa.cli import _live as live
from coxa.cli import _record as record
from coxa.cli import _replay as replay
from coxa.cli import _rig as rig
from coxa.cli import _scan as scan
from coxa.cli._common import BleHandler, Handler
from coxa.cli._env import BleEnvironment


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level argument parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(prog="coxa", description=__doc__)
    parser.add_argument("--version", action="version", version=f"coxa {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (demo, analyze, assess, scan, rig, live, record, replay, capture):
        command.add_parser(subparsers.add_parser)
    return parser


def main(argv: Sequence[str] | None = None, *, ble: BleEnvironment | None = None) -> int:
    """Run the ``coxa`` command and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: the process's).
    ble : BleEnvironment, optional
        Where the BLE commands find the boards; default: this computer's Bluetooth stack.
    """
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ble_handler: BleHandler | None = vars(args).get("ble_handler")
    if ble_handler is not None:
        return ble_handler(args, ble or BleEnvironment())
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
