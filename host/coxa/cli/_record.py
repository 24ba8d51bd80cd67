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

from coxa.analysis import exercise_id
from coxa.cli._common import (
    CLI_EXERCISE_IDS,
    CommandError,
    add_findings_options,
    add_project_option,
    add_session_options,
    add_sim_options,
    finding_rules,
    open_catalog,
    project_dir,
    session_source,
)
from coxa.cli._env import BleEnvironment
from coxa.cli._session import run_session
from coxa.sim import EXERCISES as SIM_EXERCISES
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
            "readout with each rep and its findings (against the athlete's stored clinical "
            "tests), and register the capture in the project catalog."
        ),
        epilog="exit status: 0 recorded, 1 session failed, 2 bad arguments",
    )
    parser.add_argument(
        "--athlete",
        required=True,
        metavar="ID",
        help="athlete code; their stored clinical tests (coxa assess) give the hip IR capacity "
        "the findings compare each rep with",
    )
    parser.add_argument(
        "--exercise",
        required=True,
        metavar="NAME",
        help=f"exercise: reps are counted for {', '.join(CLI_EXERCISE_IDS)}; any other name "
        "(a clinical test, a free name) is recorded without rep counting",
    )
    add_findings_options(parser, athlete=False)
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


def _exercise_name(text: str) -> str:
    """The exercise as stored: the analysis id of a known exercise (``split-squat`` ->
    ``split_squat``), a clinical test in the simulator's spelling (``prone-ir`` ->
    ``prone_ir``), any other name as given."""
    try:
        return exercise_id(text)
    except ValueError:
        underscored = text.replace("-", "_")
        return underscored if underscored in SIM_EXERCISES else text


def run(args: argparse.Namespace, ble: BleEnvironment) -> int:
    """Record a session (a BLE rig in the ``ble`` environment); returns the exit status."""
    try:
        with open_catalog(args) as catalog:
            exercise = _exercise_name(args.exercise)
            source, rig = session_source(args, catalog, exercise, ble)
            rules, notes = finding_rules(args.demand, catalog, args.athlete)
            folder: Path = args.out if args.out is not None else project_dir(args) / "captures"
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise CommandError(f"cannot create {folder}: {err}", 1) from err
            capture = folder / capture_name(args.athlete, exercise, time.time())
            metadata: dict[str, object] = {
                "athlete": args.athlete,
                "exercise": exercise,
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
                rules=rules,
                notes=notes,
            )
            return status
    except CatalogError as err:
        print(f"coxa record: {err}", file=sys.stderr)
        return 2
    except CommandError as err:
        print(f"coxa record: {err}", file=sys.stderr)
        return err.status
