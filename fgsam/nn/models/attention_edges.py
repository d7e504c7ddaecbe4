"""Which atom pairs a molecular attention layer looks at: bonds, self-loops, or all pairs."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import add_self_loops, cumsum

#: ``kind`` code of a self-loop pair.
SELF = -1
#: ``kind`` code of a non-bonded pair (full attention only).
NON_BONDED = -2


def attention_edges(
    edge_index: Tensor,
    num_nodes: int,
    batch: Tensor | None = None,
    num_graphs: int = 1,
    full: bool = False,
    max_full_nodes: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``(source, target)`` pairs attention runs over, and what each pair is.

    Every atom attends to itself and to its bonded neighbours. With ``full`` every atom
    of a molecule with at most ``max_full_nodes`` atoms (all molecules if ``None``)
    attends to every atom of the same molecule; larger molecules keep the bonded
    pattern, so memory stays linear in their size.

    Args:
        edge_index (torch.Tensor): ``[2, E]`` bonds (both directions).
        num_nodes (int): number of atoms :math:`N` in the batch.
        batch (torch.Tensor, optional): ``[N]`` molecule of each atom, sorted; ``None``
            means one molecule. (default: ``None``)
        num_graphs (int, optional): number of molecules. (default: ``1``)
        full (bool, optional): attention over all pairs of small molecules.
            (default: ``False``)
        max_full_nodes (int, optional): the largest molecule that gets full attention.
            (default: ``None``)

    Returns:
        ``(pairs, kind)``: ``pairs`` is ``[2, P]`` (row 0 the source, row 1 the target);
        ``kind[p]`` is the bond's column in ``edge_index`` for a bond, :data:`SELF` for
        a self-loop and :data:`NON_BONDED` for any other pair.

    Example:
        >>> pairs, kind = attention_edges(data.edge_index, data.num_nodes)
    """
    device = edge_index.device
    bond_ids = torch.arange(edge_index.size(1), device=device)
    if not full:
        return add_self_loops(edge_index, bond_ids, fill_value=SELF, num_nodes=num_nodes)
    loops = torch.arange(num_nodes, device=device)
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=device)
    counts = torch.bincount(batch, minlength=num_graphs)
    first = cumsum(counts)[:-1]  # first atom of each molecule
    size = counts[batch]  # size of each atom's molecule
    small = size <= (max_full_nodes if max_full_nodes is not None else num_nodes)

    # All pairs of small molecules: target i receives from every atom of its molecule.
    repeats = torch.where(small, size, torch.zeros_like(size))
    start = cumsum(repeats)[:-1]  # first pair of each target atom
    dst = torch.repeat_interleave(loops, repeats)
    offset = torch.arange(dst.numel(), device=device) - start[dst]
    src = first[batch[dst]] + offset
    kind = torch.full_like(dst, NON_BONDED)
    kind[src == dst] = SELF
    src_e, dst_e = edge_index
    bonded_small = small[dst_e]
    position = start[dst_e] + (src_e - first[batch[src_e]])
    kind[position[bonded_small]] = bond_ids[bonded_small]

    # Large molecules keep their bonds and self-loops.
    large = loops[~small]
    pairs = torch.cat(
        [torch.stack([src, dst]), edge_index[:, ~bonded_small], torch.stack([large, large])], 1
    )
    kind = torch.cat([kind, bond_ids[~bonded_small], torch.full_like(large, SELF)])
    return pairs, kind


__all__ = ["NON_BONDED", "SELF", "attention_edges"]
