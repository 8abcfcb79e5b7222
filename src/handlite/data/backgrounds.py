"""Backgrounds for rendered hands: random crops of real photographs that packages ship, mixed
with `synthetic`'s procedural backgrounds.

`PHOTO_SOURCES` names each package, where it puts its photographs, their licence and the files
that are photographs (looked at one by one: wallpaper packages also ship drawings, and Plasma
ships each wallpaper at many sizes). `fetch()` (`python -m handlite.data.backgrounds fetch`, run
by `make setup` and `.ci/run`) keeps a 640 px copy of each in the cache, reading the originals
where the package is installed (Debian package or PyPI) and otherwise taking them out of the
Debian package downloaded with `apt-get download` (nothing is installed: kphotoalbum alone
would pull in KDE). `prepare()` checks the cache before rendering and fails with one line
naming the fetch command when fewer than `MIN_PHOTOS` are there. Each process decodes the
cached copies once; `background(rng, size)` is then a random scaled crop, flipped or not:
(S, S, 3) uint8 RGB.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from handlite.data.synthetic import _background, _clutter
from handlite.errors import DataError
from handlite.io import atomic_write_bytes

MIN_PHOTOS = 100
#: Share of backgrounds that are photographs (the rest are procedural).
PHOTO_SHARE = 0.9
FETCH_COMMAND = "python -m handlite.data.backgrounds fetch"
_CACHE_SIDE = 640


@dataclass(frozen=True)
class PhotoSource:
    name: str      # Debian package, or "pypi:<distribution>"
    folder: str    # where the package installs the files (PyPI: inside the import package)
    files: tuple[str, ...]
    licence: str


_PLASMA = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
           "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")

PHOTO_SOURCES = (
    PhotoSource("lomiri-wallpapers-16.04", "/usr/share/backgrounds", tuple(
        f"{n}.jpg" for n in (
            "aitzgorri_by_Aitzol_Berasategi", "Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly",
            "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi",
            "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi",
            "picosdeeuropa_by_Aitzol_Berasategi", "Picture_0B_by_freespace",
            "Picture_1A_by_freespace", "seeding_by_Clements_Engelhardt",
            "sunset_by_Aitzol_Berasategi", "Wine_by_Jakkub_Mede")),
        "CC-BY-4.0 / CC-BY-SA-4.0 (per file, Debian copyright file)"),
    PhotoSource("mate-backgrounds", "/usr/share/backgrounds/mate/nature", tuple(
        f"{n}.jpg" for n in ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow",
                             "LadyBird", "RainDrops", "Storm", "TwoWings", "Wood",
                             "YellowFlower")),
        "GPL-2+"),
    PhotoSource("plasma-workspace-wallpapers", "/usr/share/wallpapers",
                tuple(f"{n}/contents/images/2560x1600.jpg" for n in _PLASMA), "GPL-2+"),
    PhotoSource("palapeli-data", "/usr/share/palapeli/collection", tuple(
        f"{n}.jpg" for n in ("castle-maintenon", "cincinnati-bridge", "citrus-fruits",
                             "european-honey-bee", "panther-chameleon-female")), "GPL-2+"),
    PhotoSource("kphotoalbum", "/usr/share/kphotoalbum/demo", tuple(
        f"{n}.jpg" for n in (
            "anne_helene", "bar55", "bar55_2", "blackie", "cold_water", "donna", "donna_2",
            "grand_canyon_1", "grand_canyon_2", "grand_canyon_3", "jesper", "jesper_2",
            "new_wave_1", "new_wave_2", "pool", "pool_2", "skagen", "skagen_2", "snow", "spiff",
            "spiff_2", "sunset", "wayne")), "GPL-2+"),
    PhotoSource("opencv-doc", "/usr/share/doc/opencv-doc/examples/data", (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
        "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png",
        "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "leuvenA.jpg",
        "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png",
        "smarties.png", "squirrel_cls.jpg", "stuff.jpg"), "Apache-2.0 AND BSD-3-Clause"),
    PhotoSource("pypi:scikit-image", "skimage/data", (
        "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
        "clock_motion.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
        "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png", "page.png",
        "rocket.jpg"), "BSD-3-Clause package; per-image CC0 / public domain (skimage.data)"),
    PhotoSource("pypi:matplotlib", "matplotlib/mpl-data/sample_data", ("grace_hopper.jpg",),
                "matplotlib licence (PSF-style)"),
)


def photo_count() -> int:
    return sum(len(s.files) for s in PHOTO_SOURCES)


def cache_dir() -> Path:
    root = os.environ.get("HANDLITE_CACHE") or Path.home() / ".cache" / "handlite"
    return Path(root) / "photos"


def _cached(src: PhotoSource, name: str) -> Path:
    return cache_dir() / src.name.replace(":", "-") / (name.replace("/", "_") + ".jpg")


def _installed_folder(src: PhotoSource) -> Path | None:
    if not src.name.startswith("pypi:"):
        return Path(src.folder)
    top, _, rest = src.folder.partition("/")
    spec = importlib.util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / rest


def _store(data: bytes, dst: Path) -> None:
    """Decode, shrink to `_CACHE_SIDE`, keep as JPEG (atomically)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{dst.name}: not a readable image")
    k = _CACHE_SIDE / max(img.shape[:2])
    if k < 1:
        img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 93])
    atomic_write_bytes(dst, buf.tobytes(), fsync=False)


