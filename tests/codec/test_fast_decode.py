"""The fast decode paths against the frozen reference decoder (tests/codec/reference_decoder.py).

- float maps, one frame or a batch: bit for bit the reference (the golden vectors pin the Java
  decoder to the same numbers, so nothing may move);
- quantised maps (`decode_quantized`): the reference on the float32 maps the runtime
  dequantises to: same cells and fallback choices (keypoints to 1e-4 px), scores to 1e-5.

The maps are random but shaped like network output: encoded Gaussians plus noise, weak maps
that send keypoints through the low-confidence fallback, peaks on borders and corners,
quantisation plateaus and ties, flat and constant maps.
"""

from __future__ import annotations

import numpy as np
import pytest

from handlite.codec import HeatmapCodec
from handlite.errors import UsageError

K = 21


def _dequantize(raw, scale, zero_point):
    """What the runtime fed the decoder before the fast path: float32 (q - zp) * scale."""
    maps = raw.astype(np.float32)
    maps -= np.float32(zero_point)
    maps *= np.float32(scale)
    return maps


def _quantize(maps, scale, zero_point, dtype):
    info = np.iinfo(dtype)
    q = np.round(maps / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def _frame(codec, rng, kind):
    """One (H, W, K+1) float32 frame of a given flavour."""
    size = codec.input_size
    h = codec.heatmap_size
    if kind == "border":  # keypoints on edges and corners of the input
        points = rng.choice([-0.5, 0.0, size / 2, size - 1.0, size - 0.5], (K, 2))
    else:
        points = rng.uniform(-0.5, size - 0.5, (K, 2))
    maps = codec.encode(points)
    maps[..., :K] *= rng.uniform(0.5, 1.1, K).astype(np.float32)
    maps += rng.normal(0, 0.03, maps.shape).astype(np.float32)
    if kind in ("weak", "border"):  # several keypoints drown in noise: the fallback runs
        weak = rng.choice(K, rng.integers(3, 10), replace=False)
        maps[..., weak] *= rng.uniform(0.05, 0.3, len(weak)).astype(np.float32)
        maps[..., weak] += rng.normal(0, 0.05, (h, h, len(weak))).astype(np.float32)
    elif kind == "all_weak":  # nothing confident: every argmax stays
        maps *= 0.1
    elif kind == "flat":  # constant maps (every cell a tie) and stepped plateaus
        for j in rng.choice(K, 6, replace=False):
            maps[..., j] = rng.uniform(-0.2, 0.3)
        for j in rng.choice(K, 4, replace=False):
            maps[..., j] = np.round(maps[..., j] * 4) / 4
    return maps


KINDS = ("clean", "weak", "border", "all_weak", "flat")


def _codecs():
    yield HeatmapCodec(input_size=224)
    yield HeatmapCodec(input_size=112, min_confidence=0.05)  # ~all maps take the fallback
    yield HeatmapCodec(input_size=224, refine="quarter", fallback_peaks=5)
    yield HeatmapCodec(input_size=112, refine="none", softmax_beta=4.0)


@pytest.mark.parametrize("codec", list(_codecs()), ids=lambda c: f"{c.input_size}-"
                         f"{c.settings.refine}-{c.settings.min_confidence}")
def test_float_frames_and_batches_decode_bit_for_bit_as_the_reference(codec, reference):
    rng = np.random.default_rng(codec.input_size + len(codec.settings.refine))
    frames = np.stack([_frame(codec, rng, KINDS[i % len(KINDS)]) for i in range(30)])
    frames[3, 5, 7, 2] = np.nan  # a NaN cell and a +inf cell take the slow branch
    frames[4, 0, 0, 9] = np.inf
    with np.errstate(over="ignore", invalid="ignore"):
        want_k, want_s = reference(codec, frames)
        got_k, got_s = codec.decode(frames)
        np.testing.assert_array_equal(got_k, want_k)
        np.testing.assert_array_equal(got_s, want_s)
        for i in range(len(frames)):
            k, s = codec.decode(frames[i])
            np.testing.assert_array_equal(k, want_k[i])
            np.testing.assert_array_equal(s, want_s[i])
        np.testing.assert_array_equal(codec.decode(frames[0, ..., :K])[0], want_k[0])
    # the maps really go through the fallback, and it really moves keypoints
    plain = HeatmapCodec(input_size=codec.input_size, **{**codec.settings.to_dict(),
                                                         "min_confidence": 0.0})
    if codec.settings.min_confidence > 0:
        with np.errstate(over="ignore", invalid="ignore"):
            moved = np.abs(plain.decode(frames)[0] - got_k).max(axis=-1) > 0
        assert moved.sum() >= 10


QUANT = [  # (dtype, scale, zero point): the shipped int8 model's output, and others
    (np.int8, 0.006293466780334711, -68),
    (np.int8, 0.0045, 10),
    (np.uint8, 0.0058, 40),
    (np.uint8, 0.02, 128),
]


@pytest.mark.parametrize("dtype,scale,zero_point", QUANT)
@pytest.mark.parametrize("codec", list(_codecs()), ids=lambda c: f"{c.input_size}-"
                         f"{c.settings.refine}-{c.settings.min_confidence}")
def test_quantized_frames_decode_as_the_reference_on_dequantised_maps(codec, reference, dtype,
                                                                      scale, zero_point):
    rng = np.random.default_rng(int(scale * 1e4) + codec.input_size)
    moved = checked = 0
    for i in range(40):
        maps = _frame(codec, rng, KINDS[i % len(KINDS)])
        raw = _quantize(maps, scale, zero_point, dtype)
        if i % 3 == 0:
            raw = raw[..., :K]  # no background channel
        want_k, want_s = reference(codec, _dequantize(raw, scale, zero_point))
        low = want_s < codec.settings.min_confidence
        # a score within float rounding of the threshold may legitimately go either way
        if np.any(np.abs(want_s - codec.settings.min_confidence)
                  < 1e-5 * codec.settings.min_confidence):
            continue
        got_k, got_s = codec.decode_quantized(raw, scale, zero_point)
        assert got_k.shape == (K, 2) and got_k.dtype == np.float32 and got_s.dtype == np.float32
        np.testing.assert_allclose(got_k, want_k, rtol=0, atol=1e-4)
        np.testing.assert_allclose(got_s, want_s, rtol=1e-5, atol=0)
        checked += 1
        if low.any() and codec.settings.min_confidence > 0:
            argmax = HeatmapCodec(input_size=codec.input_size,
                                  **{**codec.settings.to_dict(), "min_confidence": 0.0})
            moved += int((np.abs(argmax.decode_quantized(raw, scale, zero_point)[0] - got_k)
                          .max(axis=-1) > 0).sum())
    assert checked >= 35
    if codec.settings.min_confidence > 0:
        assert moved >= 5  # the fallback's choices were compared, not only argmaxes


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_quantized_constant_maps_and_byte_extremes(reference, dtype):
    """Every cell a tie (argmax = first cell, all cells peaks), and maps at the type's limits."""
    codec = HeatmapCodec(input_size=112, min_confidence=0.05)
    info = np.iinfo(dtype)
    h = codec.heatmap_size
    raw = np.full((h, h, K + 1), info.min, dtype)
    raw[..., 3] = info.max  # constant at the top byte
    raw[10:20, 5:9, 4] = info.max  # a plateau of the highest byte
    raw[0, 0, 5] = raw[-1, -1, 5] = raw[0, -1, 6] = info.max  # corner peaks
    raw[..., 7] = np.arange(h * h).reshape(h, h) % 7 + info.min  # a repeating pattern of ties
    confident = np.full((h, h), info.min, dtype)
    confident[20, 20] = info.max  # one confident keypoint to be near: the fallback moves
    raw[..., 0] = confident
    for scale, zero_point in ((0.01, 0), (0.004, int(info.min) + 3)):
        want_k, want_s = reference(codec, _dequantize(raw, scale, zero_point))
        got_k, got_s = codec.decode_quantized(raw, scale, zero_point)
        np.testing.assert_allclose(got_k, want_k, rtol=0, atol=1e-4)
        np.testing.assert_allclose(got_s, want_s, rtol=1e-5, atol=0)


def test_quantized_small_maps_and_wide_spans_take_the_reference_route(reference):
    """Maps without a 3x3 window, and scales whose exp span could underflow float32."""
    rng = np.random.default_rng(11)
    for size in (1, 2, 3):
        codec = HeatmapCodec(input_size=4 * size, min_confidence=0.2)
        raw = rng.integers(-128, 128, (size, size, K + 1)).astype(np.int8)
        want = reference(codec, _dequantize(raw, 0.01, 5))
        got = codec.decode_quantized(raw, 0.01, 5)
        np.testing.assert_allclose(got[0], want[0], atol=1e-4)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
    codec = HeatmapCodec(input_size=112)
    maps = _frame(codec, rng, "weak")
    for scale in (0.05, 0.5):  # beta * scale * 255 = 127 and 1275: beyond the table's range
        raw = _quantize(maps, scale, 0, np.int8)
        want_k, want_s = reference(codec, _dequantize(raw, scale, 0))
        got_k, got_s = codec.decode_quantized(raw, scale, 0)
        np.testing.assert_allclose(got_k, want_k, atol=1e-4)
        np.testing.assert_allclose(got_s, want_s, rtol=1e-5)


def test_quantized_decode_reuses_its_tables_and_matches_float_decode_of_the_same_frame():
    codec = HeatmapCodec()
    rng = np.random.default_rng(12)
    raw = _quantize(_frame(codec, rng, "weak"), 0.006, -60, np.int8)
    first = codec.decode_quantized(raw, 0.006, -60)
    cached = dict(codec._tables)
    again = codec.decode_quantized(raw.copy(), 0.006, -60)
    assert codec._tables == cached  # nothing rebuilt per frame
    np.testing.assert_array_equal(first[0], again[0])
    float_k, float_s = codec.decode(_dequantize(raw, 0.006, -60))
    np.testing.assert_allclose(first[0], float_k, atol=1e-4)
    np.testing.assert_allclose(first[1], float_s, rtol=1e-5)
    # a non-contiguous view (a batch's frame, a channel slice) decodes like its copy
    batch = np.stack([raw, raw[::-1]])
    np.testing.assert_array_equal(codec.decode_quantized(batch[1], 0.006, -60)[0],
                                  codec.decode_quantized(raw[::-1].copy(), 0.006, -60)[0])


@pytest.mark.parametrize("raw,scale,match", [
    (np.zeros((56, 56, 22), np.float32), 0.01, "int8 or uint8"),
    (np.zeros((1, 56, 56, 22), np.int8), 0.01, "one"),
    (np.zeros((56, 56, 5), np.int8), 0.01, "channels"),
    (np.zeros((56, 56, 22), np.int8), 0.0, "positive"),
    (np.zeros((56, 56, 22), np.int8), float("nan"), "positive"),
    (np.zeros((56, 0, 22), np.int8), 0.01, "empty"),
])
def test_quantized_decode_rejects_bad_input(raw, scale, match):
    with pytest.raises(UsageError, match=match):
        HeatmapCodec().decode_quantized(raw, scale, 0)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_a_map_with_one_peak_offers_no_other_candidates(reference, dtype):
    """A weak map whose only local maximum is far from its confident neighbour keeps it:
    cells next to the map's left and right borders must not pose as extra peaks."""
    codec = HeatmapCodec(input_size=112, min_confidence=0.05)
    h = codec.heatmap_size
    lo = int(np.iinfo(dtype).min)
    raw = np.full((h, h, K + 1), lo, dtype)
    ramp = np.full((h, h), lo, np.int64)
    ramp[:, 1:-1] = lo + 1 + 3 * np.arange(h)[:, None]  # rising rows, border columns lowest
    ramp[-1, 1:-1] += np.arange(h - 2)  # the last row rises to the one maximum
    raw[..., 8] = ramp  # index tip: weak, its one peak at the bottom right
    raw[2, 1, 7] = np.iinfo(dtype).max  # index DIP, confident, near the top left
    want_k, want_s = reference(codec, _dequantize(raw, 0.004, 0))
    assert want_s[8] < codec.settings.min_confidence and want_s[7] > 0.5
    got_k, got_s = codec.decode_quantized(raw, 0.004, 0)
    np.testing.assert_allclose(got_k, want_k, atol=1e-4)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-5)
    assert np.abs(codec.to_heatmap(got_k[8]) - [h - 2, h - 1]).max() <= 1
    # the float path ranks the same maps on its own (float32 bit patterns as keys)
    float_maps = _dequantize(raw, 0.004, 0)
    np.testing.assert_array_equal(codec.decode(float_maps)[0], want_k)


