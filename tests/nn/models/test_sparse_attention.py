"""Sparse attention equals dense masked-softmax attention."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from fgsam.nn.models import SparseAttention, attention_edges


def dense_attention(attn: SparseAttention, x, pairs, bias):
    """Attention over the full N x N score matrix, non-pairs masked out before softmax."""
    n, h, d = x.size(0), attn.heads, attn.head_dim
    q, k, v = attn.qkv(x).view(n, 3, h, d).unbind(1)
    scores = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(d)  # [H, target, source]
    b = torch.zeros(h, n, n, dtype=x.dtype)
    b[:, pairs[1], pairs[0]] = bias.T
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[pairs[1], pairs[0]] = True
    alpha = torch.softmax((scores + b).masked_fill(~mask, float("-inf")), dim=-1)
    alpha = torch.nan_to_num(alpha)  # a node without any pair receives nothing
    out = torch.einsum("hij,jhd->ihd", alpha, v).reshape(n, h * d)
    return attn.out(out)


@pytest.mark.parametrize("full", [False, True], ids=["bonded", "full"])
def test_sparse_equals_dense_reference(batch, full):
    torch.manual_seed(0)
    attn = SparseAttention(16, heads=4).eval()
    x = torch.randn(batch.num_nodes, 16, requires_grad=True)
    pairs, _ = attention_edges(batch.edge_index, batch.num_nodes, batch.batch,
                               batch.num_graphs, full=full, max_full_nodes=9)
    bias = torch.randn(pairs.size(1), 4)
    out = attn(x, pairs, bias)
    ref_x = x.detach().clone().requires_grad_()
    ref = dense_attention(attn, ref_x, pairs, bias)
    assert_close(out, ref, rtol=1e-5, atol=1e-5)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (ref * weights).sum().backward()
    assert_close(x.grad, ref_x.grad, rtol=1e-5, atol=1e-5)


def test_channels_must_split_into_heads():
    with pytest.raises(ValueError, match="channels must be a multiple of heads.*10.*3"):
        SparseAttention(10, heads=3)
