"""Manual steps: ``first_step`` / ``second_step`` around the user's own backward passes."""

from __future__ import annotations

from fgsam.optim.step_guard import no_grad


class ManualSteps:
    """:meth:`first_step` and :meth:`second_step` of
    :class:`~fgsam.optim.SharpnessAwareOptimizer` (a mixin of it), and the refusal to
    checkpoint between them."""

    ascent_steps: int
    manual_steps: bool
    _ascents: int

    @no_grad
    def first_step(self, zero_grad: bool = False) -> None:
        """Move to the perturbed point using the gradients already in ``.grad``
        (:meth:`ascend`; call it ``ascent_steps`` times, each after a backward pass).

        Raises ``RuntimeError`` if called more than ``ascent_steps`` times before
        :meth:`second_step`; :meth:`restore_weights` discards a begun manual step.
        """
        self._require_manual_steps()
        if self._ascents >= self.ascent_steps:
            raise RuntimeError(
                f"{type(self).__name__}.first_step() called again while the weights are "
                f"perturbed ({self._ascents} of {self.ascent_steps} ascent step(s) taken): "
                f"back-propagate the loss at the perturbed weights and call second_step()"
            )
        with self.step_guard(manual=True):
            self.ascend()
            self._ascents += 1
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @no_grad
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore the weights and step with the gradients in ``.grad`` (taken at ``w + ε``).

        Raises ``RuntimeError`` without a preceding :meth:`first_step`.
        """
        self._require_manual_steps()
        if not self._ascents:
            raise RuntimeError(
                f"{type(self).__name__}.second_step() called without a preceding "
                f"first_step(): call loss.backward() and first_step() first, or use "
                f"step(closure)"
            )
        with self.step_guard(manual=True):
            self.before_descend(None)
            self.descend()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def _require_manual_steps(self) -> None:
        if not self.manual_steps:
            raise NotImplementedError(f"{type(self).__name__} does not support manual steps")

    def _require_unperturbed(self, what: str) -> None:
        # Between first_step() and second_step() the model holds w + eps, not w.
        if self._ascents or self.is_perturbed:
            raise RuntimeError(
                f"{type(self).__name__}.{what}() called between first_step() and "
                f"second_step(), while the weights are perturbed: call second_step() first, "
                f"or restore_weights() to discard the manual step"
            )


__all__ = ["ManualSteps"]
