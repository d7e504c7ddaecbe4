"""reading/unreadable: a parser's failure on a corrupt file becomes one line naming the file."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest

from fgsam.data.file_errors import reading, unreadable


def test_unreadable_is_one_line_naming_file_expectation_and_cause() -> None:
    err = unreadable(Path("d/g.npz"), "a SparseGraph .npz", EOFError("ran out\n  of input"))
    assert isinstance(err, ValueError)
    assert str(err) == ("d/g.npz: cannot be read as a SparseGraph .npz (EOFError: ran out of "
                        "input); the file is truncated, corrupt or in another format: replace "
                        "it with the published file")


def test_long_parser_messages_are_cut() -> None:
    message = str(unreadable("f", "x", ValueError("y" * 500)))
    assert "y" * 157 + "..." in message and "y" * 158 not in message


@pytest.mark.parametrize("error", [zipfile.BadZipFile("File is not a zip file"),
                                   pickle.UnpicklingError("pickle data was truncated"),
                                   EOFError(), OSError("could not read bytes"),
                                   KeyError("Index"), UnicodeDecodeError("utf-8", b"\xff", 0, 1,
                                                                         "invalid start byte")])
def test_reading_rewords_decoding_failures(error: Exception) -> None:
    pattern = rf"^f.bin: cannot be read as bytes \({type(error).__name__}"
    with pytest.raises(ValueError, match=pattern) as info, reading("f.bin", "bytes"):
        raise error
    assert info.value.__cause__ is error


@pytest.mark.parametrize("error", [FileNotFoundError("gone"), PermissionError("no"),
                                   MemoryError()])
def test_reading_passes_machine_failures_through(error: Exception) -> None:
    with pytest.raises(type(error)), reading("f.bin", "bytes"):
        raise error
