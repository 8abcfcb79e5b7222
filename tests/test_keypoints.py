import numpy as np
import pytest

from handlite import keypoints as kp


def test_schema_sizes_and_tree():
    assert len(kp.KEYPOINT_NAMES) == 21 and len(set(kp.KEYPOINT_NAMES)) == 21
    assert len(kp.BONES) == 20
    # a tree: every keypoint but the wrist has exactly one parent, reachable from the wrist
    children = {b for _, b in kp.BONES}
    assert children == set(range(1, 21))
    for k in range(1, 21):
        node, steps = k, 0
        while node != 0:
            node = kp.PARENTS[node]
            steps += 1
        assert 1 <= steps <= 4
    assert kp.FINGER_OF[8] == "index" and kp.FINGER_OF[4] == "thumb" and kp.FINGER_OF[0] == "palm"
    assert [kp.KEYPOINT_NAMES[t] for t in kp.TIPS] == [
        "thumb_tip", "index_tip", "middle_tip", "ring_tip", "pinky_tip"]


def test_rhd_conversion_is_its_own_inverse_and_maps_tips():
    rhd = np.arange(21)
    op = kp.rhd_to_openpose(rhd)
    assert op[0] == 0
    # RHD stores each finger tip -> MCP: RHD index 1 is the thumb tip, OpenPose 4
    assert op[4] == 1 and op[1] == 4 and op[8] == 5 and op[20] == 17
    np.testing.assert_array_equal(kp.rhd_to_openpose(op), rhd)


def test_rhd_hand_selects_side():
    pts = np.arange(42 * 2).reshape(42, 2)
    left, right = kp.rhd_hand(pts, "left"), kp.rhd_hand(pts, "right")
    np.testing.assert_array_equal(left[0], pts[0])
    np.testing.assert_array_equal(right[0], pts[21])
    np.testing.assert_array_equal(right[4], pts[22])  # right thumb tip
    with pytest.raises(ValueError):
        kp.rhd_hand(pts[:21], "left")
    with pytest.raises(ValueError):
        kp.rhd_hand(pts, "up")


def test_mirror_matches_image_flip_and_is_an_involution():
    width = 10
    image = np.zeros((4, width), np.uint8)
    image[2, 3] = 255
    flipped = image[:, ::-1]
    y, x = np.argwhere(flipped)[0]
    point = np.array([[3.0, 2.0]])
    np.testing.assert_allclose(kp.mirror_keypoints(point, width), [[x, y]])
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, (21, 2))
    np.testing.assert_allclose(kp.mirror_keypoints(kp.mirror_keypoints(pts, 100), 100), pts)


def test_adjacency_is_symmetric_with_20_edges():
    adj = kp.adjacency()
    assert (adj == adj.T).all() and adj.sum() == 40
