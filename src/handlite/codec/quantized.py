"""Quantised decode: one frame of a quantised model's raw int8/uint8 output, found from the
bytes, in numpy or compiled with numba (the same cells and keypoints; scores equal to float
rounding, summed in another order).

Why it is fast: dequantisation is monotonic, so argmax, ties and local maxima are found on
the bytes; the softmax sum only ever sees 256 distinct steps below the maximum, so a 256-entry
table replaces the H*W*K exponentials; refinement dequantises only the K 3x3 windows. The
compiled kernel does it in one pass of loops instead of ~100 numpy calls: what a frame costs
right after `invoke`, when every numpy call starts on a cold cache, is what the pipeline pays.

Shapes: raw (H, W, C), C = K or K+1; the kernel reads data (H*W, C) uint8 bytes of the output
tensor (int8 maps viewed as uint8 with `signed`), K keypoints (the first K channels), tables
indexed by the raw byte. numba is optional: without it `available()` is False and the numpy
path runs.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from typing import NamedTuple

import numpy as np

from handlite.codec.decode import cv2_module, decode, nearest, top_local_maxima
from handlite.codec.refine import WIN_DX, WIN_DY, dark_fit, log_window, refine_windows
from handlite.codec.spec import MAX_EXP_SPAN, DecodeSettings, cells_to_input
from handlite.errors import UsageError
from handlite.keypoints import adjacency

REFINE_CODES = {"none": 0, "quarter": 1, "dark": 2}
_ADJ_C = np.ascontiguousarray(adjacency(), dtype=np.bool_)  # the compiled decode's copy


class QuantTables(NamedTuple):
    """Per raw byte (one quantisation): the dequantised value as float32 computes it, its log
    as the refinement takes it, and E = exp(beta * (value - highest value)) in float32 and
    float64 (the softmax numerators up to a per-map factor)."""

    values: np.ndarray
    logs: np.ndarray
    expo32: np.ndarray
    expo64: np.ndarray


class KernelParams(NamedTuple):
    """Everything the compiled kernel needs besides the frame: map size, byte tables and
    decode settings (one object instead of a long argument list). The kernel gets it as a
    plain tuple (`tuple(params)`) and unpacks it in this field order: numba types a plain
    tuple in its C dispatcher, a named one in Python (~10 us a call for these fields)."""

    h: int
    w: int
    k: int
    signed: bool  # int8 bytes (viewed as uint8), else uint8
    expo32: np.ndarray
    expo64: np.ndarray
    values: np.ndarray
    logs: np.ndarray
    min_confidence: np.float32
    peaks: int
    refine: int  # REFINE_CODES
    adjacency: np.ndarray  # (K, K) bool, C-contiguous
    stride: float


def dequantize_table(dtype, scale: float, zero_point: int) -> np.ndarray:
    """(256,) float32 value of each raw byte, computed as the runtime dequantises (float32
    (q - zero_point) * scale), so the refinement windows are bit for bit the same."""
    q = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
    return (q - np.float32(zero_point)) * np.float32(scale)


def quant_tables(cache: dict, beta: float, dtype: str, scale: float,
                 zero_point: int) -> QuantTables:
    """`QuantTables` for raw bytes of dtype "b" (int8) or "B" (uint8), cached in `cache` per
    quantisation."""
    key = (dtype, scale, zero_point)
    tables = cache.get(key)
    if tables is None:
        values = dequantize_table(dtype, scale, zero_point).astype(np.float64)
        steps = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64)
        expo64 = np.exp(float(beta) * scale * (steps - steps.max()))
        tables = QuantTables(values, log_window(values), expo64.astype(np.float32), expo64)
        if len(cache) >= 64:  # one codec fed many models' outputs: stay small
            cache.clear()
        cache[key] = tables
    return tables


def _frame_constants(cache: dict, k: int, h: int, w: int):
    """Per map size: keypoint rows (K,), the last cell [[w - 1], [h - 1]] and the 3x3
    window's cell offsets (9, 1). Cached."""
    key = (h, w)
    constants = cache.get(key)
    if constants is None:
        constants = (np.arange(k), np.array([[w - 1], [h - 1]]), (WIN_DY * w + WIN_DX)[:, None])
        cache[key] = constants
    return constants


def kernel_params(tables: QuantTables, h: int, w: int, k: int, signed: bool,
                  settings: DecodeSettings, stride: int) -> KernelParams:
    return KernelParams(h, w, k, bool(signed), tables.expo32, tables.expo64, tables.values,
                        tables.logs, np.float32(settings.min_confidence),
                        int(settings.fallback_peaks), REFINE_CODES[settings.refine], _ADJ_C,
                        float(stride))


def _span_ok(beta: float, scale: float) -> bool:
    return 0 < float(beta) * float(scale) * 255 <= MAX_EXP_SPAN


