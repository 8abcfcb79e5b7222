import math

import cv2
import numpy as np
import pytest

from handlite.data.crops import (PAPER_AUGMENT, Augment, apply_affine, crop_box, crop_matrix,
                                 make_crop, warp)
from handlite.data.sources import HandRecord, tight_box_center


def record(kp, kind="cmu", head=None, is_left=False, path="x.jpg", center=None):
    kp = np.asarray(kp, np.float32)
    ones = np.ones(21, np.uint8)
    return HandRecord(path, kp, ones, is_left,
                      tight_box_center(kp) if center is None else np.asarray(center), head,
                      ones, kind)


def test_crop_sides_follow_the_paper(make_hand):
    kp = make_hand()
    extent = float(np.ptp(kp, axis=0).max())
    centre, side = crop_box(record(kp))
    assert side == pytest.approx(2.2 * extent)
    np.testing.assert_allclose(centre, (kp.min(0) + kp.max(0)) / 2, atol=1e-5)
    _, side = crop_box(record(kp, kind="rhd"))
    assert side == pytest.approx(2.0 * extent)
    centre, side = crop_box(record(kp, head=40.0, center=(10, 20)))
    assert side == pytest.approx(48.0)
    np.testing.assert_allclose(centre, (10, 20))


def test_crop_matrix_maps_the_box_onto_the_output():
    m = crop_matrix(np.array([50.0, 40.0]), 20.0, 10)
    # centre -> (S - 1) / 2; the box edges -> the outer pixel edges -0.5 and S - 0.5
    np.testing.assert_allclose(apply_affine(m, [[50, 40], [40, 30], [60, 50]]),
                               [[4.5, 4.5], [-0.5, -0.5], [9.5, 9.5]])
    mirrored = crop_matrix(np.array([50.0, 40.0]), 20.0, 10, mirror=True)
    np.testing.assert_allclose(apply_affine(mirrored, [[40, 30]]), [[9.5, -0.5]])


def test_augmentation_acts_about_the_output_centre():
    m = crop_matrix(np.array([0.0, 0.0]), 100.0, 101, angle=math.pi / 2,
                    shift=np.array([3.0, -2.0]), scale=1.5)
    # the crop centre stays the output centre (plus the shift); a point to its right turns
    # to below it (image y down), 1.5x as far away
    np.testing.assert_allclose(apply_affine(m, [[0, 0], [10, 0]]),
                               [[53, 48], [53, 48 + 15.15]], atol=1e-9)


@pytest.mark.parametrize("zoom_out", [False, True])
def test_warped_image_and_keypoints_agree(zoom_out):
    # bright dots at the keypoints must land where the warped keypoints say, for plain and
    # (large-downscale) anti-aliased warps alike
    size = 800 if zoom_out else 200
    image = np.zeros((size, size, 3), np.uint8)
    pts = np.array([[0.3, 0.3], [0.7, 0.35], [0.45, 0.72]]) * size
    for x, y in pts:
        cv2.circle(image, (int(x), int(y)), size // 60, (255, 255, 255), -1)
    rng = np.random.default_rng(1)
    for _ in range(5):
        angle, shift, scale = PAPER_AUGMENT.sample(rng, 64)
        m = crop_matrix(np.array([size / 2, size / 2]), size * 0.9, 64, angle=angle,
                        shift=shift, scale=scale, mirror=bool(rng.integers(2)))
        out = warp(image, m, 64)
        for p in apply_affine(m, np.floor(pts)):
            x, y = np.round(p).astype(int)
            if 2 <= x < 62 and 2 <= y < 62:
                assert out[y, x, 0] > 100, (p, out[y - 2:y + 3, x - 2:x + 3, 0])


def test_pad_value_fills_outside():
    image = np.zeros((20, 20, 3), np.uint8)
    out = warp(image, crop_matrix(np.array([0.0, 0.0]), 20.0, 16), 16)
    assert (out[0, 0] == 128).all() and (out[-1, -1] == 0).all()


def test_augment_ranges():
    rng = np.random.default_rng(0)
    draws = [Augment().sample(rng, 112) for _ in range(400)]
    angles = np.degrees([d[0] for d in draws])
    shifts = np.array([d[1] for d in draws])
    scales = np.array([d[2] for d in draws])
    assert angles.min() >= -30 and angles.max() <= 30 and np.ptp(angles) > 50
    assert np.abs(shifts).max() <= 15.0 + 1e-9  # 30 px at 224 is 15 px at 112
    assert scales.min() >= 0.8 and scales.max() <= 1.5


def test_left_hand_crop_is_the_mirror_of_the_right_one(make_hand):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    kp = make_hand(center=(80, 70), spread=12)
    right = make_crop(record(kp), 48, image=image)
    left = make_crop(record(kp, is_left=True), 48, image=image)
    assert np.array_equal(left.image, right.image[:, ::-1])
    np.testing.assert_allclose(left.keypoints[:, 0], 47 - right.keypoints[:, 0], atol=1e-4)
    np.testing.assert_allclose(left.keypoints[:, 1], right.keypoints[:, 1], atol=1e-4)


def test_head_size_is_scaled_into_the_crop(make_hand):
    kp = make_hand()
    crop = make_crop(record(kp, head=50.0, center=(100, 80)), 60,
                     image=np.zeros((200, 200, 3), np.uint8))
    assert crop.head_size == pytest.approx(50.0 * 60 / 60.0)  # side 1.2 * 50 = 60 -> 60 px
