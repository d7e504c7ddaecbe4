from __future__ import annotations

import json
import math

import pytest

from fgsam.fewshot.results import (
    FSNCResult,
    RepeatResult,
    mean_and_ci95,
    paired_differences,
    paired_to_dict,
    write_json,
)


def repeat(i: int, accs: list[float], episodes: int = 100, seconds: float = 2.0) -> RepeatResult:
    return RepeatResult(repeat=i, seeds={"model": i}, test_accs=accs, val_history=[[10, 0.5]],
                        best_val_acc=0.5, best_episode=10, episodes=episodes,
                        train_seconds=seconds)


def test_ci95_is_1_96_population_std_over_sqrt_n():
    mean, ci = mean_and_ci95([1.0, 0.0, 1.0, 1.0])
    assert mean == 0.75
    std = math.sqrt((3 * 0.25**2 + 0.75**2) / 4)  # 0.4330...
    assert ci == pytest.approx(1.96 * std / 2, rel=1e-15)
    with pytest.raises(ValueError, match="at least one"):
        mean_and_ci95([])


def test_result_pools_every_task_of_every_repeat():
    result = FSNCResult([repeat(0, [0.5, 1.0]), repeat(1, [0.0, 0.5, 1.0], episodes=300,
                                                        seconds=3.0)])
    assert result.num_tasks == 5
    assert result.mean == pytest.approx(0.6)
    assert result.ci95 == pytest.approx(mean_and_ci95([0.5, 1.0, 0.0, 0.5, 1.0])[1])
    assert result.repeat_means == [0.75, 0.5]
    assert result.repeats[0].seconds_per_200 == pytest.approx(4.0)
    assert result.seconds_per_200 == pytest.approx(5.0 / 400 * 200)
    assert result.summary() == (f"acc 60.00 ± {100 * result.ci95:.2f} (95% CI over 5 tasks) "
                                f"· 2.50 s / 200 episodes")
    d = result.as_dict()
    assert d["accuracy"]["mean"] == pytest.approx(60.0)
    assert d["accuracy"]["repeat_means"] == [75.0, 50.0]
    assert d["repeats"][1]["test_accs"] == [0.0, 0.5, 1.0]
    json.dumps(d)
    assert "60.00" in repr(result)


def test_write_json_is_atomic(tmp_path):
    path = tmp_path / "sub" / "out.json"
    write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}  # the old file survives a failed write
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.json"]


def test_as_dict_is_a_deprecated_alias_of_to_dict():
    from fgsam.fewshot.results import FSNCResult, RepeatResult

    rep = RepeatResult(repeat=0, seeds={"model": 1}, test_accs=[0.5, 1.0], val_history=[],
                       best_val_acc=0.5, best_episode=2, episodes=4, train_seconds=1.0,
                       cpu_steps=[0.25] * 4)
    result = FSNCResult([rep], {"n_way": 2})
    for record in (rep, result):
        with pytest.warns(DeprecationWarning, match=r"as_dict is deprecated; use to_dict"):
            old = record.as_dict()
        assert old == record.to_dict()
    assert "cpu_steps" not in rep.to_dict() and result.to_dict()["repeats"] == [rep.to_dict()]


def test_paired_differences_pair_task_by_task_over_the_repeats_both_finished():
    adam = FSNCResult([repeat(0, [0.5, 0.6]), repeat(1, [0.4, 0.4])])
    plus = FSNCResult([repeat(0, [0.6, 0.8])])  # still on its second repeat
    d = paired_differences({"adam": adam, "fgsam+": plus})["fgsam+"]
    assert (d.repeats, d.units, d.wins) == (1, 2, 2) and d.mean == pytest.approx(0.15)
    assert paired_to_dict("adam", d)["mean"] == pytest.approx(15.0)
    assert paired_to_dict("adam", None) is None
    gone = FSNCResult([repeat(0, [0.6, 0.8]), RepeatResult(
        repeat=1, seeds={}, test_accs=[], val_history=[], best_val_acc=0.0, best_episode=0,
        episodes=1, train_seconds=0.1, tested="none", diverged={"episode": 1})])
    assert paired_differences({"adam": adam, "sam": gone}) == {"sam": None}
    assert paired_differences({"adam": adam}) == {}


def test_a_repeat_read_back_from_json_keeps_its_numbers_and_its_timing():
    steps = [[0.01 * (i % 7 + 1) for i in range(23)], [0.02] * 5]
    runs = [RepeatResult(repeat=i, seeds={"model": i}, test_accs=[0.25, 1.0],
                         val_history=[[2, 0.5]], best_val_acc=math.nan if i else 0.5,
                         best_episode=2, episodes=len(s),
                         train_seconds=1.0, cpu_seconds=math.fsum(s), cpu_steps=s)
            for i, s in enumerate(steps)]
    result = FSNCResult(runs, {"lr": 0.005})
    written = json.loads(json.dumps(result.to_dict()).replace("NaN", "null"))
    back = FSNCResult.from_dict(written)
    assert back.config == {"lr": 0.005} and not any(r.cpu_steps for r in back.repeats)
    assert [r.blocks for r in back.repeats] == [r.blocks for r in runs]
    # 23 steps: two blocks of 10 (the last 3 dropped); 5 steps: one block
    assert runs[0].blocks == [pytest.approx(0.034), pytest.approx(0.043)]  # 1..7,1,2,3; 4..7,1..6
    assert len(runs[1].blocks) == 1
    assert back.cpu_seconds_per_200 == result.cpu_seconds_per_200
    assert [r.cpu_seconds_per_200 for r in back.repeats] == \
        [r.cpu_seconds_per_200 for r in runs]
    assert math.isnan(back.repeats[1].best_val_acc)
    before, after = ({k: v for k, v in d.items() if k != "repeats"}
                     for d in (result.to_dict(), back.to_dict()))
    assert before == after
    for old, new in zip(result.to_dict()["repeats"], back.to_dict()["repeats"]):
        assert {k: v for k, v in new.items() if k != "best_val_acc"} == \
            {k: v for k, v in old.items() if k != "best_val_acc"}
