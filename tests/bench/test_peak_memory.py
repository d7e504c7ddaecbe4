"""Peak memory of a few steps above the level before them."""

from __future__ import annotations

import pytest
import torch

from fgsam.bench.peak_memory import peak_memory_mib


def test_the_peak_of_a_step_that_allocates_64_mib_is_seen_and_a_later_one_starts_fresh():
    def allocate():
        torch.ones(16 * 2**20).sum()  # 64 MiB of float32, touched, then freed

    assert peak_memory_mib(allocate, 2) >= 60
    assert peak_memory_mib(lambda: torch.ones(1000).sum(), 3) < 30  # the 64 MiB peak is gone


def test_bad_step_count_is_refused():
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        peak_memory_mib(lambda: None, 0)
