"""The shape of the package stays as docs/index.md draws it: no import circles, a pure
protocol layer, an I/O layer under the runtime and the faces, and no package code that
depends on the test servers. Read from every module's imports (the AST, function-local
imports and ``TYPE_CHECKING`` blocks included), so a new module is checked the day it lands."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import worqr

ROOT = Path(worqr.__file__).parent
#: Modules the protocol layer may never import: I/O of any kind.
IMPURE = {"redis", "asyncio", "threading", "socket", "select", "selectors"}
FACES = {
    "worqr._client",
    "worqr._async_client",
    "worqr._queue_client",
    "worqr._async_queue_client",
    "worqr._docs",
    "worqr.__init__",
}
#: May import worqr.testing: the test servers themselves, the pytest plugin, and the demo
#: (``python -m worqr demo`` starts the embedded server the tests use).
TESTING_USERS = ("worqr.testing", "worqr.pytest_plugin", "worqr._demo")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports, relative imports resolved: ``from a import b`` is module
    ``a.b`` when that is one of worqr's modules, else ``a``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in modules() else base


@cache
def graph() -> dict[str, set[str]]:
    """Each worqr module and the worqr modules it imports."""
    known = modules()
    return {name: {m for m in _imported(name, path) if m in known and m != name} for name, path in known.items()}


def imports_of(name: str) -> set[str]:
    """Every top-level and worqr module ``name`` imports."""
    return set(_imported(name, modules()[name]))


def _circles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _layer(prefix: str) -> list[str]:
    return [name for name in modules() if name == prefix or name.startswith(prefix + ".")]


def test_the_checks_see_every_layer() -> None:
    for prefix in ("worqr._protocol", "worqr._io", "worqr._runtime", "worqr.testing"):
        assert len(_layer(prefix)) > 3, prefix
    assert "worqr._protocol.flows.tasks" in graph()["worqr._protocol.flows"]


def test_no_import_circle_in_the_package() -> None:
    assert _circles() == []


def test_the_circle_check_finds_a_circle() -> None:
    edges = graph()
    edges["worqr._protocol.keys"].add("worqr._protocol.session")  # session imports keys
    try:
        assert ["worqr._protocol.keys", "worqr._protocol.session"] in _circles()
    finally:
        edges["worqr._protocol.keys"].discard("worqr._protocol.session")


@pytest.mark.parametrize("name", _layer("worqr._protocol"))
def test_protocol_modules_do_no_io_and_import_no_other_layer(name: str) -> None:
    imported = imports_of(name)
    assert not {m for m in imported if m.split(".")[0] in IMPURE}, "the protocol layer does no I/O"
    worqr_modules = {m for m in imported if m.startswith("worqr")}
    allowed = {m for m in worqr_modules if m.startswith("worqr._protocol") or m in ("worqr", "worqr.errors")}
    assert worqr_modules == allowed


@pytest.mark.parametrize("name", _layer("worqr._io"))
def test_io_modules_import_neither_the_runtime_nor_the_faces(name: str) -> None:
    imported = imports_of(name)
    assert not {m for m in imported if m.startswith("worqr._runtime")}
    assert not (imported & FACES)


@pytest.mark.parametrize("name", _layer("worqr._runtime"))
def test_runtime_modules_import_no_face(name: str) -> None:
    assert not (imports_of(name) & FACES)


@pytest.mark.parametrize("name", [n for n in modules() if not n.startswith(TESTING_USERS)])
def test_package_code_does_not_import_the_test_servers(name: str) -> None:
    assert not {m for m in imports_of(name) if m == "worqr.testing" or m.startswith("worqr.testing.")}


# worqr.calls: the same layers again -------------------------------------------------------------

#: The pure part of worqr.calls: descriptions and flows (no I/O, no runtime, no face).
CALLS_PURE = ("envelope", "registry", "status", "ops", "arguments", "flows", "waiting")


def test_the_calls_checks_see_every_module_of_calls() -> None:
    names = set(_layer("worqr.calls")) - {"worqr.calls", "worqr.calls._async", "worqr.calls._sync"}
    known = {f"worqr.calls.{n}" for n in CALLS_PURE} | {"worqr.calls.serving"}
    known |= {f"worqr.calls.{flavor}.{n}" for flavor in ("_async", "_sync") for n in ("calls", "face")}
    assert names == known, "a new module of worqr.calls: give it its layer here"


@pytest.mark.parametrize("name", [f"worqr.calls.{n}" for n in CALLS_PURE])
def test_the_pure_modules_of_calls_do_no_io_and_import_only_the_protocol(name: str) -> None:
    imported = imports_of(name)
    assert not {m for m in imported if m.split(".")[0] in IMPURE}
    worqr_modules = {m for m in imported if m.startswith("worqr")}
    allowed = {
        m
        for m in worqr_modules
        if m.startswith("worqr._protocol") or m in ("worqr", "worqr.errors", "worqr.calls")
        or m in {f"worqr.calls.{n}" for n in CALLS_PURE}
    }  # fmt: skip
    assert worqr_modules == allowed


@pytest.mark.parametrize("flavor", ["_async", "_sync"])
def test_the_waiting_of_calls_is_io_that_imports_neither_the_runtime_nor_a_face(flavor: str) -> None:
    imported = imports_of(f"worqr.calls.{flavor}.calls")
    assert not {m for m in imported if m.startswith("worqr._runtime")}
    assert not (imported & FACES)
    assert not {m for m in imported if m.startswith("worqr.calls.serving")}


@pytest.mark.parametrize("name", ["worqr.calls.serving", "worqr.calls._async.face", "worqr.calls._sync.face"])
def test_serving_and_the_face_methods_of_calls_import_no_face(name: str) -> None:
    assert not (imports_of(name) & FACES)


# worqr.operations and worqr.cli -----------------------------------------------------------------

#: The pure part of worqr.operations: the typed answers, the reads, the flows and the JSON documents.
OPERATIONS_PURE = ("views", "reads", "flows", "documents")


def test_the_operations_checks_see_every_module_of_operations() -> None:
    names = set(_layer("worqr.operations")) - {"worqr.operations", "worqr.operations._async", "worqr.operations._sync"}
    known = {f"worqr.operations.{n}" for n in OPERATIONS_PURE}
    known |= {f"worqr.operations.{flavor}.face" for flavor in ("_async", "_sync")}
    assert names == known, "a new module of worqr.operations: give it its layer here"


@pytest.mark.parametrize("name", [f"worqr.operations.{n}" for n in OPERATIONS_PURE])
def test_the_pure_modules_of_operations_do_no_io_and_import_only_the_protocol(name: str) -> None:
    imported = imports_of(name)
    assert not {m for m in imported if m.split(".")[0] in IMPURE}
    worqr_modules = {m for m in imported if m.startswith("worqr")}
    allowed = {
        m
        for m in worqr_modules
        if m.startswith("worqr._protocol") or m in ("worqr", "worqr.errors", "worqr.operations")
        or m in {f"worqr.operations.{n}" for n in OPERATIONS_PURE}
    }  # fmt: skip
    assert worqr_modules == allowed


@pytest.mark.parametrize("name", ["worqr.operations._async.face", "worqr.operations._sync.face"])
def test_the_face_methods_of_operations_import_no_face_and_no_runtime(name: str) -> None:
    imported = imports_of(name)
    assert not (imported & FACES)
    assert not {m for m in imported if m.startswith("worqr._runtime")}


def test_the_command_line_is_a_face_over_the_clients_only() -> None:
    """worqr.cli talks to Redis only through the public client: no flow, script or key of its own."""
    for name in _layer("worqr.cli"):
        worqr_modules = {m for m in imports_of(name) if m.startswith("worqr")}
        allowed = {
            "worqr",
            "worqr.cli",
            "worqr._demo",
            "worqr.operations.documents",
            "worqr.leases.documents",
            "worqr.schedules.documents",
            "worqr.streams.documents",
            "worqr.metrics.prometheus",
            "worqr.web.serve",
        }
        assert worqr_modules <= allowed | {m for m in worqr_modules if m.startswith("worqr.cli.")}, name


# worqr.metrics --------------------------------------------------------------------------------


def test_the_metrics_families_are_pure_over_the_typed_answers() -> None:
    imported = imports_of("worqr.metrics.families")
    assert not {m for m in imported if m.split(".")[0] in IMPURE}
    assert {m for m in imported if m.startswith("worqr")} == {"worqr.operations.views", "worqr.streams.messages"}


@pytest.mark.parametrize("name", ["worqr.metrics.prometheus", "worqr.metrics.otel"])
def test_the_metrics_faces_read_through_the_public_client_only(name: str) -> None:
    assert {m for m in imports_of(name) if m.startswith("worqr")} == {"worqr", "worqr.metrics.families"}


def test_the_metrics_checks_see_every_module_of_metrics() -> None:
    names = set(_layer("worqr.metrics")) - {"worqr.metrics"}
    assert names == {"worqr.metrics.families", "worqr.metrics.prometheus", "worqr.metrics.otel"}


# worqr.web ------------------------------------------------------------------------------------


def test_the_dashboard_rates_are_pure_and_the_app_reads_through_the_public_client() -> None:
    assert not {m for m in imports_of("worqr.web.rates") if m.split(".")[0] in IMPURE | {"worqr"}}
    app = {m for m in imports_of("worqr.web.app") if m.startswith("worqr")}
    assert app == {"worqr", "worqr.operations.documents", "worqr.operations.views", "worqr.web.rates"}
    assert {m for m in imports_of("worqr.web.serve") if m.startswith("worqr")} == {"worqr", "worqr.web.app"}
    assert set(_layer("worqr.web")) == {"worqr.web", "worqr.web.app", "worqr.web.rates", "worqr.web.serve"}
