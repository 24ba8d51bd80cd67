"""Frame sources: the host side of board links, behind one interface (:class:`Source`)."""

from coxa.sources._frames import ReceivedFrame, frame_arrays
from coxa.sources._link import LinkDecoder
from coxa.sources._source import Arrival, BoardHealth, Source

__all__ = ["Arrival", "BoardHealth", "LinkDecoder", "ReceivedFrame", "Source", "frame_arrays"]
