"""The README's Layout section lists the tree as it is: every module and package under
src/handlite/ appears there, and every path it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "handlite"


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout", 1)[1]
    return section.split("```", 2)[1]


def _entries(block: str) -> tuple[set[str], set[str]]:
    """(paths under src/handlite/, top-level folders) named at the start of the block's lines."""
    inside, top = set(), set()
    for line in block.splitlines():
        match = re.match(r"^(\s*)(\S+)", line)
        if not match or not re.search(r"[./]", match.group(2)):
            continue
        name = match.group(2)
        (inside if match.group(1) else top).add(name)
    return inside, top


def test_every_module_and_package_is_listed():
    inside, _ = _entries(_layout_block())
    actual = {p.name + "/" if p.is_dir() else p.name for p in PACKAGE.iterdir()
              if p.name not in {"__init__.py", "__main__.py", "py.typed", "__pycache__"}
              and (p.is_dir() or p.suffix == ".py")}
    listed = {name.split("/")[0] + "/" if "/" in name else name for name in inside}
    assert actual - listed == set(), "modules missing from the README layout"


def test_every_listed_path_exists():
    inside, top = _entries(_layout_block())
    for name in sorted(inside):
        assert (PACKAGE / name.rstrip("/")).exists(), f"README layout names {name}"
    for name in sorted(top):
        assert (ROOT / name.rstrip("/")).exists(), f"README layout names {name}"
