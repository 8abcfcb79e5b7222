"""What every command shares: consoles, `--json` output, progress, option parsers.

Conventions (every command follows them):
- `--json` prints one JSON document on stdout and nothing else there; human output, progress
  and warnings go to stderr in that mode.
- Errors are `HandliteError`s; `main` turns them into one line and an exit code.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from handlite.errors import UsageError
# the JSON policy lives on the ground floor (library modules write JSON too); commands use it
# from here
from handlite.io import jsonable as _jsonable, to_json  # noqa: F401

#: Human output (tables). Goes to stdout unless the command runs with --json.
out = Console(highlight=False)
#: Progress, warnings, errors: always stderr, so stdout stays machine-readable.
err = Console(stderr=True, highlight=False)


def json_option(f: Callable) -> Callable:
    """Add `--json` to a command (machine-readable output on stdout)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON on stdout (nothing else there).")(f)


def emit_json(obj: Any) -> None:
    """Write one JSON document to stdout."""
    click.echo(to_json(obj))


def print_table(console: Console, table: Any) -> None:
    """Print a rich table so that no cell is cut short, wherever the output goes.

    A terminal gets the boxed table with long cells folded onto more lines (never `…`).
    A pipe or file (CI logs, `| less`, `> out.txt`) gets a markdown layout as wide as its
    content, one row a line: readable, greppable, and pasteable into a PR.
    """
    if not isinstance(table, Table):
        console.print(table)
        return
    for column in table.columns:
        column.overflow = "fold"
    if console.is_terminal:
        console.print(table)
        return
    table.box = box.MARKDOWN
    table.show_edge = True
    wide = console.options.update(width=100_000)
    need = Measurement.get(console, wide, table).maximum
    buf = io.StringIO()
    Console(file=buf, width=max(need, 20), highlight=False, no_color=True,
            force_terminal=False, soft_wrap=False).print(table)
    # rich pads every line to the full width: trailing blanks only make logs noisy
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    console.file.write("\n".join(line for line in lines if line) + "\n")
    console.file.flush()


def human(as_json: bool) -> Console:
    """The console for human-readable output: stderr when stdout is reserved for JSON."""
    return err if as_json else out


def progress(transient: bool = False) -> Progress:
    """A rich progress display on stderr with the project's columns."""
    return Progress(SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
                    BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=err, transient=transient)


def terminal_progress() -> Progress:
    """The project's progress display, animated only on a terminal (in CI logs and pipes the
    per-item lines say the same without spinner frames)."""
    bar = progress()
    bar.disable = not err.is_terminal
    return bar


def parse_int_list(value: str | tuple[str, ...] | None, what: str) -> list[int]:
    """'1,2,4' (or repeated options) -> [1, 2, 4] with a clear error on junk."""
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else [value]
    result: list[int] = []
    for part in parts:
        for item in str(part).split(","):
            item = item.strip()
            if not item:
                continue
            try:
                number = int(item)
            except ValueError:
                raise UsageError(f"{what}: {item!r} is not a whole number") from None
            if number <= 0:
                raise UsageError(f"{what}: {number} must be positive")
            result.append(number)
    return result


def parse_str_list(value: str | tuple[str, ...] | None) -> list[str]:
    """'a,b' or repeated options -> ['a', 'b']."""
    if value is None:
        return []
    parts = value if isinstance(value, (list, tuple)) else [value]
    return [item.strip() for part in parts for item in str(part).split(",") if item.strip()]
