"""``coxa replay``: a capture through the same pipeline as the live session.

The records are decoded exactly as live, so the angle table is the live one, bit for bit
(the summary prints its SHA-256); the reps are counted for the exercise in the capture's header,
as live. Exit status: 0 done; 1 failed; 2 not a readable capture or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from coxa.capture import CaptureError
from coxa.cli._common import (
    CommandError,
    add_findings_options,
    add_output_options,
    add_project_option,
    finding_rules,
    open_catalog,
    positive_float,
)
from coxa.cli._session import run_session
from coxa.sources import ReplaySource
from coxa.store import CatalogError


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``replay`` sub-command."""
    parser = add(
        "replay",
        help="replay a capture through the live pipeline (bit-exact with the live run)",
        description=(
            "Feed a raw capture through the decoders, the fusion core, the rep counter of "
            "the capture's exercise and the readout exactly as the live session did. Real "
            "time with the live panel, as fast as possible with --no-live or --speed."
        ),
        epilog="exit status: 0 done, 1 failed, 2 not a readable capture or bad arguments",
    )
    parser.add_argument("capture", type=Path, metavar="CAPTURE", help="the .coxa file")
    parser.add_argument(
        "--speed",
        type=positive_float,
        default=None,
        help="playback speed factor (default: real time)",
    )
    add_output_options(parser, "no live panel: as fast as possible, summary only")
    add_findings_options(parser, athlete=True)
    add_project_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Replay ``args.capture``; returns the exit status."""
    speed: float | None = args.speed
    if speed is None and not args.no_live:
        speed = 1.0
    try:
        if args.athlete is not None:
            try:
                with open_catalog(args) as catalog:
                    rules, notes = finding_rules(args.demand, catalog, args.athlete)
            except CatalogError as err:
                raise CommandError(str(err)) from err
        else:
            rules, notes = finding_rules(args.demand, None, None)
        source = ReplaySource(args.capture, speed=speed)
        status, _ = run_session(
            source,
            None,
            metadata={},
            duration_s=None,
            live=not args.no_live,
            angles=args.angles,
            rules=rules,
            notes=notes,
        )
    except CommandError as err:
        cause = err.__cause__
        code = 2 if isinstance(cause, CaptureError) else err.status
        print(f"coxa replay: {err}", file=sys.stderr)
        return code
    report = source.report
    if report is not None and not report.clean:
        print(
            f"capture damage: {len(report.damaged)} damaged spans"
            + (f", torn end at byte {report.tail.offset}" if report.tail is not None else "")
        )
    return status
