"""Every module that defines PynamoDB models, imported in one place.

Models register themselves with ``chalicelib.db`` when their module is
imported, so table creation and binding only see the models whose modules have
been imported. ``import_all_models`` imports every ``models`` module of the
``chalicelib`` packages (``chalicelib/<package>/models.py`` and
``chalicelib/models.py``) plus the modules listed in ``EXTRA_MODEL_MODULES``:
a model defined elsewhere must be listed there.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import chalicelib

__all__ = ["EXTRA_MODEL_MODULES", "MODEL_MODULE_NAME", "import_all_models"]

# The module name that holds a package's models by convention.
MODEL_MODULE_NAME = "models"

# Modules that define registered models under another name than models.py.
EXTRA_MODEL_MODULES: tuple[str, ...] = ()


def _model_module_names() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(chalicelib.__path__, prefix="chalicelib."):
        if info.name.rsplit(".", 1)[-1] == MODEL_MODULE_NAME:
            names.append(info.name)
    return sorted(set(names) | set(EXTRA_MODEL_MODULES))


def import_all_models() -> list[ModuleType]:
    """Import every model module (idempotent); returns the modules."""
    return [importlib.import_module(name) for name in _model_module_names()]
