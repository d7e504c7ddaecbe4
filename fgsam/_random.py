"""Private randomness layer: one rule from a seed to a generator, and named seed streams.

Every random draw in fgsam comes from a ``torch.Generator`` of its own, made by
:func:`make_generator`: an int seeds a new generator, a generator is used as given, and
``None`` takes the seed of the global generator, ``torch.initial_seed()``, so that a program
that calls ``torch.manual_seed(s)`` repeats. The global generator itself is never drawn from.
:func:`derive_seed` splits one run seed into independent named streams.

This module imports nothing from the rest of fgsam, so every package may use it.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, stream: str) -> int:
    """A seed for one named random stream (``"train"``, ``"val"``, ``"test/2"``, ...).

    Derived from ``seed`` and ``stream`` by hashing, so streams are independent of each
    other and of how many draws another stream made.

    Example:
        >>> derive_seed(0, "train") == derive_seed(0, "train") != derive_seed(0, "val")
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    digest = hashlib.sha256(f"{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def make_generator(generator: int | torch.Generator | None,
                   device: torch.device | str | None = None,
                   name: str = "generator") -> torch.Generator:
    """A ``torch.Generator`` from an int seed, a generator or ``None``.

    An int seeds a new generator on ``device`` (default: the CPU); ``None`` seeds one from
    ``torch.initial_seed()``; a generator is used as given, and must be of ``device``'s
    type when a device is given. Anything else is a one-line ``ValueError`` naming
    ``name``.

    Example:
        >>> g = make_generator(3)
        >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=make_generator(3)).item()
        True
    """
    device = torch.device(device) if device is not None else None
    if isinstance(generator, torch.Generator):
        if device is not None and generator.device.type != device.type:
            raise ValueError(f"{name} must be a torch.Generator on {device.type}, where the "
                             f"draws are made, got one on {generator.device}")
        return generator
    if generator is None:
        generator = torch.initial_seed()
    elif isinstance(generator, bool) or not isinstance(generator, int):
        raise ValueError(f"{name} must be None, an int seed or a torch.Generator, got "
                         f"{generator!r}")
    return torch.Generator(device=device or "cpu").manual_seed(generator)


__all__ = ["derive_seed", "make_generator"]
