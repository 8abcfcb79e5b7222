import json
import pickle

import numpy as np
import pytest

from handlite.data.sources import parse_spec, read_records
from handlite.errors import DataError, UsageError


def test_parse_spec():
    assert parse_spec("cmu:/a/b") == ("cmu", "/a/b")
    assert parse_spec("rhd:x") == ("rhd", "x")
    assert parse_spec("synth") == ("synth", "")
    assert parse_spec("/plain/dir") == ("cmu", "/plain/dir")
    with pytest.raises(UsageError, match="did you mean 'rhd'"):
        parse_spec("rdh:/x")


def test_cmu_folder_is_read_recursively_in_order(tmp_path, cmu_writer, make_hand):
    kp = make_hand()
    vis = np.ones(21)
    vis[3] = 0
    cmu_writer(tmp_path / "manual_test", "b", kp, vis, is_left=1, head_size=50.0)
    cmu_writer(tmp_path / "manual_train", "a", kp + 5)
    (tmp_path / "summary.json").write_text("{}")  # no image next to it: not a sample
    records = read_records(f"cmu:{tmp_path}")
    assert [r.image_path.name for r in records] == ["b.jpg", "a.jpg"]
    first = records[0]
    assert first.is_left and first.head_size == 50.0 and first.kind == "cmu"
    assert first.visible[3] == 0 and first.label_mask[3] == 0 and first.visible.sum() == 20
    np.testing.assert_allclose(first.keypoints, kp)
    # without hand_box_center: centre of the tight box of the visible keypoints
    lo, hi = kp[vis > 0].min(0), kp[vis > 0].max(0)
    np.testing.assert_allclose(first.center, (lo + hi) / 2, atol=1e-5)


@pytest.mark.parametrize("doc, message", [
    ("not json", "not readable JSON"),
    (json.dumps({"is_left": 0}), "no 'hand_pts'"),
    (json.dumps({"hand_pts": [[1, 2, 1]] * 20}), r"21 x \[x, y, visible\]"),
    (json.dumps({"hand_pts": [["a", 2, 1]] * 21}), "not a list of numbers"),
    (json.dumps({"hand_pts": [[1, 2, 1]] * 21, "is_left": 3}), "'is_left' must be 0 or 1"),
    (json.dumps({"hand_pts": [[1, 2, 1]] * 21, "head_size": -4}), "'head_size'"),
    (json.dumps({"hand_pts": [[1, 2, 0]] * 21}), "no visible keypoint"),
])
def test_malformed_cmu_annotation_names_the_file(tmp_path, cmu_writer, make_hand, doc,
                                                 message):
    path = cmu_writer(tmp_path, "bad", make_hand())
    path.write_text(doc)
    with pytest.raises(DataError, match=message) as info:
        read_records(f"cmu:{tmp_path}")
    assert str(path) in str(info.value)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_records(f"cmu:{tmp_path / 'nope'}")
    with pytest.raises(DataError, match="no annotated hands"):
        read_records(f"cmu:{tmp_path}")
    with pytest.raises(UsageError, match="needs a folder"):
        read_records("cmu:")


def test_rhd_picks_the_hand_with_more_visible_points_in_openpose_order(
        tmp_path, rhd_writer, make_hand):
    def hand(offset, n_visible):
        pts = make_hand(center=(150.0 + offset, 160.0))
        vis = (np.arange(21) < n_visible).astype(float)
        return np.concatenate([pts, vis[:, None]], axis=1)

    left, right = hand(-60, 21), hand(60, 5)
    rhd_writer(tmp_path / "evaluation", [(left, right), (hand(0, 2), hand(30, 18))])
    records = read_records(f"rhd:{tmp_path}")  # the parent of evaluation/ works too
    assert len(records) == 2
    assert records[0].is_left and not records[1].is_left
    np.testing.assert_allclose(records[0].keypoints, left[:, :2], atol=1e-5)
    np.testing.assert_array_equal(records[1].visible, (np.arange(21) < 18).astype(np.uint8))
    assert records[0].kind == "rhd" and records[0].label_mask.all()
    assert records[0].image_path.name == "00000.png"


def test_malformed_rhd(tmp_path, rhd_writer, make_hand):
    root = tmp_path / "evaluation"
    pts = np.concatenate([make_hand(), np.ones((21, 1))], axis=1)
    rhd_writer(root, [(pts, pts)])
    anno = root / "anno_evaluation.pickle"
    with open(anno, "wb") as fh:
        pickle.dump({0: {"uv_vis": np.zeros((21, 3))}}, fh)
    with pytest.raises(DataError, match="must be a finite") as info:
        read_records(f"rhd:{root}")
    assert str(anno) in str(info.value)
    anno.write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable RHD annotation pickle"):
        read_records(f"rhd:{root}")
    with open(anno, "wb") as fh:
        pickle.dump({7: {"uv_vis": np.ones((42, 3))}}, fh)
    with pytest.raises(DataError, match="00007.png not found"):
        read_records(f"rhd:{root}")


@pytest.mark.parametrize("kind", ["synth", "render"])
def test_a_drawn_hand_hidden_entirely_is_no_sample(tmp_path, cmu_writer, make_hand, kind):
    """A rendered or drawn image whose hand an occluder or the frame hides whole is skipped
    (as RHD's are); the same in a real CMU file stays an error."""
    cmu_writer(tmp_path, "a", make_hand())
    cmu_writer(tmp_path, "b", make_hand(), np.zeros(21))
    records = read_records(f"{kind}:{tmp_path}")
    assert [r.image_path.stem for r in records] == ["a"]
    assert records[0].label_mask.all()
    with pytest.raises(DataError, match="no visible keypoint"):
        read_records(f"cmu:{tmp_path}")
