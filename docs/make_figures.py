#!/usr/bin/env python
"""The README's two `handlite predict` figures, made from an exported model.

    python docs/make_figures.py --model build/demo/handlite_224_float32.tflite \
        --renders DIR [--out docs]

- `predict_overlays.png`: three hands in a photograph that `make setup` caches (kphotoalbum's
  demo album, `bar55_2.jpg`; never labelled, never used for training or any choice). The boxes
  are what a user would pass to `handlite predict --box`: drawn by eye around each hand.
- `predict_renders.png`: held-out renders 1-3 of DIR (a `handlite data render` folder of a seed
  no training used), each cropped by the paper's rule from its labels (`data.crops.crop_box`,
  2.2 x the keypoint box) and, when labelled left, run as a left hand (`--left`).

Each panel is the runtime's own pipeline (`handlite.runtime.predict_file`, the same call as
`handlite predict --box X,Y,W,H --out ...`) cut to its crop square and scaled to 240 px.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: photograph (under the background cache) and hand boxes X, Y, W, H in its 640 px copy
PHOTO = "kphotoalbum/bar55_2.jpg.jpg"
PHOTO_BOXES = ((315, 220, 95, 110), (185, 225, 85, 105), (80, 170, 85, 85))
PANEL = 240


def _panel(model: str, image: Path, box, left: bool = False) -> np.ndarray:
    import cv2

    from handlite.draw import draw_skeleton
    from handlite.runtime import predict_file

    pred, runtime, rgb = predict_file(model, image, box=box, left=left)
    drawn = draw_skeleton(rgb, pred.keypoints, runtime.skeleton, pred.scores, pred.crop)
    c = pred.crop
    pad = max(0, -c.x0, -c.y0, c.x0 + c.side - rgb.shape[1], c.y0 + c.side - rgb.shape[0])
    if pad:
        drawn = cv2.copyMakeBorder(drawn, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
    x0, y0 = c.x0 + pad, c.y0 + pad
    square = drawn[y0:y0 + c.side, x0:x0 + c.side]
    return cv2.resize(square, (PANEL, PANEL), interpolation=cv2.INTER_AREA)


def _render_box(record) -> tuple[int, int, int, int]:
    """The paper's crop square of a labelled record as a `--box X,Y,W,H`."""
    from handlite.data.crops import crop_box

    centre, side = crop_box(record)
    x, y = centre - side / 2
    return int(round(x)), int(round(y)), int(round(side)), int(round(side))


def _sheet(panels: list[np.ndarray], path: Path) -> None:
    from handlite.runtime import save_image

    gap = np.full((PANEL, 4, 3), 255, np.uint8)
    row = [panels[0]]
    for p in panels[1:]:
        row += [gap, p]
    save_image(path, np.hstack(row))
    print(f"wrote {path}")


def main() -> None:
    from handlite.data.backgrounds import cache_dir
    from handlite.data.sources import read_records

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a handlite .tflite (224 float32)")
    ap.add_argument("--renders", required=True, type=Path, help="held-out render folder")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()

    photo = cache_dir() / PHOTO
    if not photo.exists():
        raise SystemExit(f"{photo} is missing: run `python -m handlite.data.backgrounds fetch`")
    _sheet([_panel(args.model, photo, box) for box in PHOTO_BOXES],
           args.out / "predict_overlays.png")
    records = read_records(f"render:{args.renders}", limit=4)[1:4]
    if len(records) < 3:
        raise SystemExit(f"{args.renders}: fewer than 4 renders")
    _sheet([_panel(args.model, r.image_path, _render_box(r), r.is_left) for r in records],
           args.out / "predict_renders.png")


if __name__ == "__main__":
    main()
