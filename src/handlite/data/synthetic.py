"""Procedural right hands: a 3D kinematic skeleton drawn with OpenCV, for training and tests.

No hand data set can be downloaded where handlite is built, so it draws its own. One sample:

    image      (S, S, 3) uint8 RGB
    keypoints  (21, 2) float32, image pixels (pixel-centre convention), OpenPose order
    visible    (21,) uint8: 1 inside the image and not hidden by a foreign occluder
    occluded   (21,) uint8: 1 where the hand's own parts cover the joint (still labelled)
    parts      (S, S) uint8: which hand part each pixel shows (0 = not the hand)

The hand is a right hand in its own frame (x radial = towards the thumb, y distal = towards the
fingers, z palmar = out of the palm; a right-handed frame, so a proper rotation keeps it a right
hand). Joints: wrist; thumb CMC, MCP, IP, tip; four fingers MCP, PIP, DIP, tip. Angles are drawn
within anatomical ranges (flexion, abduction), mostly through one shared "grip" so poses look
like poses, not noise. A random 3D rotation, weak perspective, scale and position place it in
the image. Parts are tapered capsules and a palm polygon, shaded by their depth and a light
direction, drawn far-to-near relative to the palm plane (self-occlusion by drawing order).
Around it: gradient / noise / stripe / checker backgrounds, clutter, skin-coloured distractors,
occluders, then lighting, blur, sensor noise and JPEG artefacts.

Deterministic: sample i of seed s is `render(np.random.default_rng([s, i]))`, independent of
how many samples are drawn or in which order, so a data set can be generated in parts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handlite.errors import UsageError
from handlite.io import atomic_write_bytes
from handlite.keypoints import FINGERS, NUM_KEYPOINTS, mirror_keypoints

#: Default canvas side. Hands come out 70-150 px tall: a 2.2x crop is then ~1:1 at 224.
DEFAULT_SIZE = 256

_SHIFT = 4  # sub-pixel drawing: coordinates are fixed-point with 4 fractional bits
_ONE = 1 << _SHIFT

# ---------------------------------------------------------------- the skeleton (palm length 1)
# MCP joints in the hand frame (x radial, y distal, z palmar) and phalanx lengths
# (proximal, middle, distal), from average adult proportions.
_MCP = {
    "index": (0.34, 0.95, 0.0),
    "middle": (0.11, 1.00, 0.0),
    "ring": (-0.11, 0.95, 0.0),
    "pinky": (-0.31, 0.85, 0.0),
}
_PHALANX = {
    "index": (0.43, 0.25, 0.19),
    "middle": (0.46, 0.28, 0.20),
    "ring": (0.43, 0.27, 0.19),
    "pinky": (0.34, 0.20, 0.17),
}
_RADIUS = {  # capsule radius at the proximal joint; tapers towards the tip
    "index": 0.105, "middle": 0.11, "ring": 0.10, "pinky": 0.085, "thumb": 0.125,
}
_THUMB_CMC = np.array([0.25, 0.20, 0.05])
_THUMB_LEN = (0.42, 0.32, 0.27)  # metacarpal, proximal, distal
_WRIST_HALF_WIDTH = 0.30

# Skin tones (RGB), from very light to very dark.
_SKIN = np.array([
    (255, 224, 196), (241, 194, 167), (234, 192, 134), (224, 172, 105), (205, 150, 120),
    (198, 134, 66), (170, 110, 80), (141, 85, 36), (110, 70, 50), (86, 52, 37), (60, 40, 30),
], dtype=np.float64)


@dataclass(frozen=True)
class SynthSample:
    image: np.ndarray      # (S, S, 3) uint8 RGB
    keypoints: np.ndarray  # (21, 2) float32 px
    visible: np.ndarray    # (21,) uint8
    occluded: np.ndarray   # (21,) uint8
    parts: np.ndarray      # (S, S) uint8 part ids: 0 none, 1 palm, 2 forearm, 10f + b bones


# ---------------------------------------------------------------- geometry
def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation about a unit axis (Rodrigues)."""
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def _finger_chain(base: np.ndarray, direction: np.ndarray, bend_axis: np.ndarray,
                  lengths, flexions) -> list[np.ndarray]:
    """Joint positions along a chain: each joint flexes the rest of the chain about bend_axis."""
    points = [base]
    d = direction / np.linalg.norm(direction)
    for length, flex in zip(lengths, flexions):
        d = _rot(bend_axis, flex) @ d
        points.append(points[-1] + length * d)
    return points


