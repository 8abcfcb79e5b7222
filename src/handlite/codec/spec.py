"""Decode settings, the coordinate convention and the constants every decode path shares
(the package doc states the spec they implement)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from handlite.config import DEFAULTS

REFINE_METHODS = ("dark", "quarter", "none")
#: values at or below this are not positive for the DARK fit (its log would be undefined)
EPS = 1e-10
#: the quantised fast path ranks peaks by quantisation step, which is the probability's order
#: only while exp(-beta * scale * 255) and the division by the softmax sum stay normal float32
#: numbers (exp(-87) is the smallest): beyond this span, distinct steps could tie at zero.
MAX_EXP_SPAN = 70.0


@dataclass(frozen=True)
class DecodeSettings:
    """Everything decode depends on besides the maps; stored in exported model metadata."""

    softmax_beta: float = DEFAULTS.codec.softmax_beta
    min_confidence: float = DEFAULTS.codec.min_confidence
    fallback_peaks: int = DEFAULTS.codec.fallback_peaks
    refine: str = DEFAULTS.codec.refine

    def to_dict(self) -> dict:
        return asdict(self)


def to_heatmap(points, stride: int) -> np.ndarray:
    """Input pixels -> heatmap cells (pixel-centre convention)."""
    return (np.asarray(points, dtype=np.float64) + 0.5) / stride - 0.5


def to_input(cells, stride: int) -> np.ndarray:
    """Heatmap cells -> input pixels (pixel-centre convention)."""
    return (np.asarray(cells, dtype=np.float64) + 0.5) * stride - 0.5


def cells_to_input(cells: np.ndarray, stride: int) -> np.ndarray:
    """(2, ...) float cells [x; y] -> (..., 2) float32 input pixels, as every decode returns
    them."""
    return ((cells.transpose(*range(1, cells.ndim), 0) + 0.5) * stride - 0.5).astype(np.float32)
