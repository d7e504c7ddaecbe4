"""A measured number with its Monte-Carlo standard error."""

from __future__ import annotations

from typing import NamedTuple


class Estimate(NamedTuple):
    r"""A sharpness measurement: ``value``, its standard error and the sample count.

    For a Monte-Carlo mean of :math:`m` samples :math:`x_i`,
    :math:`\mathrm{stderr} = \mathrm{std}(x) / \sqrt{m}` (``std`` with Bessel's
    correction); ``stderr`` is ``None`` for a deterministic search (worst-case
    sharpness), where ``samples`` counts the loss evaluations. ``float(estimate)`` is the
    value.

    Example:
        >>> est = hessian_trace(closure, model.parameters(), samples=100)
        >>> print(f"{est.value:.3f} ± {est.stderr:.3f}")
    """

    value: float
    stderr: float | None
    samples: int

    def __float__(self) -> float:
        return float(self.value)

    def to_dict(self) -> dict[str, float | int | None]:
        """The fields as a JSON-ready dict."""
        return {"value": self.value, "stderr": self.stderr, "samples": self.samples}


__all__ = ["Estimate"]
