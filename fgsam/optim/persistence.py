"""Checkpoints of an optimizer: ``state_dict`` with the base optimizer's and all internal
state, and pickling that keeps everything."""

from __future__ import annotations

from typing import Any

from torch import Tensor


class Persistence:
    """:meth:`state_dict`, :meth:`load_state_dict` and pickling of
    :class:`~fgsam.optim.SharpnessAwareOptimizer` (a mixin of it)."""

    global_state: dict[str, Any]

    def state_dict(self) -> dict[str, Any]:
        r"""The base optimizer's state and all internal state.

        Raises ``RuntimeError`` between :meth:`first_step` and :meth:`second_step`: the
        model's weights are :math:`w + \epsilon` then, so a checkpoint would be wrong.
        """
        self._require_unperturbed("state_dict")
        state = super().state_dict()
        state["base_optimizer"] = self.base_optimizer.state_dict()
        state["global_state"] = {
            k: (v.clone() if isinstance(v, Tensor) else v) for k, v in self.global_state.items()
        }
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what :meth:`state_dict` saved (``ValueError`` for a dict it did not
        save; ``RuntimeError`` between :meth:`first_step` and :meth:`second_step`)."""
        self._require_unperturbed("load_state_dict")
        if not isinstance(state_dict, dict):
            raise ValueError(
                f"state_dict must be a dict saved by {type(self).__name__}.state_dict(), "
                f"got {type(state_dict).__name__}"
            )
        state_dict = dict(state_dict)
        base_state = state_dict.pop("base_optimizer", None)
        global_state = state_dict.pop("global_state", None)
        if base_state is None or global_state is None:
            raise ValueError(
                f"state_dict was not saved by a {type(self).__name__}: it lacks the keys "
                f"'base_optimizer' and 'global_state' (keys found: {sorted(state_dict)})"
            )
        super().load_state_dict(state_dict)
        self.base_optimizer.load_state_dict(base_state)
        self.base_optimizer.param_groups = self.param_groups
        self.global_state = {
            k: (v.clone() if isinstance(v, Tensor) else v) for k, v in global_state.items()
        }
        self._perturbed = []

    def __getstate__(self) -> dict[str, Any]:
        # Optimizer.__getstate__ keeps only defaults/state/param_groups; keep everything.
        state = dict(self.__dict__)
        state["_guard_depth"] = 0  # a copy taken inside a step still guards its own steps
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # Pickles of optimizers saved before manual steps were counted lack these.
        self.__dict__.setdefault("_ascents", 0)
        self.__dict__.setdefault("_guard_depth", 0)


__all__ = ["Persistence"]
