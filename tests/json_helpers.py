"""Helpers for tests that compare the JSON the commands write."""

from __future__ import annotations

from typing import Any


def timing_free(value: Any) -> Any:
    """``value`` (parsed JSON) without its timing fields (every key naming seconds, wall or
    CPU) and the machine line, recursively: what two runs of one command must share."""
    if isinstance(value, dict):
        return {k: timing_free(v) for k, v in value.items()
                if "seconds" not in k and k != "machine"}
    if isinstance(value, list):
        return [timing_free(v) for v in value]
    return value


def strict(constant: str) -> None:
    """``parse_constant`` for :func:`json.loads` that fails on ``NaN`` / ``Infinity``."""
    raise AssertionError(f"the JSON holds the non-standard constant {constant}")
