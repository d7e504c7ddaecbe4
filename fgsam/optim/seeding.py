"""Seeded randomness for the stochastic optimizers: their own generator, saved with them."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def make_generator(
    generator: int | torch.Generator | None, device: torch.device | str | None = None
) -> torch.Generator:
    """A ``torch.Generator`` from a seed, a generator, or ``None``.

    An int seeds a new generator on ``device`` (where the parameters live, so draws
    need no copy); ``None`` seeds one from ``torch.initial_seed()``, so that runs started
    with ``torch.manual_seed(s)`` repeat; a generator is used as given. The global
    generator itself is never drawn from.
    """
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        generator = torch.initial_seed()
    elif isinstance(generator, bool) or not isinstance(generator, int):
        raise ValueError(
            f"generator must be None, an int seed or a torch.Generator, got {generator!r}"
        )
    return torch.Generator(device=torch.device(device or "cpu")).manual_seed(generator)


class SeededMixin:
    """Adds :attr:`generator` to a :class:`~fgsam.optim.SharpnessAwareOptimizer`.

    The generator state travels in ``global_state["generator"]`` through
    :meth:`state_dict` / :meth:`load_state_dict`, so a reloaded optimizer continues
    with bit-identical draws.
    """

    generator: torch.Generator
    global_state: dict[str, Any]

    def init_generator(self, generator: int | torch.Generator | None) -> None:
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

    def state_dict(self) -> dict[str, Any]:
        self.global_state["generator"] = self.generator.get_state()
        return super().state_dict()  # type: ignore[misc]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)  # type: ignore[misc]
        saved = self.global_state.get("generator")
        if saved is None:
            raise ValueError(
                f"state_dict has no generator state, so {type(self).__name__} cannot continue "
                f"its random draws; it was not saved by {type(self).__name__}.state_dict()"
            )
        self.generator.set_state(saved)


__all__ = ["SeededMixin", "make_generator"]
