"""Sub-pixel refinement (package doc, step 4): the one DARK fit and the quarter step.

`dark_fit` is plain arithmetic on the nine log values of a 3x3 window, so every path that
refines takes the same formula: numpy on (P,) arrays (`refine_windows`, behind the float and
the quantised numpy decode), the compiled kernel on scalars (`quantized`, through numba) and
the in-graph decode on TensorFlow tensors (`graph`). Each path only chooses how to divide
safely where the fit is refused.
"""

from __future__ import annotations

import numpy as np

from handlite.codec.spec import EPS

# 3x3 window offsets, row-major: window cell i is (dy, dx) = (WIN_DY[i], WIN_DX[i])
WIN_DY = np.repeat(np.arange(-1, 2), 3)
WIN_DX = np.tile(np.arange(-1, 2), 3)
# quarter steps: [x, y] neighbours of the argmax cell at window row ry / column rx are cells
# 3 ry + (0, 2) and rx + (0, 6)
_LO_MUL, _HI_ADD = np.array([[3], [1]]), np.array([[2], [6]])


def dark_fit(logs):
    """DARK (Zhang et al. 2020): a quadratic fit to log(h) on a 3x3 window.

    logs[0..8]: log h of the window cells, row-major (logs[4] the centre). Returns
    (num_x, num_y, det, concave): the maximum of the fitted quadratic lies at the window
    centre + (num_x, num_y) / det, and `concave` (det > 1e-12 and d2/dx2 < 0) says the fit
    has a maximum at all. The caller accepts the result only where it moves at most one cell
    from the argmax cell on each axis. A NaN log (a value <= EPS) fails every comparison.
    """
    gx = 0.5 * (logs[5] - logs[3])
    gy = 0.5 * (logs[7] - logs[1])
    dxx = logs[5] - 2 * logs[4] + logs[3]
    dyy = logs[7] - 2 * logs[4] + logs[1]
    dxy = 0.25 * (logs[8] - logs[6] - logs[2] + logs[0])
    det = dxx * dyy - dxy * dxy
    # -[[dxx, dxy], [dxy, dyy]]^-1 [gx, gy] = [dxy gy - dyy gx, dxy gx - dxx gy] / det
    return dxy * gy - dyy * gx, dxy * gx - dxx * gy, det, (det > 1e-12) & (dxx < 0)


def refine_windows(method: str, win, logs, cell, centre, h: int, w: int):
    """Refinement of P keypoints: win (9, P) float64 3x3 windows (row-major) around centre
    (2, P) [x; y], the argmax cell clamped inside the map; logs = log(win), NaN where
    win <= EPS. Returns (2, P) float cells [x; y]."""
    if method == "dark":
        num_x, num_y, det, ok = dark_fit(logs)
        dark = centre + np.stack([num_x, num_y]) / np.where(ok, det, 1.0)
        near = np.abs(dark - cell) <= 1.0
        ok &= near[0] & near[1]
        if ok.all():  # a peak where the fit fails is the exception: skip quarter steps
            return dark
    # quarter step towards the higher neighbour of the argmax cell (0 at the border);
    # inside the map the argmax sits at the window centre on that axis
    lo = (cell - centre + 1)[::-1] * _LO_MUL  # window cell of the lower neighbour
    j = np.arange(win.shape[1])
    diff = win[lo + _HI_ADD, j] - win[lo, j]
    inside = (cell > 0) & (cell < [[w - 1], [h - 1]])
    fine = cell + 0.25 * np.sign(np.where(inside, diff, 0.0))
    return fine if method == "quarter" else np.where(ok, dark, fine)


def quarter_steps(at, iy, ix, h: int, w: int):
    """A quarter cell towards the higher neighbour on each axis (0 at the border); at(y, x)
    reads the map values. For maps without a 3x3 window."""
    def step(lo_ok, hi_ok, lo, hi):
        diff = np.where(lo_ok & hi_ok, hi - lo, 0.0)
        return 0.25 * np.sign(diff)

    ym, yp = np.maximum(iy - 1, 0), np.minimum(iy + 1, h - 1)
    xm, xp = np.maximum(ix - 1, 0), np.minimum(ix + 1, w - 1)
    qy = step(iy > 0, iy < h - 1, at(ym, ix), at(yp, ix))
    qx = step(ix > 0, ix < w - 1, at(iy, xm), at(iy, xp))
    return qy, qx


def refine_maps(method: str, maps, iy, ix, h: int, w: int):
    """Sub-pixel positions (2, N, K) [x; y] float cells around integer cells (iy, ix) of
    float maps (N, H, W, C); NaN reads as 0."""
    cell = np.stack([ix, iy])
    if method == "none":
        return cell.astype(np.float64)
    n_idx, k_idx = np.indices(iy.shape)
    if h < 3 or w < 3:  # no 3x3 window fits: quarter steps only
        def at(y, x):
            return np.nan_to_num(maps[n_idx, y, x, k_idx].astype(np.float64), nan=0.0)
        quarter_y, quarter_x = quarter_steps(at, iy, ix, h, w)
        return np.stack([ix + quarter_x, iy + quarter_y])

    # one gather of the 3x3 window around the centre clamped inside the map
    cy, cx = np.clip(iy, 1, h - 2), np.clip(ix, 1, w - 2)
    win = maps[n_idx[..., None], cy[..., None] + WIN_DY, cx[..., None] + WIN_DX,
               k_idx[..., None]]
    win = _finite(win.astype(np.float64)).reshape(-1, 9).T  # (9, N*K)
    logs = log_window(win)
    fine = refine_windows(method, win, logs, cell.reshape(2, -1),
                          np.stack([cx, cy]).reshape(2, -1), h, w)
    return fine.reshape(cell.shape)


def _finite(values):
    """np.nan_to_num(values, nan=0.0) for float64 values (NaN -> 0, +-inf -> +-largest
    float64) in four ufunc calls: nan_to_num's own overhead is ~15 us a frame."""
    big = np.finfo(np.float64).max
    return np.minimum(np.maximum(np.where(np.isnan(values), 0.0, values), -big), big)


def log_window(values):
    """log(values), NaN where values <= EPS (the fit needs positive values: a NaN fails every
    test of `dark_fit`, so no separate check)."""
    return np.log(np.where(values > EPS, values, np.nan))
