r"""Edge attributes of the self-loop graph of a PeerMLP, and what edge-featured layers become.

On the PeerMLP's graph every computed row :math:`i` has exactly one edge, its self-loop
:math:`(i, i)`, so a model whose forward takes ``edge_attr`` needs one edge attribute per
row, :math:`e_i`. The real edges' attributes have no place there; which :math:`e_i` a
self-loop carries is a modelling choice, made by the user through ``edge_attr`` of
:func:`~fgsam.nn.peer_forward` (see :func:`self_loop_edge_attr` for the accepted forms).
With one incoming edge per node, every softmax over a node's edges is exactly 1 (in eval
mode, or with attention dropout 0), and with :math:`e_i` the self-loop's attribute:

.. math::
    \mathrm{GINEConv}:&\quad h\big((1 + \epsilon) x_i + \mathrm{ReLU}(x_i + \mathrm{lin}(e_i))
    \big) \quad (\mathrm{lin} \text{ only with } \texttt{edge\_dim}, \text{ else } e_i
    \text{ itself}),\\
    \mathrm{GATConv}:&\quad \mathrm{lin}(x_i) + b \quad (\text{any } e_i),\\
    \mathrm{GATv2Conv}:&\quad \mathrm{lin}_l(x_i) + b \quad (\text{the source's linear; any }
    e_i),\\
    \mathrm{TransformerConv}:&\quad \mathrm{lin}_{value}(x_i) + \mathrm{lin}_{edge}(e_i) +
    \mathrm{lin}_{skip}(x_i),

per head, the heads concatenated (or averaged with ``concat=False``, the skip term added
after), plus ``res(x)`` for GAT layers built with ``residual=True``. TransformerConv's skip
term is there with ``root_weight=True`` (the default); with ``beta=True`` the sum is instead
:math:`\beta s + (1 - \beta) v`, :math:`s = \mathrm{lin}_{skip}(x_i)`, :math:`v` the
value-plus-edge term and :math:`\beta = \sigma(\mathrm{lin}_{beta}([v, s, v - s]))`. GAT layers with
``add_self_loops=True`` (the default) even drop the given self-loops and add their own
with ``fill_value``; their output does not depend on :math:`e_i`, so they do not need it.
GINEConv and TransformerConv with ``edge_dim`` do, and :func:`edge_attr_required` turns
PyG's own error for a missing one into a one-line :class:`ValueError`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn import GINEConv, TransformerConv

#: What ``edge_attr`` of :func:`~fgsam.nn.peer_forward` may be.
EdgeAttrRule = Tensor | float | Callable[[int], Tensor]

#: ``list(model.named_modules())``, walked once by a caller.
Named = list[tuple[str, torch.nn.Module]]

#: PyG's ``add_self_loops`` fills that aggregate a node's real incoming edges.
AGGREGATING_FILLS = ("add", "sum", "mean", "min", "max", "mul")


def _loop_layers(model: torch.nn.Module, named: Named | None = None
                 ) -> list[tuple[str, torch.nn.Module]]:
    """The layers of ``model`` (or of its ``named_modules()`` list ``named``) whose
    self-loop output depends on an edge attribute."""
    return [(name, m) for name, m in (model.named_modules() if named is None else named)
            if isinstance(m, GINEConv)
            or (isinstance(m, TransformerConv) and m.lin_edge is not None)]


def edge_width(model: torch.nn.Module) -> int:
    """The edge attribute width :math:`F_e` the layers of ``model`` expect, where they agree.

    GINEConv: ``lin``'s input width with ``edge_dim``, else its ``nn``'s input width (the
    node width, as PyG adds :math:`x_j + e`); any layer with an integer ``edge_dim``:
    that. Raises :class:`ValueError` when no width or several are found.
    """
    widths = set()
    for m in model.modules():
        if isinstance(m, GINEConv):
            first = m.nn[0] if isinstance(m.nn, torch.nn.Sequential) else m.nn
            width = m.lin.in_channels if m.lin is not None else getattr(
                first, "in_features", getattr(first, "in_channels", None))
        else:
            width = getattr(m, "edge_dim", None)
        if isinstance(width, int) and width > 0:
            widths.add(width)
    if len(widths) != 1:
        found = "none" if not widths else sorted(widths)
        raise ValueError(f"a constant edge_attr needs the edge width, and the model's layers "
                         f"give {found}: pass a [F_e] tensor, e.g. torch.full((F_e,), value)")
    return widths.pop()


def self_loop_edge_attr(
    edge_attr: EdgeAttrRule, n: int, model: torch.nn.Module, like: Tensor | None = None
) -> Tensor:
    r"""The ``[n, F_e]`` edge attributes of ``n`` self-loops, by the user's rule.

    .. math::
        e_i = \begin{cases} v & \text{a } [F_e] \text{ tensor } v \text{ (one fill for every
        self-loop; PyG's tensor } \texttt{fill\_value}),\\
        E_i & \text{an } [n, F_e] \text{ tensor } E \text{ (one per computed row, in order)},\\
        c \mathbf{1}_{F_e} & \text{a number or 0-dim tensor } c \text{ (PyG's float }
        \texttt{fill\_value}; 1.0 \text{ is its default)},\\
        g(n)_i & \text{a callable } g \text{ returning either tensor form.}\end{cases}

    A callable may be a module the user owns (a learned self-loop embedding): its parameters
    get gradients through the PeerMLP loss, as do tensors that require them. PyG's
    aggregating fills (``"mean"``, ``"add"``, ``"max"``, ...) summarise a node's real
    incoming edges, which the self-loop graph does not have, and are refused; to use one,
    compute it on the real graph and pass its rows, e.g.
    ``add_self_loops(edge_index, edge_attr, fill_value="mean", num_nodes=N)[1][-N:][rows]``.

    Args:
        edge_attr (torch.Tensor, float or callable): the rule above.
        n (int): the number of self-loops (computed rows).
        model (torch.nn.Module): the model, read for :math:`F_e` (:func:`edge_width`) when
            the rule is a constant.
        like (torch.Tensor, optional): the node features, whose device (and floating dtype,
            for a constant) the result takes. (default: ``None``)

    Example:
        >>> conv = GINEConv(torch.nn.Linear(8, 8), edge_dim=3)
        >>> self_loop_edge_attr(torch.zeros(3), 5, conv).shape
        torch.Size([5, 3])
    """
    device = like.device if like is not None else None
    if isinstance(edge_attr, str):
        kind = "aggregates a node's real incoming edges, which the self-loop graph lacks" \
            if edge_attr in AGGREGATING_FILLS else "is not a fill rule"
        raise ValueError(f"edge_attr={edge_attr!r} {kind}: pass a float, a [F_e] or [n, F_e] "
                         f"tensor, or a callable (num_rows) -> tensor")
    if isinstance(edge_attr, bool):
        raise TypeError("edge_attr must be a tensor, a float or a callable, got a bool")
    if isinstance(edge_attr, (int, float)):
        dtype = like.dtype if like is not None and like.is_floating_point() else None
        return torch.full((n, edge_width(model)), float(edge_attr), dtype=dtype, device=device)
    if not isinstance(edge_attr, Tensor) and callable(edge_attr):
        made = edge_attr(n)
        if not isinstance(made, Tensor):
            raise TypeError(f"the edge_attr callable must return a tensor, got "
                            f"{type(made).__name__}")
        return self_loop_edge_attr(made, n, model, like)
    if not isinstance(edge_attr, Tensor):
        raise TypeError(f"edge_attr must be a tensor, a float or a callable, got "
                        f"{type(edge_attr).__name__}")
    edge_attr = edge_attr.to(device) if device is not None else edge_attr
    if edge_attr.dim() == 0:
        return edge_attr.expand(n, edge_width(model))
    if edge_attr.dim() == 1:  # one fill vector; give [n, 1] for scalar attributes per row
        return edge_attr.expand(n, -1)
    if edge_attr.size(0) != n:
        raise ValueError(f"edge_attr has {edge_attr.size(0)} rows, expected {n} (one per "
                         f"computed row), or pass a [F_e] fill vector")
    return edge_attr


def model_takes_edge_attr(model: torch.nn.Module) -> tuple[bool, bool]:
    """``(accepts, requires)``: whether ``model``'s forward accepts an ``edge_attr`` keyword,
    and whether it requires one (a parameter of that name without a default)."""
    forward = model.forward
    function = getattr(forward, "__func__", None)
    if function is None:  # not a method: nothing to key a cache on
        return _takes_edge_attr(forward)
    return _method_takes_edge_attr(function)


@functools.lru_cache(maxsize=256)
def _method_takes_edge_attr(function: Callable[..., Any]) -> tuple[bool, bool]:
    # inspect.signature costs more than a PeerMLP layer: once per forward function.
    return _takes_edge_attr(function)


def _takes_edge_attr(forward: Callable[..., Any]) -> tuple[bool, bool]:
    try:
        params = inspect.signature(forward).parameters
    except (TypeError, ValueError):  # a forward without a readable signature: let it decide
        return True, False
    param = params.get("edge_attr")
    if param is not None and param.kind not in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
        return True, param.default is param.empty
    return any(p.kind == p.VAR_KEYWORD for p in params.values()), False


def _missing(name: str, layer: torch.nn.Module) -> str:
    where = f" ({name})" if name else ""
    return (f"{type(layer).__name__}{where} needs an edge attribute on each self-loop: pass "
            f"edge_attr= to peer_forward (a float, a [F_e] or [n, F_e] tensor, or a callable)")


@contextlib.contextmanager
def edge_attr_required(model: torch.nn.Module, named: Named | None = None) -> Iterator[None]:
    """Within the block, a GINEConv or TransformerConv (with ``edge_dim``) of ``model``
    called without ``edge_attr`` raises a one-line :class:`ValueError` naming the layer
    (``named``: ``model``'s ``named_modules()`` list, where the caller has it)."""

    def check(name: str, layer: torch.nn.Module) -> Callable[..., None]:
        def hook(module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
            given = kwargs.get("edge_attr", args[2] if len(args) > 2 else None)
            if given is None:
                raise ValueError(_missing(name, layer))

        return hook

    handles = [m.register_forward_pre_hook(check(name, m), with_kwargs=True)
               for name, m in _loop_layers(model, named)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def require_edge_attr(model: torch.nn.Module, named: Named | None = None) -> None:
    """Raise the one-line :class:`TypeError` for a model whose forward requires ``edge_attr``
    when none was given to :func:`~fgsam.nn.peer_forward` (``named`` as in
    :func:`edge_attr_required`)."""
    if model_takes_edge_attr(model)[1]:
        layers = _loop_layers(model, named)
        raise TypeError(_missing(*layers[0]) if layers else
                        f"{type(model).__name__}.forward needs edge_attr: pass edge_attr= to "
                        f"peer_forward (a float, a [F_e] or [n, F_e] tensor, or a callable)")


__all__ = [
    "AGGREGATING_FILLS",
    "EdgeAttrRule",
    "edge_attr_required",
    "edge_width",
    "model_takes_edge_attr",
    "require_edge_attr",
    "self_loop_edge_attr",
]
