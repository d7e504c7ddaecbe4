"""``fgsam bench``: step time and peak memory of optimizers, a table and a JSON file."""

from __future__ import annotations

import json
import math
import re

import pytest

from fgsam.bench.command import parse_contenders
from fgsam.cli import main

TINY = ["--rounds", "2", "--steps", "2", "--warmup", "1", "--threads", "1"]


def test_bench_on_cora_writes_every_optimizer_with_finite_times(data_root, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--dataset", "cora", "--root", str(data_root), *TINY,
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    names = [r["optimizer"] for r in result["results"]]
    assert names == ["adam", "sam", "fgsam", "fgsam+"]
    assert all(math.isfinite(r["ms_per_step"]) and r["ms_per_step"] > 0
               and len(r["per_step_ms"]) == 2 for r in result["results"])
    assert result["results"][0]["ratio"] == 1.0
    assert result["graph"] == {"name": "cora", "source": "catalog", "num_nodes": 2708,
                               "num_edges": 10556, "num_features": 1433, "loss_rows": 65}
    assert result["optimizers"][3]["options"] == {"rho": 0.1}  # FGSAM+'s own default
    printed = capsys.readouterr().out
    assert "| optimizer | ms / step | ratio to adam | peak memory (MiB) |" in printed
    assert all(f"| {name} |" in printed for name in names)
    assert printed.strip().splitlines()[-1] == result["summary"]


def test_full_task_with_peermlp_options_and_the_cpu_clock(data_root, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--root", str(data_root), "--task", "full", "--optimizers",
                 "sgd,fgsam+,peermlp", "--opt-arg", "fgsam+.k=1", "--clock", "cpu", *TINY,
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["configuration"]["dataset"] == "cora" and result["clock"] == "cpu"
    assert result["graph"]["loss_rows"] == 140
    assert [o["options"] for o in result["optimizers"]] == [{}, {"rho": 0.1, "k": 1}, {}]
    assert result["optimizers"][2]["peer_only"] is True
    assert result["results"][0]["ratio"] == 1.0


@pytest.mark.parametrize(("argv", "message"), [
    (["--optimizers", "adam,nope"], "unknown optimizer 'nope'"),
    (["--optimizers", "adam,adam"], "lists a name twice"),
    (["--clock", "cpu", "--device", "cuda"], "--clock cpu .* cannot see work on cuda"),
    (["--opt-arg", "fgsam.rho=0.1"], "names 'fgsam', which is not among adam, sam"),
    (["--warmup", "-1"], "--warmup must be >= 0, got -1"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    assert main(["bench", "--optimizers", "adam,sam", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fgsam bench: error:")
    assert re.search(message, err)


def test_a_dataset_and_a_shape_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--dataset", "cora", "--shape", "corafull"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_contenders_get_each_optimizers_default_rho_unless_given():
    contenders = parse_contenders("adam, SAM,fgsam+", ["sam.rho=0.2", "fgsam+.k=5"])
    assert [(c.label, c.optimizer, c.options) for c in contenders] == [
        ("adam", "adam", {}), ("sam", "sam", {"rho": 0.2}),
        ("fgsam+", "fgsam+", {"rho": 0.1, "k": 5})]


def test_a_few_shot_method_is_timed_with_the_step_fsnc_times(data_root, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--dataset", "cora", "--root", str(data_root), "--method", "gpn",
                 "--way", "2", "--optimizers", "adam,fgsam+,rwp,esam", *TINY,
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["configuration"]["method"] == "gpn"
    assert result["configuration"]["features"] is None  # fsnc's default l2 scaling used
    assert [r["optimizer"] for r in result["results"]] == ["adam", "fgsam+", "rwp", "esam"]
    assert all(math.isfinite(r["ms_per_step"]) and r["ms_per_step"] > 0
               for r in result["results"])


def test_a_method_needs_the_episode_task(data_root, capsys):
    assert main(["bench", "--root", str(data_root), "--method", "gpn", "--task", "full",
                 *TINY]) == 2
    assert capsys.readouterr().err == ("fgsam bench: error: --method gpn trains on episodes: "
                                       "use --task episode, got --task full\n")
