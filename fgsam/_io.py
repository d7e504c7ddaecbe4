"""Private file layer: atomic writes, strict JSON, ``torch.save``, output checks.

Every file fgsam writes goes through :func:`atomic_write`: a temporary file beside the
target, then :func:`os.replace`, so a reader (or a crash) never sees half a file. The
file gets the mode an ordinary ``open(path, "w")`` would give it (``0o666`` less the
umask), not the ``0600`` of :func:`tempfile.mkstemp`. Temporary files still open when
the process is terminated are removed by :func:`remove_temporaries`, which the command
line calls on ``SIGTERM``.

This module imports nothing from the rest of fgsam, so every package may use it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

#: Temporary files being written right now (removed on SIGTERM by the command line).
_TEMPORARIES: set[str] = set()


def _umask_mode() -> int:
    mask = os.umask(0)  # the only portable way to read the umask is to set it
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path`` and move it into place.

    A failure at any point (including a full disk or an interrupt) leaves ``path`` as it
    was, absent or the previous version, and removes the temporary file. The folder is
    created if needed; the file gets the umask-derived mode.

    Example:
        >>> atomic_write("out.bin", lambda f: f.write(b"data"))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _TEMPORARIES.add(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _TEMPORARIES.discard(tmp)
    return path


def remove_temporaries() -> None:
    """Delete every temporary file :func:`atomic_write` has open (for signal handlers)."""
    for tmp in list(_TEMPORARIES):
        Path(tmp).unlink(missing_ok=True)
        _TEMPORARIES.discard(tmp)


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None``, so that the JSON is
    strict (``null``, never the ``NaN`` that most JSON readers reject)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented, strict JSON (non-finite numbers become ``null``),
    atomically."""
    text = json.dumps(strict_json(obj), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_json_object(path: str | os.PathLike[str], expected: str) -> dict[str, Any]:
    """The JSON object in ``path``; a one-line ``ValueError`` naming the file and
    ``expected`` (what it should be) when it is not valid JSON or not an object."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); it should be {expected}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a JSON {type(value).__name__}, not an object; it should "
                         f"be {expected}")
    return value


def torch_save(path: str | os.PathLike[str], obj: Any) -> Path:
    """``torch.save(obj)`` to ``path``, atomically."""
    import torch  # only the writers of weights need torch here

    return atomic_write(path, lambda f: torch.save(obj, f))


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(folder: Path, flag: str, given: Path) -> None:
    """``folder`` (or its nearest existing ancestor) is a folder where files can be made:
    tried with a real file, which also sees read-only file systems. ``given`` is the
    path the user gave, for the message."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise ValueError(f"{flag} {str(given)!r}: {str(base)!r} is a file, not a folder; "
                         f"give a path inside a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fgsam-probe.", dir=base)
    except OSError as err:
        raise ValueError(f"{flag} {str(given)!r}: cannot write in {str(base)!r} "
                         f"({err.strerror}); give a writable location") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: str | os.PathLike[str] | None, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, a
    location under a file, a read-only file or folder. ``None`` passes."""
    if path is None:
        return
    path = Path(path)
    _check_file_itself(path, flag)
    _check_creatable(path.parent, flag, path)


def _check_file_itself(path: Path, flag: str) -> None:
    if path.is_dir():
        raise ValueError(f"{flag} {str(path)!r} is a folder; give a file name, e.g. "
                         f"{str(path / 'results.json')!r}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {str(path)!r} exists and is not writable; give another "
                         f"file or make it writable")


def check_output_dir(path: str | os.PathLike[str] | None, flag: str,
                     files: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, an output folder that cannot be written: an existing
    file, a location under a file, a read-only folder, or one of ``files`` inside it
    that is a folder or read-only. ``None`` passes."""
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {str(path)!r} is a file; give a folder (it is created if "
                         f"missing)")
    _check_creatable(path, flag, path)
    for name in files:  # their folder was just probed: check the files themselves only
        _check_file_itself(path / name, flag)


__all__ = ["atomic_write", "check_output_dir", "check_output_file", "read_json_object",
           "remove_temporaries", "strict_json", "torch_save", "write_json"]
