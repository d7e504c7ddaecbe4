"""Measurement helpers shared by the benchmarks."""

from fgsam.bench.timing import Timing, interleaved_medians, machine_description, synchronize

__all__ = ["Timing", "interleaved_medians", "machine_description", "synchronize"]
