"""Data-parallel molecule training (gloo, 2 CPU processes) matches one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.testing import assert_close

from fgsam.mol import MoleculeDataset
from fgsam.mol.config import build_optimizer
from fgsam.mol.distributed import DistributedContext
from fgsam.mol.model import build_model
from fgsam.mol.split import MoleculeSplit
from fgsam.mol.train import train_epoch


def first_steps(ctx: DistributedContext, root: str, cache: str, optimizer: str) -> torch.Tensor:
    """The losses of the first 5 steps: global batch 32, dropout off, same seed."""
    dataset = MoleculeDataset("ogbg-molbbbp", root, cache_dir=cache, log=False)
    data = MoleculeSplit.make(dataset, "random", seed=0, max_molecules=300)
    torch.manual_seed(0)
    model = build_model("transformer", 1, hidden=16, layers=2, heads=2, dropout=0.0)
    trained = DistributedDataParallel(model) if ctx.enabled else model
    opt = build_optimizer(trained, optimizer, lr=1e-3, sync_ascent=True)
    loader = data.loader("train", batch_size=32, shuffle=True, seed=0, ctx=ctx)
    return train_epoch(trained, opt, loader, dataset.task_type, "cpu", epoch=0, ctx=ctx,
                       max_steps=5)


OPTIMIZERS = ("adam", "graphsam")


def _worker(rank: int, world: int, init_file: str, root: str, cache: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        ctx = DistributedContext(rank, world)
        torch.save({name: first_steps(ctx, root, cache, name) for name in OPTIMIZERS},
                   f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_reproduce_the_first_five_losses(data_root, mol_cache, tmp_path):
    out = str(tmp_path / "losses")
    single = {name: first_steps(DistributedContext(), str(data_root), str(mol_cache), name)
              for name in OPTIMIZERS}  # also builds the cache the workers read
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(data_root), str(mol_cache), out),
             nprocs=2)
    rank0, rank1 = torch.load(f"{out}.0"), torch.load(f"{out}.1")
    for name in OPTIMIZERS:
        assert rank0[name].shape == (5,) and torch.equal(rank0[name], rank1[name])
        assert_close(rank0[name], single[name], rtol=1e-5, atol=1e-5)
        assert not torch.equal(single[name][0], single[name][4])  # the model did move


@pytest.mark.slow
def test_torchrun_cli_matches_the_single_process_cli(data_root, mol_cache, tmp_path):
    args = ["-m", "fgsam", "mol", "--dataset", "ogbg-molbbbp", "--root", str(data_root),
            "--cache-dir", str(mol_cache), "--optimizer", "graphsam", "--sync-ascent",
            "--seeds", "1", "--epochs", "2", "--split", "random", "--max-molecules", "160",
            "--batch-size", "32", "--hidden", "16", "--layers", "1", "--heads", "2",
            "--dropout", "0", "--device", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    subprocess.run([sys.executable, *args, "--out", str(one)], check=True, env=env,
                   timeout=300)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc_per_node=2", *args, "--out", str(two)], check=True, env=env,
                   timeout=300)
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["environment"]["processes"] == 1 and b["environment"]["processes"] == 2
    ha = a["results"]["graphsam"]["seeds"][0]["history"]
    hb = b["results"]["graphsam"]["seeds"][0]["history"]
    for ea, eb in zip(ha, hb, strict=True):  # 128 training molecules: 4 equal steps per epoch
        assert ea["train_loss"] == pytest.approx(eb["train_loss"], rel=1e-5, abs=1e-5)
        assert ea["valid"] == pytest.approx(eb["valid"], abs=1e-4)
