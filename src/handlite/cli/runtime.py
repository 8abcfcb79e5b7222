"""`handlite predict`: run one handlite .tflite on one image, draw the skeleton."""

from __future__ import annotations

import click
from rich.table import Table

from handlite.cli.common import emit_json, err, human, json_option, print_table
from handlite.errors import UsageError
from handlite.text import safe

# handlite's library modules are imported inside the commands, on use: `handlite --help`
# imports every command module, and should not load what only one command needs.


def _parse_box(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 4:
        raise UsageError(f"--box wants x,y,w,h (four numbers), got {value!r}")
    try:
        return tuple(float(p) for p in parts)  # type: ignore[return-value]
    except ValueError:
        raise UsageError(f"--box wants x,y,w,h numbers, got {value!r}") from None


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--box", metavar="X,Y,W,H",
              help="Hand box in image pixels; the crop is the square around it "
                   "(default: the whole image).")
@click.option("--left", is_flag=True, help="A left hand: mirrored in and out.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Write the image with the skeleton drawn on it (.png/.jpg).")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="Interpreter CPU threads.")
@click.option("--allow-nan", is_flag=True,
              help="Decode outputs that hold NaN/Inf instead of failing (exit 1) on them.")
@json_option
def predict(model, image, box, left, out_path, threads, allow_nan, as_json):
    """Keypoints of the hand in IMAGE with the exported MODEL (.tflite with handlite metadata).

    Prints the 21 keypoints (image pixels) with scores and the time of each step.
    """
    from handlite.runtime import draw_skeleton, predict_file, save_image

    pred, runtime, rgb = predict_file(model, image, box=_parse_box(box), left=left,
                                      threads=threads, allow_nan=allow_nan)
    if out_path:
        save_image(out_path, draw_skeleton(rgb, pred.keypoints, runtime.skeleton,
                                           pred.scores, pred.crop))
    if as_json:
        emit_json({"model": str(model), "image": str(image),
                   "variant": runtime.metadata.get("variant"),
                   **pred.to_dict(runtime.keypoint_names),
                   "overlay": str(out_path) if out_path else None})
        return

    table = Table(title=safe(f"{runtime.metadata.get('variant')} on {image}"
                             f"{' (left hand)' if left else ''}"))
    for col in ("#", "keypoint", "x", "y", "score"):
        table.add_column(col, justify="left" if col == "keypoint" else "right")
    names = runtime.keypoint_names or [str(i) for i in range(len(pred.keypoints))]
    for i, ((x, y), score) in enumerate(zip(pred.keypoints, pred.scores)):
        table.add_row(str(i), safe(names[i]), f"{x:.1f}", f"{y:.1f}", f"{score:.3f}")
    console = human(as_json)
    print_table(console, table)
    t = pred.timings_ms
    console.print(f"crop x0={pred.crop.x0} y0={pred.crop.y0} side={pred.crop.side}; "
                  f"preprocess {t['preprocess']:.2f} ms, invoke {t['invoke']:.2f} ms, "
                  f"decode {t['decode']:.2f} ms (first run, includes warm-up)")
    if out_path:
        err.print(safe(f"overlay written to {out_path}"))
