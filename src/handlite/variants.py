"""The export variant matrix and per-precision parity tolerances.

One TOML file holds the table: `handlite/recipes/variants.toml`, shipped inside the package
(read with `importlib.resources`, so an installed wheel finds it too). Everything that needs a
variant (export, parity, benchmarks, tests, the demo) asks here by name —
`get_variant("224_int8")` — never by position. `HANDLITE_RECIPES` points at another recipe
file (e.g. a user's own matrix).
"""

from __future__ import annotations

import os
import tomllib
from contextlib import contextmanager
from importlib import resources
from dataclasses import asdict, dataclass
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from handlite.errors import InputError, UsageError, choice_error

PRECISIONS = ("float32", "float16", "dynamic", "int8")
IO_TYPES = ("float32", "uint8", "int8")
_TOLERANCE_KEYS = ("keypoint_epe_mean_px", "keypoint_epe_p95_px", "keypoint_epe_max_px",
                   "heatmap_max_abs", "heatmap_mean_abs", "cosine_min", "auc_drop_max")


#: where the shipped recipe file lives inside the package
RECIPE_RESOURCE = ("recipes", "variants.toml")


@contextmanager
def _default_recipe_path() -> Iterator[Path]:
    """The recipe file in use: HANDLITE_RECIPES when set, else the one shipped in the package
    (a real file for any ordinary install; `as_file` extracts it from a zip import)."""
    env = os.environ.get("HANDLITE_RECIPES")
    if env:
        yield Path(env)
        return
    with resources.as_file(resources.files("handlite").joinpath(*RECIPE_RESOURCE)) as path:
        yield Path(path)


@dataclass(frozen=True)
class Tolerances:
    """What parity must hold for one precision. Distances in input pixels at the variant's
    size; heatmap errors after dequantisation; `auc_drop_max` is how much lower TFLite's AUC
    may be than Keras' (hand3d convention, thresholds 0..30 px)."""

    keypoint_epe_mean_px: float
    keypoint_epe_p95_px: float
    keypoint_epe_max_px: float
    heatmap_max_abs: float
    heatmap_mean_abs: float
    cosine_min: float
    auc_drop_max: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Precision:
    name: str
    description: str
    optimize: bool
    weights: str
    representative: bool
    io: str
    tolerance: Tolerances
    min_calibration: int = 0


@dataclass(frozen=True)
class Variant:
    name: str
    size: int
    precision: str

    @property
    def filename(self) -> str:
        return f"handlite_{self.name}.tflite"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Recipes:
    path: Path
    variants: dict[str, Variant]
    precisions: dict[str, Precision]


def _number(table: dict, key: str, where: str) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {key} must be a number, got {value!r}")
    return float(value)


@lru_cache(maxsize=4)
def _load(path: Path) -> Recipes:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"recipe file not found: {path}",
                         hint="unset HANDLITE_RECIPES to use the shipped recipes, or point "
                              "it at a recipe file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    if doc.get("format") != "handlite.variants/1":
        raise InputError(f"{path}: expected format = \"handlite.variants/1\"")
    precisions: dict[str, Precision] = {}
    for name, table in doc.get("precision", {}).items():
        where = f"{path}: precision.{name}"
        if name not in PRECISIONS:
            raise InputError(f"{where}: unknown precision (handlite converts {PRECISIONS})")
        tol = table.get("tolerance")
        if not isinstance(tol, dict):
            raise InputError(f"{where}: missing [precision.{name}.tolerance]")
        io = table.get("io", "float32")
        if io not in IO_TYPES:
            raise InputError(f"{where}: io must be one of {IO_TYPES}, got {io!r}")
        precisions[name] = Precision(
            name=name, description=str(table.get("description", "")),
            optimize=bool(table.get("optimize", False)), weights=str(table.get("weights", name)),
            representative=bool(table.get("representative", False)), io=io,
            min_calibration=int(table.get("min_calibration", 0)),
            tolerance=Tolerances(**{k: _number(tol, k, f"{where}.tolerance")
                                    for k in _TOLERANCE_KEYS}))
    variants: dict[str, Variant] = {}
    for name, table in doc.get("variant", {}).items():
        where = f"{path}: variant.{name}"
        size, precision = table.get("size"), table.get("precision")
        if not isinstance(size, int) or size <= 0 or size % 16:
            raise InputError(f"{where}: size must be a positive multiple of 16, got {size!r}")
        if precision not in precisions:
            raise InputError(f"{where}: precision {precision!r} has no [precision.*] table")
        if name != f"{size}_{precision}":
            # the name is what users type and files are called; it must say what it is
            raise InputError(f"{where}: name must be {size}_{precision}")
        variants[name] = Variant(name=name, size=size, precision=precision)
    if not variants:
        raise InputError(f"{path}: no [variant.*] tables")
    return Recipes(path=path, variants=variants, precisions=precisions)


def recipes(path: str | Path | None = None) -> Recipes:
    """The recipe table of `path`, HANDLITE_RECIPES or the shipped file (cached per path)."""
    if path:
        return _load(Path(path))
    with _default_recipe_path() as default:
        return _load(default)


def variants(path: str | Path | None = None) -> dict[str, Variant]:
    """All variants by name, in recipe order."""
    return dict(recipes(path).variants)


def get_variant(name: str, path: str | Path | None = None) -> Variant:
    """One variant by name; a typo gets a 'did you mean' hint."""
    table = recipes(path).variants
    if name not in table:
        raise choice_error("variant", name, table)
    return table[name]


def get_precision(name: str, path: str | Path | None = None) -> Precision:
    table = recipes(path).precisions
    if name not in table:
        raise choice_error("precision", name, table)
    return table[name]


def tolerances(precision: str, path: str | Path | None = None) -> Tolerances:
    """Parity tolerances of one precision ("float32", "float16", "dynamic", "int8")."""
    return get_precision(precision, path).tolerance


def select(sizes: list[int] | None = None, precisions: list[str] | None = None,
           path: str | Path | None = None) -> list[Variant]:
    """The variants for the given sizes x precisions (the whole matrix when both are None).

    A size outside the matrix (e.g. 64 for a fast test) makes an ad-hoc variant with the same
    precision recipe; an unknown precision is a UsageError with a close-match hint.
    """
    table = recipes(path)
    for p in precisions or []:
        if p not in table.precisions:
            raise choice_error("precision", p, table.precisions)
    for s in sizes or []:
        if s <= 0 or s % 16:
            raise UsageError(f"size must be a positive multiple of 16, got {s}")
    if not sizes and not precisions:
        return list(table.variants.values())
    sizes = sizes or sorted({v.size for v in table.variants.values()})
    precisions = precisions or [p for p in PRECISIONS if p in table.precisions]
    chosen = []
    for size in dict.fromkeys(sizes):
        for precision in dict.fromkeys(precisions):
            name = f"{size}_{precision}"
            chosen.append(table.variants.get(name) or Variant(name, size, precision))
    return chosen
