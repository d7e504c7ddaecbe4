"""Progress: tqdm on a terminal, one plain line per tenth of the work in a log."""

from __future__ import annotations

import io
import subprocess
import sys

from fgsam._progress import LineProgress, progress


def test_lines_at_each_tenth_and_at_the_end_without_carriage_returns():
    out = io.StringIO()
    bar = LineProgress(total=1000, desc="adam repeat 0", file=out)
    for i in range(1000):
        if i == 499:  # set before the 500th update, whose line shows it
            bar.set_postfix(val="51.2", best="52.0")
        bar.update(1)
    bar.close()
    bar.close()  # a second close prints nothing
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 10
    assert lines[0] == "adam repeat 0: 100/1000"
    assert lines[4] == "adam repeat 0: 500/1000 (val=51.2, best=52.0)"
    assert lines[-1] == "adam repeat 0: 1000/1000 (val=51.2, best=52.0)"


def test_iteration_counts_and_closes():
    out = io.StringIO()
    bar = LineProgress(range(4), desc="sharpness", file=out)
    assert list(bar) == [0, 1, 2, 3]
    assert out.getvalue().splitlines() == ["sharpness: 1/4", "sharpness: 2/4", "sharpness: 3/4",
                                           "sharpness: 4/4"]


def test_off_a_terminal_the_command_helper_writes_lines_and_disabled_writes_nothing():
    code = ("from fgsam._progress import progress\n"
            "b = progress(total=20, desc='x'); [b.update(1) for _ in range(20)]; b.close()\n"
            "q = progress(total=20, desc='quiet', enabled=False); q.update(20); q.close()\n")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stderr
    assert "\r" not in err and err.splitlines()[-1] == "x: 20/20" and "quiet" not in err
    from tqdm import tqdm

    assert isinstance(progress(total=1, enabled=False), tqdm)
