"""Virtual BLE radio for tests and simulation: bumble boards behind a bleak backend.

See ``docs/ble.md``: simulated boards (protocol v1 GATT peripherals fed by ``coxa.sim``) on
in-process bumble controllers, and bleak backend classes so that unmodified bleak-API host
code (:class:`coxa.sources.BleSource`) talks to them.
"""

from coxa.sources.virtual._bleak import (
    VirtualBleakClient,
    VirtualBleakScanner,
    advertisement_data,
)
from coxa.sources.virtual._board import (
    BoardFaults,
    VirtualBoard,
    VirtualBoardParams,
    board_address,
    frame_budget,
)
from coxa.sources.virtual._radio import CENTRAL_ADDRESS, VirtualRadio
from coxa.sources.virtual._samples import BoardSamples, board_samples

__all__ = [
    "CENTRAL_ADDRESS",
    "BoardFaults",
    "BoardSamples",
    "VirtualBleakClient",
    "VirtualBleakScanner",
    "VirtualBoard",
    "VirtualBoardParams",
    "VirtualRadio",
    "advertisement_data",
    "board_address",
    "board_samples",
    "frame_budget",
]
