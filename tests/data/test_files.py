"""Fetching catalog files: sha256 checks, missing files, alternates, downloads."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest

from fgsam.data.files import FileSpec, fetch, file_status, locate, open_file, sha256sum

CORA_X = FileSpec(
    "planetoid/Cora/raw/ind.cora.x",
    "https://github.com/kimiyoung/planetoid/raw/master/data/ind.cora.x",
    "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
)


def _copy(data_root: Path, tmp_path: Path, spec: FileSpec) -> Path:
    dst = tmp_path / spec.path
    dst.parent.mkdir(parents=True)
    shutil.copyfile(data_root / spec.path, dst)
    return dst


def test_fetch_returns_checked_real_file(data_root: Path) -> None:
    path = fetch(CORA_X, root=data_root, download=False)
    assert path == data_root / CORA_X.path
    assert sha256sum(path) == CORA_X.sha256


def test_corrupted_byte_is_refused(data_root: Path, tmp_path: Path) -> None:
    copy = _copy(data_root, tmp_path, CORA_X)
    raw = bytearray(copy.read_bytes())
    raw[100] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="sha256") as err:
        fetch(CORA_X, root=tmp_path, download=False)
    assert CORA_X.sha256 in str(err.value) and CORA_X.url in str(err.value)
    assert file_status(CORA_X, tmp_path) == "sha mismatch"


def test_missing_file_offline_names_file_folder_and_url(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        fetch(CORA_X, root=tmp_path, download=False)
    message = str(err.value)
    assert "'ind.cora.x'" in message
    assert str(tmp_path / "planetoid/Cora/raw") in message
    assert CORA_X.url in message
    assert file_status(CORA_X, tmp_path) == "missing"


def test_download_disabled_by_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FGSAM_DOWNLOAD", "0")
    with pytest.raises(FileNotFoundError, match="downloading is disabled"):
        fetch(CORA_X, root=tmp_path)


def test_failed_download_leaves_nothing_behind(tmp_path: Path) -> None:
    spec = FileSpec("a/b.txt", (tmp_path / "no-such-source.txt").as_uri(), None)
    with pytest.raises(FileNotFoundError, match="the download failed"):
        fetch(spec, root=tmp_path / "root", download=True)
    folder = tmp_path / "root" / "a"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_download_checks_sha256_of_downloaded_bytes(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_bytes(b"0 1\n1 2\n")
    good = FileSpec("g/edges.txt", source.as_uri(), hashlib.sha256(b"0 1\n1 2\n").hexdigest())
    assert fetch(good, root=tmp_path / "root", download=True).read_bytes() == b"0 1\n1 2\n"
    bad = FileSpec("h/edges.txt", source.as_uri(), "0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        fetch(bad, root=tmp_path / "root", download=True)


def test_gzip_url_is_decompressed_on_download(tmp_path: Path) -> None:
    original = b"0 1\n0 2\n"
    source = tmp_path / "edges.txt.gz"
    source.write_bytes(gzip.compress(original))
    spec = FileSpec("e/edges.txt", source.as_uri(), hashlib.sha256(original).hexdigest())
    path = fetch(spec, root=tmp_path / "root", download=True)
    assert path.name == "edges.txt" and path.read_bytes() == original


def test_alternate_copy_is_used_and_checked(tmp_path: Path) -> None:
    original = b"1\t2\n2\t1\n"
    packed = gzip.compress(original, mtime=0)
    url = "https://example.org/net"
    alt = FileSpec("d_PARTIAL/net.gz", url, hashlib.sha256(packed).hexdigest())
    spec = FileSpec("d/net", url, hashlib.sha256(original).hexdigest(), (alt,))
    (tmp_path / "d_PARTIAL").mkdir()
    (tmp_path / "d_PARTIAL/net.gz").write_bytes(packed)
    path = fetch(spec, root=tmp_path, download=False)
    assert path == tmp_path / "d_PARTIAL/net.gz"
    assert locate(spec, tmp_path) == (path, alt)
    with open_file(path) as f:
        assert f.read() == original
    corrupt = bytearray(packed)
    corrupt[len(packed) // 2] ^= 0xFF
    (tmp_path / "d_PARTIAL/net.gz").write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match="sha256"):
        fetch(spec, root=tmp_path, download=False)


def test_missing_message_lists_alternates_and_gzip_hint(tmp_path: Path) -> None:
    alt = FileSpec("x_PARTIAL/f.txt.gz", "https://example.org/f.txt.gz")
    spec = FileSpec("x/f.txt", "https://example.org/f.txt.gz", None, (alt,))
    with pytest.raises(FileNotFoundError) as err:
        fetch(spec, root=tmp_path, download=False)
    assert str(tmp_path / "x_PARTIAL/f.txt.gz") in str(err.value)
    assert "decompress" in str(err.value)
