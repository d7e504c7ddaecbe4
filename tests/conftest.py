"""Shared fixtures: the real data root, and deterministic torch settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread per worker: no oversubscription
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real datasets (``$FGSAM_DATA``). Missing data fails the test: never a skip."""
    env = os.environ.get("FGSAM_DATA")
    if not env or not Path(env).is_dir():
        pytest.fail(
            "the real datasets are needed: set FGSAM_DATA to the data root "
            f"(FGSAM_DATA={env!r} is not a folder)"
        )
    return Path(env)


@pytest.fixture()
def planetoid_root(data_root: Path, tmp_path: Path) -> Path:
    """A writable copy of the Planetoid files (PyG writes ``processed/`` beside ``raw/``)."""
    dst = tmp_path / "planetoid"
    shutil.copytree(data_root / "planetoid", dst)
    return dst


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def _mount_tmpfs(target: Path, options: str) -> None:
    """Mount a small tmpfs at ``target`` (needs root); fail the test, never skip, when that
    is impossible for a root user."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small or read-only file system needs root")
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs at {target}: {done.stderr.strip()}")


@pytest.fixture()
def readonly_dir(tmp_path: Path):
    """A folder on a read-only file system (writes fail with EROFS, even for root)."""
    target = tmp_path / "readonly"
    _mount_tmpfs(target, "ro,size=1m")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


@pytest.fixture()
def full_disk_dir(tmp_path: Path):
    """A 64 KiB file system: ``.path`` is its folder, ``.fill()`` leaves no space at all."""
    target = tmp_path / "small"
    _mount_tmpfs(target, "size=64k")

    def fill() -> None:
        with open(target / ".filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass

    try:
        yield SimpleNamespace(path=target, fill=fill)
    finally:
        subprocess.run(["umount", str(target)], check=False)
