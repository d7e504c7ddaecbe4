"""``fgsam node``: real runs on Cora, torchrun against one process, and one-line refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fgsam._distributed import DistributedContext
from fgsam.cli import main
from fgsam.data.node_dataset import load_node_dataset
from fgsam.node import layerwise_inference, load_node_model
from fgsam.node.command import check_world, parse_fanout
from fgsam.node.graph import NodeGraph


def node(*args: str) -> list[str]:
    return ["node", *args, "--device", "cpu", "--threads", "1", "--quiet"]


def test_each_optimizer_is_compared_with_the_first_seed_by_seed(data_root, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(node("--dataset", "cora", "--root", str(data_root), "--optimizer",
                     "adam,fgsam+", "--repeats", "3", "--epochs", "5", "--out", str(out))) == 0
    results = json.loads(out.read_text())["results"]
    adam, plus = results["adam"], results["fgsam+"]
    d = plus["vs_baseline"]
    gaps = [b["test"] - a["test"] for a, b in zip(adam["seeds"], plus["seeds"], strict=True)]
    assert d["baseline"] == "adam" and (d["repeats"], d["units"]) == (3, 3)
    assert d["resampling"] == "repeats" and d["mean"] == pytest.approx(sum(gaps) / 3)
    assert d["low"] <= d["mean"] <= d["high"] and 0 < d["p_value"] <= 1
    assert f"| {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] p=" in capsys.readouterr().out


@pytest.mark.slow
def test_cora_full_batch_gcn_with_adam_reaches_the_published_accuracy(data_root, tmp_path,
                                                                       capsys):
    out = tmp_path / "cora.json"
    assert main(node("--dataset", "cora", "--root", str(data_root), "--model", "gcn",
                     "--optimizer", "adam", "--repeats", "2", "--out", str(out))) == 0
    results = json.loads(out.read_text())
    assert results["complete"] and results["dataset"]["split"] == "planetoid-public"
    summary = results["results"]["adam"]
    # Kipf & Welling report 81.5% on this split; a GCN of this size reaches about 81%
    assert summary["test_mean"] >= 0.795, summary["test_mean"]
    assert [len(s["history"]) for s in summary["seeds"]] == [200, 200]
    assert "cora gcn full-batch adam: test accuracy" in capsys.readouterr().out


def test_sampled_fgsam_plus_run_and_its_checkpoint(data_root, tmp_path):
    out, ckpt = tmp_path / "run.json", tmp_path / "ckpt"
    status = main(node("--dataset", "cora", "--root", str(data_root), "--model", "sage",
                       "--optimizer", "adam,fgsam+", "--repeats", "1", "--epochs", "3",
                       "--batch-size", "32", "--fanout", "5,5", "--eval-every", "2",
                       "--out", str(out), "--save-checkpoint", str(ckpt)))
    assert status == 0
    results = json.loads(out.read_text())
    for name in ("adam", "fgsam+"):
        run = results["results"][name]["seeds"][0]
        assert [("valid" in row) for row in run["history"]] == [False, True, True]
        assert run["seed_nodes_per_second"] > 0 and run["peak_memory_mb"][0] > 0
        assert 0.0 <= run["test"] <= 1.0
        assert (ckpt / name / "seed0" / "model.pt").is_file()
    assert results["config"]["fanout"] == [5, 5]
    # the saved model is the tested one: it gives the recorded test accuracy again
    model, saved = load_node_model(ckpt / "fgsam+" / "seed0")
    graph = NodeGraph.make(load_node_dataset("cora", data_root), "sage", "cpu",
                           normalize_features=saved["normalize_features"])
    logits = layerwise_inference(model, graph.x, graph.edge_index)
    assert graph.accuracy(logits, graph.test_idx) == pytest.approx(
        results["results"]["fgsam+"]["seeds"][0]["test"], abs=1e-9)


@pytest.mark.slow
def test_torchrun_equals_one_process_with_the_batches_of_both(data_root, tmp_path):
    """Every in-edge (fan-out -1), dropout off, synchronised ascent: 2 processes of 35
    seeds per step are 1 process of 70."""
    args = ["-m", "fgsam", "node", "--dataset", "cora", "--root", str(data_root),
            "--optimizer", "adam,sam", "--sync-ascent", "--repeats", "1", "--epochs", "3",
            "--fanout=-1,-1", "--dropout", "0", "--device", "cpu", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    subprocess.run([sys.executable, *args, "--batch-size", "70", "--out", str(one)],
                   check=True, env=env, timeout=300)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc_per_node=2", *args, "--batch-size", "35", "--out", str(two)],
                   check=True, env=env, timeout=300)
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["environment"]["processes"] == 1 and b["environment"]["processes"] == 2
    for name in ("adam", "sam"):
        ha = a["results"][name]["seeds"][0]["history"]
        hb = b["results"][name]["seeds"][0]["history"]
        for ea, eb in zip(ha, hb, strict=True):  # 140 training nodes: 2 steps per epoch
            assert ea["train_loss"] == pytest.approx(eb["train_loss"], abs=1e-5)
            assert ea["valid"] == pytest.approx(eb["valid"], abs=1e-3)
            assert ea["seed_nodes"] == eb["seed_nodes"] == 140


@pytest.mark.parametrize("args, message", [
    (["--fanout", "10,5,5"], "--fanout '10,5,5' has 3 entries for --layers 2"),
    (["--fanout", "10,x"], "--fanout must be comma-separated integers"),
    (["--fanout", "10,0"], "--fanout entries must be positive or -1"),
    (["--features", "f.bin"], "--features (node features from disk) needs --batch-size"),
    (["--scale", "0.5"], "--scale needs --shape"),
    (["--shape", "ogbn-arxiv", "--scale", "1.5"], "--scale must be in (0, 1], got 1.5"),
    (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
    (["--optimizer", "adam,adam"], "--optimizer needs distinct comma-separated names"),
    (["--optimizer", "f2m"], "'f2m' is a training procedure"),
])
def test_bad_arguments_are_one_line_errors(args, message, capsys):
    assert main(node(*args)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_features_file_of_the_wrong_size_is_refused(data_root, tmp_path, capsys):
    path = tmp_path / "features.bin"
    np.zeros((2708 * 3 + 1,), dtype=np.float32).tofile(path)  # one float too many
    assert main(node("--dataset", "cora", "--root", str(data_root), "--batch-size", "32",
                     "--features", str(path), "--epochs", "1", "--repeats", "1")) == 2
    err = capsys.readouterr().err.strip()
    assert "not a whole number of float32 rows for the graph's 2708 nodes" in err
    assert "\n" not in err


def test_features_from_a_memmap_train(data_root, tmp_path):
    dataset = load_node_dataset("cora", data_root)
    path = tmp_path / "features.bin"
    dataset.data.x.numpy().astype(np.float32).tofile(path)
    out = tmp_path / "run.json"
    assert main(node("--dataset", "cora", "--root", str(data_root), "--batch-size", "64",
                     "--features", str(path), "--epochs", "2", "--repeats", "1",
                     "--out", str(out))) == 0
    results = json.loads(out.read_text())
    assert results["dataset"]["features_on_disk"] is True
    assert results["results"]["adam"]["seeds"][0]["history"][-1]["valid"] > 0.2


def test_more_processes_than_training_nodes_is_refused(data_root):
    graph = NodeGraph.make(load_node_dataset("cora", data_root), "gcn", "cpu")
    check_world(graph, DistributedContext(0, 140))
    with pytest.raises(ValueError, match="world size 141 is larger than the 140 training "
                                         "nodes of cora: every process needs at least one"):
        check_world(graph, DistributedContext(0, 141))


def test_default_fanout_follows_the_layers():
    assert parse_fanout(None, 2) == [15, 10]
    assert parse_fanout(None, 4) == [15, 10, 5, 5]
    assert parse_fanout("-1,3", 2) == [-1, 3]


@pytest.mark.parametrize("extra", [[], ["--batch-size", "48", "--fanout=-1,-1"]])
def test_csr_and_edge_list_propagation_train_alike(data_root, tmp_path, extra):
    """Full-batch and sampled (every in-edge, dropout off): the two propagations give the
    same losses and accuracies up to float rounding."""
    runs = {}
    for adjacency in ("csr", "edge-index"):
        out = tmp_path / f"{adjacency}.json"
        assert main(node("--dataset", "citeseer", "--root", str(data_root), "--model", "sage",
                         "--optimizer", "fgsam", "--repeats", "1", "--epochs", "3",
                         "--dropout", "0", "--adjacency", adjacency, "--out", str(out),
                         *extra)) == 0
        runs[adjacency] = json.loads(out.read_text())["results"]["fgsam"]["seeds"][0]
    assert runs["csr"]["adjacency"] == "csr" and runs["edge-index"]["adjacency"] == "edge-index"
    for a, b in zip(runs["csr"]["history"], runs["edge-index"]["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["valid"] == pytest.approx(b["valid"], abs=2e-3)


def test_log_dir_holds_each_runs_epochs_as_csv_and_tensorboard_events(data_root, tmp_path):
    import csv

    logs = tmp_path / "logs"
    assert main(node("--dataset", "cora", "--root", str(data_root), "--optimizer",
                     "adam,fgsam+", "--repeats", "1", "--epochs", "4", "--eval-every", "2",
                     "--log-dir", str(logs))) == 0
    rows = list(csv.DictReader((logs / "fgsam+-seed0.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["valid"] == "" and 0.0 <= float(rows[1]["valid"]) <= 1.0
    assert float(rows[3]["train_loss"]) > 0
    # tensorboard is part of the test extra: its event files are there too
    assert list((logs / "adam-seed0").glob("events.out.tfevents.*"))


def test_a_log_dir_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    assert main(node("--log-dir", str(path))) == 2
    err = capsys.readouterr().err.strip()
    assert f"--log-dir {str(path)!r} is a file; give a folder" in err and "\n" not in err
