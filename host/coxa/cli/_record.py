"""``coxa record``: live readout plus a raw capture of every frame, registered in the catalog.

Exit status: 0 recorded; 1 the session failed (capture not writable, a link layer missing);
2 bad arguments (unknown rig, no rig and no ``--sim``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from coxa.cli._common import (
    CommandError,
    add_project_option,
    add_session_options,
    add_sim_options,
    open_catalog,
    project_dir,
    session_source,
)
from coxa.cli._env import BleEnvironment
from coxa.cli._session import run_session
from coxa.store import CatalogError

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``record`` sub-command."""
    parser = add(
        "record",
        help="record a session: live readout plus a raw capture of every frame",
        description=(
            "Stream a rig's boards (or simulated ones with --sim), write every notification or "
            "serial chunk to a new raw capture before anything else touches it, show the live "
            "readout, and register the capture in the project catalog."
        ),
        epilog="exit status: 0 recorded, 1 session failed, 2 bad arguments",
    )
    parser.add_argument("--athlete", required=True, metavar="ID", help="athlete code")
    parser.add_argument(
        "--exercise", required=True, help="exercise or test name (e.g. squat, ffe_split_squat)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the capture (default: <project>/captures)",
    )
    add_session_options(parser)
    add_project_option(parser)
    add_sim_options(parser, session=True)
    parser.set_defaults(ble_handler=run)


def capture_name(athlete: str, exercise: str, wall_s: float) -> str:
    """File name of a new capture: athlete, exercise and local start time."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(wall_s))
    return f"{_SAFE.sub('_', athlete)}_{_SAFE.sub('_', exercise)}_{stamp}.coxa"


def run(args: argparse.Namespace, ble: BleEnvironment) -> int:
    """Record a session (a BLE rig in the ``ble`` environment); returns the exit status."""
    try:
        with open_catalog(args) as catalog:
            source, rig = session_source(args, catalog, args.exercise, ble)
            folder: Path = args.out if args.out is not None else project_dir(args) / "captures"
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise CommandError(f"cannot create {folder}: {err}", 1) from err
            capture = folder / capture_name(args.athlete, args.exercise, time.time())
            metadata: dict[str, object] = {
                "athlete": args.athlete,
                "exercise": args.exercise,
                "link_kind": "ble" if args.sim or rig is None or rig.link == "ble" else rig.link,
            }
            if args.sim:
                metadata |= {"source": "simulation", "seed": args.seed}
            if rig is not None:
                metadata["rig_name"] = rig.name
            status, _ = run_session(
                source,
                capture,
                metadata=metadata,
                duration_s=args.duration,
                live=not args.no_live,
                angles=args.angles,
                catalog=catalog,
                rig_name=rig.name if rig is not None else None,
                loop=ble,
            )
            return status
    except CatalogError as err:
        print(f"coxa record: {err}", file=sys.stderr)
        return 2
    except CommandError as err:
        print(f"coxa record: {err}", file=sys.stderr)
        return err.status
