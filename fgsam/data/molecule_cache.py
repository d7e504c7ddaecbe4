"""Where the processed graphs of the molecule datasets are cached."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fgsam._io import check_output_dir

#: Environment variable naming the cache folder of processed molecule datasets.
CACHE_ENV_VAR = "FGSAM_CACHE"


def molecule_cache_dir(cache_dir: str | os.PathLike[str] | None = None,
                       source: str | os.PathLike[str] | None = None) -> Path:
    """The folder for processed molecule graphs.

    In order: ``cache_dir`` if given; else ``$FGSAM_CACHE``; else ``processed/`` beside
    the ``source`` CSV when that folder can be written (a data root whose folders are
    read-only, by their permission bits, is left alone); else the user cache,
    ``$XDG_CACHE_HOME/fgsam/molecules`` (default ``~/.cache/fgsam/molecules``).

    Example:
        >>> molecule_cache_dir(source="datasets/moleculenet/BBBP.csv")
        PosixPath('datasets/moleculenet/processed')
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    if source is not None:
        beside = Path(source).parent / "processed"
        if writable(beside):
            return beside
    return user_cache_dir()


def check_cache_dir(cache_dir: str | os.PathLike[str] | None, dataset: str,
                    flag: str = "--cache-dir") -> None:
    """Refuse, before any data is loaded, a cache folder the processed graphs of
    ``dataset`` cannot be written to: a file, a location under a file, a read-only folder.

    A folder that already holds a cache of ``dataset`` passes even if read-only, since
    reading it needs no write. With ``cache_dir=None`` the ``$FGSAM_CACHE`` folder is
    checked if set (like an explicit folder, a failure to write it is an error); the
    default locations fall back to the user cache by themselves and are not checked.

    Example:
        >>> check_cache_dir("runs/cache", "ogbg-molbbbp")  # raises ValueError if unwritable
    """

    if cache_dir is None:
        env = os.environ.get(CACHE_ENV_VAR)
        if not env:
            return
        cache_dir, flag = env, f"${CACHE_ENV_VAR}"
    folder = Path(cache_dir).expanduser()
    if folder.is_dir() and any(folder.glob(f"{dataset}-*-v{CACHE_FORMAT}.pt")):
        return
    check_output_dir(folder, flag)


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fgsam/molecules``, default ``~/.cache/fgsam/molecules``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "fgsam" / "molecules"


def writable(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (or, if absent, its nearest existing parent) may be written to:
    access allowed *and* a write permission bit set, so read-only folders stay read-only
    even for a privileged user."""
    path = Path(path).absolute()
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    mode = path.stat().st_mode
    has_w_bit = bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return path.is_dir() and has_w_bit and os.access(path, os.W_OK)


#: Version of the processed cache; bump it when featurisation changes.
CACHE_FORMAT = 1


__all__ = ["CACHE_ENV_VAR", "CACHE_FORMAT", "check_cache_dir", "molecule_cache_dir",
           "user_cache_dir", "writable"]
