"""A module loaded on first use is the module, however many threads read
its first attribute at once (the standard library's LazyLoader is not safe
so before Python 3.12: a thread could see a half-run module)."""
from __future__ import annotations

import sys
import threading

import pytest

from chalicelib.lazy import lazy_module


def test_many_threads_reading_the_first_attribute_at_once_all_get_it(monkeypatch):
    monkeypatch.delitem(sys.modules, "tests.unit.lazy_target", raising=False)
    module = lazy_module("tests.unit.lazy_target")
    start = threading.Barrier(16)
    seen: list[object] = []

    def read() -> None:
        start.wait()
        seen.append(module.LAST)

    threads = [threading.Thread(target=read) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == ["defined at the end"] * 16
    assert module.RUNS == 1  # run once


def test_a_module_that_does_not_exist_is_refused_at_once():
    with pytest.raises(ModuleNotFoundError):
        lazy_module("no_such_module_here")


def test_a_lazy_submodule_runs_none_of_its_parent_packages_until_used(monkeypatch):
    for name in [n for n in sys.modules if n == "tests.unit.lazy_pkg" or n.startswith("tests.unit.lazy_pkg.")]:
        monkeypatch.delitem(sys.modules, name)
    module = lazy_module("tests.unit.lazy_pkg.leaf")
    assert "tests.unit.lazy_pkg" not in sys.modules  # the parent's code has not run
    assert module.LEAF == "leaf" and sys.modules["tests.unit.lazy_pkg"].PARENT_RAN
    with pytest.raises(ModuleNotFoundError):
        lazy_module("tests.unit.lazy_pkg.no_such_leaf")
