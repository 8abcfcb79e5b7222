"""Compiled single-frame decode of quantised heatmaps (numba), behind
`HeatmapCodec.decode_quantized`.

Same semantics as the numpy path (and the module doc of `handlite.codec`): argmax on the raw
steps (first cell on ties), softmax sums from the 256-entry exp table, the low-confidence
fallback among the strongest local maxima (plateau cells count; strongest first, ties by lower
cell), nearest to a confident skeleton neighbour else to any confident keypoint, and DARK /
quarter refinement on the 3x3 window clamped inside the map. One pass of compiled loops
instead of ~100 numpy calls: what a frame costs right after `invoke`, when every numpy call
starts on a cold cache, is what the pipeline pays.

Shapes: data (H*W, C) uint8 bytes of the output tensor (int8 maps viewed as uint8 with
`signed`), K keypoints (the first K channels), tables indexed by the raw byte.
numba is optional: without it `available()` is False and the numpy path runs.
"""

from __future__ import annotations

import numpy as np

_KERNEL = None
_TRIED = False

REFINE_CODES = {"none": 0, "quarter": 1, "dark": 2}


def available() -> bool:
    return _kernel() is not None


def _kernel():
    global _KERNEL, _TRIED
    if not _TRIED:
        _TRIED = True
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a declared dependency
            return None
        try:  # the compiled kernel is cached beside the source (or in the user's cache)
            _KERNEL = numba.njit(cache=True, nogil=True)(_decode_frame)
        except RuntimeError:  # no writable cache location: compile per process instead
            _KERNEL = numba.njit(cache=False, nogil=True)(_decode_frame)
    return _KERNEL


def decode(data, h, w, k, signed, expo32, expo64, values, logs, min_confidence, peaks,
           refine, adjacency, stride):
    """-> ((K, 2) float32 input px, (K,) float32 scores), new arrays; see the module doc."""
    return bound(h, w, k, signed, expo32, expo64, values, logs, min_confidence, peaks, refine,
                 adjacency, stride)(data)


def bound(h, w, k, signed, expo32, expo64, values, logs, min_confidence, peaks, refine,
          adjacency, stride):
    """`decode` with everything but the data fixed: fn(data) -> (keypoints, scores), written
    into two arrays the next call reuses."""
    kernel = _kernel()
    kp = np.empty((k, 2), np.float32)
    scores = np.empty(k, np.float32)
    min_confidence, peaks = np.float32(min_confidence), int(peaks)
    refine, stride = int(refine), float(stride)

    def run(data):
        kernel(data, h, w, k, signed, expo32, expo64, values, logs, min_confidence, peaks,
               refine, adjacency, stride, kp, scores)
        return kp, scores

    return run


