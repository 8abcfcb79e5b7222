"""Rendered hands: the rigged WebXR hand mesh, posed, lit and composited on real photographs.

One sample (`RenderSample`):

    image      (S, S, 3) uint8 RGB
    keypoints  (21, 2) float32 image px (pixel-centre convention), OpenPose order
    visible    (21,) uint8: 1 inside the image and not hidden by a foreign occluder
    occluded   (21,) uint8: 1 where the hand's own surface is in front of the joint (depth
               buffer), still labelled
    is_left    bool
    mask       (S, S) uint8: 255 where the hand or its forearm covers the pixel
    jpeg_quality  the camera's compression, applied when the sample is written

Pipeline per sample, all draws from `np.random.default_rng([seed, index])`:
pose (`synthetic.sample_pose`, anatomical limits) -> the mesh's phalanges swung onto it
(`hand_mesh.pose`), skinned with its inverse bind matrices in the vertex shader -> varied hand
proportions, a forearm (bare, in a sleeve, with a watch strap) bent at the wrist -> a random
3D orientation (palm, back, edge-on) -> a perspective camera 0.25-0.8 m away whose focal length
gives a 55-150 px tight keypoint box -> OpenGL on EGL (moderngl; Mesa's llvmpipe on a CPU):
wrapped Lambert + Blinn specular from a key and a fill light of random direction and colour
temperature, the key light's shadows (a depth map), hemispheric ambient tinted by the scene, a
skin tone from very light to very dark with lighter palms, blotches, pores, creases and nails
-> left hands are the mirror image -> composited over a random crop of a real photograph (or a
procedural background), with skin-coloured distractors, a cast shadow and foreign occluders ->
the camera: uneven light, white balance, blur, sensor noise, JPEG quality (`_camera`).
Self-occlusion comes from the depth buffer: a joint is occluded when the surface at its pixel
lies in front of it by more than the joint's own flesh (`_keypoint_radii`).

`write_dataset` writes the `data synth` layout (`render_<seed>_<i>.jpg` + `.json`, generator
name "handlite.render") with worker processes, one GL context each; the images do not depend
on the number of workers.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handlite.data import hand_mesh
from handlite.data.backgrounds import background, prepare
from handlite.data.synthetic import _SKIN, _clutter, _random_rotation, sample_pose
from handlite.errors import DataError, UsageError
from handlite.io import atomic_write_bytes
from handlite.keypoints import NUM_KEYPOINTS, mirror_keypoints

DEFAULT_SIZE = 256
GENERATOR = "handlite.render"
#: Tight keypoint box (larger side) of a rendered hand on the 256 canvas, px.
HAND_BOX_PX = (55.0, 150.0)


@dataclass(frozen=True)
class RenderSample:
    image: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    occluded: np.ndarray
    is_left: bool
    mask: np.ndarray
    jpeg_quality: int  # the camera's compression, applied when the sample is written


# ---------------------------------------------------------------- shaders
_NOISE = """
float hash(vec3 p) {
    p = fract(p * 0.3183099 + 0.1);
    p *= 17.0;
    return fract(p.x * p.y * p.z * (p.x + p.y + p.z));
}
float vnoise(vec3 x) {
    vec3 i = floor(x);
    vec3 f = fract(x);
    f = f * f * (3.0 - 2.0 * f);
    return mix(mix(mix(hash(i), hash(i + vec3(1, 0, 0)), f.x),
                   mix(hash(i + vec3(0, 1, 0)), hash(i + vec3(1, 1, 0)), f.x), f.y),
               mix(mix(hash(i + vec3(0, 0, 1)), hash(i + vec3(1, 0, 1)), f.x),
                   mix(hash(i + vec3(0, 1, 1)), hash(i + vec3(1, 1, 1)), f.x), f.y), f.z);
}
"""

_VERT = """
#version 330
uniform vec3 seed;        // texture offset
uniform mat4 proj;
uniform mat4 model;       // hand: mesh space -> camera; forearm: hand frame -> camera
uniform mat4 bones[25];   // skinning matrices G_posed @ IBM, mesh space
uniform int skinned;
uniform mat3 normal_m;    // inverse transpose of model's 3x3 (the hand frame scales unevenly)
in vec3 in_pos;
in vec3 in_nrm;
in vec3 in_tex;      // rest position in the hand frame (palm lengths): texture space
in vec4 in_attr;     // crease, nail, sleeve, palmar (0 back of the hand .. 1 palm)
in vec4 in_weights;
in ivec4 in_joints;
out vec3 v_pos;
out vec3 v_nrm;
out vec3 v_tex;
out vec4 v_attr;
out float v_blotch;  // low-frequency skin / cloth variation, smooth enough per vertex
out float v_lit;     // 1 lit by the key light, 0 in the hand's own shadow
uniform sampler2DShadow shadow_map;  // the key light's depth map of the hand and forearm
uniform mat4 light_m;     // camera space -> the key light's clip space
uniform vec3 key_dir;     // towards the key light, camera space
uniform float shadow_k;   // 0: no shadows (and no depth map drawn)
NOISE
void main() {
    v_blotch = vnoise((in_tex + seed) * 4.0) - 0.5;
    mat4 sk = mat4(1.0);
    if (skinned == 1) {  // linear-blend skinning
        sk = in_weights.x * bones[in_joints.x] + in_weights.y * bones[in_joints.y]
           + in_weights.z * bones[in_joints.z] + in_weights.w * bones[in_joints.w];
    }
    vec4 p = model * (sk * vec4(in_pos, 1.0));
    v_pos = p.xyz;
    v_nrm = normal_m * (mat3(sk) * in_nrm);  // normalised per fragment
    v_tex = in_tex;
    v_attr = in_attr;
    v_lit = 1.0;
    if (shadow_k > 0.0) {
        // per vertex: the mesh is dense enough for soft shadows, and a fragment lookup would
        // cost llvmpipe more than the rest of the shading
        vec3 sc = (light_m * p).xyz * 0.5 + 0.5;
        float facing = max(dot(normalize(v_nrm), key_dir), 0.0);
        if (all(greaterThan(sc, vec3(0.0))) && all(lessThan(sc, vec3(1.0))))
            v_lit = texture(shadow_map, vec3(sc.xy, sc.z - 0.006 - 0.012 * (1.0 - facing)));
    }
    gl_Position = proj * p;
}
"""

_FRAG = """
#version 330
uniform vec3 skin;        // linear RGB albedo, back of the hand
uniform vec3 palm_skin;   // linear RGB albedo, palm (lighter, most of all on dark skin)
uniform vec3 sleeve;      // linear RGB albedo of the sleeve
uniform float sleeve_kind; // 0 plain, 1 stripes, 2 knit
uniform vec4 band;        // a watch strap or bracelet: from, to (palm lengths up the forearm),
uniform vec3 band_col;    // on (> 0.5), shine
uniform vec3 key_dir;     // towards the light, camera space
uniform float shadow_k;   // how dark the key light's shadows are (0 none .. 1 hard)
uniform vec3 key_col;
uniform vec3 fill_dir;
uniform vec3 fill_col;
uniform vec3 sky_col;
uniform vec3 ground_col;
uniform float spec_k;
uniform float shininess;
uniform float wrap;
uniform vec3 seed;        // texture offset
uniform float blotch;
uniform float pores;
uniform float crease_k;
uniform float palm_lines;
in vec3 v_pos;
in vec3 v_nrm;
in vec3 v_tex;
in vec4 v_attr;
in float v_blotch;
in float v_lit;
layout(location = 0) out vec4 out_col;
layout(location = 1) out float out_depth;
NOISE
void main() {
    vec3 n = normalize(v_nrm);
    if (!gl_FrontFacing) n = -n;
    vec3 p = v_tex + seed;
    vec3 albedo;
    float spec_scale = 1.0;
    float up = -v_tex.y;  // forearm: distance from the wrist
    if (band.z > 0.5 && v_attr.z < 0.5 && up > band.x && up < band.y && v_attr.w < 0.01) {
        albedo = band_col * (1.0 + 0.15 * v_blotch);
        spec_scale = band.w;
    } else if (v_attr.z > 0.5) {
        float t = 0.0;
        if (sleeve_kind > 1.5) t = 0.12 * (vnoise(p * 60.0) - 0.5);
        else if (sleeve_kind > 0.5) t = 0.25 * step(0.5, fract(p.y * 4.0 + seed.x));
        albedo = sleeve * (1.0 - t) * (1.0 + 0.2 * v_blotch);
        spec_scale = 0.2;
    } else {
        float b = v_blotch;                            // blotches, a little redder
        float q = vnoise(p * 55.0) - 0.5;              // pores, fine
        float palmar = smoothstep(0.2, 0.8, v_attr.w);
        albedo = mix(skin, palm_skin, palmar) * (1.0 + blotch * b + pores * q);
        albedo.r *= 1.0 + 0.5 * blotch * b;
        albedo *= 1.0 - crease_k * v_attr.x;           // joint creases
        // palm lines in the rest hand frame (x radial, y distal, palm length 1): distal and
        // proximal transverse creases, and the thenar crease around the thumb's base
        vec2 h = v_tex.xy;
        float w = 0.018;
        float l1 = exp(-pow((h.y - 0.80 + 0.13 * (h.x + 0.45)) / w, 2.0))
                   * step(-0.55, h.x) * step(h.x, 0.15);
        float l2 = exp(-pow((h.y - 0.66 + 0.12 * h.x) / w, 2.0))
                   * step(-0.25, h.x) * step(h.x, 0.38);
        float l3 = exp(-pow((length(h - vec2(0.52, 0.08)) - 0.42) / w, 2.0))
                   * step(0.05, h.y) * step(h.y, 0.62);
        albedo *= 1.0 - palm_lines * palmar * max(max(l1, l2), l3);
        albedo = mix(albedo, vec3(0.75, 0.55, 0.52) * (0.5 + 0.5 * skin / max(skin.r, 0.01)),
                     0.55 * v_attr.y);                 // nails
        spec_scale = 1.0 + 2.0 * v_attr.y;
    }
    vec3 view = normalize(-v_pos);
    // wrapped diffuse, wider in red: light scattered under the skin reddens the terminator
    vec3 wr = v_attr.z > 0.5 ? vec3(wrap) : vec3(wrap + 0.2, wrap, wrap - 0.05);
    vec3 d1 = max((vec3(dot(n, key_dir)) + wr) / (1.0 + wr), 0.0);
    float lit = v_lit;
    d1 *= mix(1.0, lit, shadow_k);
    vec3 d2 = max((vec3(dot(n, fill_dir)) + wr) / (1.0 + wr), 0.0);
    vec3 hv = normalize(key_dir + view);
    float s = pow(max(dot(n, hv), 0.0), shininess) * spec_k * spec_scale
              * step(0.0, dot(n, key_dir)) * lit;
    vec3 amb = mix(ground_col, sky_col, 0.5 + 0.5 * n.y);
    vec3 lin = albedo * (key_col * d1 + fill_col * d2 + amb) + key_col * s;
    out_col = vec4(pow(clamp(lin, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
    out_depth = -v_pos.z;
}
"""


# ---------------------------------------------------------------- the renderer (one per process)
class HandRenderer:
    """Owns one headless GL context (EGL), the hand mesh and its per-vertex texture attributes."""

    def __init__(self, size: int = DEFAULT_SIZE):
        import moderngl

        self.size = size
        self.mesh = hand_mesh.load("right")
        # llvmpipe rasterises in the calling thread (read before the context exists): its own
        # rasteriser threads would each wait for a time slice on a busy machine (half the
        # speed with 2 workers on 2 cores); processes are the parallelism here
        os.environ.setdefault("LP_NUM_THREADS", "0")
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as exc:  # moderngl raises a bare Exception when EGL is missing
            raise DataError(f"no headless OpenGL (EGL) context: {exc}; install Debian's "
                            f"libegl1 libegl-mesa0 libgl1-mesa-dri") from None
        self.prog = self.ctx.program(vertex_shader=_VERT.replace("NOISE", _NOISE),
                                     fragment_shader=_FRAG.replace("NOISE", _NOISE))
        self.shadow_prog = self.ctx.program(vertex_shader=_VERT.replace("NOISE", _NOISE),
                                            fragment_shader=_DEPTH_ONLY)
        self.shadow_tex = self.ctx.depth_texture((_SHADOW_SIDE, _SHADOW_SIDE))
        self.shadow_tex.compare_func = "<="
        self.shadow_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.shadow_fbo = self.ctx.framebuffer(depth_attachment=self.shadow_tex)
        # no multisampling: on llvmpipe it doubles the cost of a sample; the silhouette is
        # softened when compositing instead
        self.fbo = self.ctx.framebuffer(
            [self.ctx.renderbuffer((size, size), 4),
             self.ctx.renderbuffer((size, size), 1, dtype="f4")],
            self.ctx.depth_renderbuffer((size, size)))
        m = self.mesh
        self.origin, self.frame, self.palm = hand_mesh.hand_frame(m)
        self.tex = (m.positions - self.origin) @ self.frame.T / self.palm
        self.attr = self._vertex_attributes()
        self.kp_radius = self._keypoint_radii()
        hand = np.concatenate([m.positions, m.normals, self.tex, self.attr, m.weights],
                              axis=1).astype("f4")
        hand_vbo = self.ctx.buffer(hand.tobytes())
        joints_vbo = self.ctx.buffer(m.joints.astype("i4").tobytes())
        hand_ibo = self.ctx.buffer(m.indices.astype("i4").tobytes())
        self.hand_vao = self.ctx.vertex_array(self.prog, [
            (hand_vbo, "3f 3f 3f 4f 4f", "in_pos", "in_nrm", "in_tex", "in_attr", "in_weights"),
            (joints_vbo, "4i", "in_joints")], hand_ibo)
        self.arm_vbo = self.ctx.buffer(reserve=_FOREARM_RINGS * _FOREARM_SEGMENTS * 13 * 4,
                                       dynamic=True)
        arm_ibo = self.ctx.buffer(_tube_faces(_FOREARM_RINGS).tobytes())
        self.arm_vao = self.ctx.vertex_array(self.prog, [
            (self.arm_vbo, "3f 3f 3f 4f", "in_pos", "in_nrm", "in_tex", "in_attr")], arm_ibo)
        # depth only: the compiler drops the attributes that only shading used
        self.shadow_hand = self.ctx.vertex_array(self.shadow_prog, [
            (hand_vbo, "3f 40x 4f", "in_pos", "in_weights"), (joints_vbo, "4i", "in_joints")],
            hand_ibo)
        self.shadow_arm = self.ctx.vertex_array(self.shadow_prog, [
            (self.arm_vbo, "3f 40x", "in_pos")], arm_ibo)

    def _vertex_attributes(self) -> np.ndarray:
        """(V, 4): crease (weights split between two joints), nail (dorsal distal tip), sleeve
        (0 on the hand), palmar (0 back .. 1 palm)."""
        m = self.mesh
        w = np.sort(m.weights, axis=1)
        crease = np.clip((w[:, -2] - 0.2) / 0.25, 0, 1)
        nrm_h = m.normals @ self.frame.T
        crease *= np.where(nrm_h[:, 2] > 0, 1.0, 0.45)  # palmar creases are the deep ones
        nail = np.zeros(len(m.positions))
        names = m.joint_names
        kp = m.rest_joints
        for f in ("thumb", "index-finger", "middle-finger", "ring-finger", "pinky-finger"):
            d = names.index(f"{f}-phalanx-distal")
            t = names.index(f"{f}-tip")
            axis = kp[t] - kp[d]
            u = (m.positions - kp[d]) @ axis / (axis @ axis)
            dorsal = -(m.normals @ self.frame[2])  # > 0 facing away from the palm
            near = np.linalg.norm(m.positions - kp[t], axis=1) < 1.2 * np.linalg.norm(axis)
            nail = np.maximum(nail, near * np.clip((u - 0.2) / 0.3, 0, 1)
                              * np.clip((dorsal - 0.35) / 0.3, 0, 1) * (u < 1.15))
        # palmar skin: rest normals facing the palm, the thumb's inner side and the fingers'
        # pads; smooth so that the lighter palm fades into the back of the hand at the sides
        palmar = np.clip(0.5 + 0.9 * nrm_h[:, 2], 0, 1)
        return np.stack([crease, nail, np.zeros_like(nail), palmar], axis=1)

    def _keypoint_radii(self) -> np.ndarray:
        """(21,) metres: how far the hand's own flesh reaches in front of each joint, seen from
        any side: the larger of its distance to the nearby surface and its depth under the
        palm or the back of the hand (the thumb's CMC lies 2.4 cm under the thenar)."""
        m = self.mesh
        j = m.rest_joints[m.keypoint_joints]
        rel = m.positions[None] - j[:, None]                      # (21, V, 3)
        near = np.sort(np.linalg.norm(rel, axis=2), axis=1)[:, :12].mean(axis=1)
        along = rel @ self.frame[2]                               # palmar (+) / dorsal (-)
        lateral = np.linalg.norm(rel - along[..., None] * self.frame[2], axis=2)
        # the joint's own flesh: vertices skinned mostly to its bone or the next one (the
        # thenar is the CMC's, not the thumb MCP's: seen from the back it hides the MCP)
        dominant = m.joints[np.arange(len(m.joints)), m.weights.argmax(axis=1)]
        own = np.stack([np.isin(dominant, [jk, m.joints_child[jk]])
                        for jk in m.keypoint_joints])
        column = np.where((lateral < 0.006) & own, np.abs(along), 0.0).max(axis=1)
        return np.maximum(near * 1.5, column * 1.1)

    # ------------------------------------------------------------ geometry of one sample
    def _forearm(self, rng, sleeve: bool):
        """Forearm vertices in the hand frame (palm lengths): an elliptic tube bent at the wrist.
        Returns positions (N, 3), normals (N, 3), tex (N, 3), attr (N, 4) of
        `_FOREARM_RINGS` rings of `_FOREARM_SEGMENTS` vertices."""
        flex = math.radians(rng.uniform(-40, 35))  # + bends the forearm to the dorsal side
        dev = math.radians(rng.uniform(-15, 15))
        t_sleeve = rng.uniform(0.4, 2.5) if sleeve else 1e9
        # always _FOREARM_RINGS rings (one index buffer): with a sleeve, two of them make the
        # step in radius at the cuff
        extra = [t_sleeve, t_sleeve + 1e-3] if sleeve else [3.0, 4.0]
        ts = np.sort(np.concatenate([[0.12, 0.4, 0.9, 1.6, 2.5, 3.5, 4.5], extra]))
        rx, rz = 0.29 * rng.uniform(0.9, 1.12), 0.2 * rng.uniform(0.9, 1.12)
        on_sleeve = (ts > t_sleeve).astype(np.float64)
        # the forearm widens towards the elbow (~2.8 palm lengths), then stays
        k = (1.0 + 0.13 * np.minimum(ts, 2.8)) * (1.0 + 0.18 * on_sleeve)
        c, s = _RING_COS[None], _RING_SIN[None]
        rot = _rot_x(flex) @ _rot_z(dev)
        y = -ts[:, None] * np.ones_like(c)
        ring = np.stack([rx * k[:, None] * c, y, rz * k[:, None] * s], axis=-1)
        nrm = np.broadcast_to(_ring_normals(rx, rz)[None], ring.shape)
        tex = np.stack([np.broadcast_to(_RING_ANG[None] / 3, y.shape), y, np.zeros(y.shape)],
                       axis=-1)
        attr = np.zeros(ring.shape[:2] + (4,))
        attr[..., 2] = on_sleeve[:, None]
        return (ring.reshape(-1, 3) @ rot.T, nrm.reshape(-1, 3) @ rot.T, tex.reshape(-1, 3),
                attr.reshape(-1, 4))

    def render(self, rng: np.random.Generator, *, pose: np.ndarray | None = None,
               rotation: np.ndarray | None = None, is_left: bool | None = None
               ) -> RenderSample:
        """One sample from `rng`; `pose` (21, 3) hand frame, `rotation` (3, 3) hand frame ->
        camera and `is_left` replace the drawn ones (the draws still happen, so the rest of
        the sample is the same)."""
        size = self.size
        m = self.mesh
        target = sample_pose(rng)
        if pose is not None:
            target = np.asarray(pose, np.float64)
        skin_m, joints = hand_mesh.pose(m, target)
        # mesh space -> hand frame (palm lengths) -> camera (metres)
        to_hand = self.frame / self.palm
        kp_h = (joints[m.keypoint_joints] - self.origin) @ to_hand.T
        sleeve = rng.random() < 0.55
        arm = self._forearm(rng, sleeve)
        rot = _random_rotation(rng)
        if rotation is not None:
            rot = np.asarray(rotation, np.float64)
        scale = self.palm * rng.uniform(0.85, 1.15)  # metres per palm length: hand size
        # camera: the hand 0.25-0.8 m away (arm's length and closer), the focal length that
        # gives the drawn hand size, within phone-like fields of view (20-85 degrees)
        dist = math.exp(rng.uniform(math.log(0.25), math.log(0.8)))
        box_px = math.exp(rng.uniform(*np.log(HAND_BOX_PX)))
        # hand proportions vary: width, length and thickness in the hand frame
        shape = np.diag(np.append(rng.uniform([0.9, 0.93, 0.88], [1.12, 1.07, 1.15]), 1.0))
        kp_h = kp_h * np.diag(shape)[:3]
        kp_c = kp_h @ rot.T * scale
        extent = np.ptp(kp_c[:, :2], axis=0).max()
        focal = float(np.clip(box_px * dist / extent, size / (2 * math.tan(math.radians(42.5))),
                              size / (2 * math.tan(math.radians(10)))))
        dist = focal * extent / box_px
        centre_px = rng.uniform(0.3, 0.7, 2) * size
        if rng.random() < 0.08:
            centre_px = rng.uniform(0.08, 0.92, 2) * size
        mid = 0.5 * (kp_c.min(axis=0) + kp_c.max(axis=0))
        shift = np.array([(centre_px[0] - size / 2) * dist / focal,
                          -(centre_px[1] - size / 2) * dist / focal, -dist]) - np.array(
                              [mid[0], mid[1], 0.0])
        kp_cam = kp_c + shift
        arm_model = np.eye(4)  # hand frame -> camera
        arm_model[:3, :3], arm_model[:3, 3] = rot * scale, shift
        mesh_to_hand = np.eye(4)
        mesh_to_hand[:3, :3], mesh_to_hand[:3, 3] = to_hand, -to_hand @ self.origin
        arm_model = arm_model @ shape
        geometry = (skin_m, arm_model @ mesh_to_hand, arm_model, arm, kp_cam)

        bg = _scene_background(rng, size)
        # the scene lights the hand too: ambient light takes some of the background's colour
        env = (np.array(cv2.mean(bg)[:3]) / 255.0) ** 2.2
        image, alpha, depth = self._draw(rng, geometry, focal, dist, env)
        kp = _project(kp_cam, focal, size)
        # self-occlusion: the surface at the joint's pixel lies well in front of the joint
        xi = np.clip(np.round(kp).astype(int), 0, size - 1)
        surf = depth[xi[:, 1], xi[:, 0]]
        tol = self.kp_radius * scale * shape[:3, :3].max() / self.palm + 0.002
        occluded = ((surf > 0) & (surf < -kp_cam[:, 2] - tol)).astype(np.uint8)
        inside = ((kp >= -0.5) & (kp <= size - 0.5)).all(axis=1)

        drawn_left = bool(rng.random() < 0.5)
        is_left = drawn_left if is_left is None else bool(is_left)
        if is_left:
            image, alpha = image[:, ::-1], alpha[:, ::-1]
            kp = mirror_keypoints(kp, size)
        return self._composite(rng, bg, image, alpha, kp.astype(np.float32), inside, occluded,
                               is_left, box_px)

    def _draw(self, rng, geometry, focal, dist, env):
        """Light and draw the skinned hand and its forearm: RGB (S, S, 3) uint8, coverage
        (S, S) uint8, linear depth (S, S) float32 (metres, 0 where nothing was drawn)."""
        size = self.size
        skin_m, hand_model, arm_model, arm, kp_cam = geometry
        self.arm_vbo.write(np.concatenate(arm, axis=1).astype("f4").tobytes())
        near, far = max(dist * 0.2, 0.01), dist * 20
        proj = np.array([[2 * focal / size, 0, 0, 0], [0, 2 * focal / size, 0, 0],
                         [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
                         [0, 0, -1, 0]], "f4")
        u = self.prog
        u["proj"].write(proj.T.tobytes())
        tone = _skin_tone(rng)
        u["skin"].value = tuple(tone)
        # palms are lighter and pinker than the back of the hand, much more so on dark skin
        dark = float(np.clip(1.0 - tone.mean() / 0.45, 0, 1))
        pink = np.array([0.62, 0.42, 0.36])
        u["palm_skin"].value = tuple(tone + (pink - tone) * (0.15 + 0.45 * dark)
                                     * rng.uniform(0.7, 1.1))
        u["palm_lines"].value = float(rng.uniform(0.1, 0.35))
        u["sleeve"].value = tuple((rng.uniform(0.02, 0.95, 3) ** 2.2
                                   * (0.3 if rng.random() < 0.3 else 1.0)).tolist())
        u["sleeve_kind"].value = float(rng.integers(0, 3))
        t0 = rng.uniform(0.28, 0.7)
        u["band"].value = (t0, t0 + rng.uniform(0.1, 0.3), float(rng.random() < 0.25),
                           float(rng.uniform(0.2, 3.0)))
        u["band_col"].value = tuple((rng.uniform(0.02, 0.9, 3) ** 2.2).tolist())
        key = _unit(np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.1, 1.3)]))
        fill = _unit(np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-0.3, 1)]))
        warm = _kelvin(rng.uniform(2700, 7500))
        key_i = rng.uniform(0.6, 1.3)
        u["key_dir"].value = tuple(key)
        u["key_col"].value = tuple(warm * key_i)
        u["fill_dir"].value = tuple(fill)
        u["fill_col"].value = tuple(_kelvin(rng.uniform(3000, 9000)) * rng.uniform(0.0, 0.45))
        amb = rng.uniform(0.12, 0.45)
        sky = _kelvin(rng.uniform(4000, 10000))
        sky = (sky + (env / max(float(env.max()), 0.05) - sky) * rng.uniform(0.2, 0.7)) * amb
        u["sky_col"].value = tuple(sky)
        u["ground_col"].value = tuple(sky * rng.uniform(0.4, 1.0) * rng.uniform(0.8, 1.2, 3))
        u["spec_k"].value = float(rng.uniform(0.02, 0.3))
        u["shininess"].value = float(rng.uniform(6, 50))
        u["wrap"].value = float(rng.uniform(0.1, 0.5))
        u["seed"].value = tuple(rng.uniform(0, 100, 3))
        u["blotch"].value = float(rng.uniform(0.05, 0.25))
        u["pores"].value = float(rng.uniform(0.03, 0.12))
        u["crease_k"].value = float(rng.uniform(0.15, 0.45))
        shadow_k = float(rng.uniform(0.3, 0.95)) if rng.random() < 0.5 else 0.0
        light_m = np.ascontiguousarray(_light_matrix(key, kp_cam).T, "f4").tobytes()
        u["shadow_k"].value = shadow_k
        u["light_m"].write(light_m)
        bones = np.ascontiguousarray(skin_m.transpose(0, 2, 1), "f4").tobytes()
        parts = [(np.ascontiguousarray(model.T, "f4").tobytes(),
                  # column-major mat3 of inv(M3).T is the row-major bytes of inv(M3)
                  np.ascontiguousarray(np.linalg.inv(model[:3, :3]), "f4").tobytes(), skinned)
                 for model, skinned in ((hand_model, 1), (arm_model, 0))]
        # the key light's depth map first: the same vertex shader, seen from the light
        self.ctx.enable(self.ctx.DEPTH_TEST)
        if shadow_k > 0:
            sp = self.shadow_prog
            sp["proj"].write(light_m)
            sp["bones"].write(bones)
            self.shadow_fbo.use()
            self.shadow_fbo.clear(depth=1.0)
            self.ctx.disable(self.ctx.CULL_FACE)
            for (model, _, skinned), vao in zip(parts, (self.shadow_hand, self.shadow_arm)):
                sp["model"].write(model)
                sp["skinned"].value = skinned
                vao.render()
            self.shadow_tex.use(location=0)
            u["shadow_map"].value = 0
        self.fbo.use()
        # cleared to the skin's colour: the softened silhouette blends towards skin, not black
        rim = tuple(float(c) for c in (tone * 0.6) ** (1 / 2.2))
        self.fbo.clear(*rim, 0.0, depth=1.0)
        self.ctx.enable(self.ctx.DEPTH_TEST)
        self.ctx.enable(self.ctx.CULL_FACE)  # the hand is closed, the tube wound outwards
        u["bones"].write(bones)
        for (model, normal_m, skinned), vao in zip(parts, (self.hand_vao, self.arm_vao)):
            u["model"].write(model)
            u["normal_m"].write(normal_m)
            u["skinned"].value = skinned
            vao.render()
        rgba = np.frombuffer(self.fbo.read(components=4, attachment=0), np.uint8)
        depth = np.frombuffer(self.fbo.read(components=1, attachment=1, dtype="f4"), np.float32)
        rgba = rgba.reshape(size, size, 4)[::-1]
        depth = depth.reshape(size, size)[::-1]
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3]), depth

    def _composite(self, rng, bg, hand, alpha, kp, inside, occluded, is_left, box_px):
        size = self.size
        img = bg
        if rng.random() < 0.3:  # the hand's soft shadow on a surface behind it
            off = rng.normal(0, 0.12, 2) * box_px
            q = 4  # soft: made at a quarter of the size
            small = cv2.resize(alpha, (size // q, size // q), interpolation=cv2.INTER_AREA)
            m = np.float32([[1, 0, off[0] / q], [0, 1, off[1] / q]])
            small = cv2.GaussianBlur(cv2.warpAffine(small, m, small.shape[::-1]), (0, 0),
                                     (1.0 + 0.05 * box_px) / q)
            light = 255 - (cv2.resize(small, (size, size)).astype(np.float32)
                           * rng.uniform(0.2, 0.55)).astype(np.uint8)
            img = cv2.multiply(img, cv2.merge([light] * 3), scale=1 / 255.0)
        x, y, w, h = cv2.boundingRect(alpha)
        if w > 0:  # blend where the hand is, its silhouette softened by a sub-pixel blur
            x0, y0 = max(x - 2, 0), max(y - 2, 0)
            x1, y1 = min(x + w + 2, size), min(y + h + 2, size)
            a = cv2.GaussianBlur(alpha[y0:y1, x0:x1], (0, 0), 0.6).astype(np.float32) / 255.0
            roi = img[y0:y1, x0:x1].astype(np.float32)
            img[y0:y1, x0:x1] = (roi + (hand[y0:y1, x0:x1] - roi) * a[..., None]).astype(
                np.uint8)
        visible = inside.astype(np.uint8)
        if rng.random() < 0.3:  # foreign occluders in front of the hand
            occ = np.zeros((size, size), np.uint8)
            before = img.copy()
            for _ in range(int(rng.integers(1, 3))):
                c = kp[rng.integers(NUM_KEYPOINTS)] + rng.normal(0, box_px * 0.2, 2)
                _occluder(rng, img, occ, c, box_px)
            xi = np.clip(np.round(kp).astype(int), 0, size - 1)
            still = visible & (occ[xi[:, 1], xi[:, 0]] == 0).astype(np.uint8)
            if 2 * int(still.sum()) >= int(visible.sum()):
                visible = still
            else:  # a hand mostly hidden teaches nothing: no occluders this time
                img = before
        img, quality = _camera(rng, img)
        return RenderSample(img, kp, visible, occluded, is_left,
                            (alpha > 127).astype(np.uint8) * 255, quality)

    def release(self) -> None:
        self.ctx.release()


def _camera(rng, img: np.ndarray) -> tuple[np.ndarray, int]:
    """What a phone camera does to the scene: uneven light, white balance, exposure, contrast
    and gamma (one lookup table), defocus or motion blur, sensor noise (luma at full
    resolution, chroma at half, as demosaicing leaves it) and a JPEG quality for writing.
    `synthetic._photometric` is the drawn hands' variant: i.i.d. RGB noise and an extra JPEG
    round trip, which cost a third of a rendered sample here."""
    size = img.shape[0]
    if rng.random() < 0.5:  # a smooth gain field
        gain = cv2.resize(0.65 + 0.7 * rng.random((4, 4), np.float32), (size, size),
                          interpolation=cv2.INTER_CUBIC)
        img = cv2.multiply(img, cv2.merge([gain] * 3), dtype=cv2.CV_8U)
    levels = np.arange(256, dtype=np.float64)[:, None] * rng.uniform(0.85, 1.15, 3)
    levels = (levels - 128) * rng.uniform(0.75, 1.25) + 128 + rng.uniform(-30, 30)
    levels = 255 * (np.clip(levels, 0, 255) / 255) ** rng.uniform(0.75, 1.35)
    img = cv2.LUT(img, np.clip(levels, 0, 255).astype(np.uint8).reshape(256, 1, 3))
    r = rng.random()
    if r < 0.3:  # defocus
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.5))
    elif r < 0.42:  # motion
        k = int(rng.integers(3, 9))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        m = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, m, (k, k))
        img = cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))
    luma_std, chroma_std = rng.uniform(0, 7), rng.uniform(0, 4)
    if luma_std > 0.5:
        cv2.setRNGSeed(int(rng.integers(2 ** 31)))  # cv2's RNG is global: seed it from ours
        luma = np.empty((size, size), np.int16)
        cv2.randn(luma, 0, luma_std)
        half = max(size // 2, 1)
        chroma = np.empty((half, half, 3), np.int16)
        cv2.randn(chroma, 0, chroma_std)
        noise = cv2.resize(chroma, (size, size), interpolation=cv2.INTER_LINEAR)
        noise += luma[..., None]
        img = cv2.add(img, noise, dtype=cv2.CV_8U)
    quality = int(rng.integers(30, 96)) if rng.random() < 0.6 else 95
    return img, quality


def _scene_background(rng, size: int) -> np.ndarray:
    """A photo crop or procedural background, sometimes with skin-like clutter, sometimes out
    of focus behind a sharp hand (a phone's portrait look)."""
    bg = background(rng, size)
    if rng.random() < 0.3:  # other things in the scene, skin-like ones among them
        _clutter(rng, bg, int(rng.integers(1, 6)), skin_fraction=0.5)
    if rng.random() < 0.3:
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1.0, 3.5))
    return bg


