"""``fgsam mol`` end to end on real molecules (tiny settings), its output and checkpoints."""

from __future__ import annotations

import json
import math

import pytest
import torch

from fgsam.cli import main
from fgsam.mol.checkpoint import load_mol_checkpoint
from fgsam.mol.evaluate import evaluate
from fgsam.optim import OPTIMIZERS, default_rho, get_optimizer_class

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
    assert results["config"]["options"] == {"adam": {}, "graphsam": {"beta": 0.9}}
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


TINIEST = ["--dataset", "ogbg-molbbbp", "--max-molecules", "150", "--split", "random",
           "--hidden", "8", "--layers", "1", "--heads", "1", "--batch-size", "30", "--seeds", "1",
           "--epochs", "1", "--no-progress"]


@pytest.mark.parametrize("name", [cls.name for cls in OPTIMIZERS] + ["f2m"])
def test_every_optimizer_and_f2m_trains_or_is_refused_with_the_reason(
        name, data_root, mol_cache, tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["mol", "--optimizer", name, "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--out", str(out), *TINIEST])
    if get_optimizer_class(name).num_closures == 2:
        assert code == 2 and not out.exists()
        assert f"optimizer '{name}' is FGSAM-style" in capsys.readouterr().err
        return
    assert code == 0
    seed = json.loads(out.read_text())["results"][name]["seeds"][0]
    assert math.isfinite(seed["test"]) and math.isfinite(seed["valid"])
    assert all(math.isfinite(seed["history"][0][k]) for k in ("train_loss", "valid", "test"))
    # --rho omitted: the optimizer's own default; the schedules get epochs x batches (120 / 30)
    assert seed["optimizer_arguments"]["rho"] == default_rho(name)
    assert seed["optimizer_arguments"].get("total_steps") == (
        4 if name in ("ae-sam", "ssam-d") else None)


def test_shared_and_scoped_options_reach_each_optimizer(data_root, mol_cache, tmp_path):
    out = tmp_path / "r.json"
    assert main(["mol", "--optimizer", "sam,vasso,adam", "--opt-arg", "vasso.theta=0.5",
                 "--opt-arg", "adam.amsgrad=true", "--rho", "0.1", "--root", str(data_root),
                 "--cache-dir", str(mol_cache), "--out", str(out), *TINIEST]) == 0
    results = json.loads(out.read_text())["results"]
    assert results["sam"]["seeds"][0]["optimizer_arguments"] == {"rho": 0.1}
    assert results["vasso"]["seeds"][0]["optimizer_arguments"] == {"rho": 0.1, "theta": 0.5}
    assert results["adam"]["seeds"][0]["optimizer_arguments"] == {"amsgrad": True}


def test_swad_end_to_end_reports_and_saves_the_average(data_root, mol_cache, tmp_path, capsys):
    out, ckpt = tmp_path / "r.json", tmp_path / "ckpt"
    args = [*TINIEST[:TINIEST.index("--epochs")], "--no-progress"]
    assert main(["mol", "--model", "gin", "--optimizer", "sam", "--epochs", "3", "--average",
                 "swad", "--average-option", "n_converge=1", "--average-option",
                 "n_tolerance=1", "--root", str(data_root), "--cache-dir", str(mol_cache),
                 "--out", str(out), "--save-checkpoint", str(ckpt), *args]) == 0
    assert capsys.readouterr().out.startswith("ogbg-molbbbp gin sam + swad: test rocauc")
    results = json.loads(out.read_text())
    assert results["config"]["average"] == "swad"
    assert results["config"]["average_options"] == {"n_converge": 1, "n_tolerance": 1}
    seed = results["results"]["sam"]["seeds"][0]
    window = seed["averaging"]
    assert len(window["validation_losses"]) == len(seed["history"])
    assert all(math.isfinite(h["valid_loss"]) for h in seed["history"])
    assert 1 <= window["first_epoch"] <= window["last_epoch"] <= len(seed["history"])
    epochs = window["last_epoch"] - window["first_epoch"] + 1
    assert window["n_averaged"] == 4 * epochs  # every step of the window (120 / 30 a epoch)
    assert math.isfinite(seed["test"])
    model, data, config = load_mol_checkpoint(ckpt, cache_dir=mol_cache)
    from ogb.graphproppred import Evaluator

    # the saved weights and BatchNorm statistics are the averaged model's
    valid = evaluate(model, data.loader("valid"), Evaluator("ogbg-molbbbp"), "cpu")
    assert valid == pytest.approx(seed["valid"], abs=1e-6)
    assert config["averaging"]["n_averaged"] == window["n_averaged"]


def test_bad_average_settings_are_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["mol", "--average", "swad", "--average-option", "n_start=1", "--out",
                 str(out)]) == 2
    assert "SWAD has no option 'n_start'" in capsys.readouterr().err
    assert main(["mol", "--average-option", "n_converge=1", "--out", str(out)]) == 2
    assert "need average='swad'" in capsys.readouterr().err
    assert not out.exists()
