"""Keep TensorFlow's start-up chatter off the terminal unless --debug.

TensorFlow's C++ side prints absl/oneDNN/CUDA notices to file descriptor 2 while it is imported,
before `TF_CPP_MIN_LOG_LEVEL` can act on them (they are logged "before absl::InitializeLog()").
They bury the one-line messages the CLI promises, so the CLI installs this finder: the first
import of tensorflow runs with fd 2 pointed at /dev/null. Python-level errors still raise
normally; only the process-level stderr is silenced, and only during that import.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys

from handlite.io import redirect_fds

_SILENCED = ("tensorflow", "ai_edge_litert")


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        with redirect_fds((2,)):
            self._inner.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name not in _SILENCED:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Silence fd 2 while tensorflow / ai_edge_litert are first imported (idempotent)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
