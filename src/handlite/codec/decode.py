"""Float decode (package doc, steps 1-4) of one frame or a batch, and the peak search and
"nearest" choice of the low-confidence fallback that the quantised numpy path shares."""

from __future__ import annotations

import numpy as np

from handlite.codec.refine import refine_maps
from handlite.codec.spec import DecodeSettings, cells_to_input
from handlite.errors import UsageError
from handlite.keypoints import adjacency

ADJ = adjacency()
_FAR = 1 << 40  # "no candidate": beyond any squared distance on a map


def cv2_module():
    """OpenCV, imported on first use (codec is imported by tools that never decode) and kept
    in a global: the import statement costs microseconds per frame on a cold cache."""
    global _CV2
    if _CV2 is None:
        import cv2

        _CV2 = cv2
    return _CV2


_CV2 = None


def top_local_maxima(keys: np.ndarray, offset: int, wide, m: int):
    """The m strongest local maxima of each map: keys (L, H, W) integers ordered as the map
    values, keys + offset >= 1 in the integer type `wide` -> (L, m) cells (index y * W + x),
    (L, m) their keys + offset (0: missing; a map with fewer than m maxima may also repeat
    one).

    A local maximum is >= its in-map 3x3 neighbours (plateaus count every cell). Strongest
    first, ties by lower cell index (a stable descending sort's order, as in the Java decoder).
    """
    n, h, w = keys.shape
    # each row gets a 0 cell after it, below every key: on the flattened map a shift by one or
    # by a padded row never reaches a cell outside the map (the definition's -inf padding)
    wp = w + 1
    flat = np.zeros((n, h, wp), dtype=wide)
    np.add(keys, offset, out=flat[:, :, :w], dtype=wide)
    flat = flat.reshape(n, h * wp)
    across = flat.copy()  # 3x3 maximum: rows, then columns
    np.maximum(across[:, 1:], flat[:, :-1], out=across[:, 1:])
    np.maximum(across[:, :-1], flat[:, 1:], out=across[:, :-1])
    grown = across.copy()
    np.maximum(grown[:, wp:], across[:, :-wp], out=grown[:, wp:])
    np.maximum(grown[:, :-wp], across[:, wp:], out=grown[:, :-wp])
    peak = flat >= grown
    # the key at maxima, 0 elsewhere and on the padding (arithmetic beats np.where ~5x here)
    masked = flat * peak
    # m rounds of argmax (first index on ties) beat sorting: plateaus of a quantised map make
    # thousands of maxima, and only m of them are wanted. A map out of maxima yields cell 0:
    # a non-maximum (key 0) or an earlier pick again, which changes no choice (ties in
    # distance go to the first candidate)
    rows = np.arange(n)[:, None]
    m = min(m, h * w)
    cells = np.empty((n, m), dtype=np.int64)
    for j in range(m):
        cells[:, j] = cell = masked.argmax(axis=1)
        masked[rows[:, 0], cell] = 0
    top = flat[rows, cells] * peak[rows, cells]
    return cells - cells // wp, top  # padded index y * (W + 1) + x -> y * W + x


def nearest(cand, valid, cell, conf, lk, w):
    """Which candidate peak each low-confidence keypoint takes (package doc, step 3).

    cand, valid (L, M): candidate cells (index y * w + x) of the L low keypoints (keypoint
    index lk); cell (2, L, K) the [x; y] argmax cells and conf (L, K) the confident mask of
    each one's sample (a dimension of 1 broadcasts). Returns (L,) best candidate and (L,)
    usable (False: nothing confident to be near, the argmax stays). Integer squared distances
    rank exactly as the Euclidean ones (sqrt is strictly monotonic on these integers); ties go
    to the first candidate.
    """
    neigh = ADJ[lk] & conf
    ref = neigh | (conf & ~neigh.any(axis=1, keepdims=True))  # (L, K)
    cy, cx = np.divmod(cand, w)
    dy = cy[:, :, None] - cell[1][:, None, :]  # (L, M, K)
    dx = cx[:, :, None] - cell[0][:, None, :]
    d2 = dy * dy + dx * dx
    d2 += ~(ref[:, None, :] & valid[:, :, None]) * _FAR  # masks by arithmetic (cheaper)
    d2 = d2.min(axis=-1)  # (L, M)
    best = d2.argmin(axis=-1)
    return best, d2[np.arange(len(best)), best] < _FAR


