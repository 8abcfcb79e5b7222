"""The in-graph decode: TensorFlow ops that the `decode="keypoints"` export appends to the
network (package doc, steps 1, 2 and 4)."""

from __future__ import annotations

from handlite.codec.refine import dark_fit
from handlite.codec.spec import DecodeSettings
from handlite.config import DEFAULTS


def decode_graph(heatmaps, stride: int = DEFAULTS.codec.stride,
                 settings: DecodeSettings | None = None):
    """TensorFlow ops that decode (1, H, W, K+1) maps -> keypoints (1, K, 2) px, scores (1, K).

    Mirrors `HeatmapCodec.decode` steps 1, 2 and 4 (softmax with beta for the score, argmax,
    DARK with its quarter-cell fallback, or quarter/none): everything except the
    low-confidence peak fallback, which needs data-dependent loops a phone graph should not
    carry. Parity checks it against the codec with `min_confidence=0`.
    """
    import tensorflow as tf

    settings = settings or DecodeSettings()
    _, h, w, c = heatmaps.shape
    k = c - 1
    maps = heatmaps[..., :k]
    flat = tf.reshape(tf.transpose(maps, [0, 3, 1, 2]), [-1, k, h * w])  # (N, K, HW)
    idx = tf.argmax(flat, axis=-1, output_type=tf.int32)  # (N, K)
    peak = tf.reduce_max(flat, axis=-1, keepdims=True)
    total = tf.reduce_sum(tf.exp(settings.softmax_beta * (flat - peak)), axis=-1)
    scores = 1.0 / total
    iy = idx // w
    ix = idx - iy * w

    def cells(y, x):  # gather flat[n, k, y * w + x] for int tensors y, x of shape (N, K)
        return tf.gather(flat, y * w + x, batch_dims=2)

    fy, fx = tf.cast(iy, tf.float32), tf.cast(ix, tf.float32)
    if settings.refine != "none":
        def quarter(lo_ok, hi_ok, lo, hi):
            diff = tf.where(tf.logical_and(lo_ok, hi_ok), hi - lo, tf.zeros_like(lo))
            return 0.25 * tf.sign(diff)

        ym, yp = tf.maximum(iy - 1, 0), tf.minimum(iy + 1, h - 1)
        xm, xp = tf.maximum(ix - 1, 0), tf.minimum(ix + 1, w - 1)
        qy = quarter(iy > 0, iy < h - 1, cells(ym, ix), cells(yp, ix))
        qx = quarter(ix > 0, ix < w - 1, cells(iy, xm), cells(iy, xp))
        if settings.refine == "quarter" or h < 3 or w < 3:
            fy, fx = fy + qy, fx + qx
        else:
            cy, cx = tf.clip_by_value(iy, 1, h - 2), tf.clip_by_value(ix, 1, w - 2)
            win = [cells(cy + dy, cx + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            positive = tf.reduce_all(tf.stack([v > 1e-10 for v in win], axis=-1), axis=-1)
            num_x, num_y, det, concave = dark_fit(
                [tf.math.log(tf.maximum(v, 1e-10)) for v in win])
            ok = positive & concave
            safe = tf.where(ok, det, tf.ones_like(det))
            ry = tf.cast(cy, tf.float32) + num_y / safe
            rx = tf.cast(cx, tf.float32) + num_x / safe
            ok = ok & (tf.abs(ry - fy) <= 1.0) & (tf.abs(rx - fx) <= 1.0)
            fy, fx = tf.where(ok, ry, fy + qy), tf.where(ok, rx, fx + qx)
    keypoints = (tf.stack([fx, fy], axis=-1) + 0.5) * float(stride) - 0.5
    return keypoints, scores
