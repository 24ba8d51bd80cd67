"""Radio model of one board-to-host BLE link: connection-event timing, delay jitter, bursty loss.

Packets leave the board at the next connection event after they are queued, arrive after an
extra random delay (host stack and scheduling), in order, and may be lost in bursts following a
two-state Gilbert-Elliott chain (Gilbert 1960, doi:10.1002/j.1538-7305.1960.tb03959.x): in the
good state nothing is lost, in the bad state every packet is. A real link layer retransmits, so
on real hardware a "loss" is a supervision timeout or a full notification queue; the effect on
the host, a contiguous run of missing packets, is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coxa.geometry import FloatArray


@dataclass(frozen=True)
class RadioParams:
    """Link parameters.

    Attributes
    ----------
    connection_interval_ms : float
        BLE connection interval, ms. Default 15 ms [assumption]: a common central choice
        within the 7.5 ms - 4 s range the Bluetooth Core specification allows [src].
    jitter_mean_ms : float
        Mean of the exponential extra delay of the host stack, ms. Default 2 ms [assumption].
    p_enter_loss : float
        Per-packet probability of entering a loss burst. Default 0 (lossless).
    p_leave_loss : float
        Per-packet probability of leaving a loss burst (mean burst length ``1 / p_leave_loss``).
        Default 0.25 [assumption].
    att_mtu : int
        Negotiated ATT MTU, bytes (23-247); notifications carry ``att_mtu - 3`` bytes.
    """

    connection_interval_ms: float = 15.0
    jitter_mean_ms: float = 2.0
    p_enter_loss: float = 0.0
    p_leave_loss: float = 0.25
    att_mtu: int = 247

    def __post_init__(self) -> None:
        if self.connection_interval_ms <= 0:
            raise ValueError("connection_interval_ms must be positive")
        if not 0.0 <= self.p_enter_loss <= 1.0 or not 0.0 < self.p_leave_loss <= 1.0:
            raise ValueError("loss probabilities must lie in [0, 1] (p_leave_loss above 0)")
        if not 23 <= self.att_mtu <= 247:
            raise ValueError(f"att_mtu must be within 23..247, got {self.att_mtu}")

    @staticmethod
    def lossy(loss_fraction: float, mean_burst_packets: float = 4.0) -> RadioParams:
        """Parameters with a long-run loss fraction made of bursts of a mean length."""
        if not 0.0 <= loss_fraction < 1.0 or mean_burst_packets < 1.0:
            raise ValueError("need 0 <= loss_fraction < 1 and mean_burst_packets >= 1")
        p_leave = 1.0 / mean_burst_packets
        p_enter = loss_fraction * p_leave / (1.0 - loss_fraction)
        return RadioParams(p_enter_loss=p_enter, p_leave_loss=p_leave)


def transmit(
    t_queued_s: FloatArray, params: RadioParams, rng: np.random.Generator
) -> tuple[FloatArray, np.ndarray]:
    """Arrival times and delivery mask of packets queued at given board times.

    Parameters
    ----------
    t_queued_s : ndarray, shape (n,)
        True time at which each packet is handed to the radio, seconds, non-decreasing.
    params : RadioParams
    rng : numpy.random.Generator
        Source of the link's randomness (connection phase, jitter, losses).

    Returns
    -------
    t_arrival_s : ndarray, shape (n,)
        Host arrival time of each packet in true seconds, non-decreasing (the link keeps order).
    delivered : ndarray of bool, shape (n,)
        False for packets lost in a burst.
    """
    n = t_queued_s.size
    interval_s = params.connection_interval_ms * 1e-3
    phase_s = rng.uniform(0.0, interval_s)
    events = np.ceil((t_queued_s - phase_s) / interval_s) * interval_s + phase_s
    jitter = rng.exponential(params.jitter_mean_ms * 1e-3, size=n) if n else np.empty(0)
    t_arrival = np.maximum.accumulate(events + jitter) if n else np.empty(0)
    delivered = np.ones(n, dtype=bool)
    if params.p_enter_loss > 0.0 and n:
        draws = rng.uniform(size=n)
        bad = False
        for i in range(n):
            bad = draws[i] >= params.p_leave_loss if bad else draws[i] < params.p_enter_loss
            delivered[i] = not bad
    return t_arrival, delivered