def test_a_fallback_without_peaks_to_choose_from_is_refused():
    with pytest.raises(UsageError, match="fallback_peaks"):
        HeatmapCodec(fallback_peaks=0)
    HeatmapCodec(fallback_peaks=0, min_confidence=0.0)  # no fallback, nothing to choose


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_a_bound_decoder_equals_decode_quantized_frame_after_frame(dtype):
    """The runtime's per-tensor decoder (set up once) gives what decode_quantized gives."""
    codec = HeatmapCodec(input_size=224)
    rng = np.random.default_rng(21)
    scale, zero_point = 0.0063, (-68 if dtype == np.int8 else 60)
    decode = codec.quantized_decoder(dtype, (56, 56, K + 1), scale, zero_point)
    for kind in KINDS:
        raw = _quantize(_frame(codec, rng, kind), scale, zero_point, dtype)
        want_k, want_s = codec.decode_quantized(raw, scale, zero_point)
        got_k, got_s = decode(raw)
        np.testing.assert_array_equal(got_k, want_k)
        np.testing.assert_array_equal(got_s, want_s)
    with pytest.raises(UsageError):
        decode(np.zeros((28, 28, K + 1), dtype))
    with pytest.raises(UsageError):
        decode(np.zeros((56, 56, K + 1), np.int16))
