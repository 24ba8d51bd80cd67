"""Frame sources: the host side of board links, behind one interface (:class:`Source`)."""

from coxa.sources._ble import BleLinkStats, BleSource
from coxa.sources._ble_link import BleLinkError
from coxa.sources._ble_params import BleBackend, BleBoard, BleParams
from coxa.sources._ble_tools import FoundBoard, identify_board, pair_board, scan_boards
from coxa.sources._frames import ReceivedFrame, frame_arrays
from coxa.sources._link import LinkDecoder
from coxa.sources._source import Arrival, BoardHealth, Source

__all__ = [
    "Arrival",
    "BleBackend",
    "BleBoard",
    "BleLinkError",
    "BleLinkStats",
    "BleParams",
    "BleSource",
    "BoardHealth",
    "FoundBoard",
    "LinkDecoder",
    "ReceivedFrame",
    "Source",
    "frame_arrays",
    "identify_board",
    "pair_board",
    "scan_boards",
]
