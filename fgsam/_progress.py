"""Progress display for the commands: a tqdm bar on a terminal, a line now and then in a log.

A tqdm bar redraws itself with carriage returns; written to a file or a CI log that becomes
one very long line per bar (about 100 KB for a small comparison). Off a terminal the
commands therefore print a plain line at every tenth of the work and at the end instead.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tqdm.auto import tqdm


class LineProgress:
    """The part of tqdm's interface the commands use (``update``, ``set_postfix``,
    ``set_description``, ``close``, iteration), printing one line per tenth of ``total``.

    Args:
        iterable (iterable, optional): what to iterate over. (default: ``None``)
        total (int, optional): the amount of work (``len(iterable)`` if not given).
        desc (str, optional): the line's prefix. (default: ``""``)
        file (file, optional): where to write. (default: ``sys.stderr``)
        parts (int, optional): lines over the whole work, besides the last. (default: ``10``)
    """

    def __init__(self, iterable: Iterable[Any] | None = None, total: int | None = None,
                 desc: str = "", file: TextIO | None = None, parts: int = 10) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.n = total, desc, 0
        self.file = file if file is not None else sys.stderr
        self.parts = parts
        self._postfix = ""
        self._shown = 0  # the tenths already printed
        self._closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total:
            part = self.n * self.parts // self.total
            if part > self._shown and self.n < self.total:
                self._shown = part
                self._line()

    def set_postfix(self, **values: Any) -> None:
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._line()

    def _line(self) -> None:
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        tail = f" ({self._postfix})" if self._postfix else ""
        print(f"{self.desc}: {done}{tail}", file=self.file, flush=True)


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None,
             desc: str = "", enabled: bool = True, **tqdm_options: Any) -> Any:
    """A progress display: nothing if not ``enabled``, a tqdm bar when standard error is a
    terminal, else a :class:`LineProgress`.

    Example:
        >>> bar = progress(total=1000, desc="adam repeat 0", enabled=True)
        >>> bar.update(1); bar.set_postfix(val="51.2"); bar.close()
    """
    if enabled and not _is_terminal(sys.stderr):
        return LineProgress(iterable, total=total, desc=desc)
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, **tqdm_options)


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


__all__ = ["LineProgress", "progress"]
