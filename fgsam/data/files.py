"""Files of the catalog: where each goes, where it comes from, and its checksum."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fgsam.data.root import ENV_VAR, data_root

#: Set to ``0`` to never try a download (the default tries once, then explains).
DOWNLOAD_ENV_VAR = "FGSAM_DOWNLOAD"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its path under the data root, its source and its sha256.

    Args:
        path (str): path relative to the data root, e.g. ``"planetoid/Cora/raw/ind.cora.x"``.
        url (str): published download URL.
        sha256 (str, optional): expected checksum; ``None`` skips the check.
    """

    path: str
    url: str
    sha256: str | None = None


def sha256sum(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, spec: FileSpec) -> None:
    """Raise ``ValueError`` if ``path``'s sha256 differs from ``spec.sha256``."""
    if spec.sha256 is None:
        return
    found = sha256sum(path)
    if found != spec.sha256:
        raise ValueError(
            f"{path} has sha256 {found}, but the catalog expects {spec.sha256}: the file is "
            f"corrupt or a different version. Delete it and fetch it again from {spec.url}"
        )


def fetch(spec: FileSpec, root: str | os.PathLike[str] | None = None,
          download: bool | None = None) -> Path:
    """The local path of ``spec`` under the data root, checked against its sha256.

    A missing file is downloaded from ``spec.url`` when ``download`` is true (default:
    unless ``$FGSAM_DOWNLOAD=0``), written atomically. If it cannot be obtained, a
    ``FileNotFoundError`` names the file, the folder it belongs in and its URL.
    """
    base = data_root(root)
    path = base / spec.path
    if not path.is_file():
        if download is None:
            download = os.environ.get(DOWNLOAD_ENV_VAR, "1") not in ("0", "false", "no")
        reason = "downloading is disabled"
        if download:
            try:
                _download(spec.url, path)
            except (urllib.error.URLError, OSError, TimeoutError) as err:
                reason = f"the download failed ({err})"
        if not path.is_file():
            raise FileNotFoundError(
                f"missing dataset file {path.name!r}: expected at {path} (folder {path.parent}); "
                f"{reason}. Get it from {spec.url} and put it there, or point the data root "
                f"elsewhere with root=/--root or ${ENV_VAR}"
            )
    verify(path, spec)
    return path


def _download(url: str, path: Path, timeout: float = 60.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


__all__ = ["DOWNLOAD_ENV_VAR", "FileSpec", "fetch", "sha256sum", "verify"]
