"""SWAD: dense weight averaging over a window chosen from the validation loss."""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

from fgsam.optim.base import check_positive_int

SEARCHING, AVERAGING, ENDED = "searching", "averaging", "ended"
#: The weight-averaging procedures the training commands offer (``--average``).
WEIGHT_AVERAGES = ("swad",)


@dataclass
class Segment:
    """The weights of the steps between two evaluations: their sum, count and the
    validation loss of the evaluation that closed the segment."""

    index: int
    count: int = 0
    sums: list[Tensor] = field(default_factory=list)
    loss: float = math.nan


class SWAD:
    r"""Dense stochastic weight averaging from `"SWAD: Domain Generalization by Seeking
    Flat Minima" <https://arxiv.org/abs/2102.08604>`_ (Cha et al., NeurIPS 2021).

    The weights are averaged at every step (densely), over a window of training chosen
    from the validation loss. The steps between evaluation :math:`i - 1` and evaluation
    :math:`i` form segment :math:`i`, with validation loss :math:`\ell_i` (of the weights
    at its end). With :math:`N_s` = ``n_converge``, :math:`N_e` = ``n_tolerance`` and
    :math:`r` = ``tolerance_ratio``:

    * averaging starts with segment :math:`s`, the first whose loss is the lowest of
      :math:`\ell_s, \dots, \ell_{s + N_s - 1}` (the validation loss stopped improving
      for :math:`N_s` evaluations; :math:`\ell_s` is then the lowest loss so far);
    * segment :math:`k \ge s` is averaged while
      :math:`\min(\ell_k, \dots, \ell_{k + N_e - 1}) \le r\, \ell_s`; the first segment
      that fails ends the window (the loss exceeded :math:`r` times its minimum for
      :math:`N_e` evaluations in a row), and later steps are ignored.

    A segment is decided :math:`N_s - 1` or :math:`N_e - 1` evaluations after it closes,
    so up to :math:`\max(N_s, N_e)` segment sums are kept (one copy of the parameters
    each); only their average is kept after that. :meth:`finalize` decides the last
    segments with the evaluations there are (if the loss never stopped improving, the
    window starts at the last evaluation, with a warning); steps after the last
    evaluation are not averaged, having no validation loss.

    It follows the :class:`torch.optim.swa_utils.AveragedModel` conventions:
    :attr:`averaged_model` is an ``AveragedModel`` whose ``module`` holds the average
    and whose ``n_averaged`` counts the averaged steps; :meth:`update_parameters` takes
    the model after every optimizer step. Parameters are averaged, buffers are copied
    from the last model seen, and :meth:`finalize` recomputes BatchNorm statistics for
    the averaged weights with :func:`torch.optim.swa_utils.update_bn` (``loader=``) or
    a callable that runs forward passes (``forward=``, for graph data). The authors'
    code sets the threshold to :math:`1.3\times` the mean of the :math:`N_s` losses of
    the start window; the paper's :math:`r \ell_s` is used here.

    Args:
        model (torch.nn.Module): the trained model (copied once for the average).
        n_converge (int, optional): :math:`N_s`. (default: ``3``)
        n_tolerance (int, optional): :math:`N_e`. (default: ``6``)
        tolerance_ratio (float, optional): :math:`r \ge 1`. (default: ``1.3``)

    Example:
        >>> swad = SWAD(model, n_converge=3, n_tolerance=6, tolerance_ratio=1.3)
        >>> for step in range(steps):
        ...     training_step(opt, closure)
        ...     swad.update_parameters(model)
        ...     if step % 100 == 99:
        ...         swad.report_validation(validation_loss(model))
        >>> averaged = swad.finalize(forward=lambda m: m(data.x, data.edge_index)).module
    """

    def __init__(
        self,
        model: torch.nn.Module,
        n_converge: int = 3,
        n_tolerance: int = 6,
        tolerance_ratio: float = 1.3,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_positive_int("n_converge", n_converge)
        check_positive_int("n_tolerance", n_tolerance)
        if isinstance(tolerance_ratio, bool) or not isinstance(tolerance_ratio, (int, float)) or (
            not (math.isfinite(tolerance_ratio) and tolerance_ratio >= 1)
        ):
            raise ValueError(
                f"tolerance_ratio must be a finite number >= 1 (the loss at the start is "
                f"within tolerance), got {tolerance_ratio!r}"
            )
        self.n_converge = n_converge
        self.n_tolerance = n_tolerance
        self.tolerance_ratio = float(tolerance_ratio)
        self.averaged_model = AveragedModel(model)
        self.averaged_model.requires_grad_(False)
        self.losses: list[float] = []
        self.phase = SEARCHING
        self.start: int | None = None
        self.end: int | None = None
        self.last: int | None = None
        self.threshold: float | None = None
        self.pending: deque[Segment] = deque()
        self.current = Segment(index=0)
        self._source: torch.nn.Module = model

    # ----------------------------------------------------------------- records
    @property
    def n_averaged(self) -> int:
        """Number of steps in the average so far."""
        return int(self.averaged_model.n_averaged)

    @property
    def window(self) -> tuple[int, int] | None:
        """``(first, last)`` evaluations (0-based) whose segments are in the average so far
        (segment :math:`i` holds the steps just before evaluation :math:`i`), or ``None``
        while none is."""
        if self.start is None or self.last is None:
            return None
        return self.start, self.last

    @torch.no_grad()
    def update_parameters(self, model: torch.nn.Module) -> None:
        """Add the current weights of ``model`` (call after every optimizer step)."""
        self._source = model
        if self.phase == ENDED:
            return
        params = [p.detach() for p in model.parameters()]
        if not self.current.sums:
            self.current.sums = [p.clone() for p in params]
        else:
            torch._foreach_add_(self.current.sums, params)
        self.current.count += 1

    def report_validation(self, loss: float | Tensor) -> None:
        """Close the current segment with its validation loss and decide what can be."""
        value = float(loss)
        if math.isnan(value):
            raise ValueError(f"the validation loss is NaN (evaluation {len(self.losses) + 1})")
        self.current.loss = value
        self.losses.append(value)
        if self.phase != ENDED:
            self.pending.append(self.current)
        self.current = Segment(index=len(self.losses))
        self._decide(final=False)

    # ---------------------------------------------------------------- decisions
    def _decide(self, final: bool) -> None:
        if self.phase == SEARCHING:
            self._find_start(final)
        if self.phase == AVERAGING:
            self._extend(final)

    def _find_start(self, final: bool) -> None:
        while self.pending:
            first = self.pending[0].index
            window = self.losses[first : first + self.n_converge]
            if len(window) < self.n_converge and not final:
                return
            if self.losses[first] <= min(window):
                if final and len(window) < self.n_converge:
                    warnings.warn(
                        f"SWAD: the validation loss was still improving at the end "
                        f"(fewer than n_converge={self.n_converge} evaluations after its "
                        f"minimum); averaging from evaluation {first + 1}",
                        stacklevel=4,
                    )
                self.phase, self.start = AVERAGING, first
                self.threshold = self.tolerance_ratio * self.losses[first]
                return
            self.pending.popleft()

    def _extend(self, final: bool) -> None:
        while self.pending:
            first = self.pending[0].index
            window = self.losses[first : first + self.n_tolerance]
            if len(window) < self.n_tolerance and not final:
                return
            if min(window) <= self.threshold:  # type: ignore[operator]
                self._accept(self.pending.popleft())
            else:
                self.phase, self.end = ENDED, first
                self.pending.clear()
                return

    @torch.no_grad()
    def _accept(self, segment: Segment) -> None:
        self.last = segment.index
        if segment.count == 0:
            return
        n = self.n_averaged
        total = n + segment.count
        params = list(self.averaged_model.module.parameters())
        for mean, s in zip(params, segment.sums, strict=True):
            # Running weighted mean: mean + (sum - count * mean) / total.
            mean.add_((s - mean * segment.count) / total)
        self.averaged_model.n_averaged.fill_(total)

    # ------------------------------------------------------------------ finish
    @torch.no_grad()
    def finalize(
        self,
        loader: Iterable[Any] | None = None,
        forward: Callable[[torch.nn.Module], Any] | None = None,
        device: torch.device | str | None = None,
    ) -> AveragedModel:
        """Decide the remaining segments, copy buffers and recompute BatchNorm statistics.

        Args:
            loader (iterable, optional): batches for
                :func:`torch.optim.swa_utils.update_bn`. (default: ``None``)
            forward (callable, optional): ``forward(module)`` runs the averaged network
                on training data (e.g. ``lambda m: m(data.x, data.edge_index)``), for
                inputs ``update_bn`` cannot feed. (default: ``None``)
            device (torch.device, optional): where ``update_bn`` moves the batches.

        Returns:
            the :attr:`averaged_model`.
        """
        if not self.losses:
            raise RuntimeError(
                "SWAD.finalize: no validation loss was reported, so no averaging window "
                "exists; call report_validation(loss) at every evaluation"
            )
        self._decide(final=True)
        if self.n_averaged == 0:
            raise RuntimeError(
                "SWAD.finalize: no step falls in the averaging window; call "
                "update_parameters(model) after every optimizer step"
            )
        module = self.averaged_model.module
        for b, src in zip(module.buffers(), self._source.buffers(), strict=True):
            b.copy_(src)
        if loader is not None and forward is not None:
            raise ValueError("give loader= or forward=, not both")
        if loader is not None:
            torch.optim.swa_utils.update_bn(loader, self.averaged_model, device)
        elif forward is not None:
            update_batchnorm(module, forward)
        elif has_batchnorm(module):
            raise ValueError(
                "the averaged network has BatchNorm layers whose running statistics must be "
                "recomputed for the averaged weights: pass loader= (batches for "
                "torch.optim.swa_utils.update_bn) or forward= (a callable running the "
                "network on training data)"
            )
        return self.averaged_model

    def as_dict(self) -> dict[str, Any]:
        """Deprecated name of :meth:`to_dict`."""
        warnings.warn("SWAD.as_dict is deprecated; use to_dict", DeprecationWarning, 2)
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """The settings, the validation losses reported and the window (evaluation
        indices, 0-based; ``end`` is the first segment left out, ``None`` if none was),
        JSON-ready."""
        window = self.window
        return {
            "n_converge": self.n_converge,
            "n_tolerance": self.n_tolerance,
            "tolerance_ratio": self.tolerance_ratio,
            "phase": self.phase,
            "start": self.start,
            "last": None if window is None else window[1],
            "end": self.end,
            "n_averaged": self.n_averaged,
            "validation_losses": list(self.losses),
        }

    # ------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue: the average, the pending segments, the losses."""
        return {
            "averaged_model": self.averaged_model.state_dict(),
            "losses": list(self.losses),
            "phase": self.phase,
            "start": self.start,
            "end": self.end,
            "last": self.last,
            "threshold": self.threshold,
            "segments": [
                {"index": s.index, "count": s.count, "sums": [t.clone() for t in s.sums],
                 "loss": s.loss}
                for s in [*self.pending, self.current]
            ],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged_model.load_state_dict(state["averaged_model"])
        self.losses = list(state["losses"])
        self.phase, self.start, self.end = state["phase"], state["start"], state["end"]
        self.last = state.get("last")
        self.threshold = state["threshold"]
        segments = [Segment(**s) for s in state["segments"]]
        self.pending, self.current = deque(segments[:-1]), segments[-1]

    def __repr__(self) -> str:
        window = (
            f"start={self.start + 1}" if self.start is not None else "start=?"
        ) + (f", end={self.end + 1}" if self.end is not None else "")
        return (
            f"SWAD(n_converge={self.n_converge}, n_tolerance={self.n_tolerance}, "
            f"tolerance_ratio={self.tolerance_ratio}, phase={self.phase!r}, {window}, "
            f"evaluations={len(self.losses)}, n_averaged={self.n_averaged})"
        )


def check_swad_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """``options`` for :class:`SWAD` (``n_converge``, ``n_tolerance``, ``tolerance_ratio``),
    checked: an unknown name or a bad value raises ``ValueError`` naming it."""
    options = dict(options or {})
    valid = ("n_converge", "n_tolerance", "tolerance_ratio")
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"SWAD has no option {', '.join(map(repr, unknown))}; valid options: "
                         f"{', '.join(valid)}")
    SWAD(torch.nn.Module(), **options)  # validates the values
    return options


def has_batchnorm(module: torch.nn.Module) -> bool:
    """Whether ``module`` has BatchNorm layers that track running statistics."""
    return any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for m in module.modules()
    )


@torch.no_grad()
def update_batchnorm(module: torch.nn.Module, forward: Callable[[torch.nn.Module], Any]) -> None:
    """:func:`torch.optim.swa_utils.update_bn` for any input: reset the BatchNorm
    statistics, run ``forward(module)`` in training mode, keep the cumulative average."""
    layers = [
        m
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if not layers:
        return
    momenta = {m: m.momentum for m in layers}
    was_training = module.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over all batches
    module.train()
    try:
        forward(module)
    finally:
        for m in layers:
            m.momentum = momenta[m]
        module.train(was_training)


__all__ = ["SWAD", "WEIGHT_AVERAGES", "check_swad_options", "has_batchnorm", "update_batchnorm"]