def _occluder(rng, img, occ, c, box_px):
    """A foreign object over the hand: a photo patch, a plain object or a skin blob."""
    size = img.shape[0]
    mask = np.zeros((size, size), np.uint8)
    if rng.random() < 0.5:
        axes = rng.uniform(0.1, 0.35, 2) * box_px
        cv2.ellipse(mask, (int(c[0]), int(c[1])), (int(axes[0]), int(axes[1])),
                    float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    else:
        p1 = c + rng.normal(0, box_px * 0.5, 2)
        t = max(int(rng.uniform(0.06, 0.22) * box_px), 2)
        cv2.line(mask, (int(c[0]), int(c[1])), (int(p1[0]), int(p1[1])), 255, t, cv2.LINE_AA)
    kind = rng.random()
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return
    if kind < 0.4:  # a piece of another photograph
        fill = background(rng, size)[y:y + h, x:x + w].astype(np.float32)
    else:
        col = _SKIN[rng.integers(len(_SKIN))] if kind < 0.6 else rng.uniform(0, 255, 3)
        shade = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.8, 1.2), h)[:, None, None]
        fill = (col * shade).astype(np.float32)
    a = mask[y:y + h, x:x + w].astype(np.float32)[..., None] / 255.0
    roi = img[y:y + h, x:x + w].astype(np.float32)
    img[y:y + h, x:x + w] = np.clip(roi + (fill - roi) * a, 0, 255).astype(np.uint8)
    occ[y:y + h, x:x + w] |= (mask[y:y + h, x:x + w] > 127).astype(np.uint8)


