"""The ``fgsam`` command: ``fgsam --version`` and one subcommand per workflow.

Each subcommand lives next to the code it drives and exposes
``add_parser(subparsers)``, which registers its parser and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from types import FrameType

from fgsam._io import remove_temporaries
from fgsam._version import __version__

#: Modules that provide a subcommand (each defines ``add_parser``), in help order.
SUBCOMMANDS: list[str] = ["fgsam.data.command", "fgsam.fewshot.command", "fgsam.node.command",
                          "fgsam.fewshot.tune", "fgsam.mol.command", "fgsam.sharpness.command",
                          "fgsam.bench.command"]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="fgsam",
        description="Fast sharpness-aware training for graph neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"fgsam {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_parser(sub)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true",
                             help="show the full traceback of an error")
    return parser


#: Errors about the input: their message says what to change.
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError)


class Terminated(SystemExit):
    """Raised in the main thread on ``SIGTERM``, so that ``finally`` blocks run (temporary
    files removed, results written so far kept)."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    remove_temporaries()
    raise Terminated(128 + signum)


def one_line(err: BaseException) -> str:
    """The error as one line: its message with newlines folded (the type name is added
    for errors that are not about the input, whose message alone may not say what
    failed)."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, USER_ERRORS):
        return text
    return f"{type(err).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fgsam`` console script; returns the exit status.

    0: done; 2: an error (one line on stderr, the traceback with ``--debug``); 3: the
    command finished but some runs diverged (recorded in its output); 130: interrupted;
    143: terminated (``SIGTERM``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if main_thread else None
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated as err:
        print("terminated", file=sys.stderr)
        return int(err.code or 143)
    except Exception as err:  # every command-line error becomes one line
        if getattr(args, "debug", False):
            traceback.print_exc()
        else:
            hint = "" if isinstance(err, USER_ERRORS) else " (--debug shows the traceback)"
            print(f"fgsam {args.command}: error: {one_line(err)}{hint}", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


__all__ = ["SUBCOMMANDS", "Terminated", "build_parser", "main", "one_line"]
