"""The shape of incidents/: imports point inward, the domain stays free of adapters, nothing imports in a circle, and
every source path the docs name exists.

Every import counts, at module level or inside a function, TYPE_CHECKING ones included: a lazy import is still a
dependency. The rules are the table LAYERS; incidents/__init__.py and the README's Layout draw the same map.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "incidents"

# What each part of the package may import from the rest of it (besides itself).
LAYERS: dict[str, set[str]] = {
    "domain": set(),
    "settings": set(),
    "stores": {"domain"},
    "notify": {"domain"},
    "site": {"domain"},
    "http": {"domain", "settings"},
    "api": {"domain"},
    "alerts": {"domain"},
    "oncall": {"domain"},
    "maintenance": {"domain"},
    "slack": {"domain", "notify"},  # notify: the buttons it draws, the escape and the bounded POST it has
    "bootstrap": {"settings", "domain", "stores", "notify", "http", "alerts", "site"},
    "localhost": set(),
    "__main__": {"settings", "bootstrap", "http", "localhost", "domain"},  # domain: store errors, one-line messages
}
# A wing's functions.py is its edge: the one module that speaks HTTP and asks the composition root for the services.
FUNCTIONS_MAY_ALSO_IMPORT = {"http", "bootstrap"}
# Third-party packages the domain may use; everything else it imports must be the standard library, minus I/O.
DOMAIN_THIRD_PARTY = {"pydantic"}
DOMAIN_FORBIDDEN_STDLIB = {"sqlite3", "http", "urllib", "socket", "ssl", "asyncio", "subprocess"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every module `name` imports (absolute names; `from pkg import submodule` counts the submodule)."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules())
    return found


def project_imports(name: str) -> set[str]:
    return {m for m in imports_of(name) if m in modules() and m != "incidents"}


def part(name: str) -> str:
    """The LAYERS key of a module: incidents.site.render -> site, incidents.bootstrap -> bootstrap."""
    return name.split(".")[1]


def test_every_module_belongs_to_a_part_with_rules():
    assert {part(m) for m in modules() if m != "incidents"} == set(LAYERS)


@pytest.mark.parametrize("name", [m for m in sorted(modules()) if m != "incidents"])
def test_imports_point_inward(name):
    allowed = {part(name)} | LAYERS[part(name)]
    if name.endswith(".functions"):
        allowed |= FUNCTIONS_MAY_ALSO_IMPORT
    outward = sorted(m for m in project_imports(name) if part(m) not in allowed)
    assert not outward, f"{name} imports {outward}; {part(name)} may import only {sorted(allowed)}"


@pytest.mark.parametrize("name", [m for m in sorted(modules()) if m.startswith("incidents.domain")])
def test_the_domain_imports_no_adapter_sdk_or_io(name):
    top_levels = {m.split(".")[0] for m in imports_of(name)} - {"incidents", "__future__"}
    third_party = {t for t in top_levels if t not in sys.stdlib_module_names}
    assert third_party <= DOMAIN_THIRD_PARTY, f"{name} imports {sorted(third_party - DOMAIN_THIRD_PARTY)}"
    assert not top_levels & DOMAIN_FORBIDDEN_STDLIB, f"{name} imports {sorted(top_levels & DOMAIN_FORBIDDEN_STDLIB)}"


def test_no_import_cycle_among_the_projects_modules():
    graph = {name: project_imports(name) for name in modules()}
    done: set[str] = set()
    cycles: list[str] = []

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycles.append(" -> ".join([*path[path.index(name):], name]))
            return
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    if cycles:
        pytest.fail("import cycles:\n" + "\n".join(cycles))


def test_function_app_only_registers_the_wings_blueprints():
    tree = ast.parse((ROOT / "function_app.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported - {"azure.functions"} == {"incidents.alerts.functions", "incidents.api.functions",
                                              "incidents.site.functions", "incidents.oncall.functions",
                                              "incidents.slack.functions", "incidents.maintenance.functions"}


def test_the_rules_see_a_forbidden_import(tmp_path, monkeypatch):
    """The walker itself: an adapter import inside a domain function, and a cycle, are both found."""
    fake = tmp_path / "incidents"
    (fake / "domain").mkdir(parents=True)
    (fake / "stores").mkdir()
    for init in (fake / "__init__.py", fake / "domain" / "__init__.py", fake / "stores" / "__init__.py"):
        init.write_text("")
    (fake / "domain" / "models.py").write_text("def f():\n    from ..stores import sqlite\n")
    (fake / "stores" / "sqlite.py").write_text("import sqlite3\nfrom ..domain.models import f\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    modules.cache_clear()
    try:
        assert project_imports("incidents.domain.models") == {"incidents.stores", "incidents.stores.sqlite"}
        with pytest.raises(pytest.fail.Exception, match="domain.models -> incidents.stores.sqlite -> incidents.domain"):
            test_no_import_cycle_among_the_projects_modules()
        with pytest.raises(AssertionError, match="domain may import only"):
            test_imports_point_inward("incidents.domain.models")
    finally:
        modules.cache_clear()


SOURCE_PATH = re.compile(r"\b(?:incidents|tests|bench)/[\w/.-]*\w\.(?:py|toml)\b")
NAMED_IN = ("*.md", "*.py", "*.bicep", "*.bicepparam", "*.ini", "*.sh", "*.toml", "Makefile")
NOT_OURS = {".git", ".venv", "node_modules", ".local", ".pytest_cache", ".hypothesis", ".ruff_cache"}


def test_every_source_file_named_in_docs_comments_and_config_exists():
    """A module moved without its mentions updated leaves readers at a dead path: README, docs, Bicep comments,
    babel-mapping.ini and docstrings name files by path."""
    dead = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in NOT_OURS]
        for path in (Path(folder, f) for f in files if any(fnmatch(f, p) for p in NAMED_IN)):
            for named in SOURCE_PATH.findall(path.read_text(encoding="utf-8", errors="replace")):
                if not (ROOT / named).is_file():
                    dead.append(f"{path.relative_to(ROOT)}: {named}")
    assert dead == [], "dead paths:\n" + "\n".join(dead)