_FOREARM_SEGMENTS = 20
_FOREARM_RINGS = 9
_RING_ANG = np.linspace(0, 2 * np.pi, _FOREARM_SEGMENTS, endpoint=False)
_RING_COS, _RING_SIN = np.cos(_RING_ANG), np.sin(_RING_ANG)


def _ring_normals(rx: float, rz: float) -> np.ndarray:
    n = np.stack([_RING_COS / rx, np.zeros_like(_RING_COS), _RING_SIN / rz], axis=1)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def _tube_faces(rings: int) -> np.ndarray:
    """Triangle list joining `rings` consecutive rings of `_FOREARM_SEGMENTS` vertices."""
    segs = _FOREARM_SEGMENTS
    r, i = np.meshgrid(np.arange(rings - 1), np.arange(segs), indexing="ij")
    a = r * segs + i
    b = r * segs + (i + 1) % segs
    return np.stack([a, b, a + segs, b, b + segs, a + segs], axis=-1).reshape(-1).astype(np.int32)


_SHADOW_SIDE = 128
_DEPTH_ONLY = """
#version 330
void main() {}
"""


def _light_matrix(key: np.ndarray, kp_cam: np.ndarray) -> np.ndarray:
    """(4, 4) camera space -> clip space of an orthographic view from the key light (direction
    `key`, towards the light) framing the hand's keypoints with a margin."""
    centre = kp_cam.mean(axis=0)
    r = 1.7 * float(np.linalg.norm(kp_cam - centre, axis=1).max()) + 1e-3
    w = key / np.linalg.norm(key)
    up = np.array([0.0, 1.0, 0.0]) if abs(w[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(up, w)
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = u / r, v / r, -w / r  # nearer the light: smaller depth
    m[:3, 3] = -m[:3, :3] @ centre
    return m


def _project(p_cam: np.ndarray, focal: float, size: int) -> np.ndarray:
    """Camera space (x right, y up, z towards the viewer) -> image px, pixel centres."""
    z = -p_cam[:, 2]
    return np.stack([size / 2 + focal * p_cam[:, 0] / z - 0.5,
                     size / 2 - focal * p_cam[:, 1] / z - 0.5], axis=1)


def _rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _unit(v):
    return v / np.linalg.norm(v)


def _kelvin(t: float) -> np.ndarray:
    """Linear RGB of a black body at t kelvin, normalised to max 1 (a coarse fit)."""
    t = t / 100.0
    r = 1.0 if t <= 66 else min(1.0, 1.2929 * (t - 60) ** -0.1332)
    g = (0.3901 * math.log(t) - 0.6318) if t <= 66 else 1.1298 * (t - 60) ** -0.0755
    b = 1.0 if t >= 66 else (0.0 if t <= 19 else 0.5432 * math.log(t - 10) - 1.1962)
    rgb = np.clip(np.array([r, g, b]), 0, 1) ** 2.2
    return rgb / rgb.max()


def _skin_tone(rng) -> np.ndarray:
    """Linear RGB albedo between two neighbouring tones of the very light .. very dark table."""
    i = rng.uniform(0, len(_SKIN) - 1)
    lo = int(i)
    srgb = _SKIN[lo] * (1 - (i - lo)) + _SKIN[min(lo + 1, len(_SKIN) - 1)] * (i - lo)
    srgb = srgb * rng.uniform(0.9, 1.08) + rng.normal(0, 5, 3)
    return (np.clip(srgb, 0, 255) / 255.0) ** 2.2


# ---------------------------------------------------------------- per-process API
_RENDERER: HandRenderer | None = None


def _renderer(size: int) -> HandRenderer:
    global _RENDERER
    if _RENDERER is None or _RENDERER.size != size:
        if _RENDERER is not None:
            _RENDERER.release()
        _RENDERER = HandRenderer(size)
    return _RENDERER


def sample(seed: int, index: int, size: int = DEFAULT_SIZE) -> RenderSample:
    """Sample `index` of data set `seed` (deterministic, order- and worker-independent)."""
    return _renderer(size).render(np.random.default_rng([int(seed), int(index)]))


def _annotation(s: RenderSample, seed: int, index: int, size: int) -> dict:
    inside = s.visible > 0
    centre = s.keypoints[inside].mean(axis=0) if inside.any() else s.keypoints.mean(axis=0)
    lo, hi = s.keypoints.min(axis=0), s.keypoints.max(axis=0)
    return {
        "hand_pts": [[float(x), float(y), int(v)] for (x, y), v in zip(s.keypoints, s.visible)],
        "is_left": int(s.is_left),
        "hand_box_center": [float(centre[0]), float(centre[1])],
        "hand_box": [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])],
        "occluded": [int(v) for v in s.occluded],
        "generator": {"name": GENERATOR, "seed": int(seed), "index": int(index),
                      "size": int(size)},
    }


