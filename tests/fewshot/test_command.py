from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from fgsam.cli import main
from fgsam.fewshot.checkpoint import load_checkpoint
from fgsam.fewshot.sampler import task_pool
from fgsam.optim import OPTIMIZERS, default_rho

TINY = ["--episodes", "20", "--val-every", "10", "--val-tasks", "5", "--test-tasks", "10",
        "--repeats", "1", "--quiet"]


def test_compares_optimizers_writes_json_and_checkpoints(data_root, tmp_path, capsys):
    out, ckpt = tmp_path / "results.json", tmp_path / "ckpt"
    rc = main(["fsnc", "--dataset", "cora", "--method", "gpn", "--optimizer", "adam,fgsam+",
               "--way", "2", "--shot", "3", "--query", "10", "--seed", "0", "--root",
               str(data_root), "--out", str(out), "--save-checkpoint", str(ckpt), *TINY])
    assert rc == 0
    text = capsys.readouterr().out
    assert re.search(r"^adam: acc \d+\.\d\d ± \d+\.\d\d \(95% CI over 10 tasks\) · "
                     r"\d+\.\d\d s / 200 episodes$", text, re.M)
    assert "| fgsam+ |" in text and "| optimizer | accuracy (%) ± 95% CI |" in text
    saved = json.loads(out.read_text())
    assert set(saved["results"]) == {"adam", "fgsam+"}
    fg = saved["results"]["fgsam+"]
    assert fg["config"]["opt_kwargs"] == {"rho": 0.1}  # FGSAM+'s default radius
    assert fg["config"]["dataset"] == "cora" and fg["config"]["method"] == "gpn"
    assert fg["config"]["features"] == "l2"
    assert len(fg["repeats"][0]["test_accs"]) == 10
    assert fg["accuracy"]["num_tasks"] == 10 and fg["seconds_per_200_episodes"] > 0
    # identical tasks for both optimizers
    assert saved["results"]["adam"]["repeats"][0]["seeds"] == fg["repeats"][0]["seeds"]

    loaded = load_checkpoint(ckpt / "fgsamplus", root=data_root)
    assert loaded.config["optimizer"] == "fgsam+"
    assert loaded.config["train_seed"] == fg["repeats"][0]["seeds"]["train"]
    pool = task_pool(loaded.data.y, loaded.split.test, 2, 3, 10, 10, seed=0, stream="test/0")
    with torch.no_grad():
        accs = [(loaded.method(loaded.data, t).argmax(-1) == t.query_y).float().mean().item()
                for t in pool]
    assert 100 * np.mean(accs) == pytest.approx(fg["repeats"][0]["mean"] * 100)
    episode = loaded.sampler.sample()
    assert set(episode.classes.tolist()) <= set(loaded.split.train)
    assert (ckpt / "adam" / "model.pt").is_file()


