"""Command-line arguments that several ``fgsam`` commands share, spelled once."""

from __future__ import annotations

import argparse

#: The ``--device`` help of every command: the one default rule is resolve_device's.
DEVICE_HELP = "torch device (default: cuda if available, else cpu)"
#: The ``--threads`` help of the training commands.
THREADS_HELP = ("torch CPU threads (default: torch's); with 1, the CPU-time column is "
                "comparable with fgsam bench --threads 1 --clock cpu")


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_run_arguments(p: argparse.ArgumentParser, *, out_help: str, checkpoint_help: str) -> None:
    """``--device``, ``--threads``, ``--out`` and ``--save-checkpoint`` of a training command
    (``--threads`` is checked by the command, whose message the tests pin)."""
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    p.add_argument("--out", default=None, help=out_help)
    p.add_argument("--save-checkpoint", default=None, metavar="DIR", help=checkpoint_help)


def add_log_arguments(p: argparse.ArgumentParser, *, rows: str, file: str) -> None:
    """``--log-dir`` (each run's metrics, a row per ``rows``, in ``DIR/<file>.csv`` and
    TensorBoard events) and ``--quiet`` / ``--no-progress`` of a training command."""
    p.add_argument("--log-dir", default=None, metavar="DIR",
                   help=f"write each run's metrics, a row per {rows}, to DIR/{file}.csv as "
                        f"they come (and TensorBoard events if tensorboard is installed)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress bars or progress lines")


def check_positive_flags(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    """Refuse an integer flag of ``names`` below 1 (``None``, a default left unset, passes),
    naming the flag and the value."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value}")


__all__ = ["DEVICE_HELP", "THREADS_HELP", "add_log_arguments", "add_run_arguments",
           "check_positive_flags", "positive_int"]
