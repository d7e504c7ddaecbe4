"""``fgsam tune``: each optimizer's hyper-parameters searched on validation tasks only, then
the tuned optimizers compared once on the test tasks.

The FGSAM paper tuned its hyper-parameters with Optuna and did not release the values; this is
that protocol made explicit. Every optimizer gets the same number of trials. A trial trains the
method as ``fgsam fsnc`` does (early stopping on the fixed validation pool) for
``--tune-repeats`` repeats and scores the mean best validation accuracy; no test task is seen.
Then the best trial of each optimizer is run once, all of them together, as one ``fgsam fsnc``
comparison (identical tasks and seeds, interleaved, the paired differences against the first).

Trials are seeded (each trial's sampler from the seed, the optimizer and the trial number, so
a resumed search suggests what an uninterrupted one would have) and kept in an Optuna journal
file (``--storage``): a search started again with the same command runs only the missing trials.
The JSON records every trial.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

from fgsam._arguments import positive_int
from fgsam._io import check_output_file, read_json_object, write_json
from fgsam._version import __version__
from fgsam.data.load_graph import load_graph
from fgsam.fewshot.command import add_arguments, configs_from_args, method_builder
from fgsam.fewshot.command import run as run_fsnc
from fgsam.fewshot.config import FSNCConfig
from fgsam.fewshot.features import normalize_features
from fgsam.fewshot.sampler import derive_seed
from fgsam.fewshot.trainer import EpisodicTrainer
from fgsam.optim import SharpnessAwareOptimizer, get_optimizer_class
from fgsam.optim.options import parse_options

#: The search space: ``(kind, low, high)`` per hyper-parameter, ``"log"`` (log-uniform),
#: ``"float"`` or ``"int"`` (inclusive). Every optimizer gets ``"*"``, sharpness-aware ones
#: ``"rho"`` (unless their radius is fixed), and the named ones their own.
SPACE: dict[str, dict[str, tuple[str, float, float]]] = {
    "*": {"lr": ("log", 1e-3, 5e-2)},
    "rho": {"rho": ("log", 1e-3, 0.5)},
    "fgsam": {"lam": ("float", 0.0, 2.0)},
    "fgsam-rho0": {"lam": ("float", 0.0, 2.0)},
    "fgsam+": {"lam": ("float", 0.0, 2.0), "k": ("int", 1, 5), "alpha": ("float", 0.0, 1.0)},
}


def search_space(optimizer: str) -> dict[str, tuple[str, float, float]]:
    """The hyper-parameters :data:`SPACE` gives ``optimizer``.

    Example:
        >>> sorted(search_space("fgsam+"))
        ['alpha', 'k', 'lam', 'lr', 'rho']
    """
    cls = get_optimizer_class(optimizer)
    space = dict(SPACE["*"])
    if issubclass(cls, SharpnessAwareOptimizer) and cls.fixed_rho is None:
        space |= SPACE["rho"]
    return space | SPACE.get(optimizer, {})


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``fgsam tune``."""
    p = subparsers.add_parser(
        "tune", help="tune each optimizer on validation tasks (Optuna), then test once",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    add_arguments(p)
    p.add_argument("--trials", type=positive_int, default=20,
                   help="trials per optimizer, the same for every one (default: 20)")
    p.add_argument("--tune-repeats", type=positive_int, default=1,
                   help="repeats a trial trains and validates (default: 1)")
    p.add_argument("--storage", default=None, metavar="FILE",
                   help="Optuna journal file of the trials, resumed from (default: --out with "
                        ".optuna.log)")
    p.set_defaults(func=run)


def validation_score(trainer: EpisodicTrainer, repeats: int) -> float:
    """The mean best validation accuracy of ``repeats`` repeats trained as ``fgsam fsnc``
    trains them (early stopping on the fixed validation pool); NaN if one diverged."""
    scores = []
    for r in range(repeats):
        seeds = trainer.seeds(r)
        method = trainer.new_method(seeds["model"])
        opt = trainer.new_optimizer(method, seeds["optimizer"])
        record = trainer.train(method, opt, trainer.sampler("train", seeds["train"]),
                               trainer.task_pool("val", r, trainer.val_tasks))
        if record["diverged"] is not None:
            return math.nan
        scores.append(record["best_acc"])
    return sum(scores) / len(scores)


def run(args: argparse.Namespace) -> int:
    """Run ``fgsam tune``; returns the exit status."""
    try:
        import optuna
    except ImportError as err:
        raise ValueError("fgsam tune needs optuna (pip install fgsam[tune])") from err
    if args.settings is not None or "," in args.method:
        raise ValueError("fgsam tune tunes one setting and one method; give one --method and "
                         "no --settings")
    if args.out is None:
        raise ValueError("fgsam tune needs --out FILE: the trials and the tested results")
    check_output_file(args.out, "--out")
    storage_path = Path(args.storage or str(args.out) + ".optuna.log")
    check_output_file(storage_path, "--storage")
    configs = configs_from_args(args)  # every flag checked before any work
    data, split = load_graph(args.dataset, args.root, split_seed=args.split_seed)
    data = normalize_features(data, args.features)
    classes = int(data.y.max()) + 1
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = optuna.storages.journal.JournalFileBackend(str(storage_path))
    storage = optuna.storages.JournalStorage(backend)
    tuning: dict[str, Any] = {}
    fixed = parse_options(args.opt_arg, list(configs), "--opt-arg")  # given: not searched
    for name, config in configs.items():
        space = {k: v for k, v in search_space(name).items()
                 if k not in fixed[name] and not (k == "rho" and args.rho is not None)}
        study = optuna.create_study(
            study_name=f"{args.dataset}/{args.way}-way/{args.shot}-shot/{config.method}/{name}",
            storage=storage, direction="maximize", load_if_exists=True)
        searched = {k: v for k, v in config.to_dict().items() if k not in ("repeats", "test_tasks")}
        protocol = json.dumps({**searched, "space": space, "tune_repeats": args.tune_repeats},
                              sort_keys=True, default=str)  # the final test's size may change
        if study.user_attrs.get("protocol", protocol) != protocol:
            raise ValueError(f"--storage {str(storage_path)!r} holds {name}'s trials of another "
                             f"protocol (other flags); resume with the same arguments or give "
                             f"another --storage")
        study.set_user_attr("protocol", protocol)

        def objective(trial: Any, config: FSNCConfig = config, space: dict = space) -> float:
            params = {k: _suggest(trial, k, *spec) for k, spec in space.items()}
            lr = params.pop("lr")
            settings = FSNCConfig.from_dict({**config.to_dict(), "lr": lr, "opt_kwargs": {
                **config.opt_kwargs, **params}, "rho_flag": None, "progress": False})
            trainer = EpisodicTrainer.from_config(
                method_builder(settings, data.num_features, classes), data, split, settings)
            score = validation_score(trainer, args.tune_repeats)
            if math.isnan(score):  # a diverged trial: Optuna records it as failed
                raise optuna.TrialPruned("diverged")
            return score

        done = len(study.trials)
        for number in range(done, args.trials):
            study.sampler = optuna.samplers.TPESampler(
                seed=derive_seed(args.seed, f"tune/{name}/{number}") % 2**32)
            study.optimize(objective, n_trials=1)
            if not args.quiet:
                last = study.trials[-1]
                print(f"{name} trial {number + 1}/{args.trials}: {last.state.name.lower()} "
                      f"{'' if last.value is None else f'val {100 * last.value:.2f} '}"
                      f"{_params_text(last.params)}", flush=True)
        finished = [t for t in study.trials if t.value is not None]
        if not finished:
            raise ValueError(f"every trial of {name} diverged; narrow the search or lower the "
                             f"learning rate")
        best = max(finished, key=lambda t: t.value)
        tuning[name] = {"space": {k: list(v) for k, v in space.items()},
                        "best_params": best.params, "best_validation": best.value,
                        "trials": [{"number": t.number, "state": t.state.name, "value": t.value,
                                    "params": t.params} for t in study.trials]}
        print(f"{name}: best validation {100 * best.value:.2f} with "
              f"{_params_text(best.params)}", flush=True)
    final = copy.copy(args)
    final.out = str(args.out) + ".test.json"
    final.opt_arg = [*args.opt_arg, *(f"{n}.{k}={v!r}" for n, t in tuning.items()
                                      for k, v in t["best_params"].items())]
    head = {"tune": True, "version": __version__, "command": " ".join(sys.argv),
            "trials_per_optimizer": args.trials, "tune_repeats": args.tune_repeats,
            "storage": str(storage_path), "tuning": tuning}
    write_json(args.out, {**head, "complete": False})
    try:
        status = run_fsnc(final)
        tested = read_json_object(final.out, "the tuned optimizers' test results")
    finally:
        Path(final.out).unlink(missing_ok=True)
    write_json(args.out, {**head, "complete": True, "test": tested})
    return status


def _suggest(trial: Any, name: str, kind: str, low: float, high: float) -> float | int:
    if kind == "log":
        return trial.suggest_float(name, low, high, log=True)
    if kind == "int":
        return trial.suggest_int(name, int(low), int(high))
    return trial.suggest_float(name, low, high)


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


__all__ = ["SPACE", "add_parser", "run", "search_space", "validation_score"]
