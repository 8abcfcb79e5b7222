"""`handlite model ...`: facts about the network."""

from __future__ import annotations

import click
from rich.table import Table

from handlite.cli.common import emit_json, err, human, json_option, print_table
from handlite.config import DEFAULTS
from handlite.text import safe

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
    table.add_row("heatmap smoothing", f"sigma {info['smoothing_sigma']:g} cells"
                  if info["smoothing_sigma"] else "none")
    print_table(human(as_json), table)


@model.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--sigma", type=float, default=DEFAULTS.model.heatmap_smoothing, show_default=True,
              help="Gaussian sigma in heatmap cells (0: remove the smoothing).")
@click.option("--target-sigma", type=float, default=DEFAULTS.codec.sigma, show_default=True,
              help="Sigma of the training targets (sets the gain that keeps their peak).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="The .keras file to write (atomically; may be MODEL itself).")
@json_option
def smooth(model_path: str, sigma: float, target_sigma: float, out_path: str,
           as_json: bool) -> None:
    """Write MODEL with its heatmap smoothing set to SIGMA (replacing any it has).

    The smoothing is a fixed depthwise Gaussian after the last 1x1 conv (DARK's distribution
    modulation inside the network): every export and runtime then reads smoothed maps.
    """
    from handlite.errors import UsageError
    from handlite.model import load_model, save_model, smoothing_of, with_smoothing

    if not str(out_path).endswith(".keras"):
        raise UsageError(f"--out must name a .keras file, got {out_path}")
    net = with_smoothing(load_model(model_path), sigma, target_sigma=target_sigma)
    save_model(net, out_path)
    info = smoothing_of(net)
    result = {"model": str(model_path), "out": str(out_path),
              "sigma": round(info["sigma"], 4) if info else 0.0,
              "gain": round(info["gain"], 4) if info else None,
              "kernel": int(info["kernel"].shape[0]) if info else 0}
    if as_json:
        emit_json(result)
        return
    what = (f"sigma {result['sigma']} cells, {result['kernel']}x{result['kernel']} kernel, "
            f"gain {result['gain']}" if info else "no smoothing")
    err.print(safe(f"{out_path}: heatmap smoothing {what}"))
