import numpy as np
import pytest

from handlite.codec import HeatmapCodec
from handlite.data import EvalSet, load_eval_set
from handlite.data.pipeline import iterate_examples, make_dataset, normalize
from handlite.data.sources import read_records
from handlite.data.synthetic import write_dataset
from handlite.errors import UsageError


def test_normalize_matches_the_config():
    x = normalize(np.array([[[0, 128, 255]]], np.uint8))
    # (x - 128) / 127.5: grey pad 128 is exactly 0
    np.testing.assert_allclose(x, [[[-128 / 127.5, 0.0, 127 / 127.5]]], atol=1e-6)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    write_dataset(out, 6, seed=11, size=128, left_fraction=0.5)
    return out


def test_examples_are_deterministic_and_targets_sit_on_the_keypoints(synth_dir):
    records = read_records(f"synth:{synth_dir}")
    codec = HeatmapCodec(64)
    a = list(zip(range(4), iterate_examples(records, codec, seed=3)))
    b = list(zip(range(4), iterate_examples(records, codec, seed=3)))
    for (_, (xa, ya)), (_, (xb, yb)) in zip(a, b):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
        assert xa.shape == (64, 64, 3) and ya.shape == (16, 16, 22)
        assert -128 / 127.5 <= xa.min() and xa.max() <= 127 / 127.5
        # background = 1 - max of the keypoint maps
        np.testing.assert_allclose(ya[..., 21], 1 - ya[..., :21].max(-1), atol=1e-6)


def test_tf_dataset_batches(synth_dir):
    records = read_records(f"synth:{synth_dir}")
    ds = make_dataset(records, HeatmapCodec(64), batch_size=4, seed=0, repeat=False)
    shapes = [(x.shape, y.shape) for x, y in ds]
    assert [s[0][0] for s in shapes] == [4, 2]
    assert shapes[0] == ((4, 64, 64, 3), (4, 16, 16, 22))


def test_load_eval_set_from_folder_and_in_memory(synth_dir):
    ev = load_eval_set(f"synth:{synth_dir}", size=96, count=5)
    assert isinstance(ev, EvalSet)
    images, keypoints, visible, head = ev
    assert images.shape == (5, 96, 96, 3) and images.dtype == np.uint8
    assert keypoints.shape == (5, 21, 2) and visible.shape == (5, 21) and head is None
    # the crop is 2.2x the hand: keypoints sit in the middle ~45% of the crop
    ext = np.ptp(keypoints, axis=1).max(axis=1)
    np.testing.assert_allclose(ext, 96 / 2.2, rtol=1e-3)
    mem = load_eval_set("synth", size=64, count=3)
    again = load_eval_set("synth", size=64, count=3)
    assert np.array_equal(mem.images, again.images) and mem.images.shape == (3, 64, 64, 3)


def test_load_eval_set_cmu_head_size(tmp_path, cmu_writer, make_hand):
    cmu_writer(tmp_path, "h", make_hand(), head_size=40.0, center=(100, 80))
    ev = load_eval_set(f"cmu:{tmp_path}", size=96)
    np.testing.assert_allclose(ev.head_size, [40.0 * 96 / 48.0])
    with pytest.raises(UsageError):
        load_eval_set(f"cmu:{tmp_path}", size=0)
