"""One skeleton drawing: the same colours in RGB overlays and BGR contact-sheet tiles."""

from __future__ import annotations

import numpy as np

from handlite.draw import FINGER_COLORS, draw_skeleton
from handlite.keypoints import BONES


def _points():
    rng = np.random.default_rng(0)
    return rng.uniform(20, 180, (21, 2))


def test_rgb_and_bgr_draw_the_same_picture():
    image = np.zeros((200, 200, 3), np.uint8)
    rgb = draw_skeleton(image, _points(), BONES)
    bgr = draw_skeleton(image, _points(), BONES, channel_order="BGR")
    assert image.sum() == 0  # a copy unless in_place
    assert np.array_equal(rgb, bgr[..., ::-1])


def test_sheet_tiles_use_the_shared_drawing():
    from handlite.data.sheet import draw_skeleton as sheet_draw

    tile = np.zeros((224, 224, 3), np.uint8)
    kp = _points() / 2
    visible = np.ones(21, np.uint8)
    out = sheet_draw(tile, kp, visible, 2.0)
    assert out is tile and tile.any()  # in place
    expected = draw_skeleton(np.zeros_like(tile), (kp + 0.5) * 2.0 - 0.5, visible=visible,
                             channel_order="BGR")
    assert np.array_equal(tile, expected)
    thumb_tip = (kp[4] + 0.5) * 2.0 - 0.5
    x, y = (int(round(v)) for v in thumb_tip)
    assert tuple(tile[y, x]) == FINGER_COLORS["thumb"][::-1]
