"""Inline ETL (``GET ...?etl_name=``) on the embedded cluster: the official SDK and raw HTTP."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from typing import Any

import aiohttp
import pytest
from aistore.sdk import Client
from aistore.sdk.archive_config import ArchiveConfig
from aistore.sdk.errors import ErrETLNotFound
from aistore.sdk.etl.etl_config import ETLConfig

from aisloader.server import EtlArgsError, Fault, LocalCluster

DATA = b"Hello, ETL world!\n"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by `_get` itself: urllib would turn HEAD into GET and drop bodies."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Client:
    return Client(cluster.endpoint)


def _get(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, Message, bytes]:
    """One request with urllib, redirects re-sent as they came (same method, headers and body):
    the final status, headers and body."""
    for _ in range(3):
        req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
        try:
            with _OPENER.open(req, timeout=10) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            with e:
                if e.code not in (301, 307):
                    return e.code, e.headers, e.read()
                url = e.headers["Location"]
    raise AssertionError(f"too many redirects for {method} {url}")


def _url(c: LocalCluster, bucket: str, obj: str, **query: str) -> str:
    q = urllib.parse.urlencode({"provider": "ais", **query})
    return f"{c.endpoint}/v1/objects/{bucket}/{urllib.parse.quote(obj)}?{q}"


def _error(body: bytes) -> dict[str, Any]:
    err: dict[str, Any] = json.loads(body)
    assert set(err) >= {"message", "method", "url_path", "node", "status"}
    return err


def _tar(members: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_builtin_etls_through_sdk(cluster: LocalCluster, client: Client, bucket: str) -> None:
    cluster.put_object(bucket, "dir/o 1.txt", DATA)
    obj = client.bucket(bucket).object("dir/o 1.txt")
    assert obj.get_reader(etl=ETLConfig("echo")).read_all() == DATA
    assert obj.get_reader(etl=ETLConfig("upper")).read_all() == DATA.upper()
    assert obj.get_reader(etl=ETLConfig("md5")).read_all() == hashlib.md5(DATA).hexdigest().encode()
    assert obj.get_reader(etl=ETLConfig("prefix", args="x-")).read_all() == b"x-" + DATA
    odd = "a b&c=d/%+é"  # the proxy's redirect carries the query on unchanged
    assert obj.get_reader(etl=ETLConfig("prefix", args=odd)).read_all() == odd.encode() + DATA
    assert obj.get_reader().read_all() == DATA


def test_registered_etl_then_unregistered(
    cluster: LocalCluster, client: Client, bucket: str
) -> None:
    seen: list[str | None] = []

    def rev(data: bytes, args: str | None) -> bytes:
        seen.append(args)
        return data[::-1]

    cluster.put_object(bucket, "o", DATA)
    obj = client.bucket(bucket).object("o")
    cluster.register_etl("rev-1", rev)
    try:
        assert obj.get_reader(etl=ETLConfig("rev-1")).read_all() == DATA[::-1]
        assert obj.get_reader(etl=ETLConfig("rev-1", args={"k": 1})).read_all() == DATA[::-1]
        assert seen == [None, '{"k":1}']
        with pytest.raises(ValueError, match="already registered"):
            cluster.register_etl("rev-1", rev)
    finally:
        cluster.unregister_etl("rev-1")
    with pytest.raises(ErrETLNotFound):
        obj.get_reader(etl=ETLConfig("rev-1")).read_all()
    with pytest.raises(KeyError):
        cluster.unregister_etl("rev-1")


@pytest.mark.parametrize("name", ["", "Upper", "-x", "a_b", "a.b", "a" * 33, "é"])
def test_register_rejects_invalid_names(cluster: LocalCluster, name: str) -> None:
    with pytest.raises(ValueError, match="invalid ETL name"):
        cluster.register_etl(name, lambda d, a: d)


def test_register_rejects_non_callable(cluster: LocalCluster) -> None:
    with pytest.raises(TypeError):
        cluster.register_etl("not-callable", b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize(("obj", "mode"), [("sh.tar", "w"), ("sh.tgz", "w:gz")])
def test_archive_member_through_etl(
    cluster: LocalCluster, client: Client, bucket: str, obj: str, mode: str
) -> None:
    cluster.put_object(bucket, obj, _tar({"a/x.txt": b"member x", "y.cls": b"7"}, mode))
    o = client.bucket(bucket).object(obj)
    arch = ArchiveConfig(archpath="a/x.txt")
    assert o.get_reader(archive_config=arch, etl=ETLConfig("upper")).read_all() == b"MEMBER X"
    got = o.get_reader(archive_config=ArchiveConfig(archpath="y.cls"), etl=ETLConfig("md5"))
    assert got.read_all() == hashlib.md5(b"7").hexdigest().encode()


def test_unknown_etl_is_404_etl_not_found(
    cluster: LocalCluster, client: Client, bucket: str
) -> None:
    cluster.put_object(bucket, "o", DATA)
    with pytest.raises(ErrETLNotFound, match=r"etl job .*no-such-etl") as ei:
        client.bucket(bucket).object("o").get_reader(etl=ETLConfig("no-such-etl")).read_all()
    assert ei.value.status_code == 404
    status, headers, body = _get(_url(cluster, bucket, "o", etl_name="no-such-etl"))
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    err = _error(body)
    assert err["tcode"] == "ErrNotFound"
    assert err["status"] == 404
    assert 'etl job "no-such-etl" does not exist' in err["message"]
    assert err["node"].startswith("t[")  # answered by the target, after the redirect


def test_etl_response_headers(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "o", DATA)
    status, headers, body = _get(_url(cluster, bucket, "o", etl_name="md5"))
    assert status == 200
    assert body == hashlib.md5(DATA).hexdigest().encode()
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == "32"
    assert headers["Ais-Version"] == "1"
    assert not [h for h in headers if h.lower().startswith("ais-checksum")]
    status, headers, body = _get(_url(cluster, bucket, "o", etl_name=""))  # empty: no ETL
    assert (status, body) == (200, DATA)
    assert headers["Ais-Checksum-Type"] == "xxhash"


def test_large_object_through_etl(cluster: LocalCluster, client: Client, bucket: str) -> None:
    big = bytes(range(97, 123)) * 50_000  # 1.3 MB: read in a thread, sent streamed
    cluster.put_object(bucket, "big", big)
    obj = client.bucket(bucket).object("big")
    assert obj.get_reader(etl=ETLConfig("upper")).read_all() == big.upper()
    assert obj.get_reader(etl=ETLConfig("md5")).read_all() == hashlib.md5(big).hexdigest().encode()


def test_range_with_etl_is_400(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "o", DATA)
    status, _, body = _get(
        _url(cluster, bucket, "o", etl_name="echo"), headers={"Range": "bytes=0-3"}
    )
    assert status == 400
    err = _error(body)
    assert "cannot be combined with a Range header" in err["message"]
    assert f"ais://{bucket}/o" in err["message"]
    status, _, body = _get(_url(cluster, bucket, "o"), headers={"Range": "bytes=0-3"})
    assert (status, body) == (206, DATA[:4])


def test_failing_etl_is_500_naming_etl_and_object(cluster: LocalCluster, bucket: str) -> None:
    def boom(data: bytes, args: str | None) -> bytes:
        raise RuntimeError("kaput")

    cluster.put_object(bucket, "o", DATA)
    before = cluster.stats()
    cluster.register_etl("boom", boom)
    try:
        status, _, body = _get(_url(cluster, bucket, "o", etl_name="boom"))
    finally:
        cluster.unregister_etl("boom")
    assert status == 500
    msg = _error(body)["message"]
    assert 'etl job "boom"' in msg
    assert f"ais://{bucket}/o" in msg
    assert "RuntimeError: kaput" in msg
    after = cluster.stats()
    assert after["etl.errors"] == before["etl.errors"] + 1
    assert after["etl.calls"] == before["etl.calls"]


def test_bad_etl_args_is_400(cluster: LocalCluster, bucket: str) -> None:
    def strict(data: bytes, args: str | None) -> bytes:
        raise EtlArgsError(f"bad args {args!r}")

    cluster.put_object(bucket, "o", DATA)
    status, _, body = _get(_url(cluster, bucket, "o", etl_name="prefix"))  # prefix needs args
    assert status == 400
    assert 'etl job "prefix"' in _error(body)["message"]
    cluster.register_etl("strict", strict)
    try:
        status, _, body = _get(_url(cluster, bucket, "o", etl_name="strict", etl_args="z"))
    finally:
        cluster.unregister_etl("strict")
    assert status == 400
    assert "bad args 'z'" in _error(body)["message"]


def test_etl_pipeline_is_501(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "o", DATA)
    url = _url(cluster, bucket, "o", etl_name="echo", etl_pipeline="upper")
    status, _, body = _get(url)
    assert status == 501
    assert _error(body)["tcode"] == "ErrNotImpl"


def test_head_ignores_etl(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "o", DATA)
    for name in ("md5", "no-such-etl"):
        status, headers, body = _get(_url(cluster, bucket, "o", etl_name=name), method="HEAD")
        assert status == 200
        assert headers["Content-Length"] == str(len(DATA))
        assert headers["Ais-Checksum-Type"] == "xxhash"
        assert body == b""


def test_get_batch_refuses_etl(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "o", DATA)
    body = json.dumps({"in": [{"objname": "o"}], "mime": ".tar", "strm": True}).encode()
    hdrs = {"Content-Type": "application/json"}
    for base in (cluster.endpoint, cluster.target_endpoints[0]):
        url = f"{base}/v1/ml/moss/{bucket}?provider=ais&etl_name=md5"
        status, _, out = _get(url, headers=hdrs, data=body)
        assert status == 400, base
        assert "get-batch (/v1/ml/moss) does not apply ETL" in _error(out)["message"]
    url = f"{cluster.endpoint}/v1/ml/moss/{bucket}?provider=ais&etl_name="  # empty: no ETL
    status, _, out = _get(url, headers=hdrs, data=body)
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(out)) as tf:
        members = tf.getmembers()
        assert [m.name for m in members] == [f"{bucket}/o"]
        assert tf.extractfile(members[0]).read() == DATA  # type: ignore[union-attr]


def test_etl_calls_counter(cluster: LocalCluster, client: Client, bucket: str) -> None:
    cluster.put_object(bucket, "o", DATA)
    obj = client.bucket(bucket).object("o")
    before = cluster.stats()["etl.calls"]
    for name in ("echo", "upper", "md5"):
        obj.get_reader(etl=ETLConfig(name)).read_all()
    obj.get_reader().read_all()
    obj.head()
    assert cluster.stats()["etl.calls"] == before + 3


async def test_body_fault_applies_to_etl_output(
    acluster: LocalCluster, session: aiohttp.ClientSession
) -> None:
    acluster.put_object("b", "t", b"t" * 1000)
    acluster.register_etl("twice", lambda data, args: data * 2)  # a fresh cluster: no cleanup
    acluster.set_faults([Fault("truncate", every=1, hop="target")])
    async with session.get(f"{acluster.endpoint}/v1/objects/b/t?etl_name=twice") as r:
        assert r.status == 200
        assert r.content_length == 2000
        with pytest.raises(aiohttp.ClientPayloadError, match="content length"):
            await r.read()
    stats = acluster.stats()
    assert (stats["faults.truncate"], stats["etl.calls"]) == (1, 1)
