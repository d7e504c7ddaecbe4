"""Saved molecule models: the weights plus the settings that rebuild model, data and split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import torch

from fgsam._io import torch_save, write_json
from fgsam.fewshot.checkpoint import load_weights, read_checkpoint_files
from fgsam.mol.build_model import build_model
from fgsam.mol.masked_loss import REGRESSION
from fgsam.mol.mol_config import MolConfig
from fgsam.mol.molecule_dataset import MoleculeDataset
from fgsam.mol.molecule_split import MoleculeSplit
from fgsam.mol.target_scaling import TargetScaling

CONFIG, WEIGHTS = "config.json", "model.pt"
#: Keys ``config.json`` must hold for :func:`load_mol_checkpoint`.
REQUIRED = ("dataset", "model", "optimizer", "seed", "split", "split_seed", "num_tasks",
            "metric")


class MolCheckpoint(NamedTuple):
    """What :func:`load_mol_checkpoint` returns; unpacks as ``model, data, config``.

    Args:
        model (torch.nn.Module): the trained model, in evaluation mode.
        data (MoleculeSplit): the dataset and the split it was trained on; its
            ``loader("train", ...)`` and ``loss(pred, y)`` rebuild the training loss.
        config (dict): every setting saved with the model.
    """

    model: torch.nn.Module
    data: MoleculeSplit
    config: dict[str, Any]


def save_mol_checkpoint(directory: str | os.PathLike[str], model: torch.nn.Module,
                        config: dict[str, Any]) -> Path:
    """Write ``model.pt`` (the state dict, or ``model`` itself if it is one) and
    ``config.json`` into ``directory``, each atomically; the config is written last, so
    a folder with a ``config.json`` is complete. ``config`` needs the keys of
    :data:`REQUIRED` (and the :class:`MolConfig` fields that size the model)."""
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"config lacks the keys {missing} that load_mol_checkpoint needs")
    state = model if isinstance(model, dict) else model.state_dict()
    out = Path(directory)
    torch_save(out / WEIGHTS, {k: v.detach().cpu() for k, v in state.items()})
    write_json(out / CONFIG, config)
    return out


def load_mol_checkpoint(directory: str | os.PathLike[str],
                        root: str | os.PathLike[str] | None = None,
                        cache_dir: str | os.PathLike[str] | None = None,
                        device: torch.device | str | None = None) -> MolCheckpoint:
    """Rebuild a model saved by ``fgsam mol --save-checkpoint DIR``, with its dataset and
    split (the data root and cache from the arguments, else those saved, else the
    defaults).

    Both files are checked before any data is loaded: a missing, truncated or foreign
    ``model.pt``, or a ``config.json`` that is not JSON or lacks the keys of
    :data:`REQUIRED`, raises a one-line error naming the file and what was expected
    (:func:`fgsam.fewshot.checkpoint.read_checkpoint_files`); weights of another model
    raise one naming ``model.pt`` (:func:`fgsam.fewshot.checkpoint.load_weights`).

    Example:
        >>> model, data, config = load_mol_checkpoint("runs/bbbp-graphsam")
        >>> batch = next(iter(data.loader("train", batch_size=64)))
        >>> loss = data.loss(model(batch), batch.y)
    """
    folder = Path(directory)
    config, state = read_checkpoint_files(folder, "fgsam mol --save-checkpoint DIR", REQUIRED)
    settings = MolConfig.from_dict(config)
    dataset = MoleculeDataset(config["dataset"], root if root is not None else config.get("root"),
                              cache_dir if cache_dir is not None else config.get("cache_dir"),
                              log=False)
    data = MoleculeSplit.make(dataset, config["split"], int(config["split_seed"]),
                              config.get("max_molecules"))
    model = build_model(config["model"], int(config["num_tasks"]), **settings.model_kwargs())
    if settings.standardize and dataset.task_type == REGRESSION:
        tasks = int(config["num_tasks"])  # the statistics come with the weights
        model = TargetScaling(model, torch.zeros(tasks), torch.ones(tasks))
    load_weights(model, state, folder / WEIGHTS)
    model = model.to(torch.device(device) if device is not None else "cpu").eval()
    return MolCheckpoint(model, data, config)


__all__ = ["CONFIG", "REQUIRED", "WEIGHTS", "MolCheckpoint", "load_mol_checkpoint",
           "save_mol_checkpoint"]
