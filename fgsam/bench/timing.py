"""Interleaved, median-based timing of training steps (the benchmarks' one clock)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fgsam._arguments import DEVICE_HELP
from fgsam._timing import machine_description, synchronize
from fgsam._validate import resolve_device


@dataclass
class Timing:
    """Per-step times (seconds) of one contender over the rounds."""

    name: str
    per_step: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.per_step)

    def paired_ratio(self, other: Timing) -> float:
        """Median over rounds of this contender's time divided by ``other``'s in the same
        round: a load change between rounds cancels in each ratio."""
        if len(self.per_step) != len(other.per_step) or not self.per_step:
            raise ValueError(
                f"paired_ratio needs the same non-zero number of rounds, got "
                f"{len(self.per_step)} ({self.name}) and {len(other.per_step)} ({other.name})"
            )
        return statistics.median(a / b for a, b in zip(self.per_step, other.per_step))

    def __repr__(self) -> str:
        ms = self.median * 1e3
        return f"Timing({self.name!r}, median={ms:.3f} ms, rounds={len(self.per_step)})"


def interleaved_medians(
    steps: dict[str, Callable[[], object]],
    rounds: int = 15,
    steps_per_round: int = 10,
    warmup: int = 3,
    device: torch.device | str | None = None,
    clock: str = "wall",
) -> dict[str, Timing]:
    """Time every contender's step function in interleaved rounds.

    Each round runs ``steps_per_round`` steps of every contender in turn (the order
    rotates from round to round), so slow drifts of the machine hit all of them alike;
    the per-step time of a round is its block time divided by ``steps_per_round``, and
    contenders are compared by the median over rounds.

    ``clock="cpu"`` times each block by the CPU time of this process
    (:func:`time.process_time`) instead of the wall clock, so time spent descheduled on a
    CPU shared with other work does not count. It is meant for a shared CPU with one torch
    thread (``--threads 1`` in the benchmarks): with several threads the CPU time of all
    of them adds up, and spinning idle threads count too. It cannot see GPU work, so it is
    refused with a CUDA ``device``.

    Args:
        steps (dict): name → a function running one training step.
        rounds (int, optional): number of rounds. (default: ``15``)
        steps_per_round (int, optional): steps per contender per round. (default: ``10``)
        warmup (int, optional): untimed steps of each contender first. (default: ``3``)
        device (torch.device, optional): synchronised around each block on CUDA.
        clock (str, optional): ``"wall"`` (:func:`time.perf_counter`) or ``"cpu"``
            (process CPU time, CPU devices only). (default: ``"wall"``)

    Example:
        >>> timings = interleaved_medians({"adam": adam_step, "sam": sam_step}, rounds=9)
        >>> timings["sam"].median / timings["adam"].median  # SAM's cost in Adam steps
    """
    if rounds < 1 or steps_per_round < 1 or warmup < 0:
        raise ValueError(
            f"rounds and steps_per_round must be >= 1 and warmup >= 0, got "
            f"{rounds}, {steps_per_round}, {warmup}"
        )
    now = _clock(clock, device)
    names = list(steps)
    for name in names:
        for _ in range(warmup):
            steps[name]()
    out = {name: Timing(name) for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            synchronize(device)
            start = now()
            for _ in range(steps_per_round):
                steps[name]()
            synchronize(device)
            out[name].per_step.append((now() - start) / steps_per_round)
    return out


#: The clocks of :func:`interleaved_medians`.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def _clock(clock: str, device: torch.device | str | None) -> Callable[[], float]:
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if clock == "cpu" and device is not None and torch.device(device).type != "cpu":
        raise ValueError(f"clock='cpu' measures the CPU time of this process and cannot see "
                         f"work on device {str(device)!r}: use clock='wall' there")
    return CLOCKS[clock]


def add_timing_arguments(parser: argparse.ArgumentParser, rounds: int = 9, steps: int = 10,
                         steps_help: str = "steps per contender per round") -> None:
    """The options every timing script shares: ``--rounds``, ``--steps``, ``--device``,
    ``--threads`` and ``--clock`` (apply them with :func:`timing_device`)."""
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--steps", type=int, default=steps, help=steps_help)
    parser.add_argument("--device", default=None, help=DEVICE_HELP)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall",
                        help="cpu: process CPU time (CPU device only; use with --threads 1)")


def timing_device(args: argparse.Namespace) -> torch.device:
    """Apply :func:`add_timing_arguments`' options: set ``--threads``, resolve ``--device``
    (also written back to ``args.device``) and refuse ``--clock cpu`` off the CPU."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device = resolve_device(args.device, "--device")
    if args.clock == "cpu" and device.type != "cpu":
        raise SystemExit("--clock cpu measures the CPU time of this process: use it with "
                         "--device cpu")
    return device


def timing_header(args: argparse.Namespace, detail: str = "", rounds: int | None = None) -> str:
    """The lines a timing script prints above its table: the command, the machine and how
    it was timed (``rounds`` in place of ``args.rounds`` where a script overrides it;
    ``detail`` ends the last line)."""
    script = Path(sys.argv[0]).name
    clock = "process CPU" if args.clock == "cpu" else "wall-clock"
    return "\n".join([
        f"command: python benchmarks/{script} {' '.join(sys.argv[1:])}".rstrip(),
        f"machine: {machine_description(args.device)}",
        f"{args.rounds if rounds is None else rounds} rounds x {args.steps} steps per contender, "
        f"interleaved; medians of {clock} time per step{'; ' + detail if detail else ''}",
    ])


__all__ = [
    "CLOCKS",
    "Timing",
    "add_timing_arguments",
    "interleaved_medians",
    "machine_description",
    "synchronize",
    "timing_device",
    "timing_header",
]