def test_single_optimizer_prints_the_closing_line(data_root, capsys):
    rc = main(["fsnc", "--dataset", "cora", "--method", "protonet", "--root", str(data_root),
               *TINY])
    assert rc == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"acc \d+\.\d\d ± \d+\.\d\d \(95% CI over 10 tasks\) · \d+\.\d\d s / "
                        r"200 episodes", last)


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "nope"], r"unknown dataset 'nope'; the catalog has: cora"),
    (["--method", "gcn"], r"unknown method 'gcn'; valid methods: gpn"),
    (["--optimizer", "adam,samm"], r"unknown optimizer 'samm'; sharpness-aware: .*fgsam\+"),
    (["--way", "3"], r"n_way=3 is larger than the 2 usable val classes"),
    (["--opt-arg", "k2"], r"--opt-arg expects \[NAME.\]KEY=VALUE, got 'k2'"),
    (["--opt-arg", "vasso.theta=0.5"], r"names 'vasso', which is not among adam"),
    (["--optimizer", "sam,sam"], r"--optimizer lists a name twice: 'sam,sam'"),
    (["--average-option", "n_converge=2"], r"--average-option needs --average swad"),
    (["--average", "swad", "--average-option", "n_start=2"], r"SWAD has no option 'n_start'"),
    (["--average", "swad", "--test-last"], r"--test-last and --average choose different"),
    (["--optimizer", "adam", "--opt-arg", "k=2"], r"--opt-arg k=...: none of adam takes an "
                                                  r"argument 'k'"),
    (["--optimizer", "adam", "--opt-arg", "adam.k=2"], r"optimizer 'adam' does not take the "
                                                       r"arguments \['k'\]"),
    (["--method-arg", "inner_steps=2"], r"--method-arg: .*inner_steps"),
])
def test_bad_input_names_the_argument_and_valid_values(data_root, capsys, args, message):
    assert main(["fsnc", "--root", str(data_root), *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fgsam fsnc: error: ")
    assert re.search(message, err)


TINIEST = ["--dataset", "cora", "--way", "2", "--shot", "1", "--query", "3", "--episodes", "4",
           "--val-every", "2", "--val-tasks", "2", "--test-tasks", "3", "--repeats", "1",
           "--hidden", "8", "--quiet"]


@pytest.mark.parametrize("name", [cls.name for cls in OPTIMIZERS] + ["f2m"])
def test_every_optimizer_and_f2m_trains_to_the_end(name, data_root, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["fsnc", "--optimizer", name, "--root", str(data_root), "--out", str(out),
                 *TINIEST]) == 0
    result = json.loads(out.read_text())["results"][name]
    assert result["accuracy"]["num_tasks"] == 3 and result["episodes_trained"] == [4]
    assert all(math.isfinite(v) for v in result["repeats"][0]["test_accs"])
    assert math.isfinite(result["seconds_per_200_episodes"])
    kwargs = result["config"]["opt_kwargs"]
    assert kwargs["rho"] == default_rho(name)  # --rho omitted: the optimizer's own default
    assert kwargs.get("total_steps") == (4 if name in ("ae-sam", "ssam-d") else None)
    assert "acc " in capsys.readouterr().out


def test_rho_and_scoped_options_reach_the_named_optimizers(data_root, tmp_path):
    out = tmp_path / "r.json"
    assert main(["fsnc", "--optimizer", "adam,msam,rwp,zo-tsam,vasso", "--root", str(data_root),
                 "--out", str(out), "--opt-arg", "vasso.theta=0.5", *TINIEST]) == 0
    results = json.loads(out.read_text())["results"]
    assert {k: r["config"]["opt_kwargs"] for k, r in results.items()} == {
        "adam": {}, "msam": {"rho": 0.3}, "rwp": {"rho": 0.01}, "zo-tsam": {"rho": 0.001},
        "vasso": {"rho": 0.05, "theta": 0.5}}
    assert main(["fsnc", "--optimizer", "msam,sam", "--rho", "0.2", "--opt-arg", "sam.rho=0.1",
                 "--root", str(data_root), "--out", str(out), *TINIEST]) == 0
    results = json.loads(out.read_text())["results"]
    assert results["msam"]["config"]["opt_kwargs"] == {"rho": 0.2}
    assert results["sam"]["config"]["opt_kwargs"] == {"rho": 0.1}


@pytest.mark.parametrize("name", ["sam", "fgsam+", "f2m"])
def test_swad_end_to_end_tests_and_saves_the_average(name, data_root, tmp_path):
    out, ckpt = tmp_path / "r.json", tmp_path / "ckpt"
    assert main(["fsnc", "--optimizer", name, "--root", str(data_root), "--out", str(out),
                 "--average", "swad", "--average-option", "n_converge=1",
                 "--average-option", "n_tolerance=2", "--save-checkpoint", str(ckpt),
                 *TINIEST]) == 0
    saved = json.loads(out.read_text())
    assert saved["arguments"]["average"] == "swad"
    result = saved["results"][name]
    run = result["repeats"][0]
    assert run["tested"] == "swad" and result["config"]["average_options"] == {
        "n_converge": 1, "n_tolerance": 2}
    window = run["averaging"]
    assert window["n_averaged"] == window["last_episode"] - window["first_episode"] + 1 > 0
    assert len(window["validation_losses"]) == 2  # validations at episodes 2 and 4
    loaded = load_checkpoint(ckpt, root=data_root)
    pool = task_pool(loaded.data.y, loaded.split.test, 2, 1, 3, 3, seed=0, stream="test/0")
    with torch.no_grad():
        accs = [(loaded.method(loaded.data, t).argmax(-1) == t.query_y).float().mean().item()
                for t in pool]
    assert accs == pytest.approx(run["test_accs"])  # the averaged weights were saved


def test_f2m_clamps_metagnn_fine_tuning_to_its_noise_bound(data_root, tmp_path):
    out = tmp_path / "r.json"
    assert main(["fsnc", "--method", "metagnn", "--optimizer", "adam,f2m", "--method-arg",
                 "inner_steps=2", "--opt-arg", "f2m.rho=0.02", "--root", str(data_root),
                 "--out", str(out), *TINIEST]) == 0
    results = json.loads(out.read_text())["results"]
    assert results["adam"]["config"]["method_args"] == {"inner_steps": 2}
    assert results["f2m"]["config"]["method_args"] == {"inner_steps": 2, "inner_clamp": 0.02}
    assert results["f2m"]["config"]["opt_kwargs"] == {"rho": 0.02}
