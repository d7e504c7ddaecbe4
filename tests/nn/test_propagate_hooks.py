"""propagation_observed: hooks or an explainer keep a layer on its own forward."""

from torch_geometric.nn import GCNConv

from fgsam.nn.linear_first_sage import LinearFirstSAGEConv
from fgsam.nn.peer_layers import has_self_loop_form
from fgsam.nn.propagate_hooks import HOOKS, propagation_observed


def test_any_hook_or_an_explainer_is_seen_and_both_shortcuts_step_aside():
    assert len(HOOKS) == 8
    assert not propagation_observed(GCNConv(4, 2))
    for register in ("register_propagate_forward_hook", "register_message_forward_pre_hook",
                     "register_aggregate_forward_hook"):
        conv = LinearFirstSAGEConv(8, 2)
        getattr(conv, register)(lambda *args: None)
        assert propagation_observed(conv) and not conv.linear_first
        assert not has_self_loop_form(conv)
    explained = GCNConv(4, 2)
    explained._explain = True
    assert propagation_observed(explained)
