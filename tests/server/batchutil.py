"""Shared helpers for the get-batch tests: fixture objects, request bodies, archive readers."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import zipfile
from typing import Any

import aiohttp

from aisloader.server import LocalCluster

from .archives import MEMBERS, make_tar, make_zip

Session = aiohttp.ClientSession
Members = list[tuple[str, bytes]]
B = "mb"
OPAQUE = b"\xfb\xff\x00id"  # standard base64 "+/8AaWQ=": differs from urlsafe
RANGED = bytes(range(200))


def populate(cluster: LocalCluster) -> None:
    """Put the objects the get-batch tests read."""
    cluster.put_object(B, "a", b"alpha")
    cluster.put_object(B, "d/r.bin", RANGED)
    cluster.put_object(B, "sh.tar", make_tar(MEMBERS))
    cluster.put_object(B, "sh.tgz", make_tar(MEMBERS, gz=True))
    cluster.put_object(B, "sh.zip", make_zip(MEMBERS))
    cluster.put_object("mb2", "x", b"xray")


def batch_body(entries: list[dict[str, Any]], **kw: Any) -> bytes:
    return json.dumps({"in": entries, "mime": ".tar", "coer": False, "strm": True} | kw).encode()


def batch_url(c: LocalCluster, bucket: str | None = B, query: str = "provider=ais") -> str:
    path = f"/v1/ml/moss/{bucket}" if bucket else "/v1/ml/moss"
    return f"{c.endpoint}{path}{'?' + query if query else ''}"


async def batch_get(s: Session, url: str, body: bytes, **kw: Any) -> aiohttp.ClientResponse:
    return await s.get(url, data=body, headers={"Content-Type": "application/json"}, **kw)


def untar(blob: bytes) -> Members:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|*") as tf:
        return [(t.name, tf.extractfile(t).read()) for t in tf]  # type: ignore[union-attr]


def unzip(blob: bytes) -> Members:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


async def buffered(s: Session, url: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    async with await batch_get(s, url, body) as r:
        assert r.status == 200, await r.text()
        ctype = r.headers["Content-Type"]
        assert ctype.startswith("multipart/mixed; boundary=")
        assert len(ctype.split("=", 1)[1]) == 60
        reader = aiohttp.MultipartReader.from_response(r)
        meta_part = await reader.next()
        assert isinstance(meta_part, aiohttp.BodyPartReader)
        assert meta_part.name == "metadata"
        raw = await meta_part.read()
        assert raw.endswith(b"\n")
        arch = await reader.next()
        assert isinstance(arch, aiohttp.BodyPartReader)
        assert arch.name == "archive"
        assert arch.headers["Content-Type"] == "application/octet-stream"
        blob = bytes(await arch.read())
        assert await reader.next() is None
        return json.loads(raw), blob


ENTRIES: list[dict[str, Any]] = [
    {"objname": "a"},
    {"objname": "d/r.bin", "start": 190, "length": -1},
    {"objname": "sh.tar", "archpath": "sub/s2.jpg", "opaque": base64.b64encode(OPAQUE).decode()},
    {"objname": "sh.zip", "archpath": "/s1.jpg", "start": 1, "length": 3},
    {"objname": "sh.tgz", "archpath": "sh.tgz/s2.cls"},
    {"objname": "x", "bucket": "mb2", "provider": "ais"},
    {"objname": "a"},
]
WANT: Members = [
    (f"{B}/a", b"alpha"),
    (f"{B}/d/r.bin", RANGED[190:]),
    (f"{B}/sh.tar/sub/s2.jpg", b"world"),
    (f"{B}/sh.zip/s1.jpg", b"ell"),
    (f"{B}/sh.tgz/sh.tgz/s2.cls", b"22"),
    ("mb2/x", b"xray"),
    (f"{B}/a", b"alpha"),
]
