"""The atom pairs attention runs over: bonds + self-loops, or all pairs of small molecules."""

from __future__ import annotations

import torch

from fgsam.nn.models import attention_edges
from fgsam.nn.models.attention_edges import NON_BONDED, SELF


def as_set(pairs):
    return {(int(s), int(d)) for s, d in pairs.T}


def test_bonded_pattern_is_bonds_plus_self_loops(batch):
    pairs, kind = attention_edges(batch.edge_index, batch.num_nodes)
    assert as_set(pairs) == as_set(batch.edge_index) | {(i, i) for i in range(batch.num_nodes)}
    bonds = kind >= 0
    assert torch.equal(pairs[:, bonds], batch.edge_index[:, kind[bonds]])
    assert torch.equal(pairs[0, ~bonds], pairs[1, ~bonds]) and (kind[~bonds] == SELF).all()


def test_full_pattern_covers_each_small_molecule_and_keeps_large_ones_sparse(batch):
    sizes = torch.bincount(batch.batch).tolist()
    limit = 9
    pairs, kind = attention_edges(batch.edge_index, batch.num_nodes, batch.batch,
                                  batch.num_graphs, full=True, max_full_nodes=limit)
    expected = set()
    start = 0
    for n in sizes:
        atoms = range(start, start + n)
        if n <= limit:
            expected |= {(j, i) for i in atoms for j in atoms}
        else:
            expected |= {(i, i) for i in atoms}
            expected |= {p for p in as_set(batch.edge_index) if p[0] in atoms}
        start += n
    assert any(n > limit for n in sizes) and any(n <= limit for n in sizes)
    assert as_set(pairs) == expected and pairs.size(1) == len(expected)  # no duplicates
    bonds = kind >= 0
    assert torch.equal(pairs[:, bonds], batch.edge_index[:, kind[bonds]])
    assert int(bonds.sum()) == batch.edge_index.size(1)  # every bond keeps its features
    assert torch.equal(pairs[0] == pairs[1], kind == SELF)
    assert ((kind == NON_BONDED) | bonds | (kind == SELF)).all()


def test_bonded_pattern_is_the_bonds_in_order_then_one_self_loop_per_atom(batch):
    pairs, kind = attention_edges(batch.edge_index, batch.num_nodes)
    loops = torch.arange(batch.num_nodes)
    assert torch.equal(pairs, torch.cat([batch.edge_index, torch.stack([loops, loops])], 1))
    expected_kind = torch.cat([torch.arange(batch.edge_index.size(1)),
                               torch.full((batch.num_nodes,), SELF)])
    assert torch.equal(kind, expected_kind)