def decode_quantized(raw, scale: float, zero_point: int, *, num_keypoints: int, stride: int,
                     settings: DecodeSettings, cache: dict, use_jit: bool = True):
    """One frame of quantised maps -> ((K, 2) input px, (K,) scores); see
    `HeatmapCodec.decode_quantized`. cache: the codec's table cache."""
    raw = np.asarray(raw)
    kind = raw.dtype.char  # dtype comparisons with np.int8 cost more than the decode's ops
    if kind not in ("b", "B"):
        raise UsageError(f"decode_quantized expects int8 or uint8 maps, got {raw.dtype}")
    if raw.ndim != 3:
        raise UsageError(f"decode_quantized expects one (H, W, C) frame, got {raw.shape}")
    h, w, c = raw.shape
    k = num_keypoints
    if c not in (k, k + 1):
        raise UsageError(f"decode expects {k} or {k + 1} channels, got {c}")
    if h < 1 or w < 1:
        raise UsageError(f"empty heatmap {raw.shape}")
    scale, zero_point = float(scale), int(zero_point)
    if not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"quantisation scale must be positive, got {scale}")
    beta = float(settings.softmax_beta)
    if h < 3 or w < 3 or not _span_ok(beta, scale):
        # tiny maps, or a span where the step order may not be the probability order
        return decode(dequantize_table(raw.dtype, scale, zero_point)[
            np.ascontiguousarray(raw).view(np.uint8)], k, stride, settings)
    tables = quant_tables(cache, beta, kind, scale, zero_point)
    if use_jit and available():
        key = ("kernel", kind, scale, zero_point, h, w)  # the params, cached beside the tables
        params = cache.get(key)
        if params is None:
            params = cache[key] = tuple(kernel_params(tables, h, w, k, kind == "b", settings,
                                                      stride))
        kp, scores = np.empty((k, 2), np.float32), np.empty(k, np.float32)
        _kernel()(raw.reshape(h * w, c).view(np.uint8), params, kp, scores)
        return kp, scores
    values, logs, expo, expo64 = tables
    cv2 = cv2_module()
    data = raw.reshape(h * w, c).view(np.uint8)
    step = cv2.transpose(data)[:k]  # (K, H*W) raw bytes, one contiguous row per map
    signed = kind == "b"
    idx = (step.view(np.int8) if signed else step).argmax(axis=1)
    rows, last, offsets = _frame_constants(cache, k, h, w)
    top = step[rows, idx]
    # softmax sums: sum exp(beta (v - v_max)) = sum E[q] / E[q_max] with the table
    # E[q] = exp(beta (v(q) - v_top)) <= 1, normal float32 under MAX_EXP_SPAN
    sums = cv2.reduce(cv2.LUT(step, expo), 1, cv2.REDUCE_SUM, dtype=cv2.CV_64F)[:, 0]
    total = sums / expo64[top]
    scores = (1.0 / total).astype(np.float32)
    cell = np.empty((2, k), dtype=np.int64)  # [x; y] integer cells
    np.divmod(idx, w, out=(cell[1], cell[0]))

    if settings.min_confidence > 0:
        low = scores < settings.min_confidence
        if low.any():
            lk = low.nonzero()[0]
            # the quantised values rank the probabilities (strictly, see MAX_EXP_SPAN),
            # ties included
            keys = (step.view(np.int8) if signed else step)[lk].reshape(len(lk), h, w)
            cand, ranks = top_local_maxima(keys, 129 if signed else 1, np.int16,
                                           settings.fallback_peaks)
            best, usable = nearest(cand, ranks > 0, cell[:, None], ~low[None], lk, w)
            pick, lk = cand[usable, best[usable]], lk[usable]
            cell[1, lk], cell[0, lk] = np.divmod(pick, w)
            scores[lk] = expo64[step[lk, pick]] / sums[lk]

    if settings.refine == "none":
        return cells_to_input(cell.astype(np.float64), stride), scores
    centre = np.minimum(np.maximum(cell, 1), last - 1)
    win = step[rows, (centre[1] * w + centre[0]) + offsets]  # (9, K) window bytes
    return cells_to_input(refine_windows(settings.refine, values[win], logs[win], cell, centre,
                                         h, w), stride), scores


