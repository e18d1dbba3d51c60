"""get_batch under faults: cut streams are completed, requests overlap, clusters without
get-batch fall back to GETs, and wrong answers are refused."""

from __future__ import annotations

from typing import Any

import pytest
from _shared import FAST, Overlap, blob, fake_server, put_objects, tar_of
from aiohttp import web

from aisloader.config import ClientConfig
from aisloader.core.batch.entry import BatchEntry
from aisloader.core.client import AsyncClient
from aisloader.errors import BucketNotFound, DataError, IncompleteRead, RangeNotSatisfiable
from aisloader.refs import Bucket, ObjectRef
from aisloader.server import Fault, LocalCluster

from .util import MEMBERS, as_bytes, zip_of

MOSS = "/v1/ml/moss"


def refs(bucket: str, names: list[str]) -> list[ObjectRef]:
    return [ObjectRef(Bucket(bucket), n) for n in names]


@pytest.mark.parametrize("kind", ["truncate", "reset"])
@pytest.mark.parametrize("fmt", [".tar", ".tgz", ".zip"])
@pytest.mark.parametrize("streaming", [True, False])
async def test_cut_answers_are_completed(
    cluster: LocalCluster, bucket: str, client: AsyncClient, kind: str, fmt: str, streaming: bool
) -> None:
    names = list(put_objects(cluster, bucket, 60))
    entries: list[Any] = [*refs(bucket, names), ObjectRef(Bucket(bucket), "missing")]
    cluster.set_faults([Fault(kind, every=2, path_prefix=MOSS)])  # type: ignore[arg-type]
    before = cluster.stats()[f"faults.{kind}"]
    pairs = client.get_batch(entries, batch_size=16, output_format=fmt, streaming=streaming)  # type: ignore[arg-type]
    got = [p async for p in pairs]
    assert as_bytes(got) == [blob(i) for i in range(60)] + ["404"]
    assert cluster.stats()[f"faults.{kind}"] - before >= 2
    assert client.stats.redirects > 4  # cut answers were asked again


async def test_cut_every_time_raises_incomplete_read(cluster: LocalCluster, bucket: str) -> None:
    names = list(put_objects(cluster, bucket, 12))
    cluster.set_faults([Fault("truncate", every=1, path_prefix=MOSS)])
    config = FAST.replace(retry_attempts=3)
    async with AsyncClient(cluster.endpoint, config=config) as client:
        with pytest.raises(IncompleteRead, match="ended before its first member") as info:
            async for _ in client.get_batch(refs(bucket, names), streaming=False):
                pass
    assert "gave up after 3 attempt(s)" in info.value.__notes__


