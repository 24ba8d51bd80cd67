"""``coxa capture check``: are captures intact, and is every sample of every board in them?

Exit status: 0 every capture intact and no sample missing; 1 samples missing (the files are
intact); 2 no capture found or a file that is not a readable capture; 3 a capture is damaged
(damaged records or a torn end: the intact records are still readable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from coxa.capture import SUFFIX, CaptureError
from coxa.record import CaptureCheck, check_capture

EXIT_OK = 0
EXIT_LOST = 1
EXIT_UNREADABLE = 2
EXIT_DAMAGED = 3


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``capture`` command group (``capture check``)."""
    parser = add("capture", help="inspect raw captures", description="Inspect raw captures.")
    commands = parser.add_subparsers(dest="capture_command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="check captures for damage and missing samples",
        description=(
            "Read every record of each capture (a file, or every .coxa file in a folder), "
            "report damage, and count the samples missing from each board's sequence: "
            "'samples lost: N' is the number of samples the boards produced between the first "
            "and the last one captured that are in no frame of the capture."
        ),
        epilog=(
            "exit status: 0 intact and complete, 1 samples missing, 2 no capture or not a "
            "capture, 3 damaged"
        ),
    )
    check.add_argument("target", type=Path, metavar="DIR|FILE", help="a capture or a folder")
    check.set_defaults(handler=run_check)


def _files(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted(p for p in target.iterdir() if p.suffix == SUFFIX and p.is_file())
    return [target]


def _print(check: CaptureCheck) -> None:
    report = check.report
    print(f"{check.path}: {report.records} records, {report.file_bytes} bytes")
    for damage in report.damaged:
        print(
            f"  damaged at byte {damage.offset}: {damage.reason} "
            f"({damage.bytes_skipped} bytes skipped)"
        )
    if report.tail is not None:
        print(
            f"  torn or truncated end at byte {report.tail.offset}: {report.tail.reason} "
            f"({report.tail.bytes_skipped} bytes dropped)"
        )
    for board in check.boards:
        print(
            f"  board {board.board_id}: {board.samples} samples, seq {board.first_seq}.."
            f"{board.last_seq}, {board.missing} missing, {board.duplicates} duplicates"
        )
    if check.protocol_errors:
        print(f"  undecodable packets: {check.protocol_errors}")


def run_check(args: argparse.Namespace) -> int:
    """Check the captures; returns the exit status."""
    target: Path = args.target
    if not target.exists():
        print(f"coxa capture check: {target} does not exist", file=sys.stderr)
        return EXIT_UNREADABLE
    files = _files(target)
    if not files:
        print(f"coxa capture check: no {SUFFIX} file in {target}", file=sys.stderr)
        return EXIT_UNREADABLE
    status = EXIT_OK
    lost = 0
    damaged = 0
    for path in files:
        try:
            check = check_capture(path)
        except (CaptureError, OSError) as err:
            print(f"coxa capture check: {err}", file=sys.stderr)
            status = max(status, EXIT_UNREADABLE)
            continue
        _print(check)
        lost += check.samples_lost
        if check.damaged:
            damaged += 1
            status = max(status, EXIT_DAMAGED)
        elif check.samples_lost:
            status = max(status, EXIT_LOST)
    print(f"captures: {len(files)}, damaged: {damaged}")
    print(f"samples lost: {lost}")
    return status
