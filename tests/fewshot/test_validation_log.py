"""ValidationLog: a repeat's validations as CSV rows, the training losses averaged between."""

import csv
import math

import torch

from fgsam.fewshot.validation_log import COLUMNS, ValidationLog


def test_rows_average_the_losses_since_the_previous_validation(tmp_path):
    log = ValidationLog(tmp_path, "adam-repeat0")
    log.step(torch.tensor(1.0))
    log.step(torch.tensor([2.0, 4.0]))  # a per-query loss counts as its mean, 3
    log.validation(2, acc=0.5, loss=0.7, best=0.5)
    log.validation(2, acc=0.25, loss=0.9, best=0.5)  # no step since: no training loss
    log.step(torch.tensor(5.0, requires_grad=True))
    log.validation(3, acc=0.75, loss=0.6, best=0.75)
    log.close()
    rows = list(csv.DictReader((tmp_path / "adam-repeat0.csv").open()))
    assert list(rows[0]) == list(COLUMNS)
    assert [float(r["train_loss"]) for r in rows[::2]] == [2.0, 5.0]
    assert math.isnan(float(rows[1]["train_loss"]))
    assert [(r["episode"], r["val_acc"], r["best_val_acc"]) for r in rows] == [
        ("2", "0.5", "0.5"), ("2", "0.25", "0.5"), ("3", "0.75", "0.75")]


def test_without_a_folder_it_writes_nothing_and_keeps_no_losses(tmp_path):
    log = ValidationLog(None, "adam-repeat0")
    log.step(torch.tensor(1.0))
    log.validation(1, acc=0.5, loss=0.7, best=0.5)
    log.close()
    assert log._losses == [] and not list(tmp_path.iterdir())
    assert repr(log) == "ValidationLog(None)"
