"""Training molecule models: one epoch (:func:`train_epoch`) and a whole run
(:func:`train_molecules`)."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.loader import DataLoader

from fgsam._experiment import Diverged as _Diverged
from fgsam._experiment import failed_pass
from fgsam._metric_log import MetricLog
from fgsam._progress import progress as progress_bar
from fgsam.mol.config import MolConfig, build_optimizer_and_arguments, optimizer_seed
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.loss import REGRESSION, masked_loss
from fgsam.mol.model import TargetScaling, build_model, predict, score
from fgsam.mol.split import MoleculeSplit
from fgsam.optim.base import SharpnessAwareOptimizer
from fgsam.optim.swad import ENDED, SWAD, has_batchnorm
from fgsam.optim.training_step import training_step


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
                task_type: str, device: torch.device | str, epoch: int = 0,
                ctx: DistributedContext | None = None, max_steps: int | None = None,
                on_step: Callable[[], Any] | None = None) -> Tensor:
    """Train one epoch; returns each step's loss, averaged over the processes (CPU).

    Calls ``optimizer.start_epoch()`` first for sharpness-aware optimizers (GraphSAM's
    radius decay and direction refresh) and steps through
    :func:`fgsam.optim.training_step`, so plain and sharpness-aware optimizers train the
    same way; optimizers with ``per_sample_loss`` get per-molecule losses. Under DDP
    pass the wrapped model (its backward synchronises the gradients).

    Args:
        model (torch.nn.Module): the model (or its ``DistributedDataParallel`` wrapper).
        optimizer (torch.optim.Optimizer): any single-closure optimizer.
        loader (DataLoader): the training batches of this process.
        task_type (str): the dataset's task type (selects the loss).
        device (torch.device or str): where the batches go.
        epoch (int, optional): the epoch number, which seeds the shuffle. (default: ``0``)
        ctx (DistributedContext, optional): the processes. (default: one process)
        max_steps (int, optional): stop after this many steps. (default: ``None``)
        on_step (callable, optional): called after every optimizer step, e.g. SWAD's
            ``lambda: swad.update_parameters(model)``. (default: ``None``)

    Example:
        >>> loader = data.loader("train", 32, shuffle=True, seed=0)
        >>> for epoch in range(50):
        ...     losses = train_epoch(model, opt, loader, "regression", "cpu", epoch)
    """
    ctx = ctx or DistributedContext()
    if isinstance(optimizer, SharpnessAwareOptimizer):
        optimizer.start_epoch()
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)  # a new, seeded shuffle per epoch
    per_sample = bool(getattr(optimizer, "per_sample_loss", False))
    model.train()
    losses = []
    for step, batch in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        batch = batch.to(device)

        def closure(batch=batch) -> Tensor:
            return masked_loss(model(batch), batch.y, task_type, per_sample)

        losses.append(training_step(optimizer, closure).detach().float().mean())
        if on_step is not None:
            on_step()
    if not losses:
        return torch.zeros(0, dtype=torch.float64)
    return ctx.mean(torch.stack(losses)).double().cpu()


#: Metrics for which lower is better (the others: higher is better).
LOWER_IS_BETTER = ("rmse", "mae")


@dataclass
class MolRun:
    """The outcome of :func:`train_molecules`.

    Args:
        optimizer (str): the optimizer's name.
        seed (int): the seed of model initialisation, shuffling and dropout.
        best_epoch (int): the epoch (1-based) of the best validation metric (``0`` for a
            diverged run).
        valid (float): the best validation metric (with SWAD: the averaged model's; NaN
            for a diverged run).
        test (float): the test metric at that epoch (with SWAD: the averaged model's; NaN
            for a diverged run).
        seconds_per_epoch (float): mean wall-clock training time per epoch (evaluation
            excluded; NaN before a first finished epoch).
        history (list of dict): per finished epoch ``train_loss``, ``valid``, ``test``,
            ``seconds``, ``cpu_seconds`` (and ``valid_loss`` with SWAD).
        model (torch.nn.Module): the trained model (final weights; with SWAD the average).
        best_state (dict, optional): the tested weights (CPU), if kept.
        optimizer_arguments (dict): the optimizer's arguments (``rho``, ``total_steps``,
            options), as :func:`fgsam.optim.optimizer_arguments` resolved them.
        averaging (dict, optional): with SWAD, its settings, validation losses and window
            (:meth:`fgsam.optim.SWAD.to_dict`, plus ``first_epoch`` / ``last_epoch``, the
            averaged epochs, 1-based).
        cpu_seconds_per_epoch (float): mean process CPU time of the same training per
            epoch (all threads of this process; NaN before a first finished epoch).
        diverged (dict, optional): ``None`` for a run that finished, else where it
            diverged: ``epoch`` (1-based), ``step`` (the optimizer step of the run, 1-based,
            or ``None`` if not known), ``pass`` (``"training"``, the sharpness-aware pass
            that failed, or ``"validation"`` / ``"test"`` for non-finite predictions) and
            ``message``.
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
    cpu_seconds_per_epoch: float = math.nan
    diverged: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"optimizer": self.optimizer, "seed": self.seed, "best_epoch": self.best_epoch,
               "valid": self.valid, "test": self.test,
               "seconds_per_epoch": self.seconds_per_epoch,
               "cpu_seconds_per_epoch": self.cpu_seconds_per_epoch,
               "diverged": self.diverged,
               "optimizer_arguments": self.optimizer_arguments, "history": self.history}
        if self.averaging is not None:
            out["averaging"] = self.averaging
        return out

    def __repr__(self) -> str:
        if self.diverged is not None:
            d = self.diverged
            return (f"MolRun({self.optimizer}, seed {self.seed}: diverged at epoch "
                    f"{d['epoch']}, {d['pass']} pass)")
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
                    keep_best_state: bool = False, progress: bool = False,
                    log_dir: str | os.PathLike[str] | None = None) -> MolRun:
    """Train ``config.model`` on ``data`` with ``optimizer`` for ``config.epochs`` epochs.

    The model is initialised, shuffled and dropped out from ``seed`` inside a forked RNG
    (the caller's global RNG state is left as it was), so one seed gives the same run
    for every optimizer. Validation and test metrics come from
    :class:`ogb.graphproppred.Evaluator` after every epoch; the test value reported is
    the one at the best validation epoch. Under several processes the model is wrapped in
    ``DistributedDataParallel`` and the optimizer gets it as ``model=``. The optimizer
    gets ``total_steps`` = epochs × batches where it has a schedule, and a stochastic one
    (RWP, ESAM, SSAM, tilted SAM, F2M, ...) its generator seeded from ``seed``
    (:func:`~fgsam.mol.config.optimizer_seed`), so the same seed gives the same
    run again.

    Each epoch's training is timed by the wall clock (``time.perf_counter``, CUDA
    synchronised) and by this process's CPU time (``time.process_time``, which waiting
    for a busy machine does not inflate); evaluation is not timed.

    A run that diverges stops there and is returned with :attr:`MolRun.diverged` set
    (and NaN metrics): a :class:`FloatingPointError` of a sharpness-aware optimizer (its
    pass, the weights unchanged), a non-finite training loss of a plain optimizer (seen
    at the end of the epoch), or non-finite validation or test predictions.

    With ``config.average == "swad"`` the reported model is the :class:`fgsam.optim.SWAD`
    average instead: the weights after every step enter it, every epoch reports the
    validation loss (the training loss on the validation molecules, lower is better) to
    choose the window, training stops once the window has ended, and BatchNorm
    statistics are recomputed for the averaged weights on the training molecules (the
    same batches on every process).

    With ``log_dir`` every epoch's row also goes to ``log_dir/<optimizer>-seed<seed>.csv``
    as it comes (and to TensorBoard where it is installed; rank 0 only).

    Example:
        >>> data = MoleculeSplit.make(MoleculeDataset("ogbg-molbbbp"))
        >>> run = train_molecules(MolConfig(epochs=20), data, "graphsam", seed=0)
    """
    from ogb.graphproppred import Evaluator

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
        opt, arguments = build_optimizer_and_arguments(
            trained, config, optimizer, config.epochs * len(train), optimizer_seed(seed))
        swad = SWAD(model, **config.average_options) if config.average == "swad" else None
        run = MolRun(optimizer, seed, 0, math.nan, math.nan, math.nan, model=model,
                     optimizer_arguments=arguments)
        steps = [0]  # optimizer steps taken so far in this run

        def on_step() -> None:
            steps[0] += 1
            if swad is not None:
                swad.update_parameters(model)

        log = None if log_dir is None or not ctx.is_main else MetricLog(
            log_dir, f"{optimizer}-seed{seed}",
            columns=["epoch", "train_loss", "valid", "test", "seconds", "cpu_seconds"])
        bar = progress_bar(range(config.epochs), desc=f"{optimizer} seed {seed}", leave=False,
                           enabled=progress and ctx.is_main, dynamic_ncols=True)
        try:
            for epoch in bar:
                before = steps[0]
                start, cpu_start = time.perf_counter(), time.process_time()
                try:
                    losses = train_epoch(trained, opt, train, data.dataset.task_type, device,
                                         epoch, ctx, on_step=on_step)
                except FloatingPointError as err:  # a sharpness-aware pass: weights unchanged
                    raise _Diverged(epoch + 1, steps[0] + 1, failed_pass(err), str(err)) from err
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds = time.perf_counter() - start
                cpu_seconds = time.process_time() - cpu_start
                _check_losses(losses, epoch + 1, before, type(opt).__name__)
                y_true, y_pred = _finite_predictions(model, valid, device, ctx, "validation",
                                                    epoch + 1)
                row = {"epoch": epoch + 1, "train_loss": float(losses.mean()),
                       "valid": score(evaluator, y_true, y_pred),
                       "test": score(evaluator, *_finite_predictions(
                           model, test, device, ctx, "test", epoch + 1)),
                       "seconds": seconds, "cpu_seconds": cpu_seconds}
                run.history.append(row)
                if run.best_epoch == 0 or better(metric, row["valid"], run.valid):
                    run.best_epoch, run.valid, run.test = epoch + 1, row["valid"], row["test"]
                    if keep_best_state and swad is None:
                        run.best_state = {k: v.detach().cpu().clone()
                                          for k, v in model.state_dict().items()}
                bar.set_postfix(loss=f"{row['train_loss']:.4f}", valid=f"{row['valid']:.4f}",
                                test=f"{row['test']:.4f}")
                if log is not None:
                    log.write(epoch + 1, row)
                if swad is not None:
                    row["valid_loss"] = float(masked_loss(y_pred, y_true,
                                                          data.dataset.task_type))
                    swad.report_validation(row["valid_loss"])
                    if swad.phase == ENDED:
                        break
            if swad is not None:
                last = len(run.history)
                run.model = finalize_swad(swad, data, config, seed, device)
                run.valid = score(evaluator, *_finite_predictions(
                    run.model, valid, device, ctx, "validation", last))
                run.test = score(evaluator, *_finite_predictions(
                    run.model, test, device, ctx, "test", last))
                run.averaging = swad_window(swad)
                if keep_best_state:
                    run.best_state = {k: v.detach().cpu().clone()
                                      for k, v in run.model.state_dict().items()}
        except _Diverged as err:
            run.diverged = err.record
            run.best_epoch, run.valid, run.test, run.best_state = 0, math.nan, math.nan, None
        finally:
            bar.close()
            if log is not None:
                log.close()
    timed = run.history or [{"seconds": math.nan, "cpu_seconds": math.nan}]
    run.seconds_per_epoch = sum(r["seconds"] for r in timed) / len(timed)
    run.cpu_seconds_per_epoch = sum(r["cpu_seconds"] for r in timed) / len(timed)
    if keep_best_state and run.best_state is None and run.diverged is None:
        run.best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
    return run


