"""``fgsam mol`` end to end on real molecules (tiny settings), its output and checkpoints."""

from __future__ import annotations

import json
import math

import pytest
import torch

from fgsam.cli import main
from fgsam.mol.checkpoint import load_mol_checkpoint
from fgsam.mol.command import parse_opt_args
from fgsam.mol.evaluate import evaluate

TINY = ["--max-molecules", "150", "--hidden", "16", "--layers", "1", "--heads", "2",
        "--epochs", "2", "--no-progress"]


def test_compares_optimizers_on_identical_splits_and_seeds(data_root, mol_cache, tmp_path,
                                                          capsys):
    out, ckpt = tmp_path / "results.json", tmp_path / "ckpt"
    code = main(["mol", "--dataset", "ogbg-molbbbp", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--optimizer", "adam,graphsam", "--seeds", "2", "--split",
                 "random", "--opt-arg", "graphsam.beta=0.9", "--out", str(out),
                 "--save-checkpoint", str(ckpt), *TINY])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ogbg-molbbbp transformer adam", "ogbg-molbbbp transformer graphsam"]
    assert "test rocauc" in lines[1] and "± " in lines[1] and "s/epoch" in lines[1]
    results = json.loads(out.read_text())
    assert results["config"]["options"] == {"graphsam": {"beta": 0.9}}
    assert [s["split_seed"] for s in results["splits"]] == [0, 1]
    for name in ("adam", "graphsam"):
        summary = results["results"][name]
        tests = [s["test"] for s in summary["seeds"]]
        assert [s["seed"] for s in summary["seeds"]] == [0, 1]
        assert math.isclose(summary["test_mean"], sum(tests) / 2, rel_tol=1e-12)
        assert math.isclose(summary["test_std"], abs(tests[0] - tests[1]) / math.sqrt(2),
                            rel_tol=1e-9)  # the sample standard deviation of two values
        assert all(len(s["history"]) == 2 for s in summary["seeds"])
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind

    model, data, config = load_mol_checkpoint(ckpt / "graphsam" / "seed1", cache_dir=mol_cache)
    recorded = results["results"]["graphsam"]["seeds"][1]
    assert config["optimizer"] == "graphsam" and config["seed"] == 1
    assert config["best_epoch"] == recorded["best_epoch"] and not model.training
    from ogb.graphproppred import Evaluator

    valid = evaluate(model, data.loader("valid"), Evaluator("ogbg-molbbbp"), "cpu")
    assert valid == pytest.approx(recorded["valid"], abs=1e-6)  # the best-epoch weights
    batch = next(iter(data.loader("train", batch_size=8)))
    assert torch.isfinite(data.loss(model(batch), batch.y))


def test_single_run_checkpoint_goes_into_the_folder_itself(data_root, mol_cache, tmp_path):
    ckpt = tmp_path / "one"
    assert main(["mol", "--dataset", "ogbg-molesol", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--optimizer", "sam", "--seeds", "1", "--model", "gin",
                 "--save-checkpoint", str(ckpt), *TINY]) == 0
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.json", "model.pt"]
    model, data, config = load_mol_checkpoint(ckpt)
    assert type(model.model).__name__ == "MolGIN" and config["metric"] == "rmse"
    assert data.sizes == {"train": 120, "valid": 15, "test": 15}
    from ogb.graphproppred import Evaluator

    # the output scaling (training-label mean/std) comes back with the weights
    valid = evaluate(model, data.loader("valid"), Evaluator("ogbg-molesol"), "cpu")
    assert valid == pytest.approx(config["valid"], rel=1e-5)
    assert not torch.equal(model.mean, torch.zeros(1))


def test_node_level_optimizers_and_bad_options_are_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["mol", "--optimizer", "adam,fgsam", "--out", str(out)]) == 2
    assert "FGSAM-style" in capsys.readouterr().err
    assert main(["mol", "--optimizer", "graphsam", "--opt-arg", "nope=1", "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_dataset_lists_the_valid_names(capsys):
    with pytest.raises(SystemExit):
        main(["mol", "--dataset", "bbbp"])
    assert "ogbg-molbbbp" in capsys.readouterr().err


def test_opt_arg_parsing():
    assert parse_opt_args(["beta=0.9", "adaptive=true", "base=sgd"], ["graphsam"]) == {
        "graphsam": {"beta": 0.9, "adaptive": True, "base": "sgd"}}
    with pytest.raises(ValueError, match="needs an optimizer name"):
        parse_opt_args(["beta=0.9"], ["sam", "graphsam"])
    with pytest.raises(ValueError, match="not among"):
        parse_opt_args(["vasso.theta=0.5"], ["sam", "graphsam"])
