"""Read the board's log.

The firmware keeps a small ring log on its filesystem: ``/log.txt`` (current) and
``/log.1.txt`` (the previous one, rotated at ``coxa_fw.main.LOG_MAX_BYTES``); each line is
``<seconds since boot> <text>``. Unless deployed with ``--no-log-echo`` it also echoes each line
on the USB console as ``NUL "#LOG " text LF NUL`` (NUL-delimited, so a host reading binary
frames from the same port skips it as one bad packet and loses no frame).

Two ways to read it::

    python tools/fw_log.py --port /dev/ttyACM0            # both files, via mpremote
    python tools/fw_log.py --port /dev/ttyACM0 --follow   # live echo from the console

Reading the files goes through ``mpremote`` and so interrupts the running firmware; the board
is hard-reset afterwards (``--stay`` leaves it at the REPL instead). ``--follow`` only listens
to the serial port (pyserial) and disturbs nothing, but needs the port to itself.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

LOG_FILES = ("log.1.txt", "log.txt")
ECHO_PREFIX = b"#LOG "

READ_SNIPPET = f"""for _n in {LOG_FILES!r}:
    try:
        with open(_n) as _f:
            while True:
                _b = _f.read(512)
                if not _b:
                    break
                print(_b, end="")
    except OSError:
        pass
"""


def mpremote_executable() -> str:
    beside = Path(sys.executable).parent / "mpremote"
    if beside.is_file():
        return str(beside)
    return shutil.which("mpremote") or "mpremote"


def read_commands(port: str, stay: bool) -> list[list[str]]:
    """mpremote command lines that print both log files (then reset the board)."""
    mp = [mpremote_executable(), "connect", port]
    cmds = [[*mp, "exec", READ_SNIPPET]]
    if not stay:
        cmds.append([*mp, "reset"])
    return cmds


class EchoSplitter:
    """Pick the firmware's echoed log lines out of a console byte stream.

    Chunks are separated by NUL bytes; a chunk that starts with ``#LOG `` is a log line,
    anything else (COBS-framed data packets, REPL noise) is ignored.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        lines: list[str] = []
        self._buf.extend(data)
        while True:
            z = self._buf.find(b"\x00")
            if z < 0:
                if len(self._buf) > 4096:  # no delimiter for long: not a log line
                    del self._buf[:]
                break
            chunk = bytes(self._buf[:z])
            del self._buf[: z + 1]
            if chunk.startswith(ECHO_PREFIX):
                lines.append(chunk[len(ECHO_PREFIX) :].decode("utf-8", "replace").rstrip("\r\n"))
        return lines


def follow(port: str, baud: int, duration_s: float | None, out: object = None) -> int:
    """Print echoed log lines from the serial console until Ctrl-C (or ``duration_s``)."""
    import serial  # pyserial, installed with mpremote

    write = print if out is None else out
    splitter = EchoSplitter()
    end = None if duration_s is None else time.monotonic() + duration_s
    with serial.Serial(port, baud, timeout=0.2) as ser:
        try:
            while end is None or time.monotonic() < end:
                data = ser.read(512)
                for line in splitter.feed(data):
                    write(line)  # type: ignore[operator]
                    sys.stdout.flush()
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--port", default="auto", help="serial port (default: mpremote's auto)")
    parser.add_argument("--follow", action="store_true", help="print the live console echo")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate for --follow")
    parser.add_argument("--duration", type=float, default=None, help="stop --follow after S s")
    parser.add_argument("--stay", action="store_true", help="no reset after reading the files")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)

    if args.follow:
        if args.port == "auto":
            parser.error("--follow needs --port (the console's serial device)")
        if args.dry_run:
            print(f"# listen on {args.port} at {args.baud} baud for NUL '#LOG ' lines")
            return 0
        return follow(args.port, args.baud, args.duration)

    cmds = read_commands(args.port, args.stay)
    if args.dry_run:
        for cmd in cmds:
            print(shlex.join(cmd))
        return 0
    for cmd in cmds:
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0:
            print(f"fw_log: mpremote failed ({proc.returncode})", file=sys.stderr)
            return proc.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
