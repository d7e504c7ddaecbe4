"""PNG plots of landscapes and spectra."""

from __future__ import annotations

import pytest
import torch
from matplotlib import image

from fgsam.sharpness import loss_landscape, plot_landscape, plot_spectrum
from fgsam.sharpness import plot as plot_module


def landscape(dims: int):
    w = torch.nn.Parameter(torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64))
    return loss_landscape(lambda: ((w - 1.0) ** 2).sum() + torch.exp(w).sum(), [w], steps=9,
                          dims=dims)


def decoded(path):
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(pixels[..., :3].std()) > 0  # something was drawn
    return pixels


@pytest.mark.parametrize("dims", [1, 2])
def test_landscape_png_exists_and_decodes_with_no_leftovers(tmp_path, dims):
    path = tmp_path / f"landscape{dims}.png"
    assert plot_landscape(landscape(dims), path, title="test") == path
    decoded(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_non_finite_values_are_left_blank(tmp_path):
    land = landscape(2)
    land.values[0, 0] = float("inf")
    land.values[1, 1] = float("nan")
    decoded(plot_landscape(land, tmp_path / "gaps.png"))


def test_spectrum_png(tmp_path):
    path = plot_spectrum(torch.tensor([5.0, 2.0, -0.5]), tmp_path / "spectrum.png")
    decoded(path)
    with pytest.raises(ValueError, match="at least one value"):
        plot_spectrum([], tmp_path / "empty.png")


def test_missing_folder_and_wrong_input_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plot_landscape(landscape(1), tmp_path / "nowhere" / "x.png")
    with pytest.raises(ValueError, match="landscape must be a Landscape"):
        plot_landscape({"values": []}, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_the_error_names_the_plot_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(plot_module.fgsam_typing, "WITH_MATPLOTLIB", False)
    with pytest.raises(ImportError, match=r"fgsam\[plot\]"):
        plot_spectrum([1.0], tmp_path / "s.png")
