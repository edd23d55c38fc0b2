"""The shape of chalicelib, read from its source (no import is executed):

- the packages and top-level modules of chalicelib import each other without
  a cycle, so that each can be read, tested and changed from the bottom up
  (the layers: limits/errors/clock -> config/db -> phases -> registration ->
  activation -> api);
- no import inside a function: a late import is how a cycle hides;
- the pure modules (the program's rules, plans, definitions, codecs) import
  no AWS library, directly or through what they import, so that they run and
  are tested without moto, sockets or Chalice.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"

# Modules that must stay free of AWS libraries (and of anything that imports one).
PURE_MODULES = (
    "chalicelib.limits",
    "chalicelib.errors",
    "chalicelib.clock",
    "chalicelib.cache",
    "chalicelib.eligibility",
    "chalicelib.validation",
    "chalicelib.rolling",
    "chalicelib.activation.plan",
    "chalicelib.activation.source",
    "chalicelib.phases.definition",
    "chalicelib.payments.rules",
    "chalicelib.merchants.rules",
    "chalicelib.qr.codec",
)
AWS_LIBRARIES = ("boto3", "botocore", "pynamodb", "chalice", "aws_lambda_powertools", "moto")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


SOURCES = _sources()


def _lazy_target(node: ast.AST) -> str | None:
    """The module of a ``lazy_module("name")`` call (chalicelib/lazy.py)."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "lazy_module"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return node.args[0].value
    return None


def _imported(module: str, tree: ast.Module, top_level_only: bool) -> Iterator[str]:
    """Every module that ``module`` imports (``from a import b`` gives ``a.b``
    when that is a module of chalicelib, else ``a``)."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if not top_level_only and (lazy := _lazy_target(node)):
            # lazy_module("chalicelib.x"): imported at first use, an edge of
            # the graph all the same (a cycle must not hide in a late import).
            yield lazy
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield candidate if candidate in SOURCES else node.module


def _unit(module: str) -> str:
    """The graph's node: a chalicelib package, or a top-level module of it."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, tree in SOURCES.items():
        if module == "chalicelib":
            continue
        source = _unit(module)
        targets = graph.setdefault(source, set())
        for name in _imported(module, tree, top_level_only=False):
            if name.startswith("chalicelib.") and _unit(name) != source:
                targets.add(_unit(name))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_packages_of_chalicelib_import_each_other_without_a_cycle() -> None:
    graph = _package_graph()
    assert len(graph) >= 15  # the graph was read: every package and top-level module
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def _late_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner.lineno, ast.unparse(inner)


def test_no_import_inside_a_function_in_chalicelib() -> None:
    found = [f"{module}:{line}: {text}" for module, tree in SOURCES.items() for line, text in _late_imports(tree)]
    assert found == []


def test_a_lazy_module_is_an_edge_of_the_graph() -> None:
    tree = ast.parse('db = lazy_module("chalicelib.db")\n')
    assert list(_imported("chalicelib.x", tree, top_level_only=False)) == ["chalicelib.db"]
    assert list(_imported("chalicelib.x", tree, top_level_only=True)) == []


def test_a_late_import_is_found() -> None:
    tree = ast.parse("def f():\n    from chalicelib import db\n    return db\n")
    assert list(_late_imports(tree)) == [(2, "from chalicelib import db")]


def _closure(module: str) -> set[str]:
    """``module`` and every module it imports at its top level, transitively
    (a package's ``__init__`` runs when one of its modules is imported)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts)) if ".".join(parts[:i]) in SOURCES]
        if name in SOURCES:
            todo += list(_imported(name, SOURCES[name], top_level_only=True))
    return seen


@pytest.mark.parametrize("module", PURE_MODULES)
def test_a_pure_module_imports_no_aws_library(module: str) -> None:
    assert module in SOURCES
    reached = _closure(module)
    aws = sorted(name for name in reached if name.split(".")[0] in AWS_LIBRARIES)
    assert aws == [], f"{module} reaches {aws} through {sorted(n for n in reached if n.startswith('chalicelib'))}"


def test_the_purity_check_sees_through_imports() -> None:
    # chalicelib.db imports pynamodb: anything that imports db is not pure.
    assert any(name.startswith("pynamodb") for name in _closure("chalicelib.db"))
    assert any(name.startswith("pynamodb") for name in _closure("chalicelib.ledger.core"))
