"""Step cost of optimizers training a 2-layer GCN encoder: one measurement for ``fgsam bench``
and ``benchmarks/step_cost.py``."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from fgsam.bench.peak_memory import peak_memory_mib
from fgsam.bench.timing import interleaved_medians
from fgsam.nn.adjacency import csr_adjacency, resolve_adjacency

#: The tasks: few-shot episodes, or full-graph node classification.
TASKS = ("episode", "full")
#: OGB's training fraction of the large shapes; other graphs train on 20 nodes per class.
TRAIN_FRACTIONS = {"ogbn-arxiv": 0.537, "ogbn-products": 0.0803}
#: The base optimizer's settings of every contender.
LR, WEIGHT_DECAY = 5e-3, 5e-4


@dataclass(frozen=True)
class Contender:
    """One row of a step-cost table.

    Args:
        label (str): the row's name (``"fgsam+ k=5"``).
        optimizer (str): registry name of the optimizer (``"fgsam+"``).
        options (dict, optional): its keyword arguments (``{"rho": 0.1, "k": 5}``).
            (default: ``{}``)
        peer_only (bool, optional): both closures are the PeerMLP's: with ``"adam"`` this
            is the cost of a PeerMLP step, the cost model's unit. (default: ``False``)
        adjacency (str, optional): ``"csr"`` or ``"edge-index"`` for this contender, else
            :func:`make_steps`'s ``adjacency``. (default: ``None``)
        feature_layout (str, optional): ``"sparse"`` or ``"dense"`` for this contender's
            few-shot method, else :func:`make_steps`'s ``feature_layout``. (default: ``None``)
    """

    label: str
    optimizer: str
    options: dict[str, Any] = field(default_factory=dict)
    peer_only: bool = False
    adjacency: str | None = None
    feature_layout: str | None = None


@dataclass
class StepCost:
    """Median time per step (over interleaved rounds) and peak memory of one contender.

    Args:
        label (str): the contender.
        ms (float): median milliseconds per step.
        ratio (float): ``ms`` over the first contender's.
        peak_mib (float): peak memory of ``steps_per_round`` steps above the level before
            them (MiB; ``nan`` where not measurable).
        per_step_ms (list of float): milliseconds per step of every round.
    """

    label: str
    ms: float
    ratio: float
    peak_mib: float
    per_step_ms: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"optimizer": self.label, "ms_per_step": self.ms, "ratio": self.ratio,
                "peak_memory_mib": None if math.isnan(self.peak_mib) else self.peak_mib,
                "per_step_ms": self.per_step_ms}

    def __repr__(self) -> str:
        return (f"StepCost({self.label!r}, {self.ms:.3f} ms/step, ratio={self.ratio:.3f}, "
                f"peak={self.peak_mib:.1f} MiB)")


def bench_graph(dataset: str | None = None, shape: Any = None, root: Any = None,
                seed: int = 0):
    """A graph to measure on and the training rows of its ``full`` task.

    Exactly one of ``dataset`` (a catalog graph, :func:`fgsam.data.load_graph`) and
    ``shape`` (a synthetic graph of that shape, :func:`fgsam.data.synthetic_graph`, made
    undirected). The ``full`` task trains on OGB's fraction of the nodes for the
    ogbn-arxiv and ogbn-products shapes (:data:`TRAIN_FRACTIONS`, a seeded random draw),
    otherwise on the first 20 labelled nodes of every class (Planetoid's standard
    training nodes on Cora and CiteSeer).

    Returns:
        ``(data, train)``: a ``Data`` and a long tensor of node ids.
    """
    from torch_geometric.utils import to_undirected

    from fgsam.data import load_graph, synthetic_graph

    if (dataset is None) == (shape is None):
        raise ValueError(f"give exactly one of dataset and shape, got dataset={dataset!r} "
                         f"and shape={shape!r}")
    if dataset is not None:
        data, _ = load_graph(dataset, root)
    else:
        data = synthetic_graph(shape, seed=seed)
        data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    fraction = TRAIN_FRACTIONS.get(shape) if isinstance(shape, str) else None
    if fraction is not None:
        gen = torch.Generator().manual_seed(seed + 1)
        train = torch.randperm(data.num_nodes, generator=gen)[: int(fraction * data.num_nodes)]
    else:
        classes = sorted(int(c) for c in data.y.unique() if c >= 0)
        train = torch.cat([(data.y == c).nonzero().view(-1)[:20] for c in classes])
    return data, train


def make_steps(data, train: Tensor, contenders: Sequence[Contender], task: str = "episode",
               *, hidden: int = 16, n_way: int = 5, k_shot: int = 3, q_query: int = 10,
               tasks: int = 40, seed: int = 0, method: str | None = None,
               adjacency: str = "auto", feature_layout: str = "auto"
               ) -> dict[str, Callable[[], Tensor]]:
    r"""One training-step function per contender, each on its own 2-layer GCN (or its own
    few-shot ``method``).

    Every contender's model starts from the same weights (``seed``) and trains with its
    optimizer (learning rate :data:`LR`, weight decay :data:`WEIGHT_DECAY`) on the same
    data; a step returns the loss. The GCN (hidden width ``hidden``) caches its normalised
    adjacency, as transductive training does.

    * ``task="episode"``: the GCN is an encoder with ``hidden`` outputs on the full graph;
      the loss is prototypical (negative Euclidean distances of the queries to the class
      means of the support) on ``n_way``-way ``k_shot``-shot ``q_query``-query episodes,
      cycling through a pool of ``tasks`` episodes drawn once (classes with enough
      labelled nodes); the PeerMLP runs on the episode's nodes only.
    * ``task="full"``: the GCN classifies; cross-entropy on the rows ``train``, and the
      PeerMLP runs on those rows.
    * ``method`` (episode task only): a few-shot method of :mod:`fgsam.fewshot` (``"gpn"``,
      ``"protonet"``, ...) built as ``fgsam fsnc`` builds it (width ``hidden``, dropout 0.2)
      instead of the GCN, and the step ``fgsam fsnc`` times: its episode loss, the PeerMLP
      loss for FGSAM-style optimizers, one loss per query for per-sample ones.

    Args:
        data (torch_geometric.data.Data): the graph (``x``, ``edge_index``, ``y``), on the
            device the steps run on.
        train (torch.Tensor): training node ids of the ``full`` task.
        contenders (sequence of Contender): distinct labels.
        task (str, optional): ``"episode"`` or ``"full"``. (default: ``"episode"``)
        hidden (int, optional): hidden (and episode output) width. (default: ``16``)
        n_way, k_shot, q_query (int, optional): the episodes. (default: ``5, 3, 10``)
        tasks (int, optional): episodes in the pool. (default: ``40``)
        seed (int, optional): initial weights and episodes. (default: ``0``)
        method (str, optional): a few-shot method instead of the GCN. (default: ``None``)
        adjacency (str, optional): how the GCNs get the graph: ``"edge-index"``, ``"csr"``
            (a sparse ``adj_t``, :mod:`fgsam.nn.adjacency`) or ``"auto"`` (CSR where the
            layers allow it, as ``fgsam fsnc``). (default: ``"auto"``)
        feature_layout (str, optional): how a few-shot ``method``'s GCNs read the features:
            ``"sparse"``, ``"dense"`` or ``"auto"``
            (:func:`fgsam.fewshot.method.resolve_feature_layout`, as ``fgsam fsnc``).
            (default: ``"auto"``)

    Example:
        >>> steps = make_steps(data, train, [Contender("adam", "adam"),
        ...                                  Contender("fgsam", "fgsam", {"rho": 0.05})])
        >>> loss = steps["fgsam"]()
    """
    from torch_geometric.nn import GCN

    from fgsam.nn import peer_forward
    from fgsam.optim import create_optimizer, training_step

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if method is not None:
        if task != "episode":
            raise ValueError(f"method={method!r} trains on episodes: it needs task='episode', "
                             f"got {task!r}")
        return _method_steps(data, contenders, method, hidden, n_way, k_shot, q_query, tasks,
                             seed, adjacency, feature_layout)
    labels = [c.label for c in contenders]
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"contenders need distinct labels, at least one, got {labels}")
    device = data.x.device
    x, edge_index, y = data.x, data.edge_index, data.y
    train = train.to(device)
    pool = _episodes(y, n_way, k_shot, q_query, tasks, seed) if task == "episode" else None
    out = hidden if task == "episode" else int(y.max()) + 1
    steps = {}
    for contender in contenders:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)  # the same initial weights for every contender
            model = GCN(data.num_features, hidden, 2, out, cached=True).to(device)
        graph = edge_index
        if resolve_adjacency(contender.adjacency or adjacency, model,
                             edge_index.size(1)) == "csr":
            graph = csr_adjacency(edge_index, data.num_nodes)
        opt = create_optimizer(model, contender.optimizer, lr=LR, weight_decay=WEIGHT_DECAY,
                               **contender.options)
        if pool is not None:
            cycle = itertools.cycle(pool)

            def closures(model=model, cycle=cycle, graph=graph):
                nodes, query_y = next(cycle)
                return (lambda: _proto_loss(model(x, graph)[nodes], query_y, n_way, k_shot),
                        lambda: _proto_loss(peer_forward(model, x, nodes), query_y, n_way,
                                            k_shot))
        else:
            def closures(model=model, graph=graph):
                return (lambda: F.cross_entropy(model(x, graph)[train], y[train]),
                        lambda: F.cross_entropy(peer_forward(model, x, train), y[train]))

        def step(opt=opt, closures=closures, peer_only=contender.peer_only):
            gnn, mlp = closures()
            return training_step(opt, mlp if peer_only else gnn, mlp)

        steps[contender.label] = step
    return steps


def measure_step_cost(steps: dict[str, Callable[[], object]], *, rounds: int = 9,
                      steps_per_round: int = 10, warmup: int | None = None,
                      clock: str = "wall", device: torch.device | str | None = None,
                      memory: bool = True) -> dict[str, StepCost]:
    """Median time per step of every step function (:func:`interleaved_medians`), ratios to
    the first, then the peak memory of ``steps_per_round`` steps of each.

    Args:
        steps (dict): label → one training step (e.g. from :func:`make_steps`).
        rounds (int, optional): interleaved rounds. (default: ``9``)
        steps_per_round (int, optional): steps per contender per round; a multiple of
            FGSAM+'s ``k`` times a whole number of its cycles. (default: ``10``)
        warmup (int, optional): untimed steps first (default: ``steps_per_round``).
        clock (str, optional): ``"wall"`` or ``"cpu"`` (process CPU time, for a shared
            CPU with one thread). (default: ``"wall"``)
        device (torch.device, optional): where the steps run. (default: the CPU)
        memory (bool, optional): measure peak memory (else ``nan``). (default: ``True``)
    """
    warmup = steps_per_round if warmup is None else warmup
    timings = interleaved_medians(steps, rounds=rounds, steps_per_round=steps_per_round,
                                  warmup=warmup, device=device, clock=clock)
    first = next(iter(timings.values())).median
    out = {}
    for label, timing in timings.items():
        peak = peak_memory_mib(steps[label], steps_per_round, device) if memory else math.nan
        out[label] = StepCost(label, timing.median * 1e3, timing.median / first, peak,
                              [t * 1e3 for t in timing.per_step])
    return out


def _method_steps(data, contenders: Sequence[Contender], method: str, hidden: int, n_way: int,
                  k_shot: int, q_query: int, tasks: int, seed: int, adjacency: str,
                  feature_layout: str) -> dict[str, Callable[[], Tensor]]:
    """The steps of :func:`make_steps` for a few-shot ``method``: ``fgsam fsnc``'s step."""
    from fgsam.fewshot.method import resolve_feature_layout
    from fgsam.fewshot.method_registry import create_method
    from fgsam.fewshot.sampler import derive_seed
    from fgsam.fewshot.trainer import episode_step
    from fgsam.optim import create_optimizer

    pool = _episode_pool(data.y, n_way, k_shot, q_query, tasks, seed)
    steps = {}
    for contender in contenders:
        with torch.random.fork_rng(devices=[]):
            model = create_method(method, data.num_features, int(data.y.max()) + 1, n_way,
                                  hidden, 0.2)
        model.reset_parameters(seed)
        model.adjacency = resolve_adjacency(contender.adjacency or adjacency, model,
                                           data.edge_index.size(1))
        model.feature_layout = resolve_feature_layout(contender.feature_layout or feature_layout,
                                                      model, data.x)
        model = model.to(data.x.device).train()
        opt = create_optimizer(model, contender.optimizer, lr=LR, weight_decay=WEIGHT_DECAY,
                               seed=derive_seed(seed, "optimizer"), **contender.options)
        cycle = itertools.cycle(pool)

        def step(model=model, opt=opt, cycle=cycle, peer_only=contender.peer_only):
            return episode_step(model, opt, data, next(cycle), peer_only)

        steps[contender.label] = step
    return steps


