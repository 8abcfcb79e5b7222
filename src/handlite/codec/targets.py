"""Heatmap targets (encode): Gaussians per keypoint plus the background map (paper eq. 1, 2)."""

from __future__ import annotations

import numpy as np

from handlite.codec.spec import to_heatmap
from handlite.errors import UsageError


def gaussian_targets(keypoints, visible, *, num_keypoints: int, stride: int, sigma: float,
                     grid: np.ndarray) -> np.ndarray:
    """Targets for one hand: (K, 2) input pixels [+ (K,) visibility] -> (H, W, K+1) float32.

    Channel k < K is exp(-|p - k|^2 / (2 sigma^2)) on the heatmap grid (paper eq. 1);
    channel K is the background 1 - max_k H_k (eq. 2). An invisible keypoint (visible 0,
    or non-finite coordinates) contributes an all-zero map and nothing to the background,
    so the network is taught "not here" rather than a guessed place. grid: the (H,) float32
    cell coordinates of the (square) map.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape != (num_keypoints, 2):
        raise UsageError(f"encode expects ({num_keypoints}, 2) keypoints, got "
                         f"{keypoints.shape}")
    vis = np.ones(num_keypoints, bool) if visible is None else (
        np.asarray(visible).reshape(-1) > 0)
    if vis.shape != (num_keypoints,):
        raise UsageError(f"visible must have {num_keypoints} entries, got {vis.shape}")
    vis = vis & np.isfinite(keypoints).all(axis=1)
    cells = to_heatmap(np.where(vis[:, None], keypoints, 0.0), stride)
    g = grid.astype(np.float64)
    # separable Gaussian: exp(-(dx^2 + dy^2)/2s^2) = exp(-dx^2/2s^2) * exp(-dy^2/2s^2)
    gx = np.exp(-((g[None, :] - cells[:, 0:1]) ** 2) / (2 * sigma ** 2))  # (K, W)
    gy = np.exp(-((g[None, :] - cells[:, 1:2]) ** 2) / (2 * sigma ** 2))  # (K, H)
    maps = (gy[:, :, None] * gx[:, None, :]) * vis[:, None, None]  # (K, H, W)
    size = len(grid)
    out = np.empty((size, size, num_keypoints + 1), dtype=np.float32)
    out[..., :num_keypoints] = maps.transpose(1, 2, 0)
    out[..., num_keypoints] = 1.0 - maps.max(axis=0)
    return out
