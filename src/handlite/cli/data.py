"""`handlite data`: make synthetic hands, look at a data set."""

from __future__ import annotations

import time

import click

from handlite.cli.common import emit_json, err, human, json_option, progress

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


@click.group()
def data() -> None:
    """Synthetic hands and data-set tools (CMU hand_labels layout, RHD)."""


@data.command("synth")
@click.option("--count", "-n", type=int, required=True, help="How many images to draw.")
@click.option("--seed", "-s", type=int, default=0, show_default=True,
              help="Data-set seed: the same seed and index always give the same image.")
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
              help="Output folder (X.jpg + X.json, CMU hand_labels layout).")
@click.option("--size", type=int, default=256, show_default=True, help="Image side in pixels.")
@click.option("--left-fraction", type=float, default=0.0, show_default=True,
              help="Share of images mirrored into left hands (is_left 1).")
@click.option("--resume", is_flag=True,
              help="Keep samples already in OUT (continue an interrupted run).")
@json_option
def synth(count: int, seed: int, out: str, size: int, left_fraction: float, resume: bool,
          as_json: bool) -> None:
    """Draw COUNT procedural right hands into OUT (deterministic for SEED)."""
    from handlite.data.synthetic import write_dataset

    start = time.perf_counter()
    with progress(transient=True) as bar:
        task = bar.add_task("drawing hands", total=count)
        summary = write_dataset(out, count, seed, size=size, left_fraction=left_fraction,
                                resume=resume,
                                progress=lambda done: bar.update(task, completed=done))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    if as_json:
        emit_json(summary)
    else:
        human(as_json).print(f"wrote {count} hands (seed {seed}, {size}x{size}) to {out} in "
                             f"{summary['seconds']} s")


@data.command("show")
@click.argument("spec")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="Contact sheet to write (.png or .jpg).")
@click.option("--count", "-n", type=int, default=36, show_default=True)
@click.option("--cols", type=int, default=6, show_default=True)
@click.option("--crops/--full", default=False, show_default=True,
              help="Show the network's crops (mirrored left hands) instead of whole images.")
@click.option("--size", type=int, default=224, show_default=True, help="Crop side with --crops.")
@json_option
def show(spec: str, out: str, count: int, cols: int, crops: bool, size: int,
         as_json: bool) -> None:
    """Draw a contact sheet of SPEC (a folder, or synth:DIR | cmu:DIR | rhd:DIR) with
    skeleton overlays."""
    from handlite.data.sheet import contact_sheet

    summary = contact_sheet(spec, out, count=count, cols=cols, crops=crops, size=size)
    if as_json:
        emit_json(summary)
    else:
        err.print(f"wrote {summary['out']} ({summary['count']} images, "
                  f"{summary['width']}x{summary['height']})")


@data.command("render")
@click.option("--count", "-n", type=int, required=True, help="How many images to render.")
@click.option("--seed", "-s", type=int, default=0, show_default=True,
              help="Data-set seed: the same seed and index always give the same image.")
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
              help="Output folder (X.jpg + X.json, the `data synth` layout).")
@click.option("--size", type=int, default=256, show_default=True, help="Image side in pixels.")
@click.option("--workers", "-j", type=int, default=1, show_default=True,
              help="Worker processes (one OpenGL context each); images do not depend on it.")
@click.option("--resume", is_flag=True,
              help="Keep samples already in OUT (continue an interrupted run).")
@json_option
def render(count: int, seed: int, out: str, size: int, workers: int, resume: bool,
           as_json: bool) -> None:
    """Render COUNT rigged 3D hands on photographs into OUT (deterministic for SEED)."""
    from handlite.data.render import write_dataset

    start = time.perf_counter()
    with progress(transient=True) as bar:
        task = bar.add_task("rendering hands", total=count)
        summary = write_dataset(out, count, seed, size=size, workers=workers, resume=resume,
                                progress=lambda done: bar.update(task, completed=done))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["images_per_s"] = round(count / max(summary["seconds"], 1e-9), 1)
    if as_json:
        emit_json(summary)
    else:
        human(as_json).print(f"rendered {count} hands (seed {seed}, {size}x{size}, "
                             f"{summary['photos']} photos) to {out} in {summary['seconds']} s "
                             f"({summary['images_per_s']} images/s, {workers} workers)")
