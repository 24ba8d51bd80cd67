"""``coxa assess``: a guided clinical hip test (prone, seated or supine hip internal rotation,
active straight leg raise), per side, with trial SD, reference values and the athlete's history.

Exit status: 0 done; 1 the session failed or no trial was found; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from coxa.assess import (
    CLINICAL_FUSION,
    TEST_IDS,
    AssessParams,
    Change,
    ClinicalTest,
    ClinicalTestAnalysis,
    ReferenceFileError,
    References,
    SideResult,
    change_since_previous,
    clinical_motion,
    clinical_session,
    compare,
    load_references,
    protocol,
    simulate_clinical_test,
    store_result,
    to_capacity_points,
)
from coxa.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_project_option,
    open_catalog,
    positive_float,
    project_dir,
    rig_source,
)
from coxa.cli._env import BleEnvironment
from coxa.cli._record import capture_name
from coxa.fusion import AngleTable, CalibrationError
from coxa.geometry import Side
from coxa.record import Recorder, RecordParams
from coxa.store import Catalog, CatalogError

_SIDES: dict[str, tuple[Side, ...]] = {"right": ("r",), "left": ("l",), "both": ("r", "l")}
_SIDE_NAMES: dict[Side, str] = {"r": "right", "l": "left"}


def _trials(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"must be within 1-10: {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``assess`` sub-command."""
    parser = add(
        "assess",
        help="guided clinical hip test (prone/seated/supine IR, straight leg raise)",
        description=(
            "Guide a clinical hip test per side (three trials by default), measure each trial "
            "with the shank as a pointer about the femoral axis (the straight leg raise: the "
            "thigh's angle above horizontal), find the end point of each trial automatically "
            "(where the angle stops increasing, or where a pelvis board sees the pelvis lift), "
            "check the knee, and show the trials, their mean and SD, the reference values with "
            "their status and the change since the athlete's previous result (stored in the "
            "project catalog)."
        ),
        epilog="exit status: 0 done, 1 session failed or no trial found, 2 bad arguments",
    )
    parser.add_argument("test", choices=TEST_IDS, help="the clinical test")
    parser.add_argument(
        "--side", choices=tuple(_SIDES), required=True, help="side(s) to test, in order"
    )
    parser.add_argument(
        "--athlete", default=None, metavar="ID", help="athlete code (results are stored with it)"
    )
    parser.add_argument("--trials", type=_trials, default=3, help="trials per side (default 3)")
    parser.add_argument(
        "--references",
        type=Path,
        default=None,
        metavar="TOML",
        help="reference values file (default: the one shipped with coxa)",
    )
    parser.add_argument(
        "--no-store", action="store_true", help="do not store the results in the catalog"
    )
    parser.add_argument("--rig", default=None, help="rig of the catalog to measure with")
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="length of each side's recording with a rig, s (default 60)",
    )
    add_project_option(parser)
    group = parser.add_argument_group("simulation (no hardware needed)")
    group.add_argument("--sim", action="store_true", help="a simulated athlete and boards")
    group.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    group.add_argument(
        "--sim-value",
        type=_number,
        default=None,
        metavar="DEG",
        help="the simulated athlete's end position: hip IR (the straight leg raise: hip "
        "flexion), degrees (default: the simulator's)",
    )
    group.add_argument(
        "--sim-spread",
        type=_number,
        default=2.0,
        metavar="DEG",
        help="SD of the end position between trials, degrees (default 2)",
    )
    group.add_argument(
        "--sim-knee",
        type=_number,
        default=None,
        metavar="DEG",
        help="knee flexion held in the test, degrees (default: the simulator's)",
    )
    group.add_argument(
        "--sim-pelvis-lift",
        type=_number,
        default=0.0,
        metavar="DEG",
        help="pelvic roll or hike at each end position, degrees (default 0)",
    )
    group.add_argument(
        "--sim-no-pelvis", action="store_true", help="no pelvis board in the simulated rig"
    )
    parser.set_defaults(ble_handler=run)


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def instructions(test: ClinicalTest, side: Side, trials: int) -> list[str]:
    """The steps of one side, numbered."""
    lines = [f"{test.title}, {_SIDE_NAMES[side]} side: {trials} trials"]
    lines += [f"  {k}. {step}" for k, step in enumerate(test.steps, start=1)]
    lines.append(f"  {len(test.steps) + 1}. Repeat for {trials} trials, resting 2 s between.")
    return lines


