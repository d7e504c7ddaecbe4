"""``fgsam sharpness`` end to end on a few-shot model trained and saved in the test."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fgsam import typing as fgsam_typing
from fgsam.cli import main

TINY = ["--tasks", "2", "--k", "3", "--trace-samples", "6", "--noise-samples", "4",
        "--ascent-steps", "4", "--landscape-steps", "5", "--quiet"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # Small tensors on a shared runner: extra threads only wait for each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """GPN trained for a few episodes on Cora with SAM, saved by ``fgsam fsnc``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("fsnc") / "gpn-sam"
    status = main(["fsnc", "--dataset", "cora", "--method", "gpn", "--optimizer", "sam",
                   "--episodes", "6", "--val-every", "3", "--val-tasks", "2", "--test-tasks",
                   "2", "--repeats", "1", "--root", str(data_root), "--quiet",
                   "--save-checkpoint", str(folder)])
    torch.set_num_threads(threads)
    assert status == 0
    return folder


def sharpness(checkpoint: Path, out: Path, *extra: str) -> dict:
    status = main(["sharpness", "--checkpoint", str(checkpoint), "--out", str(out), *TINY,
                   *extra])
    assert status == 0
    return json.loads(out.read_text(encoding="utf-8"))


def numbers(result: dict) -> dict:
    """Every measured number of a result (not the timings)."""
    return {k: result[k] for k in ("loss", "eigenvalues", "trace", "rho_sharpness",
                                   "landscape")}


