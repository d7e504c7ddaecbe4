"""One node-classification run: full-batch or sampled training, evaluation, best epoch."""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from fgsam._distributed import DistributedContext
from fgsam._experiment import Diverged, failed_pass
from fgsam._metric_log import MetricLog
from fgsam._progress import progress as progress_bar
from fgsam._random import derive_seed
from fgsam._timing import synchronize
from fgsam.nn.adjacency import csr_adjacency, resolve_adjacency
from fgsam.nn.peer import peer_forward
from fgsam.node.config import NodeConfig, build_node_optimizer, optimizer_seed
from fgsam.node.graph import NodeGraph
from fgsam.node.inference import layerwise_inference
from fgsam.node.models import build_node_model
from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.training_step import training_step

#: The columns of a run's ``--log-dir`` CSV (``valid``/``test`` empty where not evaluated).
LOG_COLUMNS = ["epoch", "train_loss", "seconds", "cpu_seconds", "seed_nodes", "valid", "test"]


@dataclass
class NodeRun:
    """The outcome of :func:`train_node`.

    Args:
        optimizer (str): the optimizer's name.
        seed (int): the seed of initialisation, the seed order, sampling and dropout.
        best_epoch (int): the evaluated epoch (1-based) with the best validation accuracy
            (``0`` for a diverged run).
        valid (float): that validation accuracy (NaN for a diverged run).
        test (float): the test accuracy at that epoch (NaN for a diverged run).
        seconds_per_epoch (float): mean wall-clock training time per epoch (sampling
            included, evaluation excluded).
        cpu_seconds_per_epoch (float): mean process CPU time of the same.
        seed_nodes_per_second (float): training seed nodes of all processes per second of
            wall-clock training time.
        peak_memory_mb (list of float): the peak resident memory of each process (MiB).
        history (list of dict): per epoch ``train_loss``, ``seconds``, ``cpu_seconds`` and,
            where evaluated, ``valid`` and ``test``.
        optimizer_arguments (dict): the optimizer's arguments as resolved.
        diverged (dict, optional): where the run diverged (``epoch``, ``step``, ``pass``,
            ``message``), else ``None``.
        adjacency (str): how the GNN propagated, ``"csr"`` or ``"edge-index"``.
        best_state (dict, optional): the tested weights (CPU), if kept.
    """

    optimizer: str
    seed: int
    best_epoch: int = 0
    valid: float = math.nan
    test: float = math.nan
    seconds_per_epoch: float = math.nan
    cpu_seconds_per_epoch: float = math.nan
    seed_nodes_per_second: float = math.nan
    peak_memory_mb: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    optimizer_arguments: dict[str, Any] = field(default_factory=dict)
    diverged: dict[str, Any] | None = None
    best_state: dict[str, Tensor] | None = None
    adjacency: str = "edge-index"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "optimizer", "seed", "best_epoch", "valid", "test", "seconds_per_epoch",
            "cpu_seconds_per_epoch", "seed_nodes_per_second", "peak_memory_mb", "adjacency",
            "diverged", "optimizer_arguments", "history")}

    def __repr__(self) -> str:
        if self.diverged is not None:
            return (f"NodeRun({self.optimizer}, seed {self.seed}: diverged at epoch "
                    f"{self.diverged['epoch']}, {self.diverged['pass']} pass)")
        return (f"NodeRun({self.optimizer}, seed {self.seed}: best epoch {self.best_epoch}, "
                f"valid {self.valid:.4f}, test {self.test:.4f}, "
                f"{self.seconds_per_epoch:.3f} s/epoch)")


def shard(nodes: Tensor, seed: int, epoch: int, ctx: DistributedContext) -> Tensor:
    """This process's part of ``nodes`` for a full-batch epoch: one permutation shared by
    all processes (from ``seed`` and ``epoch``), cut into near-equal parts in rank order;
    all of ``nodes`` for one process."""
    if not ctx.enabled:
        return nodes
    gen = torch.Generator().manual_seed(derive_seed(seed, f"shard-{epoch}"))
    order = torch.randperm(nodes.numel(), generator=gen).to(nodes.device)
    return nodes[order].tensor_split(ctx.world_size)[ctx.rank]


def _forward(model: torch.nn.Module, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None
             ) -> Tensor:
    return model(x, edge_index) if edge_weight is None else model(x, edge_index,
                                                                  edge_weight=edge_weight)


def train_step(opt: torch.optim.Optimizer, model: torch.nn.Module, x: Tensor,
               edge_index: Tensor, edge_weight: Tensor | None, rows: Tensor | slice,
               y: Tensor) -> Tensor:
    """One optimizer step on the loss of ``rows``: the GNN over the graph, and (FGSAM-style
    optimizers) the PeerMLP view on those rows' own features only."""
    def closure() -> Tensor:
        return F.cross_entropy(_forward(model, x, edge_index, edge_weight)[rows], y)

    def peer_closure() -> Tensor:
        index = rows if isinstance(rows, Tensor) else torch.arange(y.numel(), device=y.device)
        return F.cross_entropy(peer_forward(model, x, index), y)

    two = isinstance(opt, SharpnessAwareOptimizer) and opt.num_closures == 2
    return training_step(opt, closure, peer_closure if two else None).detach()


