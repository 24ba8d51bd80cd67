"""Accuracy of the exercise recognition (:func:`coxa.analysis.recognize_exercise`) on simulated
sets of every exercise: confusion matrix and accuracy per exercise and case (issue #6).

The sets are those of ``tools/rep_accuracy.py`` (loaded from beside this file, so both use
one set model): set ``k`` of an exercise and case is ``RepSet.draw(exercise, case, k)``, two
sets of 3-6 reps with drawn depth over the exercise's whole range, drawn hip rotation, tempo,
working side and strap mountings, simulated through the whole host path and fused offline
(a 90/90 recording starts standing, then the athlete sits down on the floor). Cases:
``clean``, ``noisy``, ``noisy+drift`` (see ``tools/rep_accuracy.py``). The recognition's
default prototypes were derived from sets drawn with seeds 1000-1014 (and from the true
angles), disjoint from the seeds 0 to ``--sets - 1`` measured here.

Each set is recognised twice:

- **as recorded**: the fused table as it is (every exercise with a pelvis board; squats drawn
  with or without one, as ``tools/rep_accuracy.py`` draws them);
- **pelvis board removed** (sets recorded with one): the same fused table with the pelvis
  columns dropped and the hip angles recomputed relative to the room, as the fusion core
  reports them without a pelvis board (:func:`without_pelvis_board`).

A set counts as *correct* when the recognised exercise is the simulated one, *confident* when
:attr:`~coxa.analysis.Recognition.confident` is set (what ``--exercise auto`` would accept).
Sets whose calibration the fusion core refuses are counted apart (not a recognition error).

Usage::

    .venv/bin/python tools/recognize_accuracy.py --jobs 2        # 6 sets per exercise and case
    .venv/bin/python tools/recognize_accuracy.py --sets 8 --jobs 2   # the docs' table
    .venv/bin/python tools/recognize_accuracy.py --sets 2 --exercises squat hinge --verbose
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

import rep_accuracy  # a sibling script (tools/ is first on sys.path)
from coxa.analysis import EXERCISE_IDS, Recognition, recognize_exercise
from coxa.fusion import AngleTable, CalibrationError, joint_angles_deg

CASES: tuple[str, ...] = rep_accuracy.CASES
SIM_EXERCISES: tuple[str, ...] = rep_accuracy.SIM_EXERCISES
Variant = Literal["as recorded", "pelvis board removed"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)
_NONE = "none"


def without_pelvis_board(table: AngleTable) -> AngleTable:
    """The table as the fusion core reports it without a pelvis board (a table without one is
    returned as it is).

    The hip angles are recomputed from the fused thigh (and shank) orientations relative to a
    neutral pelvis facing the core's room forward direction, which is recovered from the
    pelvis columns: with ``facing = 0`` the pelvis would read ``pelvis_rotation`` larger by the
    facing (exact to about 0.1 deg for the tilts of these sets). Each recomputed column keeps
    the table's own error (the table's column minus the same column recomputed with the pelvis),
    so noise added to true angles (90/90 sets) stays. The pelvis columns and orientation go.
    """
    quats = table.quat_world_segment_wxyz
    if table.hip_reference == "room" or "pelvis" not in quats:
        return table
    pelvis_only = joint_angles_deg({"pelvis": quats["pelvis"]}, np.zeros(table.n_rows))
    facing_rad = np.radians(pelvis_only["pelvis_rotation"] - table.angles_deg["pelvis_rotation"])
    with_pelvis = joint_angles_deg(quats, facing_rad)
    legs = {name: quat for name, quat in quats.items() if name != "pelvis"}
    room = joint_angles_deg(legs, facing_rad)
    angles = {
        name: values + (table.angles_deg[name] - with_pelvis[name]) for name, values in room.items()
    }
    return AngleTable(table.t_us, angles, legs, hip_reference="room")


@dataclass(frozen=True)
class Outcome:
    """One recognition of one set (or the fusion core's refusal to calibrate it)."""

    exercise: str
    case: str
    seed: int
    side: str
    depth_fraction: float
    variant: Variant
    hip_reference: str
    recognition: Recognition | None
    refused: str = ""

    @property
    def found(self) -> str:
        """Recognised exercise id, ``'none'`` when nothing was recognised."""
        if self.recognition is None:
            return _NONE
        return self.recognition.exercise or _NONE

    @property
    def correct(self) -> bool:
        """The recognised exercise is the simulated one."""
        return self.recognition is not None and self.recognition.exercise == self.exercise

    @property
    def confident(self) -> bool:
        """The recognition is confident."""
        return self.recognition is not None and self.recognition.confident


def recognize_set(rep_set: Any) -> list[Outcome]:
    """Simulate and fuse one set (``rep_accuracy.RepSet``) and recognise it as recorded and,
    when it has a pelvis board, without it. A set whose calibration the fusion core refuses
    gives one outcome without a recognition (``refused`` says why)."""

    def outcome(
        variant: Variant, reference: str, recognition: Recognition | None, refused: str = ""
    ) -> Outcome:
        return Outcome(
            exercise=rep_set.exercise,
            case=rep_set.case,
            seed=rep_set.seed,
            side=rep_set.side,
            depth_fraction=rep_set.depth_fraction,
            variant=variant,
            hip_reference=reference,
            recognition=recognition,
            refused=refused,
        )

    try:
        table = rep_accuracy.fuse(rep_accuracy.simulate(rep_set))
    except CalibrationError as error:
        return [outcome("as recorded", "-", None, str(error))]
    tables: list[tuple[Variant, AngleTable]] = [("as recorded", table)]
    if table.hip_reference == "pelvis":
        tables.append(("pelvis board removed", without_pelvis_board(table)))
    return [outcome(v, t.hip_reference, recognize_exercise(t)) for v, t in tables]


def _share(n: int, total: int) -> str:
    return f"{n}/{total} ({n / total:.0%})" if total else "-"


def accuracy_table(outcomes: Sequence[Outcome], variant: Variant) -> str:
    """Markdown: per exercise and case, sets, correct, confident and correct, confident and
    wrong; then every case and all together."""
    rows = [o for o in outcomes if o.variant == variant]
    lines = [
        "| exercise | case | sets | correct | confident and correct | confident and wrong | "
        "not fused (calibration refused) |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: list[tuple[str, str, list[Outcome]]] = [
        (exercise, case, [o for o in rows if o.exercise == exercise and o.case == case])
        for exercise in EXERCISE_IDS
        for case in CASES
    ]
    groups += [("all", case, [o for o in rows if o.case == case]) for case in CASES]
    groups.append(("all", "all", rows))
    for exercise, case, group in groups:
        refused = sum(o.recognition is None for o in group)
        group = [o for o in group if o.recognition is not None]
        if not group and not refused:
            continue
        n = len(group)
        correct = sum(o.correct for o in group)
        sure = sum(o.correct and o.confident for o in group)
        sure_wrong = sum(not o.correct and o.confident for o in group)
        lines.append(
            f"| {exercise} | {case} | {n} | {_share(correct, n)} | {_share(sure, n)} | "
            f"{_share(sure_wrong, n)} | {refused} |"
        )
    return "\n".join(lines)


def confusion_matrix(outcomes: Sequence[Outcome], variant: Variant) -> str:
    """Markdown: simulated exercise (rows) against recognised exercise (columns), every case."""
    rows = [o for o in outcomes if o.variant == variant and o.recognition is not None]
    columns = [*EXERCISE_IDS, _NONE]
    lines = [
        "| simulated \\ recognised |" + "".join(f" {c} |" for c in columns),
        "|---|" + "---|" * len(columns),
    ]
    for exercise in EXERCISE_IDS:
        group = [o for o in rows if o.exercise == exercise]
        if not group:
            continue
        counts = [sum(o.found == c for o in group) for c in columns]
        lines.append(f"| {exercise} |" + "".join(f" {n or '.'} |" for n in counts))
    return "\n".join(lines)


def report(outcomes: Sequence[Outcome]) -> str:
    """Every table of the tool."""
    parts: list[str] = []
    for variant in VARIANTS:
        if not any(o.variant == variant for o in outcomes):
            continue
        parts += [
            f"### {variant}",
            "",
            accuracy_table(outcomes, variant),
            "",
            "Confusion matrix, every case:",
            "",
            confusion_matrix(outcomes, variant),
            "",
        ]
    return "\n".join(parts)


def _describe(o: Outcome) -> str:
    head = (
        f"{o.exercise} {o.case} seed {o.seed} side {o.side} depth {o.depth_fraction:.2f} "
        f"{o.variant} ({o.hip_reference})"
    )
    r = o.recognition
    if r is None:
        return f"{head}: not fused, calibration refused: {o.refused}"
    return f"{head}: found {o.found} confident {r.confident} margin {r.margin:.1f}: {r.reason}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=6, help="sets per exercise and case")
    parser.add_argument(
        "--exercises", nargs="+", choices=SIM_EXERCISES, default=list(SIM_EXERCISES)
    )
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--verbose", action="store_true", help="also one line per wrong or unsure recognition"
    )
    args = parser.parse_args(argv)
    if args.sets < 1:
        parser.error("--sets must be >= 1")
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore", RuntimeWarning)
    rep_sets = [
        rep_accuracy.RepSet.draw(exercise, case, k)
        for exercise in args.exercises
        for case in args.cases
        for k in range(args.sets)
    ]
    started = time.perf_counter()
    found = rep_accuracy.accuracy_table.run_jobs(recognize_set, rep_sets, args.jobs)
    outcomes = [outcome for outcomes_of_set in found for outcome in outcomes_of_set]
    if args.verbose:
        for outcome in outcomes:
            if not outcome.correct or not outcome.confident:
                print(_describe(outcome))
        print()
    print(report(outcomes))
    print(f"{len(rep_sets)} sets in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
