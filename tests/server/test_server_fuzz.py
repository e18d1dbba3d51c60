"""Fuzz every route of the embedded cluster over real HTTP: no answer is a 5xx, nothing is
written outside the store root.

Hypothesis builds odd paths (``..``, ``%2e%2e``, ``%2F``, ``%00``, long and unicode names,
empty segments), odd queries (unknown, repeated, huge, non-ASCII) and bad bodies (non-JSON,
deep JSON, wrong types, huge numbers). Redirects are followed by hand, so each example checks
the proxy's answer and the target's. After each example the directory holding the store root
must look as before, apart from the fuzzed bucket's own contents and the store's ``tmp/``;
the store's path resolution is also fuzzed directly, with a symlink out of the bucket.
Examples are derandomized so CI sees the same inputs on every run; the counts keep the file
well under 30 s on two busy cores.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from aisloader.server import LocalCluster
from aisloader.server.errors import EmuError
from aisloader.server.names import BucketId
from aisloader.server.store import Store

from . import fuzzgen as g

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
Headers = dict[str, str]
Answers = list[tuple[int, str]]


@dataclass
class Fuzz:
    """The module's cluster, its own loop and client session, and the files around its root."""

    cluster: LocalCluster
    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession
    base: Path
    before: set[str]

    def send(self, method: str, target: str, body: bytes | None, headers: Headers) -> Answers:
        """``(status, error text)`` of one request: the proxy's, then the redirect's (if any)."""
        return self.loop.run_until_complete(self._send(method, target, body, headers))

    async def _send(self, method: str, target: str, body: bytes | None, h: Headers) -> Answers:
        url, answers = self.cluster.endpoint + target, []
        for _ in range(2):
            req = URL(url, encoded=True)
            kw: dict[str, Any] = {"data": body, "headers": h, "allow_redirects": False}
            async with self.session.request(method, req, **kw) as r:
                data = b""
                with suppress(aiohttp.ClientPayloadError):  # a cut get-batch stream, as AIS
                    data = await r.read()
                head = r.headers.get("Hdr-Error", "")
                answers.append((r.status, head if method == "HEAD" else data.decode("latin-1")))
                if r.status not in (301, 307):
                    break
                url = r.headers["Location"]
        return answers

    def check(self, method: str, target: str, body: bytes | None, headers: Headers) -> None:
        """Send, then assert no 5xx (but AIS features not emulated: 501 ErrNotImpl) and no
        file created or removed outside the bucket."""
        for status, text in self.send(method, target, body, headers):
            ok = status < 500 or (status == 501 and '"tcode":"ErrNotImpl"' in text)
            assert ok, (status, text, method, target, body, headers)
        assert _snapshot(self.base) == self.before, (method, target)


def _snapshot(base: Path) -> set[str]:
    """Every path under ``base`` except inside the fuzzed bucket and the store's ``tmp/``."""
    skip = {base / "root" / "tmp", base / "root" / "data" / "ais" / "@#" / g.BUCKET}
    out: set[str] = set()
    stack = [base]
    while stack:
        for p in stack.pop().iterdir():
            out.add(str(p.relative_to(base)))
            if p.is_dir() and not p.is_symlink() and p not in skip:
                stack.append(p)
    return out


@pytest.fixture(scope="module")
def fz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    base = tmp_path_factory.mktemp("fuzz")
    (base / "outside").mkdir()
    (base / "outside" / "canary").write_bytes(b"must stay alone")
    loop = asyncio.new_event_loop()
    with LocalCluster(root=base / "root", targets=2) as c:
        for name, data in g.OBJECTS.items():
            c.put_object(g.BUCKET, name, data)
        session = loop.run_until_complete(_session())
        try:
            yield Fuzz(c, loop, session, base, _snapshot(base))
        finally:
            loop.run_until_complete(session.close())
            loop.close()


async def _session() -> aiohttp.ClientSession:
    """A session that reads redirects as long as the nodes accept requests (64 KiB lines)."""
    big = 1 << 17
    timeout = aiohttp.ClientTimeout(total=30)
    return aiohttp.ClientSession(timeout=timeout, max_line_size=big, max_field_size=big)


@settings(FUZZ, max_examples=120)
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "DELETE"]),
    path=g.object_paths(),
    query=g.queries(),
    rng=st.none() | g.ranges(),
    data=st.binary(max_size=64),
)
def test_object_routes(
    fz: Fuzz, method: str, path: str, query: str, rng: str | None, data: bytes
) -> None:
    headers = {"Range": rng} if rng is not None else {}
    fz.check(method, path + query, data if method == "PUT" else None, headers)


@FUZZ
@given(route=st.sampled_from(g.JSON_ROUTES), query=g.queries(), body=g.bodies())
def test_json_routes(fz: Fuzz, route: tuple[str, str], query: str, body: bytes) -> None:
    method, path = route
    headers = {"Accept": "application/msgpack", "Content-Type": "application/json"}
    try:
        fz.check(method, path + query, body, headers)
    finally:
        fz.cluster.clear_faults()  # a body that parsed as rules must not fault later examples


@FUZZ
@given(req=g.batch_requests(), coloc=st.none() | g.colocs(), where=st.sampled_from(["", "/fz"]))
def test_get_batch(fz: Fuzz, req: dict[str, object], coloc: str | None, where: str) -> None:
    query = "" if coloc is None else f"?coloc={g.quote(coloc)}"
    body = json.dumps(req).encode()
    fz.check("GET", f"/v1/ml/moss{where}{query}", body, {"Content-Type": "application/json"})


@settings(FUZZ, max_examples=50)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=g.any_paths(),
    query=g.queries(),
)
def test_any_path(fz: Fuzz, method: str, path: str, query: str) -> None:
    if method == "DELETE" and URL(path, encoded=True).path == f"/v1/buckets/{g.BUCKET}":
        path += "-not"  # an empty DELETE destroys the bucket: legal, but it ends the fuzzing
    fz.check(method, path + query, None, {})


@pytest.fixture(scope="module")
def linked_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, BucketId, Path]:
    """A store whose bucket holds a symlink to a directory outside the store."""
    base = tmp_path_factory.mktemp("paths")
    (base / "outside").mkdir()
    store, b = Store(base / "root"), BucketId(g.BUCKET)
    store.create_bucket(b)
    bdir = store.bucket_dir(b)
    (bdir / "link").symlink_to(base / "outside", target_is_directory=True)
    return store, b, bdir


@settings(FUZZ, max_examples=100)
@given(name=g.store_names())
def test_store_paths_stay_in_the_bucket(
    linked_store: tuple[Store, BucketId, Path], name: str
) -> None:
    store, b, bdir = linked_store
    try:
        path = store.object_path(b, name)
    except EmuError as e:
        status = e.status
    else:
        status = 200
    if status != 200:
        assert status == 400
        return
    assert os.path.realpath(path).startswith(f"{bdir}{os.sep}"), name
    assert all(0 < len(part.encode()) <= 255 for part in name.split("/")), name
