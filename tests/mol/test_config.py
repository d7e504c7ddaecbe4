"""Every single-closure optimizer of the registry trains molecules; FGSAM-style are refused."""

from __future__ import annotations

import pytest
import torch

from fgsam.mol import MoleculeDataset
from fgsam.mol.config import (
    build_optimizer,
    molecule_optimizer_arguments,
    molecule_optimizers,
    optimizer_seed,
)
from fgsam.mol.model import build_model
from fgsam.mol.split import MoleculeSplit
from fgsam.mol.train import train_epoch
from fgsam.optim import OPTIMIZERS


@pytest.fixture(scope="module")
def esol(data_root, mol_cache):
    dataset = MoleculeDataset("ogbg-molesol", data_root, cache_dir=mol_cache, log=False)
    return MoleculeSplit.make(dataset, "random", seed=0, max_molecules=60)


@pytest.mark.parametrize("name", ["adam", "sgd", *molecule_optimizers()])
def test_every_molecule_optimizer_takes_steps_and_lowers_the_loss(name, esol):
    torch.manual_seed(0)
    model = build_model("transformer", 1, hidden=16, layers=1, heads=2, dropout=0.0)
    opt = build_optimizer(model, name, lr=1e-2)
    loader = esol.loader("train", batch_size=16, shuffle=True, seed=0)
    first = train_epoch(model, opt, loader, "regression", "cpu", epoch=0)
    for epoch in range(1, 4):
        last = train_epoch(model, opt, loader, "regression", "cpu", epoch=epoch)
    assert len(first) == 3 and torch.isfinite(last).all()
    assert last.mean() < first.mean()


def test_fgsam_style_optimizers_are_refused_with_the_reason():
    two = [cls.name for cls in OPTIMIZERS if cls.num_closures == 2]
    assert two and not set(two) & set(molecule_optimizers())
    with pytest.raises(ValueError, match=f"optimizer '{two[0]}' is FGSAM-style.*PeerMLP.*"
                                         f"fgsam fsnc.*graphsam"):
        build_optimizer(torch.nn.Linear(2, 1), two[0], lr=1e-3)


def test_rho_and_options_reach_sharpness_aware_optimizers_only():
    model = torch.nn.Linear(2, 1)
    opt = build_optimizer(model, "graphsam", lr=1e-3, rho=0.2, beta=0.5)
    assert opt.param_groups[0]["rho"] == 0.2 and opt.beta == 0.5 and opt.model is model
    adam = build_optimizer(model, "adam", lr=1e-3, rho=0.2)
    assert isinstance(adam, torch.optim.Adam)


def test_schedules_get_the_run_length_and_f2m_trains_molecules():
    model = torch.nn.Linear(2, 1)
    assert "f2m" in molecule_optimizers() and "fgsam+" not in molecule_optimizers()
    for name in ("ae-sam", "ssam-d"):
        opt = build_optimizer(model, name, lr=1e-3, total_steps=12, sync_ascent=True)
        assert opt.total_steps == 12 and opt.sync_ascent
    sam = build_optimizer(model, "sam", lr=1e-3, total_steps=12)
    assert not hasattr(sam, "total_steps") and sam.param_groups[0]["rho"] == 0.05
    assert build_optimizer(model, "msam", lr=1e-3).param_groups[0]["rho"] == 0.3
    adam = build_optimizer(model, "adam", lr=1e-3, total_steps=12, sync_ascent=True)
    assert isinstance(adam, torch.optim.Adam)
    assert molecule_optimizer_arguments("vasso", {"rho": 0.3}, rho=0.1) == {"rho": 0.3}


def test_a_seed_becomes_the_generator_of_the_stochastic_optimizers_only():
    assert molecule_optimizer_arguments("rwp", seed=7)["generator"] == 7
    assert molecule_optimizer_arguments("f2m", seed=7)["generator"] == 7
    assert "generator" not in molecule_optimizer_arguments("sam", seed=7)
    assert "generator" not in molecule_optimizer_arguments("adam", seed=7)
    assert molecule_optimizer_arguments("esam", {"generator": 1}, seed=7)["generator"] == 1
    assert "generator" not in molecule_optimizer_arguments("rwp")
    # the optimizer's stream is its own: not the seed that initialises the weights
    assert optimizer_seed(0) not in (0, optimizer_seed(1))
    assert optimizer_seed(3) == optimizer_seed(3)

