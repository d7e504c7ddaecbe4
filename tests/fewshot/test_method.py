from __future__ import annotations

import pytest
import torch

from fgsam.fewshot.method import squared_distances
from fgsam.fewshot.protonet import ProtoNet


def test_evaluation_reuses_the_graph_pass_until_the_weights_change(toy, episode_factory):
    model = ProtoNet(toy.num_features).eval()
    with torch.no_grad():
        first = model.on_graph(model.encoder, toy)
        assert model.on_graph(model.encoder, toy) is first
        logits = model(toy, episode_factory(toy, [0, 1], k=2, q=2))
        model.encoder.convs[0].bias.add_(1.0)  # an in-place update, as an optimizer step does
        second = model.on_graph(model.encoder, toy)
        assert second is not first and not torch.equal(second, first)
        model.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
        assert model.on_graph(model.encoder, toy) is not second
        other = toy.clone()
        assert model.on_graph(model.encoder, other) is not model.on_graph(model.encoder, toy)
    # training or autograd: always a fresh pass with a graph
    out = model.on_graph(model.encoder, toy)
    assert out.requires_grad
    assert logits.shape == (4, 2)


def test_squared_distances_by_hand():
    q = torch.tensor([[0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    p = torch.tensor([[1.0, 1.0], [0.0, -1.0], [2.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[1.0, 4.0, 5.0], [2.0, 13.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(squared_distances(q, p), expected, rtol=0, atol=0)


@pytest.mark.parametrize(("attribute", "value"), [("adjacency", "csr"),
                                                  ("feature_layout", "sparse")])
@pytest.mark.parametrize("name", ["gpn", "protonet", "metagnn", "tent"])
def test_the_sparse_paths_give_the_dense_loss_and_gradients(name, attribute, value):
    from fgsam.data import GraphShape, synthetic_graph
    from fgsam.fewshot import create_method
    from fgsam.fewshot.episode import Episode

    data = synthetic_graph(GraphShape(60, 300, 8, 4), seed=1)
    keep = torch.rand(data.x.shape, generator=torch.Generator().manual_seed(3)) < 0.3
    data.x = (data.x * keep).double()  # mostly zeros, as bag-of-words features are
    models = []
    for setting in (None, value):
        model = create_method(name, 8, 4, 2, 8, 0.0).double()
        model.reset_parameters(0)
        if setting is not None:
            setattr(model, attribute, setting)
        models.append(model)
    y = data.y
    support = torch.cat([(y == c).nonzero().view(-1)[:2] for c in (0, 1)])
    query = torch.cat([(y == c).nonzero().view(-1)[2:5] for c in (0, 1)])
    episode = Episode(torch.tensor([0, 1]), support, query, torch.arange(2).repeat_interleave(2),
                      torch.arange(2).repeat_interleave(3))
    losses = [m.loss(data, episode) for m in models]
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-10, atol=1e-10)
    grads = [torch.autograd.grad(loss, [p for p in m.parameters() if p.requires_grad],
                                 allow_unused=True) for loss, m in zip(losses, models)]
    for a, b in zip(*grads, strict=True):
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
    if attribute == "feature_layout":  # the GCNs read the CSR matrix, the PeerMLP dense rows
        assert models[1].graph(data).features.layout == torch.sparse_csr
        assert models[1].graph(data).x.layout == torch.strided


def test_feature_layout_auto_takes_sparse_for_wide_sparse_features_only():
    from fgsam.fewshot import create_method
    from fgsam.fewshot.method import AUTO_MIN_FEATURE_ENTRIES, resolve_feature_layout

    gpn = create_method("gpn", 8, 4, 2, 8, 0.0)
    rows = AUTO_MIN_FEATURE_ENTRIES // 1000
    wide = torch.zeros(rows, 1000)
    wide[:, :50] = 1.0  # 5% non-zero: sparse
    assert resolve_feature_layout("auto", gpn, wide) == "sparse"
    wide[0, 50] = 1.0  # one entry over 5%
    assert resolve_feature_layout("auto", gpn, wide) == "dense"
    assert resolve_feature_layout("auto", gpn, wide[1:, :50] * 0) == "dense"  # too few entries
    assert resolve_feature_layout("sparse", gpn, torch.ones(3, 3)) == "sparse"
    assert resolve_feature_layout("dense", gpn, wide) == "dense"
    plain = torch.nn.Linear(2, 2)
    assert resolve_feature_layout("auto", plain, torch.zeros(rows, 1000)) == "dense"
    with pytest.raises(ValueError, match=r"feature_layout='sparse' needs a method whose GCNs "
                                         r"read sparse features .*Linear reads them dense"):
        resolve_feature_layout("sparse", plain, wide)
    with pytest.raises(ValueError, match=r"feature_layout must be one of auto, sparse, dense, "
                                         r"got 'csr'"):
        resolve_feature_layout("csr", gpn, wide)


def test_perturbing_the_encoder_puts_the_rest_in_an_unperturbed_group(toy):
    from fgsam.fewshot import GPN, TENT, MetaGNN
    from fgsam.fewshot.method import optimizer_parameters
    from fgsam.optim import create_optimizer

    gpn = GPN(toy.num_features)
    params, extra = optimizer_parameters(gpn, "encoder", "fgsam+")
    assert [len(g["params"]) for g in params] == [len(list(gpn.encoder.parameters())),
                                                 len(list(gpn.valuator.parameters()))]
    assert params[1]["perturb"] is False and extra == {"model": gpn}
    opt = create_optimizer(params, "fgsam+", lr=0.01, **extra)
    assert [g["perturb"] for g in opt.param_groups] == [True, False] and opt.model is gpn
    # nothing to perturb for a plain optimizer, and every parameter with "all"
    assert optimizer_parameters(gpn, "encoder", "adam") == (gpn, {})
    assert optimizer_parameters(gpn, "all", "sam") == (gpn, {})
    proto = ProtoNet(toy.num_features)
    assert len(optimizer_parameters(proto, "encoder", "sam")[0]) == 1  # all of it is encoder
    meta = MetaGNN(toy.num_features, n_way=2)  # its classifier descends unperturbed
    assert optimizer_parameters(meta, "encoder", "sam")[0][1]["params"] == list(
        meta.classifier.parameters())
    with pytest.raises(ValueError, match="perturb='encoder' needs a method with an encoder, "
                                         "and TENT has none; use perturb='all'"):
        optimizer_parameters(TENT(toy.num_features, num_classes=7), "encoder", "sam")
    with pytest.raises(ValueError, match="perturb must be one of all, encoder, got 'head'"):
        optimizer_parameters(gpn, "head", "sam")


def test_peer_passes_without_dropout_equal_a_model_without_dropout(toy, episode_factory):
    from fgsam.fewshot import GPN
    from fgsam.fewshot.encoder import SeededDropout, dropout_off

    task = episode_factory(toy, [0, 1], k=2, q=3)
    noisy, clean = GPN(toy.num_features, dropout=0.5), GPN(toy.num_features, dropout=0.0)
    noisy.reset_parameters(3)
    clean.reset_parameters(3)
    noisy.train()
    with dropout_off(noisy):
        assert all(not m.training for m in noisy.modules() if isinstance(m, SeededDropout))
        quiet = noisy.loss(toy, task, peer=True)
    assert noisy.training and all(m.training for m in noisy.modules())
    torch.testing.assert_close(quiet, clean.train().loss(toy, task, peer=True))
    assert not torch.equal(noisy.loss(toy, task, peer=True), quiet)  # dropout back on
