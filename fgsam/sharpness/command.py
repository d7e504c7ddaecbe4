"""``fgsam sharpness``: Hessian spectrum, trace, ρ-sharpness and landscape of a saved model."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fgsam import typing as fgsam_typing
from fgsam._arguments import DEVICE_HELP, positive_int
from fgsam._io import check_output_dir, check_output_file, write_json
from fgsam._progress import progress
from fgsam._random import derive_seed
from fgsam._timing import machine_description
from fgsam._validate import resolve_device
from fgsam._version import __version__
from fgsam.data.molecule_cache import check_cache_dir
from fgsam.sharpness.checkpoint_loss import (
    EVAL_MODE,
    CheckpointLoss,
    checkpoint_loss,
    read_checkpoint_config,
)
from fgsam.sharpness.eigenvalues import DEFAULT_ITERS, hessian_eigenvalues
from fgsam.sharpness.landscape import loss_landscape
from fgsam.sharpness.plot import plot_landscape, plot_spectrum
from fgsam.sharpness.rho_sharpness import rho_sharpness
from fgsam.sharpness.trace import hessian_trace

#: The files ``--plots DIR`` receives.
PLOTS = ("landscape.png", "spectrum.png")
EXAMPLE = """example:
  fgsam fsnc --dataset cora --optimizer fgsam+ --save-checkpoint runs/fgsam+
  fgsam sharpness --checkpoint runs/fgsam+ --rho 0.05 0.1 --plots runs/fgsam+/plots
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fgsam sharpness``."""
    p = subparsers.add_parser(
        "sharpness", help="Hessian spectrum, trace, rho-sharpness and loss landscape of a "
                          "saved model",
        description="Measure a model saved by `fgsam fsnc --save-checkpoint` or `fgsam mol\n"
                    "--save-checkpoint` on a fixed set of its training tasks (or training\n"
                    "batches): the mean training loss over them, with the model in\n"
                    f"{EVAL_MODE}.\n"
                    "Top Hessian eigenvalues, Hutchinson trace, worst- and average-case\n"
                    "rho-sharpness and a loss landscape go to a JSON file (written\n"
                    "atomically); --plots adds PNGs of the landscape and the spectrum.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="checkpoint folder (config.json + model.pt)")
    p.add_argument("--root", default=None, help="data root (default: the saved one, else "
                                                "$FGSAM_DATA, else ./datasets)")
    p.add_argument("--cache-dir", default=None, help="molecule cache folder (mol checkpoints)")
    p.add_argument("--tasks", type=positive_int, default=20,
                   help="training tasks (fsnc: the first ones the training sampler drew) or "
                        "training batches (mol: in split order) the loss averages (default: 20)")
    p.add_argument("--k", type=positive_int, default=3,
                   help="top Hessian eigenvalues (default: 3)")
    p.add_argument("--method", choices=("power", "lanczos"), default="lanczos",
                   help="eigenvalue method (default: lanczos, which needs fewer Hessian-vector "
                        "products)")
    p.add_argument("--iters", type=positive_int, default=None,
                   help=f"power: iterations per eigenvalue; lanczos: Krylov dimension "
                        f"(default: {DEFAULT_ITERS['power']} / {DEFAULT_ITERS['lanczos']})")
    p.add_argument("--tol", type=float, default=1e-3,
                   help="relative residual of eigenvalues (default: 1e-3)")
    p.add_argument("--trace-samples", type=positive_int, default=100,
                   help="Rademacher probes of the Hutchinson trace, at least 2 (default: 100)")
    p.add_argument("--rho", type=float, nargs="+", default=[0.05], metavar="RHO",
                   help="radii of the rho-sharpness, the noise std of the average case "
                        "(default: 0.05)")
    p.add_argument("--adaptive", action="store_true",
                   help="adaptive rho-sharpness: the ball scaled by |w| (as ASAM)")
    p.add_argument("--ascent-steps", type=positive_int, default=20,
                   help="projected gradient ascent steps of the worst case (default: 20)")
    p.add_argument("--noise-samples", type=positive_int, default=100,
                   help="Gaussian draws of the average case, at least 2 (default: 100)")
    p.add_argument("--landscape-steps", type=positive_int, default=21,
                   help="grid points per axis of the landscape (default: 21)")
    p.add_argument("--landscape-span", type=float, default=1.0,
                   help="the landscape covers [-span, span] along filter-normalised "
                        "directions (default: 1.0)")
    p.add_argument("--dims", type=int, choices=(1, 2), default=2,
                   help="landscape: 1 (a line) or 2 (a plane) (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random vector (default: 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="measure in this precision (default: the saved one)")
    p.add_argument("--out", default="sharpness.json",
                   help="the JSON file to write (default: sharpness.json; checked before "
                        "measuring)")
    p.add_argument("--plots", default=None, metavar="DIR",
                   help="write landscape.png and spectrum.png here (needs the plot extra)")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``fgsam sharpness``; returns the exit status. Every setting, the output paths
    and the checkpoint's files are checked before any measurement; errors reach
    :func:`fgsam.cli.main`, which prints them as one line."""
    _check(args)
    device = resolve_device(args.device, "--device")
    check_output_file(args.out, "--out")
    check_output_dir(args.plots, "--plots", files=PLOTS)
    config = read_checkpoint_config(args.checkpoint)
    if "num_tasks" in config and "dataset" in config:  # a molecule checkpoint
        cache, flag = args.cache_dir, "--cache-dir"
        if cache is None and config.get("cache_dir") is not None:  # the loader's fallback
            cache = config["cache_dir"]
            flag = f"the cache_dir of {Path(args.checkpoint) / 'config.json'} (or --cache-dir)"
        check_cache_dir(cache, str(config["dataset"]), flag)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    weights = Path(args.checkpoint) / "model.pt"
    loss = checkpoint_loss(args.checkpoint, args.tasks, root=args.root,
                           cache_dir=args.cache_dir, device=device, dtype=dtype)
    digest = _sha256(weights)
    results = measure(loss, args)
    plots = write_plots(results, args.plots) if args.plots else None

    arguments = {k: v for k, v in vars(args).items() if k != "func"}
    summary = summary_line(results)
    write_json(args.out, {
        "summary": summary,
        "checkpoint": {"path": str(args.checkpoint), "kind": loss.kind,
                       "weights_sha256": digest, "config": loss.config},
        "configuration": arguments,
        **{k: v for k, v in results.items() if not k.startswith("_")},
        "plots": plots,
        "version": __version__,
        "machine": machine_description(device),
    })
    print(summary)
    return 0