def sample_pose(rng: np.random.Generator) -> np.ndarray:
    """(21, 3) joints of a right hand in its own frame (palm length 1)."""
    rad = np.deg2rad
    joints = np.zeros((NUM_KEYPOINTS, 3))
    style = rng.random()
    grip = rng.beta(0.8, 1.2) if style < 0.75 else rng.random()
    independent = style >= 0.75  # fingers posed independently (pointing, counting, ...)
    spread = rng.uniform(-0.3, 1.0)  # fan of the fingers: closed to wide open
    for i, name in enumerate(("index", "middle", "ring", "pinky")):
        curl = rng.random() if independent and rng.random() < 0.6 else grip
        curl = float(np.clip(curl + rng.normal(0, 0.08), 0, 1))
        mcp = np.array(_MCP[name])
        # fingers fan out from the palm; abduction about the palm normal
        fan = (-0.12 + 0.09 * i) * -1.0  # index leans radially, pinky ulnarly
        abduct = rad(rng.uniform(-4, 4)) + spread * rad((1.5 - i) * 7.0) * (1 - curl)
        direction = _rot(np.array([0.0, 0.0, 1.0]), -(fan + abduct)) @ np.array([0.0, 1.0, 0.0])
        # flexion bends the finger towards the palm (+z): rotate y towards z about the
        # finger's own radial axis
        bend_axis = np.cross(direction, np.array([0.0, 0.0, 1.0]))
        bend_axis /= np.linalg.norm(bend_axis)
        f_mcp = rad(-20 + 110 * curl + rng.normal(0, 6))
        f_pip = rad(100 * curl + rng.normal(0, 6)) if curl > 0.05 else rad(rng.uniform(0, 10))
        f_dip = rad(0.65 * np.degrees(f_pip) + rng.normal(0, 5))
        f_mcp = float(np.clip(f_mcp, rad(-25), rad(95)))
        f_pip = float(np.clip(f_pip, 0, rad(115)))
        f_dip = float(np.clip(f_dip, rad(-5), rad(85)))
        # rotating about (direction x palm normal) turns the finger towards the palm
        chain = _finger_chain(mcp, direction, bend_axis, _PHALANX[name],
                              (f_mcp, f_pip, f_dip))
        for k, p in zip(FINGERS[name], chain):
            joints[k] = p
    # thumb: metacarpal leaves the CMC radially-distally and palmar; opposition swings it
    # across the palm.
    t_curl = float(np.clip((rng.random() if independent else grip) + rng.normal(0, 0.1), 0, 1))
    abduct = rng.uniform(0, 1)
    base_dir = np.array([0.75, 0.62, 0.25])
    base_dir = _rot(np.array([0.0, 1.0, 0.0]), -rad(-10 + 50 * t_curl)) @ base_dir  # palmar
    base_dir = _rot(np.array([0.0, 0.0, 1.0]), rad(-25 * abduct + 30 * t_curl)) @ base_dir
    bend_axis = np.cross(base_dir, np.array([-0.3, 0.0, 1.0]))
    bend_axis /= np.linalg.norm(bend_axis)
    flex = (rad(rng.uniform(-5, 15)), rad(10 + 45 * t_curl + rng.normal(0, 6)),
            rad(-10 + 70 * t_curl + rng.normal(0, 8)))
    chain = _finger_chain(_THUMB_CMC, base_dir, bend_axis, _THUMB_LEN, flex)
    joints[1:5] = np.array(chain)  # CMC, MCP, IP, tip
    return joints


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Hand frame -> camera frame (x right, y up, z towards the viewer)."""
    roll = rng.uniform(-math.pi, math.pi)
    pitch = rng.normal(0, 0.45)
    yaw = rng.normal(0, 0.5) + (math.pi if rng.random() < 0.5 else 0.0)  # palm or back
    ex, ey, ez = np.eye(3)
    return _rot(ez, roll) @ _rot(ey, yaw) @ _rot(ex, pitch)


# ---------------------------------------------------------------- drawing helpers
def _fx(p) -> tuple[int, int]:
    return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))


def _capsule(img, p0, p1, r0, r1, color, label=None, label_id=0):
    """A tapered capsule (two discs joined by their tangent quad), anti-aliased."""
    color = tuple(float(c) for c in color)
    d = np.asarray(p1, float) - np.asarray(p0, float)
    length = float(np.hypot(*d))
    targets = [(img, color, cv2.LINE_AA)]
    if label is not None:
        targets.append((label, (label_id,), cv2.LINE_8))
    for canvas, col, line in targets:
        cv2.circle(canvas, _fx(p0), int(r0 * _ONE), col, -1, line, _SHIFT)
        cv2.circle(canvas, _fx(p1), int(r1 * _ONE), col, -1, line, _SHIFT)
        if length > 1e-3:
            n = np.array([-d[1], d[0]]) / length
            quad = np.array([p0 + n * r0, p1 + n * r1, p1 - n * r1, p0 - n * r0])
            cv2.fillConvexPoly(canvas, (quad * _ONE).round().astype(np.int32), col, line, _SHIFT)


def _shade(color, factor):
    return np.clip(np.asarray(color, float) * factor, 0, 255)


def _smooth_noise(rng, size, cells, channels=3):
    low = rng.random((cells, cells, channels)).astype(np.float32)
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    kind = rng.integers(0, 5)
    if kind == 0:  # two-colour gradient
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = np.linspace(0, 1, size)
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.meshgrid(t, t, indexing="ij")
        w = np.clip(0.5 + (xx - 0.5) * math.cos(ang) + (yy - 0.5) * math.sin(ang), 0, 1)
        img = a * (1 - w[..., None]) + b * w[..., None]
    elif kind == 1:  # multi-octave noise
        img = sum(_smooth_noise(rng, size, c) * wgt for c, wgt in ((3, 0.5), (9, 0.3), (33, 0.2)))
        img = img * rng.uniform(120, 300) + rng.uniform(-40, 60, 3)
    elif kind == 2:  # stripes
        period = rng.uniform(6, 40)
        ang = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        s = 0.5 + 0.5 * np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * 2 * math.pi / period)
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        img = a * s[..., None] + b * (1 - s[..., None])
    elif kind == 3:  # checker / tiles
        cell = int(rng.integers(8, 48))
        yy, xx = np.mgrid[0:size, 0:size]
        s = ((xx // cell + yy // cell) % 2).astype(np.float32)
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        img = a * s[..., None] + b * (1 - s[..., None])
    else:  # flat wall with mild texture
        img = np.ones((size, size, 3)) * rng.uniform(20, 235, 3)
        img = img + (_smooth_noise(rng, size, 17) - 0.5) * rng.uniform(10, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


def _random_color(rng, skin_like=False):
    if skin_like:
        return np.clip(_SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.8, 1.15), 0, 255)
    return rng.uniform(0, 255, 3)


def _clutter(rng, img, n, skin_fraction=0.15):
    s = img.shape[0]
    for _ in range(n):
        col = tuple(float(c) for c in _random_color(rng, rng.random() < skin_fraction))
        kind = rng.integers(0, 4)
        c = rng.uniform(-0.1 * s, 1.1 * s, 2)
        if kind == 0:
            axes = rng.uniform(3, s * 0.2, 2)
            cv2.ellipse(img, _fx(c), (int(axes[0] * _ONE), int(axes[1] * _ONE)),
                        float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA, _SHIFT)
        elif kind == 1:
            pts = c + rng.uniform(-s * 0.2, s * 0.2, (int(rng.integers(3, 6)), 2))
            hull = cv2.convexHull((pts * _ONE).astype(np.int32))
            cv2.fillConvexPoly(img, hull, col, cv2.LINE_AA, _SHIFT)
        elif kind == 2:
            p1 = c + rng.uniform(-s * 0.4, s * 0.4, 2)
            cv2.line(img, _fx(c), _fx(p1), col, int(rng.integers(1, 8)), cv2.LINE_AA, _SHIFT)
        else:  # finger-like skin capsule: a hard negative
            p1 = c + rng.uniform(-s * 0.15, s * 0.15, 2)
            r = rng.uniform(3, 10)
            _capsule(img, c, p1, r, r * 0.8, _random_color(rng, True))


# ---------------------------------------------------------------- the hand
def _draw_hand(rng, img, label, cam, p2, palm_n, hand_scale, skin):
    """Draw the hand and a forearm. cam (21, 3): joints in the camera frame (x right, y up,
    z towards the viewer, px); p2 (21, 2): their image positions; palm_n: the palmar normal in
    the camera frame. `label` receives part ids: 1 palm, 2 forearm, 10 * (finger + 1) + bone."""
    palm_faces_viewer = palm_n[2] > 0
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.3, 1.5)])
    light /= np.linalg.norm(light)
    palm_light = 0.6 + 0.4 * abs(float(palm_n @ light))
    z_span = np.ptp(cam[:, 2]) + 1e-6

    def depth_shade(z):  # nearer parts a little brighter: separates overlapping fingers
        return 0.88 + 0.14 * (z - cam[:, 2].min()) / z_span

    # forearm: from the wrist away from the fingers, off the canvas
    middle_dir = p2[9] - p2[0]
    arm_dir = -middle_dir / (np.linalg.norm(middle_dir) + 1e-9)
    arm_dir = cv2.Rodrigues(np.array([0.0, 0.0, rng.normal(0, 0.25)]))[0][:2, :2] @ arm_dir
    arm_end = p2[0] + arm_dir * img.shape[0] * 1.5
    wrist_r = _WRIST_HALF_WIDTH * hand_scale * rng.uniform(0.9, 1.1)
    sleeve = rng.random() < 0.4
    arm_col = _random_color(rng) if sleeve else _shade(skin, 0.93 * palm_light)
    sleeve_start = p2[0] + arm_dir * wrist_r * (rng.uniform(0.8, 3) if sleeve else 0)
    _capsule(img, p2[0] + arm_dir * wrist_r * 0.3, arm_end, wrist_r, wrist_r * 1.35,
             _shade(skin, 0.93 * palm_light), label, 2)
    if sleeve:
        _capsule(img, sleeve_start, arm_end, wrist_r * 1.25, wrist_r * 1.6, arm_col, label, 2)

    # parts: (depth key, side of the palm plane, drawer)
    parts = []
    palm_origin = cam[0]
    for f_index, (name, chain) in enumerate(FINGERS.items()):
        ids = (0,) + chain if name != "thumb" else chain
        r_base = _RADIUS[name] * hand_scale
        n_bones = len(ids) - 1
        for b in range(n_bones):
            a_k, b_k = ids[b], ids[b + 1]
            mid = 0.5 * (cam[a_k] + cam[b_k])
            side = float((mid - palm_origin) @ palm_n)  # >0 on the palmar side
            # thumb metacarpal is the thenar bulge: fatter, part of the palm mass
            r0 = r_base * (1.0 - 0.09 * b) * (1.35 if name == "thumb" and b == 0 else 1.0)
            r1 = r_base * (1.0 - 0.09 * (b + 1)) * (0.92 if b == n_bones - 1 else 1.0)
            if name != "thumb" and b == 0:
                continue  # wrist -> MCP is inside the palm polygon
            parts.append((mid[2], side, (f_index, b, a_k, b_k, r0, r1)))
    tol = 0.15 * hand_scale
    behind = [p for p in parts if (p[1] < -tol) == bool(palm_faces_viewer)]
    front = [p for p in parts if (p[1] < -tol) != bool(palm_faces_viewer)]
    behind.sort(key=lambda p: p[0])
    front.sort(key=lambda p: p[0])

    def draw_bone(spec, z):
        f_index, b, a_k, b_k, r0, r1 = spec
        bone = cam[b_k] - cam[a_k]
        facing = abs(bone[2]) / (np.linalg.norm(bone) + 1e-9)
        base = _shade(skin, depth_shade(z) * (0.75 + 0.25 * (1 - facing)) * palm_light)
        p0, p1 = p2[a_k], p2[b_k]
        _capsule(img, p0, p1, r0, r1, _shade(base, 0.72), label, 10 * (f_index + 1) + b)
        _capsule(img, p0, p1, r0 * 0.86, r1 * 0.86, base)
        # a highlight along the lit side of the cylinder
        d = p1 - p0
        nrm = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
        if nrm @ light[:2] < 0:
            nrm = -nrm
        off = nrm * 0.35 * r0
        _capsule(img, p0 + off, p1 + off, r0 * 0.3, r1 * 0.3, _shade(base, 1.12))
        if b == 3 or (f_index == 0 and b == 2):
            # fingernail on the dorsal side when the back of the hand faces the viewer
            if not palm_faces_viewer and np.linalg.norm(d) > 2:
                tip = p1 - d * 0.25
                ax = (int(max(r1 * 0.6, 1) * _ONE), int(max(r1 * 0.45, 1) * _ONE))
                ang = math.degrees(math.atan2(d[1], d[0]))
                nail = tuple(float(c) for c in _shade(_shade(skin, 1.0) * 0.6 + 100, 1.0))
                cv2.ellipse(img, _fx(tip), ax, ang, 0, 360, nail, -1, cv2.LINE_AA, _SHIFT)
        else:
            # joint crease
            crease = tuple(float(c) for c in _shade(base, 0.75))
            c = p1
            cv2.line(img, _fx(c - nrm * r1 * 0.7), _fx(c + nrm * r1 * 0.7), crease, 1,
                     cv2.LINE_AA, _SHIFT)

    for z, _, spec in behind:
        draw_bone(spec, z)
    # palm: wrist corners, thumb CMC, MCP knuckles, rounded by discs at the knuckles
    wrist_dir = (p2[5] - p2[17])
    wrist_dir = wrist_dir / (np.linalg.norm(wrist_dir) + 1e-9)
    w_r = _WRIST_HALF_WIDTH * hand_scale
    outline = np.array([p2[0] + wrist_dir * w_r, p2[1], p2[2] * 0.4 + p2[5] * 0.6, p2[5], p2[9],
                        p2[13], p2[17], p2[0] - wrist_dir * w_r])
    palm_col = _shade(skin, palm_light * depth_shade(cam[[0, 5, 9, 13, 17], 2].mean()))
    hull = cv2.convexHull((outline * _ONE).round().astype(np.int32))
    for canvas, col, line in ((img, _shade(palm_col, 0.75), cv2.LINE_AA),
                              (label, (1,), cv2.LINE_8)):
        cv2.fillConvexPoly(canvas, hull, tuple(float(c) for c in col), line, _SHIFT)
    inner = outline.mean(axis=0) + (outline - outline.mean(axis=0)) * 0.93
    cv2.fillConvexPoly(img, cv2.convexHull((inner * _ONE).round().astype(np.int32)),
                       tuple(float(c) for c in palm_col), cv2.LINE_AA, _SHIFT)
    for k in (5, 9, 13, 17):
        _capsule(img, p2[k], p2[k], _RADIUS["middle"] * hand_scale * 0.9,
                 _RADIUS["middle"] * hand_scale * 0.9, palm_col, label, 1)
    if palm_faces_viewer:  # palm creases
        line_col = tuple(float(c) for c in _shade(palm_col, 0.8))
        for a, b, t in ((5, 17, 0.3), (2, 17, 0.55)):
            q0 = p2[a] * (1 - t) + p2[0] * t
            q1 = p2[b] * (1 - t) + p2[0] * t
            cv2.line(img, _fx(q0), _fx(q1), line_col, 1, cv2.LINE_AA, _SHIFT)
    for z, _, spec in front:
        draw_bone(spec, z)


def _occlusion_flags(label: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """1 where a keypoint's pixel shows a hand part that is not one of its own bones."""
    size = label.shape[0]
    own: dict[int, set[int]] = {0: {1, 2, 10}}
    for f_index, chain in enumerate(FINGERS.values()):
        for j, k in enumerate(chain):
            own[k] = {10 * (f_index + 1) + j - 1, 10 * (f_index + 1) + j, 1}
    flags = np.zeros(NUM_KEYPOINTS, np.uint8)
    for k, (x, y) in enumerate(keypoints):
        xi, yi = int(round(x)), int(round(y))
        if 0 <= xi < size and 0 <= yi < size:
            v = int(label[yi, xi])
            flags[k] = v >= 1 and v not in own[k]
    return flags


