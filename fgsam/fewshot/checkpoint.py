"""Saved few-shot models: the weights plus everything needed to rebuild their setting."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data

from fgsam.data.class_split import ClassSplit
from fgsam.data.load_graph import load_graph
from fgsam.fewshot.features import normalize_features
from fgsam.fewshot.method import FewShotMethod
from fgsam.fewshot.method_registry import create_method
from fgsam.fewshot.results import write_json
from fgsam.fewshot.sampler import EpisodeSampler

CONFIG, WEIGHTS = "config.json", "model.pt"
#: Keys ``config.json`` must hold for :func:`load_checkpoint`.
REQUIRED = ("dataset", "split_seed", "method", "method_args", "hidden", "dropout", "n_way",
            "k_shot", "q_query", "train_seed")


@dataclass
class Checkpoint:
    """A model rebuilt by :func:`load_checkpoint`, with its graph, class split and a
    sampler that draws its training tasks again (same seed, so the same task sequence).

    Args:
        method (FewShotMethod): the trained method, in evaluation mode.
        data (torch_geometric.data.Data): the graph, on the method's device.
        split (ClassSplit): the class split used in training (small classes dropped).
        sampler (EpisodeSampler): the training-task sampler, seeded as in training; its
            episodes are on the data's device.
        config (dict): every setting saved with the model.
    """

    method: FewShotMethod
    data: Data
    split: ClassSplit
    sampler: EpisodeSampler
    config: dict[str, Any]

    def __repr__(self) -> str:
        c = self.config
        return (f"Checkpoint({type(self.method).__name__} on {c['dataset']}, "
                f"{c['n_way']}-way {c['k_shot']}-shot, optimizer={c.get('optimizer')!r}, "
                f"train_seed={c['train_seed']})")


def save_checkpoint(directory: str | os.PathLike[str], method: FewShotMethod,
                    config: dict[str, Any]) -> Path:
    """Write ``model.pt`` (the state dict) and ``config.json`` (``config``, which must hold
    the keys of :data:`REQUIRED`) into ``directory``, each file atomically; the config is
    written last, so a directory with a ``config.json`` is complete."""
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"config lacks the keys {missing} that load_checkpoint needs")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in method.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{WEIGHTS}.", suffix=".tmp", dir=out)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, out / WEIGHTS)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    write_json(out / CONFIG, config)
    return out


def load_checkpoint(directory: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                    device: torch.device | str | None = None) -> Checkpoint:
    """Rebuild a model saved by ``fgsam fsnc --save-checkpoint DIR``.

    Loads the graph (from ``root``, else the root saved in the config, else the default
    data root) with the saved split seed and feature scaling, drops the classes too small
    for the saved task shape, rebuilds the method and its weights, and seeds a
    training-task sampler as in training, for sharpness measurements on the training tasks.

    Example:
        >>> ckpt = load_checkpoint("runs/gpn-fgsam+")
        >>> episode = ckpt.sampler.sample()
        >>> loss = ckpt.method.loss(ckpt.data, episode)
    """
    folder = Path(directory)
    cfg_path, weights_path = folder / CONFIG, folder / WEIGHTS
    for path in (cfg_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: a checkpoint folder holds {CONFIG} and "
                                    f"{WEIGHTS} (written by fgsam fsnc --save-checkpoint DIR)")
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"{cfg_path} lacks the keys {missing}")
    data, split = load_graph(config["dataset"], root if root is not None else config.get("root"),
                             split_seed=int(config["split_seed"]))
    data = normalize_features(data, config.get("features", "none"))
    split, _ = split.feasible(data.y, config["k_shot"] + config["q_query"])
    method = create_method(config["method"], data.num_features, int(data.y.max()) + 1,
                           config["n_way"], config["hidden"], config["dropout"],
                           **config["method_args"])
    method.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    device = torch.device(device) if device is not None else torch.device("cpu")
    method, data = method.to(device).eval(), data.to(device)
    sampler = EpisodeSampler(data.y, split.train, config["n_way"], config["k_shot"],
                             config["q_query"], generator=int(config["train_seed"]))
    return Checkpoint(method, data, split, sampler, config)


__all__ = ["CONFIG", "REQUIRED", "WEIGHTS", "Checkpoint", "load_checkpoint", "save_checkpoint"]
