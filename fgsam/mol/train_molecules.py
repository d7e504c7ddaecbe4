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
from fgsam.mol.build_optimizer import molecule_optimizer_arguments
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.evaluate import evaluate, predict, score
from fgsam.mol.masked_loss import REGRESSION, masked_loss
from fgsam.mol.mol_config import MolConfig
from fgsam.mol.molecule_split import MoleculeSplit
from fgsam.mol.target_scaling import TargetScaling
from fgsam.mol.train_epoch import train_epoch
from fgsam.optim.registry import create_optimizer
from fgsam.optim.swad import ENDED, SWAD, has_batchnorm

#: Metrics for which lower is better (the others: higher is better).
LOWER_IS_BETTER = ("rmse", "mae")


@dataclass
class MolRun:
    """The outcome of :func:`train_molecules`.

    Args:
        optimizer (str): the optimizer's name.
        seed (int): the seed of model initialisation, shuffling and dropout.
        best_epoch (int): the epoch (1-based) of the best validation metric.
        valid (float): the best validation metric (with SWAD: the averaged model's).
        test (float): the test metric at that epoch (with SWAD: the averaged model's).
        seconds_per_epoch (float): mean training time per epoch (evaluation excluded).
        history (list of dict): per epoch ``train_loss``, ``valid``, ``test``, ``seconds``
            (and ``valid_loss`` with SWAD).
        model (torch.nn.Module): the trained model (final weights; with SWAD the average).
        best_state (dict, optional): the tested weights (CPU), if kept.
        optimizer_arguments (dict): the optimizer's arguments (``rho``, ``total_steps``,
            options), as :func:`fgsam.optim.optimizer_arguments` resolved them.
        averaging (dict, optional): with SWAD, its settings, validation losses and window
            (:meth:`fgsam.optim.SWAD.as_dict`, plus ``first_epoch`` / ``last_epoch``, the
            averaged epochs, 1-based).
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
    optimizer_arguments: dict[str, Any] = field(default_factory=dict)
    averaging: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"optimizer": self.optimizer, "seed": self.seed, "best_epoch": self.best_epoch,
               "valid": self.valid, "test": self.test,
               "seconds_per_epoch": self.seconds_per_epoch,
               "optimizer_arguments": self.optimizer_arguments, "history": self.history}
        if self.averaging is not None:
            out["averaging"] = self.averaging
        return out

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
    ``DistributedDataParallel`` and the optimizer gets it as ``model=``. The optimizer
    gets ``total_steps`` = epochs × batches where it has a schedule.

    With ``config.average == "swad"`` the reported model is the :class:`fgsam.optim.SWAD`
    average instead: the weights after every step enter it, every epoch reports the
    validation loss (the training loss on the validation molecules, lower is better) to
    choose the window, training stops once the window has ended, and BatchNorm
    statistics are recomputed for the averaged weights on the training molecules (the
    same batches on every process).

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
        train = data.loader("train", config.batch_size, shuffle=True, seed=seed, ctx=ctx)
        valid = data.loader("valid", config.eval_batch_size, ctx=ctx)
        test = data.loader("test", config.eval_batch_size, ctx=ctx)
        arguments = molecule_optimizer_arguments(
            optimizer, config.options.get(optimizer), rho=config.rho,
            sync_ascent=config.sync_ascent, total_steps=config.epochs * len(train))
        opt = create_optimizer(trained, optimizer, base=config.base, lr=config.lr,
                               weight_decay=config.weight_decay, **arguments)
        swad = SWAD(model, **config.average_options) if config.average == "swad" else None
        run = MolRun(optimizer, seed, 0, math.nan, math.nan, math.nan, model=model,
                     optimizer_arguments=arguments)
        bar = tqdm(range(config.epochs), desc=f"{optimizer} seed {seed}", leave=False,
                   disable=not (progress and ctx.is_main), dynamic_ncols=True)
        for epoch in bar:
            start = time.perf_counter()
            losses = train_epoch(trained, opt, train, data.dataset.task_type, device, epoch, ctx,
                                 on_step=None if swad is None else
                                 lambda: swad.update_parameters(model))
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start
            y_true, y_pred = predict(model, valid, device, ctx)
            row = {"epoch": epoch + 1, "train_loss": float(losses.mean()),
                   "valid": score(evaluator, y_true, y_pred),
                   "test": evaluate(model, test, evaluator, device, ctx), "seconds": seconds}
            run.history.append(row)
            if run.best_epoch == 0 or better(metric, row["valid"], run.valid):
                run.best_epoch, run.valid, run.test = epoch + 1, row["valid"], row["test"]
                if keep_best_state and swad is None:
                    run.best_state = {k: v.detach().cpu().clone()
                                      for k, v in model.state_dict().items()}
            bar.set_postfix(loss=f"{row['train_loss']:.4f}", valid=f"{row['valid']:.4f}",
                            test=f"{row['test']:.4f}")
            if swad is not None:
                row["valid_loss"] = float(masked_loss(y_pred, y_true, data.dataset.task_type))
                swad.report_validation(row["valid_loss"])
                if swad.phase == ENDED:
                    break
        if swad is not None:
            run.model = finalize_swad(swad, data, config, seed, device)
            run.valid = evaluate(run.model, valid, evaluator, device, ctx)
            run.test = evaluate(run.model, test, evaluator, device, ctx)
            run.averaging = swad_window(swad)
            if keep_best_state:
                run.best_state = {k: v.detach().cpu().clone()
                                  for k, v in run.model.state_dict().items()}
    run.seconds_per_epoch = sum(r["seconds"] for r in run.history) / max(len(run.history), 1)
    if keep_best_state and run.best_state is None:
        run.best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
    return run


def finalize_swad(swad: SWAD, data: MoleculeSplit, config: MolConfig, seed: int,
                  device: torch.device) -> torch.nn.Module:
    """The SWAD average, BatchNorm statistics (if any) recomputed on all training molecules
    in training-size batches (one process's loader: the same on every process)."""
    loader = None
    if has_batchnorm(swad.averaged_model.module):
        loader = data.loader("train", config.batch_size, shuffle=True, seed=seed)
    return swad.finalize(loader=loader, device=device).module


def swad_window(swad: SWAD) -> dict[str, Any]:
    """SWAD's record with the averaged epochs (1-based; one evaluation per epoch)."""
    out = swad.as_dict()
    window = swad.window
    out["first_epoch"] = None if window is None else window[0] + 1
    out["last_epoch"] = None if window is None else window[1] + 1
    return out


__all__ = ["LOWER_IS_BETTER", "MolRun", "better", "finalize_swad", "swad_window",
           "train_molecules"]
