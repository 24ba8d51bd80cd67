"""``coxa analyze``: joint angles of a recorded session, written as an angles CSV, and its
reps with their findings, written as a per-rep CSV and printed as a table.

Two kinds of input:

- an OpenSense quaternion orientation file (``.sto``, see ``docs/formats.md``): one column per
  IMU, each the sensor frame relative to a Z-up ground. The columns ``pelvis_imu``,
  ``femur_r_imu``, ``tibia_r_imu``, ``femur_l_imu`` and ``tibia_l_imu`` are used (any subset
  holding a thigh and the shank of the same leg); others (``torso_imu``, ``calcn_r_imu``, ...)
  are ignored. The calibration pose is the first row, as OpenSense's IMU placer takes it,
  unless ``--calibration-time`` says otherwise.
- a coxa raw capture (``.coxa``, recognised by its magic bytes, see ``docs/capture.md``): the
  BLE notifications and the USB serial chunks are decoded as live (and as ``coxa replay``
  does: one decoder per board and link kind, in capture order) and fused. The board of each
  segment comes from the capture's ``rig`` metadata, or from ``--segments``. The calibration
  is the first standing rest followed by movement, unless ``--calibration-time`` says
  otherwise.

The fusion core runs with its offline parameters (:meth:`coxa.fusion.FusionParams.offline`).
The output CSV has ``time`` in seconds on the input's clock (the ``.sto`` file's times, or the
capture's host receive clock) and the joint angles in degrees. It is written to a temporary file
beside the target and renamed over it only when complete, so a failure leaves any earlier file
untouched.

With an exercise (``--exercise``, or a capture's ``exercise`` metadata when it is one the rep
analysis knows; ``--exercise auto`` recognises it from the angles,
:func:`coxa.analysis.recognize_exercise`, and a declared exercise the set clearly does not move
like is warned about on stderr) the reps are segmented (:func:`coxa.analysis.segment_reps`) and
the rules (:class:`coxa.analysis.FindingRules`) run on them with the demand file and, with
``--athlete``, the athlete's capacity from their clinical tests stored in the project catalog.
The per-rep table is printed; ``--reps-out`` writes it as CSV (:data:`REP_COLUMNS`, one row per
rep and leg, times on the angles' clock, empty where unknown), atomically as the angles. The
findings about the reps together (:meth:`coxa.analysis.FindingRules.evaluate_session`, e.g. the
lead leg's rotation in the right-lead against the left-lead reps) are printed below the table;
they belong to no single rep, so the per-rep CSV does not carry them.

Exit status: 0 written; 1 the output could not be written; 2 bad arguments or an input that
cannot be read or used (a malformed file: the message names the line); 3 calibration refused;
4 an internal error (a bug: the message says where to find the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import logging
import math
import os
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO, cast

import numpy as np

from coxa.analysis import (
    EXERCISE_IDS,
    ExerciseId,
    Finding,
    Rep,
    exercise_id,
    recognize_exercise,
    segment_reps,
)
from coxa.body import SEGMENT_OF_PLACEMENT, SEGMENTS, SegmentName
from coxa.capture import (
    MAGIC,
    SUFFIX,
    CaptureError,
    CaptureRecord,
    CaptureReport,
    LinkKind,
    iter_capture,
)
from coxa.cli._common import (
    CLI_EXERCISE_IDS,
    CommandError,
    add_findings_options,
    add_project_option,
    exercise_arg,
    finding_rules,
    open_catalog,
)
from coxa.cli._readout import findings_by_rep, leg_findings, render_summary
from coxa.fusion import (
    AngleTable,
    CalibrationError,
    FusionCore,
    FusionParams,
    HipReference,
    blocks_from_orientations,
)
from coxa.io import (
    FormatError,
    read_opensense_sto,
    segment_of_opensense_column,
    write_angles_csv,
)
from coxa.sources import LinkDecoder, ReceivedFrame, SerialLinkDecoder
from coxa.store import CatalogError

EXIT_OK = 0
EXIT_OUTPUT = 1
EXIT_INPUT = 2
EXIT_CALIBRATION = 3
EXIT_INTERNAL = 4

#: Capture records decoded per fusion-core update (bounds the memory of a long capture).
#: [assumption: about 10 s of a five-board rig at 200 Hz with 15 samples per notification]
_RECORDS_PER_UPDATE = 8192

CalibrationTime = float | Literal["auto"]

#: Columns of the per-rep CSV (``--reps-out``), one row per rep and leg: ``leg`` r/l, ``rep``
#: 1-based, ``lead`` 1 for the working (front, stepping, lead) leg, times in seconds on the
#: angles' clock, the :class:`coxa.analysis.LegRep` values (degrees, seconds), the exercise,
#: the hip reference (``room``: the rotation values are femoral rotation relative to the room,
#: no pelvis board), what the rotation columns measure in words, the finding rules about the
#: leg (``;``-separated) and their reasons (`` | ``-separated).
REP_COLUMNS = (
    "leg",
    "rep",
    "lead",
    "t_start",
    "t_bottom",
    "t_end",
    "peak_hip_rotation_deg",
    "hip_rotation_excursion_deg",
    "hip_rotation_start_deg",
    "peak_knee_angle_deg",
    "peak_hip_flexion_deg",
    "hip_flexion_bottom_deg",
    "shank_inclination_start_deg",
    "shank_inclination_bottom_deg",
    "knee_valgus_proxy_deg",
    "pelvis_rotation_change_deg",
    "pelvis_obliquity_change_deg",
    "pelvis_tilt_change_deg",
    "eccentric_s",
    "concentric_s",
    "exercise",
    "hip_reference",
    "rotation_measure",
    "findings",
    "finding_reasons",
)

_LOG = logging.getLogger(__name__)


class InputError(ValueError):
    """An input that cannot be used as given (the message says why); exit status 2."""


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``analyze`` sub-command with the ``add_parser`` of the CLI's sub-parsers."""
    parser = add(
        "analyze",
        help="joint angles of a recorded session (OpenSense .sto or coxa capture) as CSV",
        description=(
            "Fuse a recorded session into ISB hip and knee angles and write them as CSV: time "
            "(s) and one column per angle (degrees, empty where unknown). FILE is an OpenSense "
            "quaternion orientation file (.sto; columns pelvis_imu, femur_r_imu, tibia_r_imu, "
            "femur_l_imu, tibia_l_imu, any subset with a thigh and shank of one leg) or a coxa "
            "raw capture (.coxa)."
        ),
        epilog=(
            "exit status: 0 written, 1 output not written, 2 bad arguments or unusable input "
            "(a malformed file names the line), 3 calibration refused, 4 internal error"
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the recording")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="CSV", help="angles CSV to write (replaced)"
    )
    parser.add_argument(
        "--calibration-time",
        type=_calibration_time,
        default=None,
        metavar="T",
        help=(
            "take the pose at T seconds (on the time column's clock) as the neutral calibration "
            "pose, or 'auto' for the first standing rest followed by movement; default: the "
            "first row of a .sto (as OpenSense's IMU placer), 'auto' for a capture"
        ),
    )
    parser.add_argument(
        "--segments",
        type=_segments,
        default=None,
        metavar="ID=SEGMENT,...",
        help=(
            "captures only: the segment of each board, e.g. 17=femur_r,23=tibia_r (segments "
            f"{', '.join(SEGMENTS)}, or placements {', '.join(SEGMENT_OF_PLACEMENT)}); "
            "default: the capture's 'rig' metadata"
        ),
    )
    parser.add_argument(
        "--exercise",
        type=_exercise_or_auto,
        default=None,
        metavar="ID",
        help=(
            f"the exercise of the set ({', '.join(CLI_EXERCISE_IDS)}), or 'auto' to recognise "
            "it from the angles: count its reps, print the per-rep table with findings; "
            "default: a capture's 'exercise' metadata when it is one of these. A declared "
            "exercise that the set clearly does not move like is warned about"
        ),
    )
    parser.add_argument(
        "--reps-out",
        type=Path,
        default=None,
        metavar="CSV",
        help="per-rep CSV to write (replaced): one row per rep and leg with the rep values "
        "and findings",
    )
    add_findings_options(parser, athlete=True)
    add_project_option(parser)
    parser.set_defaults(handler=run)


def _calibration_time(text: str) -> CalibrationTime:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time in seconds or 'auto': {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite time: {text!r}")
    return value


def _segment_name(text: str) -> SegmentName | None:
    name = text.strip()
    for segment in SEGMENTS:
        if segment == name:
            return segment
    for placement, segment in SEGMENT_OF_PLACEMENT.items():
        if placement == name:
            return segment
    return None


def _segments(text: str) -> dict[int, SegmentName]:
    out: dict[int, SegmentName] = {}
    for item in text.split(","):
        board_text, sep, segment_text = item.partition("=")
        segment = _segment_name(segment_text)
        if not sep or not board_text.strip().isdigit() or segment is None:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not BOARD_ID=SEGMENT (segments: {', '.join(SEGMENTS)})"
            )
        board_id = int(board_text)
        if board_id in out:
            raise argparse.ArgumentTypeError(f"board {board_id} is given twice")
        out[board_id] = segment
    return out


@dataclass(frozen=True)
class Analysis:
    """What one run produced.

    Attributes
    ----------
    source : str
        One line describing the input (kind, boards or columns used).
    notes : tuple of str
        Further lines for the summary (ignored columns, damaged records, link errors).
    calibration : str
        How the calibration pose was chosen.
    core : FusionCore
        The core after ``finish()``.
    table : AngleTable
        Every output row.
    metadata : mapping
        A capture's header metadata (empty for a ``.sto``).
    """

    source: str
    notes: tuple[str, ...]
    calibration: str
    core: FusionCore
    table: AngleTable
    metadata: Mapping[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True)
class RepAnalysis:
    """The reps of an analysed set and their findings.

    Attributes
    ----------
    exercise : str
        Exercise id.
    reps : list of Rep
    findings : dict of int to list of Finding
        Per rep number (every rep has an entry).
    notes : list of str
        Where the exercise came from, the demand file, the capacity (or why there is none).
    session_findings : list of Finding
        Findings about the reps together (``rep`` None), e.g. ``set_asymmetry``.
    session_notes : list of str
        The session comparisons that gave no finding: their numbers, or why they were not made.
    """

    exercise: ExerciseId
    reps: list[Rep]
    findings: dict[int, list[Finding]]
    notes: list[str]
    session_findings: list[Finding]
    session_notes: list[str]


def run(args: argparse.Namespace) -> int:
    """Analyse ``args.file``, write ``args.out`` and print a summary; returns the exit status."""
    path: Path = args.file
    out: Path = args.out
    reps_out: Path | None = args.reps_out
    try:
        for given, name in ((out, "--out"), (reps_out, "--reps-out")):
            if (
                given is not None
                and given.exists()
                and path.exists()
                and (given.resolve() == path.resolve())
            ):
                raise InputError(f"{name} {given} is the input file itself")
        if reps_out is not None and reps_out.resolve() == out.resolve():
            raise InputError(f"--reps-out and --out are the same file: {out}")
        if _is_capture(path):
            analysis = analyze_capture(path, args.calibration_time, args.segments)
        else:
            if args.segments is not None:
                raise InputError("--segments applies to captures only (a .sto names its columns)")
            if args.exercise is None and reps_out is not None:
                raise InputError(_NO_EXERCISE)
            analysis = analyze_sto(path, args.calibration_time)
        reps = analyze_reps(analysis, args)
    except (FormatError, CaptureError, InputError) as error:
        print(f"coxa analyze: {error}", file=sys.stderr)
        return EXIT_INPUT
    except CommandError as error:
        print(f"coxa analyze: {error}", file=sys.stderr)
        return error.status
    except CalibrationError as error:
        print(f"coxa analyze: {path}: calibration refused: {error}", file=sys.stderr)
        return EXIT_CALIBRATION
    except OSError as error:
        print(f"coxa analyze: cannot read {path}: {error.strerror or error}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as error:
        # A bug, not bad input: a one-line report; the traceback is logged (shown with -vv).
        _LOG.debug("analysis of %s failed", path, exc_info=True)
        print(
            f"coxa analyze: internal error while analysing {path}: "
            f"{type(error).__name__}: {error} (run 'coxa -vv analyze ...' for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    table = analysis.table
    t_s = table.t_us * 1e-6
    try:
        _write_atomically(out, lambda stream: write_angles_csv(stream, t_s, table.angles_deg))
    except OSError as error:
        print(f"coxa analyze: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_OUTPUT
    for line in _summary(analysis, out):
        print(line)
    if reps is None:
        return EXIT_OK
    for line in reps.notes:
        print(line)
    findings = reps.findings
    for line in render_summary(
        reps.reps,
        table.hip_reference,
        findings=findings,
        session_findings=reps.session_findings,
        session_notes=reps.session_notes,
    ):
        print(line)
    if reps_out is not None:
        rows = rep_rows(reps.reps, findings, table.hip_reference)
        try:
            _write_atomically(reps_out, lambda stream: write_reps_csv(stream, rows))
        except OSError as error:
            message = f"cannot write {reps_out}: {error.strerror or error}"
            print(f"coxa analyze: {message}", file=sys.stderr)
            return EXIT_OUTPUT
        print(f"wrote {reps_out}: {len(rows)} rows (one per rep and leg)")
    return EXIT_OK


_NO_EXERCISE = (
    f"--reps-out needs the exercise of the set: give --exercise ({', '.join(CLI_EXERCISE_IDS)})"
)


#: ``--exercise auto``: recognise the exercise from the angles.
AUTO = "auto"


def _exercise_or_auto(text: str) -> ExerciseId | Literal["auto"]:
    """An argparse type: an exercise id (:func:`coxa.cli._common.exercise_arg`) or ``auto``."""
    return AUTO if text.strip().lower() == AUTO else exercise_arg(text)


def _recognised(analysis: Analysis) -> tuple[ExerciseId, str]:
    """``--exercise auto``: the recognised exercise and a note saying so.

    Raises
    ------
    InputError
        The angles cannot be recognised, or not with confidence.
    """
    try:
        recognition = recognize_exercise(analysis.table)
    except ValueError as error:
        raise InputError(f"--exercise auto: {error}") from error
    if recognition.exercise is None or not recognition.confident:
        raise InputError(
            f"--exercise auto: could not recognise the exercise with confidence. "
            f"{recognition.reason} Give --exercise ({', '.join(CLI_EXERCISE_IDS)})."
        )
    best = recognition.exercise
    return best, f"exercise: {best} (recognised, score {recognition.scores[best]:.2f})"


def _mismatch_note(analysis: Analysis, declared: ExerciseId) -> str | None:
    """A warning when the set confidently moves like another exercise than the declared one
    (None when it agrees, is not clear, or cannot be checked)."""
    try:
        return recognize_exercise(analysis.table).mismatch_warning(declared)
    except ValueError as error:
        _LOG.info("declared exercise not checked: %s", error)
        return None


def _exercise_of(
    analysis: Analysis, given: ExerciseId | Literal["auto"] | None
) -> tuple[ExerciseId | None, str]:
    """The exercise to segment and a note on where it came from (or why there is none).

    Raises
    ------
    InputError
        ``auto`` and the exercise cannot be recognised.
    """
    if given == AUTO:
        return _recognised(analysis)
    if given is not None:
        return exercise_id(given), f"exercise: {given} (given)"
    name: object = analysis.metadata.get("exercise")
    if name is None:
        return None, ""
    if isinstance(name, str):
        for known in EXERCISE_IDS:
            if known == name.replace("-", "_"):
                return known, f"exercise: {known} (the capture's metadata)"
    return None, (
        f"the capture's exercise {name!r} is not one the rep analysis knows: no reps (give "
        f"--exercise: {', '.join(CLI_EXERCISE_IDS)})"
    )


def analyze_reps(analysis: Analysis, args: argparse.Namespace) -> RepAnalysis | None:
    """The reps of the analysed set and their findings, or None without an exercise.

    Raises
    ------
    InputError
        ``--reps-out`` without an exercise.
    CommandError
        The demand file or the athlete's stored tests cannot be read.
    """
    exercise, note = _exercise_of(analysis, args.exercise)
    if exercise is None:
        if args.reps_out is not None:
            raise InputError(f"{note}; {_NO_EXERCISE}" if note else _NO_EXERCISE)
        if note:
            print(f"coxa analyze: {note}")
        return None
    if args.exercise != AUTO and (warning := _mismatch_note(analysis, exercise)) is not None:
        print(f"coxa analyze: warning: {warning}", file=sys.stderr)
    if args.athlete is not None:
        try:
            with open_catalog(args) as catalog:
                rules, notes = finding_rules(args.demand, catalog, args.athlete)
        except CatalogError as err:
            raise CommandError(str(err)) from err
    else:
        rules, notes = finding_rules(args.demand, None, None)
    reps = segment_reps(analysis.table, exercise)
    findings = findings_by_rep(reps, rules.evaluate(reps))
    session_findings, session_notes = rules.evaluate_session(reps)
    return RepAnalysis(exercise, reps, findings, [note, *notes], session_findings, session_notes)


def _cell(value: float, digits: int) -> str:
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def rep_rows(
    reps: Sequence[Rep], findings: Mapping[int, Sequence[Finding]], hip_reference: HipReference
) -> list[dict[str, str]]:
    """The per-rep CSV rows (:data:`REP_COLUMNS`), right leg before left in each rep."""
    measure = (
        "hip internal rotation (femur relative to the pelvis)"
        if hip_reference == "pelvis"
        else "femoral rotation relative to the room (no pelvis board), not hip rotation"
    )
    rows: list[dict[str, str]] = []
    for rep in reps:
        for side, leg in sorted(rep.legs.items(), key=lambda item: item[0] != "r"):
            about = leg_findings(findings.get(rep.index, ()), side)
            row = {
                "leg": side,
                "rep": str(rep.index),
                "lead": "1" if leg.lead else "0",
                "t_start": _cell(leg.t_start_us / 1e6, 6),
                "t_bottom": _cell(leg.t_bottom_us / 1e6, 6),
                "t_end": _cell(leg.t_end_us / 1e6, 6),
                "peak_hip_rotation_deg": _cell(leg.peak_hip_rotation_deg, 3),
                "hip_rotation_excursion_deg": _cell(leg.hip_rotation_excursion_deg, 3),
                "hip_rotation_start_deg": _cell(leg.hip_rotation_start_deg, 3),
                "peak_knee_angle_deg": _cell(leg.peak_knee_deg, 3),
                "peak_hip_flexion_deg": _cell(leg.peak_hip_flexion_deg, 3),
                "hip_flexion_bottom_deg": _cell(leg.hip_flexion_bottom_deg, 3),
                "shank_inclination_start_deg": _cell(leg.shank_inclination_start_deg, 3),
                "shank_inclination_bottom_deg": _cell(leg.shank_inclination_bottom_deg, 3),
                "knee_valgus_proxy_deg": _cell(leg.knee_valgus_proxy_deg, 3),
                "pelvis_rotation_change_deg": _cell(leg.pelvis_rotation_change_deg, 3),
                "pelvis_obliquity_change_deg": _cell(leg.pelvis_obliquity_change_deg, 3),
                "pelvis_tilt_change_deg": _cell(leg.pelvis_tilt_change_deg, 3),
                "eccentric_s": _cell(leg.eccentric_s, 3),
                "concentric_s": _cell(leg.concentric_s, 3),
                "exercise": rep.exercise,
                "hip_reference": rep.hip_reference,
                "rotation_measure": measure,
                "findings": ";".join(f.rule for f in about),
                "finding_reasons": " | ".join(f.message for f in about),
            }
            rows.append(row)
    return rows


def write_reps_csv(stream: TextIO, rows: Sequence[Mapping[str, str]]) -> None:
    """Write per-rep rows (:func:`rep_rows`) as CSV with a header of :data:`REP_COLUMNS`."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(REP_COLUMNS)
    writer.writerows([row[name] for name in REP_COLUMNS] for row in rows)


def _is_capture(path: Path) -> bool:
    """A capture by its magic bytes, or by its suffix (so that a damaged header is reported as
    such rather than as a malformed ``.sto``)."""
    with open(path, "rb") as file:
        return file.read(len(MAGIC)) == MAGIC or path.suffix.lower() == SUFFIX


def _require_leg(segments: Iterable[SegmentName], what: str) -> None:
    present = set(segments)
    if not any({f"femur_{side}", f"tibia_{side}"} <= present for side in ("r", "l")):
        found = ", ".join(sorted(present)) or "none"
        raise InputError(
            f"{what}: a thigh and the shank of the same leg are needed (femur_r + tibia_r or "
            f"femur_l + tibia_l); found: {found}"
        )


def _params(calibration_t_us: float | None) -> FusionParams:
    base = FusionParams.offline()
    return replace(base, calibration=replace(base.calibration, calibration_t_us=calibration_t_us))


def _check_calibration_time(core: FusionCore, t_us: float | None, source: Path) -> None:
    """A calibration time before every board has data would silently take the first sample."""
    if t_us is None or core.calibration is None:
        return
    first_us = core.calibration.rest_t_us[0]
    if first_us - t_us >= 1e6 / core.params.calibration_rate_hz:
        raise CalibrationError(
            f"the calibration time {t_us / 1e6:.3f} s is before the first time every board "
            f"has data ({first_us / 1e6:.3f} s) in {source}"
        )


def analyze_sto(path: Path, calibration_time: CalibrationTime | None) -> Analysis:
    """Fuse an OpenSense quaternion ``.sto`` file.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    calibration_time : float, 'auto' or None
        Calibration pose time, seconds on the file's clock; ``'auto'``: the first standing rest
        followed by movement; None: the first row (OpenSense's IMU placer).

    Raises
    ------
    FormatError
        The file is malformed (the message names the line).
    InputError
        No thigh and shank of one leg among the columns.
    CalibrationError
        The data cannot be calibrated.
    """
    table = read_opensense_sto(path)
    segments = table.by_segment()
    used = [name for name in table.quat_wxyz if segment_of_opensense_column(name) is not None]
    ignored = [name for name in table.quat_wxyz if name not in used]
    _require_leg(segments, f"{path}: OpenSense columns")
    if calibration_time is None:
        t_us: float | None = float(table.t_s[0]) * 1e6
        described = f"pose at t = {table.t_s[0]:.3f} s (the first row, as OpenSense's IMU placer)"
    elif calibration_time == "auto":
        t_us = None
        described = "the first standing rest followed by movement (automatic)"
    else:
        t_us = calibration_time * 1e6
        described = f"pose at t = {calibration_time:.3f} s (given)"
    boards, blocks = blocks_from_orientations(table.t_s, segments)
    core = FusionCore(boards, _params(t_us))
    rows = AngleTable.concatenate([core.update(blocks), core.finish()])
    _check_calibration_time(core, t_us, path)
    notes = (f"ignored columns: {', '.join(ignored)}",) if ignored else ()
    source = (
        f"{path}: OpenSense orientations, {table.t_s.size} rows at {table.data_rate_hz:g} Hz, "
        f"columns {', '.join(used)}"
    )
    return Analysis(source, notes, described, core, rows)


def _rig_of(metadata: Mapping[str, Any], path: Path) -> dict[int, SegmentName]:
    rig: object = metadata.get("rig")
    if rig is None:
        raise InputError(
            f"{path}: the capture does not say which board is on which segment (no 'rig' "
            "metadata); give it with --segments, e.g. --segments 17=femur_r,23=tibia_r"
        )
    if not isinstance(rig, dict):
        raise InputError(f"{path}: the capture's 'rig' metadata is not a board -> segment map")
    out: dict[int, SegmentName] = {}
    entries = cast("dict[object, object]", rig)
    for board_text, segment_text in entries.items():
        segment = _segment_name(segment_text) if isinstance(segment_text, str) else None
        if not (isinstance(board_text, str) and board_text.isdigit()) or segment is None:
            raise InputError(
                f"{path}: the capture's 'rig' metadata maps {board_text!r} to {segment_text!r}; "
                "expected a decimal board id and a segment; override it with --segments"
            )
        out[int(board_text)] = segment
    return out


def analyze_capture(
    path: Path,
    calibration_time: CalibrationTime | None,
    segments: Mapping[int, SegmentName] | None,
) -> Analysis:
    """Decode and fuse a coxa raw capture.

    Parameters
    ----------
    path : pathlib.Path
        The capture.
    calibration_time : float, 'auto' or None
        Calibration pose time, seconds on the capture's host receive clock; ``'auto'`` or None:
        the first standing rest followed by movement.
    segments : mapping of int to str or None
        Segment of each board; None: the capture's ``rig`` metadata.

    Raises
    ------
    CaptureError
        Not a capture, or its header is damaged.
    InputError
        No board map, no thigh and shank of one leg, or no decodable data.
    CalibrationError
        The data cannot be calibrated.
    """
    with iter_capture(path) as stream:
        rig = dict(segments) if segments is not None else _rig_of(stream.metadata, path)
        if len(set(rig.values())) != len(rig):
            raise InputError(f"{path}: two boards are assigned to the same segment: {rig}")
        _require_leg(rig.values(), f"{path}: boards")
        t_us = None if calibration_time in (None, "auto") else float(calibration_time) * 1e6
        core = FusionCore(rig, _params(t_us))
        links = _Links(rig)
        counts = _RecordCounts()
        tables: list[AngleTable] = []
        records = iter(stream)
        while chunk := list(itertools.islice(records, _RECORDS_PER_UPDATE)):
            counts.add(chunk)
            frames: list[ReceivedFrame] = []
            for record in chunk:
                if not links.decode(record, frames):
                    counts.unknown_board_records += 1
            tables.append(core.update_frames(frames))
        report = stream.report
    decoded = links.frames
    if decoded == 0:
        raise InputError(_no_data_reason(path, counts, links))
    tables.append(core.finish())
    _check_calibration_time(core, t_us, path)
    source = (
        f"{path}: coxa capture, {counts.records} records ({counts.describe_links()}), "
        f"{decoded} data frames from {len(rig)} boards ("
        + ", ".join(f"{b}={s}" for b, s in sorted(rig.items(), key=lambda i: SEGMENTS.index(i[1])))
        + ")"
    )
    described = (
        "the first standing rest followed by movement (automatic)"
        if t_us is None
        else f"pose at t = {t_us / 1e6:.3f} s (given)"
    )
    notes = _capture_notes(report, counts, links)
    table = AngleTable.concatenate(tables)
    return Analysis(source, notes, described, core, table, dict(stream.metadata))


class _Links:
    """The decoders of a capture's rig: one per board and link kind, as ``coxa replay``."""

    def __init__(self, rig: Mapping[int, SegmentName]) -> None:
        self.ble = {board_id: LinkDecoder(board_id) for board_id in rig}
        self.serial = {board_id: SerialLinkDecoder(board_id) for board_id in rig}

    @property
    def frames(self) -> int:
        """Data frames decoded so far."""
        return sum(d.frames for d in self.ble.values()) + sum(
            d.frames for d in self.serial.values()
        )

    @property
    def protocol_errors(self) -> int:
        """Packets and frames that did not decode, on every link."""
        return sum(d.protocol_errors for d in self.ble.values()) + sum(
            d.protocol_errors for d in self.serial.values()
        )

    def decode(self, record: CaptureRecord, frames: list[ReceivedFrame]) -> bool:
        """Append the data frames ``record`` completes to ``frames``; False if the record is
        of a link kind with a board outside the rig (records of other kinds: True, ignored)."""
        t_rx_us = record.t_rx_ns // 1000
        if record.kind == LinkKind.BLE:
            link = self.ble.get(record.link_id)
            if link is None:
                return False
            frame = link.push(t_rx_us, record.payload)
            if frame is not None:
                frames.append(frame)
        elif record.kind == LinkKind.SERIAL:
            port = self.serial.get(record.link_id)
            if port is None:
                return False
            frames.extend(port.feed(t_rx_us, record.payload)[0])
        return True


@dataclass
class _RecordCounts:
    records: int = 0
    ble: int = 0
    serial: int = 0
    other_kinds: int = 0
    unknown_board_records: int = 0

    def add(self, chunk: list[CaptureRecord]) -> None:
        self.records += len(chunk)
        for record in chunk:
            if record.kind == LinkKind.BLE:
                self.ble += 1
            elif record.kind == LinkKind.SERIAL:
                self.serial += 1
            else:
                self.other_kinds += 1

    def describe_links(self) -> str:
        kinds = [(self.ble, "BLE"), (self.serial, "USB serial"), (self.other_kinds, "other")]
        return ", ".join(f"{n} {name}" for n, name in kinds if n)


def _no_data_reason(path: Path, counts: _RecordCounts, links: _Links) -> str:
    if counts.records and counts.other_kinds == counts.records:
        return (
            f"{path}: the capture holds no BLE or serial records ({counts.other_kinds} records "
            "of link kinds this coxa does not know)"
        )
    return (
        f"{path}: no data frame from the rig's boards ({counts.records} records, "
        f"{counts.unknown_board_records} from other boards, {links.protocol_errors} protocol "
        "errors)"
    )


def _capture_notes(report: CaptureReport, counts: _RecordCounts, links: _Links) -> tuple[str, ...]:
    notes: list[str] = []
    if report.damaged:
        skipped = sum(d.bytes_skipped for d in report.damaged)
        notes.append(f"damaged spans skipped: {len(report.damaged)} ({skipped} bytes)")
    if report.tail is not None:
        notes.append(
            f"torn or truncated end dropped at byte {report.tail.offset}: {report.tail.reason}"
        )
    if counts.other_kinds:
        notes.append(f"records of other link kinds ignored: {counts.other_kinds}")
    if counts.unknown_board_records:
        notes.append(f"records from boards outside the rig ignored: {counts.unknown_board_records}")
    for board_id, link in sorted(links.ble.items()):
        if link.protocol_errors or link.lost_packets:
            notes.append(
                f"board {board_id}: {link.lost_packets} packets lost on the link, "
                f"{link.protocol_errors} protocol errors"
                + (f" (last: {link.last_error})" if link.last_error else "")
            )
    for board_id, port in sorted(links.serial.items()):
        if port.protocol_errors:
            notes.append(
                f"board {board_id}: {port.protocol_errors} serial protocol errors "
                f"({port.bad_packets} bad packets, {port.unsupported_version} of another "
                f"protocol version, {port.bad_frames} undecodable frames, "
                f"{port.foreign_frames} of another board)"
                + (f"; last: {port.last_error}" if port.last_error else "")
            )
    return tuple(notes)


def _write_atomically(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write a file with ``write`` to a new temporary file beside ``path``, sync it and rename
    it over ``path`` (then sync the folder, on POSIX, so that the rename survives a crash
    too)."""
    directory = path.parent
    # A random name, created exclusively, with the permissions a plain open would give.
    temporary = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if os.name == "posix":
        folder = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _summary(analysis: Analysis, out: Path) -> list[str]:
    core = analysis.core
    table = analysis.table
    lines = [f"coxa analyze: {analysis.source}"]
    lines += [f"  {note}" for note in analysis.notes]
    lines.append(f"calibration: {analysis.calibration}")
    if core.calibration is not None:
        lines += [f"  {line}" for line in core.calibration.describe().splitlines()]
    if table.hip_reference == "room":
        lines.append(
            "hip reference: room (no pelvis sensor: hip_* columns are the femur relative to the "
            "room, hip_rotation is femoral rotation, not hip internal rotation)"
        )
    else:
        lines.append("hip reference: pelvis (hip_* columns are the femur relative to the pelvis)")
    if table.n_rows:
        # A thigh and shank pair is required, so there is always a hip and a knee column.
        joints = [v for n, v in table.angles_deg.items() if n.startswith(("hip_", "knee_angle_"))]
        finite = np.all(np.isfinite(np.column_stack(joints)), axis=1)
        lines.append(
            f"rows: {table.n_rows} ({table.t_us[0] / 1e6:.3f}-{table.t_us[-1] / 1e6:.3f} s at "
            f"{core.params.output_rate_hz:g} Hz), {int(np.count_nonzero(finite))} with every hip "
            "and knee angle"
        )
    else:
        lines.append("rows: 0")
    lines.append(f"wrote {out}: time, {', '.join(table.angles_deg)}")
    return lines
