"""The ``KEY=VALUE`` options both training commands parse the same way."""

from __future__ import annotations

import pytest

from fgsam.optim.options import default_rho_text, parse_options, parse_pairs, parse_value


@pytest.mark.parametrize(("text", "value"), [
    ("0.9", 0.9), ("1e-3", 1e-3), ("2", 2), ("true", True), ("True", True), ("null", None),
    ("None", None), ("[0.9, 0.99]", [0.9, 0.99]), ("(0.9, 0.99)", (0.9, 0.99)),
    ("sgd", "sgd"), ("fgsam+", "fgsam+"), ("", ""),
])
def test_values_are_json_then_python_literals_then_text(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_pairs_keep_the_last_value_and_refuse_items_without_a_key():
    assert parse_pairs(["k=2", "base = sgd", "k=3", "expr=a=b"], "--x") == {
        "k": 3, "base": "sgd", "expr": "a=b"}
    for bad in ("k2", "=2"):
        with pytest.raises(ValueError, match=f"--method-arg expects KEY=VALUE, got '{bad}'"):
            parse_pairs([bad], "--method-arg")


def test_options_are_shared_unless_scoped_and_the_scoped_value_wins():
    options = parse_options(["max_grad_norm=1", "graphsam.beta=0.9", "GraphSAM.rho=0.2",
                             "fgsam+.k=3", "graphsam.max_grad_norm=2"],
                            ["sam", "graphsam", "fgsam+"])
    assert options == {"sam": {"max_grad_norm": 1},
                       "graphsam": {"max_grad_norm": 2, "beta": 0.9, "rho": 0.2},
                       "fgsam+": {"max_grad_norm": 1, "k": 3}}
    assert parse_options([], ["adam"]) == {"adam": {}}


@pytest.mark.parametrize(("item", "message"), [
    ("k2", r"--opt-arg expects \[NAME.\]KEY=VALUE, got 'k2'"),
    ("sam.=2", r"--opt-arg expects \[NAME.\]KEY=VALUE, got 'sam.=2'"),
    ("vasso.theta=0.5", r"--opt-arg 'vasso.theta=0.5' names 'vasso', which is not among "
                        r"sam, graphsam"),
])
def test_bad_options_name_the_item_and_the_valid_names(item, message):
    with pytest.raises(ValueError, match=message):
        parse_options([item], ["sam", "graphsam"])


def test_default_radii_are_listed_by_value():
    text = default_rho_text(["sam", "msam", "vasso", "zo-tsam", "f2m"])
    assert text == "0.05 (sam, vasso), 0.3 (msam), 0.001 (zo-tsam), 0.01 (f2m)"
    assert "0.1 (fgsam+)" in default_rho_text()


def test_a_shared_option_goes_only_to_the_optimizers_that_take_it():
    options = parse_options(["k=3", "betas=(0.9, 0.99)"], ["adam", "fgsam+", "sam"])
    assert options == {"adam": {"betas": (0.9, 0.99)},
                       "fgsam+": {"k": 3, "betas": (0.9, 0.99)},
                       "sam": {"betas": (0.9, 0.99)}}
    with pytest.raises(ValueError, match="none of adam, sam takes an argument 'nope'"):
        parse_options(["nope=1"], ["adam", "sam"])
    # the base optimizer decides what a sharpness-aware optimizer forwards to it
    assert parse_options(["momentum=0.9"], ["sam"], base="sgd") == {"sam": {"momentum": 0.9}}


def test_a_shared_base_reaches_the_sharpness_aware_optimizers_only():
    assert parse_options(["base=sgd"], ["adam", "sam"]) == {"adam": {}, "sam": {"base": "sgd"}}
    assert parse_options(["sam.base=sgd"], ["adam", "sam"]) == {"adam": {}, "sam": {"base": "sgd"}}
