from __future__ import annotations

import json
import math
import os
import re

import numpy as np
import pytest
import torch

from fgsam._paired import paired_difference
from fgsam.cli import main
from fgsam.fewshot.checkpoint import load_checkpoint
from fgsam.fewshot.sampler import task_pool
from fgsam.optim import OPTIMIZERS, default_rho
from tests.json_helpers import strict

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


@pytest.mark.parametrize(("method", "warned"), [("protonet", True), ("gpn", False)])
def test_raw_features_are_warned_about_unless_the_method_rescales_them(method, warned, data_root,
                                                                       capsys):
    rc = main(["fsnc", "--dataset", "wiki", "--way", "5", "--query", "4", "--method", method,
               "--features", "none", "--root", str(data_root), *TINY, "--episodes", "1"])
    assert rc == 0
    assert ("warning: node features are unnormalised" in capsys.readouterr().err) == warned


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


def test_table_and_json_carry_wall_and_cpu_time(data_root, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["fsnc", "--optimizer", "adam,sam", "--root", str(data_root), "--out", str(out),
                 "--threads", "1", *TINIEST]) == 0
    text = capsys.readouterr().out
    assert "| optimizer | accuracy (%) ± 95% CI | Δ vs adam (95% CI), p | s / 200 episodes | " \
           "CPU s / 200 episodes | CPU time vs adam |" in text
    assert re.search(r"^\| adam \| [\d.]+ ± [\d.]+ \| – \| [\d.]+ \| [\d.]+ \| 1\.00× \|$", text,
                     re.M)
    saved = json.loads(out.read_text())
    assert saved["complete"] is True and saved["diverged"] == []
    for r in saved["results"].values():
        assert r["cpu_seconds_per_200_episodes"] > 0 and r["seconds_per_200_episodes"] > 0
        assert r["repeats"][0]["cpu_seconds"] > 0
    # the paired difference of sam against adam, task by task, in the table and the JSON
    adam, sam = saved["results"]["adam"], saved["results"]["sam"]
    expected = paired_difference([r["test_accs"] for r in adam["repeats"]],
                                 [r["test_accs"] for r in sam["repeats"]])
    assert "vs_baseline" not in adam
    assert sam["vs_baseline"] == {"baseline": "adam", **expected.to_dict(),
                                  "mean": 100 * expected.mean, "low": 100 * expected.low,
                                  "high": 100 * expected.high}
    assert f"| sam | {sam['accuracy']['mean']:.2f} ± " in text
    assert f" | {expected.cell()} | " in text


def test_a_diverging_third_optimizer_keeps_the_first_two(data_root, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["fsnc", "--optimizer", "adam,fgsam+,sam", "--opt-arg", "sam.rho=1e30",
               "--root", str(data_root), "--out", str(out), *TINIEST])
    assert rc == 3
    captured = capsys.readouterr()
    assert re.search(r"^\| adam \| \d+\.\d\d ± \d+\.\d\d \|", captured.out, re.M)
    assert re.search(r"^\| fgsam\+ \| \d+\.\d\d ± \d+\.\d\d \|", captured.out, re.M)
    assert re.search(r"^\| sam \| diverged \(repeat 1, episode 1, \w+ pass\) \| – \|", captured.out,
                     re.M)
    assert re.search(r"^\| fgsam\+ \| [\d.]+ ± [\d.]+ \| [+-][\d.]+ \[[+-][\d.]+, [+-][\d.]+\] "
                     r"p=\S+ \|", captured.out, re.M)
    assert "fgsam fsnc: diverged: sam" in captured.err
    saved = json.loads(out.read_text(), parse_constant=strict)  # null, never NaN
    assert saved["complete"] is True and saved["diverged"] == ["sam"]
    assert saved["results"]["adam"]["accuracy"]["num_tasks"] == 3
    assert saved["results"]["fgsam+"]["accuracy"]["num_tasks"] == 3
    sam = saved["results"]["sam"]
    assert sam["accuracy"]["mean"] is None and sam["diverged"]["episode"] == 1
    assert sam["vs_baseline"] is None and saved["results"]["fgsam+"]["vs_baseline"]["units"] == 3
    assert sam["diverged"]["pass"] in ("ascent", "descent")
    assert "FloatingPointError" not in captured.err and "Traceback" not in captured.err


def test_a_plain_optimizer_whose_loss_goes_non_finite_is_recorded_as_diverged(data_root,
                                                                              tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["fsnc", "--optimizer", "sgd", "--lr", "1e30", "--root", str(data_root),
               "--out", str(out), *TINIEST])
    assert rc == 3
    saved = json.loads(out.read_text())["results"]["sgd"]
    assert saved["diverged"]["pass"] == "training" and saved["accuracy"]["mean"] is None
    assert capsys.readouterr().out.startswith("diverged in repeat 1 at episode")


