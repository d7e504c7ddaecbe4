"""A saved model's training loss as a closure: what ``fgsam sharpness`` measures."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from fgsam._io import read_json_object

#: The files of a checkpoint folder (``fgsam fsnc``/``fgsam mol --save-checkpoint DIR``).
CONFIG, WEIGHTS = "config.json", "model.pt"
#: Keys of ``config.json`` that mark a few-shot checkpoint: the task shape.
FSNC_KEYS = ("n_way", "k_shot", "q_query")
#: Keys of ``config.json`` that mark a molecule checkpoint: the property tasks and metric.
MOL_KEYS = ("num_tasks", "metric")
#: What the loss is measured in: the mode the model is put in.
EVAL_MODE = "eval mode: dropout off, BatchNorm uses its running statistics"


def read_checkpoint_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder, after checking that the folder holds
    both ``config.json`` and ``model.pt`` (``FileNotFoundError`` naming what is missing)."""
    folder = Path(directory)
    written_by = ("written by `fgsam fsnc --save-checkpoint DIR` or "
                  "`fgsam mol --save-checkpoint DIR`")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"checkpoint folder {folder} does not exist: expected a folder holding {CONFIG} "
            f"and {WEIGHTS} ({written_by})"
        )
    missing = [name for name in (CONFIG, WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"checkpoint folder {folder} is incomplete: {' and '.join(missing)} not found; "
            f"a checkpoint folder holds {CONFIG} and {WEIGHTS} ({written_by})"
        )
    return read_json_object(folder / CONFIG, f"the settings object {written_by}")


def checkpoint_kind(config: dict[str, Any]) -> str:
    """Which trainer wrote a checkpoint, from its ``config.json``: ``"fsnc"`` if it holds
    the few-shot task shape (all of :data:`FSNC_KEYS`: ``n_way``, ``k_shot``,
    ``q_query``), ``"mol"`` if it holds the molecule tasks and metric (all of
    :data:`MOL_KEYS`: ``num_tasks``, ``metric``); otherwise ``ValueError``.

    Example:
        >>> checkpoint_kind({"n_way": 5, "k_shot": 3, "q_query": 10, "dataset": "wiki"})
        'fsnc'
    """
    fsnc = all(k in config for k in FSNC_KEYS)
    mol = all(k in config for k in MOL_KEYS)
    if fsnc == mol:
        found = sorted(k for k in (*FSNC_KEYS, *MOL_KEYS) if k in config)
        raise ValueError(
            f"cannot tell which trainer wrote this checkpoint: its config.json must hold "
            f"{', '.join(FSNC_KEYS)} (fgsam fsnc) or {', '.join(MOL_KEYS)} (fgsam mol), "
            f"not both; it holds {found or 'none of them'}"
        )
    return "fsnc" if fsnc else "mol"


class CheckpointLoss:
    r"""The training loss of a saved model on a fixed set of its training tasks (``fgsam
    fsnc``) or training batches (``fgsam mol``), as a closure for :mod:`fgsam.sharpness`.

    .. math::
        L(w) = \frac{1}{T} \sum_{t=1}^{T} \ell_t(w),

    :math:`\ell_t` the training loss of the :math:`t`-th part: the query cross-entropy
    of the :math:`t`-th training task the sampler draws again (same seed as in training,
    so the first :math:`T` tasks the model was trained on), or the masked loss of the
    :math:`t`-th batch of training molecules, in split order, of the saved batch size.
    The parts are drawn once, so the closure is deterministic; the model is in
    evaluation mode (dropout off, BatchNorm uses its running statistics). With
    ``context``, every evaluation runs inside ``context()``: few-shot losses use it to
    run each whole-graph pass once for all tasks (:func:`shared_graph_pass`).

    Built by :func:`checkpoint_loss`; call it to evaluate :math:`L` at the current
    weights.

    Attributes:
        kind (str): ``"fsnc"`` or ``"mol"``.
        model (torch.nn.Module): the rebuilt model, in evaluation mode.
        params (list of Tensor): its parameters that require grad (what is measured).
        parts (list): the tasks (:class:`~fgsam.fewshot.Episode`) or batches.
        config (dict): the checkpoint's ``config.json``.
        description (str): what the loss averages, in words.

    Example:
        >>> loss = checkpoint_loss("runs/gpn-fgsam+", tasks=20)
        >>> hessian_eigenvalues(loss, loss.params, k=3)
    """

    def __init__(self, kind: str, model: nn.Module, part_loss: Callable[[Any], Tensor],
                 parts: list[Any], config: dict[str, Any], description: str,
                 context: Callable[[], contextlib.AbstractContextManager] | None = None
                 ) -> None:
        if not parts:
            raise ValueError("parts must hold at least one task or batch, got none")
        self.kind = kind
        self.model = model.eval()
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.parts = parts
        self.config = config
        self.description = description
        self._part_loss = part_loss
        self._context = context or contextlib.nullcontext

    @property
    def num_parameters(self) -> int:
        """Number of entries of :attr:`params`."""
        return sum(p.numel() for p in self.params)

    def __call__(self) -> Tensor:
        """The mean loss over :attr:`parts` at the current weights."""
        with self._context():
            losses = [self._part_loss(part).reshape(()) for part in self.parts]
        return torch.stack(losses).mean()

    def __repr__(self) -> str:
        return (f"CheckpointLoss(kind={self.kind!r}, model={type(self.model).__name__}, "
                f"parts={len(self.parts)}, parameters={self.num_parameters}, "
                f"dataset={self.config.get('dataset')!r}, "
                f"optimizer={self.config.get('optimizer')!r})")


@contextlib.contextmanager
def shared_graph_pass(method: nn.Module) -> Iterator[None]:
    """Within the block, ``method.on_graph(module, data)`` (the whole-graph pass of a
    :class:`~fgsam.fewshot.FewShotMethod`) runs once per module and graph and is reused.

    Exact while the weights do not change inside the block, as within one evaluation of a
    loss over many tasks: the pass does not depend on the task (dropout is off in
    evaluation mode), and autograd sums every task's contribution through the one
    output. It turns the cost of a gradient or Hessian-vector product over ``T`` tasks
    from ``T`` graph passes into one.
    """
    original = method.on_graph
    memo: dict[tuple[int, int], tuple[nn.Module, Any, Tensor]] = {}

    def on_graph(module: nn.Module, data: Any) -> Tensor:
        key = (id(module), id(data))
        if key not in memo:  # module and data are kept alive with the output
            memo[key] = (module, data, original(module, data))
        return memo[key][2]

    method.on_graph = on_graph
    try:
        yield
    finally:
        del method.on_graph


def checkpoint_loss(directory: str | os.PathLike[str], tasks: int = 20, *,
                    root: str | os.PathLike[str] | None = None,
                    cache_dir: str | os.PathLike[str] | None = None,
                    device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> CheckpointLoss:
    """Rebuild the model saved in ``directory`` and its training loss on ``tasks`` fixed
    training tasks (few-shot checkpoints) or training batches (molecule checkpoints);
    :func:`checkpoint_kind` tells the two apart.

    Args:
        directory (str or os.PathLike): the checkpoint folder (``config.json``,
            ``model.pt``).
        tasks (int, optional): how many training tasks or batches :math:`T`.
            (default: ``20``)
        root (str, optional): data root (default: the saved one, else ``$FGSAM_DATA``,
            else ``./datasets``).
        cache_dir (str, optional): molecule cache folder (default: the saved one, else
            the default). Ignored for few-shot checkpoints.
        device (torch.device or str, optional): where to measure. (default: CPU)
        dtype (torch.dtype, optional): floating-point type to measure in, e.g.
            ``torch.float64``. (default: the saved one)

    Returns:
        :class:`CheckpointLoss`.

    Example:
        >>> loss = checkpoint_loss("runs/gpn-adam", tasks=20, dtype=torch.float64)
        >>> float(loss())
        0.4127
    """
    if isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1:
        raise ValueError(f"tasks must be a positive int (training tasks or batches), "
                         f"got {tasks!r}")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    config = read_checkpoint_config(directory)
    try:
        kind = checkpoint_kind(config)
    except ValueError as err:
        raise ValueError(f"{Path(directory) / CONFIG}: {err}") from None
    build = _fsnc_loss if kind == "fsnc" else _mol_loss
    return build(directory, tasks, root, cache_dir, device, dtype)


def episodic_loss(method: nn.Module, data: Any, sampler: Any, tasks: int,
                  config: dict[str, Any] | None = None) -> CheckpointLoss:
    """The training loss of a few-shot ``method`` on the next ``tasks`` tasks of
    ``sampler`` (a fresh training sampler replays the first ones), each whole-graph pass
    shared by all tasks (:func:`shared_graph_pass`); ``method`` is put in evaluation mode.

    What :func:`checkpoint_loss` builds for a few-shot checkpoint; use it directly for a
    model still in memory.

    Example:
        >>> sampler = trainer.sampler("train", result.repeats[0].seeds["train"])
        >>> loss = episodic_loss(trainer.last_method, data, sampler, tasks=20)
    """
    episodes = sampler.sample_tasks(tasks)
    description = (f"mean training loss over the first {tasks} training tasks "
                   f"({sampler.n_way}-way {sampler.k_shot}-shot, {sampler.q_query} queries "
                   f"per class, drawn with the training sampler's seed)")
    return CheckpointLoss("fsnc", method, lambda ep: method.loss(data, ep), episodes,
                          dict(config or {}), description, lambda: shared_graph_pass(method))


def _fsnc_loss(directory: Any, tasks: int, root: Any, cache_dir: Any, device: Any,
               dtype: torch.dtype | None) -> CheckpointLoss:
    from fgsam.fewshot.checkpoint import load_checkpoint

    ckpt = load_checkpoint(directory, root=root, device=device)
    method, data = ckpt.method, ckpt.data
    if dtype is not None:
        method = method.to(dtype)
        data.x = data.x.to(dtype)
    return episodic_loss(method, data, ckpt.sampler, tasks, ckpt.config)


def _mol_loss(directory: Any, tasks: int, root: Any, cache_dir: Any, device: Any,
              dtype: torch.dtype | None) -> CheckpointLoss:
    from fgsam.mol.model import load_mol_checkpoint

    model, data, config = load_mol_checkpoint(directory, root=root, cache_dir=cache_dir,
                                              device=device)
    if dtype is not None:
        model = model.to(dtype)
    batch_size = int(config.get("batch_size", 32))
    loader = data.loader("train", batch_size=batch_size, shuffle=False)
    batches = []
    for batch in loader:
        if len(batches) == tasks:
            break
        batches.append(batch.to(next(model.parameters()).device))
    if len(batches) < tasks:
        raise ValueError(f"tasks={tasks} asks for more training batches than the "
                         f"{len(batches)} of {data.sizes['train']} training molecules in "
                         f"batches of {batch_size}; use --tasks {len(batches)} or fewer")
    description = (f"mean masked {data.dataset.task_type} loss over the first {tasks} "
                   f"training batches of {batch_size} molecules (split order, no shuffling)")
    return CheckpointLoss("mol", model, lambda b: data.loss(model(b), b.y), batches, config,
                          description)


__all__ = ["CONFIG", "EVAL_MODE", "FSNC_KEYS", "MOL_KEYS", "WEIGHTS", "CheckpointLoss",
           "checkpoint_kind", "checkpoint_loss", "episodic_loss", "read_checkpoint_config",
           "shared_graph_pass"]
