"""Measurement helpers shared by the benchmarks and ``fgsam bench``."""

from fgsam.bench.peak_memory import peak_memory_mib
from fgsam.bench.step_cost import (
    Contender,
    StepCost,
    bench_graph,
    make_steps,
    measure_step_cost,
)
from fgsam.bench.timing import (
    CLOCKS,
    Timing,
    add_timing_arguments,
    interleaved_medians,
    machine_description,
    synchronize,
    timing_device,
    timing_header,
)

__all__ = [
    "CLOCKS",
    "Contender",
    "StepCost",
    "Timing",
    "add_timing_arguments",
    "bench_graph",
    "interleaved_medians",
    "machine_description",
    "make_steps",
    "measure_step_cost",
    "peak_memory_mib",
    "synchronize",
    "timing_device",
    "timing_header",
]
