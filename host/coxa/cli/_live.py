"""``coxa live``: the terminal readout of a rig (or simulated boards), without a capture.

Exit status: 0 done; 1 the session failed; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from coxa.cli._common import (
    CLI_EXERCISE_IDS,
    CommandError,
    add_findings_options,
    add_project_option,
    add_session_options,
    add_sim_options,
    exercise_arg,
    finding_rules,
    open_catalog,
    session_source,
)
from coxa.cli._env import BleEnvironment
from coxa.cli._session import run_session
from coxa.store import CatalogError


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``live`` sub-command."""
    parser = add(
        "live",
        help="live terminal readout of a rig (nothing is recorded)",
        description=(
            "Stream a rig's boards (or simulated ones with --sim) through the fusion core and "
            "show each leg's rotation and knee flexion, each rep with its findings, and board "
            "health. Nothing is recorded: use 'coxa record' to keep the data."
        ),
        epilog="exit status: 0 done, 1 session failed, 2 bad arguments",
    )
    parser.add_argument(
        "--exercise",
        type=exercise_arg,
        default=None,
        metavar="ID",
        help=f"exercise whose reps are counted ({', '.join(CLI_EXERCISE_IDS)}; default: the "
        "simulated exercise with --sim when it is one of them, else squat)",
    )
    add_findings_options(parser, athlete=True)
    add_session_options(parser)
    add_project_option(parser)
    add_sim_options(parser, session=True)
    parser.set_defaults(ble_handler=run)


def run(args: argparse.Namespace, ble: BleEnvironment) -> int:
    """Run the live readout (a BLE rig in the ``ble`` environment); returns the exit status."""
    try:
        with open_catalog(args) as catalog:
            source, _ = session_source(args, catalog, args.exercise, ble)
            rules, notes = finding_rules(args.demand, catalog, args.athlete)
            exercise: str | None = args.exercise
            if exercise is None and args.sim:
                exercise = args.sim_exercise
            status, _ = run_session(
                source,
                None,
                metadata={"exercise": exercise} if exercise is not None else {},
                rules=rules,
                notes=notes,
                duration_s=args.duration,
                live=not args.no_live,
                angles=args.angles,
                loop=ble,
            )
            return status
    except CatalogError as err:
        print(f"coxa live: {err}", file=sys.stderr)
        return 2
    except CommandError as err:
        print(f"coxa live: {err}", file=sys.stderr)
        return err.status
