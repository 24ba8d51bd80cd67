"""``coxa rig create|list|show|delete``: named sets of boards with their body segments.

``create`` takes its boards from a BLE scan (pick boards, blink each to tell which is which,
give its segment, pair it), from serial ports (``--serial PORT=SEGMENT``, the board id is
read from each port), or from the simulation (``--sim``). Exit status: 0 done; 1 a link or
pairing failed; 2 bad arguments (unknown rig, bad segment, name taken).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence

from coxa.body import SEGMENT_OF_PLACEMENT, SEGMENTS
from coxa.cli import _ble_adapter
from coxa.cli._common import (
    CommandError,
    add_project_option,
    add_sim_options,
    default_sim_boards,
    describe_segment,
    open_catalog,
)
from coxa.cli._env import BleEnvironment
from coxa.cli._scan import board_label, found_boards
from coxa.sources import UNASSIGNED_SEGMENT, FoundBoard, SerialPort, SerialSource
from coxa.store import Catalog, CatalogError, LinkName, RigBoard

_IDENTIFY_S = 10
"""How long a board blinks when the user is asked which one it is, s [assumption]."""
_SERIAL_IDENTIFY_S = 5.0
"""How long to wait for every serial port to name its board, s [assumption]."""


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``rig`` command group."""
    parser = add("rig", help="create, list, show and delete rigs", description=__doc__)
    commands = parser.add_subparsers(dest="rig_command", required=True, metavar="COMMAND")
    create = commands.add_parser(
        "create",
        help="create a rig from a scan, serial ports or simulated boards",
        description=(
            "Create a rig. BLE (default): scan, pick the boards, watch each one blink and give "
            "its segment, pair it. --serial PORT=SEGMENT (repeat): boards on USB serial ports. "
            f"--sim: simulated boards. Segments: {', '.join(SEGMENTS)}, or "
            f"'{UNASSIGNED_SEGMENT}' (recorded, not fused)."
        ),
    )
    create.add_argument("name", help="rig name")
    create.add_argument(
        "--assign",
        default=None,
        metavar="ID=SEGMENT,...",
        help="segments by board id (otherwise asked, or the advertised placement)",
    )
    create.add_argument(
        "--serial",
        action="append",
        default=None,
        metavar="PORT=SEGMENT",
        help="a board on a serial port (repeat for each board)",
    )
    create.add_argument(
        "--yes", action="store_true", help="no questions: every board found, advertised segments"
    )
    create.add_argument("--note", default="", help="free text stored with the rig")
    create.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="BLE scan time, s (default 5)"
    )
    add_project_option(create)
    add_sim_options(create, session=False)
    create.set_defaults(ble_handler=run_create)
    for name, handler, text in (
        ("list", run_list, "list the rigs"),
        ("show", run_show, "show a rig's boards"),
        ("delete", run_delete, "delete a rig (its captures stay)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        if name != "list":
            sub.add_argument("name", help="rig name")
        add_project_option(sub)
        sub.set_defaults(handler=handler)


def _segment(text: str) -> str:
    name = text.strip()
    if name in SEGMENTS or name == UNASSIGNED_SEGMENT:
        return name
    for placement, segment in SEGMENT_OF_PLACEMENT.items():
        if placement == name:
            return segment
    raise CommandError(
        f"unknown segment {text!r} (one of {', '.join(SEGMENTS)}, {UNASSIGNED_SEGMENT})"
    )


def _assignments(text: str | None) -> dict[int, str]:
    out: dict[int, str] = {}
    if not text:
        return out
    for item in text.split(","):
        board, sep, segment = item.partition("=")
        if not sep or not board.strip().isdigit():
            raise CommandError(f"--assign: {item!r} is not BOARD_ID=SEGMENT")
        out[int(board)] = _segment(segment)
    return out


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        raise CommandError("no answer (standard input closed); use --yes or --assign") from None


def _store(
    catalog: Catalog, name: str, link: LinkName, boards: Sequence[RigBoard], note: str
) -> int:
    rig = catalog.create_rig(name, link, boards, note)
    print(f"rig {rig.name!r} created ({rig.link}, {len(rig.boards)} boards)")
    for board in rig.boards:
        print(f"  {board.board_id:5d}  {describe_segment(board.segment)}")
    return 0


def _create_sim(args: argparse.Namespace, catalog: Catalog) -> int:
    rig = default_sim_boards(args)
    given = _assignments(args.assign)
    unknown = sorted(set(given) - set(rig))
    if unknown:
        raise CommandError(f"--assign names boards not in the simulated rig: {unknown}")
    boards = [
        RigBoard(board_id, given.get(board_id, segment), address=f"sim:{board_id:04X}")
        for board_id, segment in rig.items()
    ]
    return _store(catalog, args.name, "sim", boards, args.note)


async def _serial_ids(ports: Sequence[str]) -> dict[str, int]:
    """Board id on each port, from its status frame."""
    source = SerialSource([SerialPort(p) for p in ports])
    found: dict[str, int] = {}
    deadline = time.monotonic() + _SERIAL_IDENTIFY_S
    async with source:
        stopping = False
        async for _ in source:
            found = {
                link.spec.port: link.board_id
                for link in source._links  # pyright: ignore[reportPrivateUsage]
                if link.board_id is not None
            }
            if not stopping and (len(found) == len(ports) or time.monotonic() > deadline):
                stopping = True
                source.request_stop()
    return found


def _create_serial(args: argparse.Namespace, catalog: Catalog) -> int:
    wanted: dict[str, str] = {}
    for item in args.serial:
        port, _, segment = item.partition("=")
        wanted[port] = _segment(segment) if segment else UNASSIGNED_SEGMENT
    ids = asyncio.run(_serial_ids(list(wanted)))
    missing = [p for p in wanted if p not in ids]
    if missing:
        raise CommandError(f"no board answered on {', '.join(missing)}", 1)
    boards = [RigBoard(ids[p], s, port=p) for p, s in wanted.items()]
    return _store(catalog, args.name, "serial", boards, args.note)


def _chosen(answer: str, found: Sequence[FoundBoard]) -> list[FoundBoard]:
    """The boards an answer picks from the numbered list (``2,3`` or ``all``)."""
    if answer.strip().lower() == "all":
        return list(found)
    chosen: list[FoundBoard] = []
    for item in answer.split(","):
        text = item.strip()
        if not text:
            continue
        if not text.isdigit() or not 1 <= int(text) <= len(found):
            raise CommandError(f"not a choice of boards: {answer.strip()!r} (1-{len(found)})")
        board = found[int(text) - 1]
        if board not in chosen:
            chosen.append(board)
    if not chosen:
        raise CommandError("no board chosen")
    return chosen


def _create_ble(args: argparse.Namespace, catalog: Catalog, ble: BleEnvironment) -> int:
    if any(rig.name == args.name.strip() for rig in catalog.rigs()):
        raise CommandError(f"a rig named {args.name.strip()!r} exists already")
    found = found_boards(args, ble)
    if not found:
        raise CommandError("no board found: are they on and in range?", 1)
    for i, board in enumerate(found, start=1):
        print(f"  [{i}] {board_label(board)}  {board.address}")
    if args.yes:
        chosen = found
    else:
        chosen = _chosen(_ask("boards to use (numbers separated by commas, or 'all'): "), found)
    given = _assignments(args.assign)
    unknown = sorted(set(given) - {b.board_id for b in chosen})
    if unknown:
        raise CommandError(f"--assign names boards that are not chosen: {unknown}")
    boards: list[RigBoard] = []
    for board in chosen:
        advertised = _segment(board.segment_hint) if board.segment_hint else UNASSIGNED_SEGMENT
        segment = given.get(board.board_id, advertised)
        if not args.yes and board.board_id not in given:
            if not ble.run(_ble_adapter.identify(ble, board.address, _IDENTIFY_S)):
                print(f"board {board.board_id} did not acknowledge IDENTIFY")
            reply = _ask(f"board {board.board_id} is blinking: segment [{advertised}]: ").strip()
            segment = _segment(reply) if reply else advertised
        taken = [b.board_id for b in boards if b.segment == segment != UNASSIGNED_SEGMENT]
        if taken:
            raise CommandError(
                f"board {board.board_id}: segment {segment} is taken by board {taken[0]}"
            )
        bond = ble.run(_ble_adapter.pair(ble, board))
        catalog.add_bond(bond)
        print(f"  paired with board {board.board_id} ({board.address})")
        boards.append(RigBoard(board.board_id, segment, address=board.address))
    return _store(catalog, args.name, "ble", boards, args.note)


def run_create(args: argparse.Namespace, ble: BleEnvironment) -> int:
    """Create a rig (a BLE one in the ``ble`` environment); returns the exit status."""
    try:
        with open_catalog(args) as catalog:
            if args.sim:
                return _create_sim(args, catalog)
            if args.serial:
                return _create_serial(args, catalog)
            return _create_ble(args, catalog, ble)
    except CatalogError as err:
        print(f"coxa rig create: {err}", file=sys.stderr)
        return 2
    except CommandError as err:
        print(f"coxa rig create: {err}", file=sys.stderr)
        return err.status


def run_list(args: argparse.Namespace) -> int:
    """List the rigs."""
    try:
        with open_catalog(args) as catalog:
            rigs = catalog.rigs()
    except CatalogError as err:
        print(f"coxa rig list: {err}", file=sys.stderr)
        return 2
    if not rigs:
        print("no rigs (create one with 'coxa rig create NAME')")
    for rig in rigs:
        segments = ", ".join(describe_segment(b.segment) for b in rig.boards)
        print(f"{rig.name}  ({rig.link}, {len(rig.boards)} boards: {segments})")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Show one rig."""
    try:
        with open_catalog(args) as catalog:
            rig = catalog.rig(args.name)
            bonded = {b.board_id for b in catalog.bonds()}
    except CatalogError as err:
        print(f"coxa rig show: {err}", file=sys.stderr)
        return 2
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(rig.created_ns / 1e9))
    print(f"rig {rig.name}: {rig.link}, created {created}" + (f", {rig.note}" if rig.note else ""))
    for board in rig.boards:
        where = board.port or board.address or ""
        bond = "bonded" if board.board_id in bonded else ""
        print(f"  {board.board_id:5d}  {describe_segment(board.segment):<17}  {where}  {bond}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Delete one rig."""
    try:
        with open_catalog(args) as catalog:
            catalog.delete_rig(args.name)
    except CatalogError as err:
        print(f"coxa rig delete: {err}", file=sys.stderr)
        return 2
    print(f"rig {args.name!r} deleted")
    return 0
