"""Writers for tiny data sets in each on-disk format the loaders read."""

import json
import pickle

import cv2
import numpy as np
import pytest

from handlite.keypoints import RHD_TO_OPENPOSE


def hand_points(center=(100.0, 80.0), spread=20.0, seed=0):
    """(21, 2) plausible keypoints: a wrist and five rays of four joints."""
    rng = np.random.default_rng(seed)
    pts = [np.array(center)]
    for f in range(5):
        ang = np.deg2rad(-60 + 30 * f)
        for j in range(1, 5):
            pts.append(np.array(center) + spread * j / 2 * np.array([np.sin(ang), -np.cos(ang)])
                       + rng.normal(0, 0.5, 2))
    return np.array(pts, np.float32)


def write_cmu(folder, name, keypoints, visible=None, is_left=0, head_size=None,
              image_size=(160, 200), center=None):
    """X.jpg + X.json in the CMU hand_labels layout; returns the json path."""
    folder.mkdir(parents=True, exist_ok=True)
    vis = np.ones(21) if visible is None else visible
    img = np.full((image_size[0], image_size[1], 3), 90, np.uint8)
    cv2.imwrite(str(folder / f"{name}.jpg"), img)
    doc = {"hand_pts": [[float(x), float(y), int(v)] for (x, y), v in zip(keypoints, vis)],
           "is_left": is_left}
    if center is not None:
        doc["hand_box_center"] = list(map(float, center))
    if head_size is not None:
        doc["head_size"] = head_size
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def write_rhd(root, hands):
    """RHD split folder: anno_evaluation.pickle + color/%05d.png. `hands` is a list of
    (left (21, 3) u,v,vis in OpenPose order, right (21, 3)); stored in RHD order."""
    (root / "color").mkdir(parents=True, exist_ok=True)
    anno = {}
    order = list(RHD_TO_OPENPOSE)
    for i, (left, right) in enumerate(hands):
        uv = np.concatenate([np.asarray(left)[order], np.asarray(right)[order]])
        anno[i] = {"uv_vis": uv, "xyz": np.zeros((42, 3)), "K": np.eye(3)}
        cv2.imwrite(str(root / "color" / f"{i:05d}.png"), np.full((320, 320, 3), 60, np.uint8))
    with open(root / "anno_evaluation.pickle", "wb") as fh:
        pickle.dump(anno, fh)
    return root


@pytest.fixture
def make_hand():
    return hand_points


@pytest.fixture
def cmu_writer():
    return write_cmu


@pytest.fixture
def rhd_writer():
    return write_rhd
