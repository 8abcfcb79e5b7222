"""The 21-keypoint hand schema (OpenPose/CMU order = FreiHAND = MediaPipe).

0 wrist; 1-4 thumb (CMC, MCP, IP, tip); 5-8 index, 9-12 middle, 13-16 ring, 17-20 pinky
(MCP, PIP, DIP, tip). Coordinates are (x, y) in pixels of the image they refer to, with the
pixel-centre convention: pixel (i, j) covers [i - 0.5, i + 0.5] and its centre is at i.
"""

from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 21

KEYPOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)

#: Finger -> keypoint indices from the palm outwards.
FINGERS: dict[str, tuple[int, ...]] = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}

#: The 20 bones (parent, child): each finger chain hangs off the wrist.
BONES: tuple[tuple[int, int], ...] = tuple(
    pair
    for chain in FINGERS.values()
    for pair in zip((0,) + chain[:-1], chain)
)

#: Parent of each keypoint in the kinematic tree (-1 for the wrist).
PARENTS: tuple[int, ...] = tuple([-1] + [parent for parent, _ in sorted(BONES, key=lambda b: b[1])])

#: Keypoint index -> finger name ("palm" for the wrist).
FINGER_OF: tuple[str, ...] = tuple(
    ["palm"] + [name for k in range(1, NUM_KEYPOINTS) for name, idx in FINGERS.items() if k in idx]
)

TIPS: tuple[int, ...] = (4, 8, 12, 16, 20)

#: RHD stores 42 points (0-20 left hand, 21-41 right), each finger tip -> MCP. This maps one
#: RHD hand block to OpenPose order; it is its own inverse.
RHD_TO_OPENPOSE: tuple[int, ...] = (0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13,
                                    20, 19, 18, 17)


def adjacency() -> np.ndarray:
    """(K, K) bool: True where two keypoints share a bone."""
    adj = np.zeros((NUM_KEYPOINTS, NUM_KEYPOINTS), dtype=bool)
    for a, b in BONES:
        adj[a, b] = adj[b, a] = True
    return adj


def rhd_to_openpose(points: np.ndarray) -> np.ndarray:
    """Reorder one RHD hand, (21, ...) in RHD order, to OpenPose order."""
    points = np.asarray(points)
    if points.shape[0] != NUM_KEYPOINTS:
        raise ValueError(f"expected 21 points in RHD order, got shape {points.shape}")
    return points[list(RHD_TO_OPENPOSE)]


def rhd_hand(points42: np.ndarray, side: str) -> np.ndarray:
    """One hand ('left' = RHD 0-20, 'right' = 21-41) of an RHD (42, ...) array, in OpenPose order."""
    points42 = np.asarray(points42)
    if points42.shape[0] != 2 * NUM_KEYPOINTS:
        raise ValueError(f"expected 42 RHD points, got shape {points42.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    start = 0 if side == "left" else NUM_KEYPOINTS
    return rhd_to_openpose(points42[start:start + NUM_KEYPOINTS])


def mirror_keypoints(keypoints: np.ndarray, width: float) -> np.ndarray:
    """Mirror (..., 2) keypoints horizontally inside an image `width` pixels wide.

    With the pixel-centre convention the mirror of x is (width - 1) - x, so mirroring twice is
    the identity and matches `image[:, ::-1]`. The keypoint order stays the same: a mirrored
    left hand is a right hand with the same joint names.
    """
    mirrored = np.array(keypoints, dtype=np.float64 if np.asarray(keypoints).dtype == np.float64
                        else np.float32, copy=True)
    mirrored[..., 0] = (width - 1) - mirrored[..., 0]
    return mirrored
