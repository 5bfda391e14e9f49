"""``python -m rcache.verify.imports``: the import cycles among rcache's own modules.

Reads the source (nothing is imported), so it sees every import the interpreter may run:
module-level ones (``if TYPE_CHECKING:`` blocks included, since they still tie the modules
together) and those inside functions, which run later and hide a cycle rather than remove it.
Importing ``a.b.c`` runs the packages ``a`` and ``a.b`` first, so those count as imported too.

Prints each cycle (a strongly connected group of modules, and one path around it), first the
ones made of module-level imports alone, then the ones that need a function-level import.
Exit status: 0 without cycles, 1 with any.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../rcache


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int
    in_function: bool


def module_names(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    base = package.split(".")
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(node: ast.stmt, package: str, modules: dict[str, Path]) -> list[str]:
    """The package's modules an import statement loads."""
    names = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        base = _resolve(node, package)
        names = [base]
        # `from pkg import mod` loads the submodule pkg.mod
        names += [f"{base}.{alias.name}" for alias in node.names
                  if f"{base}.{alias.name}" in modules]
    return [name for name in names if name in modules]


def _with_parents(target: str, importer: str, modules: dict[str, Path]) -> list[str]:
    """The target and the packages its import runs first (those not already running
    because they hold the importer)."""
    parts = target.split(".")
    loaded = []
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        holds_importer = importer == name or importer.startswith(name + ".")
        if name in modules and not holds_importer:
            loaded.append(name)
    return loaded


def _walk(tree: ast.AST, in_function: bool = False):
    """(import statement, inside a function?) for every import in the tree."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        nested = in_function or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _walk(child, nested)


def import_edges(modules: dict[str, Path] | None = None) -> list[Edge]:
    modules = modules if modules is not None else module_names()
    edges = []
    for name, path in modules.items():
        package = _package_of(name, path)
        tree = ast.parse(path.read_text(), str(path))
        for node, in_function in _walk(tree):
            for target in _targets(node, package, modules):
                for imported in _with_parents(target, name, modules):
                    if imported != name:
                        edges.append(Edge(name, imported, node.lineno, in_function))
    return edges


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the groups of two or more modules that reach
    each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def one_cycle(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, inside the group."""
    members, start = set(group), group[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start] + path[::-1][1:] + [start] if node != start else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    return group


def _graph(edges: list[Edge], modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for edge in edges:
        graph[edge.importer].add(edge.imported)
    return graph


def cycles(modules: dict[str, Path] | None = None) -> tuple[list[list[str]], list[list[str]]]:
    """(groups tied by module-level imports, groups that need a function-level import)."""
    modules = modules if modules is not None else module_names()
    edges = import_edges(modules)
    top_level = _graph([edge for edge in edges if not edge.in_function], modules)
    everything = _graph(edges, modules)
    module_groups = strongly_connected(top_level)
    tied = {frozenset(group) for group in module_groups}
    function_groups = [group for group in strongly_connected(everything)
                       if frozenset(group) not in tied]
    return module_groups, function_groups


def report(modules: dict[str, Path] | None = None) -> tuple[str, bool]:
    """The text printed, and whether any cycle was found."""
    modules = modules if modules is not None else module_names()
    edges = import_edges(modules)
    module_groups, function_groups = cycles(modules)
    lines = []
    for title, groups, kept in (
            ("of module-level imports", module_groups, [e for e in edges if not e.in_function]),
            ("that need a function-level import", function_groups, edges)):
        graph = _graph(kept, modules)
        lines.append(f"import cycles {title}: {len(groups)}")
        for group in groups:
            lines.append(f"  {len(group)} modules: {' '.join(group)}")
            lines.append(f"    e.g. {' -> '.join(one_cycle(group, graph))}")
    return "\n".join(lines), bool(module_groups or function_groups)


def main() -> int:
    text, found = report()
    print(text)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
