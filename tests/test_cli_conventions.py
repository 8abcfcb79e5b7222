"""CLI conventions every command follows."""

import subprocess
import sys

import click
import pytest

from handlite import __version__
from handlite.cli.main import COMMANDS, LazyGroup, cli, main


def _all_commands():
    ctx = click.Context(cli)
    found = []

    def walk(group, path):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            found.append(path + [name])
            if isinstance(cmd, click.Group):
                walk(cmd, path + [name])

    walk(cli, [])
    return found


def test_version(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and __version__ in out


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help(path, run_cli):
    code, out, _ = run_cli(*path, "--help")
    assert code == 0 and "Usage:" in out


def test_every_registered_command_module_exists():
    # a name in the table whose module is missing would silently vanish from --help
    missing = [name for name in COMMANDS if LazyGroup._load(name) is None]
    assert not missing, f"registered commands without a module: {missing}"


def test_unknown_command_exits_2(run_cli):
    code, _, err = run_cli("no-such-command")
    assert code == 2 and "no-such-command" in err


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "handlite", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and __version__ in result.stdout
