"""``coxa scan``: boards advertising nearby (or the simulated ones with ``--sim``).

Exit status: 0 done (even if no board was found); 1 BLE not usable; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from coxa import wire
from coxa.body import SEGMENT_OF_PLACEMENT
from coxa.cli import _ble_adapter
from coxa.cli._common import CommandError, add_sim_options, default_sim_boards
from coxa.cli._env import BleEnvironment
from coxa.sources import UNASSIGNED_SEGMENT, FoundBoard


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``scan`` sub-command."""
    parser = add(
        "scan",
        help="list the boards advertising nearby",
        description="Scan for coxa boards (BLE advertising, protocol v1) and list them.",
        epilog="exit status: 0 done, 1 BLE not usable, 2 bad arguments",
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="scan time, s (default 5)"
    )
    add_sim_options(parser, session=False)
    parser.set_defaults(ble_handler=run)


def found_boards(args: argparse.Namespace, ble: BleEnvironment) -> list[FoundBoard]:
    """The boards a scan finds (the simulated rig's with ``--sim``): strongest signal first,
    then by board id."""
    if args.sim:
        placements = {segment: placement for placement, segment in SEGMENT_OF_PLACEMENT.items()}
        return [
            FoundBoard(
                address=f"sim:{board_id:04X}",
                board_id=board_id,
                segment_hint=placements.get(segment, UNASSIGNED_SEGMENT),
                rssi_dbm=math.nan,
                name="",
            )
            for board_id, segment in default_sim_boards(args).items()
        ]
    if not args.timeout > 0:
        raise CommandError("--timeout must be positive")
    return ble.run(_ble_adapter.scan(ble, args.timeout))


def board_label(board: FoundBoard) -> str:
    """The board's advertised name (``cxTR1A2B``), or its id and placement."""
    if board.segment_hint in wire.SEGMENT_NAMES:
        return wire.board_name(board.board_id, wire.segment_from_name(board.segment_hint))
    return f"board {board.board_id:04X}"


def run(args: argparse.Namespace, ble: BleEnvironment) -> int:
    """Scan (in the ``ble`` environment) and print; returns the exit status."""
    try:
        boards = found_boards(args, ble)
    except CommandError as err:
        print(f"coxa scan: {err}", file=sys.stderr)
        return err.status
    print(f"{len(boards)} boards" + (" (simulated)" if args.sim else ""))
    for board in boards:
        rssi = "" if math.isnan(board.rssi_dbm) else f"{board.rssi_dbm:.0f} dBm"
        print(
            f"  {board_label(board):<10} id {board.board_id:5d}  {board.segment_hint:<10} "
            f"{board.address:<20} {rssi}"
        )
    return 0
