"""MetricLog: one CSV row per write, flushed as it comes; TensorBoard scalars alongside."""

from __future__ import annotations

import csv

from fgsam._metric_log import MetricLog


def test_rows_are_on_disk_before_close_and_keep_the_first_rows_columns(tmp_path):
    log = MetricLog(tmp_path / "logs", "run", tensorboard=False)
    log.write(1, {"epoch": 1, "loss": 0.5})
    log.write(2, {"epoch": 2, "loss": 0.25, "extra": 3})  # a later key is left out
    rows = list(csv.DictReader((tmp_path / "logs" / "run.csv").open()))  # not closed yet
    assert rows == [{"epoch": "1", "loss": "0.5"}, {"epoch": "2", "loss": "0.25"}]
    assert log.events is None and "tensorboard=False" in repr(log)
    log.close()


def test_tensorboard_events_hold_the_finite_numbers(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = MetricLog(tmp_path, "run", columns=["epoch", "loss", "valid"])
    log.write(1, {"epoch": 1, "loss": 0.5, "valid": float("nan")})
    log.write(2, {"epoch": 2, "loss": 0.25, "valid": 0.75})
    log.close()
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert [e.value for e in events.Scalars("loss")] == [0.5, 0.25]
    assert [(e.step, e.value) for e in events.Scalars("valid")] == [(2, 0.75)]  # NaN left out
    assert next(csv.DictReader((tmp_path / "run.csv").open()))["valid"] == "nan"
