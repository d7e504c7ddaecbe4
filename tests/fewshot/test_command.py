from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from fgsam.cli import main
from fgsam.fewshot.checkpoint import load_checkpoint
from fgsam.fewshot.sampler import task_pool

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
    (["--opt-arg", "k2"], r"--opt-arg expects KEY=VALUE, got 'k2'"),
    (["--optimizer", "adam", "--opt-arg", "k=2"], r"optimizer 'adam' does not take the "
                                                  r"arguments \['k'\]"),
    (["--method-arg", "inner_steps=2"], r"--method-arg: .*inner_steps"),
])
def test_bad_input_names_the_argument_and_valid_values(data_root, capsys, args, message):
    assert main(["fsnc", "--root", str(data_root), *TINY, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fgsam fsnc: error: ")
    assert re.search(message, err)