def _write_one(job) -> int:
    out, seed, i, size, quality, resume = job
    stem = Path(out) / f"render_{seed}_{i:06d}"
    if resume and stem.with_suffix(".jpg").is_file() and stem.with_suffix(".json").is_file():
        return 0  # renamed into place whole, and deterministic: the image this run would draw
    s = sample(seed, i, size)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, min(int(quality), s.jpeg_quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 images
        raise DataError("JPEG encoding failed")
    atomic_write_bytes(stem.with_suffix(".jpg"), buf.tobytes(), fsync=False)
    atomic_write_bytes(stem.with_suffix(".json"),
                       json.dumps(_annotation(s, seed, i, size)).encode(), fsync=False)
    return 1


def _check_gl(size: int) -> None:
    _renderer(size)  # raises DataError when there is no headless OpenGL


def _worker_init() -> None:
    cv2.setNumThreads(1)  # the worker processes are the parallelism


def write_dataset(out: str | Path, count: int, seed: int, size: int = DEFAULT_SIZE,
                  workers: int = 1, quality: int = 95, resume: bool = False,
                  progress=None) -> dict:
    """Render `count` samples as `out/render_<seed>_<i>.jpg` + `.json` (the `data synth` layout,
    plus `hand_box` [x0, y0, x1, y1] of the keypoints), each JPEG at the quality its camera
    drew (`quality` caps it). Returns a summary dict."""
    if count < 0:
        raise UsageError(f"count must be >= 0, got {count}")
    if workers < 1:
        raise UsageError(f"workers must be >= 1, got {workers}")
    hand_mesh.load("right")  # the missing-asset error, before any worker starts
    bank = prepare()  # decodes and caches the photos once, before the workers read them
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(out), int(seed), i, int(size), int(quality), bool(resume)) for i in range(count)]
    written = 0
    # OpenGL always runs in fresh worker processes, one worker included: Mesa's llvmpipe and
    # TensorFlow in one process crash (TensorFlow's import after an EGL context segfaults; an
    # EGL context after TensorFlow aborts at exit), so a caller that has imported TensorFlow
    # (a training script, the test suite) must never hold a context itself.
    with mp.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
        pool.apply(_check_gl, (size,))  # the no-EGL error: one line here, not per worker
        for done, n in enumerate(pool.imap(_write_one, jobs, chunksize=16), 1):
            written += n
            if progress is not None:
                progress(done)
    return {"out": str(out), "count": int(count), "seed": int(seed), "size": int(size),
            "workers": int(workers), "skipped_existing": int(count - written),
            "photos": bank["photos"]}
