"""COCO-style hand keypoint files: records, paper crops, mirroring, WholeBody hands, bad files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from handlite.data import load_eval_set
from handlite.data.coco import read_coco, split_coco_spec
from handlite.data.sources import read_records
from handlite.errors import DataError

SIZE = 64


def _kpts(points, v=None):
    v = np.full(len(points), 2) if v is None else v
    return [float(c) for (x, y), vis in zip(points, v) for c in (x, y, vis)]


def _write_image(path, marks=(), shape=(200, 240)):
    """A grey image with a white 3x3 block centred at each mark (x, y)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((*shape, 3), 90, np.uint8)
    for x, y in marks:
        img[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] = 255
    cv2.imwrite(str(path), img)


def _write_coco(tmp_path, annotations, images=None, name="hands.json"):
    images = images or [{"id": 1, "file_name": "a.png", "width": 240, "height": 200},
                        {"id": 2, "file_name": "b.png", "width": 240, "height": 200}]
    path = tmp_path / name
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "hand"}]}))
    return path


@pytest.fixture
def coco_set(tmp_path, make_hand):
    """hands.json + images/{a,b}.png: a left hand with head size and centre, a right hand with
    two unlabelled keypoints, and a hand without a side."""
    left = make_hand(center=(120, 110), spread=18, seed=1)
    right = make_hand(center=(100, 100), spread=22, seed=2)
    v = np.full(21, 2)
    v[[4, 8]] = 0
    right_raw = right.copy()
    right_raw[[4, 8]] = 0.0  # COCO writes unlabelled keypoints as (0, 0, 0)
    _write_image(tmp_path / "images" / "a.png", marks=[left[0]])
    _write_image(tmp_path / "images" / "b.png", marks=[right[0]])
    anns = [
        {"id": 7, "image_id": 1, "bbox": [90, 80, 60, 60], "keypoints": _kpts(left),
         "hand_type": "left", "head_size": 70.0, "center": [121.0, 109.0]},
        {"id": 8, "image_id": 2, "bbox": [70, 60, 60, 60], "keypoints": _kpts(right_raw, v),
         "hand_type": "Right"},
        {"id": 9, "image_id": 2, "bbox": [70, 60, 60, 60], "keypoints": _kpts(right)},
    ]
    return _write_coco(tmp_path, anns), left, right, v


def test_records_carry_side_head_size_and_labels(coco_set):
    path, left, right, v = coco_set
    records = read_records(f"coco:{path}")
    assert [r.kind for r in records] == ["coco"] * 3
    a, b, c = records
    assert a.image_path == path.parent / "images" / "a.png"  # found in images/ beside it
    assert a.is_left and a.head_size == 70.0
    np.testing.assert_allclose(a.center, [121.0, 109.0])
    np.testing.assert_allclose(a.keypoints, left, atol=1e-5)
    assert not b.is_left and b.head_size is None
    assert b.visible.tolist() == (v > 0).astype(int).tolist()
    assert b.label_mask.tolist() == b.visible.tolist()
    # centre of the tight box of the labelled keypoints only (the (0, 0) ones are ignored)
    lab = right[v > 0]
    np.testing.assert_allclose(b.center, (lab.min(0) + lab.max(0)) / 2, atol=1e-4)
    assert not c.is_left  # no side given: taken as it is
    assert len(read_records(f"coco:{path}", limit=2)) == 2


def test_crops_follow_the_paper_rule_and_mirror_left_hands(coco_set):
    path, left, right, v = coco_set
    ev = load_eval_set(f"coco:{path}", SIZE)
    assert ev.images.shape == (3, SIZE, SIZE, 3)
    o = (SIZE - 1) / 2
    # left hand, head size 70: side 1.2 x 70 around the given centre, mirrored
    z = SIZE / (1.2 * 70.0)
    expect = np.stack([(SIZE - 1) - (o + z * (left[:, 0] - 121.0)),
                       o + z * (left[:, 1] - 109.0)], axis=1)
    np.testing.assert_allclose(ev.keypoints[0], expect, atol=1e-3)
    # ... and the image was mirrored with the keypoints: the white wrist mark sits there
    wx, wy = np.round(ev.keypoints[0, 0]).astype(int)
    assert ev.images[0, wy, wx].min() > 150
    assert ev.images[0, wy, (SIZE - 1) - wx].max() < 150  # not at the unmirrored place
    # right hand without head size: 2.2 x the larger side of the labelled keypoints' box
    lab = ev.keypoints[1][v > 0]
    extent = (lab.max(0) - lab.min(0)).max()
    assert extent == pytest.approx(SIZE / 2.2, rel=1e-4)
    wx, wy = np.round(ev.keypoints[1, 0]).astype(int)
    assert ev.images[1, wy, wx].min() > 150
    assert ev.visible[1].tolist() == (v > 0).astype(int).tolist()
    assert ev.head_size is None  # not every hand has one


