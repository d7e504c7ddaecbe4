"""Every script in benchmarks/ answers ``--help`` and finishes a tiny run (a smoke test of the
scripts, not a measurement). Pinned by name, as the examples are in test_examples.py; every
output goes to the test's scratch folder, never into benchmarks/.
"""

from __future__ import annotations

from tests.test_examples import smoke_tests

#: Every script of benchmarks/, by file name.
BENCHMARKS = [
    "cli_timing.py",
    "fsnc_table.py",
    "gpn_sparse.py",
    "metagnn_layouts.py",
    "mol_step_time.py",
    "mol_table.py",
    "node_scale.py",
    "node_table.py",
    "propagation.py",
    "sage_order.py",
    "sam_reference.py",
    "sam_step_time.py",
    "sharpness_table.py",
    "small_graphs.py",
    "step_cost.py",
    "tsam_memory.py",
]

_MOL_TINY = ["--root", "{root}", "--cache-dir", "{tmp}/cache", "--hidden", "16", "--layers", "1",
             "--heads", "1", "--device", "cpu"]

#: A tiny run of each benchmark ({root}: data root, {tmp}: scratch folder).
TINY_RUNS = {
    "cli_timing.py": ["--root", "{root}", "--quick", "--settings", "citeseer", "--repeats", "1",
                      "--optimizers", "adam,fgsam+"],
    "fsnc_table.py": ["--root", "{root}", "--quick", "--settings", "cora:2:3:5", "--methods",
                      "gpn", "--optimizers", "adam,fgsam+", "--results", "{tmp}/fsnc.json",
                      "--threads", "1", "--device", "cpu", "--control", "fgsam+"],
    "gpn_sparse.py": ["--root", "{root}", "--datasets", "wiki", "--tasks", "2", "--rounds", "1",
                      "--steps", "2", "--threads", "1", "--clock", "cpu", "--device", "cpu"],
    "metagnn_layouts.py": ["--root", "{root}", "--datasets", "cora", "--rounds", "1", "--steps",
                           "2", "--threads", "1", "--clock", "cpu", "--device", "cpu"],
    "node_scale.py": ["--shape", "ogbn-arxiv", "--scale", "0.01", "--batch-size", "64",
                      "--fanout", "5,5", "--hidden", "16", "--rounds", "1", "--steps", "1",
                      "--threads", "1", "--out", "{tmp}/scale.jsonl"],
    "node_table.py": ["--root", "{root}", "--out-dir", "{tmp}/node", "--datasets", "cora",
                      "--models", "gcn", "--optimizers", "adam,fgsam+", "--repeats", "1",
                      "--epochs", "2", "--sampled-epochs", "1"],
    "mol_step_time.py": ["--dataset", "ogbg-molfreesolv", "--rounds", "1", "--steps", "1",
                         "--warmup", "1", "--threads", "1", "--clock", "cpu", *_MOL_TINY],
    "mol_table.py": ["--datasets", "ogbg-molfreesolv", "--optimizers", "adam,graphsam",
                     "--epochs", "1", "--repeats", "1", "--max-molecules", "60", "--json",
                     "{tmp}/mol.json", "--quiet", *_MOL_TINY],
    "propagation.py": ["--root", "{root}", "--graphs", "cora,ogbn-arxiv:0.005", "--rounds", "1",
                       "--steps", "1", "--threads", "1", "--clock", "cpu", "--device", "cpu"],
    "sage_order.py": ["--root", "{root}", "--datasets", "cora", "--rounds", "1", "--steps", "1",
                      "--threads", "1", "--clock", "cpu"],
    "sam_reference.py": ["--root", "{root}", "--model", "mlp", "--layers", "3", "--check-steps",
                         "2", "--rounds", "1", "--steps", "1", "--threads", "1", "--clock",
                         "cpu", "--device", "cpu"],
    "sam_step_time.py": ["--root", "{root}", "--rounds", "1", "--steps", "1", "--threads", "1",
                         "--clock", "cpu", "--device", "cpu"],
    "sharpness_table.py": ["--root", "{root}", "--dataset", "cora", "--way", "2", "--shot", "3",
                           "--query", "5", "--optimizers", "adam,fgsam+", "--seeds", "1",
                           "--episodes", "10", "--val-tasks", "2", "--test-tasks", "2",
                           "--tasks", "2", "--trace-samples", "2", "--noise-samples", "2",
                           "--ascent-steps", "2", "--results", "{tmp}/sharpness.json",
                           "--threads", "1", "--device", "cpu"],
    "small_graphs.py": ["--root", "{root}", "--sizes", "300", "--datasets", "cora", "--rounds",
                        "1", "--steps", "10", "--threads", "1", "--clock", "cpu", "--device",
                        "cpu", "--base-arg", "fused=true"],
    "step_cost.py": ["--root", "{root}", "--quick", "--graphs", "cora", "--tasks", "episode",
                     "--rounds", "1", "--steps", "2", "--threads", "1", "--clock", "cpu",
                     "--device", "cpu"],
    "tsam_memory.py": ["--root", "{root}", "--rounds", "1", "--warmup", "1", "--hidden", "8",
                       "--device", "cpu"],
}


test_the_pinned_benchmarks_are_the_files_on_disk, test_help, test_tiny_run = smoke_tests(
    "benchmarks", BENCHMARKS, TINY_RUNS)
