"""Files of the catalog: where each goes, where it comes from, and its checksum."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fgsam._io import atomic_write
from fgsam.data.root import ENV_VAR, data_root

#: Set to ``0`` to never try a download (the default tries once, then explains).
DOWNLOAD_ENV_VAR = "FGSAM_DOWNLOAD"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its path under the data root, its source and its sha256.

    Args:
        path (str): path relative to the data root, e.g. ``"planetoid/Cora/raw/ind.cora.x"``.
        url (str): published download URL. A URL ending in ``.gz`` for a ``path`` that does
            not is decompressed on download, so the sha256 is that of the original bytes.
        sha256 (str, optional): expected checksum; ``None`` skips the check.
        alternates (tuple of FileSpec, optional): other accepted copies of the same file
            (a gzip-compressed copy, another folder), each checked against its own sha256.
            They are looked for, never downloaded. (default: ``()``)
    """

    path: str
    url: str
    sha256: str | None = None
    alternates: tuple[FileSpec, ...] = ()

    def candidates(self) -> tuple[FileSpec, ...]:
        """This spec, then its alternates: the order in which copies are looked for."""
        return (self, *self.alternates)


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


def locate(spec: FileSpec, root: str | os.PathLike[str] | None = None
           ) -> tuple[Path, FileSpec] | None:
    """The first copy of ``spec`` present under the data root and the spec it matches.

    Nothing is checked or downloaded; ``None`` when no copy is present.
    """
    base = data_root(root)
    for candidate in spec.candidates():
        path = base / candidate.path
        if path.is_file():
            return path, candidate
    return None


def file_status(spec: FileSpec, root: str | os.PathLike[str] | None = None) -> str:
    """``"ok"`` (present, sha256 matches or unknown), ``"missing"`` or ``"sha mismatch"``."""
    found = locate(spec, root)
    if found is None:
        return "missing"
    path, matched = found
    if matched.sha256 is not None and sha256sum(path) != matched.sha256:
        return "sha mismatch"
    return "ok"


def fetch(spec: FileSpec, root: str | os.PathLike[str] | None = None,
          download: bool | None = None) -> Path:
    """The local path of ``spec`` under the data root, checked against its sha256.

    The first copy present among ``spec`` and its alternates is used. If none is present,
    the file is downloaded from ``spec.url`` when ``download`` is true (default: unless
    ``$FGSAM_DOWNLOAD=0``), written atomically. If it cannot be obtained, a
    ``FileNotFoundError`` names the file, the folder it belongs in and its URL.
    """
    found = locate(spec, root)
    if found is None:
        path = data_root(root) / spec.path
        if download is None:
            download = os.environ.get(DOWNLOAD_ENV_VAR, "1") not in ("0", "false", "no")
        reason = "downloading is disabled"
        if download:
            try:
                _download(spec.url, path)
            except (urllib.error.URLError, OSError, TimeoutError, EOFError) as err:
                reason = f"the download failed ({err})"
        if not path.is_file():
            raise FileNotFoundError(_missing_message(spec, path, data_root(root), reason))
        found = path, spec
    path, matched = found
    verify(path, matched)
    return path


def open_file(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a data file for binary reading; a ``.gz`` file is decompressed on the fly."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _missing_message(spec: FileSpec, path: Path, base: Path, reason: str) -> str:
    packed = " (gzip-compressed there: decompress it)" if _gunzips(spec.url, path) else ""
    also = "".join(f"; a copy at {base / alt.path} is also accepted" for alt in spec.alternates)
    return (
        f"missing dataset file {path.name!r}: expected at {path} (folder {path.parent}){also}; "
        f"{reason}. Get it from {spec.url}{packed} and put it there, or point the data root "
        f"elsewhere with root=/--root or ${ENV_VAR}"
    )


def _gunzips(url: str, path: Path) -> bool:
    return url.endswith(".gz") and not path.name.endswith(".gz")


def _download(url: str, path: Path, timeout: float = 60.0) -> None:
    def write(out: BinaryIO) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            source = gzip.GzipFile(fileobj=resp) if _gunzips(url, path) else resp
            shutil.copyfileobj(source, out)

    atomic_write(path, write)


__all__ = [
    "DOWNLOAD_ENV_VAR",
    "FileSpec",
    "fetch",
    "file_status",
    "locate",
    "open_file",
    "sha256sum",
    "verify",
]
