"""fgsam._io: atomic writes that keep the previous version, strict JSON, output checks."""

from __future__ import annotations

import json
import os
import signal

import pytest

from fgsam._io import (
    atomic_write,
    check_output_dir,
    check_output_file,
    read_json_object,
    strict_json,
    write_json,
)
from fgsam.cli import Terminated, _on_sigterm


def temporaries(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_write_keeps_the_previous_version_and_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})

    def fail(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert json.loads(path.read_text()) == {"v": 1} and temporaries(tmp_path) == []


def test_sigterm_during_a_write_removes_the_temporary(tmp_path):
    path = tmp_path / "r.json"
    write_json(path, {"v": 1})
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        def terminated(f):
            f.write(b'{"v": ')
            os.kill(os.getpid(), signal.SIGTERM)

        with pytest.raises(Terminated):
            atomic_write(path, terminated)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert json.loads(path.read_text()) == {"v": 1} and temporaries(tmp_path) == []


def test_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        write_json(tmp_path / "a.json", {})
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_json_is_strict_null_for_non_finite_numbers(tmp_path):
    write_json(tmp_path / "a.json", {"a": float("nan"), "b": [float("inf"), 1.5], "c": (2,)})
    text = (tmp_path / "a.json").read_text()
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": [2]}
    assert strict_json({"x": -float("inf")}) == {"x": None}


def test_output_checks(tmp_path, readonly_dir):
    (tmp_path / "file").write_text("x")
    check_output_file(tmp_path / "new" / "deeper" / "r.json", "--out")  # creatable: fine
    check_output_dir(tmp_path / "new-folder", "--save-checkpoint")
    check_output_file(None, "--out")
    with pytest.raises(ValueError, match=r"^--out '.*' is a folder; give a file name"):
        check_output_file(tmp_path, "--out")
    with pytest.raises(ValueError, match=r"'.*file' is a file, not a folder"):
        check_output_file(tmp_path / "file" / "r.json", "--out")
    with pytest.raises(ValueError, match=r"^--save-checkpoint '.*file' is a file; give a folder"):
        check_output_dir(tmp_path / "file", "--save-checkpoint")
    with pytest.raises(ValueError, match=r"cannot write in .*\(Read-only file system\)"):
        check_output_dir(readonly_dir / "ckpt", "--save-checkpoint")
    assert not list(tmp_path.glob(".fgsam-probe*"))  # the probe file is removed


def test_read_json_object_names_the_file(tmp_path):
    (tmp_path / "bad.json").write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match=r"bad\.json is not valid JSON .*; it should be X"):
        read_json_object(tmp_path / "bad.json", "X")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ValueError, match=r"list\.json holds a JSON list, not an object"):
        read_json_object(tmp_path / "list.json", "X")
