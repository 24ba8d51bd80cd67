"""Entry point of the ``coxa`` command: argument parsing and sub-command dispatch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level argument parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(prog="coxa", description=__doc__)
    parser.add_subparsers(dest="command", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``coxa`` command and return its exit status."""
    parser = build_parser()
    parser.parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