def _episode_pool(y: Tensor, n_way: int, k_shot: int, q_query: int, count: int, seed: int):
    """A pool of ``count`` episodes over the classes with enough labelled nodes, on ``y``'s
    device."""
    from fgsam.data import class_sizes
    from fgsam.fewshot.sampler import EpisodeSampler, derive_seed

    labels = y.cpu()
    classes = [c for c, size in sorted(class_sizes(labels).items()) if size >= k_shot + q_query]
    sampler = EpisodeSampler(labels, classes, n_way, k_shot, q_query,
                             generator=derive_seed(seed, "bench"))
    return [e.to(y.device) for e in sampler.sample_tasks(count)]


def _episodes(y: Tensor, n_way: int, k_shot: int, q_query: int, count: int,
              seed: int) -> list[tuple[Tensor, Tensor]]:
    """A pool of (support then query node ids, query labels); support is class-major."""
    return [(e.nodes, e.query_y) for e in _episode_pool(y, n_way, k_shot, q_query, count, seed)]


def _proto_loss(z: Tensor, query_y: Tensor, n_way: int, k_shot: int) -> Tensor:
    protos = z[: n_way * k_shot].view(n_way, k_shot, -1).mean(1)
    return F.cross_entropy(-torch.cdist(z[n_way * k_shot:], protos), query_y)


__all__ = ["LR", "TASKS", "TRAIN_FRACTIONS", "WEIGHT_DECAY", "Contender", "StepCost",
           "bench_graph", "make_steps", "measure_step_cost"]