def test_image_dir_and_two_colon_spec(tmp_path, make_hand):
    pts = make_hand()
    _write_image(tmp_path / "pics" / "a.png")
    path = _write_coco(tmp_path, [{"id": 1, "image_id": 1, "keypoints": _kpts(pts)}],
                       images=[{"id": 1, "file_name": "a.png", "width": 240, "height": 200}])
    assert split_coco_spec(f"{path}:{tmp_path / 'pics'}") == (path, tmp_path / "pics")
    assert split_coco_spec(str(path)) == (path, None)
    (rec,) = read_records(f"coco:{path}:{tmp_path / 'pics'}")
    assert rec.image_path == tmp_path / "pics" / "a.png"
    # without the folder the image is looked for beside the JSON and in images/: not there
    with pytest.raises(DataError, match=r"hands\.json: annotation 1: image 'a.png' not found"):
        read_records(f"coco:{path}")


def test_wholebody_hands_one_record_per_valid_hand(tmp_path, make_hand):
    lh, rh = make_hand(center=(60, 60), seed=3), make_hand(center=(160, 90), seed=4)
    _write_image(tmp_path / "a.png")
    body = [0.0] * 51  # 17 body keypoints: not a hand, never read as one
    anns = [{"id": 1, "image_id": 1, "keypoints": body, "lefthand_kpts": _kpts(lh),
             "righthand_kpts": _kpts(rh), "lefthand_valid": True, "righthand_valid": True},
            {"id": 2, "image_id": 1, "keypoints": body, "lefthand_kpts": _kpts(lh),
             "righthand_kpts": [0.0] * 63, "lefthand_valid": True, "righthand_valid": False},
            {"id": 3, "image_id": 1, "keypoints": body, "lefthand_kpts": [0.0] * 63,
             "righthand_kpts": [0.0] * 63, "lefthand_valid": False, "righthand_valid": False}]
    path = _write_coco(tmp_path, anns, images=[{"id": 1, "file_name": "a.png"}])
    records = read_coco(path)
    assert [r.is_left for r in records] == [True, False, True]
    np.testing.assert_allclose(records[0].keypoints, lh, atol=1e-5)
    np.testing.assert_allclose(records[1].keypoints, rh, atol=1e-5)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(keypoints=a["keypoints"][:60]), "keypoints must be 63 values.*got 60"),
    (lambda a: a["keypoints"].__setitem__(3, float("nan")), "keypoints have non-finite"),
    (lambda a: a.update(image_id=42), "unknown image_id 42"),
    (lambda a: a.update(keypoints=[0.0] * 63), "no labelled keypoint"),
    (lambda a: a.update(hand_type="both"), "'hand_type' must be 'left' or 'right'"),
    (lambda a: a.update(head_size=-3), "'head_size' must be a positive number"),
    (lambda a: a.update(image_id=2), "image 'missing.png' not found"),
])
def test_bad_files_are_one_error_naming_file_and_annotation(tmp_path, make_hand, change,
                                                            message):
    _write_image(tmp_path / "a.png")
    good = {"id": 1, "image_id": 1, "keypoints": _kpts(make_hand())}
    bad = {"id": 77, "image_id": 1, "keypoints": _kpts(make_hand(seed=5))}
    change(bad)
    path = _write_coco(tmp_path, [good, bad], images=[
        {"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "missing.png"}])
    with pytest.raises(DataError, match=r"hands\.json: annotation 77: " + message) as info:
        read_records(f"coco:{path}")
    assert "\n" not in str(info.value)


def test_not_a_coco_file(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"hand_pts": []}))
    with pytest.raises(DataError, match="not a COCO keypoint file"):
        read_records(f"coco:{tmp_path / 'x.json'}")
    with pytest.raises(DataError, match="not found"):
        read_records(f"coco:{tmp_path / 'nope.json'}")


def test_cli_reports_a_bad_file_in_one_line(tmp_path, make_hand, run_cli):
    _write_image(tmp_path / "a.png")
    path = _write_coco(tmp_path, [{"id": 5, "image_id": 1, "keypoints": [1.0] * 30}],
                       images=[{"id": 1, "file_name": "a.png"}])
    code, out, err = run_cli("data", "show", f"coco:{path}", "--out", tmp_path / "s.png")
    assert code == 2
    assert "annotation 5: keypoints must be 63 values" in err
    assert len(err.strip().splitlines()) == 1
