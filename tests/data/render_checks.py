"""Render checks that hold an OpenGL context, run by tests/data/test_render.py each in a fresh
interpreter: Mesa's llvmpipe and TensorFlow cannot share a process (see
`handlite.data.render.write_dataset`), and the test suite imports TensorFlow.
Each function asserts; `python tests/data/render_checks.py NAME` runs one."""

import sys

import cv2
import numpy as np

from handlite.data import hand_mesh


def _flat_pose():
    """The mesh's own rest skeleton in the hand frame: a flat hand, fingers together."""
    m = hand_mesh.load("right")
    origin, frame, palm = hand_mesh.hand_frame(m)
    return (m.rest_joints[m.keypoint_joints] - origin) @ frame.T / palm


def keypoints_lie_on_the_rendered_hand():
    from handlite.data.render import sample

    on, total = 0, 0
    for i in range(10):
        s = sample(3, i, size=256)
        mask = cv2.dilate(s.mask, np.ones((5, 5), np.uint8))  # tips sit on the surface
        xi = np.round(s.keypoints).astype(int)
        inside = ((xi >= 0) & (xi < 256)).all(axis=1)
        on += int((mask[xi[inside, 1], xi[inside, 0]] > 0).sum())
        total += int(inside.sum())
        assert not s.visible[~inside].any()  # outside the image is never visible
    assert total > 150 and on / total > 0.97


def self_occlusion_comes_from_the_depth_buffer():
    """A flat hand seen from its thumb side: the index finger hides the fingers behind it, not
    itself."""
    from handlite.data.render import _renderer

    edge_on = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # radial -> viewer
    index, behind = [5, 6, 7, 8], [13, 14, 17, 18]  # ring and pinky MCP + PIP
    for seed in range(3):  # camera distance, hand proportions and light vary with the seed
        s = _renderer(256).render(np.random.default_rng(seed), pose=_flat_pose(),
                                  rotation=edge_on)
        assert not s.occluded[index].any()
        assert s.occluded[behind].all()
        facing = _renderer(256).render(np.random.default_rng(seed), pose=_flat_pose(),
                                       rotation=np.eye(3))  # palm to the camera: none hidden
        assert not facing.occluded.any()


def left_hands_are_the_mirror_image_and_labelled_so():
    from handlite.data.render import _renderer

    r = _renderer(256)
    right = r.render(np.random.default_rng(5), rotation=np.eye(3), pose=_flat_pose(),
                     is_left=False)
    left = r.render(np.random.default_rng(5), rotation=np.eye(3), pose=_flat_pose(),
                    is_left=True)
    assert not right.is_left and left.is_left
    assert np.array_equal(left.mask, right.mask[:, ::-1])
    np.testing.assert_allclose(left.keypoints[:, 0], 255 - right.keypoints[:, 0], atol=1e-4)
    # palm to the viewer: a right hand's thumb side is on the image right, a left hand's left
    assert right.keypoints[5, 0] > right.keypoints[17, 0]
    assert left.keypoints[5, 0] < left.keypoints[17, 0]


def projection_matches_the_rasteriser_at_pixel_centres():
    """The mesh's vertices, skinned in numpy and projected like the keypoints, land on the
    rendered mask best without any half-pixel shift (pixel-centre convention)."""
    from handlite.data import render

    r = render._renderer(256)
    seen = {}
    draw = r._draw

    def spy(rng, geometry, focal, dist, env):
        seen["geometry"], seen["focal"] = geometry, focal
        return draw(rng, geometry, focal, dist, env)

    r._draw = spy  # this process ends after the check
    shifts = [(dx, dy) for dx in (-0.5, 0.0, 0.5) for dy in (-0.5, 0.0, 0.5)]
    hits = {d: [] for d in shifts}
    for i in range(12):
        s = r.render(np.random.default_rng([3, i]), is_left=False)
        skin_m, hand_model = seen["geometry"][:2]
        v, _ = hand_mesh.skin_vertices(r.mesh, skin_m)
        p = render._project((np.c_[v, np.ones(len(v))] @ hand_model.T)[:, :3], seen["focal"],
                            256)
        for d in shifts:
            q = p + d
            q = np.round(q[((q >= 0) & (q <= 255)).all(axis=1)]).astype(int)
            hits[d].append((s.mask[q[:, 1], q[:, 0]] > 0).mean())
    score = {d: float(np.mean(h)) for d, h in hits.items()}
    assert max(score, key=score.get) == (0.0, 0.0), score
    assert score[(0.0, 0.0)] > 0.85



def check_gl() -> None:
    from handlite.data import render

    render._renderer(128)


if __name__ == "__main__":
    globals()[sys.argv[1]]()
