"""Few-shot node classification: episodes, the episodic sampler and fixed task pools, the
methods (ProtoNet, GPN, MetaGNN, TENT), a run's settings, the episodic trainer and saved
checkpoints."""

from fgsam.fewshot.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from fgsam.fewshot.config import FSNCConfig
from fgsam.fewshot.encoder import GCNEncoder
from fgsam.fewshot.episode import Episode
from fgsam.fewshot.features import normalize_features
from fgsam.fewshot.gpn import GPN
from fgsam.fewshot.meta_gnn import MetaGNN
from fgsam.fewshot.method import FewShotMethod
from fgsam.fewshot.method_registry import METHODS, create_method, default_episodes
from fgsam.fewshot.protonet import ProtoNet
from fgsam.fewshot.results import FSNCResult, RepeatResult, mean_and_ci95
from fgsam.fewshot.sampler import EpisodeSampler, derive_seed, task_pool
from fgsam.fewshot.tent import TENT
from fgsam.fewshot.trainer import EpisodicTrainer

__all__ = [
    "GPN",
    "METHODS",
    "TENT",
    "Checkpoint",
    "Episode",
    "EpisodeSampler",
    "EpisodicTrainer",
    "FSNCConfig",
    "FSNCResult",
    "FewShotMethod",
    "GCNEncoder",
    "MetaGNN",
    "ProtoNet",
    "RepeatResult",
    "create_method",
    "default_episodes",
    "derive_seed",
    "load_checkpoint",
    "mean_and_ci95",
    "normalize_features",
    "save_checkpoint",
    "task_pool",
]
