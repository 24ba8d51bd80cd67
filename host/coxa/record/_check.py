"""``coxa capture check``: is a capture intact, and are all the boards' samples in it?"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from coxa.capture import CaptureReport, LinkKind, iter_capture
from coxa.sources import LinkDecoder, SequenceTracker, SerialLinkDecoder


@dataclass(frozen=True)
class BoardCheck:
    """One board's samples in a capture.

    Attributes
    ----------
    board_id : int
    first_seq, last_seq : int
        First and last sequence number found (u32).
    samples : int
        Distinct samples found.
    missing : int
        Samples between the first and the last one found that are not in the capture.
    duplicates : int
        Samples found more than once (backfilled after they had arrived: harmless).
    frames : int
        Data frames decoded.
    """

    board_id: int
    first_seq: int
    last_seq: int
    samples: int
    missing: int
    duplicates: int
    frames: int


@dataclass(frozen=True)
class CaptureCheck:
    """The result of checking one capture.

    Attributes
    ----------
    path : pathlib.Path
    report : coxa.capture.CaptureReport
        Damage found by the reader (damaged spans, torn tail).
    boards : tuple of BoardCheck
        Per board, by id.
    protocol_errors : int
        Packets or frames that did not decode (bad BLE packets, bad serial packets).
    other_records : int
        Records of other link kinds.
    """

    path: Path
    report: CaptureReport
    boards: tuple[BoardCheck, ...]
    protocol_errors: int
    other_records: int

    @property
    def samples_lost(self) -> int:
        """Samples the boards produced that are missing from the capture (sequence gaps)."""
        return sum(b.missing for b in self.boards)

    @property
    def damaged(self) -> bool:
        """Whether the file has damaged records or a torn or truncated end."""
        return not self.report.clean


def check_capture(path: str | os.PathLike[str]) -> CaptureCheck:
    """Read a whole capture, decode it as the live sources do, and count the missing samples.

    A sample counts as missing when its sequence number lies between the first and the last
    one found for its board and it is in no data frame (live or backfill) of the capture.
    Samples before the first or after the last one found are not visible in the file.

    Raises
    ------
    coxa.capture.CaptureError
        Not a capture, or its header is damaged.
    """
    ble: dict[int, LinkDecoder] = {}
    serial: dict[int, SerialLinkDecoder] = {}
    trackers: dict[int, SequenceTracker] = {}
    frames: dict[int, int] = {}
    other = 0
    with iter_capture(path) as stream:
        for record in stream:
            t_rx_us = record.t_rx_ns // 1000
            if record.kind == LinkKind.BLE:
                link = ble.get(record.link_id)
                if link is None:
                    link = ble[record.link_id] = LinkDecoder(record.link_id)
                received = link.push(t_rx_us, record.payload)
                decoded = [] if received is None else [received]
            elif record.kind == LinkKind.SERIAL:
                port = serial.get(record.link_id)
                if port is None:
                    port = serial[record.link_id] = SerialLinkDecoder(record.link_id)
                decoded = port.feed(t_rx_us, record.payload)[0]
            else:
                other += 1
                continue
            for item in decoded:
                board = item.frame.board_id
                tracker = trackers.get(board)
                if tracker is None:
                    tracker = trackers[board] = SequenceTracker()
                tracker.add(item.frame.seq0, item.frame.count)
                frames[board] = frames.get(board, 0) + 1
        report = stream.report
    boards = tuple(
        BoardCheck(
            board_id=board,
            first_seq=(tracker.first or 0) % (1 << 32),
            last_seq=(tracker.newest_end - 1) % (1 << 32),
            samples=tracker.received,
            missing=tracker.missing(),
            duplicates=tracker.duplicates,
            frames=frames[board],
        )
        for board, tracker in sorted(trackers.items())
    )
    errors = sum(d.protocol_errors for d in ble.values()) + sum(
        d.protocol_errors for d in serial.values()
    )
    return CaptureCheck(Path(path), report, boards, errors, other)
