"""Parameters of the BLE links: timeouts, back-off, MTU, backfill; the rig's boards; backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner

from coxa import wire
from coxa.sources._monitor import MonitorParams


@dataclass(frozen=True)
class BleBackend:
    """The bleak backend classes host code uses (dependency injection).

    Attributes
    ----------
    scanner : type of bleak.backends.scanner.BaseBleakScanner, or None
        Passed as ``BleakScanner(backend=...)``; None: bleak's platform backend.
    client : type of bleak.backends.client.BaseBleakClient, or None
        Passed as ``BleakClient(..., backend=...)``; None: bleak's platform backend.
    """

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None

    def make_scanner(
        self,
        detection_callback: Callable[[BLEDevice, AdvertisementData], None] | None = None,
        service_uuids: list[str] | None = None,
    ) -> BleakScanner:
        """A ``BleakScanner`` on this backend."""
        return BleakScanner(detection_callback, service_uuids, backend=self.scanner)

    def make_client(
        self,
        address: str,
        timeout_s: float,
        disconnected_callback: Callable[[BleakClient], None] | None = None,
    ) -> BleakClient:
        """A ``BleakClient`` for ``address`` on this backend (not yet connected)."""
        return BleakClient(address, disconnected_callback, timeout=timeout_s, backend=self.client)


PLATFORM_BACKEND = BleBackend()
"""bleak's platform backends (BlueZ, CoreBluetooth, WinRT, Android)."""


@dataclass(frozen=True)
class BleParams:
    """Settings of the host's BLE links.

    Attributes
    ----------
    att_mtu : int
        ATT MTU wanted, bytes. Default 247 [src: protocol v1, ``docs/protocol.md``]. The
        exchange itself is the central stack's (bleak has no MTU request); a smaller MTU is
        logged and works (frames are fragmented, down to 23).
    connect_timeout_s : float
        Limit of one connection attempt (connect, discovery, pairing), s. Default 10
        [assumption: a few advertising intervals plus discovery on a busy radio].
    command_timeout_s : float
        Wait for the ack of a command, s. Default 2 [assumption: acks go out within one
        board pump, 5-50 ms, plus connection events].
    backoff_initial_s : float
        First wait before reconnecting after a drop or a failed attempt, s. Default 0.25
        [assumption].
    backoff_max_s : float
        Longest wait between attempts, s. Default 8 [assumption].
    backoff_factor : float
        Growth of the wait after each failed attempt. Default 2 [assumption].
    gap_grace_s : float
        A sequence gap must persist this long before backfill is asked for, s (notifications
        reordered by a stack fill it meanwhile). Default 0.1 [assumption].
    backfill_retry_s : float
        An acknowledged backfill range not complete after this long is asked for again, s.
        Default 1.0 [assumption: a full FIFO (6000 samples = 400 frames) at a few hundred
        notifications/s].
    backfill_attempts : int
        Requests for one gap the board does not answer before its remaining samples are
        counted as lost. Default 4 [assumption]. Requests it answers OK (it still holds the
        samples) do not count: they are asked for again until they arrive or leave its FIFO.
    poll_interval_s : float
        Period of each link's housekeeping (gaps, backfill, health), s. Default 0.05
        [assumption].
    status_interval_s : float
        A streaming link whose board sent no status notification for this long has its
        status read, s: the board's newest sequence number reveals samples lost at the end
        of a burst before any later frame does. Default 1.0 [assumption: boards notify
        their status about once a second, so reads are the fallback].
    health_window_s : float
        Window of the samples-per-second figure, s. Default 2 [assumption].
    reboot_margin_samples : int
        Samples a board's newest sequence may be ahead of what the elapsed time explains
        before a jump is taken as a reboot. Default 2000 [assumption: 10 s at 200 Hz].
    drain_s : float
        After :meth:`BleSource.request_stop`, longest time spent collecting the samples the
        boards still owe (backfill, reconnecting a board that dropped), s. Default 5
        [assumption, as ``SerialParams.drain_s``].
    """

    att_mtu: int = wire.RECOMMENDED_ATT_MTU
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 2.0
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 8.0
    backoff_factor: float = 2.0
    gap_grace_s: float = 0.1
    backfill_retry_s: float = 1.0
    backfill_attempts: int = 4
    poll_interval_s: float = 0.05
    status_interval_s: float = 1.0
    health_window_s: float = 2.0
    reboot_margin_samples: int = 2000
    drain_s: float = 5.0

    def __post_init__(self) -> None:
        if not wire.MIN_ATT_MTU <= self.att_mtu <= wire.MAX_ATT_MTU:
            raise ValueError(f"att_mtu must be within 23..517, got {self.att_mtu}")
        positive = (
            "connect_timeout_s",
            "command_timeout_s",
            "backoff_initial_s",
            "backoff_max_s",
            "backfill_retry_s",
            "poll_interval_s",
            "status_interval_s",
            "health_window_s",
            "drain_s",
        )
        for name in positive:
            if not float(getattr(self, name)) > 0.0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.backoff_factor < 1.0 or self.backfill_attempts < 1 or self.gap_grace_s < 0.0:
            raise ValueError("need backoff_factor >= 1, backfill_attempts >= 1, gap_grace_s >= 0")
        if self.reboot_margin_samples < 0:
            raise ValueError(
                f"reboot_margin_samples must be >= 0, got {self.reboot_margin_samples}"
            )

    def monitor_params(self) -> MonitorParams:
        """The bookkeeping settings of every board's :class:`coxa.sources.BoardMonitor`."""
        return MonitorParams(
            rate_window_s=self.health_window_s,
            backfill_timeout_s=self.backfill_retry_s,
            backfill_attempts=self.backfill_attempts,
            clock_window_s=self.health_window_s,
            gap_grace_s=self.gap_grace_s,
            reboot_margin_samples=self.reboot_margin_samples,
        )


@dataclass(frozen=True)
class BleBoard:
    """One board of a rig as the BLE source knows it.

    Attributes
    ----------
    address : str
        Bluetooth address (as bleak spells it; a UUID on macOS).
    board_id : int
        u16 id the board must report (status and frames); another id rejects the link.
    segment : str
        Body segment the board is worn on (e.g. ``'femur_r'``).
    bonded : bool
        The rig paired with the board: the link must be encrypted with that bond (LE Secure
        Connections), else it is rejected.
    """

    address: str
    board_id: int
    segment: str
    bonded: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.board_id <= 0xFFFF:
            raise ValueError(f"board_id must be a u16, got {self.board_id}")
        if not self.address:
            raise ValueError("a board needs an address")
