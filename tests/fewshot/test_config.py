"""FSNCConfig: a run's settings resolved and checked once, and the trainer built from it."""

from __future__ import annotations

import pytest

from fgsam.cli import build_parser
from fgsam.fewshot.command import configs_from_args
from fgsam.fewshot.config import PROTOCOL_FIELDS, FSNCConfig, method_arguments
from fgsam.fewshot.protonet import ProtoNet
from fgsam.fewshot.trainer import EpisodicTrainer


def test_resolves_the_protocol_length_the_optimizer_and_the_method_arguments():
    config = FSNCConfig(method="MAML", optimizer="f2m", rho=0.02, method_args={"inner_steps": 2})
    assert config.method == "metagnn" and config.episodes == 500
    assert config.opt_kwargs == {"rho": 0.02}
    assert config.method_args == {"inner_steps": 2, "inner_clamp": 0.02}
    ae = FSNCConfig(optimizer="ae-sam", episodes=40, opt_kwargs={"delta": 0.8})
    assert ae.opt_kwargs == {"rho": 0.05, "total_steps": 40, "delta": 0.8}
    assert FSNCConfig(method=None).episodes == 1000
    assert FSNCConfig(average_options={"n_converge": 2}).average_options == {}  # no average
    assert method_arguments("gpn", "f2m", {}, {"rho": 0.1}) == {}


def test_to_dict_is_the_recorded_settings_and_from_dict_rebuilds_them():
    config = FSNCConfig(optimizer="sam", rho=0.2, average="swad", progress=True,
                        average_options={"n_converge": 1})
    d = config.to_dict()
    assert d["rho_flag"] == 0.2 and "rho" not in d and "progress" not in d
    assert list(d)[:len(PROTOCOL_FIELDS)] == list(PROTOCOL_FIELDS)
    assert list(d)[len(PROTOCOL_FIELDS):] == ["dataset", "root", "split_seed", "features",
                                              "method", "method_args", "hidden", "dropout",
                                              "adjacency", "feature_layout", "rho_flag"]
    again = FSNCConfig.from_dict({**d, "device": "cpu"})
    assert again.to_dict() == d


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_way": 0}, r"n_way must be an integer >= 1, got 0"),
    ({"q_query": True}, r"q_query must be an integer >= 1, got True"),
    ({"hidden": 0}, r"hidden must be an integer >= 1, got 0"),
    ({"method": "gcn"}, r"unknown method 'gcn'; valid methods: gpn, metagnn, protonet, tent"),
    ({"optimizer": "samm"}, r"unknown optimizer 'samm'"),
    ({"average": "swa"}, r"average must be None or one of swad, got 'swa'"),
    ({"average": "swad", "episodes": 4}, r"episodes=4 must be >= val_every=10"),
    ({"average": "swad", "test_last": True}, r"test_last=True and average='swad' choose"),
    ({"average": "swad", "average_options": {"n_start": 1}}, r"SWAD has no option 'n_start'"),
    ({"perturb": "head"}, r"perturb must be one of all, encoder, got 'head'"),
    ({"peer_dropout": 0}, r"peer_dropout must be True or False, got 0"),
])
def test_bad_settings_are_one_line_naming_the_setting(kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        FSNCConfig(**kwargs)
    assert "\n" not in str(err.value)


def test_the_trainer_from_a_config_equals_the_trainer_from_keywords(toy, toy_split):
    kw = dict(n_way=2, k_shot=2, q_query=4, optimizer="sam", lr=0.01, episodes=6,
              val_every=3, val_tasks=2, patience=3, test_tasks=3, repeats=1, seed=0)
    build = lambda: ProtoNet(toy.num_features, hidden_channels=8)  # noqa: E731
    by_keywords = EpisodicTrainer(build, toy, toy_split, **kw)
    by_config = EpisodicTrainer.from_config(build, toy, toy_split, FSNCConfig(**kw))
    assert by_config.config() == by_keywords.config()
    assert by_config.opt_kwargs == by_keywords.opt_kwargs == {"rho": 0.05}
    assert by_config.run().test_accs == by_keywords.run().test_accs


def test_fsnc_flags_build_one_config_per_optimizer_and_no_progress_is_quiet():
    parser = build_parser()
    args = parser.parse_args(["fsnc", "--method", "metagnn", "--optimizer", "adam,f2m",
                              "--opt-arg", "f2m.rho=0.02", "--episodes", "8", "--no-progress"])
    assert args.quiet is True
    assert parser.parse_args(["fsnc", "--quiet"]).quiet is True
    configs = configs_from_args(args)
    assert list(configs) == ["adam", "f2m"]
    assert configs["adam"].opt_kwargs == {} and configs["f2m"].opt_kwargs == {"rho": 0.02}
    assert configs["f2m"].method_args == {"inner_clamp": 0.02}
    assert all(c.episodes == 8 and not c.progress for c in configs.values())
