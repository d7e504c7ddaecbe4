r"""Sharpness-aware optimizers in PyTorch Lightning (``pip install fgsam[lightning]``).

Every optimizer of :mod:`fgsam.optim` evaluates its closures several times per step and
runs ``backward`` itself, between moves of the weights. Lightning's *automatic*
optimisation cannot drive that: its closure runs ``backward`` and hands the optimizer a
detached loss. Use *manual* optimisation (``self.automatic_optimization = False``) and
take each step with :func:`fgsam_step`:

* the closures **return the loss and do not call backward** (nor
  :meth:`~lightning.pytorch.core.LightningModule.manual_backward`): the optimizer
  back-propagates, as outside Lightning. FGSAM-style optimizers (``num_closures == 2``)
  also take ``peer_closure``, the same loss through :func:`fgsam.nn.peer_forward`;
* :func:`fgsam_step` steps through the :class:`~lightning.pytorch.core.optimizer.LightningOptimizer`
  (``self.optimizers()``), so the trainer counts the step (``global_step``,
  ``max_steps``) and the strategy and precision plugin run their ``optimizer_step``.
  The closures run inside ``training_step``, hence under the precision plugin's autocast
  (``precision="bf16-mixed"``). With a gradient scaler (``precision="16-mixed"``)
  Lightning would call the optimizer without its closures, so the scaler is handed to
  the optimizer's own ``step(..., scaler=)`` instead and updated after it;
* ``on_before_optimizer_step`` hooks run once per evaluation of ``closure`` (SAM: twice
  a step, FGSAM: once, FGSAM+'s approximate steps: never; ``peer_closure`` is not
  wrapped), after its forward and before the optimizer's ``backward``, so the gradients
  are not there yet; with a scaler they do not run. Read gradients elsewhere. Lightning's
  ``Trainer(gradient_clip_val=)`` is refused under manual optimisation; use the
  optimizer's ``max_grad_norm``. ``on_before_backward``/``on_after_backward`` do not run
  for the optimizer's own backward passes;
* :class:`SharpnessAwareCallback` calls :meth:`~fgsam.optim.SharpnessAwareOptimizer.start_epoch`
  on every sharpness-aware optimizer at the start of each training epoch (GraphSAM's
  radius decay and direction refresh) and refuses automatic optimisation at the start
  of ``fit`` with a one-line error. :class:`SharpnessAwareMixin` adds both the callback
  and a :meth:`~SharpnessAwareMixin.sharpness_aware_step` method to a module.

Plain ``torch.optim`` optimizers go through :func:`fgsam_step` too (zero the gradients,
``manual_backward``, step), so one module trains with any optimizer of the registry.

Example:
    >>> import lightning as L
    >>> import torch.nn.functional as F
    >>> from torch_geometric.nn import GCN
    >>> from fgsam.lightning import SharpnessAwareMixin
    >>> from fgsam.nn import peer_forward
    >>> from fgsam.optim import FGSAM
    >>> class Node(SharpnessAwareMixin, L.LightningModule):
    ...     def __init__(self, in_channels, num_classes):
    ...         super().__init__()
    ...         self.automatic_optimization = False
    ...         self.gcn = GCN(in_channels, 16, 2, num_classes)
    ...     def training_step(self, data, batch_idx):
    ...         m = data.train_mask
    ...         def closure():
    ...             out = self.gcn(data.x, data.edge_index)
    ...             return F.cross_entropy(out[m], data.y[m])
    ...         def peer_closure():
    ...             out = peer_forward(self.gcn, data.x, m.nonzero().view(-1))
    ...             return F.cross_entropy(out, data.y[m])
    ...         loss = self.sharpness_aware_step(closure, peer_closure)
    ...         self.log("train_loss", loss)
    ...     def configure_optimizers(self):
    ...         return FGSAM(self.parameters(), "adam", rho=0.05, lr=0.01, model=self.gcn)
    >>> L.Trainer(max_epochs=200).fit(Node(8, 3), loader)
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor
from torch.optim import Optimizer

from fgsam.optim.automatic_closure import AUTOMATIC
from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.typing import Closure


def inner_optimizer(optimizer: Optimizer | LightningOptimizer) -> Optimizer:
    """The ``torch.optim`` optimizer inside a :class:`LightningOptimizer` (or itself)."""
    return optimizer.optimizer if isinstance(optimizer, LightningOptimizer) else optimizer


def sharpness_aware_optimizers(trainer: pl.Trainer) -> list[SharpnessAwareOptimizer]:
    """The trainer's optimizers that are sharpness-aware."""
    return [o for o in map(inner_optimizer, trainer.optimizers)
            if isinstance(o, SharpnessAwareOptimizer)]