async def test_cut_streams_of_tar_still_progress_every_time(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    """A stream cut half-way each time still brings members: it never stalls."""
    names = list(put_objects(cluster, bucket, 20))
    cluster.set_faults([Fault("truncate", every=1, path_prefix=MOSS)])
    got = [p async for p in client.get_batch(refs(bucket, names), batch_size=20)]
    assert as_bytes(got) == [blob(i) for i in range(20)]
    assert client.stats.errors.get("IncompleteRead", 0) == 0


@pytest.mark.parametrize("streaming", [True, False])
async def test_out_of_bounds_range_raises_its_own_error(
    cluster: LocalCluster, bucket: str, client: AsyncClient, streaming: bool
) -> None:
    cluster.put_object(bucket, "small", b"0123456789")
    cluster.put_object(bucket, "sh.tar", tar_of(MEMBERS))
    for bad in (
        BatchEntry(ObjectRef(Bucket(bucket), "small"), start=8, length=5),
        BatchEntry(ObjectRef(Bucket(bucket), "sh.tar"), archpath="s1.jpg", start=9, length=-1),
    ):
        entries: list[Any] = [ObjectRef(Bucket(bucket), "small"), bad]
        with pytest.raises(RangeNotSatisfiable):
            async for _ in client.get_batch(entries, streaming=streaming):
                pass


@pytest.mark.parametrize(("fmt", "streaming"), [(".zip", True), (".tar", False)])
async def test_answers_read_whole_are_bounded(
    cluster: LocalCluster, bucket: str, fmt: str, streaming: bool
) -> None:
    names = list(put_objects(cluster, bucket, 10))
    config = FAST.replace(max_member_size=4096)
    async with AsyncClient(cluster.endpoint, config=config) as client:
        small = [p async for p in client.get_batch(refs(bucket, names[:2]), streaming=streaming)]
        assert as_bytes(small) == [blob(0), blob(1)]
        with pytest.raises(DataError, match="max_member_size"):
            async for _ in client.get_batch(
                refs(bucket, names),
                output_format=fmt,  # type: ignore[arg-type]
                streaming=streaming,
            ):
                pass


@pytest.mark.parametrize("in_flight", [1, 4])
async def test_batches_overlap_on_the_wire(
    cluster: LocalCluster, bucket: str, in_flight: int
) -> None:
    """4 get-batch requests: one open at the proxy at a time with 1 in flight, all 4 together
    with 4 (a lone request is held 0.2 s, so a second one sent meanwhile would show)."""
    names = list(put_objects(cluster, bucket, 16))
    config = FAST.replace(batches_in_flight=in_flight)
    hold = 0.2 if in_flight == 1 else 5.0
    with Overlap(cluster.endpoint, MOSS, release_at=max(in_flight, 2), hold=hold) as proxy:
        async with AsyncClient(proxy.endpoint, config=config) as client:
            got = [p async for p in client.get_batch(refs(bucket, names), batch_size=4)]
    assert as_bytes(got) == [blob(i) for i in range(16)]
    assert (proxy.served, proxy.peak) == (4, in_flight)


async def test_throttled_and_unavailable_are_retried(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    names = list(put_objects(cluster, bucket, 10))
    cluster.set_faults(
        [
            Fault("status", every=2, status=429, hop="proxy", path_prefix=MOSS),
            Fault("status", every=3, status=503, hop="target", path_prefix=MOSS),
        ]
    )
    got = [p async for p in client.get_batch(refs(bucket, names), batch_size=3)]
    assert as_bytes(got) == [blob(i) for i in range(10)]
    assert client.stats.retries >= 2


@pytest.mark.parametrize("streaming", [True, False])
async def test_fallback_to_gets_without_the_batch_api(
    no_batch_cluster: LocalCluster, streaming: bool
) -> None:
    c, b = no_batch_cluster, "fb"
    names = list(put_objects(c, b, 20))
    c.put_object(b, "r.bin", bytes(range(100)))
    c.put_object(b, "sh.tar", tar_of(MEMBERS))
    c.put_object(b, "sh.zip", zip_of(MEMBERS))
    ref = ObjectRef(Bucket(b), "r.bin")
    shard = ObjectRef(Bucket(b), "sh.tar")
    entries: list[Any] = [
        *refs(b, names),
        BatchEntry(ref, start=10, length=5),
        BatchEntry(ref, start=95, length=-1),
        BatchEntry(shard, archpath="sub/s2.jpg", start=3, length=4),
        BatchEntry(ObjectRef(Bucket(b), "sh.zip"), archpath="s1.jpg"),
        ObjectRef(Bucket(b), "missing"),
        BatchEntry(shard, archpath="nope"),
    ]
    c.set_faults([Fault("latency", every=1, hop="proxy", path_prefix=MOSS)])  # counts them
    before = c.stats()["faults.latency"]
    try:
        async with AsyncClient(c.endpoint, config=FAST) as client:
            got = [p async for p in client.get_batch(entries, batch_size=8, streaming=streaming)]
            assert not client.batch_api_available
            assert client.stats.retries == 0
        asked = c.stats()["faults.latency"] - before
        assert 1 <= asked <= FAST.batches_in_flight  # of 4 chunks: the answer is remembered
    finally:
        c.clear_faults()
    assert as_bytes(got) == [
        *(blob(i) for i in range(20)),
        bytes(range(10, 15)),
        bytes(range(95, 100)),
        MEMBERS["sub/s2.jpg"][3:7],
        b"hello",
        "404",
        "404",
    ]


def _moss_answer(status: int, body: bytes, ctype: str = "application/x-tar") -> web.RouteDef:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=body, content_type=ctype)

    return web.get("/v1/ml/moss", handler)


async def _drain(endpoint: str, entries: list[Any]) -> list[Any]:
    config = FAST.replace(retry_attempts=2)
    async with AsyncClient(endpoint, config=config) as client:
        return [p async for p in client.get_batch(entries)]


@pytest.mark.parametrize(
    ("members", "text"),
    [
        ([("b/other", b"x")], "answered member 'b/other' where 'b/o' "),
        ([("__404__/b/o", b"not empty")], "answered member '__404__/b/o'"),
        ([("b/o", b"1"), ("b/o", b"2")], "more members than requested"),
    ],
)
async def test_answers_that_do_not_match_the_request_are_refused(
    members: list[tuple[str, bytes]], text: str
) -> None:
    async with fake_server([_moss_answer(200, tar_of(members))]) as endpoint:
        with pytest.raises(DataError, match=text):
            await _drain(endpoint, ["ais://b/o"])


async def test_a_bucket_error_is_not_taken_for_a_missing_api() -> None:
    err = b'{"message":"bucket ais://nb does not exist","status":404,"tcode":"ErrBckNotFound"}'
    async with fake_server([_moss_answer(404, err, "application/json")]) as endpoint:
        with pytest.raises(BucketNotFound):
            await _drain(endpoint, ["ais://nb/o"])


async def test_an_unknown_route_means_no_batch_api() -> None:
    async def obj(request: web.Request) -> web.Response:
        return web.Response(body=request.match_info["name"].encode())

    routes = [
        _moss_answer(404, b"404 page not found", "text/plain"),
        web.get("/v1/objects/b/{name}", obj),
    ]
    async with fake_server(routes) as endpoint:
        assert as_bytes(await _drain(endpoint, ["ais://b/o1", "ais://b/o2"])) == [b"o1", b"o2"]


def test_config_bounds_in_flight() -> None:
    with pytest.raises(ValueError, match="batches_in_flight"):
        ClientConfig(batches_in_flight=0)
