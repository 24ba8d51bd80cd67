"""Frame sources: the host side of board links."""

from coxa.sources._frames import ReceivedFrame, frame_arrays
from coxa.sources._link import LinkDecoder

__all__ = ["LinkDecoder", "ReceivedFrame", "frame_arrays"]
