"""``fgsam mol`` end to end on real molecules (tiny settings), its output and checkpoints."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from fgsam.cli import main
from fgsam.mol import experiment
from fgsam.mol.model import evaluate, load_mol_checkpoint
from fgsam.mol.train import train_molecules
from fgsam.optim import OPTIMIZERS, default_rho, get_optimizer_class
from tests.json_helpers import timing_free

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
    printed = capsys.readouterr().out.strip().splitlines()
    lines = [line for line in printed if line and not line.startswith("|")]  # not the table
    assert [line.split(":")[0] for line in lines] == [
        "ogbg-molbbbp transformer adam", "ogbg-molbbbp transformer graphsam"]
    assert "test rocauc" in lines[1] and "± " in lines[1] and "s/epoch" in lines[1]
    results = json.loads(out.read_text())
    assert results["config"]["options"] == {"adam": {}, "graphsam": {"beta": 0.9}}
    assert [s["split_seed"] for s in results["splits"]] == [0, 1]
    arguments = results["model_arguments"]
    assert arguments["heads"] == 2 and arguments["dropout"] == 0.1  # given; a default
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


@pytest.mark.parametrize("name, cls", [("gin", "MolGIN"), ("gin-virtual", "MolGINVirtual")])
def test_single_run_checkpoint_goes_into_the_folder_itself(data_root, mol_cache, tmp_path,
                                                           name, cls):
    ckpt = tmp_path / "one"
    assert main(["mol", "--dataset", "ogbg-molesol", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--optimizer", "sam", "--seeds", "1", "--model", name,
                 "--save-checkpoint", str(ckpt), *TINY]) == 0
    assert sorted(p.name for p in ckpt.iterdir()) == ["config.json", "model.pt"]
    model, data, config = load_mol_checkpoint(ckpt)
    assert type(model.model).__name__ == cls and config["metric"] == "rmse"
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


@pytest.fixture()
def _threads_kept():
    # --threads changes the process-wide torch setting: put it back for the other tests
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_wall_and_cpu_time_per_run_and_summary_and_the_comparison_table(
        data_root, mol_cache, tmp_path, capsys, _threads_kept):
    out = tmp_path / "r.json"
    assert main(["mol", "--optimizer", "adam,sam", "--threads", "1", "--root", str(data_root),
                 "--cache-dir", str(mol_cache), "--out", str(out), *TINIEST]) == 0
    results = json.loads(out.read_text())
    assert results["complete"] is True and results["diverged"] == []
    assert results["checkpoint_errors"] == [] and results["environment"]["threads"] == 1
    for name in ("adam", "sam"):
        summary = results["results"][name]
        run = summary["seeds"][0]
        assert run["diverged"] is None
        assert all(h["cpu_seconds"] > 0 and h["seconds"] > 0 for h in run["history"])
        assert run["cpu_seconds_per_epoch"] == pytest.approx(
            sum(h["cpu_seconds"] for h in run["history"]) / len(run["history"]))
        assert summary["cpu_seconds_per_epoch"] == run["cpu_seconds_per_epoch"]
        assert summary["seconds_per_epoch"] == run["seconds_per_epoch"]
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-4:-2] == ["| optimizer | test rocauc mean ± std | Δ test vs adam (95% CI), p | "
                            "valid rocauc mean ± std | s / epoch | CPU s / epoch | "
                            "CPU time vs adam |", "|---|---|---|---|---|---|---|"]
    adam, sam = (results["results"][n] for n in ("adam", "sam"))
    assert lines[-2] == (f"| adam | {adam['test_mean']:.4f} ± {adam['test_std']:.4f} | – | "
                         f"{adam['valid_mean']:.4f} ± {adam['valid_std']:.4f} | "
                         f"{adam['seconds_per_epoch']:.2f} | "
                         f"{adam['cpu_seconds_per_epoch']:.2f} | 1.00× |")
    ratio = sam["cpu_seconds_per_epoch"] / adam["cpu_seconds_per_epoch"]
    assert lines[-1].startswith("| sam |") and lines[-1].endswith(f"| {ratio:.2f}× |")
    # sam against adam on the same seed: the paired difference, in the table and the JSON
    d = sam["vs_baseline"]
    assert d["baseline"] == "adam" and d["repeats"] == d["units"] == 1
    assert d["mean"] == pytest.approx(sam["seeds"][0]["test"] - adam["seeds"][0]["test"])
    assert f"| {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] p=" in lines[-1]
    assert "vs_baseline" not in adam
    assert "CPU s/epoch" in lines[0]


def test_the_same_command_twice_gives_the_same_json_apart_from_timing(data_root, mol_cache,
                                                                     tmp_path):
    # Separate processes: nothing seeds their global RNG, so only the run's seed can.
    out = tmp_path / "r.json"
    argv = [sys.executable, "-m", "fgsam", "mol", "--dataset", "ogbg-molbbbp", "--root",
            str(data_root), "--cache-dir", str(mol_cache), "--optimizer", "adam,rwp,esam,f2m",
            "--max-molecules", "60", "--split", "random", "--epochs", "2", "--seeds", "2",
            "--hidden", "8", "--layers", "1", "--heads", "1", "--threads", "1",
            "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = []
    for _ in range(2):
        subprocess.run(argv, check=True, env=env, cwd=tmp_path, timeout=600,
                       capture_output=True)
        runs.append(json.loads(out.read_text()))
    first, second = (timing_free(r) for r in runs)
    assert first == second
    for name in ("rwp", "esam", "f2m"):  # the stochastic ones draw from a generator of their own
        seeds = first["results"][name]["seeds"]
        assert seeds[0]["optimizer_arguments"]["generator"] != \
            seeds[1]["optimizer_arguments"]["generator"]
    assert "generator" not in first["results"]["adam"]["seeds"][0]["optimizer_arguments"]


def test_seeds_are_the_outer_loop_and_out_is_rewritten_after_every_run(
        data_root, mol_cache, tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    seen = []

    def train(config, data, name, seed, *args, **kwargs):
        before = json.loads(out.read_text())
        seen.append((name, seed, before["complete"],
                     sum(len(r["seeds"]) for r in before["results"].values())))
        return train_molecules(config, data, name, seed, *args, **kwargs)

    monkeypatch.setattr(experiment, "train_molecules", train)
    assert main(["mol", "--optimizer", "adam,sam", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--out", str(out), *TINIEST, "--seeds", "2"]) == 0
    assert seen == [("adam", 0, False, 0), ("sam", 0, False, 1), ("adam", 1, False, 2),
                    ("sam", 1, False, 3)]
    assert json.loads(out.read_text())["complete"] is True


def test_an_interrupt_keeps_every_finished_run(data_root, mol_cache, tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    calls = []

    def train(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return train_molecules(*args, **kwargs)

    monkeypatch.setattr(experiment, "train_molecules", train)
    assert main(["mol", "--optimizer", "adam,sam", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--out", str(out), *TINIEST, "--seeds", "2"]) == 130
    results = json.loads(out.read_text())
    assert results["complete"] is False
    assert [len(results["results"][n]["seeds"]) for n in ("adam", "sam")] == [1, 1]
    assert math.isfinite(results["results"]["sam"]["seeds"][0]["test"])
    assert not list(tmp_path.glob(".*tmp"))


def test_a_full_disk_keeps_the_runs_written_before_it(data_root, mol_cache, full_disk_dir,
                                                     monkeypatch, capsys):
    out = full_disk_dir.path / "r.json"
    calls = []

    def train(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:
            full_disk_dir.fill()  # after the first run was written
        return train_molecules(*args, **kwargs)

    monkeypatch.setattr(experiment, "train_molecules", train)
    assert main(["mol", "--optimizer", "adam,sam", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--out", str(out), *TINIEST]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fgsam mol: error: OSError: cannot write the "
                                               f"results to {out}")
    assert "after 2 of 2 runs; the file keeps its previous version" in err[0]
    results = json.loads(out.read_text())
    assert results["complete"] is False
    assert [len(results["results"][n]["seeds"]) for n in ("adam", "sam")] == [1, 0]
    assert "ogbg-molbbbp transformer sam: test rocauc" in captured.out  # printed, not lost
    assert sorted(p.name for p in full_disk_dir.path.iterdir()) == [".filler", "r.json"]


def test_a_checkpoint_that_cannot_be_written_keeps_the_json(data_root, mol_cache, tmp_path,
                                                            full_disk_dir, monkeypatch, capsys):
    out, ckpt = tmp_path / "r.json", full_disk_dir.path / "ckpt"

    def train(*args, **kwargs):
        full_disk_dir.fill()  # after --save-checkpoint was checked
        return train_molecules(*args, **kwargs)

    monkeypatch.setattr(experiment, "train_molecules", train)
    assert main(["mol", "--optimizer", "adam", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--out", str(out), "--save-checkpoint", str(ckpt),
                 *TINIEST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"fgsam mol: error: --save-checkpoint {str(ckpt)!r}: cannot write "
                             f"{ckpt}: No space left on device")
    results = json.loads(out.read_text())
    assert results["complete"] is True and results["checkpoint_errors"] == [
        f"{ckpt}: No space left on device"]
    assert math.isfinite(results["results"]["adam"]["seeds"][0]["test"])
    assert not list(ckpt.glob(".*tmp"))


def test_a_sharpness_aware_divergence_is_recorded_and_the_others_go_on(
        data_root, mol_cache, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["mol", "--optimizer", "sam,adam", "--opt-arg", "sam.rho=1e30", "--root",
                 str(data_root), "--cache-dir", str(mol_cache), "--out", str(out),
                 *TINIEST, "--seeds", "2"]) == 3
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"fgsam mol: diverged: sam seed 0, sam seed 1 (recorded in "
                                    f"the table and {out}); the other runs finished")
    results = json.loads(out.read_text())
    assert results["complete"] is True
    assert [(d["optimizer"], d["seed"]) for d in results["diverged"]] == [("sam", 0),
                                                                          ("sam", 1)]
    sam, adam = results["results"]["sam"], results["results"]["adam"]
    record = sam["seeds"][0]["diverged"]
    assert record["epoch"] == 1 and record["step"] == 1 and record["pass"] != "training"
    assert f"the loss of the {record['pass']} pass" in record["message"]
    assert sam["test_mean"] is None and sam["seeds"][0]["test"] is None
    assert [d["seed"] for d in sam["diverged"]] == [0, 1]
    assert adam["diverged"] == [] and math.isfinite(adam["test_mean"])
    table = [line for line in captured.out.splitlines() if line.startswith("| sam |")]
    assert table[0].startswith(f"| sam | diverged on 2 of 2 seeds (seed 0, epoch 1, step 1, "
                               f"{record['pass']} pass) | – |")


def test_non_finite_predictions_are_a_divergence_not_an_sklearn_error(data_root, mol_cache,
                                                                     tmp_path, capsys):
    # One step of the whole training set at lr 1e30: a finite loss, then weights that are not.
    out = tmp_path / "r.json"
    assert main(["mol", "--optimizer", "adam,sgd", "--opt-arg", "adam.lr=1e30", "--root",
                 str(data_root), "--cache-dir", str(mol_cache), "--out", str(out),
                 *TINIEST, "--batch-size", "150"]) == 3
    results = json.loads(out.read_text())
    record = results["results"]["adam"]["seeds"][0]["diverged"]
    assert record["pass"] == "validation" and record["epoch"] == 1 and record["step"] is None
    assert "validation predictions are not finite after epoch 1" in record["message"]
    assert results["results"]["adam"]["seeds"][0]["optimizer_arguments"] == {"lr": 1e30}
    assert math.isfinite(results["results"]["sgd"]["test_mean"])
    assert "adam: diverged on 1 of 1 seed (first: seed 0, epoch 1, validation pass)" in \
        capsys.readouterr().out


@pytest.mark.parametrize("flags", [["--seed", "3", "--repeats", "2", "--quiet"],
                                   ["--first-seed", "3", "--seeds", "2", "--no-progress"]])
def test_seed_repeats_and_quiet_take_their_earlier_names_too(flags):
    from fgsam.cli import build_parser
    from fgsam.mol.command import config_from_args

    args = build_parser().parse_args(["mol", *flags])
    assert args.quiet and config_from_args(args).seeds == [3, 4]


def test_log_dir_holds_each_runs_epochs(data_root, mol_cache, tmp_path):
    import csv

    logs = tmp_path / "logs"
    assert main(["mol", "--dataset", "ogbg-molbbbp", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--optimizer", "graphsam", "--seeds", "1", "--split", "random",
                 "--log-dir", str(logs), *TINY]) == 0
    rows = list(csv.DictReader((logs / "graphsam-seed0.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and float(rows[1]["valid"]) > 0


def test_a_molecule_count_other_than_ogbs_is_noted_on_stderr(data_root, mol_cache, capsys):
    assert main(["mol", "--dataset", "ogbg-molclintox", "--root", str(data_root), "--cache-dir",
                 str(mol_cache), "--optimizer", "adam", "--seeds", "1", *TINY]) == 0
    err = capsys.readouterr().err
    assert "fgsam mol: note: ogbg-molclintox: 1,480 molecules kept" in err
    assert "where OGB's version has 1,477 graphs" in err
