"""``coxa demo``: a simulated rig through the wire protocol and the fusion core."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from coxa.analysis import FindingRules, Rep, RepCounter, load_demand
from coxa.cli._readout import (
    LiveState,
    TerminalPanel,
    TruthRep,
    findings_by_rep,
    render_summary,
)
from coxa.fusion import AngleTable, Calibration, CalibrationError, FusionCore, FusionParams
from coxa.geometry import Side
from coxa.sim import (
    Exercise,
    ImuParams,
    MotionParams,
    RadioParams,
    RigParams,
    RigRecording,
    simulate_rig,
)
from coxa.sources import LinkDecoder, ReceivedFrame, decode_packets

_TICK_US = 50_000
# Rep-to-rep variation of the simulated athlete, so the summary shows that each rep is measured.
_DEPTH_SPREAD_DEG = 4.0
_HIP_IR_SPREAD_DEG = 3.0
_PANEL_EVERY_US = 100_000
#: Exercises that leave a knee almost straight (the trailing leg of a step-up, a shallow
#: hinge): the rig is calibrated first on a separate squat recording with the same straps.
_CALIBRATE_FIRST = ("step_up", "crossover_step_up", "hinge")
#: The exercises the demo offers: every simulated exercise set whose reps the analysis counts
#: and that the fusion core can calibrate (from its own start, or after a squat calibration).
#: Not offered: 90/90 transitions and the clinical tests (prone, seated, supine IR, straight
#: leg raise) start seated or lying, with no standing rest to calibrate from (they need a
#: standing calibration first, as 'coxa assess --sim' does), and 'rest' has no reps.
DEMO_EXERCISES: tuple[Exercise, ...] = (
    "squat",
    "split_squat",
    "ffe_split_squat",
    "step_up",
    "crossover_step_up",
    "hinge",
)
_CALIBRATION_SQUATS = 5


def add_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the ``demo`` sub-command with the ``add_parser`` of the CLI's sub-parsers."""
    parser = add(
        "demo",
        help="simulated boards doing an exercise set, live readout and per-rep summary",
        description=(
            "Simulate a rig (pelvis, both thighs, both shanks) doing a set, send every sample "
            "through protocol v1 frames and BLE packets, and run the fusion core on them: "
            "standing and functional calibration, heading correction, ISB joint angles, rep "
            "counting and per-rep findings. No hardware needed."
        ),
        epilog=(
            "90/90 transitions and the clinical tests are not offered: they start seated or "
            "lying, with no standing rest to calibrate from (see 'coxa assess --sim')"
        ),
    )
    parser.add_argument(
        "--exercise",
        choices=DEMO_EXERCISES,
        default="squat",
        help="the set (default squat; ids with '-' work too)",
        type=lambda text: text.replace("-", "_"),
    )
    parser.add_argument("--reps", type=int, default=5, help="reps in the set (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop the session after S seconds (default: the whole set)",
    )
    parser.add_argument(
        "--no-live", action="store_true", help="no live panel: just the summary, at full speed"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="live playback speed factor (default 1: real time)"
    )
    parser.add_argument(
        "--imu",
        choices=["clean", "typical"],
        default="clean",
        help="IMU errors: none, or typical MEMS noise/bias/scale (default clean)",
    )
    parser.add_argument(
        "--straps",
        choices=["nominal", "realistic"],
        default="nominal",
        help="boards exactly at the nominal placement, or 10-30 deg off it (default nominal)",
    )
    parser.add_argument(
        "--loss", type=float, default=0.0, help="fraction of BLE packets lost in bursts (0-0.5)"
    )
    parser.add_argument("--no-pelvis", action="store_true", help="leave the pelvis board off")
    parser.set_defaults(handler=run)


@dataclass
class _Session:
    """Link decoders, fusion core and rep counter of one demo run, fed tick by tick."""

    recording: RigRecording
    mounts: Calibration | None = None
    links: dict[int, LinkDecoder] = field(default_factory=dict[int, LinkDecoder])
    core: FusionCore | None = None
    counter: RepCounter = field(init=False)
    latest_rotation: dict[Side, float] = field(default_factory=dict[Side, float])
    latest_knee: dict[Side, float] = field(default_factory=dict[Side, float])
    next_packet: int = 0

    def __post_init__(self) -> None:
        self.counter = RepCounter(self.recording.params.motion.exercise)
        self.links = {board_id: LinkDecoder(board_id) for board_id in self.recording.boards}
        self.core = FusionCore(self.recording.segments_by_board, mounts=self.mounts)

    def advance(self, t_host_us: int) -> list[Rep]:
        """Deliver every packet received up to ``t_host_us`` and process the result."""
        core = self.core
        if core is None:
            return []
        packets = self.recording.packets
        frames: list[ReceivedFrame] = []
        while self.next_packet < len(packets) and packets[self.next_packet].t_rx_us <= t_host_us:
            packet = packets[self.next_packet]
            received = self.links[packet.board_id].push(packet.t_rx_us, packet.packet)
            if received is not None:
                frames.append(received)
            self.next_packet += 1
        block = core.update_frames(frames)
        self._remember(block)
        return self.counter.update(block)

    def _remember(self, block: AngleTable) -> None:
        for side in ("r", "l"):
            for name, store in (
                (f"hip_rotation_{side}", self.latest_rotation),
                (f"knee_angle_{side}", self.latest_knee),
            ):
                values = block.angles_deg.get(name)
                if values is not None and values.size and not math.isnan(values[-1]):
                    store[side] = float(values[-1])

    def status(self) -> str:
        """One-line status for the live panel."""
        core = self.core
        if core is None or core.calibration is None:
            return "calibrating: stand still, then three slow reps"
        lost = sum(link.lost_packets for link in self.links.values())
        return f"streaming, {len(self.links)} boards, {lost} packets lost"


