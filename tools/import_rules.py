"""The project's modules and what they import, for the import rules (tests/test_architecture.py).

Standard library only, and no project code is imported: every ``.py`` file under the given
packages (migrations excepted) is parsed with ``ast``, and every import is collected, at the
top of a module and inside functions alike, with relative imports resolved. The checks are
functions of a root directory, so the test can run them on the repository and on a small
synthetic tree that must fail.

Usage (from the checkout): python3 tools/import_rules.py [package ...]
prints the import cycles and the modules over 500 lines.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGES = ("imprimatur", "governance", "generation")


def project_modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Dotted module name → file, for every module of ``packages`` under ``root``; a
    package's ``__init__.py`` is the package itself. Migrations are left out."""
    root = Path(root)
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name a ``from … import`` names, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # a module's level 1 is its package
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*base, node.module] if node.module else base)


def imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name the module imports, absolute: ``import a.b`` gives ``a.b``;
    ``from a import b`` gives ``a`` and ``a.b`` (b may be a module or a name in a)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):  # every import, also inside functions and classes
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path, node)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    names.discard("")
    return names


def all_imports(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module → every dotted name it imports (the project's and any other)."""
    return {
        module: imported_names(module, path)
        for module, path in project_modules(root, packages).items()
    }


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module a dotted name lies in (``a.b.func`` → ``a.b``), or None."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module → the project modules it imports. An import of a module's own package (its
    ``__init__``, as any import of a submodule runs it) is not an edge."""
    packages = tuple(packages)
    modules = project_modules(root, packages)
    graph = {module: set() for module in modules}
    for module, path in modules.items():
        for name in imported_names(module, path):
            target = _resolve(name, modules)
            if target and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    return graph


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The cycles: every strongly connected component of more than one module (Tarjan's
    algorithm, iterative), each sorted; and the components in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in graph:
                    continue
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:  # every target seen: close the node
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components)


def unit_of(module: str, units: Iterable[str]) -> str | None:
    """The longest of ``units`` (packages or modules) that ``module`` is or lies in."""
    found = [unit for unit in units if module == unit or module.startswith(unit + ".")]
    return max(found, key=len) if found else None


def forbidden_imports(
    graph: Mapping[str, set[str]], allowed: Mapping[str, Iterable[str] | None]
) -> list[str]:
    """The imports between units of the project that ``allowed`` does not allow.

    ``allowed`` maps each unit (a package or module, such as ``governance.audit``) to the
    other units it may import, or to None for "any". A module's unit is the longest that
    contains it; importing inside one's own unit is always allowed. A module in no unit,
    or importing a project module in no unit, is reported too: every module is ruled."""
    units = list(allowed)
    problems = []
    for module in sorted(graph):
        source = unit_of(module, units)
        if source is None:
            problems.append(f"{module}: in no unit of the import rules")
            continue
        permitted = allowed[source]
        for target in sorted(graph[module]):
            destination = unit_of(target, units)
            if destination == source or permitted is None:
                continue
            if destination is None:
                problems.append(f"{module} imports {target}, which is in no unit of the rules")
            elif destination not in permitted:
                problems.append(f"{module} imports {target} ({source} -> {destination})")
    return problems


def foreign_imports(
    imports: Mapping[str, set[str]], units: Iterable[str], forbidden: Iterable[str]
) -> list[str]:
    """The imports of ``forbidden`` top-level packages (``django`` …) by modules of
    ``units``."""
    units, forbidden = tuple(units), tuple(forbidden)
    problems = []
    for module in sorted(imports):
        if unit_of(module, units) is None:
            continue
        for name in sorted(imports[module]):
            if name.split(".")[0] in forbidden:
                problems.append(f"{module} imports {name}")
    return problems


def module_lines(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, int]:
    """File path relative to ``root`` (with /) → its number of lines."""
    return {
        path.relative_to(root).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in project_modules(root, packages).values()
    }


def oversized_modules(
    root: Path, limit: int, allowlist: Mapping[str, str], packages: Iterable[str] = PACKAGES
) -> list[str]:
    """The modules over ``limit`` lines that the allowlist does not name."""
    return [
        f"{path}: {lines} lines"
        for path, lines in sorted(module_lines(root, packages).items())
        if lines > limit and path not in allowlist
    ]


def main(argv: list[str]) -> int:
    root = Path.cwd()
    packages = tuple(argv) or PACKAGES
    cycles = import_cycles(import_graph(root, packages))
    for cycle in cycles:
        print("cycle:", " <-> ".join(cycle))
    for line in oversized_modules(root, 500, {}, packages):
        print("over 500 lines:", line)
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