def render(rng: np.random.Generator, size: int = DEFAULT_SIZE) -> SynthSample:
    """Draw one right hand on a cluttered background; see the module docstring."""
    img = _background(rng, size)
    _clutter(rng, img, int(rng.integers(0, 25)))
    label = np.zeros((size, size), np.uint8)

    joints = sample_pose(rng)
    rot = _random_rotation(rng)
    # hand size: tight box of the hand ~70-150 px on a 256 canvas
    hand_scale = size * rng.uniform(0.2, 0.42)
    cam = (joints @ rot.T) * hand_scale  # (21, 3) camera frame, px
    # weak perspective: a little foreshortening of the parts nearer the camera
    focal = rng.uniform(3.0, 8.0) * hand_scale
    p2 = cam[:, :2] * (focal / (focal - cam[:, 2:3]))
    p2[:, 1] *= -1  # camera y up -> image y down
    target = rng.uniform(0.3, 0.7, 2) * size
    if rng.random() < 0.08:  # sometimes at the border, partly cut off
        target = rng.uniform(0.05, 0.95, 2) * size
    p2 += target - p2.mean(axis=0)

    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.85, 1.1) + rng.normal(0, 6, 3)
    _draw_hand(rng, img, label, cam, p2, rot @ np.array([0.0, 0.0, 1.0]), hand_scale, skin)
    keypoints = p2.astype(np.float32)
    occluded = _occlusion_flags(label, keypoints)

    # foreign occluders over the hand
    visible = ((keypoints >= -0.5) & (keypoints <= size - 0.5)).all(axis=1).astype(np.uint8)
    if rng.random() < 0.25:
        occ = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            c = keypoints[rng.integers(NUM_KEYPOINTS)] + rng.normal(0, hand_scale * 0.3, 2)
            col = tuple(float(v) for v in _random_color(rng))
            if rng.random() < 0.5:
                axes = rng.uniform(0.1, 0.35, 2) * hand_scale
                args = (_fx(c), (int(axes[0] * _ONE), int(axes[1] * _ONE)),
                        float(rng.uniform(0, 180)), 0, 360)
                cv2.ellipse(img, *args, col, -1, cv2.LINE_AA, _SHIFT)
                cv2.ellipse(occ, *args, (1,), -1, cv2.LINE_8, _SHIFT)
            else:
                p1 = c + rng.normal(0, hand_scale * 0.6, 2)
                t = int(rng.uniform(0.06, 0.2) * hand_scale)
                cv2.line(img, _fx(c), _fx(p1), col, max(t, 2), cv2.LINE_AA, _SHIFT)
                cv2.line(occ, _fx(c), _fx(p1), (1,), max(t, 2), cv2.LINE_8, _SHIFT)
        xi = np.clip(np.round(keypoints).astype(int), 0, size - 1)
        visible &= (occ[xi[:, 1], xi[:, 0]] == 0).astype(np.uint8)

    img = _photometric(rng, img)
    return SynthSample(img, keypoints, visible, occluded, label)