def trial_lines(result: SideResult) -> list[str]:
    """One line per trial: value, knee, hip flexion, pelvis change, warnings."""
    lines: list[str] = []
    for t in result.trials:
        pelvis = (
            f", pelvis moved {_fmt(t.pelvis_change_deg)} deg"
            if math.isfinite(t.pelvis_change_deg)
            else ""
        )
        line = (
            f"  trial {t.index + 1}: {_fmt(t.value_deg)} deg (knee {_fmt(t.knee_deg, 0)} deg, hip "
            f"flexion {_fmt(t.hip_flexion_deg, 0)} deg{pelvis})"
        )
        lines.append(line + "".join(f"\n    ! {flag}" for flag in t.flags))
    lines += [f"  ! {flag}" for flag in result.flags]
    return lines


def summary_lines(
    test: ClinicalTest,
    results: Sequence[SideResult],
    references: References,
    changes: dict[Side, Change | None],
) -> list[str]:
    """The final table, the asymmetry, the references with their status and the history."""
    lines = ["", f"{test.title}: {results[0].label if results else test.quantity}, degrees"]
    lines.append("  side    trials                    mean    SD  hip flexion")
    for r in results:
        values = ", ".join(_fmt(v) for v in r.values_deg) or "-"
        lines.append(
            f"  {_SIDE_NAMES[r.side]:<6}  {values:<24}  {_fmt(r.mean_deg):>5}  "
            f"{_fmt(r.sd_deg):>4}  {_fmt(r.hip_flexion_deg, 0):>11}"
        )
    by_side = {r.side: r for r in results}
    if "r" in by_side and "l" in by_side:
        diff = by_side["r"].mean_deg - by_side["l"].mean_deg
        band = references.asymmetry
        lines.append(
            f"  asymmetry right - left: {_fmt(diff)} deg: {band.classify(diff)} "
            f"(flagged above {band.low_deg:g}-{band.high_deg:g} deg [{band.status}])"
        )
    refs = references.of(test.test)
    if refs:
        lines.append("references (status in brackets):")
        for r in results:
            for c in compare(r.mean_deg, refs):
                where = (
                    f"{_fmt(abs(c.difference_deg))} deg {c.verdict}"
                    if c.verdict in ("below", "above")
                    else c.verdict
                )
                lines.append(
                    f"  {_SIDE_NAMES[r.side]}: {c.reference.kind} {c.reference.text} "
                    f"[{c.reference.status}]: {where} ({c.reference.reference})"
                )
    noise = references.noise
    for side, change in changes.items():
        if change is None:
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(change.previous_wall_ns / 1e9))
        note = "" if change.comparable else " (not comparable: other pelvis reference)"
        lines.append(
            f"history, {_SIDE_NAMES[side]}: {_fmt(change.previous_mean_deg)} deg on {when} -> "
            f"change {change.change_deg:+.1f} deg: {change.verdict} (MDC "
            f"{noise.low_deg:g}-{noise.high_deg:g} deg [{noise.status}]){note}"
        )
    return lines


def _simulated_table(args: argparse.Namespace, test: ClinicalTest, side: Side) -> AngleTable:
    try:
        motion = clinical_motion(
            test.test,
            side,
            trials=args.trials,
            ir_deg=args.sim_value,
            ir_spread_deg=args.sim_spread,
            knee_deg=args.sim_knee,
            pelvis_lift_deg=args.sim_pelvis_lift,
            seed=args.seed + (0 if side == "r" else 1),
        )
    except ValueError as err:
        raise CommandError(f"cannot simulate this test: {err}") from err
    try:
        simulated = simulate_clinical_test(
            clinical_session(motion),
            pelvis_board=not args.sim_no_pelvis,
            seed=args.seed,
            mount_seed=args.seed,
        )
    except CalibrationError as err:
        raise CommandError(f"no joint angles: {err}", EXIT_FAILED) from err
    return simulated.table