def test_measures_a_saved_model_and_writes_json_and_plots(checkpoint, tmp_path, capsys):
    weights = (checkpoint / "model.pt").read_bytes()
    result = sharpness(checkpoint, tmp_path / "s.json", "--rho", "0.05", "0.1",
                       "--plots", str(tmp_path / "plots"))
    assert (checkpoint / "model.pt").read_bytes() == weights

    assert result["checkpoint"]["kind"] == "fsnc"
    assert result["checkpoint"]["config"]["optimizer"] == "sam"
    assert result["configuration"]["tasks"] == 2
    assert result["loss"]["parts"] == 2 and "eval mode" in result["loss"]["mode"]
    assert math.isfinite(result["loss"]["value"]) and result["loss"]["value"] > 0

    eig = result["eigenvalues"]["values"]
    assert len(eig) == 3 and all(map(math.isfinite, eig))
    assert eig[0] >= eig[1] >= eig[2]
    assert eig[0] > 0  # a trained cross-entropy has positive top curvature

    trace = result["trace"]
    assert trace["samples"] == 6 and math.isfinite(trace["value"]) and trace["stderr"] >= 0

    assert [r["rho"] for r in result["rho_sharpness"]] == [0.05, 0.1]
    for record in result["rho_sharpness"]:
        assert record["worst"]["value"] >= 0 and math.isfinite(record["worst"]["value"])
        assert math.isfinite(record["average"]["value"])
        assert record["average"]["samples"] == 4
    # A larger ball holds a higher worst-case loss (both found by ascent from the gradient).
    assert result["rho_sharpness"][1]["worst"]["value"] >= \
        result["rho_sharpness"][0]["worst"]["value"]

    land = result["landscape"]
    values = torch.tensor(land["values"], dtype=torch.float64)
    assert land["dims"] == 2 and values.shape == (5, 5)
    assert torch.isfinite(values).all()
    assert values[2, 2].item() == pytest.approx(result["loss"]["value"], rel=1e-6)
    assert values.max() > values.min()  # the weights really moved

    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary == result["summary"]
    assert summary.startswith(f"λ_max {eig[0]:.4g} · trace ")
    assert "0.05-sharpness" in summary and "0.1-sharpness" in summary

    import matplotlib.image

    for name in ("landscape", "spectrum"):
        path = Path(result["plots"][name])
        assert path == tmp_path / "plots" / f"{name}.png"
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture(scope="module")
def line(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A float32 measurement with a 1-D landscape."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    result = sharpness(checkpoint, tmp_path_factory.mktemp("line") / "s.json", "--dims", "1")
    torch.set_num_threads(threads)
    return result


def test_same_seed_same_numbers_other_seed_other_vectors(checkpoint, tmp_path, line):
    assert len(line["landscape"]["values"]) == 5  # a 1-D line
    again = sharpness(checkpoint, tmp_path / "a.json", "--dims", "1")
    assert numbers(again) == numbers(line)
    other = sharpness(checkpoint, tmp_path / "b.json", "--dims", "1", "--seed", "1")
    assert other["loss"] == line["loss"]  # the same training tasks
    assert other["trace"]["value"] != line["trace"]["value"]  # other probe vectors
    assert other["eigenvalues"]["values"][0] == pytest.approx(
        line["eigenvalues"]["values"][0], rel=1e-3)


def test_unconverged_eigenvalues_are_flagged(checkpoint, tmp_path, capsys):
    result = sharpness(checkpoint, tmp_path / "s.json", "--method", "power", "--k", "1",
                       "--iters", "2", "--dims", "1")
    assert result["eigenvalues"]["method"] == "power"
    assert result["eigenvalues"]["converged"] is False
    assert "did not reach the relative residual" in capsys.readouterr().err


def test_float64_agrees_with_float32(checkpoint, tmp_path, line):
    double = sharpness(checkpoint, tmp_path / "b.json", "--dims", "1", "--k", "1",
                       "--dtype", "float64")
    assert line["loss"]["dtype"] == "float32" and double["loss"]["dtype"] == "float64"
    assert double["loss"]["value"] == pytest.approx(line["loss"]["value"], rel=1e-5)
    assert double["eigenvalues"]["values"][0] == pytest.approx(
        line["eigenvalues"]["values"][0], rel=1e-2)


@pytest.mark.parametrize("missing", ["config.json", "model.pt"])
def test_incomplete_checkpoint_names_the_files(checkpoint, tmp_path, capsys, missing):
    folder = tmp_path / "ckpt"
    shutil.copytree(checkpoint, folder)
    (folder / missing).unlink()
    out = tmp_path / "s.json"
    assert main(["sharpness", "--checkpoint", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{missing} not found" in err and "config.json" in err and "model.pt" in err
    assert not out.exists()


def test_missing_folder_names_the_files(tmp_path, capsys):
    assert main(["sharpness", "--checkpoint", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "config.json" in err and "model.pt" in err


def test_unknown_checkpoint_kind(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"dataset": "cora"}', encoding="utf-8")
    (tmp_path / "model.pt").write_bytes(b"")
    assert main(["sharpness", "--checkpoint", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "n_way" in err and "num_tasks" in err


def test_plots_without_matplotlib_fail_before_measuring(checkpoint, tmp_path, capsys,
                                                        monkeypatch):
    monkeypatch.setattr(fgsam_typing, "WITH_MATPLOTLIB", False)
    out = tmp_path / "s.json"
    status = main(["sharpness", "--checkpoint", str(checkpoint), "--out", str(out),
                   "--plots", str(tmp_path / "plots")])
    assert status == 2
    assert "fgsam[plot]" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "plots").exists()


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--trace-samples", "1", "--trace-samples must be at least 2"),
    ("--noise-samples", "1", "--noise-samples must be at least 2"),
    ("--landscape-span", "0", "--landscape-span must be > 0"),
    ("--rho", "-0.1", "--rho values must be >= 0"),
])
def test_bad_values_are_named(checkpoint, tmp_path, capsys, flag, value, message):
    status = main(["sharpness", "--checkpoint", str(checkpoint), "--out",
                   str(tmp_path / "s.json"), flag, value])
    assert status == 2
    assert message in capsys.readouterr().err


def test_non_positive_counts_are_refused_by_the_parser(checkpoint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sharpness", "--checkpoint", str(checkpoint), "--tasks", "0"])
    assert exit_info.value.code == 2
    assert "--tasks" in capsys.readouterr().err


def test_measures_a_saved_molecule_model(data_root, tmp_path):
    folder = tmp_path / "gin"
    status = main(["mol", "--dataset", "ogbg-molfreesolv", "--model", "gin", "--optimizer",
                   "adam", "--max-molecules", "60", "--epochs", "1", "--seeds", "1", "--hidden",
                   "8", "--layers", "1", "--batch-size", "16", "--root", str(data_root),
                   "--cache-dir", str(tmp_path / "cache"), "--no-progress",
                   "--save-checkpoint", str(folder)])
    assert status == 0
    result = sharpness(folder, tmp_path / "s.json", "--dims", "1")
    assert result["checkpoint"]["kind"] == "mol"
    assert "training batches of 16 molecules" in result["loss"]["over"]
    eig = result["eigenvalues"]["values"]
    assert all(map(math.isfinite, eig)) and eig[0] >= eig[1] >= eig[2]
    assert math.isfinite(result["trace"]["value"])
    assert result["rho_sharpness"][0]["worst"]["value"] >= 0
