"""Third-party modules that only some functions need, loaded on first use.

Every Lambda function imports app.py, so a module imported at the top of
chalicelib is paid for by every cold start of every function: the token
verifier (PyJWT and cryptography's X.509) only the API needs, Argon2 only
the card routes, Powertools' batch processor only the queue workers. ``lazy_module(name)`` (the standard library's
``importlib.util.LazyLoader``, at module level: no import hides in a
function) gives the module object at once and runs its code at the first
attribute read, in the function that reads it.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

__all__ = ["lazy_module"]


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module whose code runs when it is first used (for a
    submodule, its parent packages are imported at once: keep those light)."""
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
