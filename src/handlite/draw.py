"""Drawing a hand skeleton on an image: one look (and one colour per finger) everywhere.

Used by `handlite predict --out` (through `runtime.draw_skeleton`), the demo and the data
contact sheets (`data.sheet`). Keypoints are (K, 2) (x, y) image pixels with the pixel-centre
convention (`keypoints.py`); they are drawn at sub-pixel precision (OpenCV shift=4), with
line widths that scale with the image so the overlay reads at any resolution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from handlite.keypoints import BONES, FINGER_OF

#: RGB colour per finger, so a swapped finger shows at a glance.
FINGER_COLORS: dict[str, tuple[int, int, int]] = {
    "palm": (255, 255, 255), "thumb": (255, 64, 64), "index": (255, 200, 0),
    "middle": (64, 220, 64), "ring": (0, 180, 255), "pinky": (200, 80, 255)}
#: RGB colour of the crop square
CROP_COLOR = (255, 255, 0)
_SHIFT = 4


def finger_color(k: int, channel_order: str = "RGB") -> tuple[int, int, int]:
    """The colour of keypoint (or bone ending at keypoint) `k` in `channel_order`."""
    colour = FINGER_COLORS.get(FINGER_OF[k] if k < len(FINGER_OF) else "palm",
                               FINGER_COLORS["palm"])
    return colour[::-1] if channel_order == "BGR" else colour


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, skeleton=BONES, scores=None,
                  crop: Any = None, min_score: float = 0.0, *, visible=None,
                  channel_order: str = "RGB", in_place: bool = False) -> np.ndarray:
    """`image` with bones, joints (coloured per finger) and, when given, the crop square.

    scores / min_score: joints (and their bones) scoring below `min_score` are left out.
    visible: (K,) labels; a joint that is not visible is drawn hollow. crop: a
    `runtime.CropWindow` (x0, y0, side). channel_order: "RGB" or "BGR" (the image's). Returns
    a copy unless `in_place`.
    """
    import cv2

    canvas = image if in_place else np.ascontiguousarray(image).copy()
    h, w = canvas.shape[:2]
    thick = max(1, round(max(h, w) / 300))
    one = 1 << _SHIFT

    def pt(p):
        return (int(round(p[0] * one)), int(round(p[1] * one)))

    ok = np.ones(len(keypoints), bool) if scores is None else np.asarray(scores) >= min_score
    shown = np.ones(len(keypoints), bool) if visible is None else np.asarray(visible) > 0
    if crop is not None:
        box = CROP_COLOR[::-1] if channel_order == "BGR" else CROP_COLOR
        cv2.rectangle(canvas, (crop.x0, crop.y0),
                      (crop.x0 + crop.side - 1, crop.y0 + crop.side - 1), box, thick)
    for a, b in skeleton:
        if ok[a] and ok[b]:
            cv2.line(canvas, pt(keypoints[a]), pt(keypoints[b]), finger_color(b, channel_order),
                     thick + 1, cv2.LINE_AA, _SHIFT)
    for i, p in enumerate(keypoints):
        if not ok[i]:
            continue
        colour = finger_color(i, channel_order)
        if shown[i]:
            cv2.circle(canvas, pt(p), (thick + 2) * one, (0, 0, 0), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(canvas, pt(p), (thick + 1) * one, colour, -1, cv2.LINE_AA, _SHIFT)
        else:  # hollow: a labelled-but-hidden joint
            cv2.circle(canvas, pt(p), (thick + 1) * one, colour, 1, cv2.LINE_AA, _SHIFT)
    return canvas


__all__ = ["CROP_COLOR", "FINGER_COLORS", "draw_skeleton", "finger_color"]
