"""EpisodeSampler and task pools: task structure, seeding, and clear errors."""

from __future__ import annotations

import hashlib
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fgsam.data import ClassSplit
from fgsam.fewshot import Episode, EpisodeSampler, derive_seed, task_pool


def _labels(sizes: list[int], unlabelled: int = 0) -> torch.Tensor:
    y = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)] + [torch.full((unlabelled,),
                                                                                   -1)])
    return y[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(7))]


def _check(episode: Episode, y: torch.Tensor, classes: list[int], n: int, k: int, q: int) -> None:
    assert episode.classes.numel() == n and len(set(episode.classes.tolist())) == n
    assert set(episode.classes.tolist()) <= set(classes)
    assert episode.support.shape == (n * k,) and episode.query.shape == (n * q,)
    assert not set(episode.support.tolist()) & set(episode.query.tolist())
    assert len(set(episode.nodes.tolist())) == n * (k + q)  # no node twice
    ways = torch.arange(n)
    assert torch.equal(episode.support_y, ways.repeat_interleave(k))  # class-major
    assert torch.equal(episode.query_y, ways.repeat_interleave(q))
    assert torch.equal(y[episode.support], episode.classes[episode.support_y])
    assert torch.equal(y[episode.query], episode.classes[episode.query_y])
    for t in (episode.classes, episode.support, episode.query, episode.support_y,
              episode.query_y):
        assert t.dtype == torch.long


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_task_has_the_requested_structure(data) -> None:
    k = data.draw(st.integers(1, 5), label="k")
    q = data.draw(st.integers(1, 6), label="q")
    sizes = data.draw(st.lists(st.integers(k + q, k + q + 8), min_size=2, max_size=8))
    y = _labels(sizes, unlabelled=data.draw(st.integers(0, 5)))
    classes = data.draw(st.lists(st.sampled_from(range(len(sizes))), min_size=1, unique=True))
    n = data.draw(st.integers(1, len(classes)), label="n")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    sampler = EpisodeSampler(y, classes, n, k, q, generator=seed)
    for episode in sampler.sample_tasks(3):
        _check(episode, y, classes, n, k, q)


def test_same_seed_same_tasks_and_global_rng_untouched() -> None:
    y = _labels([20, 15, 30, 12, 18])
    state = torch.random.get_rng_state()
    a = EpisodeSampler(y, [0, 1, 2, 3, 4], 3, 2, 5, generator=11).sample_tasks(10)
    b = EpisodeSampler(y, [0, 1, 2, 3, 4], 3, 2, 5, generator=11).sample_tasks(10)
    c = EpisodeSampler(y, [0, 1, 2, 3, 4], 3, 2, 5, generator=12).sample_tasks(10)
    assert torch.equal(torch.random.get_rng_state(), state)
    for x, z in zip(a, b):
        assert all(torch.equal(getattr(x, f), getattr(z, f))
                   for f in ("classes", "support", "query", "support_y", "query_y"))
    assert any(not torch.equal(x.support, z.support) for x, z in zip(a, c))
    default = EpisodeSampler(y, [0, 1, 2, 3, 4], 3, 2, 5).sample()
    assert torch.equal(default.query, EpisodeSampler(y, [0, 1, 2, 3, 4], 3, 2, 5,
                                                     generator=0).sample().query)


def test_generator_object_state_and_iteration() -> None:
    y = _labels([9, 9, 9])
    gen = torch.Generator().manual_seed(5)
    sampler = EpisodeSampler(y, [0, 1, 2], 2, 1, 3, generator=gen)
    assert sampler.generator is gen
    sampler.sample()
    state = sampler.get_state()
    first = sampler.sample()
    sampler.set_state(state)
    assert torch.equal(sampler.sample().query, first.query)
    tasks = list(itertools.islice(sampler, 4))
    assert len(tasks) == 4 and all(isinstance(t, Episode) for t in tasks)
    assert repr(sampler) == "EpisodeSampler(2-way 1-shot 3-query, classes=[0, 1, 2])"


def test_every_class_and_node_is_reachable() -> None:
    y = _labels([6, 6, 6, 6])
    sampler = EpisodeSampler(y, [1, 2, 3], 2, 2, 2, generator=0)
    tasks = sampler.sample_tasks(200)
    assert {c for t in tasks for c in t.classes.tolist()} == {1, 2, 3}
    seen = {n for t in tasks for n in t.nodes.tolist()}
    assert seen == set((y >= 1).nonzero().reshape(-1).tolist())
    first_way = [t.classes[0].item() for t in tasks]
    assert min(first_way.count(c) for c in (1, 2, 3)) > 40  # roughly uniform over classes


def test_too_many_ways_names_the_counts() -> None:
    y = _labels([20, 20, 20])
    with pytest.raises(ValueError, match=r"n_way=4 but only 3 classes are available"):
        EpisodeSampler(y, [0, 1, 2], 4, 1, 1)


def test_small_class_names_class_and_count() -> None:
    y = _labels([20, 7, 20])
    with pytest.raises(ValueError) as err:
        EpisodeSampler(y, [0, 1, 2], 2, 3, 5)
    message = str(err.value)
    assert "class 1 has 7 nodes" in message and "needs 8" in message
    assert "ClassSplit.feasible(y, min_nodes=8)" in message
    usable, dropped = ClassSplit([0, 1, 2], [], []).feasible(y, 8)
    assert dropped["train"] == {1: 7}
    EpisodeSampler(y, usable.train, 2, 3, 5)  # feasible once the small class is dropped


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_way": 0}, "n_way must be a positive int"),
    ({"k_shot": 1.5}, "k_shot must be a positive int"),
    ({"q_query": True}, "q_query must be a positive int"),
    ({"generator": "seed"}, "generator must be an int seed"),
    ({"classes": [0, 0]}, "duplicates"),
    ({"y": torch.zeros(4, 2, dtype=torch.long)}, "1-D integer tensor"),
    ({"y": torch.zeros(40)}, "1-D integer tensor"),
])
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"y": _labels([20, 20]), "classes": [0, 1], "n_way": 2, "k_shot": 1, "q_query": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        EpisodeSampler(**args)


def test_task_pools_do_not_depend_on_training_draws() -> None:
    y = _labels([15] * 8)
    split = ClassSplit([0, 1, 2, 3], [4, 5], [6, 7])
    pool = task_pool(y, split.test, 2, 3, 5, num_tasks=20, seed=0)
    train = EpisodeSampler(y, split.train, 2, 3, 5, generator=derive_seed(0, "train"))
    train.sample_tasks(57)
    torch.manual_seed(123)
    torch.rand(10)
    again = task_pool(y, split.test, 2, 3, 5, num_tasks=20, seed=0)
    assert all(torch.equal(a.query, b.query) and torch.equal(a.classes, b.classes)
               for a, b in zip(pool, again))
    other = task_pool(y, split.test, 2, 3, 5, num_tasks=20, seed=1)
    assert any(not torch.equal(a.query, b.query) for a, b in zip(pool, other))
    val = task_pool(y, split.val, 2, 3, 5, num_tasks=20, seed=0, stream="val")
    assert all(set(t.classes.tolist()) == {4, 5} for t in val)


def test_derive_seed_streams() -> None:
    expected = int.from_bytes(hashlib.sha256(b"3/val").digest()[:8], "little") & (2**63 - 1)
    assert derive_seed(3, "val") == expected
    seeds = {derive_seed(s, name) for s in range(5) for name in ("train", "val", "test")}
    assert len(seeds) == 15
    with pytest.raises(ValueError, match="seed must be an int"):
        derive_seed("0", "val")
