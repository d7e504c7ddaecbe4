"""The settings of a few-shot run (:class:`FSNCConfig`), resolved and checked once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fgsam.fewshot.method import FEATURE_LAYOUTS, PERTURB
from fgsam.fewshot.method_registry import default_episodes, method_name
from fgsam.nn.adjacency import ADJACENCIES
from fgsam.optim.registry import optimizer_arguments
from fgsam.optim.swad import WEIGHT_AVERAGES, check_swad_options

#: The settings :class:`~fgsam.fewshot.EpisodicTrainer` runs by and records in its
#: ``config()``, in that order (the rest name the data and the model).
PROTOCOL_FIELDS = ("n_way", "k_shot", "q_query", "optimizer", "lr", "weight_decay", "opt_kwargs",
                   "episodes", "val_every", "val_tasks", "patience", "test_tasks", "repeats",
                   "seed", "test_last", "average", "average_options", "perturb", "peer_dropout")


@dataclass
class FSNCConfig:
    r"""The settings of one optimizer's few-shot node classification run (``fgsam fsnc``
    builds one per optimizer it compares; :meth:`EpisodicTrainer.from_config
    <fgsam.fewshot.EpisodicTrainer.from_config>` runs it), in the spirit of
    :class:`fgsam.mol.MolConfig`.

    Construction resolves and checks everything that needs no data, once: the method's
    canonical name and its protocol length (``episodes=None``: 1000, MetaGNN 500), the
    optimizer's arguments (:func:`fgsam.optim.optimizer_arguments`: ``rho``, else the
    optimizer's own radius; ``total_steps=episodes`` where it has a schedule;
    ``opt_kwargs`` win), the method's (F2M clamps MetaGNN's inner loop to its noise
    bound, :func:`method_arguments`) and the weight average (``average_options`` checked,
    and dropped without ``average``). A bad value raises a one-line ``ValueError``
    naming it.

    Args:
        n_way (int, optional): classes per task. (default: ``2``)
        k_shot (int, optional): support nodes per class. (default: ``3``)
        q_query (int, optional): query nodes per class. (default: ``10``)
        optimizer (str, optional): registry, training-procedure or ``torch.optim`` name.
            (default: ``"adam"``)
        lr (float, optional): learning rate. (default: ``5e-3``)
        weight_decay (float, optional): weight decay. (default: ``5e-4``)
        opt_kwargs (dict, optional): further optimizer arguments; resolved in place.
            (default: ``{}``)
        episodes (int, optional): most training episodes; ``None`` gives the method's
            protocol length (1000 without a method). (default: ``None``)
        val_every (int, optional): episodes between validations. (default: ``10``)
        val_tasks (int, optional): validation tasks. (default: ``20``)
        patience (int, optional): validations without improvement before stopping.
            (default: ``10``)
        test_tasks (int, optional): test tasks per repeat. (default: ``100``)
        repeats (int, optional): repeats with fresh seeds. (default: ``5``)
        seed (int, optional): seed of every random stream. (default: ``0``)
        test_last (bool, optional): test the last model, not the best validated one.
            (default: ``False``)
        average (str, optional): ``"swad"`` tests the SWAD weight average. (default: ``None``)
        average_options (dict, optional): SWAD's arguments. (default: ``{}``)
        perturb (str, optional): ``"all"`` parameters, or only the ``"encoder"``'s (the
            rest in a ``perturb=False`` group; :func:`~fgsam.fewshot.method.
            optimizer_parameters`), for sharpness-aware optimizers. (default: ``"all"``)
        peer_dropout (bool, optional): run the PeerMLP passes with dropout.
            (default: ``True``)
        dataset (str, optional): catalog name. (default: ``"cora"``)
        root (str, optional): data root. (default: ``None``)
        split_seed (int, optional): seed of the class split where none is published.
            (default: ``0``)
        features (str, optional): node-feature scaling
            (:func:`~fgsam.fewshot.normalize_features`). (default: ``"l2"``)
        method (str, optional): registry name of the method; ``None`` where the caller
            builds the method itself. (default: ``"gpn"``)
        method_args (dict, optional): further method arguments. (default: ``{}``)
        hidden (int, optional): embedding size. (default: ``16``)
        dropout (float, optional): dropout. (default: ``0.2``)
        rho (float, optional): the radius of sharpness-aware optimizers (``--rho``).
            (default: ``None``)
        adjacency (str, optional): how the GCNs get the graph: ``"csr"`` (one normalised
            sparse matrix), ``"edge-index"`` (PyG's edge list) or ``"auto"`` (CSR on graphs
            of 100k edges or more where the method's layers allow it;
            :func:`fgsam.nn.adjacency.resolve_adjacency`).
            The two agree within float rounding. (default: ``"auto"``)
        feature_layout (str, optional): how the whole-graph GCN passes read the features:
            ``"sparse"`` (a CSR matrix, the first layer's product over its non-zeros),
            ``"dense"`` or ``"auto"`` (sparse for features at most 5% non-zero with 20M
            entries or more, e.g. BlogCatalog and amazon-clothing-test20;
            :func:`fgsam.fewshot.method.resolve_feature_layout`). The two agree within
            float rounding. (default: ``"auto"``)
        progress (bool, optional): show progress bars (not a setting of the results).
            (default: ``False``)
        log_dir (str, optional): write each repeat's validations to
            ``log_dir/<optimizer>-repeat<r>.csv`` (:class:`~fgsam.fewshot.validation_log.
            ValidationLog`; not a setting of the results). (default: ``None``)

    Example:
        >>> config = FSNCConfig(method="metagnn", optimizer="f2m", rho=0.02)
        >>> config.episodes, config.method_args
        (500, {'inner_clamp': 0.02})
    """

    n_way: int = 2
    k_shot: int = 3
    q_query: int = 10
    optimizer: str = "adam"
    lr: float = 5e-3
    weight_decay: float = 5e-4
    opt_kwargs: dict[str, Any] = field(default_factory=dict)
    episodes: int | None = None
    val_every: int = 10
    val_tasks: int = 20
    patience: int = 10
    test_tasks: int = 100
    repeats: int = 5
    seed: int = 0
    test_last: bool = False
    average: str | None = None
    average_options: dict[str, Any] = field(default_factory=dict)
    perturb: str = "all"
    peer_dropout: bool = True
    dataset: str = "cora"
    root: str | None = None
    split_seed: int = 0
    features: str = "l2"
    method: str | None = "gpn"
    method_args: dict[str, Any] = field(default_factory=dict)
    hidden: int = 16
    dropout: float = 0.2
    rho: float | None = None
    adjacency: str = "auto"
    feature_layout: str = "auto"
    progress: bool = False
    log_dir: str | None = None

    def __post_init__(self) -> None:
        if self.method is not None:
            self.method = method_name(self.method)
        if self.episodes is None:
            self.episodes = default_episodes(self.method) if self.method is not None else 1000
        for name in ("n_way", "k_shot", "q_query", "episodes", "val_every", "val_tasks",
                     "patience", "test_tasks", "repeats", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.seed, self.test_last, self.progress = int(self.seed), bool(self.test_last), \
            bool(self.progress)
        for name, choices in (("adjacency", ADJACENCIES), ("feature_layout", FEATURE_LAYOUTS),
                              ("perturb", PERTURB)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got "
                                 f"{getattr(self, name)!r}")
        if not isinstance(self.peer_dropout, bool):
            raise ValueError(f"peer_dropout must be True or False, got {self.peer_dropout!r}")
        self._check_average()
        self.average_options = check_swad_options(self.average_options) if self.average else {}
        self.opt_kwargs = optimizer_arguments(self.optimizer, self.opt_kwargs, rho=self.rho,
                                              total_steps=self.episodes)
        self.method_args = method_arguments(self.method, self.optimizer, self.method_args,
                                            self.opt_kwargs)

    def _check_average(self) -> None:
        average = self.average
        if average is None:
            return
        if average not in WEIGHT_AVERAGES:
            raise ValueError(f"average must be None or one of {', '.join(WEIGHT_AVERAGES)}, got "
                             f"{average!r}")
        if self.episodes < self.val_every:
            raise ValueError(f"average={average!r} chooses its window from validations: "
                             f"episodes={self.episodes} must be >= val_every={self.val_every}")
        if self.test_last:
            raise ValueError(f"test_last=True and average={average!r} choose different models "
                             f"to test; give one of them")

    def to_dict(self) -> dict[str, Any]:
        """The settings as ``fgsam fsnc`` records them in a result's ``config`` (``rho`` as
        ``rho_flag``; ``progress`` and ``log_dir`` left out), JSON-ready."""
        out = asdict(self)
        out["rho_flag"] = out.pop("rho")
        del out["progress"], out["log_dir"]
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FSNCConfig:
        """Rebuild from :meth:`to_dict` output (or a result's ``config``; unknown keys are
        ignored)."""
        values = {**values, "rho": values.get("rho_flag", values.get("rho"))}
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def method_arguments(method: str | None, optimizer: str, method_args: dict[str, Any],
                     opt_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The method's arguments under ``optimizer``: F2M clamps MetaGNN's inner loop (its
    fine-tuning) to F2M's noise bound δ, unless ``inner_clamp`` is given.

    Example:
        >>> method_arguments("metagnn", "f2m", {"inner_steps": 2}, {"rho": 0.02})
        {'inner_steps': 2, 'inner_clamp': 0.02}
    """
    if optimizer == "f2m" and method == "metagnn" and "inner_clamp" not in method_args:
        return {**method_args, "inner_clamp": opt_kwargs["rho"]}
    return dict(method_args)


__all__ = ["PROTOCOL_FIELDS", "FSNCConfig", "method_arguments"]
