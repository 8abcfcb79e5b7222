"""Device shell strings: quoting, and exit codes over shell v1 (which has none).

Every path or argument that goes into a device shell command passes through `quote` (or
`join`): a file named `a b;touch PWNED.tflite` stays one word and runs nothing.
"""

from __future__ import annotations

import re
import secrets
import shlex
from collections.abc import Sequence

from handlite.errors import ParseError


def quote(arg: object) -> str:
    """One shell word for any value (paths, numbers, flags)."""
    return shlex.quote(str(arg))


def join(args: Sequence[object]) -> str:
    """A command line from separate arguments, each quoted."""
    return " ".join(quote(a) for a in args)


def with_exit_sentinel(command: str) -> tuple[str, str]:
    """Wrap `command` so its exit code is printed after its output; returns (wrapped, token).

    The command runs in a child `sh -c`, so an `exit` inside it still reaches the sentinel.
    The token is random per call so command output cannot fake it.
    """
    token = f"HLEXIT{secrets.token_hex(6)}"
    return f"sh -c {quote(command)}; printf '\\n%s:%s\\n' {token} \"$?\"", token


def split_exit_sentinel(output: bytes, token: str) -> tuple[int, bytes]:
    """(exit_code, output without the sentinel) from the output of a wrapped command."""
    match = None
    for match in re.finditer(rb"\r?\n" + token.encode() + rb":(\d+)", output):
        pass
    if match is None:
        raise ParseError("device shell output lacks the exit-code marker "
                         "(the connection closed before the command finished?)")
    return int(match.group(1)), output[:match.start()]