def _decode_frame(data, h, w, k, signed, expo32, expo64, values, logs, min_confidence, peaks,
                  refine, adjacency, stride, kp, scores):
    n = h * w
    cx = np.empty(k, np.int64)
    cy = np.empty(k, np.int64)
    sums = np.empty(k, np.float64)
    low = np.zeros(k, np.bool_)
    any_low = False
    best = np.full(k, -1, np.int64)
    best_i = np.zeros(k, np.int64)
    sums[:] = 0.0
    for i in range(n):  # one sequential pass over the tensor, every map at once
        for j in range(k):
            b = data[i, j]
            key = np.int64(b ^ 128) if signed else np.int64(b)  # int8 order as 0..255
            if key > best[j]:  # first cell on ties
                best[j] = key
                best_i[j] = i
            sums[j] += expo32[b]
    for j in range(k):
        top = data[best_i[j], j]
        scores[j] = np.float32(1.0 / (sums[j] / expo64[top]))
        cy[j], cx[j] = best_i[j] // w, best_i[j] % w
        if min_confidence > 0 and scores[j] < min_confidence:
            low[j] = True
            any_low = True

    if any_low:
        m = min(peaks, n)
        cand = np.empty(m, np.int64)
        cand_key = np.empty(m, np.int64)
        pick_x = cx.copy()  # references are the confident keypoints' argmax cells
        pick_y = cy.copy()
        for j in range(k):
            if not low[j]:
                continue
            # the m strongest local maxima: insertion into a small sorted list, strongest
            # first, ties keep the earlier (lower) cell
            found = 0
            for y in range(h):
                for x in range(w):
                    b = data[y * w + x, j]
                    key = np.int64(b ^ 128) if signed else np.int64(b)
                    if found == m and key <= cand_key[m - 1]:
                        continue
                    peak = True
                    for dy in range(-1, 2):
                        yy = y + dy
                        if yy < 0 or yy >= h:
                            continue
                        for dx in range(-1, 2):
                            xx = x + dx
                            if xx < 0 or xx >= w or (dx == 0 and dy == 0):
                                continue
                            nb = data[yy * w + xx, j]
                            nkey = np.int64(nb ^ 128) if signed else np.int64(nb)
                            if nkey > key:
                                peak = False
                                break
                        if not peak:
                            break
                    if not peak:
                        continue
                    pos = found if found < m else m - 1
                    while pos > 0 and cand_key[pos - 1] < key:
                        if pos < m:
                            cand_key[pos] = cand_key[pos - 1]
                            cand[pos] = cand[pos - 1]
                        pos -= 1
                    cand_key[pos] = key
                    cand[pos] = y * w + x
                    if found < m:
                        found += 1
            # reference keypoints: confident skeleton neighbours, else every confident one
            has_neighbour = False
            for r in range(k):
                if adjacency[j, r] and not low[r]:
                    has_neighbour = True
                    break
            best_c, best_d = -1, -1
            for c in range(found):
                py, px = cand[c] // w, cand[c] % w
                d_min = -1
                for r in range(k):
                    if low[r] or (has_neighbour and not adjacency[j, r]):
                        continue
                    ddy, ddx = py - cy[r], px - cx[r]
                    d = ddy * ddy + ddx * ddx
                    if d_min < 0 or d < d_min:
                        d_min = d
                if d_min >= 0 and (best_d < 0 or d_min < best_d):
                    best_d, best_c = d_min, c
            if best_c >= 0:
                p = cand[best_c]
                pick_y[j], pick_x[j] = p // w, p % w
                scores[j] = np.float32(expo64[data[p, j]] / sums[j])
        for j in range(k):
            cx[j], cy[j] = pick_x[j], pick_y[j]

    for j in range(k):
        fx, fy = float(cx[j]), float(cy[j])
        if refine > 0:
            ox = min(max(cx[j], 1), w - 2)
            oy = min(max(cy[j], 1), h - 2)
            done = False
            if refine == 2:
                base = oy * w + ox
                l0 = logs[data[base - w - 1, j]]
                l1 = logs[data[base - w, j]]
                l2 = logs[data[base - w + 1, j]]
                l3 = logs[data[base - 1, j]]
                l4 = logs[data[base, j]]
                l5 = logs[data[base + 1, j]]
                l6 = logs[data[base + w - 1, j]]
                l7 = logs[data[base + w, j]]
                l8 = logs[data[base + w + 1, j]]
                gx = 0.5 * (l5 - l3)
                gy = 0.5 * (l7 - l1)
                dxx = l5 - 2 * l4 + l3
                dyy = l7 - 2 * l4 + l1
                dxy = 0.25 * (l8 - l6 - l2 + l0)
                det = dxx * dyy - dxy * dxy
                if det > 1e-12 and dxx < 0:
                    rx = ox + (dxy * gy - dyy * gx) / det
                    ry = oy + (dxy * gx - dxx * gy) / det
                    if abs(rx - cx[j]) <= 1.0 and abs(ry - cy[j]) <= 1.0:
                        fx, fy = rx, ry
                        done = True
            if not done:  # a quarter cell towards the higher neighbour, 0 at the border
                at = cy[j] * w + cx[j]
                if 0 < cx[j] < w - 1:
                    diff = values[data[at + 1, j]] - values[data[at - 1, j]]
                    fx += 0.25 * ((diff > 0) - (diff < 0))
                if 0 < cy[j] < h - 1:
                    diff = values[data[at + w, j]] - values[data[at - w, j]]
                    fy += 0.25 * ((diff > 0) - (diff < 0))
        kp[j, 0] = np.float32((fx + 0.5) * stride - 0.5)
        kp[j, 1] = np.float32((fy + 0.5) * stride - 0.5)