def _from_installed(src: PhotoSource) -> int:
    folder = _installed_folder(src)
    made = 0
    for name in src.files:
        dst = _cached(src, name)
        if not dst.is_file() and folder is not None and (folder / name).is_file():
            _store((folder / name).read_bytes(), dst)
            made += 1
    return made


def _from_deb(src: PhotoSource) -> int:
    """`apt-get download` the package and take the listed files out of its data tarball."""
    missing = [n for n in src.files if not _cached(src, n).is_file()]
    if not missing:
        return 0
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DataError(f"{tool} not found: the photos of {src.name} come as a Debian "
                            f"package")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(["apt-get", "download", src.name], cwd=tmp, capture_output=True,
                              text=True)
        debs = list(Path(tmp).glob("*.deb"))
        if proc.returncode != 0 or len(debs) != 1:
            last = (proc.stderr.strip().splitlines() or ["no .deb"])[-1]
            raise DataError(f"apt-get download {src.name} failed: {last} (run `apt-get "
                            f"update` first?)")
        members = {"./" + str(Path(src.folder.lstrip("/")) / n): n for n in missing}
        with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])],
                              stdout=subprocess.PIPE) as proc_tar:
            with tarfile.open(fileobj=proc_tar.stdout, mode="r|") as tar:
                for info in tar:
                    if info.name in members:
                        _store(tar.extractfile(info).read(), _cached(src, members[info.name]))
    return len(missing)


def fetch() -> dict:
    """Cache every photo of `PHOTO_SOURCES`; returns a summary (photos, cached_now, cache)."""
    made = 0
    for src in PHOTO_SOURCES:
        made += _from_installed(src)
        if not src.name.startswith("pypi:"):
            made += _from_deb(src)
    photos = find_photos()
    if len(photos) < photo_count():
        have = {p for p in photos}
        lost = [f"{s.name}:{n}" for s in PHOTO_SOURCES for n in s.files
                if _cached(s, n) not in have]
        raise DataError(f"{len(lost)} photos not found, e.g. {lost[0]}")
    return {"photos": len(photos), "cached_now": made, "cache": str(cache_dir())}


def find_photos() -> list[Path]:
    """The cached photos, in `PHOTO_SOURCES` order (deterministic)."""
    return [p for s in PHOTO_SOURCES for n in s.files if (p := _cached(s, n)).is_file()]


def prepare(min_photos: int = MIN_PHOTOS) -> dict:
    """Cache what is installed locally (no download); DataError when too few photos."""
    for src in PHOTO_SOURCES:
        _from_installed(src)
    photos = find_photos()
    if len(photos) < min_photos:
        raise DataError(f"found {len(photos)} background photographs in {cache_dir()}, need "
                        f"{min_photos}: fetch them with `{FETCH_COMMAND}` (or `make setup`)")
    return {"photos": len(photos), "cache": str(cache_dir())}


_BANK: list[np.ndarray] | None = None


def _bank() -> list[np.ndarray]:
    """The cached photos of this process, RGB, decoded once."""
    global _BANK
    if _BANK is None:
        bank = []
        for p in find_photos():
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
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
    x0, y0 = int(rng.uniform(0, w - cw)), int(rng.uniform(0, h - ch))
    crop = img[y0:y0 + max(int(ch), 1), x0:x0 + max(int(cw), 1)]
    out = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if cw > size
                     else cv2.INTER_LINEAR)
    return cv2.flip(out, 1) if rng.random() < 0.5 else out


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(S, S, 3) uint8 RGB: a photo crop (`PHOTO_SHARE`) or a procedural background."""
    if rng.random() < PHOTO_SHARE:
        img = photo_crop(rng, size)
        if img is not None:
            return img
    # drawn at half size: the procedural kinds are smooth, and full size costs ~10 ms
    half = max(size // 2, 1)
    img = _background(rng, half)
    _clutter(rng, img, int(rng.integers(0, 12)))
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["fetch"]:
        print(f"usage: {FETCH_COMMAND}", file=sys.stderr)
        return 2
    try:
        summary = fetch()
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"background photos: {summary['photos']} in {summary['cache']} "
          f"({summary['cached_now']} new)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
