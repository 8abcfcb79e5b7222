"""`handlite export`: a thin wrapper over the library."""

from __future__ import annotations

import click
from rich.table import Table

from handlite.cli.common import (emit_json, human, json_option, parse_int_list, parse_str_list,
                                 print_table, terminal_progress)
from handlite.errors import ExportError
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} MB"


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--size", "sizes", multiple=True,
              help="Input size(s), repeatable or comma-separated (default: the recipe's).")
@click.option("--precision", "precisions", multiple=True,
              help="float32, float16, dynamic, int8; repeatable (default: all).")
@click.option("--out", "out_dir", default="build", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the .tflite files + manifest.")
@click.option("--calibration", default="synth", show_default=True,
              help="int8 calibration data: 'synth' or a data folder.")
@click.option("--calibration-count", default=200, show_default=True, type=int,
              help="Calibration crops for int8 (>= 100 recommended).")
@click.option("--io", "io_type", type=click.Choice(["float32", "uint8", "int8"]), default=None,
              help="int8 input/output tensor type (default: the recipe's).")
@click.option("--decode", type=click.Choice(["heatmaps", "keypoints"]), default="heatmaps",
              show_default=True, help="keypoints: the graph also decodes (keypoints + scores).")
@json_option
def export(models, sizes, precisions, out_dir, calibration, calibration_count, io_type, decode,
           as_json):
    """Convert .keras MODELS to TFLite variants with metadata and a manifest.json.

    Each size's variants come from the model trained at that size (its saved input size);
    with a single model, sizes it was not trained at are rebuilt from it, with a warning."""
    from handlite.export import export as run_export
    from handlite.variants import select

    size_list = parse_int_list(sizes, "--size") or None
    precision_list = parse_str_list(precisions) or None
    planned = select(size_list, precision_list)
    console = human(as_json)
    with terminal_progress() as bar:
        task = bar.add_task("export", total=len(planned))

        def start(variant):
            bar.update(task, description=f"{variant.name}: converting")

        def done(result):
            if result.ok:
                bar.console.print(f"[green]ok[/] {safe(result.file)}  {result.seconds:.1f} s  "
                                  f"{_mb(result.bytes)}")
            else:
                bar.console.print(f"[red]failed[/] {safe(result.error)}")
            bar.advance(task)

        report = run_export(list(models), out_dir, sizes=size_list, precisions=precision_list,
                            calibration=calibration, calibration_count=calibration_count,
                            io=io_type, decode=decode, on_start=start, on_done=done,
                            warn=lambda msg: bar.console.print(  # one line, unwrapped
                                f"[yellow]warning:[/] {safe(msg)}", soft_wrap=True))
    if as_json:
        emit_json(report.to_dict())
    else:
        table = Table(title=safe(f"export to {report.out_dir}"))
        for col in ("variant", "file", "I/O", "seconds", "size"):
            table.add_column(col, justify="right" if col in ("seconds", "size") else "left")
        for r in report.results:
            table.add_row(r.variant,
                          safe(r.file) if r.file else f"[red]{safe(r.error or '')}[/]",
                          r.io, f"{r.seconds:.1f}", _mb(r.bytes))
        for size, source in sorted(report.sources.items()):
            console.print(safe(f"{size} px variants from {source}"), soft_wrap=True)
        print_table(console, table)
        console.print(f"manifest: {report.manifest}  total {report.seconds:.1f} s")
    if not report.ok:
        failed = [r.variant for r in report.results if not r.ok]
        raise ExportError(f"{len(failed)} of {len(report.results)} variants failed: "
                          f"{', '.join(failed)}")
