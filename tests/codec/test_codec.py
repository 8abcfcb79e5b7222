import numpy as np
import pytest

from handlite.codec import HeatmapCodec
from handlite.errors import UsageError
from handlite.keypoints import mirror_keypoints


@pytest.fixture(params=[224, 112])
def codec(request):
    return HeatmapCodec(input_size=request.param)


def test_encode_shapes_peaks_and_background(codec):
    rng = np.random.default_rng(0)
    points = rng.uniform(10, codec.input_size - 10, (21, 2))
    maps = codec.encode(points)
    h = codec.input_size // 4
    assert maps.shape == (h, h, 22) and maps.dtype == np.float32
    assert maps[..., :21].max() <= 1.0 and maps.min() >= 0.0
    np.testing.assert_allclose(maps[..., 21], 1.0 - maps[..., :21].max(axis=-1), atol=1e-6)
    # the peak cell of each map is the cell nearest to the keypoint
    for k in range(21):
        v, u = np.unravel_index(maps[..., k].argmax(), (h, h))
        cell = codec.to_heatmap(points[k])
        assert abs(u - cell[0]) <= 0.5 + 1e-9 and abs(v - cell[1]) <= 0.5 + 1e-9


def test_encode_gaussian_value_matches_eq1():
    codec = HeatmapCodec(input_size=224, stride=4, sigma=2.0)
    points = np.full((21, 2), 100.0)
    maps = codec.encode(points)
    u0 = (100 + 0.5) / 4 - 0.5  # 24.625
    u, v = 20, 27
    expected = np.exp(-((u - u0) ** 2 + (v - u0) ** 2) / (2 * 2.0 ** 2))
    assert maps[v, u, 3] == pytest.approx(expected, rel=1e-5)


def test_invisible_keypoint_contributes_nothing():
    codec = HeatmapCodec()
    points = np.random.default_rng(2).uniform(20, 200, (21, 2))
    visible = np.ones(21, bool)
    visible[5] = False
    maps = codec.encode(points, visible)
    assert maps[..., 5].max() == 0.0
    others = np.delete(maps[..., :21], 5, axis=-1).max(axis=-1)
    np.testing.assert_allclose(maps[..., 21], 1.0 - others, atol=1e-6)
    nan_points = points.copy()
    nan_points[7] = np.nan
    assert codec.encode(nan_points)[..., 7].max() == 0.0


def test_round_trip_recovers_keypoints(codec):
    rng = np.random.default_rng(3)
    # the whole input including borders: the refinement window is clamped inside the map
    points = rng.uniform(-0.5, codec.input_size - 0.5, (200, 21, 2))
    decoded, scores = codec.decode(codec.encode_batch(points))
    assert np.abs(decoded - points).max() <= 0.05
    assert (scores > codec.settings.min_confidence).all()


@pytest.mark.parametrize("refine,bound", [("quarter", 0.25 * 4 * 2 ** 0.5 + 1e-6), ("none", 0.5 * 4 * 2 ** 0.5 + 1e-6)])
def test_coarser_refinements_are_bounded(refine, bound):
    codec = HeatmapCodec(refine=refine)
    points = np.random.default_rng(4).uniform(20, 200, (50, 21, 2))
    decoded, _ = codec.decode(codec.encode_batch(points))
    err = np.linalg.norm(decoded - points, axis=-1)
    assert err.max() <= bound
    # and DARK is much better than either
    dark, _ = HeatmapCodec().decode(codec.encode_batch(points))
    assert np.linalg.norm(dark - points, axis=-1).max() < 0.1 * err.max()


def _two_peak_maps(codec, target, near_cell, far_cell, near_height, far_height):
    """Clean maps for all keypoints, and for `target` a flat low map with two bumps."""
    rng = np.random.default_rng(5)
    points = np.array([[60.0 + 4 * k, 60.0 + 2 * k] for k in range(21)])
    maps = codec.encode(points)
    h = codec.heatmap_size
    yy, xx = np.mgrid[0:h, 0:h]
    low = np.zeros((h, h), np.float32) + rng.normal(0, 0.005, (h, h)).astype(np.float32)
    for (cx, cy), height in ((near_cell, near_height), (far_cell, far_height)):
        low += height * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 1.5 ** 2))
    maps[..., target] = low
    return points, maps


