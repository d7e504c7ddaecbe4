"""Episodic task sampling: N-way K-shot tasks drawn with the sampler's own generator."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from fgsam.fewshot.episode import Episode


class EpisodeSampler:
    r"""Episodic N-way K-shot task sampling as in `"Graph Prototypical Networks for Few-shot
    Learning on Attributed Networks" <https://arxiv.org/abs/2006.12739>`_ (Ding et al.,
    CIKM 2020) and `TENT <https://arxiv.org/abs/2206.11972>`_ (Wang et al., KDD 2022).

    .. math::
        (c_1, \dots, c_N) \sim \mathrm{Uniform}\{\text{ordered } N\text{-subsets of }
        \mathcal{C}\}, \qquad
        \mathcal{S}_i \cup \mathcal{Q}_i \sim \mathrm{Uniform}\{(K+Q)\text{-subsets of }
        \{v : y_v = c_i\}\},

    with :math:`|\mathcal{S}_i| = K` support and :math:`|\mathcal{Q}_i| = Q` query nodes
    of class :math:`c_i`, relabelled :math:`i - 1`. Labels are therefore ``0..N-1`` in the
    order of :attr:`Episode.classes`, support and query are disjoint. All randomness comes
    from the sampler's own ``torch.Generator``, never the global RNG: the same seed gives
    the same tasks.

    Args:
        y (torch.Tensor): node labels ``[N]`` (negative values: unlabelled, never sampled).
        classes (sequence of int): the classes tasks may use (e.g. ``split.train``).
        n_way (int): classes per task.
        k_shot (int): support nodes per class.
        q_query (int): query nodes per class.
        generator (int or torch.Generator, optional): a seed, or a generator the sampler
            uses (and advances) as is. ``None`` means seed ``0``. (default: ``None``)

    Example:
        >>> data, split = load_graph("cora")
        >>> sampler = EpisodeSampler(data.y, split.train, n_way=2, k_shot=3, q_query=10,
        ...                          generator=derive_seed(0, "train"))
        >>> episode = sampler.sample()
        >>> episode.support.shape, episode.query.shape
        (torch.Size([6]), torch.Size([20]))
    """

    def __init__(self, y: Tensor, classes: Sequence[int], n_way: int, k_shot: int,
                 q_query: int, generator: int | torch.Generator | None = None) -> None:
        for arg, value in (("n_way", n_way), ("k_shot", k_shot), ("q_query", q_query)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg} must be a positive int, got {value!r}")
        y = torch.as_tensor(y)
        if y.dim() != 1 or y.is_floating_point() or y.is_complex():
            raise ValueError(f"y must be a 1-D integer tensor of labels, got dtype {y.dtype} "
                             f"and shape {tuple(y.shape)}")
        class_list = [int(c) for c in classes]
        if len(set(class_list)) != len(class_list):
            raise ValueError(f"classes has duplicates: {class_list}")
        if n_way > len(class_list):
            raise ValueError(f"n_way={n_way} but only {len(class_list)} classes are available "
                             f"({class_list}): ask for at most {len(class_list)} ways")
        self.n_way, self.k_shot, self.q_query = n_way, k_shot, q_query
        self.classes = class_list
        self.device = y.device
        labels = y.detach().cpu()
        self._nodes: list[Tensor] = []
        need = k_shot + q_query
        for c in class_list:
            nodes = (labels == c).nonzero().reshape(-1)
            if nodes.numel() < need:
                raise ValueError(
                    f"class {c} has {nodes.numel()} nodes, but a {k_shot}-shot task with "
                    f"{q_query} queries needs {need} per class; drop such classes first "
                    f"(ClassSplit.feasible(y, min_nodes={need}) does and reports them)")
            self._nodes.append(nodes)
        self.generator = _as_generator(generator)

    def sample(self) -> Episode:
        """One task: ``n_way`` classes, ``k_shot`` support and ``q_query`` query nodes each."""
        gen = self.generator
        picked = torch.randperm(len(self.classes), generator=gen)[: self.n_way].tolist()
        support, query = [], []
        for i in picked:
            nodes = self._nodes[i]
            chosen = nodes[torch.randperm(nodes.numel(), generator=gen)[: self.k_shot
                                                                        + self.q_query]]
            support.append(chosen[: self.k_shot])
            query.append(chosen[self.k_shot:])
        ways = torch.arange(self.n_way)
        episode = Episode(
            classes=torch.tensor([self.classes[i] for i in picked]),
            support=torch.cat(support),
            query=torch.cat(query),
            support_y=ways.repeat_interleave(self.k_shot),
            query_y=ways.repeat_interleave(self.q_query),
        )
        return episode if self.device.type == "cpu" else episode.to(self.device)

    def sample_tasks(self, n: int) -> list[Episode]:
        """``n`` tasks in sequence."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be a non-negative int, got {n!r}")
        return [self.sample() for _ in range(n)]

    def __iter__(self) -> Iterator[Episode]:
        """An endless stream of tasks (take as many as needed, e.g. ``itertools.islice``)."""
        while True:
            yield self.sample()

    def get_state(self) -> Tensor:
        """The generator state, to resume the exact task sequence with :meth:`set_state`."""
        return self.generator.get_state()

    def set_state(self, state: Tensor) -> None:
        """Restore a state from :meth:`get_state`."""
        self.generator.set_state(state)

    def __repr__(self) -> str:
        return (f"EpisodeSampler({self.n_way}-way {self.k_shot}-shot {self.q_query}-query, "
                f"classes={self.classes})")


def derive_seed(seed: int, stream: str) -> int:
    """A seed for one named random stream (``"train"``, ``"val"``, ``"test/2"``, ...).

    Derived from ``seed`` and ``stream`` by hashing, so streams are independent of each
    other and of how many tasks another stream drew: the validation and test pools of a
    seed are the same whatever training does.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    digest = hashlib.sha256(f"{seed}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def task_pool(y: Tensor, classes: Sequence[int], n_way: int, k_shot: int, q_query: int,
              num_tasks: int, seed: int, stream: str = "test") -> list[Episode]:
    """A fixed pool of ``num_tasks`` tasks for validation or testing.

    The pool depends only on ``(y, classes, n_way, k_shot, q_query, seed, stream)``: it is
    drawn with its own generator seeded with ``derive_seed(seed, stream)``, so the same seed
    gives the same validation (``stream="val"``) and test (``stream="test"``) tasks
    regardless of training randomness. Use ``stream=f"test/{repeat}"`` for fresh pools per
    repeat.
    """
    sampler = EpisodeSampler(y, classes, n_way, k_shot, q_query,
                             generator=derive_seed(seed, stream))
    return sampler.sample_tasks(num_tasks)


def _as_generator(generator: int | torch.Generator | None) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if isinstance(generator, torch.Generator):
        if generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator (sampling runs on the "
                             f"CPU), got one on {generator.device}")
        return generator
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise ValueError(f"generator must be an int seed, a torch.Generator or None, got "
                         f"{type(generator).__name__}")
    return torch.Generator().manual_seed(generator)


__all__ = ["EpisodeSampler", "derive_seed", "task_pool"]
