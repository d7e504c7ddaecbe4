"""Where datasets live: the data root."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that names the data root.
ENV_VAR = "FGSAM_DATA"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$FGSAM_DATA``, else ``./datasets``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path("datasets")


__all__ = ["ENV_VAR", "data_root"]