def sampled_edge_weight(batch: Any, in_degree: Tensor) -> Tensor:
    """The batch's ``edge_weight`` times ``in_degree(v) / sampled in-edges of v`` for each
    edge's target ``v`` (see :func:`batch_step`); ``batch`` has ``n_id`` (global ids)."""
    target = batch.edge_index[1]
    sampled = torch.bincount(target, minlength=batch.num_nodes)
    full = in_degree.to(target.device)[batch.n_id.to(target.device)]
    return batch.edge_weight * (full[target] / sampled[target]).to(batch.edge_weight.dtype)


def batch_step(opt: torch.optim.Optimizer, model: torch.nn.Module, batch: Any,
               adjacency: str = "edge-index", in_degree: Tensor | None = None) -> Tensor:
    r""":func:`train_step` on a sampled batch: the loss of its seed nodes (its first
    ``batch_size`` rows), the subgraph as a CSR adjacency for ``adjacency="csr"``.

    With ``in_degree`` (each node's in-degree in the whole graph) the batch's edge weights
    (GCN's normalisation of the whole graph) are scaled by
    :math:`\deg^-(v) / |\text{sampled in-edges of } v|` per target :math:`v`: a uniform
    sample of :math:`k` of the :math:`\deg^-(v)` terms of :math:`\sum_u a_{vu} h_u`,
    scaled so, estimates the whole sum without bias, which is what the exact layer-wise
    evaluation computes (without it, training sees a :math:`k / \deg^-(v)` share of each
    neighbourhood and evaluation all of it). Every in-edge sampled: a factor of 1."""
    n = batch.batch_size
    edge_index, edge_weight = batch.edge_index, getattr(batch, "edge_weight", None)
    if edge_weight is not None and in_degree is not None:
        edge_weight = sampled_edge_weight(batch, in_degree)
    if adjacency == "csr":
        edge_index, edge_weight = csr_adjacency(edge_index, batch.num_nodes, edge_weight), None
    return train_step(opt, model, batch.x, edge_index, edge_weight, slice(0, n), batch.y[:n])


def train_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, graph: NodeGraph,
                loader: Any, seed: int, epoch: int, device: torch.device,
                ctx: DistributedContext, adjacency: str = "edge-index") -> tuple[Tensor, int]:
    """One epoch: the losses of its steps (averaged over the processes) and the number of
    training seed nodes all processes took. ``loader`` is ``None`` for full-batch;
    ``adjacency`` (``"csr"`` or ``"edge-index"``) is how the GNN propagates."""
    model.train()
    if isinstance(opt, SharpnessAwareOptimizer):
        opt.start_epoch()
    losses, seeds = [], 0
    if loader is None:
        rows = shard(graph.train_idx, seed, epoch, ctx)
        losses.append(train_step(opt, model, graph.x, *graph.structure(adjacency), rows,
                                 graph.y[rows]))
        seeds = graph.train_idx.numel()
    else:
        loader.set_epoch(epoch)
        for batch in loader:
            batch = batch.to(device)
            losses.append(batch_step(opt, model, batch, adjacency, graph.in_degree))
            seeds += batch.batch_size * ctx.world_size
    return ctx.mean(torch.stack(losses).float()).cpu(), seeds


@torch.no_grad()
def predict(model: torch.nn.Module, graph: NodeGraph, config: NodeConfig,
            ctx: DistributedContext, adjacency: str = "edge-index") -> Tensor:
    """Logits of every node: the full-graph forward when training is full-batch, else
    exact layer-wise inference (split over the processes)."""
    model.eval()
    if not config.sampled:
        return _forward(model, graph.x, *graph.structure(adjacency))
    return layerwise_inference(model, graph.x, graph.edge_index, graph.edge_weight,
                               batch_size=config.eval_batch_size, ctx=ctx,
                               adjacency=adjacency)


