"""The molecule training loop: it learns, it is reproducible, it reports the right epoch."""

from __future__ import annotations

import math

import pytest
import torch

from fgsam.mol import MoleculeDataset
from fgsam.mol.config import MolConfig
from fgsam.mol.split import MoleculeSplit
from fgsam.mol.train import better, train_molecules

SMALL = {"hidden": 32, "layers": 2, "heads": 4, "dropout": 0.0, "lr": 3e-3}


@pytest.fixture(scope="module")
def bbbp_dataset(data_root, mol_cache):
    return MoleculeDataset("ogbg-molbbbp", data_root, cache_dir=mol_cache, log=False)


@pytest.fixture(scope="module")
def bbbp(bbbp_dataset):
    return MoleculeSplit.make(bbbp_dataset, "random", seed=0, max_molecules=400)


@pytest.mark.parametrize("optimizer", ["adam", "graphsam"])
def test_learns_bbbp_and_reads_test_at_the_best_validation_epoch(bbbp, optimizer):
    run = train_molecules(MolConfig("ogbg-molbbbp", epochs=8, **SMALL), bbbp, optimizer, seed=0)
    valid = [h["valid"] for h in run.history]
    assert len(run.history) == 8 and run.valid == max(valid)
    assert run.best_epoch == valid.index(max(valid)) + 1
    assert run.test == run.history[run.best_epoch - 1]["test"]
    assert run.valid > 0.8  # ROC-AUC; 0.5 is chance
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]
    assert all(h["seconds"] > 0 for h in run.history) and run.seconds_per_epoch > 0


def test_same_seed_same_run_and_the_global_rng_is_left_alone(bbbp_dataset):
    data = MoleculeSplit.make(bbbp_dataset, "random", seed=0, max_molecules=100)
    config = MolConfig("ogbg-molbbbp", epochs=2, dropout=0.3, hidden=16, layers=1, heads=2)
    torch.manual_seed(123)
    expected = torch.rand(2)
    torch.manual_seed(123)
    first = train_molecules(config, data, "graphsam", seed=4)
    assert torch.equal(torch.rand(2), expected)
    second = train_molecules(config, data, "graphsam", seed=4)
    other = train_molecules(config, data, "graphsam", seed=5)

    def numbers(run):  # everything but the timings
        return [{k: v for k, v in h.items() if k not in ("seconds", "cpu_seconds")}
                for h in run.history]

    assert numbers(first) == numbers(second)
    assert numbers(other) != numbers(first)


def test_better_knows_which_metrics_fall():
    assert better("rocauc", 0.9, 0.8) and not better("rocauc", 0.7, 0.8)
    assert better("rmse", 0.7, 0.8) and not better("rmse", 0.9, 0.8)
    assert better("rmse", 1.0, math.nan) and not better("rocauc", math.nan, 0.5)


@pytest.mark.parametrize(("name", "one", "other"), [
    ("esam", {"gamma": 0.5}, {"gamma": 1.0}),
    ("ssam-f", {"num_samples": 1, "update_interval": 1},
     {"num_samples": 8, "update_interval": 1}),
])
def test_per_sample_optimizers_get_one_loss_per_molecule(bbbp_dataset, name, one, other):
    # With a scalar loss these settings cannot matter (no data selection, Fisher = g^2);
    # with per-molecule losses they do.
    data = MoleculeSplit.make(bbbp_dataset, "random", seed=0, max_molecules=80)

    def weights(options):
        config = MolConfig("ogbg-molbbbp", epochs=1, batch_size=16, hidden=8, layers=1,
                           heads=1, dropout=0.0, options={name: {"generator": 0, **options}})
        run = train_molecules(config, data, name, seed=0)
        return [p.detach().clone() for p in run.model.parameters()]

    first, second, again = weights(one), weights(other), weights(one)
    assert all(torch.equal(p, q) for p, q in zip(first, again))
    assert not all(torch.equal(p, q) for p, q in zip(first, second))