def _truth_reps(recording: RigRecording, t_end_s: float) -> list[TruthRep]:
    truth = recording.truth
    reps: list[TruthRep] = []
    for i in range(truth.end_t_s.size):
        if truth.end_t_s[i] > t_end_s:
            break
        reps.append(
            TruthRep(
                peak_hip_rotation_deg={
                    side: float(truth.hip_ir_peak_deg(side)[i]) for side in ("r", "l")
                },
                peak_knee_deg={
                    side: float(truth.knee_flexion_peak_deg(side)[i]) for side in ("r", "l")
                },
            )
        )
    return reps


def _rig_params(args: argparse.Namespace) -> RigParams:
    if not 0.0 <= args.loss <= 0.5:
        raise SystemExit("coxa demo: --loss must be within 0..0.5")
    if args.reps < 1:
        raise SystemExit("coxa demo: --reps must be at least 1")
    segments = ("femur_r", "femur_l", "tibia_r", "tibia_l")
    if not args.no_pelvis:
        segments = ("pelvis", *segments)
    return RigParams(
        motion=MotionParams(
            exercise=args.exercise,
            reps=args.reps,
            seed=args.seed,
            depth_spread_deg=_DEPTH_SPREAD_DEG,
            hip_ir_spread_deg=_HIP_IR_SPREAD_DEG,
        ),
        segments=segments,
        mounting=args.straps,
        imu=ImuParams.clean() if args.imu == "clean" else ImuParams(),
        radio=RadioParams.lossy(args.loss),
        seed=args.seed,
    )


def _calibration_mounts(params: RigParams) -> Calibration:
    """Calibrate the rig on a separate simulated recording with the same straps: stand still,
    then :data:`_CALIBRATION_SQUATS` slow squats (what the product asks before exercises that
    leave a knee almost straight)."""
    motion = replace(params.motion, exercise="squat", reps=_CALIBRATION_SQUATS)
    recording = simulate_rig(replace(params, motion=motion))
    frames = decode_packets(recording.packets)
    core = FusionCore(recording.segments_by_board, FusionParams.offline())
    core.update_frames(frames)
    core.finish()
    assert core.calibration is not None  # finish() raises otherwise
    return core.calibration


def run(args: argparse.Namespace) -> int:
    """Run the demo and print the summary; returns the exit status."""
    params = _rig_params(args)
    mounts: Calibration | None = None
    if args.exercise in _CALIBRATE_FIRST:
        try:
            mounts = _calibration_mounts(params)
        except CalibrationError as error:
            print(f"calibration recording refused: {error}")
            return 1
        print(
            f"coxa demo: a {args.exercise} leaves a knee almost straight, so the rig was "
            f"calibrated first on {_CALIBRATION_SQUATS} squats with the same straps"
        )
    recording = simulate_rig(params)
    duration_s = (
        recording.duration_s if args.duration is None else min(args.duration, recording.duration_s)
    )
    session = _Session(recording, mounts)
    live = not args.no_live
    panel = TerminalPanel(sys.stdout, in_place=sys.stdout.isatty())
    epoch_us = params.host_epoch_us
    end_us = epoch_us + int(duration_s * 1e6)
    print(
        f"coxa demo: {args.exercise}, {args.reps} reps, seed {args.seed}, "
        f"{len(recording.boards)} simulated boards ({args.imu} IMUs, {args.straps} straps)"
    )
    started = time.monotonic()
    last_panel_us = -_PANEL_EVERY_US
    for t_us in np.arange(epoch_us, end_us + _TICK_US, _TICK_US).tolist():
        session.advance(int(t_us))
        if live and t_us - last_panel_us >= _PANEL_EVERY_US:
            last_panel_us = t_us
            wait_s = (t_us - epoch_us) / 1e6 / args.speed - (time.monotonic() - started)
            if wait_s > 0:
                time.sleep(wait_s)
            core = session.core
            panel.show(
                LiveState(
                    t_s=(t_us - epoch_us) / 1e6,
                    status=session.status(),
                    hip_reference=core.hip_reference if core else "room",
                    rotation_deg=session.latest_rotation,
                    knee_deg=session.latest_knee,
                    reps=len(session.counter.reps),
                    in_rep=session.counter.in_rep,
                )
            )
    core = session.core
    if core is None:
        return 1
    try:
        session.counter.update(core.finish())
    except CalibrationError as error:
        print(f"no calibration, no angles: {error}")
        return 1
    print()
    reps = session.counter.reps
    rules = FindingRules(load_demand())
    findings = findings_by_rep(reps, rules.evaluate(reps))
    session_findings, notes = rules.evaluate_session(reps)
    truth = _truth_reps(recording, duration_s)
    for line in render_summary(reps, core.hip_reference, truth, findings, session_findings, notes):
        print(line)
    print("(findings without the athlete's capacity: see 'coxa record --athlete')")
    return 0