def _photometric(rng, img: np.ndarray) -> np.ndarray:
    """Lighting, colour cast, contrast, gamma, blur, sensor noise, JPEG; uint8 in and out."""
    size = img.shape[0]
    if rng.random() < 0.6:  # a smooth gain field: uneven light
        gain = 0.6 + 0.8 * _smooth_noise(rng, size, 3, 1)
        img = cv2.multiply(img.astype(np.float32), cv2.merge([gain] * 3))
        img = np.clip(img, 0, 255).astype(np.uint8)
    # cast, contrast, brightness and gamma folded into one per-channel lookup table
    levels = np.arange(256, dtype=np.float64)[:, None] * rng.uniform(0.85, 1.15, 3)
    levels = (levels - 128) * rng.uniform(0.7, 1.25) + 128 + rng.uniform(-30, 30)
    levels = 255 * (np.clip(levels, 0, 255) / 255) ** rng.uniform(0.7, 1.4)
    lut = np.clip(levels, 0, 255).astype(np.uint8).reshape(256, 1, 3)
    img = cv2.LUT(img, lut)
    r = rng.random()
    if r < 0.35:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.4))
    elif r < 0.45:  # motion blur
        k = int(rng.integers(3, 8))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    noise_std = rng.uniform(0, 8)
    if noise_std > 0.5:
        # cv2's RNG is global state: seed it from ours to stay deterministic
        cv2.setRNGSeed(int(rng.integers(2 ** 31)))
        noise = np.empty(img.shape, np.int16)
        cv2.randn(noise, 0, noise_std)
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return img


