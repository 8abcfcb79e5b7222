"""Text from outside (a device, a tool, a file) is data: the one rule for showing it.

- `clean(value)`: str(value) without control characters (C0 except tab and newline, DEL, C1,
  and lone surrogates from non-UTF-8 bytes shown as U+FFFD), so an ESC sequence from a phone
  can never retitle or clear the terminal. Tab and newline survive only with `lines=True`.
- `safe(value)`: `clean` + rich's `escape`, for an f-string that rich renders as markup
  (tables, progress descriptions, `console.print`). `[/]` from a device stays `[/]` on screen.
- `plain(value)`: a rich `Text` of the cleaned value (never parsed as markup).
- `one_line(value)`: `clean` with every line break folded to a space, for error messages.

JSON output keeps the exact value: never pass JSON through these. Ground floor: imports
nothing of the project.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape as _rich_escape
from rich.text import Text

# C0 controls but tab/newline, DEL, C1 controls; lone surrogates (surrogateescape'd bytes).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: the longest outside string shown whole; longer ones are cut with a note of the length
MAX_SHOWN = 4000


def clean(value: Any, *, lines: bool = False, limit: int = MAX_SHOWN) -> str:
    """str(value) with control characters removed (see module docstring); None -> ''."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = _SURROGATE.sub("\ufffd", text)
    text = (_CONTROL if lines else _CONTROL_ALL).sub("", text.replace("\r\n", "\n")
                                                       if lines else text)
    if limit and len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return text


def safe(value: Any, **kwargs: Any) -> str:
    """`clean` then rich `escape`: outside text inside a markup string."""
    return _rich_escape(clean(value, **kwargs))


def plain(value: Any, style: str = "", **kwargs: Any) -> Text:
    """A rich Text (no markup parsing) of the cleaned value."""
    return Text(clean(value, **kwargs), style=style)


def one_line(value: Any) -> str:
    """`clean` with line breaks and tabs as spaces: one line for an error message."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return clean(re.sub(r"[\r\n\t\v\f]+", " ", text))
