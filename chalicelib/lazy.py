"""Modules that only some functions or routes need, loaded on first use.

Every Lambda function imports app.py, so a module imported at the top of
chalicelib is paid for by every cold start of every function: the token
verifier (PyJWT and cryptography's X.509) only the API needs, Argon2 only
the card routes, Powertools' batch processor only the queue workers. So
too chalicelib's own use cases and tables: a route module declares its
routes at import and loads its use case (and through it PynamoDB and the
models) at its first request; app.py loads a queue worker's or schedule's
module when that function runs. A ``lazy_module`` of a chalicelib module
sits next to the same import under ``TYPE_CHECKING`` (mypy sees the real
module) and is an edge of the package graph (tests/unit/test_package_graph.py).
``lazy_module(name)`` (at module level: no import hides in a function)
gives a stand-in at once and imports the module at the first attribute
read, in the function that reads it, also when several threads read at
once (the chalice local server and the pump run handlers side by side).
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]

_LOCK = threading.Lock()


class _Deferred(ModuleType):
    """Stands for a module until an attribute of it is read; then imports
    it (the import system's own locks: safe when several threads read the
    first attribute at once, which the standard library's LazyLoader is not
    before Python 3.12) and answers from it."""

    def __init__(self, name: str) -> None:
        super().__init__(f"lazy:{name}")
        self._lazy_target = name
        self._lazy_module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:  # only for what the proxy itself lacks
        module = self._lazy_module
        if module is None:
            with _LOCK:
                module = self._lazy_module
                if module is None:
                    module = importlib.import_module(self._lazy_target)
                    self._lazy_module = module
        return getattr(module, attr)


def _exists(name: str) -> bool:
    """Whether the module ``name`` can be imported, found without running
    it or, for a submodule, its parent packages (``importlib.util.find_spec``
    would import them: ``cryptography.hazmat.primitives.ciphers`` loads
    cryptography's Rust bindings, ``stdnum.th`` stdnum.util and pydoc)."""
    top, *parts = name.split(".")
    loaded = sys.modules.get(top)
    spec = loaded.__spec__ if loaded is not None else importlib.util.find_spec(top)
    for part in parts:
        if spec is None or spec.submodule_search_locations is None:
            return False
        spec = importlib.machinery.PathFinder.find_spec(f"{spec.name}.{part}", list(spec.submodule_search_locations))
    return spec is not None


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module whose code runs when it is first used (it must
    exist: checked now, without running it or its parent packages)."""
    if not _exists(name):
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    return _Deferred(name)
