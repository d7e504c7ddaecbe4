"""The ``fgsam`` command itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fgsam import __version__
from fgsam.cli import SUBCOMMANDS, build_parser, main


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fgsam {__version__}"


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return list(action.choices)


def test_every_subcommand_module_registers_one_command():
    assert len(subcommands()) == len(SUBCOMMANDS)


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"fgsam {command}" in capsys.readouterr().out


def test_python_dash_m_runs_the_same_command():
    out = subprocess.run([sys.executable, "-m", "fgsam", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"fgsam {__version__}"
