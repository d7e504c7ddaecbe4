r"""A linear layer that also takes its input as a sparse CSR matrix.

Bag-of-words node features are mostly zeros (BlogCatalog's 8,189 columns are 0.9%
non-zero, Amazon-Clothing's 9,034 are 0.4%), yet a dense first layer pays for every
entry: a GPN Adam step on BlogCatalog (CSR adjacency, one thread) took 478 ms reading dense
features and 253 ms reading them as a CSR matrix (``benchmarks/gpn_sparse.py``).
torch's own autograd of a CSR product computes the weight
gradient through a dense-times-sparse product that is about as slow as the dense layer,
so :class:`SparseInputLinear` differentiates by hand (:func:`csr_matmul`): the gradient
is :math:`G^\top X = (X^\top G)^\top`, one more CSR product with the transposed matrix,
which is built once per feature matrix (:func:`csr_transpose`) and reused by every layer
that reads it.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Iterator

import torch
from torch import Tensor
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.utils import is_torch_sparse_tensor


@contextlib.contextmanager
def quiet_csr() -> Iterator[None]:
    """Silence torch's notes that CSR support is beta and its invariants unchecked (about
    torch, not about the caller) for the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")
        yield


def csr_features(x: Tensor) -> Tensor:
    """``x`` as a ``torch.sparse_csr_tensor`` (the layout :class:`SparseInputLinear` reads
    fastest; a CSR ``x`` is returned as it is).

    Example:
        >>> x_csr = csr_features(data.x)  # build once per graph
    """
    if x.layout == torch.sparse_csr:
        return x
    with quiet_csr():
        return x.to_sparse_csr()


# id(x) -> (weak reference to x, the CSR of x's transpose); an entry goes with its x
_TRANSPOSES: dict[int, tuple[weakref.ref, Tensor]] = {}


def csr_transpose(x: Tensor) -> Tensor:
    """The CSR matrix of ``x``'s transpose, computed once per tensor ``x`` (a CSR matrix)
    and kept while ``x`` lives: the layers of a model that read the same features share
    it. ``x`` is read as fixed: a feature matrix that changes must be a new tensor."""
    key = id(x)
    hit = _TRANSPOSES.get(key)
    if hit is not None and hit[0]() is x:
        return hit[1]
    with quiet_csr():
        transposed = x.t().to_sparse_csr()
    _TRANSPOSES[key] = (weakref.ref(x, lambda _, k=key: _TRANSPOSES.pop(k, None)), transposed)
    return transposed


class _CSRMatmul(torch.autograd.Function):
    """:math:`A B` for a CSR :math:`A` that needs no gradient; the gradient in :math:`B`,
    :math:`A^\top G`, is the same product with the roles of :math:`A` and :math:`A^\top`
    swapped, so it is differentiable to any order (second-order MAML)."""

    @staticmethod
    def forward(ctx, a: Tensor, a_t: Tensor, b: Tensor) -> Tensor:  # type: ignore[override]
        ctx.a, ctx.a_t = a, a_t
        return a @ b

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, Tensor]:  # type: ignore[override]
        return None, None, _CSRMatmul.apply(ctx.a_t, ctx.a, grad)


def csr_matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for a CSR matrix ``a`` (no gradient) and a dense ``b``, differentiable in
    ``b`` to any order through :func:`csr_transpose`'s cached transpose: torch's own
    derivative of a CSR product transposes and re-sorts ``a`` at every backward pass, which
    was 70% of a second-order MetaGNN step on CiteSeer.

    Example:
        >>> out = csr_matmul(adj_t, h)  # == adj_t @ h, its backward without re-sorting adj_t
    """
    return _CSRMatmul.apply(a, csr_transpose(a), b)


class SparseInputLinear(Linear):
    r"""PyG's :class:`~torch_geometric.nn.dense.linear.Linear`, :math:`xW^\top + b`, that
    also takes ``x`` as a sparse matrix (CSR, or COO converted once per call), with the
    product and the weight gradient computed from its non-zeros. A dense ``x`` goes
    through :class:`~torch_geometric.nn.dense.linear.Linear` unchanged, so the layer is
    a drop-in replacement (same parameters, same ``state_dict``). The sparse path is the
    same sum in another order: equal to the dense one within float rounding, not bit for
    bit. The features get no gradient.

    Args:
        in_channels (int): input size.
        out_channels (int): output size.
        bias (bool, optional): learn an additive bias. (default: ``True``)
        weight_initializer (str, optional): as in PyG's ``Linear``. (default: ``None``)

    Example:
        >>> lin = SparseInputLinear(data.num_features, 32)
        >>> out = lin(csr_features(data.x))  # == lin(data.x) within rounding
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True,
                 weight_initializer: str | None = None) -> None:
        super().__init__(in_channels, out_channels, bias=bias,
                         weight_initializer=weight_initializer)

    def forward(self, x: Tensor) -> Tensor:
        if not is_torch_sparse_tensor(x):
            return super().forward(x)
        if x.requires_grad:
            raise ValueError("SparseInputLinear gives sparse inputs no gradient, and x "
                             "requires one; pass x.detach() or a dense x")
        out = csr_matmul(csr_features(x), self.weight.t().contiguous())
        return out if self.bias is None else out + self.bias


__all__ = ["SparseInputLinear", "csr_features", "csr_matmul", "csr_transpose"]
