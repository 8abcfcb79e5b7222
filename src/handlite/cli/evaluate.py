"""`handlite evaluate`: keypoint accuracy of a Keras model on a data set."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from handlite.cli.common import emit_json, human, json_option, print_table
from handlite.cli.train import DATA_HELP
from handlite.config import DEFAULTS

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", "-d", default="synth", show_default=True, help=DATA_HELP)
@click.option("--size", type=int, default=DEFAULTS.model.input_size, show_default=True,
              help="Input size to rebuild the network at.")
@click.option("--count", "-n", type=int, default=None,
              help="Evaluate at most this many hands (the in-memory synth set: 256).")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write the PCK curve to this PNG.")
@click.option("--per-keypoint", is_flag=True, help="Also print a per-keypoint table.")
@click.option("--compare", "compare", multiple=True, type=click.Path(dir_okay=False),
              help="A MediaPipe-style landmark .tflite (float [0,1] input, 63-value output) "
                   "scored on the same crops; repeatable.")
@json_option
def evaluate(model, data, size, count, plot, per_keypoint, compare, as_json) -> None:
    """Keypoint accuracy of MODEL (.keras) on DATA (hand3d conventions: EPE, PCK, AUC)."""
    from handlite.metrics import plot_pck
    from handlite.train import evaluate as run_evaluate

    result = run_evaluate(model, data, size=size, count=count, compare=list(compare) or None)
    others = result.get("compare", [])
    if plot:
        curves = {f"{model} {size}x{size}": result}
        curves.update({f"{o['model']} ({o['input_size']} px)": o for o in others})
        plot_pck(curves, plot, title=f"PCK on {data}")
        result["plot"] = plot
    if as_json:
        emit_json(result)
        return

    con = human(as_json)
    table = Table(title=escape(f"{model} on {data} at {size}x{size} ({result['hands']} hands)"))
    table.add_column("metric")
    table.add_column(escape(Path(model).name) if others else "value", justify="right")
    for o in others:
        table.add_column(escape(f"{Path(o['model']).name} ({o['input_size']} px in)"),
                         justify="right")
    for key in ("auc", "epe_mean_px", "epe_median_px", "pck_5px", "pck_10px", "pck_20px",
                "pckh_auc", "pckh_0.5"):
        if key in result:
            table.add_row(key, *(f"{r[key]:.4f}" for r in (result, *others)))
    base = result["baseline_mean_hand"]
    pad = [""] * len(others)
    table.add_row("[dim]constant mean hand: auc[/dim]", f"[dim]{base['auc']:.4f}[/dim]", *pad)
    table.add_row("[dim]constant mean hand: epe_median_px[/dim]",
                  f"[dim]{base['epe_median_px']:.4f}[/dim]", *pad)
    print_table(con, table)
    if per_keypoint:
        kt = Table(title="per keypoint")
        for col in ("keypoint", "EPE mean px", "EPE median px", "AUC", "count"):
            kt.add_column(col, justify="right" if col != "keypoint" else "left")
        for name, row in result["per_keypoint"].items():
            kt.add_row(name, *(f"{row[k]:.2f}" if row[k] is not None else "-" for k in
                               ("epe_mean_px", "epe_median_px", "auc")), str(row["count"]))
        con.print(kt)
    con.print(f"[dim]{escape(result['convention'])}[/dim]")
    if others:
        con.print("[dim]foreign models: the same crops resized to their input; landmarks "
                  "mapped back to crop pixels (src/handlite/foreign.py)[/dim]")
