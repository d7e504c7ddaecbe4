"""Whether a PyG layer's propagation is observed: hooks, or an explainer."""

from __future__ import annotations

from torch_geometric.nn import MessagePassing

#: MessagePassing's hook registries around propagate, message and aggregate.
HOOKS = ("_propagate_forward_pre_hooks", "_propagate_forward_hooks",
         "_message_forward_pre_hooks", "_message_forward_hooks",
         "_aggregate_forward_pre_hooks", "_aggregate_forward_hooks",
         "_message_and_aggregate_forward_pre_hooks", "_message_and_aggregate_forward_hooks")


def propagation_observed(module: MessagePassing) -> bool:
    """Whether ``module`` has propagate/message/aggregate hooks or is being explained: such
    a layer must run its own forward, whose messages the observer expects."""
    return any(getattr(module, h, None) for h in HOOKS) or bool(getattr(module, "_explain", False))


__all__ = ["HOOKS", "propagation_observed"]
