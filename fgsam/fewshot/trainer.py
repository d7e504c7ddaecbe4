"""The episodic trainer: the FSNC protocol for any method and any optimizer."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import torch
import torch.nn.functional as F
from torch.optim import Optimizer
from torch_geometric.data import Data

from fgsam._progress import progress
from fgsam.data.check_graph import check_graph
from fgsam.data.class_split import ClassSplit
from fgsam.fewshot.averaging import averaged_method, swad_window
from fgsam.fewshot.config import PROTOCOL_FIELDS, FSNCConfig
from fgsam.fewshot.divergence import DivergenceWatch
from fgsam.fewshot.episode import Episode
from fgsam.fewshot.interleave import drain
from fgsam.fewshot.method import FewShotMethod, optimizer_parameters, resolved_layouts
from fgsam.fewshot.results import FSNCResult, RepeatResult
from fgsam.fewshot.sampler import EpisodeSampler, derive_seed, task_pool
from fgsam.fewshot.step import episode_step, timed_episode_step
from fgsam.fewshot.validation_log import ValidationLog
from fgsam.optim import SWAD, SharpnessAwareOptimizer, create_optimizer
from fgsam.optim.swad import ENDED, has_batchnorm

#: The independent random streams of one repeat (seeded by ``derive_seed(seed, f"{stream}/{r}")``):
#: weights and dropout, training tasks, validation and test task pools, and the optimizer's
#: own draws (for the stochastic optimizers: RWP, ESAM, SSAM, tilted SAM, F2M, ...).
STREAMS = ("model", "train", "val", "test", "optimizer")


class EpisodicTrainer:
    r"""Meta-train, validate and meta-test a few-shot method with the FSNC protocol
    (TENT/TLP, as in `"Fast Graph Sharpness-Aware Minimization for Enhancing and
    Accelerating Few-Shot Node Classification" <https://arxiv.org/abs/2410.16845>`_).

    Each repeat :math:`r = 1..R` re-initialises the method and draws fresh, seeded task
    streams (:func:`fgsam.fewshot.derive_seed`). It trains on up to ``episodes`` N-way
    K-shot tasks from the training classes, validates on a fixed pool of ``val_tasks`` tasks every
    ``val_every`` episodes, stops after ``patience`` validations without improvement,
    restores the best validation checkpoint (or keeps the last model, ``test_last``) and
    tests on a fixed pool of ``test_tasks`` tasks. The result is the mean accuracy
    :math:`\pm\, 1.96\,\sigma/\sqrt{n}` over all :math:`n = R \cdot T` test tasks.

    Any optimizer of :func:`fgsam.optim.create_optimizer` works (and the training
    procedure ``"f2m"``), through :func:`fgsam.optim.training_step`: single-closure ones
    get the GNN loss, FGSAM-style ones (``num_closures == 2``) also the PeerMLP loss
    (``method.loss(..., peer=True)``), and ``per_sample_loss`` ones one loss per query
    node. The settings are resolved and checked once by :class:`~fgsam.fewshot.FSNCConfig`
    (the optimizer's own default ``rho`` unless ``opt_kwargs`` sets one, and
    ``total_steps=episodes`` where it has a schedule); :meth:`from_config` takes one as
    it is. Sharpness-aware optimizers get
    :meth:`~fgsam.optim.SharpnessAwareOptimizer.start_epoch` at the start of every
    validation interval (an "epoch" is ``val_every`` episodes).

    With ``average="swad"`` the tested model is the :class:`fgsam.optim.SWAD` average of
    the weights after every episode, its window chosen by the validation queries' mean
    cross-entropy (the paper's validation loss); training stops once the window has
    ended, BatchNorm statistics are recomputed on ``val_tasks`` training tasks, and the
    window is recorded in :attr:`RepeatResult.averaging`.

    Training time counts the forward, backward and optimizer step (and SWAD's update)
    only, by the wall clock and by process CPU time
    (:func:`~fgsam.fewshot.step.timed_episode_step`: with one torch thread, the figure to
    compare optimizers by); :attr:`FSNCResult.cpu_seconds_per_200` is the median over
    blocks of 10 steps (:func:`~fgsam.fewshot.results.block_median`).

    A repeat whose loss becomes non-finite (a sharpness-aware optimizer's
    :class:`FloatingPointError`, or a plain one's loss, seen at the next validation) stops
    there, is recorded as diverged (:attr:`RepeatResult.diverged`) and is not tested. The
    graph is checked first (:func:`fgsam.data.check_graph`): non-finite features or bad
    labels would train to a meaningless chance-level result. It all runs on ``data``'s device.

    Args:
        build_method (callable): returns a new :class:`FewShotMethod` (its weights are
            then set by ``reset_parameters(seed)``).
        data (torch_geometric.data.Data): the graph (``x``, ``edge_index``, ``y``).
        split (ClassSplit): train/val/test classes; classes with fewer than
            ``k_shot + q_query`` nodes are dropped (see :attr:`dropped`).
        n_way (int): classes per task.
        k_shot (int): support nodes per class.
        q_query (int, optional): query nodes per class. (default: ``10``)
        optimizer (str, optional): registry name (``"adam"``, ``"sam"``, ``"fgsam+"``,
            ...). (default: ``"adam"``)
        lr (float, optional): learning rate. (default: ``5e-3``)
        weight_decay (float, optional): weight decay. (default: ``5e-4``)
        opt_kwargs (dict, optional): further optimizer arguments (``rho``, ...).
        episodes (int, optional): most training episodes. (default: ``1000``)
        val_every (int, optional): episodes between validations. (default: ``10``)
        val_tasks (int, optional): validation tasks. (default: ``20``)
        patience (int, optional): validations without improvement before stopping.
            (default: ``10``)
        test_tasks (int, optional): test tasks per repeat. (default: ``100``)
        repeats (int, optional): repeats :math:`R`. (default: ``5``)
        seed (int, optional): seed of every random stream. (default: ``0``)
        test_last (bool, optional): test the last model instead of the best validated
            one. (default: ``False``)
        average (str, optional): ``"swad"`` to test the SWAD weight average.
            (default: ``None``)
        average_options (dict, optional): :class:`~fgsam.optim.SWAD`'s arguments
            (``n_converge``, ``n_tolerance``, ``tolerance_ratio``). (default: ``None``)
        progress (bool, optional): tqdm bars (lines off a terminal). (default: ``False``)
        adjacency, feature_layout (str, optional): ``"auto"``, ``"csr"`` or ``"edge-index"``;
            ``"auto"``, ``"sparse"`` or ``"dense"`` (:class:`~fgsam.fewshot.FSNCConfig`).
        log_dir (str, optional): each repeat's validations as CSV (and TensorBoard) rows
            (:class:`~fgsam.fewshot.validation_log.ValidationLog`). (default: ``None``)

    Example:
        >>> trainer = EpisodicTrainer(lambda: GPN(data.num_features), data, split, n_way=2,
        ...                           k_shot=3, optimizer="fgsam+", opt_kwargs={"rho": 0.1})
        >>> result = trainer.run()
        >>> print(result.summary())
        acc 71.23 ± 1.05 (95% CI over 500 tasks) · 0.84 s / 200 episodes
    """

    def __init__(self, build_method: Callable[[], FewShotMethod], data: Data, split: ClassSplit,
                 n_way: int, k_shot: int, q_query: int = 10, optimizer: str = "adam",
                 lr: float = 5e-3, weight_decay: float = 5e-4,
                 opt_kwargs: dict[str, Any] | None = None, episodes: int = 1000,
                 val_every: int = 10, val_tasks: int = 20, patience: int = 10,
                 test_tasks: int = 100, repeats: int = 5, seed: int = 0, test_last: bool = False,
                 average: str | None = None, average_options: dict[str, Any] | None = None,
                 progress: bool = False, adjacency: str = "auto", log_dir: str | None = None,
                 feature_layout: str = "auto") -> None:
        settings = FSNCConfig(
            n_way=n_way, k_shot=k_shot, q_query=q_query, optimizer=optimizer, lr=lr,
            weight_decay=weight_decay, opt_kwargs=dict(opt_kwargs or {}), episodes=episodes,
            val_every=val_every, val_tasks=val_tasks, patience=patience, test_tasks=test_tasks,
            repeats=repeats, seed=seed, test_last=test_last, average=average,
            average_options=dict(average_options or {}), method=None, progress=progress,
            adjacency=adjacency, log_dir=log_dir, feature_layout=feature_layout)
        self._start(build_method, data, split, settings)

    @classmethod
    def from_config(cls, build_method: Callable[[], FewShotMethod], data: Data,
                    split: ClassSplit, config: FSNCConfig) -> EpisodicTrainer:
        """The trainer of ``config``'s protocol settings (:data:`PROTOCOL_FIELDS
        <fgsam.fewshot.config.PROTOCOL_FIELDS>` and ``progress``), taken as resolved and
        checked: what ``fgsam fsnc`` builds for each optimizer it runs.

        Example:
            >>> config = FSNCConfig(method="gpn", optimizer="fgsam+", episodes=200)
            >>> trainer = EpisodicTrainer.from_config(
            ...     lambda: create_method("gpn", data.num_features, 7, 2), data, split, config)
        """
        trainer = cls.__new__(cls)
        trainer._start(build_method, data, split, config)
        return trainer

    def _start(self, build_method: Callable[[], FewShotMethod], data: Data, split: ClassSplit,
               settings: FSNCConfig) -> None:
        if not callable(build_method):
            raise ValueError(f"build_method must be a callable returning a FewShotMethod, "
                             f"got {build_method!r}")
        #: The resolved settings (:class:`~fgsam.fewshot.FSNCConfig`) this trainer runs by.
        self.settings = settings
        for name in (*PROTOCOL_FIELDS, "progress"):
            setattr(self, name, getattr(settings, name))
        n_way, k_shot, q_query = settings.n_way, settings.k_shot, settings.q_query
        self.build_method = build_method
        self.data = check_graph(data, split=split)
        self.split, self.dropped = split.feasible(data.y.cpu(), k_shot + q_query)
        for part in ("train", "val", "test"):
            have = len(self.split.classes(part))
            if have < n_way:
                lost = self.dropped[part]
                why = (f"; {len(lost)} {part} classes have fewer than k_shot + q_query = "
                       f"{k_shot + q_query} nodes: {lost}" if lost else "")
                raise ValueError(f"n_way={n_way} is larger than the {have} usable {part} "
                                 f"classes of the split {self.split}{why}; use n_way <= {have}")
        #: The trained method of the last repeat run (its tested weights).
        self.last_method: FewShotMethod | None = None
        #: ``settings.adjacency`` and ``.feature_layout`` resolved for this method and graph.
        self.adjacency, self.feature_layout = resolved_layouts(
            build_method, settings.adjacency, settings.feature_layout, self.data)

    @property
    def device(self) -> torch.device:
        return self.data.x.device

    def config(self) -> dict[str, Any]:
        """Every setting, JSON-ready: the protocol's, the device and the split."""
        settings = self.settings.to_dict()
        return {
            **{name: settings[name] for name in PROTOCOL_FIELDS}, "device": str(self.device),
            "adjacency_used": self.adjacency, "feature_layout_used": self.feature_layout,
            "split": self.split.to_dict(),
            "dropped_classes": {k: {str(c): n for c, n in v.items()}
                                for k, v in self.dropped.items()},
        }

    # ------------------------------------------------------------------ tasks
    def sampler(self, part: str, seed: int) -> EpisodeSampler:
        """A task sampler over the ``part`` classes with its own generator."""
        return EpisodeSampler(self.data.y.cpu(), self.split.classes(part), self.n_way,
                              self.k_shot, self.q_query, generator=seed)

    def task_pool(self, part: str, repeat: int, n: int) -> list[Episode]:
        """The fixed pool of ``n`` ``part`` tasks of ``repeat``, on the data's device."""
        pool = task_pool(self.data.y.cpu(), self.split.classes(part), self.n_way, self.k_shot,
                         self.q_query, n, self.seed, stream=f"{part}/{repeat}")
        return [t.to(self.device) for t in pool]

    def seeds(self, repeat: int) -> dict[str, int]:
        """The seed of every random stream of ``repeat`` (the optimizer plays no part, so
        every optimizer of a comparison gets the same weights and the same tasks)."""
        return {s: derive_seed(self.seed, f"{s}/{repeat}") for s in STREAMS}

    # ------------------------------------------------------------------- runs
    def run(self) -> FSNCResult:
        """All repeats; returns their :class:`FSNCResult`."""
        results = [self.run_repeat(r) for r in range(self.repeats)]
        return FSNCResult(results, self.config())

    def new_method(self, seed: int) -> FewShotMethod:
        """A fresh method with weights and dropout streams from ``seed``, on the device."""
        # construction draws PyTorch's default inits: keep the caller's global stream as it was
        with torch.random.fork_rng(devices=[]):
            method = self.build_method()
        if not isinstance(method, FewShotMethod):
            raise ValueError(f"build_method must return a FewShotMethod, got "
                             f"{type(method).__name__}")
        method.reset_parameters(seed)
        method.adjacency, method.feature_layout = self.adjacency, self.feature_layout
        method.peer_dropout = self.settings.peer_dropout
        return method.to(self.device)

    def warm_up(self, steps: int = 2) -> None:
        """Take ``steps`` untimed training steps on a throw-away copy of the method, so that
        one-time costs (first calls into PyG and the allocator) are not counted in the
        first repeat's time of whichever optimizer runs first. Nothing of the runs
        changes: the copy, its optimizer and its tasks come from a stream of their own."""
        seed = derive_seed(self.seed, "warm-up")
        method = self.new_method(seed)
        opt = self.new_optimizer(method, seed)
        sampler = self.sampler("train", seed)
        method.train()
        for _ in range(steps):
            try:
                episode_step(method, opt, self.data, sampler.sample().to(self.device))
            except FloatingPointError:
                return  # the timed runs will record the divergence

    def new_optimizer(self, method: FewShotMethod, seed: int | None = None) -> Optimizer:
        """The optimizer of a repeat; ``seed`` seeds the draws of a stochastic one (the
        repeat's ``optimizer`` stream), so that every run repeats from its seed."""
        params, extra = optimizer_parameters(method, self.settings.perturb, self.optimizer)
        return create_optimizer(params, self.optimizer, lr=self.lr, weight_decay=self.weight_decay,
                                seed=seed, **self.opt_kwargs, **extra)

    def run_repeat(self, repeat: int) -> RepeatResult:
        """Train, validate and test once with the seeds of ``repeat``."""
        return drain(self.repeat_stages(repeat))

    def repeat_stages(self, repeat: int) -> Generator[None, None, RepeatResult]:
        """:meth:`run_repeat` as a generator that yields after every validation interval
        and returns the :class:`RepeatResult`: ``fgsam fsnc`` runs the intervals of the
        optimizers it compares in turn, so that a change of the machine's load between
        minutes lands on all of them alike. The result does not depend on how it is run."""
        seeds = self.seeds(repeat)
        method = self.new_method(seeds["model"])
        opt = self.new_optimizer(method, seeds["optimizer"])
        train = self.sampler("train", seeds["train"])
        val_pool = self.task_pool("val", repeat, self.val_tasks)
        swad = SWAD(method, **self.average_options) if self.average == "swad" else None
        desc = f"{self.optimizer} repeat {repeat + 1}"  # bars of a comparison run side by side
        log = ValidationLog(self.settings.log_dir, f"{self.optimizer}-repeat{repeat}")
        try:
            record = yield from self.train_stages(method, opt, train, val_pool, desc, swad, log)
        finally:
            log.close()
        test_accs, averaging, tested = [], None, "none"  # a diverged repeat is not tested
        if record["diverged"] is None:
            if swad is not None:
                method, averaging = self.finalize_swad(swad, repeat), swad_window(
                    swad, self.val_every)
            elif not self.test_last and record["best_state"] is not None:
                method.load_state_dict(record["best_state"])
            self.last_method = method
            test_accs = self.evaluate(method, self.task_pool("test", repeat, self.test_tasks))
            tested = self.average or ("last" if self.test_last else "best")
        return RepeatResult(
            repeat=repeat, seeds=seeds, test_accs=test_accs, val_history=record["history"],
            best_val_acc=record["best_acc"], best_episode=record["best_episode"],
            episodes=record["episodes"], train_seconds=record["seconds"],
            cpu_seconds=record["cpu_seconds"], cpu_steps=record["cpu_steps"], tested=tested,
            averaging=averaging, diverged=record["diverged"])

    def finalize_swad(self, swad: SWAD, repeat: int) -> FewShotMethod:
        """The SWAD average (:func:`~fgsam.fewshot.averaging.averaged_method`), BatchNorm
        statistics recomputed on ``val_tasks`` training tasks of ``repeat``."""
        batchnorm = has_batchnorm(swad.averaged_model.module)
        tasks = self.task_pool("train", repeat, self.val_tasks) if batchnorm else []
        return averaged_method(swad, self.data, tasks)

    def train(self, method: FewShotMethod, opt: Optimizer, sampler: EpisodeSampler,
              val_pool: list[Episode], desc: str = "train",
              swad: SWAD | None = None) -> dict[str, Any]:
        """The training loop with validation, early stopping and ``swad``'s updates: the
        record of :meth:`train_stages`, run to the end."""
        return drain(self.train_stages(method, opt, sampler, val_pool, desc, swad))

    def train_stages(self, method: FewShotMethod, opt: Optimizer, sampler: EpisodeSampler,
                     val_pool: list[Episode], desc: str = "train", swad: SWAD | None = None,
                     log: ValidationLog | None = None) -> Generator[None, None, dict[str, Any]]:
        """:meth:`train` as a generator that yields after every validation interval
        (``val_every`` episodes) and returns the record, so that a comparison can run its
        optimizers' intervals in turn; ``log`` gets every step's loss and validation.

        Returns a dict with ``best_state`` (a copy of the best validated weights, or
        ``None`` if never validated or with ``swad``), ``best_acc``, ``best_episode``,
        ``episodes``, ``seconds`` and ``cpu_seconds`` (fwd + bwd + step time, wall and
        process CPU), ``cpu_steps`` (the CPU time of each step), ``history`` and
        ``diverged`` (``None``, or where and how the loss became non-finite).
        """
        sharpness_aware = isinstance(opt, SharpnessAwareOptimizer)
        best_acc, best_episode, best_state, bad = -1.0, 0, None, 0
        seconds, history, done, diverged = 0.0, [], 0, None
        cpu_steps: list[float] = []
        watch, log = DivergenceWatch(self.device), log or ValidationLog(None, "")
        bar = progress(total=self.episodes, desc=desc, enabled=self.progress, leave=False)
        for episode in range(self.episodes):
            if sharpness_aware and episode % self.val_every == 0:
                opt.start_epoch()
            task = sampler.sample().to(self.device)
            method.train()
            try:
                loss, wall, cpu = timed_episode_step(method, opt, self.data, task, swad)
            except FloatingPointError as err:
                diverged, done = watch.raised(err, episode + 1), episode
                break
            seconds, done = seconds + wall, episode + 1
            cpu_steps.append(cpu)
            log.step(loss)
            if not sharpness_aware:
                watch.observe(loss, episode + 1)
            bar.update(1)
            if done % self.val_every and done != self.episodes:
                continue
            diverged = watch.check(type(opt).__name__)
            if diverged is not None:
                break
            if done % self.val_every:
                continue
            accs, losses = self.scores(method, val_pool)
            acc = _mean(accs)
            history.append([done, acc])
            if acc > best_acc:
                best_acc, best_episode, bad = acc, done, 0
                if swad is None:
                    best_state = {k: v.detach().clone() for k, v in method.state_dict().items()}
            else:
                bad += 1
            bar.set_postfix(val=f"{100 * acc:.1f}", best=f"{100 * best_acc:.1f}")
            log.validation(done, acc, _mean(losses), best_acc)
            if swad is not None:
                swad.report_validation(_mean(losses))
            if bad >= self.patience or (swad is not None and swad.phase == ENDED):
                break
            yield  # a validation interval done: a comparison may run another optimizer now
        bar.close()
        return {"best_state": best_state, "best_acc": max(best_acc, 0.0),
                "best_episode": best_episode, "episodes": done, "seconds": seconds,
                "cpu_seconds": math.fsum(cpu_steps), "cpu_steps": cpu_steps, "history": history,
                "diverged": diverged}

    @torch.no_grad()
    def evaluate(self, method: FewShotMethod, tasks: list[Episode]) -> list[float]:
        """Query accuracy of each task, in evaluation mode."""
        method.eval()
        accs = [(method(self.data, t).argmax(-1) == t.query_y).float().mean() for t in tasks]
        return torch.stack(accs).tolist()

    @torch.no_grad()
    def scores(self, method: FewShotMethod, tasks: list[Episode]
               ) -> tuple[list[float], list[float]]:
        """Query accuracy and mean query cross-entropy of each task (one forward pass
        each), in evaluation mode."""
        method.eval()
        logits = [method(self.data, t) for t in tasks]
        accs = [(z.argmax(-1) == t.query_y).float().mean() for z, t in zip(logits, tasks)]
        losses = [F.cross_entropy(z, t.query_y) for z, t in zip(logits, tasks)]
        return torch.stack(accs).tolist(), torch.stack(losses).tolist()

    def __repr__(self) -> str:
        return (f"EpisodicTrainer({self.n_way}-way {self.k_shot}-shot {self.q_query}-query, "
                f"optimizer={self.optimizer!r}, episodes={self.episodes}, "
                f"{f'average={self.average!r}, ' if self.average else ''}"
                f"repeats={self.repeats}, seed={self.seed}, device={self.device})")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


__all__ = ["STREAMS", "EpisodicTrainer", "episode_step"]
