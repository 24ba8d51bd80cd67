"""Options and helpers shared by the recording commands: project folder, simulation, rigs."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from coxa.analysis import (
    EXERCISE_IDS,
    Capacity,
    DemandFileError,
    ExerciseId,
    FindingRules,
    exercise_id,
    load_demand,
)
from coxa.assess import stored_capacity_points
from coxa.cli._env import BleEnvironment
from coxa.geometry import Side
from coxa.sim import EXERCISES
from coxa.sources import (
    UNASSIGNED_SEGMENT,
    SerialPort,
    SerialSource,
    SimParams,
    SimSource,
    Source,
    default_sim_rig,
)
from coxa.store import Catalog, CatalogError, Rig

DEFAULT_PROJECT = "coxa-project"
"""Project folder when neither ``--project`` nor ``COXA_PROJECT`` is given (relative to the
working directory)."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]
"""A command: its parsed arguments in, its exit status out (``set_defaults(handler=...)``)."""
BleHandler = Callable[[argparse.Namespace, BleEnvironment], int]
"""A command that may use BLE, run in a BLE environment (``set_defaults(ble_handler=...)``)."""


class CommandError(Exception):
    """A user-facing failure of a command: message and exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def add_project_option(parser: argparse.ArgumentParser) -> None:
    """``--project DIR`` (default ``$COXA_PROJECT`` or ``./coxa-project``)."""
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"project folder with the catalog (default: $COXA_PROJECT or ./{DEFAULT_PROJECT})",
    )


def project_dir(args: argparse.Namespace) -> Path:
    """The project folder the options or the environment name."""
    given: Path | None = args.project
    if given is not None:
        return given
    return Path(os.environ.get("COXA_PROJECT") or DEFAULT_PROJECT)


def open_catalog(args: argparse.Namespace) -> Catalog:
    """The project's catalog (created if needed)."""
    return Catalog.in_project(project_dir(args))


#: The exercise ids of the rep analysis as typed on the command line.
CLI_EXERCISE_IDS = tuple(e.replace("_", "-") for e in EXERCISE_IDS)


def exercise_arg(text: str) -> ExerciseId:
    """An argparse type: an exercise id of the rep analysis (``split-squat`` or
    ``split_squat``); an unknown one is refused with the list of the known ones."""
    try:
        return exercise_id(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown exercise {text!r}; known: {', '.join(CLI_EXERCISE_IDS)}"
        ) from None


def add_findings_options(parser: argparse.ArgumentParser, *, athlete: bool) -> None:
    """``--demand FILE`` and, with ``athlete``, an optional ``--athlete ID`` whose clinical
    tests give the capacity the findings compare with."""
    if athlete:
        parser.add_argument(
            "--athlete",
            default=None,
            metavar="ID",
            help="athlete whose stored clinical tests (coxa assess) give the hip IR capacity "
            "the findings compare each rep with (default: no capacity)",
        )
    parser.add_argument(
        "--demand",
        type=Path,
        default=None,
        metavar="FILE",
        help="demand file of expected hip IR per exercise (default: the one shipped with coxa, "
        "see docs/analysis.md)",
    )


def finding_rules(
    demand: Path | None, catalog: Catalog | None, athlete: str | None
) -> tuple[FindingRules, list[str]]:
    """The rule engine of a command: the demand file and the athlete's capacity, with lines
    saying what they are (and what is missing) for the command's output.

    Raises
    ------
    CommandError
        The demand file cannot be read, or the athlete's stored tests cannot be read.
    """
    try:
        table = load_demand(demand)
    except DemandFileError as err:
        raise CommandError(str(err)) from err
    notes = [f"demand: {demand if demand is not None else 'the shipped demand file'}"]
    if athlete is None or catalog is None:
        notes.append(
            "no capacity: no --athlete given, so the at_capacity and short_of_demand findings "
            "cannot fire"
        )
        return FindingRules(table), notes
    try:
        points = stored_capacity_points(catalog, athlete)
    except (CatalogError, ValueError) as err:
        raise CommandError(f"cannot read the clinical tests of {athlete!r}: {err}") from err
    if not points:
        notes.append(
            f"no capacity: athlete {athlete!r} has no stored hip rotation test in "
            f"{catalog.path} (run 'coxa assess'), so at_capacity and short_of_demand cannot fire"
        )
        return FindingRules(table), notes
    capacity = Capacity(tuple(points))
    sides: tuple[tuple[Side, str], ...] = (("r", "right"), ("l", "left"))
    for side, name in sides:
        anchors = capacity.anchors(side)
        basis = "; ".join(a[3] for a in anchors) if anchors else "no rotation test"
        notes.append(f"capacity of {athlete}, {name} hip: {basis}")
    return FindingRules(table, capacity), notes


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1): {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def add_sim_options(parser: argparse.ArgumentParser, *, session: bool) -> None:
    """``--sim`` and the simulated rig's options; with ``session`` also the session's."""
    group = parser.add_argument_group("simulation (no hardware needed)")
    group.add_argument(
        "--sim", action="store_true", help="use simulated boards instead of real ones"
    )
    group.add_argument(
        "--boards",
        type=int,
        default=5,
        help="simulated boards without --rig (2-5 on body segments, more are extra boards; "
        "default 5)",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    if not session:
        return
    group.add_argument(
        "--loss",
        type=_fraction,
        default=0.0,
        help="fraction of notifications lost, in bursts (default 0)",
    )
    group.add_argument(
        "--disconnects",
        type=_count,
        default=0,
        help="forced disconnections of random boards for 1-5 s each (default 0)",
    )
    group.add_argument(
        "--sim-exercise",
        choices=[e for e in EXERCISES if e != "rest"],
        default=None,
        help="what the simulated athlete does (default: --exercise, or squat)",
    )
    group.add_argument(
        "--speed",
        type=positive_float,
        default=None,
        help="playback speed of the simulation (default: real time with the live panel, "
        "as fast as possible with --no-live)",
    )


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """Rig, duration, readout and angle output of a streaming session."""
    parser.add_argument("--rig", default=None, help="rig of the catalog to stream from")
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: Ctrl-C; a simulation: one set, or S)",
    )
    add_output_options(parser, "no live panel, just the summary at the end")


