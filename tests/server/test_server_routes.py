"""Raw HTTP behaviour of the embedded cluster over loopback (aiohttp client, no SDK)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import xxhash
from yarl import URL

from aisloader.server import LocalCluster
from aisloader.server.hrw import digest, owner

Session = aiohttp.ClientSession


async def test_get_redirects_301_to_hrw_owner_with_marker(
    acluster: LocalCluster, session: Session
) -> None:
    acluster.put_object("b", "dir/a b.txt", b"hello")
    url = f"{acluster.endpoint}/v1/objects/b/dir/a%20b.txt?provider=ais"
    async with session.get(url, allow_redirects=False) as r:
        assert r.status == 301
        loc = URL(r.headers["Location"], encoded=True)
    smap = await _smap(session, acluster.endpoint)
    tmap = smap["tmap"]
    want = owner("ais/@#/b/dir/a b.txt", ((t, v["id_digest"]) for t, v in tmap.items()))
    assert f"{loc.scheme}://{loc.host}:{loc.port}" == tmap[want]["public_net"]["direct_url"]
    assert loc.raw_path == "/v1/objects/b/dir/a%20b.txt"
    assert loc.query["provider"] == "ais"
    assert loc.query["pid"] == smap["proxy_si"]["daemon_id"]
    assert loc.query["utm"]
    for method in ("PUT", "HEAD", "DELETE"):
        async with session.request(method, url, allow_redirects=False) as r:
            assert r.status == 307, method
    async with session.get(loc) as r:
        assert r.status == 200
        assert await r.read() == b"hello"
        assert r.headers["Ais-Checksum-Type"] == "xxhash"
        assert r.headers["Ais-Checksum-Value"] == xxhash.xxh64(b"hello").hexdigest()
        assert int(r.headers["Ais-Atime"]) > 0
        assert r.headers["Ais-Version"] == "1"


async def _smap(session: Session, url: str) -> dict:  # type: ignore[type-arg]
    async with session.get(f"{url}/v1/daemon?what=smap") as r:
        assert r.status == 200
        return await r.json()  # type: ignore[no-any-return]


async def test_smap_health_on_every_node(acluster: LocalCluster, session: Session) -> None:
    smap = await _smap(session, acluster.endpoint)
    assert isinstance(smap["version"], str)
    assert set(smap) >= {"pmap", "proxy_si", "tmap", "uuid", "creation_time", "version"}
    for tid, snode in smap["tmap"].items():
        assert tid.startswith("t")
        assert len(tid) == 8
        assert snode["id_digest"] == digest(tid)
        assert snode["daemon_type"] == "target"
        assert snode["public_net"]["direct_url"] in acluster.target_endpoints
    async with session.get(f"{acluster.endpoint}/v1/cluster?what=smap") as r:
        assert (await r.json()) == smap
    for url in [acluster.endpoint, *acluster.target_endpoints]:
        assert await _smap(session, url) == smap
        async with session.get(f"{url}/v1/health") as r:
            assert r.status == 200
            assert int(r.headers["Ais-Node-Uptime"]) >= 0


async def test_direct_target_access_rules(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("b", "o", b"data")
    for t in acluster.target_endpoints:  # any target serves a direct read (shared store)
        async with session.get(f"{t}/v1/objects/b/o?provider=ais") as r:
            assert r.status == 200
            assert await r.read() == b"data"
        async with session.put(f"{t}/v1/objects/b/o", data=b"x") as r:
            assert r.status == 400
            assert "redirected" in (await r.json())["message"]
        async with session.delete(f"{t}/v1/objects/b/o") as r:
            assert r.status == 400


async def test_put_overwrite_delete_and_versions(acluster: LocalCluster, session: Session) -> None:
    ep = acluster.endpoint
    async with session.post(f"{ep}/v1/buckets/b", json={"action": "create-bck"}) as r:
        assert r.status == 200
    for i, data in enumerate([b"one", b"second"]):
        async with session.put(f"{ep}/v1/objects/b/x/y", data=data) as r:
            assert r.status == 200
            assert r.headers["Ais-Version"] == str(i + 1)
            assert r.headers["Ais-Checksum-Value"] == xxhash.xxh64(data).hexdigest()
    async with session.get(f"{ep}/v1/objects/b/x/y") as r:
        assert await r.read() == b"second"
    async with session.delete(f"{ep}/v1/objects/b/x/y") as r:
        assert r.status == 200
    async with session.delete(f"{ep}/v1/objects/b/x/y") as r:
        assert r.status == 404
        assert "ais://b/x/y" in (await r.json())["message"]
    assert not (acluster.root / "data" / "ais" / "@#" / "b" / "x").exists()


async def test_bucket_lifecycle_and_errors(acluster: LocalCluster, session: Session) -> None:
    ep = acluster.endpoint
    create = {"action": "create-bck", "name": "", "value": None}
    async with session.post(f"{ep}/v1/buckets/b1?provider=ais", json=create) as r:
        assert r.status == 200
    async with session.post(f"{ep}/v1/buckets/b1?provider=ais", json=create) as r:
        err = await r.json()
        assert r.status == 409
        assert err["tcode"] == "ErrBucketAlreadyExists"
        assert err["message"] == 'bucket "ais://b1" already exists'
    async with session.head(f"{ep}/v1/buckets/b1") as r:
        assert r.status == 200
        assert json.loads(r.headers["Ais-Bucket-Props"])["provider"] == "ais"
    async with session.head(f"{ep}/v1/buckets/nope") as r:
        assert r.status == 404
        assert json.loads(r.headers["Hdr-Error"])["tcode"] == "ErrBckNotFound"
        assert await r.read() == b""
    acluster.create_bucket("s3b", provider="aws")
    async with session.get(f"{ep}/v1/buckets?provider=ais") as r:
        assert await r.json() == [
            {"name": "b1", "provider": "ais", "namespace": {"uuid": "", "name": ""}}
        ]
    async with session.get(f"{ep}/v1/buckets") as r:
        assert [b["name"] for b in await r.json()] == ["b1", "s3b"]
    async with session.head(f"{ep}/v1/buckets/s3b?provider=s3") as r:
        assert r.status == 200
    async with session.get(f"{ep}/v1/objects/nope/o") as r:
        err = await r.json()
        assert r.status == 404
        assert err["tcode"] == "ErrBckNotFound"
        assert err["message"] == 'bucket "ais://nope" does not exist'
        assert set(err) == {"tcode", "message", "method", "url_path", "remote_addr"} | {
            "caller",
            "node",
            "status",
        }
    destroy = {"action": "destroy-bck", "name": "", "value": None}
    async with session.delete(f"{ep}/v1/buckets/b1", json=destroy) as r:
        assert r.status == 200
    async with session.delete(f"{ep}/v1/buckets/b1", json=destroy) as r:
        assert r.status == 404
        assert '"ais://b1" does not exist' in (await r.json())["message"]
    async with session.post(f"{ep}/v1/buckets/.bad", json=create) as r:
        assert r.status == 400


async def test_range_reads(acluster: LocalCluster, session: Session) -> None:
    data = bytes(range(256)) * 4
    acluster.put_object("b", "r", data)
    url = f"{acluster.endpoint}/v1/objects/b/r"
    for rng, want in [
        ("bytes=0-9", data[:10]),
        ("bytes=1000-", data[1000:]),
        ("bytes=-3", data[-3:]),
    ]:
        async with session.get(url, headers={"Range": rng}) as r:
            assert r.status == 206
            assert await r.read() == want
            start = (
                len(data) - len(want) if rng.startswith("bytes=-") else int(rng[6:].split("-")[0])
            )
            assert r.headers["Content-Range"] == f"bytes {start}-{start + len(want) - 1}/1024"
            assert r.headers["Accept-Ranges"] == "bytes"
    for bad in ["bytes=2000-", "bytes=0-1,5-6", "nonsense"]:
        async with session.get(url, headers={"Range": bad}) as r:
            assert r.status == 416
            assert r.headers["Content-Range"] == "bytes */1024"


async def test_head_object_v1_v2(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("b", "h", b"12345")
    url = f"{acluster.endpoint}/v1/objects/b/h"
    async with session.head(f"{url}?props=name,size", allow_redirects=True) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == "5"
        assert r.headers["Ais-Present"] == "true"
        assert "Ais-Checksum-Value" not in r.headers
    async with session.head(f"{url}?props=checksum,atime,version", allow_redirects=True) as r:
        assert r.headers["Ais-Checksum-Value"] == xxhash.xxh64(b"12345").hexdigest()
        assert "Ais-Atime" in r.headers
        assert r.headers["Ais-Version"] == "1"
    async with session.head(url, allow_redirects=True) as r:
        assert r.headers["Ais-Name"] == "h"
        assert r.headers["Ais-Bucket-Name"] == "b"
    async with session.head(f"{url}?props=cached", allow_redirects=True) as r:
        assert r.status == 400
        assert "Hdr-Error" in r.headers
    async with session.head(f"{url}x?props=name", allow_redirects=True) as r:
        assert r.status == 404
        assert json.loads(r.headers["Hdr-Error"])["status"] == 404


async def test_unsafe_names_never_escape_root(acluster: LocalCluster, session: Session) -> None:
    secret = acluster.root.parent / f"victim-{os.getpid()}"
    secret.write_bytes(b"s3cr3t-bytes")
    try:
        acluster.put_object("b", "ok", b"ok")
        ep, t = acluster.endpoint, acluster.target_endpoints[0]
        up = "/".join([".."] * 8) + str(secret)
        paths = [
            f"/v1/objects/b/..%2F..%2F..%2F{secret.name}",
            f"/v1/objects/b/%2E%2E/%2E%2E/{secret.name}",
            f"/v1/objects/b/{up}",
            "/v1/objects/b/a%00b",
            "/v1/objects/b/" + "x" * 1100,
            "/v1/objects/b/dir/",
            "/v1/objects/b/%2Fetc%2Fpasswd",
        ]
        for base in (ep, t):
            for p in paths:
                async with session.get(URL(base + p, encoded=True)) as r:
                    assert r.status in (400, 404), (base, p)
                    assert b"s3cr3t" not in await r.read()
                async with session.put(
                    URL(base + p + "?pid=p&utm=1", encoded=True), data=b"!"
                ) as r:
                    assert r.status in (400, 404), (base, p)
        assert secret.read_bytes() == b"s3cr3t-bytes"
        files = {p.name for p in Path(acluster.root).rglob("*") if p.is_file()}  # noqa: ASYNC240
        assert files == {"ok"}
    finally:
        secret.unlink()


async def test_list_objects_msgpack_json_and_paging(
    acluster: LocalCluster, session: Session
) -> None:
    for i in range(23):
        acluster.put_object("b", f"p/{i:02d}", b"x" * i)
    acluster.put_object("b", "q/other", b"z")
    url = f"{acluster.endpoint}/v1/buckets/b?provider=ais"
    names, token, uuid, pages = [], "", "", 0
    while True:
        value = {"prefix": "p/", "pagesize": 10, "uuid": uuid, "props": "name,size"}
        body = {"action": "list", "value": value | {"continuation_token": token, "flags": "0"}}
        async with session.get(url, json=body, headers={"Accept": "application/msgpack"}) as r:
            assert r.headers["Content-Type"] == "application/msgpack"
            page = msgspec.msgpack.decode(await r.read())
        assert set(page) == {"UUID", "ContinuationToken", "Entries", "Flags"}
        assert page["UUID"]
        assert not uuid or page["UUID"] == uuid
        uuid, token, pages = page["UUID"], page["ContinuationToken"], pages + 1
        for e in page["Entries"] or []:
            names.append(e["n"])
            assert e["f"] == 64
            assert e.get("s", 0) == int(e["n"][2:])
        if not token:
            break
        assert token == names[-1]
    assert names == [f"p/{i:02d}" for i in range(23)]
    assert pages == 3
    body = {"action": "list", "value": {"prefix": "p/2", "props": "name,size,checksum,version"}}
    async with session.get(url, json=body) as r:
        assert r.headers["Content-Type"].startswith("application/json")
        page = await r.json()
    assert page["uuid"]
    assert page["continuation_token"] == ""
    assert page["entries"][1] == {
        "name": "p/21",
        "size": "21",
        "checksum": xxhash.xxh64(b"x" * 21).hexdigest(),
        "version": "1",
        "flags": 64,
    }


async def test_exactly_full_last_page_ends_with_empty_page(
    acluster: LocalCluster, session: Session
) -> None:
    for i in range(4):
        acluster.put_object("b", f"o{i}", b"")
    url = f"{acluster.endpoint}/v1/buckets/b"
    body: dict[str, Any] = {"action": "list", "value": {"pagesize": 4}}
    async with session.get(url, json=body, headers={"Accept": "application/msgpack"}) as r:
        page = msgspec.msgpack.decode(await r.read())
    assert len(page["Entries"]) == 4
    assert page["ContinuationToken"] == "o3"
    body["value"] |= {"continuation_token": "o3", "uuid": page["UUID"]}
    async with session.get(url, json=body, headers={"Accept": "application/msgpack"}) as r:
        page = msgspec.msgpack.decode(await r.read())
    assert page["Entries"] is None
    assert page["ContinuationToken"] == ""


async def test_listing_index_follows_put_and_delete(
    acluster: LocalCluster, session: Session
) -> None:
    ep = acluster.endpoint

    async def names() -> list[str]:
        async with session.get(f"{ep}/v1/buckets/b", json={"action": "list"}) as r:
            return [e["name"] for e in (await r.json())["entries"]]

    acluster.put_object("b", "m", b"1")
    assert await names() == ["m"]
    async with session.put(f"{ep}/v1/objects/b/a", data=b"2") as r:
        assert r.status == 200
    acluster.put_object("b", "z/z", b"3")
    assert await names() == ["a", "m", "z/z"]
    async with session.delete(f"{ep}/v1/objects/b/m") as r:
        assert r.status == 200
    assert await names() == ["a", "z/z"]


async def test_get_batch_switched_off_is_not_implemented(session: Session) -> None:
    async with LocalCluster(targets=1, get_batch=False) as c:
        for url in (f"{c.endpoint}/v1/ml/moss/b", f"{c.endpoint}/v1/ml/moss"):
            async with session.get(url, json={"in": []}) as r:
                assert r.status == 501
                assert (await r.json())["tcode"] == "ErrNotImpl"


async def test_file_directory_name_conflicts_are_409(
    acluster: LocalCluster, session: Session
) -> None:
    acluster.put_object("b", "a", b"file")
    acluster.put_object("b", "d/x", b"nested")
    for name in ("a/b", "d"):
        async with session.put(f"{acluster.endpoint}/v1/objects/b/{name}", data=b"!") as r:
            assert r.status == 409, name
    async with session.get(f"{acluster.endpoint}/v1/objects/b/a") as r:
        assert await r.read() == b"file"
    assert not os.listdir(acluster.root / "tmp")
