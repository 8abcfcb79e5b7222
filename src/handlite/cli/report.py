"""`handlite report RESULTS.jsonl... --html OUT.html`: one self-contained HTML report."""

from __future__ import annotations

import click

from handlite.cli.common import emit_json, err, json_option
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


@click.command("report")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--html", "html_out", required=True, type=click.Path(dir_okay=False),
              help="Write the report here (one file: tables, charts, device state).")
@json_option
def report(files: tuple[str, ...], html_out: str, as_json: bool) -> None:
    """One HTML file from result FILES: tables, fps bars, latency distributions, op
    profiles, parity and the device state behind each number; no external resources."""
    from handlite.bench.store import read_records
    from handlite.html_report import write_html
    records = [r for f in files for r in read_records(
        f, warn=lambda m: err.print(f"[yellow]warning:[/] {safe(m)}"))]
    write_html(records, html_out, files)
    if as_json:
        emit_json({"html": html_out, "records": len(records)})
    else:
        err.print(safe(f"wrote {html_out} ({len(records)} records)"))
