"""Fault safety of a step: a failure inside it leaves the optimizer as it was."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

_Step = TypeVar("_Step", bound=Callable[..., Any])


def no_grad(method: _Step) -> _Step:
    """``torch.no_grad()`` for the optimizers' methods, entered only when gradients are on:
    most of them run inside a step that already disabled them, and torch's decorator builds
    and enters a new context on every call (a visible cost on a small model's step)."""

    @functools.wraps(method)
    def without_grad(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return method(*args, **kwargs)
        with torch.no_grad():
            return method(*args, **kwargs)

    return without_grad  # type: ignore[return-value]


def guarded_step(step: _Step) -> _Step:
    """Run the decorated :meth:`~SharpnessAwareOptimizer.step` inside
    :meth:`~SharpnessAwareOptimizer.step_guard`: every optimizer that defines its own
    ``step`` decorates it with this, so that all share one rollback."""

    @functools.wraps(step)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self.step_guard():
            return step(self, *args, **kwargs)

    guarded.guarded_step = True  # type: ignore[attr-defined]
    return guarded  # type: ignore[return-value]



class StepGuard:
    """The rollback of :class:`~fgsam.optim.SharpnessAwareOptimizer`'s steps (a mixin of it)."""

    #: Attributes holding dicts that live only within one step (see :meth:`clear_step_buffers`).
    step_buffers: tuple[str, ...] = ()

    global_state: dict[str, Any]
    state: Any
    _guard_depth: int
    _ascents: int

    @contextlib.contextmanager
    def step_guard(self, manual: bool = False) -> Iterator[None]:
        r"""Run a step, or one half of a manual step, so that a failure leaves no trace.

        Every :meth:`step` of every optimizer runs inside this context (through
        :func:`guarded_step`), and so do :meth:`first_step` and :meth:`second_step`. If
        anything raises inside it (a closure that runs out of memory or is interrupted,
        returns ``None`` or a tensor of more than one element, a non-finite loss), then
        before the exception propagates:

        * the weights are copied back from the saved ones, bit for bit, and
          :attr:`is_perturbed` is ``False`` (a manual step is abandoned: :math:`w` is
          the point before its :meth:`first_step`);
        * :attr:`global_state` (the step counter included), the entries of
          :attr:`state` and, for seeded optimizers, the generator return to what they
          were on entry (:meth:`step_snapshot`, :meth:`rollback_step`);
        * the per-step buffers are dropped (:meth:`clear_step_buffers`), freeing their
          memory.

        The base optimizer steps only at the very end of a step, after the last pass,
        so a failure in a pass leaves it untouched. Per-parameter state is rolled back
        by reference: the optimizers replace those tensors during a step instead of
        writing into them, until the descent; what :meth:`before_descend` and
        :meth:`descend` update after the last pass (and anything the base optimizer's
        own ``step`` does) is outside this guarantee. Gradients in ``.grad`` are left as
        the failed pass made them. Without a failure the block only pays for the
        snapshot (a shallow copy of the state dictionaries and, if seeded, of the
        generator state), and a step always ends at :math:`w`.

        Args:
            manual (bool, optional): guard a :meth:`first_step` / :meth:`second_step`
                instead of a whole :meth:`step`. (default: ``False``)
        """
        if self._guard_depth:  # nested, e.g. a step calling super().step(): the outer rolls back
            yield
            return
        if not manual and (self._ascents or self.is_perturbed):
            raise RuntimeError(
                f"{type(self).__name__}.step() called between first_step() and "
                f"second_step(): finish the manual step with second_step(), or discard it "
                f"with restore_weights()"
            )
        snapshot = self.step_snapshot()
        self._guard_depth += 1
        try:
            yield
        except BaseException:
            self.rollback_step(snapshot)
            raise
        else:
            if not manual and self.is_perturbed:  # a step always ends at w
                self.restore_weights()
        finally:
            self._guard_depth -= 1

    def step_snapshot(self) -> dict[str, Any]:
        """What :meth:`rollback_step` returns to: shallow copies of :attr:`global_state`
        and of every :attr:`state` entry (subclasses extend, e.g. with the generator)."""
        return {
            "global_state": dict(self.global_state),
            "state": {p: dict(entries) for p, entries in self.state.items()},
        }

    @no_grad
    def rollback_step(self, snapshot: dict[str, Any]) -> None:
        """Undo a failed step: restore the weights, drop the per-step buffers and put
        :attr:`global_state` and :attr:`state` back as :meth:`step_snapshot` saw them."""
        self.restore_weights()
        self.clear_step_buffers()
        self.global_state.clear()
        self.global_state.update(snapshot["global_state"])
        saved = snapshot["state"]
        for p in [p for p in self.state if p not in saved]:
            del self.state[p]
        for p, entries in saved.items():
            current = self.state[p]
            current.clear()
            current.update(entries)

    def clear_step_buffers(self) -> None:
        """Drop what a step keeps only until its descent (copies of gradients, the
        accumulated perturbation): every dict named in :attr:`step_buffers` is emptied;
        subclasses holding other buffers extend this."""
        for name in self.step_buffers:
            setattr(self, name, {})


__all__ = ["StepGuard", "guarded_step", "no_grad"]
