"""`handlite demo`: export every variant, parity, accuracy, host benchmark, one table."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from handlite.cli.common import emit_json, err, human, json_option, print_table, progress
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


@click.command()
@click.option("--model", "model_path", default="models/handlite_224.keras", show_default=True,
              type=click.Path(dir_okay=False), help="Trained Keras model (.keras).")
@click.option("--model-112", "model_112", default="models/handlite_112.keras",
              show_default=True, type=click.Path(dir_okay=False),
              help="A second model; each size's variants come from the model trained at that "
                   "size (a model does well near the size it was trained at); '' or a missing "
                   "default file: --model alone, with a warning.")
@click.option("--out", "out_dir", default="build/demo", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the variants and the report.")
@click.option("--count", default=64, show_default=True, type=click.IntRange(min=1),
              help="Synthetic validation crops for parity and accuracy.")
@click.option("--runs", default=30, show_default=True, type=click.IntRange(min=1),
              help="Timed runs per variant (after --warmup).")
@click.option("--warmup", default=5, show_default=True, type=click.IntRange(min=0))
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1))
@json_option
def demo(model_path, model_112, out_dir, count, runs, warmup, threads, as_json):
    """The main job in one command: export all variants of MODEL, check parity against Keras,
    measure accuracy and host speed, and print one table (report.md and plots in --out)."""
    from handlite.demo import DemoSettings, check_model, run_demo

    check_model(model_path)  # fail in one line before any progress display starts
    per_size = {}
    if model_112 and (Path(model_112).is_file()
                      or model_112 != "models/handlite_112.keras"):
        per_size[112] = check_model(model_112)
    settings = DemoSettings(count=count, runs=runs, warmup=warmup, threads=threads)
    with progress(transient=True) as bar:
        report = run_demo(model_path, out_dir, settings, say=lambda m: err.print(m),
                          bench_progress=bar, per_size=per_size)
    if as_json:
        emit_json(report.to_dict())
    else:
        from handlite.report import host_cpu_label

        # the CPU name comes from /proc/cpuinfo and the feature list is in brackets: data
        table = Table(title=safe(f"handlite demo: {report.model} ({threads} thread, host: "
                                 f"{host_cpu_label(report.host)})"))
        for col in ("variant", "KB", "parity EPE px", "AUC", "median ms", "fps",
                    "speed-up vs float32"):
            table.add_column(col, justify="left" if col == "variant" else "right")

        def f(v, spec=".2f"):
            return "-" if v is None else format(v, spec)

        for r in report.rows:
            epe = f(r["parity_epe_px"], ".3f")
            if r["parity_passed"] is False:
                epe = f"[red]{epe} fail[/red]"
            table.add_row(r["variant"], f(r["kb"], ".0f"), epe, f(r["auc"], ".3f"),
                          f(r["median_ms"]), f(r["fps"], ".0f"),
                          "-" if r["speedup"] is None else f"{r['speedup']:.2f}x")
        console = human(as_json)
        print_table(console, table)
        if report.int8_note:
            console.print(safe(f"note: {report.int8_note}"))
        console.print(f"report: {report.files.get('report')}  "
                      f"({report.seconds.get('total', 0):.0f} s)")
    for failure in report.failures:
        err.print(f"[red]failed:[/red] {failure}")
    if not report.ok:
        raise click.exceptions.Exit(1)
