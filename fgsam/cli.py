"""The ``fgsam`` command: ``fgsam --version`` and one subcommand per workflow.

Each subcommand lives next to the code it drives and exposes
``add_parser(subparsers)``, which registers its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fgsam import __version__

#: Modules that provide a subcommand (each defines ``add_parser``), in help order.
SUBCOMMANDS: list[str] = ["fgsam.data.command", "fgsam.fewshot.command", "fgsam.mol.command",
                          "fgsam.sharpness.command", "fgsam.bench.command"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="fgsam",
        description="Fast sharpness-aware training for graph neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"fgsam {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fgsam`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["SUBCOMMANDS", "build_parser", "main"]
