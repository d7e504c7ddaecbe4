"""Train one model with one optimizer and one seed; test read at the best validation epoch."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from fgsam.mol.build_model import build_model
from fgsam.mol.build_optimizer import build_optimizer
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.evaluate import evaluate
from fgsam.mol.masked_loss import REGRESSION
from fgsam.mol.mol_config import MolConfig
from fgsam.mol.molecule_split import MoleculeSplit
from fgsam.mol.target_scaling import TargetScaling
from fgsam.mol.train_epoch import train_epoch

#: Metrics for which lower is better (the others: higher is better).
LOWER_IS_BETTER = ("rmse", "mae")


@dataclass
class MolRun:
    """The outcome of :func:`train_molecules`.

    Args:
        optimizer (str): the optimizer's name.
        seed (int): the seed of model initialisation, shuffling and dropout.
        best_epoch (int): the epoch (1-based) of the best validation metric.
        valid (float): the best validation metric.
        test (float): the test metric at that epoch.
        seconds_per_epoch (float): mean training time per epoch (evaluation excluded).
        history (list of dict): per epoch ``train_loss``, ``valid``, ``test``, ``seconds``.
        model (torch.nn.Module): the trained model (final weights).
        best_state (dict, optional): the weights at the best epoch (CPU), if kept.
    """

    optimizer: str
    seed: int
    best_epoch: int
    valid: float
    test: float
    seconds_per_epoch: float
    history: list[dict[str, float]] = field(default_factory=list)
    model: torch.nn.Module | None = None
    best_state: dict[str, torch.Tensor] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "seed": self.seed, "best_epoch": self.best_epoch,
                "valid": self.valid, "test": self.test,
                "seconds_per_epoch": self.seconds_per_epoch, "history": self.history}

    def __repr__(self) -> str:
        return (f"MolRun({self.optimizer}, seed {self.seed}: best epoch {self.best_epoch}, "
                f"valid {self.valid:.4f}, test {self.test:.4f}, "
                f"{self.seconds_per_epoch:.2f} s/epoch)")


def train_labels(data: MoleculeSplit) -> torch.Tensor:
    """``[N_train, T]`` labels of the training molecules (NaN where missing)."""
    y = data.dataset.y  # the stacked labels of the whole dataset
    return y[data.index["train"]]


def better(metric: str, new: float, old: float) -> bool:
    """Whether ``new`` beats ``old`` (NaN never does)."""
    if math.isnan(new):
        return False
    if math.isnan(old):
        return True
    return new < old if metric in LOWER_IS_BETTER else new > old


def train_molecules(config: MolConfig, data: MoleculeSplit, optimizer: str, seed: int,
                    device: torch.device | str = "cpu", ctx: DistributedContext | None = None,
                    keep_best_state: bool = False, progress: bool = False) -> MolRun:
    """Train ``config.model`` on ``data`` with ``optimizer`` for ``config.epochs`` epochs.

    The model is initialised, shuffled and dropped out from ``seed`` inside a forked RNG
    (the caller's global RNG state is left as it was), so one seed gives the same run
    for every optimizer. Validation and test metrics come from
    :class:`ogb.graphproppred.Evaluator` after every epoch; the test value reported is
    the one at the best validation epoch. Under several processes the model is wrapped in
    ``DistributedDataParallel`` and the optimizer gets it as ``model=``.

    Example:
        >>> data = MoleculeSplit.make(MoleculeDataset("ogbg-molbbbp"))
        >>> run = train_molecules(MolConfig(epochs=20), data, "graphsam", seed=0)
    """
    from ogb.graphproppred import Evaluator
    from tqdm.auto import tqdm

    ctx = ctx or DistributedContext()
    device = torch.device(device)
    evaluator = Evaluator(data.dataset.name)
    metric = evaluator.eval_metric
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        model = build_model(config.model, data.dataset.num_tasks, **config.model_kwargs())
        if config.standardize and data.dataset.task_type == REGRESSION:
            model = TargetScaling.fit(model, train_labels(data))
        model = model.to(device)
        trained: torch.nn.Module = model
        if ctx.enabled:
            trained = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
        opt = build_optimizer(trained, optimizer, config.lr, config.weight_decay, config.rho,
                              config.base, config.sync_ascent,
                              **config.options.get(optimizer, {}))
        train = data.loader("train", config.batch_size, shuffle=True, seed=seed, ctx=ctx)
        valid = data.loader("valid", config.eval_batch_size, ctx=ctx)
        test = data.loader("test", config.eval_batch_size, ctx=ctx)
        run = MolRun(optimizer, seed, 0, math.nan, math.nan, math.nan, model=model)
        bar = tqdm(range(config.epochs), desc=f"{optimizer} seed {seed}", leave=False,
                   disable=not (progress and ctx.is_main), dynamic_ncols=True)
        for epoch in bar:
            start = time.perf_counter()
            losses = train_epoch(trained, opt, train, data.dataset.task_type, device, epoch, ctx)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start
            row = {"epoch": epoch + 1, "train_loss": float(losses.mean()),
                   "valid": evaluate(model, valid, evaluator, device, ctx),
                   "test": evaluate(model, test, evaluator, device, ctx), "seconds": seconds}
            run.history.append(row)
            if run.best_epoch == 0 or better(metric, row["valid"], run.valid):
                run.best_epoch, run.valid, run.test = epoch + 1, row["valid"], row["test"]
                if keep_best_state:
                    run.best_state = {k: v.detach().cpu().clone()
                                      for k, v in model.state_dict().items()}
            bar.set_postfix(loss=f"{row['train_loss']:.4f}", valid=f"{row['valid']:.4f}",
                            test=f"{row['test']:.4f}")
    run.seconds_per_epoch = sum(r["seconds"] for r in run.history) / max(len(run.history), 1)
    if keep_best_state and run.best_state is None:
        run.best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
    return run


__all__ = ["LOWER_IS_BETTER", "MolRun", "better", "train_molecules"]
