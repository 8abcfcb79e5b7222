"""Entry point: the root group, global options, lazy sub-commands, error mapping."""

from __future__ import annotations

import importlib
import os
import sys

import click

from handlite import __version__, _quiet
from handlite.errors import EXIT_BAD_INPUT, HandliteError
from handlite.text import one_line

# name -> "module:attribute". Imported only when used, so `handlite --help` and light commands
# start without importing TensorFlow.
COMMANDS: dict[str, str] = {
    "model": "handlite.cli.model:model",
    "data": "handlite.cli.data:data",
    "train": "handlite.cli.train:train",
    "evaluate": "handlite.cli.evaluate:evaluate",
    "export": "handlite.cli.export:export",
    "inspect": "handlite.cli.inspect:inspect_cmd",
    "parity": "handlite.cli.parity:parity",
    "predict": "handlite.cli.runtime:predict",
    "bench": "handlite.cli.bench:bench",
    "results": "handlite.cli.results:results",
    "report": "handlite.cli.report:report",
    "demo": "handlite.cli.demo:demo",
    "devices": "handlite.cli.device:devices",
    "push": "handlite.cli.device:push",
    "app": "handlite.cli.app:app",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A command module that is not part of this build yet; any other missing module
            # is a real error and propagates.
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="handlite")
@click.option("--debug", is_flag=True, envvar="HANDLITE_DEBUG",
              help="Show full tracebacks and library logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """handlite: hand keypoints on phones — train, export to TFLite, check parity, benchmark.

    Every command takes --help; commands that report take --json.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        # TensorFlow's C++ and Python logs drown the one-line messages users need.
        _quiet.install()


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("HANDLITE_DEBUG"))
    if not debug:
        _quiet.install()
    try:
        rc = cli.main(args=argv, prog_name="handlite", standalone_mode=False)
    except HandliteError as exc:
        if debug:
            raise
        # messages quote device and tool text: one line, no escape codes on the terminal
        click.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT if exc.exit_code != 0 else 0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if debug:
            raise
        click.echo(f"error: {type(exc).__name__}: {one_line(exc)} (run with --debug for the "
                   "traceback)", err=True)
        sys.exit(EXIT_BAD_INPUT)
    # In non-standalone mode click returns ctx.exit(code) values instead of exiting.
    if isinstance(rc, int) and rc:
        sys.exit(rc)