def evaluate_into(row: dict[str, Any], run: NodeRun, model: torch.nn.Module,
                  graph: NodeGraph, config: NodeConfig, ctx: DistributedContext,
                  keep_best_state: bool) -> None:
    """Put this epoch's validation and test accuracy in ``row`` and keep the best epoch in
    ``run``; non-finite predictions raise :class:`Diverged`."""
    epoch = row["epoch"]
    logits = predict(model, graph, config, ctx, run.adjacency)
    if not bool(torch.isfinite(logits).all()):
        raise Diverged(epoch, None, "validation",
                       f"predictions are not finite after epoch {epoch}: the weights left "
                       f"the finite range; lower the learning rate")
    row["valid"] = graph.accuracy(logits, graph.val_idx)
    row["test"] = graph.accuracy(logits, graph.test_idx)
    if run.best_epoch == 0 or row["valid"] > run.valid:
        run.best_epoch, run.valid, run.test = epoch, row["valid"], row["test"]
        if keep_best_state:
            run.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def peak_memory_mb(ctx: DistributedContext) -> list[float]:
    """Each process's peak resident memory so far, in MiB (rank order)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mib = kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024  # bytes on macOS
    return [float(v) for v in ctx.gather(torch.tensor([mib], dtype=torch.float64))]


def train_node(config: NodeConfig, graph: NodeGraph, optimizer: str, seed: int,
               device: torch.device | str = "cpu", ctx: DistributedContext | None = None,
               keep_best_state: bool = False, progress: bool = False,
               log_dir: str | os.PathLike[str] | None = None) -> NodeRun:
    """Train ``config.model`` on ``graph`` with ``optimizer`` for ``config.epochs`` epochs.

    The model is initialised and dropped out from ``seed`` inside a forked RNG (the
    caller's global RNG state is left as it was); the seed order and the neighbour
    samples derive from ``seed`` too, so a seed is the same run for every optimizer and
    again. Under several processes the model is wrapped in ``DistributedDataParallel``
    (its backward all-reduces the descent gradient; the ascent stays local unless
    ``config.sync_ascent``) and each process trains on its own part of the seed nodes.
    Validation and test accuracy are read every ``config.eval_every`` epochs and after
    the last; the test accuracy reported is the one at the best validation epoch.

    Training is timed by the wall clock (device synchronised) and by process CPU time;
    evaluation is not timed. A run that diverges (a sharpness-aware optimizer's
    :class:`FloatingPointError`, a non-finite loss, non-finite predictions) stops there
    and is returned with :attr:`NodeRun.diverged` set. With ``log_dir`` every epoch's row
    of :attr:`NodeRun.history` is also written to ``log_dir/<optimizer>-seed<seed>.csv``
    as it comes (and to TensorBoard where it is installed; rank 0 only).

    Example:
        >>> run = train_node(NodeConfig("cora", epochs=200), graph, "fgsam+", seed=0)
    """
    ctx = ctx or DistributedContext()
    device = torch.device(device)
    cuda = [device] if device.type == "cuda" else []
    run = NodeRun(optimizer, seed)
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        model = build_node_model(config.model, graph.num_features, graph.num_classes,
                                 **config.model_kwargs()).to(device)
        trained: torch.nn.Module = model
        if ctx.enabled:
            trained = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        run.adjacency = resolve_adjacency(config.adjacency, model, graph.edge_index.size(1),
                                          graph.num_features)
        loader = graph.loader(config, seed, ctx)
        steps = 1 if loader is None else len(loader)
        opt, run.optimizer_arguments = build_node_optimizer(
            trained, config, optimizer, config.epochs * steps, optimizer_seed(seed))
        bar = progress_bar(range(config.epochs), desc=f"{optimizer} seed {seed}",
                           enabled=progress and ctx.is_main)
        log = None if log_dir is None or not ctx.is_main else MetricLog(
            log_dir, f"{optimizer}-seed{seed}", columns=LOG_COLUMNS)
        try:
            for epoch in bar:
                start, cpu_start = time.perf_counter(), time.process_time()
                try:
                    losses, seeds = train_epoch(trained, opt, graph, loader, seed, epoch,
                                                device, ctx, run.adjacency)
                except FloatingPointError as err:  # a sharpness-aware pass: weights unchanged
                    raise Diverged(epoch + 1, getattr(err, "step", None), failed_pass(err),
                                   str(err)) from err
                synchronize(device)
                row = {"epoch": epoch + 1, "train_loss": float(losses.mean()),
                       "seconds": time.perf_counter() - start,
                       "cpu_seconds": time.process_time() - cpu_start, "seed_nodes": seeds}
                run.history.append(row)
                if not math.isfinite(row["train_loss"]):
                    raise Diverged(epoch + 1, None, "training",
                                   f"{type(opt).__name__}: the training loss is "
                                   f"{row['train_loss']} in epoch {epoch + 1}; lower the "
                                   f"learning rate, or check the data for NaN/inf")
                if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
                    evaluate_into(row, run, model, graph, config, ctx, keep_best_state)
                    bar.set_postfix(loss=f"{row['train_loss']:.4f}",
                                    valid=f"{row['valid']:.4f}", test=f"{row['test']:.4f}")
                if log is not None:
                    log.write(epoch + 1, row)
        except Diverged as err:
            run.diverged = err.record
            run.best_epoch, run.valid, run.test, run.best_state = 0, math.nan, math.nan, None
        finally:
            bar.close()
            if log is not None:
                log.close()
    if run.history:  # every finished epoch was timed
        seconds = sum(r["seconds"] for r in run.history)
        run.seconds_per_epoch = seconds / len(run.history)
        run.cpu_seconds_per_epoch = sum(r["cpu_seconds"] for r in run.history) / len(run.history)
        run.seed_nodes_per_second = sum(r["seed_nodes"] for r in run.history) / seconds
    run.peak_memory_mb = peak_memory_mb(ctx)
    return run


__all__ = [
    "LOG_COLUMNS",
    "Diverged",
    "NodeRun",
    "batch_step",
    "evaluate_into",
    "peak_memory_mb",
    "predict",
    "sampled_edge_weight",
    "shard",
    "train_epoch",
    "train_node",
    "train_step",
]