def sample(seed: int, index: int, size: int = DEFAULT_SIZE) -> SynthSample:
    """Sample `index` of data set `seed` (deterministic, order-independent)."""
    return render(np.random.default_rng([int(seed), int(index)]), size)


def generate(count: int, seed: int, size: int = DEFAULT_SIZE, left_fraction: float = 0.0):
    """Yield (image RGB uint8, keypoints (21, 2), visible (21,), is_left, occluded) tuples.

    A fraction of samples is mirrored into left hands (`is_left` 1), so the loaders' mirroring
    path sees real use; which ones is part of the deterministic sample.
    """
    _check_args(count, left_fraction)
    for i in range(count):
        yield _labelled_sample(seed, i, size, left_fraction)


def _check_args(count: int, left_fraction: float) -> None:
    if count < 0:
        raise UsageError(f"count must be >= 0, got {count}")
    if not 0 <= left_fraction <= 1:
        raise UsageError(f"left fraction must be within [0, 1], got {left_fraction}")


def _labelled_sample(seed: int, i: int, size: int, left_fraction: float):
    s = sample(seed, i, size)
    is_left = np.random.default_rng([int(seed), int(i), 1]).random() < left_fraction
    image, kp = s.image, s.keypoints
    if is_left:
        image = np.ascontiguousarray(image[:, ::-1])
        kp = mirror_keypoints(kp, size)
    return image, kp, s.visible, bool(is_left), s.occluded


