r"""Gradient accumulation: one optimizer step over a large batch fed in micro-batches.

A sharpness-aware step evaluates its closure several times (at :math:`w`, at
:math:`w + \epsilon`, ...), so accumulation cannot happen outside the step, as with a
plain optimizer: it happens **inside the closure**. :func:`accumulate` turns a loss
function of one micro-batch into one closure that, each time the optimizer evaluates it,
runs every micro-batch and returns the large batch's loss; when the optimizer calls
``backward`` on that loss, the parameters receive the large batch's gradient. Only one
micro-batch's autograd graph is alive at a time. The optimizers need no change: the
returned loss is an ordinary autograd node whose gradient with respect to the parameters
is the accumulated one, so scaling it (``GradScaler``), back-propagating it or
differentiating it with :func:`torch.autograd.grad` all work as on a full-batch loss.

The rule. With micro-batches :math:`B_1, \dots, B_M` of sizes :math:`n_i` and
:math:`N = \sum_i n_i`, a *mean* loss over the large batch is

.. math::
    L(w) = \sum_{i=1}^{M} \frac{n_i}{N}\, L_i(w), \qquad
    \nabla L(w) = \sum_{i=1}^{M} \frac{n_i}{N}\, \nabla L_i(w),

with :math:`L_i` the mean loss of :math:`B_i`. ``sizes=None`` takes equal shares
:math:`1/M` (exact for equal micro-batches); give ``sizes`` for unequal ones. With
``recompute=True`` the loss function may instead return per-sample losses (a vector);
they are concatenated in micro-batch order, so the optimizer sees the large batch's
per-sample losses (``sizes`` is then not used: each sample carries its own loss).

Two modes:

* ``recompute=False`` (default): every evaluation runs forward and backward on each
  micro-batch at once and keeps the summed gradient (one extra copy of the gradients)
  until the optimizer back-propagates the returned loss. One forward/backward per
  micro-batch and pass: the cost of the full batch. The loss must be a scalar.
* ``recompute=True``: every evaluation runs the micro-batches forward only, without a
  graph; when the optimizer back-propagates, each micro-batch is run again with a graph
  (the global random state restored, so dropout draws the same masks) and
  back-propagated with the incoming gradient. One extra forward per micro-batch and
  pass, no gradient copy, and the optimizer may do anything with the loss, in
  particular read per-sample losses (ESAM's data selection, SSAM-F's Fisher mask).

Exact for every optimizer of the registry, the training procedure F2M and plain
``torch.optim``: the step equals the full-batch step up to floating-point rounding,
provided the loss function is the same function of the samples in a micro-batch as in
the full batch. That excludes batch-dependent layers in training mode (BatchNorm's batch
statistics differ by micro-batch; in ``recompute`` mode its running statistics are also
updated twice) and dropout, whose masks are drawn per micro-batch. Optimizers that read
per-sample losses (:attr:`~fgsam.optim.SharpnessAwareOptimizer.per_sample_loss`: ESAM,
SSAM-F) need ``recompute=True``; :func:`accumulation_step` chooses it for them and
refuses ``recompute=False``. Optimizers with their own random draws (RWP, ESAM, SSAM,
TSAM, ZO-TSAM) draw them from their generator once per step, as on the full batch. The
gradients are computed with :func:`torch.autograd.grad`, so under
:class:`~torch.nn.parallel.DistributedDataParallel` they are not all-reduced: average
them yourself, or accumulate per worker (m-sharpness).

Example:
    >>> from fgsam.nn import peer_forward
    >>> parts = list(torch.split(train_nodes, 64))
    >>> sizes = [len(p) for p in parts]
    >>> def gnn_loss(nodes):
    ...     return F.cross_entropy(model(data.x, data.edge_index)[nodes], data.y[nodes])
    >>> def peer_loss(nodes):
    ...     return F.cross_entropy(peer_forward(model, data.x, nodes), data.y[nodes])
    >>> loss = accumulation_step(opt, gnn_loss, parts, peer_loss, sizes=sizes)
    >>> # or by hand, for a one-closure optimizer:
    >>> loss = opt.step(accumulate(model.parameters(), gnn_loss, parts, sizes))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.optim import Optimizer

from fgsam.optim.training_step import training_step
from fgsam.typing import Closure

#: A loss function of one micro-batch: returns its mean loss (or per-sample losses).
MicroLoss = Callable[[Any], Tensor]


class _Accumulated(torch.autograd.Function):
    """``value`` as a function of ``params`` whose backward is ``backward_fn``."""

    @staticmethod
    def forward(ctx: Any, value: Tensor, backward_fn: Callable, *params: Tensor) -> Tensor:
        ctx.backward_fn = backward_fn
        return value.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        return (None, None, *ctx.backward_fn(grad))


def _rng_state() -> tuple[Tensor, list[Tensor] | None]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[Tensor, list[Tensor] | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state_all(state[1])


def _add(sums: list[Tensor | None], grads: Sequence[Tensor | None]) -> None:
    """``sums += grads`` entry by entry (``None``: no gradient yet / none here)."""
    for j, g in enumerate(grads):
        if g is not None:
            sums[j] = g if sums[j] is None else sums[j].add_(g)


def _shares(sizes: Sequence[float] | None, count: int) -> list[float]:
    if sizes is None:
        return [1.0 / count] * count
    sizes = [float(s) for s in sizes]
    if len(sizes) != count or any(not s > 0 for s in sizes):
        raise ValueError(
            f"sizes must give one positive size per micro-batch ({count}), got {sizes!r}"
        )
    total = sum(sizes)
    return [s / total for s in sizes]


def accumulate(
    params: Iterable[Tensor],
    loss_fn: MicroLoss,
    micro_batches: Sequence[Any],
    sizes: Sequence[float] | None = None,
    *,
    recompute: bool = False,
) -> Closure:
    r"""A closure that evaluates ``loss_fn`` over all ``micro_batches`` as one large batch.

    Each call returns :math:`\sum_i \frac{n_i}{N} L_i` (see the module's rule); its
    ``backward`` delivers :math:`\sum_i \frac{n_i}{N} \nabla L_i` (times the incoming
    gradient) to ``params``, without another forward (``recompute=False``) or with one
    (``recompute=True``). Under :func:`torch.no_grad` (zeroth-order optimizers) the
    loss alone is computed. Pass the closure to ``step`` or :func:`training_step`.

    Args:
        params (iterable of Tensor): the parameters the gradient is for (all the
            optimizer's; those not requiring a gradient are left out).
        loss_fn (callable): ``loss_fn(micro_batch)`` returns the micro-batch's mean
            loss, or with ``recompute=True`` possibly its per-sample losses (a vector).
        micro_batches (sequence): the micro-batches, iterated at every evaluation (a
            list, not an iterator); each is passed to ``loss_fn`` as it is.
        sizes (sequence of float, optional): :math:`n_i`, the size of each micro-batch,
            for the shares :math:`n_i / N`; ``None`` gives equal shares :math:`1/M`.
            Not used with per-sample losses. (default: ``None``)
        recompute (bool, optional): evaluate without a graph and recompute each
            micro-batch when back-propagating (per-sample losses, no gradient copy,
            one extra forward). (default: ``False``)

    Example:
        >>> closure = accumulate(model.parameters(), lambda b: F.mse_loss(model(b.x), b.y),
        ...                      [b1, b2, b3], sizes=[64, 64, 17])
        >>> loss = opt.step(closure)
    """
    if iter(micro_batches) is micro_batches:
        raise TypeError(
            "micro_batches must be a sequence that can be iterated at every evaluation "
            f"of the closure (a list), got the iterator {type(micro_batches).__name__}"
        )
    batches = list(micro_batches)
    if not batches:
        raise ValueError("micro_batches is empty: there is nothing to accumulate")
    shares = _shares(sizes, len(batches))
    params = [p for p in params if p.requires_grad]
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")

    def closure() -> Tensor:
        if not torch.is_grad_enabled():
            return _losses_only(loss_fn, batches, shares, sizes)
        if recompute:
            return _recomputed(params, loss_fn, batches, shares, sizes)
        return _eager(params, loss_fn, batches, shares)

    return closure


def _losses_only(fn: MicroLoss, batches: list, shares: list[float],
                 sizes: Sequence[float] | None) -> Tensor:
    """The large batch's loss (or per-sample losses) with no gradient at all."""
    losses = [fn(b).detach() for b in batches]
    if losses[0].ndim == 0:
        return sum(loss * w for loss, w in zip(losses, shares, strict=True))
    return _concatenated(losses, sizes)


def _concatenated(losses: list[Tensor], sizes: Sequence[float] | None) -> Tensor:
    if sizes is not None:
        raise ValueError(
            "sizes weight mean losses; the micro-batches return per-sample losses, which "
            "are concatenated as they are: leave sizes=None"
        )
    if any(loss.ndim != 1 for loss in losses):
        raise ValueError(
            "the micro-batch losses mix shapes "
            f"{sorted({tuple(loss.shape) for loss in losses})}: return a scalar from every "
            "micro-batch, or a vector of per-sample losses from every one"
        )
    return torch.cat(losses)


def _eager(params: list[Tensor], fn: MicroLoss, batches: list, shares: list[float]) -> Tensor:
    """Forward and backward on each micro-batch now; the gradient kept for ``backward``."""
    sums: list[Tensor | None] = [None] * len(params)
    total = None
    for batch, share in zip(batches, shares, strict=True):
        loss = fn(batch)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(
                f"a micro-batch loss must be a scalar tensor, got {shape}; for per-sample "
                f"losses (ESAM, SSAM-F) build the closure with recompute=True"
            )
        loss = loss.reshape(())
        if loss.requires_grad and params:
            _add(sums, torch.autograd.grad(loss * share, params, allow_unused=True))
        value = loss.detach() * share
        total = value if total is None else total + value  # one graph at a time
    assert total is not None

    def backward(grad: Tensor) -> list[Tensor | None]:
        return [None if s is None else s * grad.to(s.device) for s in sums]

    return _Accumulated.apply(total, backward, *params)


def _recomputed(params: list[Tensor], fn: MicroLoss, batches: list, shares: list[float],
                sizes: Sequence[float] | None) -> Tensor:
    """Forward only now; each micro-batch recomputed with a graph in ``backward``."""
    states, losses = [], []
    with torch.no_grad():
        for batch in batches:
            states.append(_rng_state())  # the recomputation draws what this pass drew
            losses.append(fn(batch).detach())
    scalar = losses[0].ndim == 0
    if scalar:
        value = sum(loss * w for loss, w in zip(losses, shares, strict=True))
        slices: list[Any] = [None] * len(batches)
    else:
        value = _concatenated(losses, sizes)
        ends = torch.tensor([loss.numel() for loss in losses]).cumsum(0).tolist()
        slices = [slice(end - loss.numel(), end) for loss, end in zip(losses, ends)]

    def backward(grad: Tensor) -> list[Tensor | None]:
        sums: list[Tensor | None] = [None] * len(params)
        after = _rng_state()
        for batch, state, share, part in zip(batches, states, shares, slices, strict=True):
            incoming = grad * share if scalar else grad[part]
            if not scalar and not bool(incoming.any()):
                continue  # no sample of this micro-batch reaches the loss (ESAM selection)
            _set_rng_state(state)
            with torch.enable_grad():
                loss = fn(batch)
                if loss.requires_grad and params:
                    _add(sums, torch.autograd.grad(
                        loss, params, incoming.reshape(loss.shape), allow_unused=True
                    ))
        _set_rng_state(after)
        return sums

    return _Accumulated.apply(value, backward, *params)


def accumulation_step(
    optimizer: Optimizer,
    loss_fn: MicroLoss,
    micro_batches: Sequence[Any],
    peer_loss_fn: MicroLoss | None = None,
    sizes: Sequence[float] | None = None,
    scaler: torch.amp.GradScaler | None = None,
    recompute: bool | None = None,
) -> Tensor:
    """One step of ``optimizer`` on the large batch made of ``micro_batches``.

    :func:`training_step` with :func:`accumulate` closures over all the optimizer's
    parameters: FGSAM-style optimizers get an accumulating GNN closure and an
    accumulating PeerMLP closure. Returns what the step returns (the large batch's loss).

    Args:
        optimizer (torch.optim.Optimizer): any optimizer of the registry, or a plain one.
        loss_fn (callable): ``loss_fn(micro_batch)``, the micro-batch's loss (the GNN's
            for FGSAM-style optimizers); per-sample losses (``reduction="none"``) for
            optimizers with ``per_sample_loss``, as on a full batch.
        micro_batches (sequence): the micro-batches.
        peer_loss_fn (callable, optional): the same loss through the PeerMLP view;
            required by FGSAM-style optimizers. (default: ``None``)
        sizes (sequence of float, optional): micro-batch sizes for the shares
            :math:`n_i/N`; ``None``: equal shares. (default: ``None``)
        scaler (torch.amp.GradScaler, optional): for mixed precision. (default: ``None``)
        recompute (bool, optional): the mode of :func:`accumulate`; ``None`` takes
            ``True`` exactly for optimizers that read per-sample losses, which refuse
            ``False``. (default: ``None``)
    """
    per_sample = bool(getattr(optimizer, "per_sample_loss", False))
    if recompute is None:
        recompute = per_sample
    if per_sample and not recompute:
        raise ValueError(
            f"{type(optimizer).__name__} reads per-sample losses, which accumulation "
            f"without recomputation cannot give it: use recompute=True (or None)"
        )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    closure = accumulate(params, loss_fn, micro_batches, sizes, recompute=recompute)
    peer = None
    if peer_loss_fn is not None:
        peer = accumulate(params, peer_loss_fn, micro_batches, sizes, recompute=recompute)
    return training_step(optimizer, closure, peer, scaler)


__all__ = ["MicroLoss", "accumulate", "accumulation_step"]