def quantized_decoder(dtype, shape, scale: float, zero_point: int, *, num_keypoints: int,
                      stride: int, settings: DecodeSettings, cache: dict, use_jit: bool = True):
    """fn(raw) -> decode_quantized(raw, scale, zero_point) for raw frames of `dtype` and
    `shape`, set up once; see `HeatmapCodec.quantized_decoder`."""
    dtype = np.dtype(dtype)
    h, w, c = (int(v) for v in shape)
    options = dict(num_keypoints=num_keypoints, stride=stride, settings=settings, cache=cache,
                   use_jit=use_jit)
    probe = np.zeros((h, w, c), dtype)
    decode_quantized(probe, scale, zero_point, **options)  # validates; compiles the kernel
    size = h * w
    if use_jit and available() and h >= 3 and w >= 3 and _span_ok(settings.softmax_beta,
                                                                   scale):
        tables = quant_tables(cache, float(settings.softmax_beta), dtype.char, float(scale),
                              int(zero_point))
        params = tuple(kernel_params(tables, h, w, num_keypoints, dtype.char == "b", settings,
                                     stride))
        _kernel()
        # the kernel's loops take the fields directly: a frame per call is the hot path, and
        # splatting the bound fields here skips the entry's tuple unpacking (~2 us a frame)
        loops = _LOOPS
        kp = np.empty((num_keypoints, 2), np.float32)
        scores = np.empty(num_keypoints, np.float32)

        def run(raw):  # writes into two arrays the next call reuses
            if raw.shape != (h, w, c) or raw.dtype != dtype:
                _wrong_frame(raw, (h, w, c), dtype)
            loops(raw.reshape(size, c).view(np.uint8), *params, kp, scores)
            return kp, scores
    else:
        def run(raw):
            if raw.shape != (h, w, c) or raw.dtype != dtype:
                _wrong_frame(raw, (h, w, c), dtype)
            return decode_quantized(raw, scale, zero_point, **options)

    return run


def _wrong_frame(raw, shape, dtype):
    raise UsageError(f"decoder set up for {shape} {dtype}, got {raw.shape} {raw.dtype}")


# ---------------------------------------------------------------------------- compiled kernel
_KERNEL = None
_LOOPS = None
_TRIED = False


def available() -> bool:
    """Whether the compiled kernel loads (numba imports)."""
    return _kernel() is not None


def _kernel():
    """The compiled decode: fn(data, params, kp, scores) with params a `KernelParams` as a
    plain tuple (package doc steps 1-4 on one frame: data (H*W, C) bytes; writes kp (K, 2)
    float32 input px and scores (K,) float32)."""
    global _KERNEL, _LOOPS, _TRIED
    if not _TRIED:
        _TRIED = True
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a declared dependency
            return None
        from numba.extending import register_jitable

        register_jitable(dark_fit)  # callable from compiled code, unchanged for numpy
        # numba's on-disk cache is keyed by this file and each function's own code and
        # closure: both close over a digest of dark_fit (in refine.py), so editing it
        # recompiles them
        digest = int(hashlib.sha256(inspect.getsource(dark_fit).encode()).hexdigest()[:15], 16)
        try:  # the compiled kernel is cached beside the source (or in the user's cache)
            _LOOPS = numba.njit(cache=True, nogil=True)(_build_loops(digest))
            _KERNEL = numba.njit(cache=True, nogil=True)(_build_entry(digest))
        except RuntimeError:  # no writable cache location: compile per process instead
            _LOOPS = numba.njit(cache=False, nogil=True)(_build_loops(digest))
            _KERNEL = numba.njit(cache=False, nogil=True)(_build_entry(digest))
    return _KERNEL


def _build_entry(digest: int):
    def decode_frame(data, params, kp, scores):
        if digest < 0:  # never (an integer constant, folded): keeps the digest in the closure
            return
        # the loops take the fields as arguments: over arrays unpacked from a tuple inside
        # the same function they ran ~10% slower
        (h, w, k, signed, expo32, expo64, values, logs, min_confidence, peaks, refine,
         adjacency, stride) = params
        _LOOPS(data, h, w, k, signed, expo32, expo64, values, logs, min_confidence, peaks,
               refine, adjacency, stride, kp, scores)

    return decode_frame


def _build_loops(digest: int):
    """The decode's loops over one frame; `decode_frame` (the kernel) calls them with the
    fields of its `KernelParams`."""

    def frame_loops(data, h, w, k, signed, expo32, expo64, values, logs, min_confidence,
                    peaks, refine, adjacency, stride, kp, scores):
        if digest < 0:  # never (an integer constant, folded): keeps the digest in the closure
            return
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
                    q = cand[best_c]
                    pick_y[j], pick_x[j] = q // w, q % w
                    scores[j] = np.float32(expo64[data[q, j]] / sums[j])
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
                    num_x, num_y, det, concave = dark_fit((
                        logs[data[base - w - 1, j]], logs[data[base - w, j]],
                        logs[data[base - w + 1, j]], logs[data[base - 1, j]],
                        logs[data[base, j]], logs[data[base + 1, j]],
                        logs[data[base + w - 1, j]], logs[data[base + w, j]],
                        logs[data[base + w + 1, j]]))
                    if concave:
                        rx = ox + num_x / det
                        ry = oy + num_y / det
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

    return frame_loops
