"""Seeded randomness for the stochastic optimizers: their own generator, saved with them."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fgsam._random import make_generator as _make_generator


def make_generator(
    generator: int | torch.Generator | None, device: torch.device | str | None = None
) -> torch.Generator:
    """A ``torch.Generator`` from a seed, a generator, or ``None``.

    An int seeds a new generator on ``device`` (where the parameters live, so draws
    need no copy); ``None`` seeds one from ``torch.initial_seed()``, so that runs started
    with ``torch.manual_seed(s)`` repeat; a generator is used as given, on any device (the
    draws are moved). The global generator itself is never drawn from.

    Example:
        >>> make_generator(3).initial_seed()
        3
    """
    if isinstance(generator, torch.Generator):
        return generator
    return _make_generator(generator, device)


class SeededMixin:
    """Adds :attr:`generator` to a :class:`~fgsam.optim.SharpnessAwareOptimizer`.

    The generator state travels in ``global_state["generator"]`` through
    :meth:`state_dict` / :meth:`load_state_dict`, so a reloaded optimizer continues
    with bit-identical draws; a step that fails puts the generator back where it was
    before the step (:meth:`~fgsam.optim.SharpnessAwareOptimizer.step_guard`), so
    retrying it draws the same numbers.
    """

    generator: torch.Generator
    global_state: dict[str, Any]

    def init_generator(self, generator: int | torch.Generator | None) -> None:
        """Set :attr:`generator` from the ``generator`` argument every seeded optimizer
        takes: a :class:`torch.Generator` is used as it is, an ``int`` seeds a new one on
        the parameters' device, ``None`` seeds one from ``torch.initial_seed()``."""
        self.generator = make_generator(generator, self._device())  # type: ignore[attr-defined]
        self.global_state["generator"] = self.generator.get_state()

    def normal(self, like: Tensor) -> Tensor:
        """A standard normal draw shaped and typed like ``like``, on its device."""
        g = self.generator
        return torch.randn(like.shape, generator=g, device=g.device, dtype=like.dtype).to(
            like.device
        )

    def uniform(self, like: Tensor) -> Tensor:
        """A U[0, 1) draw shaped and typed like ``like``, on its device."""
        g = self.generator
        return torch.rand(like.shape, generator=g, device=g.device, dtype=like.dtype).to(
            like.device
        )

    def draws(self, n: int, device: torch.device | None = None) -> Tensor:
        """``n`` U[0, 1) draws in the default dtype, moved to ``device`` if given (they
        are drawn where the generator lives)."""
        g = self.generator
        values = torch.rand(n, generator=g, device=g.device)
        return values if device is None else values.to(device)

    def permutation(self, n: int) -> Tensor:
        """A random permutation of ``range(n)``, on the generator's device."""
        g = self.generator
        return torch.randperm(n, generator=g, device=g.device)

    def step_snapshot(self) -> dict[str, Any]:
        snapshot = super().step_snapshot()  # type: ignore[misc]
        snapshot["generator"] = self.generator.get_state()
        return snapshot

    def rollback_step(self, snapshot: dict[str, Any]) -> None:
        super().rollback_step(snapshot)  # type: ignore[misc]
        self.generator.set_state(snapshot["generator"])

    def state_dict(self) -> dict[str, Any]:
        self.global_state["generator"] = self.generator.get_state()
        return super().state_dict()  # type: ignore[misc]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        global_state = state_dict.get("global_state") if isinstance(state_dict, dict) else None
        # Checked before anything is loaded, so that a refused dict changes nothing.
        if isinstance(global_state, dict) and global_state.get("generator") is None:
            raise ValueError(
                f"state_dict has no generator state, so {type(self).__name__} cannot continue "
                f"its random draws; it was not saved by {type(self).__name__}.state_dict()"
            )
        super().load_state_dict(state_dict)  # type: ignore[misc]
        self.generator.set_state(self.global_state["generator"])


__all__ = ["SeededMixin", "make_generator"]
