"""``reading``: a parser's failure on a truncated or corrupt data file, as one clear line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: Failures that are about the machine, not the file's bytes: never reworded.
_PASSED_THROUGH = (FileNotFoundError, PermissionError, IsADirectoryError, MemoryError)


def unreadable(path: str | os.PathLike[str], expected: str, err: BaseException) -> ValueError:
    """The one-line ``ValueError`` for a file that could not be decoded as ``expected``.

    Args:
        path (str): the file.
        expected (str): what the file should hold, e.g. ``"a SparseGraph .npz"``.
        err (BaseException): what the parser raised; its first line is quoted.

    Example:
        >>> unreadable("cora.npz", "a SparseGraph .npz", EOFError("ran out of input"))
        ValueError('cora.npz: cannot be read as a SparseGraph .npz (EOFError: ran out of ...')
    """
    detail = " ".join(str(err).split()) or "no detail"  # parsers' messages may span lines
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return ValueError(f"{os.fspath(path)}: cannot be read as {expected} "
                      f"({type(err).__name__}: {detail}); the file is truncated, corrupt or "
                      f"in another format: replace it with the published file")


@contextmanager
def reading(path: str | os.PathLike[str], expected: str) -> Iterator[None]:
    """Re-raise any decoding failure inside the block as :func:`unreadable`'s ``ValueError``.

    Wrap only the parser's calls (``np.load``, ``scipy.io.loadmat``, ``pickle.load``, ...):
    a reader's own checks raise their own messages outside the block. A missing file, a
    permission problem and ``MemoryError`` pass through unchanged.

    Args:
        path (str): the file being read.
        expected (str): what it should hold, for the message.

    Example:
        >>> with reading(path, "a MATLAB .mat file with keys network/feature/group"):
        ...     mat = scipy.io.loadmat(path)
    """
    try:
        yield
    except _PASSED_THROUGH:
        raise
    except Exception as err:  # a corrupt file can make a parser raise almost anything
        raise unreadable(path, expected, err) from err


__all__ = ["reading", "unreadable"]
