"""fgsam fsnc --settings: a table of comparisons, one JSON, resumable cell by cell."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from fgsam._paired import interval_cell, paired_difference
from fgsam.cli import main
from fgsam.fewshot.sweep import Setting, parse_settings, sweep_controls, sweep_markdown
from tests.json_helpers import timing_free

TINY = ["--episodes", "4", "--val-every", "2", "--val-tasks", "2", "--test-tasks", "3",
        "--repeats", "2", "--hidden", "8", "--quiet", "--optimizer", "adam,fgsam+"]


def sweep(root, out, *extra):
    return main(["fsnc", "--settings", "cora:2:3:5,citeseer:2:1:5", "--method", "gpn,protonet",
                 "--root", str(root), "--out", str(out), *TINY, *extra])


def test_settings_parse_and_bad_items_are_one_line():
    assert parse_settings("cora:2:3, wiki:5:3:8") == [Setting("cora", 2, 3, 10),
                                                      Setting("wiki", 5, 3, 8)]
    for text, message in [("cora:2", "--settings takes DATASET:N:K[:Q] items"),
                          ("cora:2:x", "--settings takes DATASET:N:K[:Q] items"),
                          ("nope:2:3", "--settings: unknown dataset 'nope'"),
                          ("cora:0:3", "N, K and Q must be >= 1"),
                          ("cora:2:3,cora:2:3:10", "lists a setting twice")]:
        with pytest.raises(ValueError, match=re.escape(message)) as info:
            parse_settings(text)
        assert "\n" not in str(info.value)


def test_a_sweep_keeps_every_cell_and_each_equals_its_own_run(data_root, tmp_path, capsys):
    out, md, png = tmp_path / "sweep.json", tmp_path / "sweep.md", tmp_path / "sweep.png"
    assert sweep(data_root, out, "--markdown", str(md), "--plot", str(png)) == 0
    store = json.loads(out.read_text())
    assert store["complete"] is True and len(store["cells"]) == 4
    cell = store["cells"]["cora 2-way 3-shot 5-query / gpn"]
    assert cell["complete"] and set(cell["results"]) == {"adam", "fgsam+"}
    assert cell["results"]["fgsam+"]["vs_baseline"]["baseline"] == "adam"
    text = md.read_text()
    assert "**cora 2-way 3-shot 5-query**" in text and "**citeseer 2-way 1-shot 5-query**" in text
    assert "| optimizer | gpn acc (%) | gpn Δ vs adam | gpn CPU s / 200 ep | protonet acc" in text
    summary = text.splitlines()[:6]  # the whole sweep first: a row per cell
    assert summary[0] == "| setting | method | adam acc (%) | fgsam+ Δ |"
    d = cell["results"]["fgsam+"]["vs_baseline"]
    interval = f"{d['mean']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}]".replace("-0.0", "+0.0")
    bold = d["low"] > 0 or d["high"] < 0
    assert summary[2] == (f"| cora 2-way 3-shot 5-query | gpn | "
                          f"{cell['results']['adam']['accuracy']['mean']:.2f} | "
                          f"{f'**{interval}**' if bold else interval} |")
    assert summary[5].startswith("| citeseer 2-way 1-shot 5-query | protonet | ")
    # against a control: fgsam+ as the control, adam the other, the same paired statistics
    controls = sweep_controls(store, "fgsam+").splitlines()
    assert controls[0] == "| cell | fgsam+ acc (%) | adam − fgsam+ |" and len(controls) == 6
    r = cell["results"]
    back = paired_difference([x["test_accs"] for x in r["fgsam+"]["repeats"]],
                             [x["test_accs"] for x in r["adam"]["repeats"]])
    expected = interval_cell(100 * back.mean, 100 * back.low, 100 * back.high, back.p_value, 1)
    assert controls[2] == (f"| cora 2-way 3-shot 5-query / gpn | "
                           f"{r['fgsam+']['accuracy']['mean']:.2f} | {expected} |")
    assert sweep_controls(store, "sam").splitlines()[2:] == []  # no cell holds it
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "sweep.json.cell.json").exists()
    # the cell is the single comparison it names, number for number
    one = tmp_path / "one.json"
    assert main(["fsnc", "--dataset", "cora", "--way", "2", "--shot", "3", "--query", "5",
                 "--method", "gpn", "--root", str(data_root), "--out", str(one), *TINY]) == 0
    single = json.loads(one.read_text())["results"]
    for name in ("adam", "fgsam+"):
        assert single[name]["accuracy"] == cell["results"][name]["accuracy"]
        assert single[name]["repeats"][0]["test_accs"] == \
            cell["results"][name]["repeats"][0]["test_accs"]


def test_an_interrupted_sweep_resumes_with_the_missing_cells_only(data_root, tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert sweep(data_root, out) == 0
    store = json.loads(out.read_text())
    gone = store["cells"].pop("citeseer 2-way 1-shot 5-query / protonet")
    out.write_text(json.dumps(store))
    capsys.readouterr()
    assert sweep(data_root, out) == 0
    printed = capsys.readouterr().out
    assert printed.count(": done (in ") == 3
    assert "== citeseer 2-way 1-shot 5-query / protonet\n" in printed
    again = json.loads(out.read_text())["cells"]["citeseer 2-way 1-shot 5-query / protonet"]
    assert again["results"]["adam"]["accuracy"] == gone["results"]["adam"]["accuracy"]
    # the same file with another protocol is refused, before any work
    assert main(["fsnc", "--settings", "cora:2:3:5", "--method", "gpn,protonet", "--root",
                 str(data_root), "--out", str(out), *TINY, "--lr", "0.1"]) == 2
    assert "holds a sweep with other settings (lr)" in capsys.readouterr().err


def test_a_failing_cell_is_recorded_and_the_others_run(data_root, tmp_path, capsys):
    out = tmp_path / "sweep.json"
    # Cora has 2 test classes: a 3-way cell cannot be sampled
    rc = main(["fsnc", "--settings", "cora:3:3:5,cora:2:3:5", "--method", "gpn", "--root",
               str(data_root), "--out", str(out), *TINY])
    assert rc == 2
    cells = json.loads(out.read_text())["cells"]
    bad, good = cells["cora 3-way 3-shot 5-query / gpn"], cells["cora 2-way 3-shot 5-query / gpn"]
    assert bad["complete"] is False and "n_way=3 is larger than" in bad["error"]
    assert good["complete"] is True
    assert "fgsam fsnc: error: cora 3-way 3-shot 5-query / gpn: n_way=3" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    ([], "a sweep (--settings, or several --method) needs --out FILE"),
    (["--out", "{tmp}/s.json", "--save-checkpoint", "{tmp}/ck"],
     "--save-checkpoint keeps one comparison's models"),
    (["--out", "{tmp}/s.json", "--method", "gpn,gpn"], "--method needs distinct method names"),
])
def test_bad_sweeps_are_refused_before_any_work(tmp_path, capsys, extra, message):
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    args = ["fsnc", "--settings", "cora:2:3", "--root", str(tmp_path / "no-data"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_terminated_sweep_keeps_the_repeats_of_its_cell_and_resumes_them(data_root, tmp_path,
                                                                           capsys):
    whole = tmp_path / "whole.json"
    one = ["--settings", "cora:2:3:5", "--method", "gpn,protonet", "--root", str(data_root),
           *TINY, "--repeats", "4"]
    assert main(["fsnc", *one, "--out", str(whole)]) == 0
    out = tmp_path / "cut.json"
    cell_file = tmp_path / "cut.json.cell.json"
    proc = subprocess.Popen([sys.executable, "-m", "fgsam", "fsnc", *one, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # SIGTERM once the first cell has a finished repeat
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if cell_file.is_file() and '"repeats": [' in cell_file.read_text():
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    cut = json.loads(out.read_text())
    assert not cell_file.exists() and cut["complete"] is False
    cell = cut["cells"]["cora 2-way 3-shot 5-query / gpn"]
    kept = sum(len(r["repeats"]) for r in cell["results"].values())
    assert cell["complete"] is False and 1 <= kept < 8
    capsys.readouterr()
    assert main(["fsnc", *one, "--out", str(out)]) == 0
    assert "of 8 runs finished" in capsys.readouterr().out
    resumed, expected = (json.loads(p.read_text())["cells"] for p in (out, whole))
    for cells in (resumed, expected):
        for c in cells.values():
            c["arguments"].pop("out")
    assert timing_free(resumed) == timing_free(expected)


def test_the_cell_a_killed_sweep_left_is_resumed_and_unfinished_cells_stay_out_of_tables(
        data_root, tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert sweep(data_root, out) == 0
    store = json.loads(out.read_text())
    key = "citeseer 2-way 1-shot 5-query / gpn"
    full = store["cells"][key]
    # as a SIGKILL leaves it: the cell's own file holds one repeat per optimizer
    left = json.loads(json.dumps(full))
    left["complete"] = False
    for r in left["results"].values():
        r["repeats"] = r["repeats"][:1]
    store["cells"][key] = {"complete": False, "error": "killed"}
    out.write_text(json.dumps(store))
    (tmp_path / "sweep.json.cell.json").write_text(json.dumps(left))
    text = sweep_markdown(json.loads(out.read_text()), parse_settings("citeseer:2:1:5"), ["gpn"])
    assert "- gpn: killed" in text
    store["cells"][key] = left  # an unfinished cell is not shown as if it were finished
    shown = sweep_markdown(store, parse_settings("citeseer:2:1:5"), ["gpn"])
    assert f"{full['results']['adam']['accuracy']['mean']:.2f}" not in shown
    capsys.readouterr()
    assert sweep(data_root, out) == 0
    assert f"resuming {tmp_path / 'sweep.json.cell.json'}: 2 of 4 runs finished" in \
        capsys.readouterr().out
    again = json.loads(out.read_text())["cells"][key]
    assert not (tmp_path / "sweep.json.cell.json").exists()
    assert timing_free(again["results"]) == timing_free(full["results"])


def test_a_finished_sweep_asked_for_more_repeats_extends_every_cell(data_root, tmp_path,
                                                                  capsys):
    one = ["fsnc", "--settings", "cora:2:3:5", "--method", "gpn,protonet", "--root",
           str(data_root), *TINY]  # TINY: 2 repeats
    fresh, grown = tmp_path / "fresh.json", tmp_path / "grown.json"
    assert main([*one, "--out", str(fresh)]) == 0
    assert main([*one, "--out", str(grown), "--repeats", "1"]) == 0
    capsys.readouterr()
    assert main([*one, "--out", str(grown)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("2 of 4 runs finished") == 2 and ": done (in " not in printed
    store = json.loads(grown.read_text())
    assert store["complete"] is True and store["protocol"]["repeats"] == 2
    cells = [json.loads(p.read_text())["cells"] for p in (grown, fresh)]
    for c in (c for cs in cells for c in cs.values()):
        c["arguments"].pop("out")
    assert timing_free(cells[0]) == timing_free(cells[1])
    # fewer repeats than the sweep holds is refused, before any work
    assert main([*one, "--out", str(grown), "--repeats", "1"]) == 2
    assert "holds a sweep of 2 repeats; resume it with --repeats 2 or more" in \
        capsys.readouterr().err
