"""The benchmarks' clock: interleaved rounds compared by medians."""

from __future__ import annotations

import time

import pytest

from fgsam.bench import Timing, interleaved_medians, machine_description


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


def _sleeper(seconds: float):
    return lambda: time.sleep(seconds)


def _busy(seconds: float):
    def step():
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    return step


def test_cpu_clock_ignores_time_spent_descheduled():
    steps = {"sleep": _sleeper(0.01), "busy": _busy(0.005)}
    wall = interleaved_medians(steps, rounds=3, steps_per_round=2, warmup=0, clock="wall")
    cpu = interleaved_medians(steps, rounds=3, steps_per_round=2, warmup=0, clock="cpu")
    assert wall["sleep"].median >= 0.01
    assert cpu["sleep"].median < 0.005  # sleeping burns (almost) no CPU time
    assert cpu["busy"].median >= 0.005  # a busy loop is counted in full


def test_cpu_clock_is_refused_on_an_accelerator():
    with pytest.raises(ValueError, match="clock='cpu'.*'cuda:0'"):
        interleaved_medians({"a": lambda: None}, rounds=1, device="cuda:0", clock="cpu")


def test_unknown_clock_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match="clock must be one of wall, cpu, got 'gpu'"):
        interleaved_medians({"a": lambda: None}, rounds=1, clock="gpu")


def test_paired_ratio_is_the_median_of_per_round_ratios():
    slow, fast = Timing("slow", [2.0, 20.0, 4.0]), Timing("fast", [1.0, 10.0, 1.0])
    assert slow.paired_ratio(fast) == 2.0  # round ratios 2, 2, 4
    assert slow.median / fast.median == 4.0  # the ratio of medians mixes rounds
    with pytest.raises(ValueError, match="same non-zero number of rounds"):
        slow.paired_ratio(Timing("short", [1.0]))
