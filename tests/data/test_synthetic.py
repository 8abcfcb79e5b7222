import json

import numpy as np
import pytest

from handlite.data import synthetic
from handlite.data.sources import read_records
from handlite.errors import UsageError
from handlite.keypoints import BONES


def test_same_seed_and_index_give_the_same_image_in_any_order():
    a = synthetic.sample(7, 3, size=128)
    list(synthetic.generate(2, 99, size=128))  # unrelated draws in between
    b = synthetic.sample(7, 3, size=128)
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.keypoints, b.keypoints)
    c = synthetic.sample(8, 3, size=128)
    assert not np.array_equal(a.image, c.image)


def test_hand_geometry_is_plausible():
    for i in range(12):
        s = synthetic.sample(1, i, size=256)
        assert s.image.shape == (256, 256, 3) and s.image.dtype == np.uint8
        assert s.keypoints.shape == (21, 2) and np.isfinite(s.keypoints).all()
        bones = np.array([np.linalg.norm(s.keypoints[a] - s.keypoints[b]) for a, b in BONES])
        # projected bones are never longer than the palm-scaled maximum, and the hand has
        # a real extent (not collapsed to a point)
        extent = np.ptp(s.keypoints, axis=0).max()
        assert 30 < extent < 256
        assert bones.max() < 0.8 * 256
        # keypoints that are drawn inside the image are flagged visible or occluded-by-object
        inside = ((s.keypoints >= 0) & (s.keypoints < 256)).all(axis=1)
        assert not s.visible[~inside].any()


def test_the_hand_is_drawn_where_its_keypoints_are():
    for i in range(6):
        s = synthetic.sample(4, i, size=256)
        palm = s.keypoints[[0, 5, 9, 13, 17]].round().astype(int)
        inside = ((palm >= 0) & (palm < 256)).all(axis=1)
        assert (s.parts[palm[inside, 1], palm[inside, 0]] > 0).all()
        # fingers (ids >= 10) are drawn only near the keypoints
        yy, xx = np.nonzero(s.parts >= 10)
        dist = np.linalg.norm(np.stack([xx, yy], 1)[:, None] - s.keypoints[None], axis=-1)
        extent = np.ptp(s.keypoints, axis=0).max()
        assert dist.min(axis=1).max() < 0.25 * extent


def test_write_dataset_is_cmu_layout_and_resumable(tmp_path):
    summary = synthetic.write_dataset(tmp_path, 3, seed=5, size=96, left_fraction=0.5)
    assert summary["count"] == 3
    jsons = sorted(tmp_path.glob("*.json"))
    assert len(jsons) == 3 and len(list(tmp_path.glob("*.jpg"))) == 3
    doc = json.loads(jsons[0].read_text())
    assert np.asarray(doc["hand_pts"]).shape == (21, 3)
    assert doc["is_left"] in (0, 1) and len(doc["hand_box_center"]) == 2
    records = read_records(f"synth:{tmp_path}")
    assert len(records) == 3 and all(r.kind == "synth" for r in records)
    assert all(r.label_mask.all() for r in records)
    before = jsons[0].stat().st_mtime_ns
    again = synthetic.write_dataset(tmp_path, 4, seed=5, size=96, left_fraction=0.5,
                                    resume=True)
    assert again["skipped_existing"] == 3
    assert jsons[0].stat().st_mtime_ns == before
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_left_hands_are_exact_mirrors():
    right = next(synthetic.generate(1, 3, size=64, left_fraction=0.0))
    left = next(synthetic.generate(1, 3, size=64, left_fraction=1.0))
    assert left[3] and not right[3]
    assert np.array_equal(left[0], right[0][:, ::-1])
    np.testing.assert_allclose(left[1][:, 0], 63 - right[1][:, 0], atol=1e-4)
    np.testing.assert_allclose(left[1][:, 1], right[1][:, 1])


def test_bad_arguments_raise():
    with pytest.raises(UsageError):
        list(synthetic.generate(-1, 0))
    with pytest.raises(UsageError):
        list(synthetic.generate(1, 0, left_fraction=2))
