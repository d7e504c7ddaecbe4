"""Shared pieces: parameter checks, seeded noise, exact restores."""

from __future__ import annotations

import pytest
import torch

from fgsam.sharpness.common import (
    check_params,
    evaluate,
    gaussian_like,
    make_generator,
    restored,
)


def test_check_params_accepts_a_module_generator_and_names_bad_entries():
    model = torch.nn.Linear(2, 3)
    assert check_params(model.parameters()) == list(model.parameters())
    w = torch.zeros(2, requires_grad=True)
    assert check_params(w) == [w]
    with pytest.raises(ValueError, match="at least one tensor"):
        check_params([])
    with pytest.raises(ValueError, match=r"params\[1\] must be a floating-point tensor, got a "
                                         r"torch.int64 tensor"):
        check_params([w, torch.zeros(2, dtype=torch.long)])
    with pytest.raises(ValueError, match=r"params\[1\] \(shape \(2,\)\) appears twice"):
        check_params([w, w])
    with pytest.raises(ValueError, match="iterable of tensors"):
        check_params(3)
    assert check_params([torch.zeros(2)], requires_grad=False)


def test_generators_seed_and_noise_is_reproducible():
    like = [torch.zeros(2, 3, dtype=torch.float64), torch.zeros(4)]
    a = gaussian_like(like, make_generator(11), std=2.0)
    b = gaussian_like(like, make_generator(torch.Generator().manual_seed(11)), std=2.0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert [x.dtype for x in a] == [torch.float64, torch.float32]
    default = gaussian_like(like, make_generator(None))
    seed0 = gaussian_like(like, make_generator(0))
    assert all(torch.equal(x, y) for x, y in zip(default, seed0))
    with pytest.raises(ValueError, match="generator must be an int seed"):
        make_generator(True)


def test_restored_copies_back_even_on_error():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    with pytest.raises(KeyError), restored([w]):
        with torch.no_grad():
            w.add_(5.0)
        raise KeyError("x")
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0]))


def test_evaluate_requires_a_one_element_float_tensor():
    assert evaluate(lambda: torch.tensor([[2.0]])).shape == ()
    for bad in (lambda: 1.0, lambda: torch.ones(2), lambda: torch.tensor(1)):
        with pytest.raises(ValueError, match="must return the loss as a one-element"):
            evaluate(bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_noise_follows_the_parameters_device_with_cpu_seeds():
    like = [torch.zeros(3, device="cuda")]
    noise = gaussian_like(like, make_generator(4))
    assert noise[0].device.type == "cuda"
    assert torch.equal(noise[0].cpu(), gaussian_like([torch.zeros(3)], make_generator(4))[0])
