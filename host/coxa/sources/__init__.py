"""Frame sources: the host side of board links, behind one interface (:class:`Source`)."""

from coxa.sources._ble import BleLinkStats, BleSource
from coxa.sources._ble_link import BleLinkError
from coxa.sources._ble_params import BleBackend, BleBoard, BleParams
from coxa.sources._ble_tools import FoundBoard, identify_board, pair_board, scan_boards
from coxa.sources._frames import ReceivedFrame, frame_arrays
from coxa.sources._link import LinkDecoder, ReceivedPacket, decode_packets
from coxa.sources._monitor import BoardMonitor, MonitorParams, SequenceTracker
from coxa.sources._replay import ReplaySource, capture_rig
from coxa.sources._rigs import UNASSIGNED_SEGMENT, fused_segments
from coxa.sources._serial import (
    SerialParams,
    SerialPort,
    SerialPortLike,
    SerialSource,
    open_serial_port,
)
from coxa.sources._serial_decode import SerialLinkDecoder
from coxa.sources._sim import SimParams, SimSource, default_sim_rig
from coxa.sources._source import Arrival, BoardHealth, Source, StoppableSource

__all__ = [
    "UNASSIGNED_SEGMENT",
    "Arrival",
    "BleBackend",
    "BleBoard",
    "BleLinkError",
    "BleLinkStats",
    "BleParams",
    "BleSource",
    "BoardHealth",
    "BoardMonitor",
    "FoundBoard",
    "LinkDecoder",
    "MonitorParams",
    "ReceivedFrame",
    "ReceivedPacket",
    "ReplaySource",
    "SequenceTracker",
    "SerialLinkDecoder",
    "SerialParams",
    "SerialPort",
    "SerialPortLike",
    "SerialSource",
    "SimParams",
    "SimSource",
    "Source",
    "StoppableSource",
    "capture_rig",
    "decode_packets",
    "default_sim_rig",
    "frame_arrays",
    "fused_segments",
    "identify_board",
    "open_serial_port",
    "pair_board",
    "scan_boards",
]
