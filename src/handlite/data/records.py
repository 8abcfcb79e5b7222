"""One hand in one image (`HandRecord`), as every data source reads it, and its tight box.

Fields: keypoints (21, 2) float32 in image pixels (OpenPose order), visible (21,) uint8,
is_left, the crop centre, an optional head size (px), and `label_mask` (21,) uint8: which
keypoints may be used as training targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class HandRecord:
    image_path: Path
    keypoints: np.ndarray   # (21, 2) float32 image px
    visible: np.ndarray     # (21,) uint8
    is_left: bool
    center: np.ndarray      # (2,) float32 image px: crop centre
    head_size: float | None  # px, when the annotation has one
    label_mask: np.ndarray  # (21,) uint8: keypoints usable as training targets
    kind: str               # "synth" | "render" | "cmu" | "rhd"


def tight_box(keypoints: np.ndarray, visible: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(min xy, max xy) of the (visible) keypoints."""
    pts = keypoints if visible is None or not np.any(visible) else keypoints[visible > 0]
    return pts.min(axis=0), pts.max(axis=0)


def tight_box_center(keypoints: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    lo, hi = tight_box(keypoints, visible)
    return ((lo + hi) / 2).astype(np.float32)
