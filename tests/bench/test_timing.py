"""The benchmarks' clock: interleaved rounds compared by medians."""

from __future__ import annotations

import pytest

from fgsam.bench import interleaved_medians, machine_description


def test_every_contender_is_timed_every_round_after_warmup():
    calls = {"a": 0, "b": 0}

    def step(name):
        return lambda: calls.__setitem__(name, calls[name] + 1)

    timings = interleaved_medians({"a": step("a"), "b": step("b")}, rounds=4, steps_per_round=3,
                                  warmup=2)
    assert calls == {"a": 2 + 4 * 3, "b": 2 + 4 * 3}
    assert all(len(t.per_step) == 4 and t.median >= 0 for t in timings.values())
    assert "rounds=4" in repr(timings["a"])


def test_bad_round_counts_are_refused():
    with pytest.raises(ValueError, match="rounds"):
        interleaved_medians({"a": lambda: None}, rounds=0)


def test_machine_description_names_torch():
    assert "torch" in machine_description()
