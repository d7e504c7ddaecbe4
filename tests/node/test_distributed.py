"""Node classification over 2 gloo processes equals one process on the concatenated batches.

Sampling is made deterministic by taking every in-edge (fan-out -1): a seed's output is
then the same in any subgraph that holds its neighbourhood, so the two processes' batches
of a step, concatenated in rank order, are the single-process batch of that step. With a
synchronised ascent the reference is the single-process run itself; with a local ascent
(each process perturbs by its own gradient: m-sharpness with m the per-process batch)
it is the same run through the optimizers' manual steps, one perturbation per half.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.testing import assert_close

from fgsam._distributed import DistributedContext
from fgsam.data.node_dataset import NodeDataset
from fgsam.data.synthetic import GraphShape, synthetic_graph
from fgsam.nn.peer import peer_forward
from fgsam.node.config import NodeConfig, build_node_optimizer
from fgsam.node.graph import NodeGraph
from fgsam.node.models import build_node_model
from fgsam.node.train import train_epoch
from fgsam.optim.training_step import training_step

WORLD, PER_RANK, STEPS = 2, 16, 5
#: (label, optimizer, options, synchronised ascent)
CASES = [("adam", "adam", {}, True),
         ("sam-local", "sam", {}, False), ("sam-sync", "sam", {}, True),
         ("fgsam-local", "fgsam", {"lam": 0.0}, False), ("fgsam-sync", "fgsam", {}, True)]


def dataset() -> NodeDataset:
    data = synthetic_graph(GraphShape(300, 2400, 12, 4), seed=0)
    train = torch.arange(0, WORLD * PER_RANK * STEPS)
    return NodeDataset(name="toy", data=data, num_classes=4, train_idx=train,
                       val_idx=torch.arange(200, 250), test_idx=torch.arange(250, 300),
                       split="test", evaluator=None)


def config(name: str, options: dict, sync: bool, batch_size: int) -> NodeConfig:
    return NodeConfig(model="gcn", optimizers=[name], hidden=16, layers=2, dropout=0.0,
                      lr=0.01, weight_decay=0.0, rho=0.05, sync_ascent=sync,
                      options={name: options}, batch_size=batch_size, fanout=[-1, -1],
                      loader="fgsam")


def model_and_optimizer(cfg: NodeConfig, graph: NodeGraph, name: str, ctx: DistributedContext):
    torch.manual_seed(0)
    model = build_node_model("gcn", graph.num_features, graph.num_classes,
                             **cfg.model_kwargs())
    trained = DistributedDataParallel(model) if ctx.enabled else model
    opt, _ = build_node_optimizer(trained, cfg, name, total_steps=STEPS, seed=0)
    return model, trained, opt


def distributed_run(ctx: DistributedContext) -> dict[str, tuple[torch.Tensor, list]]:
    graph = NodeGraph.make(dataset(), "gcn", "cpu")
    out = {}
    for label, name, options, sync in CASES:
        cfg = config(name, options, sync, PER_RANK)
        model, trained, opt = model_and_optimizer(cfg, graph, name, ctx)
        loader = graph.loader(cfg, seed=0, ctx=ctx)
        losses, _ = train_epoch(trained, opt, graph, loader, seed=0, epoch=0,
                                device=torch.device("cpu"), ctx=ctx)
        out[label] = (losses, [p.detach().clone() for p in model.parameters()])
    return out


def reference_run() -> dict[str, tuple[torch.Tensor, list]]:
    """One process, batches of WORLD * PER_RANK seeds, on the whole graph."""
    graph = NodeGraph.make(dataset(), "gcn", "cpu")
    ctx = DistributedContext()
    out = {}
    for label, name, options, sync in CASES:
        cfg = config(name, options, sync, WORLD * PER_RANK)
        model, _, opt = model_and_optimizer(cfg, graph, name, ctx)
        loader = graph.loader(cfg, seed=0, ctx=ctx)
        loader.set_epoch(0)

        def gnn_loss(seeds, model=model):
            logits = model(graph.x, graph.edge_index, edge_weight=graph.edge_weight)
            return F.cross_entropy(logits[seeds], graph.y[seeds])

        def peer_loss(seeds, model=model):
            return F.cross_entropy(peer_forward(model, graph.x, seeds), graph.y[seeds])

        losses = []
        for batch in loader:
            seeds = batch.n_id[: batch.batch_size]
            if sync:
                peer = (lambda s=seeds: peer_loss(s)) if name == "fgsam" else None
                losses.append(training_step(opt, lambda s=seeds: gnn_loss(s), peer).detach())
                continue
            halves, grads, step_losses = seeds.tensor_split(WORLD), None, []
            for r, part in enumerate(halves):  # each "process" perturbs by its own gradient
                opt.zero_grad(set_to_none=True)
                loss = gnn_loss(part)
                loss.backward()
                step_losses.append(loss.detach())
                opt.first_step(zero_grad=True)
                (peer_loss if name == "fgsam" else gnn_loss)(part).backward()
                g = [p.grad.clone() for p in model.parameters()]
                grads = g if grads is None else [a + b for a, b in zip(grads, g)]
                if r < WORLD - 1:
                    opt.restore_weights()
            for p, g in zip(model.parameters(), grads):
                p.grad = g / WORLD  # DDP's all-reduce: the mean over the processes
            opt.second_step()
            losses.append(torch.stack(step_losses).mean())
        out[label] = (torch.stack(losses).float(), [p.detach().clone() for p in model.parameters()])
    return out


def _worker(rank: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=WORLD)
    try:
        torch.save(distributed_run(DistributedContext(rank, WORLD)), f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one_process_on_the_concatenated_batches(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path / "run")), nprocs=WORLD)
    ranks = [torch.load(tmp_path / f"run.{r}") for r in range(WORLD)]
    reference = reference_run()
    for label, *_ in CASES:
        losses, weights = reference[label]
        assert losses.numel() == STEPS
        for rank in ranks:
            assert_close(rank[label][0], losses, atol=1e-5, rtol=0, msg=label)
            for a, b in zip(rank[label][1], weights):
                assert_close(a, b, atol=1e-5, rtol=0, msg=label)
    # the local ascent is not the synchronised one: the comparison can tell them apart
    assert not torch.allclose(reference["sam-local"][1][0], reference["sam-sync"][1][0],
                              atol=1e-6)

