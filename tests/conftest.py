"""Shared fixtures: the real data root, and deterministic torch settings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
