"""Benchmark of the BLE link and the recorder (issue #5, "Figures"): simulated boards over the
virtual radio, through the product's own host path, with the host's CPU measured on its own.

What runs (the product's real path, nothing of ``coxa`` mocked)::

    peripheral process (not "host")               host process (measured)
    virtual boards (coxa.sources.virtual)          bumble host stack (BlueZ's part in reality)
      -> their bumble stacks and controllers         -> bleak API (virtual bleak backend)
      -> virtual radio (bumble LocalLink)              -> coxa.sources.BleSource
      -> the central's controller  ==HCI/TCP==>        -> coxa.record.Recorder: capture first,
         (127.0.0.1, started and stopped here)            then the live fusion pipeline

The boards and the virtual radio with its controllers are the radio hardware and the boards in
reality, so they run in a separate process; the HCI link between the central's controller and
its host stack is the UART/USB line of a real Bluetooth adapter. The host process's CPU time
(``os.times``: user plus system, every thread) is then the host's. A statistical CPU profile of
the host process (SIGPROF every ``--profile-ms`` of its CPU time, :class:`CpuProfiler`) splits
it into components: the bumble host stack (which BlueZ runs in the OS in reality), the bleak
shim, ``BleSource``, the capture writer, the fusion pipeline, the event loop.

Faults, as ``coxa record --sim``: ``--loss`` is the long-run fraction of data notifications
lost in Gilbert-Elliott bursts of 4 notifications on average (``BoardFaults``);
``--disconnects`` drops the link of a random board at a random time (``BoardFaults.drop_at_s``)
and keeps that board out of range for 1-5 s (the central's controller ignores its advertising),
so the host reconnects with its own back-off and asks for backfill. The boards stand still for
``lead_per_board_s`` per board first (pairing and the first connections happen meanwhile, the
stream starts with the standing rest the fusion calibrates on); samples taken before the
stream started are not expected in the capture. The session ends when every board has taken
its last sample: the recorder is stopped (``BleSource.request_stop``, which collects the last
backfills) and the capture checked.

Figures (definitions):

- **samples lost**: ``coxa.record.check_capture`` of the capture, as ``coxa capture check``
  prints it (sequence gaps between each board's first and last captured sample); also against
  the boards' truth (every sample a board took from the first one the host received to its
  last one).
- **host CPU**: CPU seconds of the host process per wall second while the source is open
  (connections, streaming, reconnections, the last backfills), in % of one core: overall and
  the median of 1-minute windows; the bumble host stack's share of it.
- **delay**: a row of the fusion pipeline at host time ``g`` (its grid is on the host clock,
  mapped from each board's clock by the pipeline's clock sync) holds what the boards sampled at
  ``g``. The boards sampled it at true host time ``g - bias``, ``bias`` being the error of the
  clock map (a least-delay envelope, so about the smallest link delay; measured here per board
  with ``coxa.fusion.ClockSync`` on the capture against the boards' true clocks: a virtual
  board takes sample ``k`` at host monotonic time ``t_start + t_us[k] - t_us[0]``). The delay of
  a row is the host monotonic time at which ``Pipeline.update`` returned it minus the earliest
  true sampling time over the fused boards. Not counted: the rows the calibration releases at
  once (they wait for it by design) and the rows out after the stop (the boards had taken
  their last sample: those rows wait for the drain's stray frames or ``finish()``). The
  slowest rows and the longest pause between two outputs are located in board time, to be
  compared with the drops (the calibration's own computation is the usual one). Also given:
  sample -> host receive time of the live frame that first brought it.
- **link drops**: per drop, the time from the drop to the board's first notification after
  the reconnection, and to the moment every sample it took before that was in the capture.

Usage::

    .venv/bin/python tools/bench_link.py                   # the issue's run: 7 boards, 10 min
    .venv/bin/python tools/bench_link.py --minutes 1 --boards 7
    .venv/bin/python tools/bench_link.py --minutes 0.1 --boards 2 --disconnects 1 --json r.json

Not a test (``tests/tools/test_bench_link.py`` runs a short one); numbers depend on the machine
and its load (``/proc/loadavg`` is printed with them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import selectors
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

import bleak
import bumble
import numpy as np
from bumble import ll
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.keys import MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport import open_transport
from bumble.transport.common import Transport
from bumble.transport.tcp_server import open_tcp_server_transport_with_socket
from numpy.typing import NDArray

import coxa
from coxa import wire
from coxa.body import SEGMENTS, SegmentName
from coxa.capture import LinkKind, iter_capture
from coxa.fusion import ClockSync, FusionParams
from coxa.record import Progress, Recorder, RecordParams, RecordResult, check_capture
from coxa.sim import ImuParams, Motion, MotionParams, RigParams, simulate_rig
from coxa.sources import (
    UNASSIGNED_SEGMENT,
    Arrival,
    BleBackend,
    BleBoard,
    BleParams,
    BleSource,
    BoardHealth,
    LinkDecoder,
    default_sim_rig,
    pair_board,
)
from coxa.sources.virtual import (
    BoardFaults,
    BoardSamples,
    VirtualBleakClient,
    VirtualBleakScanner,
    VirtualRadio,
    board_samples,
)

_LOG = logging.getLogger("bench_link")

HOST_ADDRESS = "C6:0A:FF:FF:00:02"
"""Random static address of the host's central (the radio's own in-process central keeps
``coxa.sources.virtual.CENTRAL_ADDRESS``, unused here)."""

_U32 = 1 << 32


@dataclass(frozen=True)
class LinkBenchParams:
    """One benchmark run.

    Attributes
    ----------
    minutes : float
        Length of the session proper, min (before it, the boards stand still for the lead,
        ``lead_per_board_s`` per board). Default 10 [src: issue #5].
    boards : int
        Boards (five on body segments, more are extra boards). Default 7 [src: issue #5].
    loss : float
        Long-run fraction of data notifications lost in bursts. Default 0.05 [src: issue #5].
    disconnects : int
        Forced link drops of random boards. Default 3 [src: issue #5].
    mean_burst_packets : float
        Mean loss burst, notifications. Default 4 [assumption, as ``coxa.sim.RadioParams``].
    away_s : tuple of float
        Range of the time a dropped board stays out of range, s. Default (1, 5) [assumption,
        as ``coxa.sources.SimParams.disconnect_s``].
    seed : int
        Seed of the simulated rig, the losses and the disconnections. Default 0.
    att_mtu : int
        ATT MTU of the host's central. Default 247 [src: protocol v1].
    profile_interval_ms : float
        CPU time between two samples of the host's CPU profile, ms (0: no split of the CPU).
        Default 1 [assumption: the kernel's tick is the real floor; a sample costs a few us].
    window_s : float
        CPU windows, s. Default 60 [src: issue #5 brief, 1-minute windows].
    drain_limit_s : float
        Longest wait for the last backfills after the boards' last sample, s. Default 30
        [assumption].
    lead_per_board_s : float
        The boards power on this long per board before the session proper (pairing and the
        first connections happen meanwhile; they stand still, so the stream starts with the
        standing rest the fusion calibrates on), s. Default 2 [assumption: measured about
        1.3 s per board for pairing plus connecting on the virtual radio].
    """

    minutes: float = 10.0
    boards: int = 7
    loss: float = 0.05
    disconnects: int = 3
    mean_burst_packets: float = 4.0
    away_s: tuple[float, float] = (1.0, 5.0)
    seed: int = 0
    att_mtu: int = wire.RECOMMENDED_ATT_MTU
    profile_interval_ms: float = 1.0
    window_s: float = 60.0
    drain_limit_s: float = 30.0
    lead_per_board_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.minutes > 0.0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.boards < 2:
            raise ValueError(f"boards must be at least 2, got {self.boards}")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"loss must lie in [0, 1), got {self.loss}")
        if self.disconnects < 0:
            raise ValueError(f"disconnects must be >= 0, got {self.disconnects}")
        if self.mean_burst_packets < 1.0:
            raise ValueError("mean_burst_packets must be >= 1")
        lo, hi = self.away_s
        if not 0.0 < lo <= hi:
            raise ValueError(f"away_s must be 0 < min <= max, got {self.away_s}")
        if self.profile_interval_ms < 0.0 or not self.window_s > 0.0:
            raise ValueError("need profile_interval_ms >= 0 and window_s > 0")
        if not self.drain_limit_s > 0.0:
            raise ValueError(f"drain_limit_s must be positive, got {self.drain_limit_s}")
        if self.lead_per_board_s < 0.0:
            raise ValueError(f"lead_per_board_s must be >= 0, got {self.lead_per_board_s}")

    @property
    def duration_s(self) -> float:
        """The session proper, seconds (after the lead)."""
        return self.minutes * 60.0

    @property
    def lead_s(self) -> float:
        """Time the boards stand still before the session proper, s."""
        return self.lead_per_board_s * self.boards


# ----------------------------------------------------------------------------------------
# The boards: simulation, faults
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disconnect:
    """A planned link drop: ``board_id`` drops at board time ``at_s`` and stays away ``away_s``."""

    board_id: int
    at_s: float
    away_s: float


def plan_disconnects(params: LinkBenchParams, board_ids: Sequence[int]) -> list[Disconnect]:
    """Random boards at random times within 10-90 % of the session proper, sorted by time.

    Two drops of one board never overlap (a later one is moved after the earlier one's
    return plus 1 s).
    """
    rng = np.random.default_rng(np.random.SeedSequence([params.seed, 0xD15C]))
    plan: list[Disconnect] = []
    for _ in range(params.disconnects):
        board_id = int(board_ids[int(rng.integers(len(board_ids)))])
        away_s = float(rng.uniform(*params.away_s))
        span_s = max(0.0, params.duration_s - away_s)
        at_s = params.lead_s + float(rng.uniform(0.1, 0.9)) * span_s
        plan.append(Disconnect(board_id, at_s, away_s))
    plan.sort(key=lambda d: d.at_s)
    free_from: dict[int, float] = {}
    out: list[Disconnect] = []
    for d in plan:
        at_s = max(d.at_s, free_from.get(d.board_id, -math.inf))
        free_from[d.board_id] = at_s + d.away_s + 1.0
        out.append(Disconnect(d.board_id, at_s, d.away_s))
    return sorted(out, key=lambda d: d.at_s)


def _motion(duration_s: float, lead_s: float) -> MotionParams:
    """Standing for ``lead_s``, then squats (default tempo) filling at least ``duration_s``."""
    one = MotionParams(reps=1)
    one = dataclasses.replace(one, rest_before_s=one.rest_before_s + lead_s)
    cycle = one.descent_s + one.bottom_pause_s + one.ascent_s + one.top_pause_s
    reps = 1 + max(0, math.floor((duration_s + lead_s - Motion(one).duration_s) / cycle))
    motion = dataclasses.replace(one, reps=reps)
    pad = max(0.0, duration_s + lead_s - Motion(motion).duration_s) + 1.0
    return dataclasses.replace(motion, rest_after_s=motion.rest_after_s + pad)


def simulate_boards(params: LinkBenchParams) -> tuple[list[BoardSamples], dict[int, str]]:
    """The rig (``default_sim_rig``) and every board's samples, lead plus session long.

    Extra boards (beyond five) are worn beside a segment board (as ``coxa.sources.SimSource``).
    """
    rig = default_sim_rig(params.boards, params.seed)
    ids = list(rig)
    known: dict[str, SegmentName] = {s: s for s in SEGMENTS}
    sim_segments: list[SegmentName] = [
        known.get(rig[b], SEGMENTS[i % len(SEGMENTS)]) for i, b in enumerate(ids)
    ]
    recording = simulate_rig(
        RigParams(
            motion=_motion(params.duration_s, params.lead_s),
            segments=tuple(sim_segments),
            imu=ImuParams.clean(),
            seed=params.seed,
        )
    )
    renames = dict(zip(recording.boards, ids, strict=True))
    out: list[BoardSamples] = []
    for samples in board_samples(recording, renames):
        rel_us = samples.t_us - samples.t_us[0]
        end_us = round((params.lead_s + params.duration_s) * 1e6)
        n = int(np.searchsorted(rel_us, end_us, side="left"))
        size = wire.QUAT_SAMPLE_BYTES
        out.append(
            dataclasses.replace(samples, t_us=samples.t_us[:n], payload=samples.payload[: n * size])
        )
    return out, rig


def faults_of(
    params: LinkBenchParams, board_id: int, index: int, plan: Sequence[Disconnect]
) -> BoardFaults:
    """The faults one board injects: bursty loss and its planned drops."""
    p_leave = 1.0 / params.mean_burst_packets
    p_enter = params.loss * p_leave / (1.0 - params.loss)
    return BoardFaults(
        drop_at_s=tuple(d.at_s for d in plan if d.board_id == board_id),
        p_enter_loss=p_enter,
        p_leave_loss=p_leave,
        seed=params.seed * 1000 + index,
    )


def _address_key(address: object) -> str:
    return str(address).split("/")[0].upper()


class RangeController(Controller):
    """A bumble controller that hears no advertising from boards out of range (``away``)."""

    def __init__(self, name: str, transport: Transport, link: Any, away: set[str]) -> None:
        super().__init__(name, host_source=transport.source, host_sink=transport.sink, link=link)
        self.away = away

    def on_ll_advertising_pdu(self, packet: ll.AdvertisingPdu) -> None:
        if isinstance(packet, ll.AdvInd | ll.AdvExtInd) and (
            _address_key(packet.advertiser_address) in self.away
        ):
            return
        super().on_ll_advertising_pdu(packet)


def _emit(event: str, **data: object) -> None:
    print(json.dumps({"event": event, **data}), flush=True)


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


async def _read_commands(reader: asyncio.StreamReader, commands: asyncio.Queue[str]) -> None:
    """Commands of the host process, one a line; "stop" when it closes the pipe (or died)."""
    while line := await reader.readline():
        commands.put_nowait(line.decode().strip())
    commands.put_nowait("stop")


async def run_peripheral(params: LinkBenchParams, workdir: Path) -> None:
    """The peripheral side: boards, their radio, and the central's controller on HCI/TCP.

    Talks to the host process on stdin (``start``, ``stop``) and stdout (JSON lines). Ends
    early when the host process stops it or goes away.
    """
    samples, rig = simulate_boards(params)
    plan = plan_disconnects(params, list(rig))
    radio = VirtualRadio(att_mtu=params.att_mtu)
    for index, board_samples_ in enumerate(samples):
        radio.add_board(board_samples_, faults_of(params, board_samples_.board_id, index, plan))
    away: set[str] = set()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = int(sock.getsockname()[1])
    transport = await open_tcp_server_transport_with_socket(sock)
    RangeController("host-central", transport, radio.link, away)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    commands: asyncio.Queue[str] = asyncio.Queue()
    listener = loop.create_task(_read_commands(reader, commands))
    boards = {b.board_id: b for b in radio.boards.values()}
    _emit(
        "ready",
        port=port,
        boards=[
            {"board_id": b.board_id, "address": b.address, "segment": rig[b.board_id]}
            for b in boards.values()
        ],
        plan=[dataclasses.asdict(d) for d in plan],
    )
    if await commands.get() != "start":
        return
    cpu0, t0 = _cpu_s(), time.monotonic()
    await radio.start()
    t_start_ns = {
        board_id: time.monotonic_ns() - round(b.board_time_s / b.params.speed * 1e9)
        for board_id, b in boards.items()
    }
    truth = workdir / "truth.npz"
    arrays: dict[str, Any] = {f"t_us_{s.board_id}": s.t_us for s in samples}
    np.savez(truth, **arrays)
    _emit(
        "started",
        t_start_ns={str(b): t for b, t in t_start_ns.items()},
        seq_start={str(s.board_id): s.seq_start for s in samples},
        truth=str(truth),
    )
    windows: list[dict[str, float | int]] = []

    async def out_of_range(d: Disconnect) -> None:
        board = boards[d.board_id]
        await asyncio.sleep(max(0.0, d.at_s - board.board_time_s))
        key = _address_key(board.address)
        away.add(key)
        t_away_ns = time.monotonic_ns()
        await asyncio.sleep(d.away_s)
        away.discard(key)
        windows.append({"board_id": d.board_id, "t0_ns": t_away_ns, "t1_ns": time.monotonic_ns()})

    tasks = [loop.create_task(out_of_range(d)) for d in plan]
    while not all(b.finished for b in boards.values()) and commands.empty():
        await asyncio.sleep(0.1)
    if not commands.empty():  # stopped before the end
        for task in (*tasks, listener):
            task.cancel()
        await radio.stop()
        await transport.close()
        return
    await asyncio.gather(*tasks)
    _emit(
        "finished",
        boards={
            str(board_id): {
                "produced": len(b.produced),
                "drops": b.drops,
                "connections": b.connections,
                "lost_notifications": b.lost_notifications,
                "frames_live": b.frames_live,
                "frames_backfill": b.frames_backfill,
                "samples_live": b.samples_live,
                "samples_backfill": b.samples_backfill,
                "frames_lost": b.frames_lost,
            }
            for board_id, b in boards.items()
        },
        away=windows,
    )
    await commands.get()
    listener.cancel()
    await radio.stop()
    await transport.close()
    _emit("stopped", cpu_s=_cpu_s() - cpu0, wall_s=time.monotonic() - t0)


# ----------------------------------------------------------------------------------------
# The host side
# ----------------------------------------------------------------------------------------


def _pairing_config(_connection: Connection) -> PairingConfig:
    return PairingConfig(
        sc=True,
        mitm=False,
        bonding=True,
        delegate=PairingDelegate(io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT),
        identity_address_type=PairingConfig.AddressType.RANDOM,
    )


class RemoteCentral:
    """The host's central: a bumble host stack on an HCI/TCP transport to a controller of the
    peripheral process's virtual radio, behind the virtual bleak backend classes.

    It offers what those classes ask of their ``radio`` (``att_mtu``, scanning, connecting,
    bonds), like ``coxa.sources.virtual.VirtualRadio`` does for its in-process central.
    """

    def __init__(self, device: Device, att_mtu: int) -> None:
        self.att_mtu = att_mtu
        self.device = device
        self._connect_lock = asyncio.Lock()
        self._listeners: list[Callable[[Advertisement], None]] = []
        device.on(device.EVENT_ADVERTISEMENT, self._on_advertisement)
        scanner = type("RemoteBleakScanner", (VirtualBleakScanner,), {"radio": self})
        client = type("RemoteBleakClient", (VirtualBleakClient,), {"radio": self})
        self.backend = BleBackend(scanner=scanner, client=client)

    @classmethod
    async def open(cls, port: int, att_mtu: int) -> tuple[RemoteCentral, Transport]:
        """Connect to the controller at 127.0.0.1:``port`` and power the central on."""
        transport = await open_transport(f"tcp-client:127.0.0.1:{port}")
        device = Device(
            name="coxa-host",
            address=Address(HOST_ADDRESS, Address.RANDOM_DEVICE_ADDRESS),
            host=Host(transport.source, transport.sink),
        )
        device.keystore = MemoryKeyStore()
        device.gatt_server.max_mtu = att_mtu
        device.pairing_config_factory = _pairing_config
        await device.power_on()
        return cls(device, att_mtu), transport

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._listeners):
            listener(advertisement)

    async def scan_start(self, listener: Callable[[Advertisement], None]) -> None:
        self._listeners.append(listener)
        if len(self._listeners) == 1:
            await self.device.start_scanning(filter_duplicates=False)

    async def scan_stop(self, listener: Callable[[Advertisement], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)
        if not self._listeners and self.device.is_scanning:
            await self.device.stop_scanning()

    async def connect(self, address: Address, timeout_s: float) -> Connection:
        async with self._connect_lock:
            connection = await self.device.connect(address, timeout=timeout_s)
        _LOG.info("connected to %s (handle %d)", address, connection.handle)

        def on_disconnection(reason: int) -> None:
            _LOG.info("disconnected from %s (reason %d)", address, reason)

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)
        return connection

    async def has_bond(self, address: Address) -> bool:
        keystore = self.device.keystore
        return keystore is not None and await keystore.get(str(address)) is not None

    async def forget_bond(self, address: str) -> None:
        key = str(Address(address, Address.RANDOM_DEVICE_ADDRESS))
        keystore = self.device.keystore
        if keystore is not None and await keystore.get(key) is not None:
            await keystore.delete(key)


class DrainingSource:
    """A source around ``BleSource`` that the recorder can stop (``request_stop``).

    If the BLE source has its own ``request_stop``, that is used. Otherwise the stop waits
    for the last backfills (every board connected and nothing asked for pending, held for
    ``settle_s``; at most ``limit_s``) and then closes the BLE source, which ends its
    iteration.
    """

    def __init__(self, inner: BleSource, settle_s: float, limit_s: float) -> None:
        self.inner = inner
        self.settle_s = settle_s
        self.limit_s = limit_s
        self.opened_ns: int | None = None
        self.stop_requested_ns: int | None = None
        self.closed_ns: int | None = None
        self.own_stop = callable(getattr(inner, "request_stop", None))
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def segments_by_board(self) -> Mapping[int, str]:
        return self.inner.segments_by_board

    def health(self) -> Mapping[int, BoardHealth]:
        return self.inner.health()

    async def __aenter__(self) -> Self:
        await self.inner.__aenter__()
        self.opened_ns = time.monotonic_ns()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close(exc_type, exc, traceback)

    def __aiter__(self) -> AsyncIterator[Arrival]:
        return self.inner.__aiter__()

    def request_stop(self) -> None:
        if self.stop_requested_ns is not None:
            return
        self.stop_requested_ns = time.monotonic_ns()
        stop = getattr(self.inner, "request_stop", None)
        if callable(stop):
            stop()
            return
        self._task = asyncio.get_running_loop().create_task(self._drain_then_close())

    async def _drain_then_close(self) -> None:
        t0 = time.monotonic()
        quiet_since: float | None = None
        while time.monotonic() - t0 < self.limit_s:
            now = time.monotonic()
            health = self.inner.health().values()
            if all(h.connected and h.backfill_pending == 0 for h in health):
                quiet_since = now if quiet_since is None else quiet_since
                if now - quiet_since >= self.settle_s:
                    break
            else:
                quiet_since = None
            await asyncio.sleep(0.05)
        await self._close(None, None, None)

    async def _close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._closed:
            return
        self._closed = True
        self.closed_ns = time.monotonic_ns()
        await self.inner.__aexit__(exc_type, exc, traceback)


#: Host components by source file, most specific first (paths relative to the packages).
_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("coxa/sources/virtual/", "bleak backend (virtual shim)"),
    ("coxa/sources/", "coxa BleSource"),
    ("coxa/capture/", "capture writer"),
    ("coxa/record/_recorder.py", "recorder"),
    ("coxa/record/", "fusion pipeline"),
    ("coxa/fusion/", "fusion pipeline"),
    ("coxa/analysis/", "fusion pipeline"),
    ("coxa/geometry/", "fusion pipeline"),
    ("coxa/", "coxa (other)"),
)
BUMBLE = "bumble host stack"
OTHER = "event loop, other"
HARNESS = "bench harness"


class CpuProfiler:
    """Splits the host's CPU time into components: a statistical profile on the CPU clock.

    ``setitimer(ITIMER_PROF)`` sends SIGPROF each time the process has used ``interval_s`` of
    CPU (user plus system); Python runs the handler in the main thread with the frame it
    interrupted, so every sample stands for the same CPU time. A sample counts for the
    component of the innermost frame that belongs to one (bumble, bleak, a part of coxa, this
    tool; asyncio, numpy and the standard library count for the frame that called them; code
    of the event loop itself, the sockets it reads included, is "event loop, other"). A
    compiled call (numba, numpy) is counted when it returns to its Python caller, which is the
    frame that made it. The kernel accounts CPU timers per tick, so the effective interval is
    at least one scheduler tick.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.counts: dict[str, int] = {}
        self._roots = [
            (str(Path(bumble.__file__).parent) + os.sep, BUMBLE),
            (str(Path(bleak.__file__).parent) + os.sep, "bleak"),
            (str(Path(__file__).resolve()), HARNESS),
        ]
        coxa_root = str(Path(coxa.__file__).parent.parent) + os.sep
        self._roots += [(coxa_root + rel.replace("/", os.sep), name) for rel, name in _COMPONENTS]
        self._cache: dict[str, str | None] = {}
        loop_dir = Path(asyncio.__file__).parent
        loop_names = ("events.py", "base_events.py", "selector_events.py")
        self._loop_files = (
            *(str(loop_dir / name) for name in loop_names),
            str(Path(selectors.__file__)),
        )

    @property
    def samples(self) -> int:
        """Samples so far."""
        return sum(self.counts.values())

    def start(self) -> None:
        if self.interval_s > 0:
            signal.signal(signal.SIGPROF, self._on_signal)
            signal.setitimer(signal.ITIMER_PROF, self.interval_s, self.interval_s)

    def stop(self) -> None:
        if self.interval_s > 0:
            signal.setitimer(signal.ITIMER_PROF, 0.0, 0.0)
            signal.signal(signal.SIGPROF, signal.SIG_IGN)

    def _component(self, filename: str) -> str | None:
        hit = self._cache.get(filename, "")
        if hit != "":
            return hit
        found = next((name for root, name in self._roots if filename.startswith(root)), None)
        self._cache[filename] = found
        return found

    def classify(self, frame: FrameType | None) -> str:
        """The component a stack's CPU goes to."""
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(self._loop_files):
                return OTHER  # the event loop's own machinery, below every callback
            name = self._component(filename)
            if name is not None:
                return name
            frame = frame.f_back
        return OTHER

    def _on_signal(self, _signum: int, frame: FrameType | None) -> None:
        name = self.classify(frame)
        self.counts[name] = self.counts.get(name, 0) + 1


@dataclass
class HostRun:
    """What the host process measured."""

    capture: Path
    result: RecordResult
    boards: list[dict[str, Any]]
    plan: list[Disconnect]
    started: dict[str, Any]
    finished: dict[str, Any]
    peripheral_cpu: tuple[float, float]  # (wall s, CPU s) of the peripheral process
    segments: dict[int, str]
    cpu_windows: list[tuple[float, float]]  # (wall s, host CPU s) per window
    cpu_total: tuple[float, float]  # (wall s, host CPU s) source open -> closed
    profile_counts: dict[str, int]  # CPU profile samples per component
    pairing_s: float
    drain_s: float
    own_stop: bool
    row_times_us: NDArray[np.float64]  # grid time of every live row, host us
    row_out_ns: NDArray[np.int64]  # when Pipeline.update returned it, host monotonic ns
    backlog_rows: int  # rows of the first output (the calibration releases them at once)
    load_start: str
    load_end: str


def loadavg() -> str:
    """``/proc/loadavg`` (first three fields), or 'n/a'."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "n/a"


class _Peripheral:
    """The peripheral process and its JSON-line events."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log

    async def expect(self, event: str, timeout_s: float) -> dict[str, Any]:
        stdout = self.proc.stdout
        assert stdout is not None
        while True:
            line = await asyncio.wait_for(stdout.readline(), timeout_s)
            if not line:
                tail = self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(f"the peripheral process ended before {event!r}:\n{tail}")
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict) and data.get("event") == event:
                return data

    def send(self, command: str) -> None:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(command.encode() + b"\n")


async def run_host(params: LinkBenchParams, workdir: Path) -> HostRun:
    """Start the peripheral process, pair the boards, record through the pipeline."""
    load_start = loadavg()
    log = workdir / "peripheral.log"
    config = json.dumps(dataclasses.asdict(params))
    with open(log, "wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--peripheral",
            config,
            "--out",
            str(workdir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
        )
    peripheral = _Peripheral(proc, log)
    transport: Transport | None = None
    try:
        ready = await peripheral.expect("ready", 300.0 + 2.0 * params.duration_s)
        central, transport = await RemoteCentral.open(int(ready["port"]), params.att_mtu)
        peripheral.send("start")
        started = await peripheral.expect("started", 60.0)
        t0 = time.monotonic()
        for board in ready["boards"]:
            await pair_board(board["address"], central.backend)
        pairing_s = time.monotonic() - t0
        rig = [BleBoard(b["address"], b["board_id"], b["segment"], True) for b in ready["boards"]]
        ble_params = BleParams()
        source = DrainingSource(
            BleSource(rig, params=ble_params, backend=central.backend),
            settle_s=ble_params.status_interval_s + 0.5,
            limit_s=params.drain_limit_s,
        )
        capture = workdir / "bench.coxa"
        row_log: list[tuple[int, int]] = []
        holder: list[Recorder] = []

        def on_progress(_update: Progress) -> None:
            pipeline = holder[0].pipeline
            if pipeline is not None and pipeline.rows > (row_log[-1][1] if row_log else 0):
                row_log.append((time.monotonic_ns(), pipeline.rows))

        recorder = Recorder(
            source,
            capture,
            metadata={"source": "tools/bench_link.py", "athlete": "bench", "exercise": "squat"},
            params=RecordParams(),
            on_progress=on_progress,
        )
        holder.append(recorder)
        profiler = CpuProfiler(params.profile_interval_ms / 1000.0)
        marks: list[tuple[float, float]] = []

        def mark() -> None:
            marks.append((time.monotonic(), _cpu_s()))

        async def window_clock() -> None:
            while source.opened_ns is None:
                await asyncio.sleep(0.01)
            mark()
            while True:
                await asyncio.sleep(params.window_s)
                mark()

        profiler.start()
        clock_task = asyncio.get_running_loop().create_task(window_clock())
        record_task = asyncio.get_running_loop().create_task(recorder.run())
        finished_task = asyncio.get_running_loop().create_task(
            peripheral.expect("finished", params.duration_s + 600.0)
        )
        done, _ = await asyncio.wait(
            {record_task, finished_task}, return_when=asyncio.FIRST_COMPLETED
        )
        if record_task in done:
            finished_task.cancel()
            await record_task  # raises what ended it
            raise RuntimeError("the recorder ended before the boards finished")
        finished = finished_task.result()
        recorder.stop()
        result = await record_task
        clock_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await clock_task
        mark()
        profiler.stop()
        peripheral.send("stop")
        stopped = await peripheral.expect("stopped", 60.0)
        await asyncio.wait_for(proc.wait(), 30.0)
    finally:
        if transport is not None:
            await transport.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    windows = [(w1 - w0, c1 - c0) for (w0, c0), (w1, c1) in itertools.pairwise(marks)]
    total = (marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1])
    table = recorder.pipeline.table() if recorder.pipeline is not None else None
    closed_ns = source.closed_ns or time.monotonic_ns()
    # Live rows: those out before the stop (after it the boards send nothing new, and the
    # last rows wait for the drain's stray frames or for finish()).
    stop_ns = source.stop_requested_ns or closed_ns
    log_ns = np.array([t for t, _ in row_log if t <= stop_ns], dtype=np.int64)
    log_rows = np.array([r for t, r in row_log if t <= stop_ns], dtype=np.int64)
    if table is not None and log_rows.size:
        n = int(log_rows[-1])
        row_times = np.asarray(table.t_us[:n], dtype=np.float64)
        row_out = log_ns[np.searchsorted(log_rows, np.arange(n), side="right")]
    else:
        row_times = np.zeros(0)
        row_out = np.zeros(0, dtype=np.int64)
    return HostRun(
        capture=capture,
        result=result,
        boards=list(ready["boards"]),
        plan=plan_disconnects(params, [int(b["board_id"]) for b in ready["boards"]]),
        started=started,
        finished=finished,
        peripheral_cpu=(float(stopped["wall_s"]), float(stopped["cpu_s"])),
        segments={int(b["board_id"]): str(b["segment"]) for b in ready["boards"]},
        cpu_windows=windows,
        cpu_total=total,
        profile_counts=dict(profiler.counts),
        pairing_s=pairing_s,
        drain_s=(closed_ns - (source.stop_requested_ns or closed_ns)) / 1e9,
        own_stop=source.own_stop,
        row_times_us=row_times,
        row_out_ns=row_out,
        backlog_rows=int(log_rows[0]) if log_rows.size else 0,
        load_start=load_start,
        load_end=loadavg(),
    )


# ----------------------------------------------------------------------------------------
# Analysis of the capture against the boards' truth
# ----------------------------------------------------------------------------------------


@dataclass
class BoardTruth:
    """One board's samples as captured, against what it took."""

    board_id: int
    produced: int
    first_index: int  # first sample the host received (samples before: stream not started)
    received: int
    lost: int
    backfilled: int  # distinct samples whose first arrival was a backfill frame
    duplicates: int
    clock_bias_us: float  # pipeline-style clock map minus the true sampling time
    link_delay_ms: NDArray[np.float64]  # sample -> first live arrival, per sample
    first_rx_ns: NDArray[np.int64]  # first arrival of each sample index (-1: never)
    true_ns: NDArray[np.int64]  # true sampling time per sample index
    record_rx_ns: NDArray[np.int64]  # receive times of this board's records


@dataclass
class Recovery:
    """One forced disconnection, as the host lived it."""

    board_id: int
    at_s: float  # session time (board seconds) of the drop
    away_s: float
    link_back_s: float  # drop -> first notification after the reconnection
    complete_s: float  # drop -> every sample taken before the reconnection is captured


@dataclass
class LinkReport:
    """Every figure of a run (see the module notes for the definitions)."""

    params: LinkBenchParams
    samples_produced: int
    samples_before_stream: int
    check_samples_lost: int
    check_damaged: bool
    truth_samples_lost: int
    backfilled: int
    duplicates: int
    notifications_lost: int
    drops_done: int
    host_cpu_pct: float
    host_cpu_window_pct: list[float]
    host_cpu_median_pct: float
    components_pct: dict[str, float]  # share of the host's CPU, %
    peripheral_cpu_pct: float
    wall_s: float
    rows: int
    backlog_rows: int
    backlog_max_ms: float
    profile_samples: int
    profile_every_ms: float  # host CPU time per profile sample, on average
    link_delay_ms: tuple[float, float]  # median, p99
    output_delay_ms: tuple[float, float, float]  # median, p99, max
    output_delay_host_ms: tuple[float, float]  # on the pipeline's own clock map
    rows_over_250ms: int
    worst_row_at_s: float  # when the slowest timed row came out, board time s
    longest_output_gap: tuple[float, float]  # (ms, board time s) between two outputs
    clock_bias_ms: float
    recoveries: list[Recovery]
    pairing_s: float
    drain_s: float
    stop_path: str
    load_start: str
    load_end: str
    capture: str
    capture_bytes: int
    records: int
    monitor_lost: int  # the source's own count (BoardHealth lost + pending at the end)


def _pct(values: NDArray[np.float64], q: float) -> float:
    return float(np.percentile(values, q)) if values.size else math.nan


def board_truth(run: HostRun) -> dict[int, BoardTruth]:
    """Decode the capture and compare every board's samples with what it took."""
    with np.load(run.started["truth"]) as truth_npz:
        t_us_of = {int(k.removeprefix("t_us_")): truth_npz[k] for k in truth_npz.files}
    t_start_ns = {int(b): int(t) for b, t in run.started["t_start_ns"].items()}
    seq_start = {int(b): int(s) for b, s in run.started["seq_start"].items()}
    produced = {int(b): int(v["produced"]) for b, v in run.finished["boards"].items()}
    decoders: dict[int, LinkDecoder] = {}
    per_board: dict[int, list[tuple[int, int, int, int, int, int]]] = {}
    record_rx: dict[int, list[int]] = {}
    with iter_capture(run.capture) as records:
        for record in records:
            if record.kind != LinkKind.BLE:
                continue
            record_rx.setdefault(record.link_id, []).append(record.t_rx_ns)
            decoder = decoders.get(record.link_id)
            if decoder is None:
                decoder = decoders[record.link_id] = LinkDecoder(record.link_id)
            received = decoder.push(record.t_rx_ns // 1000, record.payload)
            if received is None:
                continue
            f = received.frame
            per_board.setdefault(f.board_id, []).append(
                (f.seq0, f.count, f.t0_us, f.period_us, f.kind, record.t_rx_ns)
            )
    out: dict[int, BoardTruth] = {}
    clock_params = FusionParams().clock
    for board_id, frames in per_board.items():
        t_us = np.asarray(t_us_of[board_id], dtype=np.int64)
        n_prod = produced[board_id]
        true_ns = t_start_ns[board_id] + (t_us - t_us[0]) * 1000
        first_rx = np.full(t_us.size, -1, dtype=np.int64)
        first_live = np.zeros(t_us.size, dtype=bool)
        seen = np.zeros(t_us.size, dtype=np.int64)
        t_dev_parts: list[NDArray[np.int64]] = []
        t_rx_parts: list[NDArray[np.int64]] = []
        idx_parts: list[NDArray[np.int64]] = []
        for seq0, count, t0_us, period_us, kind, t_rx_ns in frames:
            steps = np.arange(count, dtype=np.int64)
            idx = ((seq0 - seq_start[board_id]) % _U32) + steps
            ok = idx < t_us.size
            idx = idx[ok]
            np.add.at(seen, idx, 1)
            new = first_rx[idx] < 0
            first_rx[idx[new]] = t_rx_ns
            first_live[idx[new]] = kind == wire.KIND_DATA_LIVE
            t_dev = t_us[0] + ((t0_us + period_us * steps[ok] - t_us[0]) % _U32)
            t_dev_parts.append(t_dev)
            t_rx_parts.append(np.full(idx.size, t_rx_ns // 1000, dtype=np.int64))
            idx_parts.append(idx)
        got = np.flatnonzero(first_rx >= 0)
        first = int(got[0]) if got.size else n_prod
        window = slice(first, n_prod)
        clock = ClockSync(clock_params)
        t_dev_all = np.concatenate(t_dev_parts)
        clock.update(t_dev_all, np.concatenate(t_rx_parts))
        idx_all = np.concatenate(idx_parts)
        bias_us = float(np.median(clock.to_host_us(t_dev_all) - true_ns[idx_all] / 1000.0))
        live = np.flatnonzero(first_live[: t_us.size])
        out[board_id] = BoardTruth(
            board_id=board_id,
            produced=n_prod,
            first_index=first,
            received=int(np.count_nonzero(first_rx[window] >= 0)),
            lost=int(np.count_nonzero(first_rx[window] < 0)),
            backfilled=int(np.count_nonzero((first_rx >= 0) & ~first_live)),
            duplicates=int(np.sum(np.maximum(seen - 1, 0))),
            clock_bias_us=bias_us,
            link_delay_ms=(first_rx[live] - true_ns[live]) / 1e6,
            first_rx_ns=first_rx,
            true_ns=true_ns,
            record_rx_ns=np.asarray(record_rx.get(board_id, []), dtype=np.int64),
        )
    return out


def recoveries(run: HostRun, truths: Mapping[int, BoardTruth]) -> list[Recovery]:
    """Per planned drop: when the link was back, and when the capture was complete again."""
    t_start_ns = {int(b): int(t) for b, t in run.started["t_start_ns"].items()}
    out: list[Recovery] = []
    for d in run.plan:
        truth = truths.get(d.board_id)
        if truth is None:
            continue
        t_drop = t_start_ns[d.board_id] + round(d.at_s * 1e9)
        back_from = t_drop + round(d.away_s * 1e9)
        rx = np.sort(truth.record_rx_ns)
        k = int(np.searchsorted(rx, back_from, side="right"))
        if k >= rx.size:
            out.append(Recovery(d.board_id, d.at_s, d.away_s, math.nan, math.nan))
            continue
        t_back = int(rx[k])
        taken = np.flatnonzero((truth.true_ns >= t_drop - 5e9) & (truth.true_ns <= t_back))
        taken = taken[taken >= truth.first_index]
        arrivals = truth.first_rx_ns[taken]
        complete = math.nan if np.any(arrivals < 0) else (float(arrivals.max()) - t_drop) / 1e9
        out.append(Recovery(d.board_id, d.at_s, d.away_s, (t_back - t_drop) / 1e9, complete))
    return out


def analyse(params: LinkBenchParams, run: HostRun) -> LinkReport:
    """Every figure of a run."""
    check = check_capture(run.capture)
    truths = board_truth(run)
    fused = [b for b, s in run.segments.items() if s != UNASSIGNED_SEGMENT and b in truths]
    wall_s, cpu_s = run.cpu_total
    windows = [100.0 * c / w for w, c in run.cpu_windows if w >= 0.9 * params.window_s]
    if not windows:
        windows = [100.0 * cpu_s / wall_s]
    profiled = sum(run.profile_counts.values())
    components = {
        name: 100.0 * count / profiled
        for name, count in sorted(run.profile_counts.items(), key=lambda kv: -kv[1])
    }
    link = np.concatenate([t.link_delay_ms for t in truths.values()]) if truths else np.zeros(0)
    bias_us = max((truths[b].clock_bias_us for b in fused), default=0.0)
    delay_host_ms = (run.row_out_ns / 1000.0 - run.row_times_us) / 1000.0
    backlog_ms = delay_host_ms[: run.backlog_rows] + bias_us / 1000.0
    out_host_ms = delay_host_ms[run.backlog_rows :]
    out_ms = out_host_ms + bias_us / 1000.0
    out_ns = run.row_out_ns[run.backlog_rows :]
    board_t0_ns = min(int(t) for t in run.started["t_start_ns"].values())
    moments = np.unique(out_ns)
    gaps = np.diff(moments)
    gap_at = int(np.argmax(gaps)) if gaps.size else -1
    finished = run.finished["boards"]
    return LinkReport(
        params=params,
        samples_produced=sum(t.produced - t.first_index for t in truths.values()),
        samples_before_stream=sum(t.first_index for t in truths.values()),
        check_samples_lost=check.samples_lost,
        check_damaged=check.damaged,
        truth_samples_lost=sum(t.lost for t in truths.values())
        + sum(int(v["produced"]) for b, v in finished.items() if int(b) not in truths),
        backfilled=sum(t.backfilled for t in truths.values()),
        duplicates=sum(t.duplicates for t in truths.values()),
        notifications_lost=sum(int(v["lost_notifications"]) for v in finished.values()),
        drops_done=sum(int(v["drops"]) for v in finished.values()),
        host_cpu_pct=100.0 * cpu_s / wall_s,
        host_cpu_window_pct=windows,
        host_cpu_median_pct=statistics.median(windows),
        components_pct=components,
        peripheral_cpu_pct=100.0 * run.peripheral_cpu[1] / run.peripheral_cpu[0],
        wall_s=wall_s,
        rows=int(out_ms.size),
        backlog_rows=run.backlog_rows,
        backlog_max_ms=float(backlog_ms.max()) if backlog_ms.size else math.nan,
        profile_samples=profiled,
        profile_every_ms=1000.0 * cpu_s / profiled if profiled else math.nan,
        link_delay_ms=(_pct(link, 50), _pct(link, 99)),
        output_delay_ms=(
            _pct(out_ms, 50),
            _pct(out_ms, 99),
            float(out_ms.max()) if out_ms.size else math.nan,
        ),
        output_delay_host_ms=(_pct(out_host_ms, 50), _pct(out_host_ms, 99)),
        rows_over_250ms=int(np.count_nonzero(out_ms > 250.0)),
        worst_row_at_s=(
            (int(out_ns[int(np.argmax(out_ms))]) - board_t0_ns) / 1e9 if out_ms.size else math.nan
        ),
        longest_output_gap=(
            (float(gaps[gap_at]) / 1e6, (int(moments[gap_at]) - board_t0_ns) / 1e9)
            if gap_at >= 0
            else (math.nan, math.nan)
        ),
        clock_bias_ms=bias_us / 1000.0,
        recoveries=recoveries(run, truths),
        pairing_s=run.pairing_s,
        drain_s=run.drain_s,
        stop_path="BleSource.request_stop" if run.own_stop else "drain, then close BleSource",
        load_start=run.load_start,
        load_end=run.load_end,
        capture=str(run.capture),
        capture_bytes=run.result.bytes_written,
        records=run.result.records,
        monitor_lost=run.result.samples_lost,
    )


def _f(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def render(report: LinkReport) -> str:
    """The report: a markdown table of figures, then ``samples lost: N`` as
    ``coxa capture check`` prints it."""
    p = report.params
    bumble_pct = report.components_pct.get(BUMBLE, 0.0)
    host = report.host_cpu_pct
    split = "; ".join(f"{k} {_f(v)}" for k, v in report.components_pct.items())
    record = RecordParams()
    fusion = record.fusion
    rows: list[tuple[str, str, str]] = [
        ("boards x rate x session", f"{p.boards} x 200 Hz x {p.minutes:g} min", ""),
        (
            "faults",
            f"loss {p.loss:g} (bursts of {p.mean_burst_packets:g}), {p.disconnects} drops "
            f"with {p.away_s[0]:g}-{p.away_s[1]:g} s out of range",
            "",
        ),
        ("samples the boards took while streaming", f"{report.samples_produced}", ""),
        ("samples lost (coxa capture check)", f"{report.check_samples_lost}", "0"),
        ("samples lost against the boards' truth", f"{report.truth_samples_lost}", "0"),
        ("samples lost as the source counted them", f"{report.monitor_lost}", "0"),
        ("capture damaged", "yes" if report.check_damaged else "no", "no"),
        ("samples recovered by backfill", f"{report.backfilled}", ""),
        ("duplicate samples in the capture", f"{report.duplicates}", ""),
        ("notifications lost (injected)", f"{report.notifications_lost}", ""),
        ("link drops done", f"{report.drops_done} of {p.disconnects}", ""),
        ("host CPU, overall (% of one core)", _f(host), "< 20"),
        ("host CPU, median of 1-min windows (%)", _f(report.host_cpu_median_pct), "< 20"),
        (
            "host CPU per 1-min window (%)",
            ", ".join(_f(w) for w in report.host_cpu_window_pct),
            "",
        ),
        (
            "of which bumble host stack (BlueZ's part in reality)",
            f"{_f(bumble_pct)} % of host = {_f(host * bumble_pct / 100)} % of a core",
            "",
        ),
        ("host CPU without the bumble host stack (%)", _f(host * (1 - bumble_pct / 100)), ""),
        ("host CPU split (% of host CPU, CPU profile)", split, ""),
        (
            "CPU profile: samples, host CPU per sample (ms)",
            f"{report.profile_samples}, {_f(report.profile_every_ms, 2)}",
            "",
        ),
        ("boards + virtual radio process (not host, %)", _f(report.peripheral_cpu_pct), ""),
        (
            "delay sample -> host receive, median / p99 (ms)",
            f"{_f(report.link_delay_ms[0])} / {_f(report.link_delay_ms[1])}",
            "",
        ),
        (
            "delay sample -> pipeline output, median / p99 / max (ms)",
            " / ".join(_f(v) for v in report.output_delay_ms),
            "< 100 sample-to-screen (design.md)",
        ),
        (
            "same on the pipeline's own clock map, median / p99 (ms)",
            " / ".join(_f(v) for v in report.output_delay_host_ms),
            "",
        ),
        (
            "rows over 250 ms; the slowest came out at (board time, s)",
            f"{report.rows_over_250ms}; {_f(report.worst_row_at_s)}",
            "",
        ),
        (
            "longest time between two pipeline outputs (ms), from (board time, s)",
            f"{_f(report.longest_output_gap[0])}, {_f(report.longest_output_gap[1])}",
            "",
        ),
        ("clock map bias (ms)", _f(report.clock_bias_ms, 2), ""),
        (
            "the pipeline's own wait: latency + chunk, update step (ms)",
            f"{fusion.latency_ms:g} + {fusion.chunk_ms:g}, {record.update_every_ms:g}",
            "",
        ),
        ("pipeline rows timed", f"{report.rows}", ""),
        (
            "rows released at calibration (not timed): count, max delay (ms)",
            f"{report.backlog_rows}, {_f(report.backlog_max_ms)}",
            "",
        ),
    ]
    for k, r in enumerate(report.recoveries, 1):
        rows.append(
            (
                f"drop {k}: board {r.board_id} at board time {r.at_s:.1f} s, away {r.away_s:.1f} s",
                f"link back after {_f(r.link_back_s, 2)} s, capture complete after "
                f"{_f(r.complete_s, 2)} s",
                "",
            )
        )
    rows += [
        ("samples taken before the stream started", f"{report.samples_before_stream}", ""),
        ("pairing every board (before the session, s)", _f(report.pairing_s, 2), ""),
        ("end of session", f"{report.stop_path}, {_f(report.drain_s, 2)} s", ""),
        ("host measured from source open to closed (s)", _f(report.wall_s), ""),
        ("capture", f"{report.records} records, {report.capture_bytes} bytes", ""),
        ("/proc/loadavg at start / end", f"{report.load_start} / {report.load_end}", ""),
    ]
    lines = ["| measurement | value | goal |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", f"samples lost: {report.check_samples_lost}"]
    return "\n".join(lines)


def to_json(report: LinkReport) -> dict[str, Any]:
    """The report as plain JSON data."""
    data = dataclasses.asdict(report)
    data["recoveries"] = [dataclasses.asdict(r) for r in report.recoveries]
    return json.loads(json.dumps(data, default=str, allow_nan=True))


def bench(params: LinkBenchParams, out: Path | None = None) -> LinkReport:
    """Run the benchmark; the capture and logs stay in ``out`` if given."""
    with contextlib.ExitStack() as stack:
        if out is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-link-")))
        else:
            out.mkdir(parents=True, exist_ok=True)
            workdir = out
        # The link's own log (drops, reconnections, backfill results) goes to host.log.
        handler = logging.FileHandler(workdir / "host.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        loggers = [logging.getLogger("coxa.sources"), _LOG]
        for logger in loggers:
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
        try:
            run = asyncio.run(run_host(params, workdir))
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
            handler.close()
        return analyse(params, run)


def _params(args: argparse.Namespace) -> LinkBenchParams:
    return LinkBenchParams(
        minutes=args.minutes,
        boards=args.boards,
        loss=args.loss,
        disconnects=args.disconnects,
        seed=args.seed,
        profile_interval_ms=args.profile_ms,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="default 10")
    parser.add_argument("--boards", type=int, default=7, help="default 7")
    parser.add_argument("--loss", type=float, default=0.05, help="default 0.05")
    parser.add_argument("--disconnects", type=int, default=3, help="default 3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--profile-ms", type=float, default=1.0, help="CPU profile interval (0: no CPU split)"
    )
    parser.add_argument("--out", type=Path, default=None, help="keep the capture and logs here")
    parser.add_argument("--json", type=Path, default=None, help="write the raw figures here")
    parser.add_argument("--peripheral", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)  # the link's INFO lines go to host.log only
    console.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[console])
    if args.peripheral is not None:
        fields = json.loads(args.peripheral)
        fields["away_s"] = tuple(fields["away_s"])
        asyncio.run(run_peripheral(LinkBenchParams(**fields), args.out))
        return 0
    try:
        params = _params(args)
    except ValueError as err:
        parser.error(str(err))
    report = bench(params, args.out)
    print(render(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(to_json(report), indent=1), encoding="utf-8")
    return 0 if report.check_samples_lost == 0 and not report.check_damaged else 1


if __name__ == "__main__":
    sys.exit(main())