def _check_losses(losses: torch.Tensor, epoch: int, steps_before: int, optimizer: str) -> None:
    """Raise :class:`_Diverged` at the first non-finite loss of an epoch (a plain
    optimizer trains on through it; a sharpness-aware one raises by itself)."""
    bad = (~torch.isfinite(losses)).nonzero()
    if bad.numel():
        i = int(bad[0, 0])
        step = steps_before + i + 1
        raise _Diverged(epoch, step, "training",
                        f"{optimizer}: the training loss is {float(losses[i])} at step {step} "
                        f"(epoch {epoch}); lower the learning rate, or check the data and the "
                        f"loss for NaN/inf")


def _finite_predictions(model: torch.nn.Module, loader: Any, device: torch.device,
                       ctx: DistributedContext, part: str, epoch: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~fgsam.mol.model.predict`, raising :class:`_Diverged` when a prediction
    is not finite (weights that left the finite range: no metric can be read from them)."""
    y_true, y_pred = predict(model, loader, device, ctx)
    if not bool(torch.isfinite(y_pred).all()):
        bad = int((~torch.isfinite(y_pred)).any(dim=1).sum())
        raise _Diverged(epoch, None, part,
                        f"{bad} of {y_pred.size(0)} {part} predictions are not finite after "
                        f"epoch {epoch}: the weights left the finite range; lower the "
                        f"learning rate or rho")
    return y_true, y_pred


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
    out = swad.to_dict()
    window = swad.window
    out["first_epoch"] = None if window is None else window[0] + 1
    out["last_epoch"] = None if window is None else window[1] + 1
    return out


__all__ = [
    "LOWER_IS_BETTER",
    "MolRun",
    "better",
    "failed_pass",
    "finalize_swad",
    "swad_window",
    "train_epoch",
    "train_molecules",
]