def _recorded_table(
    args: argparse.Namespace,
    catalog: Catalog,
    ble: BleEnvironment,
    test: ClinicalTest,
    side: Side,
) -> tuple[AngleTable, str]:
    """Record one side with the catalog rig; the angle table and the capture file."""
    rig = catalog.rig(args.rig)
    source = rig_source(args, catalog, rig, ble)
    folder = project_dir(args) / "captures"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"cannot create {folder}: {err}", EXIT_FAILED) from err
    label = f"{test.test}-{_SIDE_NAMES[side]}"
    capture = folder / capture_name(args.athlete or "anonymous", label, time.time())
    recorder = Recorder(
        source,
        capture,
        metadata={"athlete": args.athlete, "exercise": label, "rig_name": rig.name},
        params=RecordParams(duration_s=args.duration, fusion=CLINICAL_FUSION),
        catalog=catalog,
        rig_name=rig.name,
    )
    print(
        f"recording {args.duration:g} s: start with step 1 (stand still, then the calibration "
        "squats), then get into position ..."
    )
    try:
        ble.run(recorder.run())
    except OSError as err:
        raise CommandError(f"session failed: {err}", EXIT_FAILED) from err
    pipeline = recorder.pipeline
    if pipeline is None or pipeline.core is None:
        raise CommandError("the rig has no thigh and shank of one leg: nothing fused", EXIT_FAILED)
    if pipeline.calibration_error is not None:
        raise CommandError(f"no joint angles: {pipeline.calibration_error}", EXIT_FAILED)
    return pipeline.table(), str(capture)


def run(args: argparse.Namespace, ble: BleEnvironment) -> int:
    """Run the guided test; returns the exit status."""
    try:
        return _run(args, ble)
    except (CatalogError, ReferenceFileError) as err:
        print(f"coxa assess: {err}", file=sys.stderr)
        return 2
    except CommandError as err:
        print(f"coxa assess: {err}", file=sys.stderr)
        return err.status


def _run(args: argparse.Namespace, ble: BleEnvironment) -> int:
    if args.sim == (args.rig is not None):
        raise CommandError("measure with a rig (--rig NAME) or simulate (--sim), one of them")
    test = protocol(args.test)
    references = load_references(args.references)
    analysis = ClinicalTestAnalysis(test.test, AssessParams())
    results: list[SideResult] = []
    captures: dict[Side, str | None] = {}
    with open_catalog(args) as catalog:
        for side in _SIDES[args.side]:
            print()
            for line in instructions(test, side, args.trials):
                print(line)
            if args.sim:
                print("(simulated athlete and boards: calibration, then the test, one recording)")
                table, captures[side] = _simulated_table(args, test, side), None
            else:
                table, captures[side] = _recorded_table(args, catalog, ble, test, side)
            try:
                result = analysis.measure(table, side, args.trials)
            except ValueError as err:
                raise CommandError(f"cannot measure: {err}", EXIT_FAILED) from err
            print(f"{_SIDE_NAMES[side]} side, {result.label}:")
            for line in trial_lines(result):
                print(line)
            results.append(result)
        measured_ns = time.time_ns()
        changes: dict[Side, Change | None] = {}
        if args.athlete:
            for r in results:
                changes[r.side] = change_since_previous(
                    catalog, args.athlete, r, references, measured_ns
                )
        for line in summary_lines(test, results, references, changes):
            print(line)
        points = to_capacity_points(results, datetime.fromtimestamp(measured_ns / 1e9, UTC))
        for p in points:
            print(
                f"capacity point, {_SIDE_NAMES[p.side]}: IR {_fmt(p.ir_deg)} +- {_fmt(p.sd_deg)} "
                f"deg at hip flexion {_fmt(p.hip_flexion_deg, 0)} deg"
            )
        if args.no_store:
            print("not stored (--no-store)")
        elif not args.athlete:
            print("not stored: no --athlete given")
        else:
            for r in results:
                if r.trials:
                    store_result(catalog, r, args.athlete, measured_ns, captures[r.side])
            print(f"stored for athlete {args.athlete} in {catalog.path}")
    if not all(r.trials for r in results):
        return EXIT_FAILED
    return EXIT_OK
