"""Episode: the task record methods and trainers consume."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fgsam.fewshot import Episode


def _episode() -> Episode:
    return Episode(classes=torch.tensor([4, 1]), support=torch.tensor([10, 11, 20, 21]),
                   query=torch.tensor([12, 13, 14, 22, 23, 24]),
                   support_y=torch.tensor([0, 0, 1, 1]), query_y=torch.tensor([0, 0, 0, 1, 1, 1]))


def test_shape_properties_and_nodes() -> None:
    episode = _episode()
    assert (episode.n_way, episode.k_shot, episode.q_query) == (2, 2, 3)
    assert episode.nodes.tolist() == [10, 11, 20, 21, 12, 13, 14, 22, 23, 24]
    assert repr(episode) == "Episode(2-way 2-shot 3-query, classes=[4, 1])"


def test_to_moves_every_tensor_and_episode_is_immutable() -> None:
    moved = _episode().to("cpu")
    assert all(getattr(moved, f.name).device.type == "cpu" for f in dataclasses.fields(moved))
    assert torch.equal(moved.query, _episode().query)
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.classes = torch.tensor([0])
