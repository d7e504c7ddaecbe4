"""``KEY=VALUE`` options of the training commands (``--opt-arg``, ``--method-arg``, ...)."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from typing import Any

from fgsam.optim.registry import accepted_arguments, default_rho, list_optimizers


def parse_value(text: str) -> Any:
    """A JSON value (``0.9``, ``true``, ``[0.9, 0.99]``), else a Python literal (``True``,
    ``None``, ``(0.9, 0.99)``), else the text itself (``sgd``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def parse_pairs(items: Iterable[str], flag: str) -> dict[str, Any]:
    """``["k=2", "base=sgd"]`` → ``{"k": 2, "base": "sgd"}`` (values by :func:`parse_value`;
    a later key wins). ``flag`` names the option in error messages.

    Example:
        >>> parse_pairs(["n_converge=3", "tolerance_ratio=1.2"], "--average-option")
        {'n_converge': 3, 'tolerance_ratio': 1.2}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(text.strip())
    return out


def parse_options(items: Iterable[str], names: list[str], flag: str = "--opt-arg",
                  base: str = "adam") -> dict[str, dict[str, Any]]:
    """Per-name options from ``[NAME.]KEY=VALUE`` items: ``KEY=VALUE`` goes to every name
    of ``names`` that takes ``KEY`` (its own arguments, or its base optimizer ``base``'s),
    ``NAME.KEY=VALUE`` to ``NAME`` only (and wins over the shared value).

    Every name of ``names`` gets a dict (empty if no option applies). A ``NAME`` that is
    not in ``names`` is refused, naming the valid ones, and so is a shared ``KEY`` that
    none of ``names`` takes.

    Example:
        >>> parse_options(["k=3", "graphsam.beta=0.9"], ["adam", "fgsam+", "graphsam"])
        {'adam': {}, 'fgsam+': {'k': 3}, 'graphsam': {'beta': 0.9}}
    """
    items = list(items)
    shared: dict[str, Any] = {}
    scoped: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        name, dot, key = key.strip().rpartition(".")
        if not sep or not key:
            raise ValueError(f"{flag} expects [NAME.]KEY=VALUE, got {item!r}")
        value = parse_value(text.strip())
        if not dot:
            shared[key] = value
        elif name.lower() in names:
            scoped.setdefault(name.lower(), {})[key] = value
        else:
            raise ValueError(f"{flag} {item!r} names {name!r}, which is not among "
                             f"{', '.join(names)}")
    takes = {n: _takes(n, base) for n in names}
    for key in shared:
        if not any(key in takes[n] for n in names):
            raise ValueError(f"{flag} {key}=...: none of {', '.join(names)} takes an argument "
                             f"{key!r}")
    return {n: {**{k: v for k, v in shared.items() if k in takes[n]}, **scoped.get(n, {})}
            for n in names}


def _takes(name: str, base: str) -> set[str]:
    # A name the registry does not know is the caller's to check; it takes no shared key.
    try:
        names = accepted_arguments(name, base)
    except ValueError:
        return set()
    # create_optimizer's ``base`` reaches every optimizer that wraps a base optimizer
    return names | {"base"} if "base_optimizer" in names else names


def default_rho_text(names: Iterable[str] | None = None) -> str:
    """``"0.05 (sam, ...), 0.1 (fgsam+), ..."``: the default radius of each optimizer of
    ``names`` (default: the registry and the training procedures), for help texts."""
    if names is None:
        names = list_optimizers(include_procedures=True)
    groups: dict[float | None, list[str]] = {}
    for name in names:
        groups.setdefault(default_rho(name), []).append(name)
    return ", ".join(f"{value:g} ({', '.join(group)})" for value, group in groups.items())


__all__ = ["default_rho_text", "parse_options", "parse_pairs", "parse_value"]