def test_fallback_picks_the_peak_near_confident_neighbours():
    codec = HeatmapCodec(min_confidence=0.05)  # the crafted weak map scores ~0.01
    target = 8  # index tip; its skeleton neighbour is the index DIP (7)
    points = np.array([[60.0 + 4 * k, 60.0 + 2 * k] for k in range(21)])
    dip_cell = codec.to_heatmap(points[7])
    near = (round(dip_cell[0]) + 3, round(dip_cell[1]) + 2)
    far = (50, 8)
    _, maps = _two_peak_maps(codec, target, near, far, near_height=0.30, far_height=0.34)
    keypoints, scores = codec.decode(maps)
    assert scores[target] < codec.settings.min_confidence  # the fallback case really occurs
    picked = codec.to_heatmap(keypoints[target])
    assert np.hypot(*(picked - near)) < 0.6
    # without the fallback the stronger, far peak wins: the test can fail
    plain, _ = HeatmapCodec(min_confidence=0.0).decode(maps)
    assert np.hypot(*(codec.to_heatmap(plain[target]) - far)) < 0.6
    # confident keypoints are untouched by the fallback
    mask = np.arange(21) != target
    np.testing.assert_allclose(keypoints[mask], plain[mask])


def test_fallback_uses_whole_hand_when_no_neighbour_is_confident():
    codec = HeatmapCodec(min_confidence=0.05)
    points = np.array([[60.0 + 4 * k, 60.0 + 2 * k] for k in range(21)])
    maps = codec.encode(points)
    h = codec.heatmap_size
    yy, xx = np.mgrid[0:h, 0:h]
    centre = codec.to_heatmap(points.mean(axis=0))
    near = (round(centre[0]) + 1, round(centre[1]) - 1)
    far = (2, 53)
    for k in (7, 8):  # both the tip and its only neighbour are weak
        maps[..., k] = 0.30 * np.exp(-((xx - near[0]) ** 2 + (yy - near[1]) ** 2) / 4.5) + \
            0.34 * np.exp(-((xx - far[0]) ** 2 + (yy - far[1]) ** 2) / 4.5)
    keypoints, scores = codec.decode(maps)
    assert scores[8] < codec.settings.min_confidence
    assert np.hypot(*(codec.to_heatmap(keypoints[8]) - near)) < 0.6


def test_batch_equals_per_sample():
    codec = HeatmapCodec()
    rng = np.random.default_rng(6)
    points = rng.uniform(0, 224, (8, 21, 2))
    maps = codec.encode_batch(points) + rng.normal(0, 0.05, (8, 56, 56, 22)).astype(np.float32)
    maps[3, ..., 4] *= 0.2  # force some fallback decisions into the batch
    batch_k, batch_s = codec.decode(maps)
    for i in range(8):
        k, s = codec.decode(maps[i])
        np.testing.assert_array_equal(batch_k[i], k)
        np.testing.assert_array_equal(batch_s[i], s)


def test_mirrored_maps_decode_to_mirrored_keypoints(codec):
    rng = np.random.default_rng(7)
    points = rng.uniform(0, codec.input_size - 1, (16, 21, 2))
    maps = codec.encode_batch(points) + rng.normal(0, 0.01, (16,) + codec.shape).astype(np.float32)
    k, s = codec.decode(maps)
    km, sm = codec.decode(maps[:, :, ::-1])
    np.testing.assert_allclose(km, mirror_keypoints(k, codec.input_size), atol=1e-3)
    np.testing.assert_allclose(sm, s, rtol=1e-5)


def test_decode_accepts_maps_without_background_and_rejects_bad_shapes():
    codec = HeatmapCodec()
    points = np.random.default_rng(8).uniform(0, 224, (21, 2))
    maps = codec.encode(points)
    np.testing.assert_allclose(codec.decode(maps[..., :21])[0], codec.decode(maps)[0])
    with pytest.raises(UsageError):
        codec.decode(maps[..., :5])
    with pytest.raises(UsageError):
        codec.decode(np.zeros((56, 56)))
    with pytest.raises(UsageError):
        HeatmapCodec(input_size=100, stride=3)
    with pytest.raises(UsageError):
        HeatmapCodec(refine="magic")


def test_nan_maps_do_not_crash_and_keep_other_keypoints():
    codec = HeatmapCodec()
    points = np.random.default_rng(9).uniform(20, 200, (21, 2))
    maps = codec.encode(points)
    maps[10, 10, 3] = np.nan
    keypoints, _ = codec.decode(maps)
    assert np.isfinite(keypoints).all()
    np.testing.assert_allclose(keypoints[5], points[5], atol=0.05)
