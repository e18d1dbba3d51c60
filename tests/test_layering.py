"""The import arrows of the architecture, enforced by an AST scan of every module.

pure rules → async core → sync bridge → torch facade; the embedded server imports nothing of
the client; no import cycle anywhere; ``aisloader`` imports without torch installed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "aisloader"

PURE = {
    "aisloader._errtext",
    "aisloader.errors",
    "aisloader.config",
    "aisloader.etl",
    "aisloader.ledger",
    "aisloader.padding",
    "aisloader.refs",
    "aisloader.sdkinfo",
    "aisloader.core.batch.entry",
    "aisloader.core.http.checksum",
    "aisloader.core.http.hrw",
    "aisloader.core.http.wire",
    "aisloader.core.listing.manifest",
    "aisloader.core.listing.sources",
    "aisloader.core.stages.shuffle",
    "aisloader.core.streams.order",
    "aisloader.core.streams.shard_cursor",
    "aisloader.core.streams.shard_options",
    "aisloader.core.streams.progress",
    "aisloader.core.streams.state",
    "aisloader.core.tar.gzip",
    "aisloader.core.tar.header",
    "aisloader.core.tar.members",
    "aisloader.core.tar.parser",
    "aisloader.core.tar.samples",
}
"""Rules with no I/O: stdlib computation, msgspec, xxhash and google-crc32c, and other pure
modules."""
PURE_THIRD_PARTY = {"msgspec", "xxhash", "google_crc32c"}
IO_STDLIB = {"asyncio", "socket", "threading", "concurrent", "subprocess", "multiprocessing"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


ALL = {_module_name(p) for p in PKG.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (at any depth, TYPE_CHECKING included), resolved to the
    module itself for ``from package import module``."""
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = (package or _module_name(path)).split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in ALL else base)
    return found


MODULES = {_module_name(p): _imports(p) for p in sorted(PKG.rglob("*.py"))}


def _is(mod: str, *prefixes: str) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def _ours(imported: set[str]) -> set[str]:
    return {m for m in imported if _is(m, "aisloader") and m != "aisloader"}


def test_scan_sees_the_package() -> None:
    """The checks below are not vacuous: the scan finds modules and their imports."""
    assert {"aisloader.core.client", "aisloader.bridge.runtime", "aisloader.torch"} <= set(MODULES)
    assert "aisloader.core.http.session" in MODULES["aisloader.core.client"]
    assert set(MODULES) >= PURE, PURE - set(MODULES)


@pytest.mark.parametrize("name", sorted(PURE))
def test_pure_rules_do_no_io(name: str) -> None:
    for mod in MODULES[name]:
        top = mod.split(".")[0]
        if top == "aisloader":
            assert mod in PURE, f"{name} (pure) imports {mod}, which is not pure"
        else:
            assert top in sys.stdlib_module_names or top in PURE_THIRD_PARTY, (name, mod)
            assert top not in IO_STDLIB, f"{name} (pure) imports {mod}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _is(m, "aisloader.core")))
def test_core_imports_no_upper_layer(name: str) -> None:
    imported = MODULES[name]
    assert not any(_is(m, "torch") for m in imported), f"{name} imports torch"
    upper = ("aisloader.bridge", "aisloader.torch", "aisloader.server", "aisloader.bench")
    bad = {m for m in _ours(imported) if _is(m, *upper, "aisloader.cli", "aisloader.__main__")}
    assert not bad, f"{name} (core) imports an upper layer: {bad}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _is(m, "aisloader.bridge")))
def test_bridge_is_below_the_edges(name: str) -> None:
    imported = MODULES[name]
    assert not any(_is(m, "torch") for m in imported), f"{name} imports torch"
    bad = {m for m in _ours(imported) if _is(m, "aisloader.torch", "aisloader.server")}
    assert not bad, f"{name} (bridge) imports an edge: {bad}"
    if name == "aisloader.bridge.runtime":  # the loop thread knows nothing of AIS
        assert not _ours(imported), f"runtime imports {_ours(imported)}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _is(m, "aisloader.server")))
def test_server_imports_nothing_of_the_client(name: str) -> None:
    bad = {m for m in _ours(MODULES[name]) if not _is(m, "aisloader.server")}
    assert not bad, f"the embedded server must not import client code: {bad}"
    assert not any(_is(m, "torch") for m in MODULES[name])


@pytest.mark.parametrize("name", sorted(m for m in MODULES if _is(m, "aisloader.torch")))
def test_torch_facade_has_no_async_logic(name: str) -> None:
    """Datasets are configuration + a core stream + the bridge: no coroutine, no loop access,
    no second client registry."""
    path = PKG.parent / (
        name.replace(".", "/") + ("/__init__.py" if name == "aisloader.torch" else ".py")
    )
    tree = ast.parse(path.read_text())
    assert not any(isinstance(n, ast.AsyncFunctionDef) for n in ast.walk(tree)), name
    imported = MODULES[name]
    bad = {m for m in imported if _is(m, "asyncio", "anyio", "aiohttp", "aisloader.bridge.runtime")}
    assert not bad, f"{name} reaches the loop directly: {bad}"
    assert not {m for m in _ours(imported) if _is(m, "aisloader.server", "aisloader.bench")}


def test_no_import_cycle() -> None:
    graph = {name: {m for m in _ours(deps) if m in MODULES} for name, deps in MODULES.items()}
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_aisloader_imports_without_torch() -> None:
    """``import aisloader`` (and the server) work where torch is not installed; importing the
    torch facade then fails loudly."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import aisloader, aisloader.server, aisloader.bridge.conn, aisloader.core.streams\n"
        "assert 'torch' not in {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
        "try:\n    import aisloader.torch\nexcept ImportError:\n    print('no-torch-ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no-torch-ok"


def test_init_all_sorted_and_complete() -> None:
    import aisloader

    assert list(aisloader.__all__) == sorted(aisloader.__all__)
    for name in aisloader.__all__:
        assert hasattr(aisloader, name), name
