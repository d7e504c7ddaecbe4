"""Saved few-shot models: the weights plus everything needed to rebuild their setting."""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch_geometric.data import Data

from fgsam._io import read_json_object, torch_save, write_json
from fgsam.data.class_split import ClassSplit
from fgsam.data.load_graph import load_graph
from fgsam.fewshot.features import normalize_features
from fgsam.fewshot.method import FewShotMethod
from fgsam.fewshot.method_registry import create_method
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
    torch_save(out / WEIGHTS, {k: v.detach().cpu() for k, v in method.state_dict().items()})
    write_json(out / CONFIG, config)
    return out


def read_checkpoint_files(folder: Path, writer: str, required: tuple[str, ...]
                          ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``config.json`` and the state dict in ``model.pt`` of a checkpoint folder, each
    checked: a missing, truncated, undecodable or foreign file raises a one-line error
    naming it and what was expected (``writer`` names the command that writes them)."""
    cfg_path, weights_path = folder / CONFIG, folder / WEIGHTS
    for path in (cfg_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: a checkpoint folder holds {CONFIG} and "
                                    f"{WEIGHTS} (written by {writer})")
    config = read_json_object(cfg_path, f"the {CONFIG} written by {writer}")
    missing = [k for k in required if k not in config]
    if missing:
        raise ValueError(f"{cfg_path} lacks the keys {missing}; it was not written by {writer}")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile,
            ValueError) as err:
        text = " ".join(str(err).split())
        # torch's own advice (weights_only=False) would run arbitrary code: keep only short,
        # factual messages
        why = type(err).__name__ + (f": {text}" if len(text) < 120 and "weights_only" not in text
                                    else "")
        raise ValueError(f"{weights_path} cannot be read as a torch state dict ({why}); it is "
                         f"truncated or not the {WEIGHTS} written by {writer}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{weights_path} holds a {type(state).__name__}, not a state dict of "
                         f"tensors as written by {writer}")
    return config, state


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """``module.load_state_dict(state)``, with a one-line error naming ``path`` when the
    weights belong to another model (missing, unexpected or differently shaped keys)."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), "")
        raise ValueError(f"{path} does not fit the model its {CONFIG} describes "
                         f"({type(module).__name__}): {first[:200]}") from None


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
    config, state = read_checkpoint_files(folder, "fgsam fsnc --save-checkpoint DIR", REQUIRED)
    data, split = load_graph(config["dataset"], root if root is not None else config.get("root"),
                             split_seed=int(config["split_seed"]))
    data = normalize_features(data, config.get("features", "none"))
    split, _ = split.feasible(data.y, config["k_shot"] + config["q_query"])
    method = create_method(config["method"], data.num_features, int(data.y.max()) + 1,
                           config["n_way"], config["hidden"], config["dropout"],
                           **config["method_args"])
    load_weights(method, state, folder / WEIGHTS)
    device = torch.device(device) if device is not None else torch.device("cpu")
    method, data = method.to(device).eval(), data.to(device)
    sampler = EpisodeSampler(data.y, split.train, config["n_way"], config["k_shot"],
                             config["q_query"], generator=int(config["train_seed"]))
    return Checkpoint(method, data, split, sampler, config)


__all__ = ["CONFIG", "REQUIRED", "WEIGHTS", "Checkpoint", "load_checkpoint", "load_weights",
           "read_checkpoint_files", "save_checkpoint"]
