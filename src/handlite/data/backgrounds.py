"""Backgrounds for rendered hands: random crops of real photographs from installed packages,
mixed with `synthetic`'s procedural backgrounds.

The photographs come with Debian packages (`.ci/run` and the README's set-up install them; see
`PHOTO_SOURCES` for each package's folder, licence and which of its files are photographs).
`prepare()` finds them, downscales each once into the cache (a 5K wallpaper takes ~0.3 s to
decode; its 640 px copy 2 ms) and raises one clear line naming what to install when fewer than
`MIN_PHOTOS` are found. Each process decodes the cached copies once (`_bank`), then
`background(rng, size)` is a random scaled crop, flipped or not: (S, S, 3) uint8 RGB.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handlite.data.synthetic import _background, _clutter
from handlite.errors import DataError

MIN_PHOTOS = 100
#: Share of backgrounds that are photographs (the rest are procedural).
PHOTO_SHARE = 0.8
_CACHE_SIDE = 640


@dataclass(frozen=True)
class PhotoSource:
    package: str   # Debian package that installs the files
    folder: str    # where it installs them
    pattern: str   # glob under folder
    licence: str
    exclude: tuple[str, ...] = ()  # file names (stems) in the folder that are not photographs


PHOTO_SOURCES = (
    PhotoSource("lomiri-wallpapers-16.04", "/usr/share/backgrounds", "*_by_*.jpg",
                "CC-BY-SA 3.0 (Ubuntu wallpaper contest)"),
    PhotoSource("mate-backgrounds", "/usr/share/backgrounds/mate/nature", "*.jpg",
                "GPL-2+ / CC-BY-SA (mate-backgrounds copyright file)"),
    PhotoSource("plasma-workspace-wallpapers", "/usr/share/wallpapers", "*/contents/images/*.jpg",
                "LGPL-3 / CC-BY-SA 4.0 (plasma-workspace-wallpapers copyright file)"),
    PhotoSource("ukui-wallpapers", "/usr/share/backgrounds", "*.jpg",
                "GPL-2+ (ukui-wallpapers copyright file)"),
    PhotoSource("palapeli-data", "/usr/share/palapeli/collection", "*.jpg",
                "CC-BY-SA / public domain (palapeli-data copyright file)"),
)


def find_photos() -> list[Path]:
    """Every installed photograph of `PHOTO_SOURCES`, sorted (deterministic)."""
    found: set[Path] = set()
    for src in PHOTO_SOURCES:
        folder = Path(src.folder)
        if folder.is_dir():
            found.update(p for p in folder.glob(src.pattern)
                         if p.is_file() and p.stem not in src.exclude)
    return sorted(found)


def _cache_dir() -> Path:
    root = os.environ.get("HANDLITE_CACHE") or Path.home() / ".cache" / "handlite"
    return Path(root) / "backgrounds"


def _cached_name(path: Path) -> str:
    return hashlib.sha1(str(path).encode()).hexdigest()[:16] + ".jpg"


def prepare(min_photos: int = MIN_PHOTOS) -> dict:
    """Find the photographs and keep a small copy of each in the cache; returns a summary."""
    photos = find_photos()
    if len(photos) < min_photos:
        packages = " ".join(sorted({s.package for s in PHOTO_SOURCES}))
        raise DataError(f"found {len(photos)} background photographs, need {min_photos}: "
                        f"apt-get install {packages}")
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    made = 0
    for p in photos:
        dst = cache / _cached_name(p)
        if dst.is_file():
            continue
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"{p}: not a readable image")
        k = _CACHE_SIDE / max(img.shape[:2])
        if k < 1:
            img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 93])
        tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, dst)
        made += 1
    return {"photos": len(photos), "cached_now": made, "cache": str(cache)}


_BANK: list[np.ndarray] | None = None


def _bank() -> list[np.ndarray]:
    """The cached photos of this process, RGB, decoded once."""
    global _BANK
    if _BANK is None:
        cache = _cache_dir()
        bank = []
        for p in find_photos():
            img = cv2.imread(str(cache / _cached_name(p)), cv2.IMREAD_COLOR)
            if img is not None:
                bank.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        _BANK = bank
    return _BANK


def photo_crop(rng: np.random.Generator, size: int) -> np.ndarray | None:
    """A random crop (side 12-100 % of the photo's shorter side) of a random photo, or None
    when no photo is cached."""
    bank = _bank()
    if not bank:
        return None
    img = bank[int(rng.integers(len(bank)))]
    h, w = img.shape[:2]
    side = min(h, w) * math.exp(rng.uniform(math.log(0.12), 0.0))
    aspect = math.exp(rng.uniform(-0.15, 0.15))
    cw, ch = min(w, side * aspect), min(h, side / aspect)
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    m = np.array([[size / cw, 0, -x0 * size / cw], [0, size / ch, -y0 * size / ch]])
    if rng.random() < 0.5:
        m = np.array([[-1, 0, size - 1], [0, 1, 0]]) @ np.vstack([m, [0, 0, 1]])
    interp = cv2.INTER_AREA if cw > size else cv2.INTER_LINEAR
    return cv2.warpAffine(img, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT)


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(S, S, 3) uint8 RGB: a photo crop (`PHOTO_SHARE`) or a procedural background."""
    if rng.random() < PHOTO_SHARE:
        img = photo_crop(rng, size)
        if img is not None:
            return img
    img = _background(rng, size)
    _clutter(rng, img, int(rng.integers(0, 20)))
    return img