def add_output_options(parser: argparse.ArgumentParser, no_live_help: str) -> None:
    """``--no-live`` (with its meaning for this command) and ``--angles CSV``."""
    parser.add_argument("--no-live", action="store_true", help=no_live_help)
    parser.add_argument(
        "--angles",
        type=Path,
        default=None,
        metavar="CSV",
        help="write every row of joint angles to this CSV file",
    )


def sim_source(args: argparse.Namespace, rig: Rig | None, exercise: str | None) -> SimSource:
    """The simulated source of a session's options (the rig's boards, or ``--boards``)."""
    if args.boards < 2:
        raise CommandError("--boards must be at least 2")
    chosen = args.sim_exercise or (exercise or "squat").replace("-", "_")
    if chosen not in EXERCISES or chosen == "rest":
        raise CommandError(
            f"cannot simulate the exercise {chosen!r}; use --sim-exercise "
            f"({', '.join(e for e in EXERCISES if e != 'rest')})"
        )
    speed: float | None = args.speed
    if speed is None and not args.no_live:
        speed = 1.0
    params = SimParams(
        boards=args.boards,
        exercise=chosen,  # pyright: ignore[reportArgumentType]  (checked against EXERCISES)
        duration_s=args.duration,
        loss=args.loss,
        disconnects=args.disconnects,
        realtime=speed is not None,
        speed=speed or 1.0,
        seed=args.seed,
    )
    return SimSource(params, rig.segments_by_board if rig is not None else None)


def rig_source(args: argparse.Namespace, catalog: Catalog, rig: Rig, ble: BleEnvironment) -> Source:
    """The source streaming a catalog rig's boards (a BLE rig's in the ``ble`` environment)."""
    if rig.link == "serial":
        ports = [SerialPort(b.port, b.board_id, b.segment) for b in rig.boards if b.port]
        if len(ports) != len(rig.boards):
            raise CommandError(f"rig {rig.name!r}: a serial board without a port")
        return SerialSource(ports)
    if rig.link == "sim":
        raise CommandError(f"rig {rig.name!r} is a simulated rig: add --sim")
    from coxa.cli import _ble_adapter  # imports this module: imported when first needed

    return _ble_adapter.source(rig, catalog.bonds(), ble)


def session_source(
    args: argparse.Namespace, catalog: Catalog, exercise: str | None, ble: BleEnvironment
) -> tuple[Source, Rig | None]:
    """The source of ``coxa live``/``coxa record``: ``--rig`` and/or ``--sim``."""
    rig = catalog.rig(args.rig) if args.rig is not None else None
    if args.sim:
        return sim_source(args, rig, exercise), rig
    if rig is None:
        raise CommandError("name a rig (--rig NAME, see 'coxa rig list') or simulate (--sim)")
    return rig_source(args, catalog, rig, ble), rig


def describe_segment(segment: str) -> str:
    """A segment for display (extra boards say so)."""
    return "extra (not fused)" if segment == UNASSIGNED_SEGMENT else segment


def default_sim_boards(args: argparse.Namespace) -> dict[int, str]:
    """The simulated rig of ``--boards`` and ``--seed``."""
    if args.boards < 2:
        raise CommandError("--boards must be at least 2")
    return default_sim_rig(args.boards, args.seed)
