"""What every sharpness measure shares: checked parameters, seeded noise, exact restores."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor

from fgsam._random import make_generator as _make_generator
from fgsam.typing import Closure

#: Seed used when ``generator=None``, so that a measurement is reproducible by default.
DEFAULT_SEED = 0


def check_params(params: Iterable[Tensor], *, requires_grad: bool = True) -> list[Tensor]:
    """``params`` as a list of floating-point tensors (that require grad, if asked).

    Raises ``ValueError`` naming the offending entry; frozen parameters cannot be
    differentiated, so they must be left out rather than silently measured as flat.
    """
    if isinstance(params, Tensor):
        params = [params]
    try:
        out = list(params)
    except TypeError:
        raise ValueError(
            f"params must be an iterable of tensors (e.g. model.parameters()), got {params!r}"
        ) from None
    if not out:
        raise ValueError("params must contain at least one tensor, got an empty iterable")
    seen: set[int] = set()
    for i, p in enumerate(out):
        if not isinstance(p, Tensor) or not p.is_floating_point():
            kind = f"a {p.dtype} tensor" if isinstance(p, Tensor) else type(p).__name__
            raise ValueError(f"params[{i}] must be a floating-point tensor, got {kind}")
        if requires_grad and not p.requires_grad:
            raise ValueError(
                f"params[{i}] (shape {tuple(p.shape)}) does not require grad; pass only the "
                f"parameters to measure, e.g. [p for p in model.parameters() if p.requires_grad]"
            )
        if id(p) in seen:
            raise ValueError(f"params[{i}] (shape {tuple(p.shape)}) appears twice in params")
        seen.add(id(p))
    return out


def common_dtype(params: list[Tensor]) -> torch.dtype:
    """The promoted floating-point dtype of ``params``."""
    return functools.reduce(torch.promote_types, (p.dtype for p in params))


def make_generator(generator: int | torch.Generator | None) -> torch.Generator:
    """A ``torch.Generator`` from a seed, a generator (used as is) or ``None``: the rule of
    :func:`fgsam._random.make_generator`, except that ``None`` means :data:`DEFAULT_SEED`
    (a measurement repeats without any ``torch.manual_seed``)."""
    try:
        return _make_generator(DEFAULT_SEED if generator is None else generator)
    except ValueError:
        raise ValueError(f"generator must be an int seed, a torch.Generator or None, got "
                         f"{generator!r}") from None


def gaussian_like(
    tensors: list[Tensor], generator: torch.Generator, std: float = 1.0
) -> list[Tensor]:
    """Standard normal noise shaped like ``tensors``, drawn on the generator's device.

    Drawing where the generator lives (then moving) makes a CPU seed give the same
    numbers whatever device the parameters are on.
    """
    return [
        torch.randn(t.shape, generator=generator, device=generator.device, dtype=t.dtype)
        .mul_(std)
        .to(t.device)
        for t in tensors
    ]


def evaluate(closure: Closure, what: str = "closure") -> Tensor:
    """Call ``closure`` and check that it returned the loss as a one-element float tensor."""
    loss = closure()
    if not isinstance(loss, Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        shape = f" of shape {tuple(loss.shape)}" if isinstance(loss, Tensor) else ""
        raise ValueError(
            f"{what} must return the loss as a one-element floating-point tensor, got "
            f"{type(loss).__name__}{shape}"
        )
    return loss.reshape(())


def evaluate_finite(closure: Closure, what: str = "closure") -> Tensor:
    """:func:`evaluate`, raising ``FloatingPointError`` if the loss is NaN or infinite."""
    loss = evaluate(closure, what)
    require_finite(float(loss.detach()))
    return loss


def require_finite(loss: float) -> float:
    """``loss`` if finite; else ``FloatingPointError`` (sharpness needs a finite centre)."""
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the loss at the unperturbed weights is {loss}; sharpness is only defined "
            f"around a point with a finite loss"
        )
    return loss


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


@contextlib.contextmanager
def restored(params: list[Tensor]) -> Iterator[list[Tensor]]:
    """Yield copies of ``params``; on exit (also on error) copy them back bit for bit."""
    with torch.no_grad():
        saved = [p.detach().clone() for p in params]
    try:
        yield saved
    finally:
        with torch.no_grad():
            torch._foreach_copy_(params, saved)


@torch.no_grad()
def set_weights(params: list[Tensor], values: list[Tensor]) -> None:
    """Copy ``values`` into ``params`` in place (autograd does not record it)."""
    torch._foreach_copy_(params, values)


__all__ = [
    "DEFAULT_SEED",
    "check_choice",
    "check_params",
    "common_dtype",
    "evaluate",
    "evaluate_finite",
    "gaussian_like",
    "make_generator",
    "require_finite",
    "restored",
    "set_weights",
]
