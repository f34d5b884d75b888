"""hyperpod_local's rooms keep their direction: the control plane imports neither the service nor the local
stack nor the demo, the stack never imports the demo, nothing imports the living stack (`live`, the top
room), and no modules import each other in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hyperpod_local"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    return modules


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Modules the file imports, at any depth; ``from pkg import sub`` names ``pkg.sub`` if it is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return found


GRAPH = {
    name: {other for other in _imports(path) if other in MODULES and other != name}
    for name, path in MODULES.items()
}


@pytest.mark.parametrize(
    ("room", "forbidden"),
    [
        ("hyperpod_local.plane", ("autoheal", "hyperpod_local.stack", "hyperpod_local.demo")),
        ("hyperpod_local.stack", ("hyperpod_local.demo", "hyperpod_local.live")),
        ("hyperpod_local.demo", ("hyperpod_local.live",)),  # the living stack is the top room
        ("hyperpod_local.service_model", ("autoheal", "hyperpod_local", "moto")),  # botocore only
    ],
)
def test_a_room_never_imports_the_rooms_above_it(room: str, forbidden: tuple[str, ...]) -> None:
    escapes = {
        name: sorted(i for i in _imports(path) if i.startswith(forbidden))
        for name, path in MODULES.items()
        if name == room or name.startswith(room + ".")
    }

    assert {name: found for name, found in escapes.items() if found} == {}


def test_no_import_circles() -> None:
    """Package ``__init__`` edges aside (importing ``pkg.sub`` always runs ``pkg`` first)."""
    circles: list[list[str]] = []

    def walk(name: str, path: list[str]) -> None:
        for other in sorted(GRAPH[name]):
            if other in path:
                circles.append([*path[path.index(other) :], other])
            elif other not in done:
                walk(other, [*path, other])
        done.add(name)

    done: set[str] = set()
    for name in sorted(GRAPH):
        if name not in done:
            walk(name, [name])

    assert circles == []