def decode(heatmaps, num_keypoints: int, stride: int, settings: DecodeSettings):
    """(H, W, K+1) -> ((K, 2) input px, (K,) scores); (N, H, W, K+1) -> (N, K, 2), (N, K).

    Maps with exactly K channels (no background) are accepted too.
    """
    maps = np.asarray(heatmaps)
    single = maps.ndim == 3
    if single:
        maps = maps[None]
    if maps.ndim != 4:
        raise UsageError(f"decode expects (H, W, C) or (N, H, W, C) maps, got {maps.shape}")
    n, h, w, c = maps.shape
    k = num_keypoints
    if c not in (k, k + 1):
        raise UsageError(f"decode expects {k} or {k + 1} channels, got {c}")
    if h < 1 or w < 1:
        raise UsageError(f"empty heatmap {maps.shape}")
    # (N, K, H*W): one contiguous row per keypoint map. The transpose copy pays for itself:
    # reductions over contiguous rows are ~10x faster than over the strided channel axis.
    if single:  # OpenCV transposes the (H*W, C) matrix ~5x faster than numpy's copy
        frame = np.ascontiguousarray(maps[0], dtype=np.float32).reshape(h * w, c)
        flat = cv2_module().transpose(frame)[None, :k]
    else:
        flat = np.empty((n, k, h * w), dtype=np.float32)
        flat[...] = np.moveaxis(maps[..., :k], -1, 1).reshape(n, k, h * w)
    idx = flat.argmax(axis=-1)  # (N, K), first index on ties
    peak = np.take_along_axis(flat, idx[..., None], axis=-1)  # (N, K, 1)
    if not np.isfinite(peak).all():
        # NaN/Inf only on the slow path: a NaN map decodes to its first finite maximum.
        flat = np.nan_to_num(flat, nan=-np.inf, posinf=np.finfo(np.float32).max)
        idx = flat.argmax(axis=-1)
        peak = np.take_along_axis(flat, idx[..., None], axis=-1)
    beta = np.float32(settings.softmax_beta)
    # the softmax numerators are computed in place: refinement reads the original maps
    buf = np.subtract(flat, peak, out=flat)
    buf *= beta
    np.exp(buf, out=buf)  # max element of each map = 1
    total = np.einsum("nkp->nk", buf)  # (N, K)
    scores = (1.0 / total).astype(np.float32)
    iy, ix = np.divmod(idx, w)

    if settings.min_confidence > 0:
        low = scores < settings.min_confidence
        if low.any():
            iy, ix, scores = _fallback(buf, total, iy, ix, scores, low, h, w,
                                       settings.fallback_peaks)

    keypoints = cells_to_input(refine_maps(settings.refine, maps, iy, ix, h, w), stride)
    if single:
        return keypoints[0], scores[0]
    return keypoints, scores


def _fallback(expo, total, iy, ix, scores, low, h, w, peaks):
    """Re-pick low-confidence keypoints among their strongest local peaks (package doc)."""
    ln, lk = np.nonzero(low)  # the L low-confidence (sample, keypoint) pairs
    prob = (expo[ln, lk] / total[ln, lk, None]).reshape(-1, h, w)  # (L, H, W)
    # low rows hold finite probabilities: a NaN total gives a NaN score, never "low"
    # non-negative float32 values order as their bit patterns do
    cand, top = top_local_maxima(prob.view(np.int32), 1, np.int32, peaks)
    best, usable = nearest(cand, top > 0, np.stack([ix[ln], iy[ln]]), ~low[ln], lk, w)
    iy, ix, scores = iy.copy(), ix.copy(), scores.copy()
    sel = np.flatnonzero(usable)
    ln, lk, top = ln[sel], lk[sel], top[sel, best[sel]] - 1
    iy[ln, lk], ix[ln, lk] = np.divmod(cand[sel, best[sel]], w)
    scores[ln, lk] = top.astype(np.int32).view(np.float32)
    return iy, ix, scores
