"""`handlite model ...`: facts about the network."""

from __future__ import annotations

import click
from rich.table import Table

from handlite.cli.common import emit_json, human, json_option, print_table
from handlite.config import DEFAULTS

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


@click.group()
def model() -> None:
    """The paper's network: MobileNetV2 encoder (stride 16) + depthwise decoder."""


@model.command()
@click.option("--size", "size", type=int, default=DEFAULTS.model.input_size, show_default=True,
              help="Input size in pixels (a multiple of 16).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False),
              help="Summarise a saved .keras model instead of a freshly built one.")
@click.option("--head-width", type=int, default=DEFAULTS.model.head_width, show_default=True,
              help="Decoder channels before upsampling (fresh build only).")
@json_option
def summary(size: int, model_path: str | None, head_width: int, as_json: bool) -> None:
    """Input size, output shape, encoder stride, parameters and MACs."""
    from handlite.model import build_model, check_input_size, load_model, summarize

    check_input_size(size)
    net = (load_model(model_path, size) if model_path
           else build_model(size, head_width=head_width))
    info = summarize(net).to_dict()
    if as_json:
        emit_json(info)
        return
    table = Table(title=f"handlite network at {size}x{size}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("input", f"{size} x {size} x 3 (RGB, (x - 128) / 127.5)")
    table.add_row("output", " x ".join(map(str, info["output_shape"])) + "  (21 keypoints + background)")
    table.add_row("encoder stride", str(info["encoder_stride"]))
    table.add_row("output stride", str(info["output_stride"]))
    table.add_row("parameters", f"{info['params']:,}")
    table.add_row("MACs", f"{info['macs'] / 1e6:,.1f} M")
    table.add_row("decoder widths", f"{info['head_width']} -> {info['up_widths'][0]} -> "
                  f"{info['up_widths'][1]}")
    print_table(human(as_json), table)
