"""Top Hessian eigenvalues against exact spectra (docs/algorithms.md §5 oracles)."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from fgsam.sharpness import HessianOperator, hessian_eigenvalues

METHODS = ["power", "lanczos"]
TIGHT = {"tol": 1e-7, "iters": 2000}


def close(actual, expected):
    # 1e-4 relative; eigenvalues that are exactly 0 are judged against the largest.
    assert_close(actual, expected, rtol=1e-4, atol=1e-10 * float(expected.abs().max()))


@pytest.mark.parametrize("method", METHODS)
def test_top_eigenvalues_match_the_exact_spectrum(problem, method):
    k = min(3, problem.eigenvalues.numel())
    values = hessian_eigenvalues(problem.closure, problem.params, k=k, method=method, **TIGHT)
    close(values, problem.eigenvalues[:k])


@pytest.mark.parametrize("method", METHODS)
def test_default_settings_give_lambda_max_to_1e4(problem, method):
    values = hessian_eigenvalues(problem.closure, problem.params, method=method)
    close(values, problem.eigenvalues[:1])


def test_scalar_chain_closed_form():
    # ½(w1 w2 w3 − m)² at m = w1 w2 w3: λ_max = (w2 w3)² + (w1 w3)² + (w1 w2)².
    w = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, -0.5, 3.0)]
    m = 2.0 * -0.5 * 3.0
    exact = (-0.5 * 3.0) ** 2 + (2.0 * 3.0) ** 2 + (2.0 * -0.5) ** 2
    for method in METHODS:
        values = hessian_eigenvalues(lambda: 0.5 * (w[0] * w[1] * w[2] - m) ** 2, w, k=2,
                                     method=method, **TIGHT)
        assert_close(values, torch.tensor([exact, 0.0], dtype=torch.float64), rtol=1e-10,
                     atol=1e-10)


def indefinite(spectrum):
    gen = torch.Generator().manual_seed(3)
    q, _ = torch.linalg.qr(torch.randn(len(spectrum), len(spectrum), generator=gen,
                                       dtype=torch.float64))
    a = q @ torch.diag(torch.tensor(spectrum, dtype=torch.float64)) @ q.T
    w = torch.zeros(len(spectrum), dtype=torch.float64, requires_grad=True)
    return (lambda: 0.5 * w @ a @ w), w


@pytest.mark.parametrize("method", METHODS)
def test_largest_algebraic_is_not_largest_magnitude(method):
    closure, w = indefinite([3.0, 1.0, 0.5, -2.0, -9.0])
    la = hessian_eigenvalues(closure, [w], k=3, method=method, **TIGHT)
    assert_close(la, torch.tensor([3.0, 1.0, 0.5], dtype=torch.float64), rtol=1e-8, atol=1e-8)
    lm = hessian_eigenvalues(closure, [w], k=3, method=method, which="LM", **TIGHT)
    assert_close(lm, torch.tensor([-9.0, 3.0, -2.0], dtype=torch.float64), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_repeated_top_eigenvalue_is_returned_twice(method):
    closure, w = indefinite([4.0, 4.0, 1.0, 0.5, 0.25, 0.0])
    values = hessian_eigenvalues(closure, [w], k=3, method=method, **TIGHT)
    assert_close(values, torch.tensor([4.0, 4.0, 1.0], dtype=torch.float64), rtol=1e-8,
                 atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_eigenvectors_satisfy_the_eigen_equation(problem, method):
    values, vectors = hessian_eigenvalues(problem.closure, problem.params, k=2, method=method,
                                          eigenvectors=True, **TIGHT)
    hessian = HessianOperator(problem.closure, problem.params)
    assert vectors.shape == (hessian.numel, 2)
    assert_close(vectors.T @ vectors, torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-8)
    scale = float(values.abs().max())
    for i in range(2):
        assert_close(hessian(vectors[:, i]), values[i] * vectors[:, i], rtol=0, atol=1e-6 * scale)


def test_two_layer_network_in_float32_matches_float64():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, generator=gen), torch.randn(16, 1, generator=gen)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    exact = {}
    for dtype in (torch.float64, torch.float32):
        model.to(dtype)
        values = hessian_eigenvalues(
            lambda: torch.nn.functional.mse_loss(model(x.to(dtype)), y.to(dtype)),  # noqa: B023
            model.parameters(), k=2, method="lanczos", tol=1e-6,
        )
        assert values.dtype == dtype
        exact[dtype] = values
    assert_close(exact[torch.float32].double(), exact[torch.float64], rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore:hessian_eigenvalues")
def test_same_seed_same_numbers_and_global_rng_untouched():
    closure, w = indefinite([3.0, 2.5, 1.0, -1.0])
    state = torch.get_rng_state()
    # Three iterations: the result still depends on the random start.
    a = hessian_eigenvalues(closure, [w], iters=3, tol=1e-12, generator=7)
    b = hessian_eigenvalues(closure, [w], iters=3, tol=1e-12,
                            generator=torch.Generator().manual_seed(7))
    c = hessian_eigenvalues(closure, [w], iters=3, tol=1e-12, generator=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)


def test_warns_when_iterations_run_out():
    closure, w = indefinite([1.0, 0.999, 0.5, 0.1])
    with pytest.warns(RuntimeWarning, match="raise iters"):
        hessian_eigenvalues(closure, [w], iters=3, tol=1e-12)


def test_weights_and_grads_untouched(problem):
    before = [p.detach().clone() for p in problem.params]
    hessian_eigenvalues(problem.closure, problem.params, k=2, method="lanczos")
    assert all(torch.equal(p, b) for p, b in zip(problem.params, before))
    assert all(p.grad is None for p in problem.params)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be an integer >= 1, got 0"),
        ({"k": 11}, r"k must be at most the number of parameter entries \(10\), got 11"),
        ({"method": "arnoldi"}, "method must be one of 'power', 'lanczos', got 'arnoldi'"),
        ({"which": "SA"}, "which must be one of 'LA', 'LM', got 'SA'"),
        ({"iters": 0}, "iters must be an integer >= 1"),
        ({"tol": 0.0}, r"tol must be in \(0.0, inf\), got 0.0"),
        ({"method": "lanczos", "k": 3, "iters": 2}, "iters must be at least k=3"),
        ({"generator": 1.5}, "generator must be an int seed, a torch.Generator or None"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    w = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        hessian_eigenvalues(lambda: (w**2).sum(), [w], **kwargs)
