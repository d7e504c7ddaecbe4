"""Few-shot node classification: episodes, the episodic sampler and fixed task pools."""

from fgsam.fewshot.episode import Episode
from fgsam.fewshot.sampler import EpisodeSampler, derive_seed, task_pool

__all__ = ["Episode", "EpisodeSampler", "derive_seed", "task_pool"]