def test_log_dir_holds_each_repeats_validations_as_csv_and_tensorboard_events(data_root,
                                                                             tmp_path):
    import csv

    out, logs = tmp_path / "r.json", tmp_path / "logs"
    assert main(["fsnc", "--optimizer", "adam,fgsam+,sam", "--opt-arg", "sam.rho=1e30",
                 "--root", str(data_root), "--out", str(out), "--log-dir", str(logs),
                 *TINIEST[:-5], "--repeats", "2", "--hidden", "8", "--quiet"]) == 3
    saved = json.loads(out.read_text())["results"]
    for name in ("adam", "fgsam+"):
        for r, repeat in enumerate(saved[name]["repeats"]):
            rows = list(csv.DictReader((logs / f"{name}-repeat{r}.csv").open()))
            assert [[int(row["episode"]), float(row["val_acc"])] for row in rows] == \
                repeat["val_history"]
            assert all(float(row["train_loss"]) > 0 and float(row["val_loss"]) > 0
                       for row in rows)
            best = [max(acc for _, acc in repeat["val_history"][: i + 1])
                    for i in range(len(rows))]
            assert [float(row["best_val_acc"]) for row in rows] == best
        assert list((logs / f"{name}-repeat0").glob("events.out.tfevents.*"))
    # sam diverged at its first episode: its log has the header and no row, and is closed
    assert (logs / "sam-repeat0.csv").read_text().strip() == \
        "episode,train_loss,val_acc,val_loss,best_val_acc"
    saved = json.loads(out.read_text())
    assert saved["arguments"]["log_dir"] == str(logs)  # the command line has it ...
    assert all("log_dir" not in r["config"] for r in saved["results"].values())  # a setting not


@pytest.mark.parametrize("where", ["out-folder", "out-under-file", "checkpoint-file",
                                   "log-dir-file"])
def test_unwritable_outputs_are_refused_before_any_work(data_root, tmp_path, capsys, where):
    (tmp_path / "file").write_text("x")
    flag = {"out-folder": ["--out", str(tmp_path)],
            "out-under-file": ["--out", str(tmp_path / "file" / "r.json")],
            "checkpoint-file": ["--save-checkpoint", str(tmp_path / "file")],
            "log-dir-file": ["--log-dir", str(tmp_path / "file")]}[where]
    # a dataset that does not exist: the output check must come before loading anything
    assert main(["fsnc", "--dataset", "cora", "--root", str(tmp_path / "no-data"), *flag,
                 *TINIEST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"fgsam fsnc: error: {flag[0]} ")


def test_read_only_out_is_refused_before_any_work(readonly_dir, tmp_path, capsys):
    assert main(["fsnc", "--root", str(tmp_path / "no-data"), "--out",
                 str(readonly_dir / "r.json"), *TINIEST]) == 2
    assert "cannot write in" in capsys.readouterr().err


def test_a_checkpoint_write_error_keeps_the_json(data_root, tmp_path, full_disk_dir, capsys):
    out = tmp_path / "r.json"
    full_disk_dir.fill()
    rc = main(["fsnc", "--optimizer", "adam", "--root", str(data_root), "--out", str(out),
               "--save-checkpoint", str(full_disk_dir.path / "ckpt"), *TINIEST])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--save-checkpoint" in err and "No space left" in err
    assert json.loads(out.read_text())["results"]["adam"]["accuracy"]["num_tasks"] == 3
    assert not list(full_disk_dir.path.rglob("*.tmp"))


def test_existing_results_keep_the_usual_file_mode(data_root, tmp_path):
    out = tmp_path / "r.json"
    out.write_text("{}")
    out.chmod(0o644)
    old = os.umask(0o022)
    try:
        assert main(["fsnc", "--root", str(data_root), "--out", str(out), *TINIEST]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_unavailable_device_is_one_line_naming_the_available_ones(data_root, capsys):
    assert main(["fsnc", "--root", str(data_root), "--device", "cuda:7", *TINIEST]) == 2
    err = capsys.readouterr().err
    assert err == "fgsam fsnc: error: --device 'cuda:7' is not available in this process; " \
                  "available here: cpu\n" or "available here: cpu, cuda" in err


def test_the_authors_fgsam_plus_setting_runs_and_is_recorded(data_root, tmp_path):
    out = tmp_path / "r.json"
    assert main(["fsnc", "--method", "gpn", "--optimizer", "adam,fgsam+", "--opt-arg",
                 "fgsam+.authors_code=true", "--perturb", "encoder", "--no-peer-dropout",
                 "--root", str(data_root), "--out", str(out), *TINIEST]) == 0
    results = json.loads(out.read_text())["results"]
    config = results["fgsam+"]["config"]
    assert config["perturb"] == "encoder" and config["peer_dropout"] is False
    assert config["opt_kwargs"]["authors_code"] is True
    assert results["fgsam+"]["accuracy"]["mean"] is not None


def test_perturbing_the_encoder_of_a_method_without_one_is_refused_before_training(data_root,
                                                                                   capsys):
    assert main(["fsnc", "--method", "tent", "--optimizer", "sam", "--perturb", "encoder",
                 "--root", str(data_root), *TINIEST]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("fgsam fsnc: error: perturb='encoder' needs a method with an encoder, and "
                   "TENT has none; use perturb='all'")


def test_the_feature_layout_is_chosen_per_graph_and_recorded(data_root, tmp_path):
    out = tmp_path / "r.json"
    tiny = [a if a != "cora" else "blogcatalog" for a in TINIEST]
    assert main(["fsnc", "--method", "gpn", "--root", str(data_root), "--out", str(out),
                 *tiny]) == 0
    config = json.loads(out.read_text())["results"]["adam"]["config"]
    assert config["feature_layout"] == "auto" and config["dataset"] == "blogcatalog"
    assert config["feature_layout_used"] == "sparse"  # 42.6M entries, 0.9% non-zero
    assert main(["fsnc", "--method", "protonet", "--root", str(data_root), "--out", str(out),
                 *TINIEST]) == 0
    assert json.loads(out.read_text())["results"]["adam"]["config"]["feature_layout_used"] \
        == "dense"  # Cora's 3.9M entries: below the size rule
    assert main(["fsnc", "--method", "protonet", "--feature-layout", "sparse", "--root",
                 str(data_root), "--out", str(out), *TINIEST]) == 0
    assert json.loads(out.read_text())["results"]["adam"]["config"]["feature_layout_used"] \
        == "sparse"
