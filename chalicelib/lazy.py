"""Third-party modules that only some functions need, loaded on first use.

Every Lambda function imports app.py, so a module imported at the top of
chalicelib is paid for by every cold start of every function: the token
verifier (PyJWT and cryptography's X.509) only the API needs, Argon2 only
the card routes, Powertools' batch processor only the queue workers.
``lazy_module(name)`` (at module level: no import hides in a function)
gives a stand-in at once and imports the module at the first attribute
read, in the function that reads it, also when several threads read at
once (the chalice local server and the pump run handlers side by side).
"""
from __future__ import annotations

import importlib
import importlib.util
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


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module whose code runs when it is first used (it must
    exist: checked now, without running it)."""
    if importlib.util.find_spec(name) is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    return _Deferred(name)
