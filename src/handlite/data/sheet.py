"""Contact sheets: a grid of images (or network crops) with the hand skeleton drawn on top."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from handlite.data.crops import make_crop, read_image
from handlite.data.sources import read_records
from handlite.errors import UsageError
from handlite.draw import draw_skeleton as _draw

TILE = 224


def draw_skeleton(image_bgr: np.ndarray, keypoints: np.ndarray, visible: np.ndarray,
                  scale: float = 1.0) -> np.ndarray:
    """Draw bones and joints (hollow where not visible) on a BGR image, in place; keypoints
    are scaled by `scale` (pixel-centre convention) first. The look is `handlite.draw`'s."""
    pts = (np.asarray(keypoints, np.float64) + 0.5) * scale - 0.5
    return _draw(image_bgr, pts, visible=visible, channel_order="BGR", in_place=True)


def contact_sheet(spec: str, out: str | Path, count: int = 36, cols: int = 6,
                  crops: bool = False, size: int = 224) -> dict:
    """Write a grid of the first `count` hands of `spec` with skeletons; returns a summary."""
    if count <= 0 or cols <= 0:
        raise UsageError("count and cols must be positive")
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"contact sheet must be .png or .jpg, got {out.name}")
    if ":" not in spec and Path(spec).is_dir():
        spec = f"cmu:{spec}"
    tiles = []
    for record in read_records(spec, limit=count):
        if crops:
            crop = make_crop(record, size)
            image, kp = crop.image, crop.keypoints
        else:
            image, kp = read_image(record.image_path), record.keypoints
        scale = TILE / max(image.shape[:2])
        tile = np.full((TILE, TILE, 3), 32, np.uint8)
        small = cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), None, fx=scale, fy=scale,
                           interpolation=cv2.INTER_AREA)
        tile[:small.shape[0], :small.shape[1]] = small
        draw_skeleton(tile, kp, record.visible, scale)
        if record.is_left:
            cv2.putText(tile, "L" if not crops else "L (mirrored)", (4, 14),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * TILE, min(cols, len(tiles)) * TILE, 3), 32, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = tile
    ok, buf = cv2.imencode(out.suffix.lower(), sheet)
    if not ok:  # pragma: no cover
        raise UsageError(f"cannot encode {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, out)
    return {"out": str(out), "count": len(tiles), "width": int(sheet.shape[1]),
            "height": int(sheet.shape[0])}
