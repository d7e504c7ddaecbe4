"""fgsam tune: validation-only Optuna search per optimizer, then one tested comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fgsam.cli import main
from fgsam.data import load_graph
from fgsam.fewshot import EpisodicTrainer, create_method
from fgsam.fewshot.config import FSNCConfig
from fgsam.fewshot.features import normalize_features
from fgsam.fewshot.tune import search_space, validation_score

TINY = ["--dataset", "cora", "--method", "gpn", "--episodes", "6", "--val-every", "2",
        "--val-tasks", "3", "--test-tasks", "4", "--repeats", "2", "--hidden", "8", "--quiet"]


def test_each_optimizer_searches_its_own_hyper_parameters():
    assert sorted(search_space("adam")) == ["lr"]
    assert sorted(search_space("sam")) == ["lr", "rho"]
    assert sorted(search_space("fgsam")) == ["lam", "lr", "rho"]
    assert sorted(search_space("fgsam+")) == ["alpha", "k", "lam", "lr", "rho"]
    assert sorted(search_space("fgsam-rho0")) == ["lam", "lr"]  # its radius is its name


def test_trials_score_validation_only_and_the_best_is_tested_once(data_root, tmp_path):
    out = tmp_path / "tune.json"
    assert main(["tune", *TINY, "--optimizer", "adam,fgsam+", "--opt-arg", "fgsam+.k=2",
                 "--trials", "3", "--root", str(data_root), "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["complete"] is True and saved["trials_per_optimizer"] == 3
    plus = saved["tuning"]["fgsam+"]
    assert len(plus["trials"]) == 3 and "k" not in plus["best_params"]  # given: not searched
    assert set(plus["best_params"]) == {"lr", "rho", "lam", "alpha"}
    # the tested comparison runs the best trial's values
    tested = saved["test"]["results"]
    assert tested["fgsam+"]["config"]["lr"] == plus["best_params"]["lr"]
    assert tested["fgsam+"]["config"]["opt_kwargs"]["alpha"] == plus["best_params"]["alpha"]
    assert tested["fgsam+"]["vs_baseline"]["baseline"] == "adam"
    # a trial's value is the validation score of its values, nothing else
    data, split = load_graph("cora", data_root)
    data = normalize_features(data, "l2")
    best = saved["tuning"]["adam"]
    config = FSNCConfig(method="gpn", optimizer="adam", lr=best["best_params"]["lr"],
                        episodes=6, val_every=2, val_tasks=3, test_tasks=4, repeats=2, hidden=8)
    trainer = EpisodicTrainer.from_config(
        lambda: create_method("gpn", data.num_features, 7, 2, 8, 0.2), data, split, config)
    assert validation_score(trainer, 1) == pytest.approx(best["best_validation"], abs=1e-12)


def test_a_search_resumes_with_the_missing_trials_and_refuses_another_protocol(
        data_root, tmp_path, capsys):
    out = tmp_path / "tune.json"
    args = ["tune", *TINY[:-1], "--optimizer", "adam", "--root", str(data_root), "--out",
            str(out)]
    assert main([*args, "--trials", "2"]) == 0
    first = json.loads(out.read_text())["tuning"]["adam"]["trials"]
    capsys.readouterr()
    assert main([*args, "--trials", "3"]) == 0
    printed = capsys.readouterr().out
    assert "adam trial 3/3" in printed and "adam trial 1/3" not in printed
    again = json.loads(out.read_text())["tuning"]["adam"]["trials"]
    assert again[:2] == first and len(again) == 3
    assert main([*args, "--trials", "3", "--episodes", "8"]) == 2
    assert "holds adam's trials of another protocol" in capsys.readouterr().err


def test_the_same_search_in_two_processes_suggests_and_scores_the_same(data_root, tmp_path):
    runs = []
    for name, hash_seed in (("a", "1"), ("b", "2")):  # and different string hashing
        out = tmp_path / f"{name}.json"
        subprocess.run([sys.executable, "-m", "fgsam", "tune", *TINY, "--optimizer", "sam",
                        "--trials", "3", "--root", str(data_root), "--out", str(out)],
                       check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        runs.append(json.loads(out.read_text())["tuning"]["sam"]["trials"])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("extra", "message"), [
    (["--settings", "cora:2:3"], "fgsam tune tunes one setting and one method"),
    (["--method", "gpn,protonet"], "fgsam tune tunes one setting and one method"),
    ([], "fgsam tune needs --out FILE"),
])
def test_bad_tuning_requests_are_one_line(tmp_path, capsys, extra, message):
    assert main(["tune", "--root", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