def write_dataset(out: str | Path, count: int, seed: int, size: int = DEFAULT_SIZE,
                  left_fraction: float = 0.0, quality: int = 92, resume: bool = False,
                  progress=None) -> dict:
    """Write `count` samples as `out/synth_<seed>_<i>.jpg` + `.json` (CMU hand_labels layout).

    Each JSON: `hand_pts` 21 x [x, y, visible], `is_left` 0/1, `hand_box_center` [x, y],
    plus `occluded` (21 flags) and `generator` (seed, index, size). Files are written to a
    temporary name and renamed, so a killed run leaves no half-written sample.
    With `resume`, samples whose two files exist are kept (an interrupted run continues).
    Returns a summary dict (count, seed, size, out, skipped_existing).
    """
    _check_args(count, left_fraction)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    skipped = 0
    for i in range(count):
        stem = out / f"synth_{seed}_{i:06d}"
        if resume and stem.with_suffix(".jpg").is_file() and stem.with_suffix(".json").is_file():
            # files are renamed into place whole, so an existing pair is complete; samples are
            # deterministic per (seed, index), so it is the image this run would draw
            skipped += 1
            if progress is not None:
                progress(i + 1)
            continue
        image, kp, vis, is_left, occl = _labelled_sample(seed, i, size, left_fraction)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
            raise UsageError("JPEG encoding failed")
        inside = vis > 0
        centre = kp[inside].mean(axis=0) if inside.any() else kp.mean(axis=0)
        anno = {
            "hand_pts": [[float(x), float(y), int(v)] for (x, y), v in zip(kp, vis)],
            "is_left": int(is_left),
            "hand_box_center": [float(centre[0]), float(centre[1])],
            "occluded": [int(v) for v in occl],
            "generator": {"name": "handlite.synthetic", "seed": int(seed), "index": i,
                          "size": int(size)},
        }
        atomic_write_bytes(stem.with_suffix(".jpg"), buf.tobytes(), fsync=False)
        atomic_write_bytes(stem.with_suffix(".json"), json.dumps(anno).encode(), fsync=False)
        if progress is not None:
            progress(i + 1)
    return {"out": str(out), "count": int(count), "seed": int(seed), "size": int(size),
            "left_fraction": float(left_fraction), "skipped_existing": skipped}