def fgsam_step(
    module: pl.LightningModule,
    optimizer: LightningOptimizer | None,
    closure: Closure,
    peer_closure: Closure | None = None,
) -> Tensor:
    """Take one step of ``optimizer`` inside ``module.training_step`` (manual optimisation)
    and return the optimizer's loss, detached.

    Args:
        module (lightning.pytorch.LightningModule): the module being trained, with
            ``automatic_optimization = False``.
        optimizer (LightningOptimizer, optional): one of ``module.optimizers()``; ``None``
            takes the module's only optimizer.
        closure (callable): evaluates the model (the GNN) and returns the loss, without
            ``backward``.
        peer_closure (callable, optional): the same loss through the PeerMLP view
            (:func:`fgsam.nn.peer_forward`); required by FGSAM-style optimizers.
            (default: ``None``)
    """
    if module.automatic_optimization:
        raise RuntimeError(AUTOMATIC)
    if optimizer is None:
        optimizer = module.optimizers()
        if isinstance(optimizer, list):
            raise ValueError(f"the module has {len(optimizer)} optimizers; pass the one to step")
    if not isinstance(optimizer, LightningOptimizer):
        # Only the LightningOptimizer's step counts towards global_step and max_steps.
        raise TypeError(f"fgsam_step needs one of module.optimizers() (a LightningOptimizer), "
                        f"got {type(optimizer).__name__}")
    inner = optimizer.optimizer
    if not isinstance(inner, SharpnessAwareOptimizer):
        return _plain_step(module, optimizer, closure)
    kwargs: dict[str, Any] = {}
    if inner.num_closures == 2:
        if peer_closure is None:
            raise ValueError(f"{type(inner).__name__} needs peer_closure, the loss through the "
                             f"PeerMLP view (see fgsam.nn.peer_forward); got None")
        kwargs["peer_closure"] = peer_closure
    scaler = getattr(module.trainer.precision_plugin, "scaler", None)
    if scaler is None:
        return optimizer.step(closure=closure, **kwargs).detach()
    # Lightning's scaler path calls optimizer.step() without the closure: step it here.
    optimizer._on_before_step()
    try:
        loss = inner.step(closure, scaler=scaler, **kwargs)
        scaler.update()
    finally:
        optimizer._on_after_step()
    return loss.detach()


def _plain_step(module: pl.LightningModule, optimizer: LightningOptimizer,
                closure: Closure) -> Tensor:
    def backward_closure() -> Tensor:
        loss = closure()
        module.manual_backward(loss)
        return loss

    optimizer.zero_grad(set_to_none=True)
    # Lightning's scaler path returns nothing from step; the loss is kept here instead.
    losses: list[Tensor] = []
    optimizer.step(closure=lambda: losses.append(backward_closure()) or losses[-1])
    return losses[-1].detach()


class SharpnessAwareCallback(pl.Callback):
    """Start an epoch of every sharpness-aware optimizer at each training epoch and refuse
    automatic optimisation when the trainer holds a sharpness-aware optimizer.

    :meth:`~fgsam.optim.SharpnessAwareOptimizer.start_epoch` is a no-op for most methods;
    GraphSAM decays its radius and refreshes its direction there.

    Example:
        >>> trainer = L.Trainer(max_epochs=100, callbacks=[SharpnessAwareCallback()])
    """

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.automatic_optimization and sharpness_aware_optimizers(trainer):
            raise RuntimeError(AUTOMATIC)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for optimizer in sharpness_aware_optimizers(trainer):
            optimizer.start_epoch()


class SharpnessAwareMixin:
    """A :class:`~lightning.pytorch.LightningModule` mixin (list it first): adds
    :class:`SharpnessAwareCallback` to the trainer's callbacks and a
    :meth:`sharpness_aware_step` method. Set ``self.automatic_optimization = False``.
    A :class:`SharpnessAwareCallback` given to the trainer as well is replaced by the
    module's (Lightning's rule for ``configure_callbacks``), so ``start_epoch`` runs once.
    """

    def configure_callbacks(self) -> list[pl.Callback]:
        return [*super().configure_callbacks(), SharpnessAwareCallback()]  # type: ignore[misc]

    def sharpness_aware_step(self, closure: Closure, peer_closure: Closure | None = None,
                             optimizer: LightningOptimizer | None = None) -> Tensor:
        """:func:`fgsam_step` on this module (``optimizer``: ``None`` for the only one)."""
        return fgsam_step(self, optimizer, closure, peer_closure)  # type: ignore[arg-type]


__all__ = [
    "AUTOMATIC",
    "SharpnessAwareCallback",
    "SharpnessAwareMixin",
    "fgsam_step",
    "inner_optimizer",
    "sharpness_aware_optimizers",
]
