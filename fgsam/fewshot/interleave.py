"""Staged runs: generators that yield between stages, run alone or interleaved in turn."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


def drain(stages: Generator[None, None, T]) -> T:
    """Run a generator of stages to its end; its return value.

    Example:
        >>> result = drain(trainer.repeat_stages(0))  # the same as trainer.run_repeat(0)
    """
    while True:
        try:
            next(stages)
        except StopIteration as stop:
            return stop.value


def rotation(names: list[str], turn: int) -> list[str]:
    """``names`` starting at ``turn`` (modulo their number): who goes first rotates.

    Example:
        >>> rotation(["adam", "sam", "fgsam"], 1)
        ['sam', 'fgsam', 'adam']
    """
    k = turn % len(names)
    return names[k:] + names[:k]


def interleave(stages: dict[str, Generator[None, None, Any]],
               finished: Callable[[str, Any], None]) -> None:
    """Run one stage of each generator in ``stages`` in turn (in the dict's order) until
    all have ended, calling ``finished(name, value)`` as each ends with its return value.
    What ``fgsam fsnc`` does with the validation intervals of the optimizers it compares,
    so that a change of the machine's load lands on all of them alike.

    Example:
        >>> interleave({o: t.repeat_stages(0) for o, t in trainers.items()},
        ...            lambda name, result: print(name, result.mean))
    """
    stages = dict(stages)
    while stages:
        for name in list(stages):
            try:
                next(stages[name])
            except StopIteration as stop:
                del stages[name]
                finished(name, stop.value)


__all__ = ["drain", "interleave", "rotation"]