def measure(loss: CheckpointLoss, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of ``fgsam sharpness`` on ``loss``, as a JSON-ready dict (plus the
    raw landscape and eigenvalues under ``_landscape`` and ``_eigenvalues`` for plots)."""
    params = loss.params
    stages: list[tuple[str, Callable[[], Any]]] = [
        ("eigenvalues", lambda: _eigenvalues(loss, args)),
        ("trace", lambda: hessian_trace(loss, params, args.trace_samples,
                                        generator=derive_seed(args.seed, "sharpness/trace"))),
    ]
    for rho in args.rho:
        for mode in ("worst", "average"):
            stages.append((f"{mode} {rho:g}-sharpness", _rho_stage(loss, args, rho, mode)))
    stages.append(("landscape", lambda: loss_landscape(
        loss, params, args.landscape_steps, args.landscape_span, args.dims,
        generator=derive_seed(args.seed, "sharpness/landscape"))))
    with torch.no_grad():
        centre = float(loss())
    out: dict[str, Any] = {"seconds": {}}
    bar = progress(stages, desc="sharpness", unit="stage", enabled=not args.quiet, leave=False)
    for name, stage in bar:
        bar.set_description(name)
        start = time.perf_counter()
        out[name] = stage()
        out["seconds"][name] = time.perf_counter() - start
    bar.close()
    values, converged = out.pop("eigenvalues")
    trace = out.pop("trace")
    landscape = out.pop("landscape")
    return {
        "loss": {"value": centre, "over": loss.description, "parts": len(loss.parts),
                 "mode": EVAL_MODE, "parameters": loss.num_parameters,
                 "dtype": str(params[0].dtype).removeprefix("torch."),
                 "device": str(params[0].device)},
        "eigenvalues": {"values": values.tolist(), "k": args.k, "method": args.method,
                        "order": "largest algebraic first", "converged": converged,
                        "tol": args.tol},
        "trace": {"value": trace.value, "stderr": trace.stderr, "samples": trace.samples},
        "rho_sharpness": [_rho_record(out, rho, args) for rho in args.rho],
        "landscape": {**landscape.to_dict(), "steps": args.landscape_steps,
                      "span": args.landscape_span,
                      "directions": "filter-normalised random (Li et al. 2018); 1-D "
                                    "parameters (biases, norms) unperturbed"},
        "seconds": out["seconds"],
        "_landscape": landscape,
        "_eigenvalues": values,
    }


def write_plots(results: dict[str, Any], folder: str) -> dict[str, str]:
    """``landscape.png`` and ``spectrum.png`` (:data:`PLOTS`) in ``folder`` (created), each
    written atomically; returns their paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    loss = results["loss"]["value"]
    return {
        "landscape": str(plot_landscape(results["_landscape"], out / "landscape.png",
                                        title=f"loss landscape (L(w) = {loss:.4g})")),
        "spectrum": str(plot_spectrum(results["_eigenvalues"], out / "spectrum.png")),
    }


def summary_line(results: dict[str, Any]) -> str:
    """``λ_max 12.3 · trace 45.6 ± 1.2 · 0.05-sharpness 0.012`` (worst case per ρ)."""
    trace = results["trace"]
    parts = [f"λ_max {results['eigenvalues']['values'][0]:.4g}",
             f"trace {trace['value']:.4g} ± {trace['stderr']:.2g}"]
    for record in results["rho_sharpness"]:
        prefix = "adaptive " if record["adaptive"] else ""
        parts.append(f"{prefix}{record['rho']:g}-sharpness {record['worst']['value']:.4g}")
    return " · ".join(parts)


def _eigenvalues(loss: CheckpointLoss, args: argparse.Namespace) -> tuple[torch.Tensor, bool]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        seed = derive_seed(args.seed, "sharpness/eigenvalues")
        values = hessian_eigenvalues(loss, loss.params, args.k, args.method, iters=args.iters,
                                     tol=args.tol, generator=seed)
    for w in caught:  # shown, and recorded as converged=false in the JSON
        print(f"warning: {w.message}", file=sys.stderr)
    return values.detach().cpu().double(), not any(
        issubclass(w.category, RuntimeWarning) for w in caught)


def _rho_stage(loss: CheckpointLoss, args: argparse.Namespace, rho: float,
               mode: str) -> Callable[[], Any]:
    seed = derive_seed(args.seed, f"sharpness/{mode}-sharpness/{rho!r}")
    return lambda: rho_sharpness(loss, loss.params, rho, mode, adaptive=args.adaptive,
                                 steps=args.ascent_steps, samples=args.noise_samples,
                                 generator=seed)


def _rho_record(out: dict[str, Any], rho: float, args: argparse.Namespace) -> dict[str, Any]:
    worst, average = out.pop(f"worst {rho:g}-sharpness"), out.pop(f"average {rho:g}-sharpness")
    return {
        "rho": rho, "adaptive": args.adaptive,
        "worst": {"value": worst.value, "evaluations": worst.samples,
                  "ascent_steps": args.ascent_steps, "note": "a lower bound (gradient ascent)"},
        "average": {"value": average.value, "stderr": average.stderr,
                    "samples": average.samples, "sigma": rho},
    }


def _check(args: argparse.Namespace) -> None:
    if args.trace_samples < 2:
        raise ValueError(f"--trace-samples must be at least 2, got {args.trace_samples}")
    if args.noise_samples < 2:
        raise ValueError(f"--noise-samples must be at least 2, got {args.noise_samples}")
    if args.landscape_steps < 2:
        raise ValueError(f"--landscape-steps must be at least 2, got {args.landscape_steps}")
    if not args.landscape_span > 0:
        raise ValueError(f"--landscape-span must be > 0, got {args.landscape_span}")
    if not args.tol > 0:
        raise ValueError(f"--tol must be > 0, got {args.tol}")
    if len(set(args.rho)) != len(args.rho):
        raise ValueError(f"--rho values must be distinct, got {args.rho}")
    for rho in args.rho:
        if not rho >= 0:
            raise ValueError(f"--rho values must be >= 0, got {rho}")
    if args.method == "lanczos" and args.iters is not None and args.iters < args.k:
        raise ValueError(f"--iters must be at least --k={args.k} for lanczos, got {args.iters}")
    if args.plots and not fgsam_typing.WITH_MATPLOTLIB:
        # Before the measurements, not after them.
        raise ImportError("--plots needs matplotlib, which is not installed: "
                          "pip install 'fgsam[plot]' (the plot extra)")


def _sha256(path: Path) -> str:
    from fgsam.data.files import sha256sum

    return sha256sum(path)



__all__ = ["PLOTS", "add_parser", "measure", "run", "summary_line", "write_plots"]
