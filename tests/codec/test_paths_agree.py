"""Every decode path of `handlite.codec` on the same inputs: the numpy float decode, the
quantised decode (numpy and numba; the conftest runs each test on both), the in-graph
TensorFlow decode and the frozen reference (tests/codec/reference_decoder.py), plus the one
DARK fit (`handlite.codec.refine.dark_fit`) that every refining path calls."""

from __future__ import annotations

import numpy as np
import pytest

from handlite.codec import HeatmapCodec, decode_graph
from handlite.codec.quantized import available
from handlite.codec.refine import dark_fit

K = 21
SCALE, ZERO_POINT = 0.006293466780334711, -68  # the shipped int8 model's output tensor


def _frames(codec, n, seed, weak=0):
    rng = np.random.default_rng(seed)
    maps = codec.encode_batch(rng.uniform(-0.5, codec.input_size - 0.5, (n, K, 2)))
    maps += rng.normal(0, 0.02, maps.shape).astype(np.float32)
    for frame in maps[::2]:  # every other frame: keypoints drowned in noise
        drown = rng.choice(K, weak, replace=False)
        frame[..., drown] = frame[..., drown] * 0.1 + rng.normal(
            0, 0.05, frame.shape[:2] + (weak,)).astype(np.float32)
    return maps


def _quantize(maps):
    return np.clip(np.round(maps / SCALE) + ZERO_POINT, -128, 127).astype(np.int8)


def _dequantize(raw):
    return (raw.astype(np.float32) - np.float32(ZERO_POINT)) * np.float32(SCALE)


def test_dark_fit_finds_the_peak_of_a_sampled_gaussian_exactly():
    """log of a Gaussian is a quadratic: the fit recovers its centre from nine samples, on
    arrays (the numpy paths) as on scalars (the compiled kernel's calls)."""
    rng = np.random.default_rng(3)
    centre = rng.uniform(-0.5, 0.5, (2, 50))  # [x; y] offsets from the window centre
    sigma = rng.uniform(1.0, 3.0, 50)
    dy, dx = np.divmod(np.arange(9), 3)
    logs = -((dx[:, None] - 1 - centre[0]) ** 2 + (dy[:, None] - 1 - centre[1]) ** 2) / (
        2 * sigma ** 2)  # (9, P)
    num_x, num_y, det, concave = dark_fit(logs)
    assert concave.all()
    np.testing.assert_allclose(np.stack([num_x, num_y]) / det, centre, atol=1e-12)
    one = dark_fit(tuple(float(v) for v in logs[:, 0]))
    assert one[3] and one[0] / one[2] == pytest.approx(centre[0, 0], abs=1e-12)
    # a window whose log is convex (a minimum) is refused
    assert not dark_fit(-logs)[3].any()


@pytest.mark.parametrize("refine", ["dark", "quarter", "none"])
def test_float_and_quantised_paths_agree_with_the_reference_on_the_same_frames(reference,
                                                                               refine):
    codec = HeatmapCodec(input_size=224, refine=refine, min_confidence=0.05)
    raws = _quantize(_frames(codec, 12, 5, weak=6))
    floats = _dequantize(raws)
    want_k, want_s = reference(codec, floats)
    assert (want_s < codec.settings.min_confidence).sum() >= 10  # the fallback runs
    got_k, got_s = codec.decode(floats)
    np.testing.assert_array_equal(got_k, want_k)
    np.testing.assert_array_equal(got_s, want_s)
    bound = codec.quantized_decoder(np.int8, raws.shape[1:], SCALE, ZERO_POINT)
    for i, raw in enumerate(raws):
        q_k, q_s = codec.decode_quantized(raw, SCALE, ZERO_POINT)
        np.testing.assert_allclose(q_k, want_k[i], rtol=0, atol=1e-4)
        np.testing.assert_allclose(q_s, want_s[i], rtol=1e-5, atol=0)
        b_k, b_s = bound(raw)
        np.testing.assert_array_equal(b_k, q_k)
        np.testing.assert_array_equal(b_s, q_s)


def test_compiled_and_numpy_quantised_paths_find_the_same_keypoints(decode_path):
    if not decode_path:
        pytest.skip("compares the two paths once, in the compiled run")
    assert available()
    codec = HeatmapCodec(input_size=224, min_confidence=0.05)
    slow = HeatmapCodec(input_size=224, min_confidence=0.05)
    slow.use_jit = False
    for raw in _quantize(_frames(codec, 10, 6, weak=8)):
        fast_k, fast_s = codec.decode_quantized(raw, SCALE, ZERO_POINT)
        slow_k, slow_s = slow.decode_quantized(raw, SCALE, ZERO_POINT)
        np.testing.assert_array_equal(fast_k, slow_k)
        np.testing.assert_allclose(fast_s, slow_s, rtol=1e-6, atol=0)


@pytest.mark.parametrize("refine", ["dark", "quarter", "none"])
def test_the_graph_decode_is_the_reference_without_the_fallback(reference, decode_path,
                                                                 refine):
    if not decode_path:
        pytest.skip("no quantised path involved: runs once")
    tf = pytest.importorskip("tensorflow")
    codec = HeatmapCodec(input_size=112, refine=refine, min_confidence=0.0)
    maps = _frames(codec, 6, 7)
    maps[0, 0, 0, 4] = 2.0  # a peak in the corner cell: the window is clamped
    maps[1, :3, :3, 5] = np.exp(0.5 * ((np.arange(3)[None] - 1) ** 2
                                       + (np.arange(3)[:, None] - 1) ** 2))  # DARK refused
    want_k, want_s = reference(codec, maps)
    for i in range(len(maps)):
        kp, scores = decode_graph(tf.constant(maps[i:i + 1]), codec.stride, codec.settings)
        np.testing.assert_allclose(kp.numpy()[0], want_k[i], rtol=0, atol=1e-3)
        np.testing.assert_allclose(scores.numpy()[0], want_s[i], rtol=1e-4, atol=1e-6)
