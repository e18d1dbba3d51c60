"""The import arrows of STYLE.md, enforced by an AST scan of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "aisloader"
PURE = {
    "aisloader.errors",
    "aisloader.config",
    "aisloader.refs",
    "aisloader.core.order",
    "aisloader.core.tar",
    "aisloader.core.tarhdr",
    "aisloader.core.samples",
    "aisloader.core.mixing",
}


def _modules() -> list[tuple[str, set[str]]]:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
        out.append((name, imported))
    return out


MODULES = _modules()


def _is(mod: str, *prefixes: str) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(("name", "imported"), MODULES, ids=[m for m, _ in MODULES])
def test_import_arrows(name: str, imported: set[str]) -> None:
    ours = {m for m in imported if _is(m, "aisloader")}
    if not _is(name, "aisloader.torch", "aisloader.bench"):
        assert not any(_is(m, "torch") for m in imported), f"{name} imports torch"
    if _is(name, "aisloader.server"):
        bad = {m for m in ours if not _is(m, "aisloader.server")}
        assert not bad, f"the embedded server must not import client code: {bad}"
    if name in PURE or _is(name, "aisloader.core"):
        bad = {
            m
            for m in ours
            if _is(m, "aisloader.runtime", "aisloader.client", "aisloader.torch")
            or _is(m, "aisloader.server", "aisloader.bench", "aisloader.cli")
        }
        assert not bad, f"{name} (pure/core) imports an upper layer: {bad}"
    if name in PURE:
        assert not any(_is(m, "aiohttp", "anyio") for m in imported), f"{name} must stay pure"
    if _is(name, "aisloader.runtime"):
        assert not any(_is(m, "aisloader.core", "aisloader.torch") for m in ours)


def test_init_imports_no_torch_and_all_sorted() -> None:
    import aisloader

    assert list(aisloader.__all__) == sorted(aisloader.__all__)
    for name in aisloader.__all__:
        assert hasattr(aisloader, name), name
