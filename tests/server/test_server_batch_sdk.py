"""Get-batch with the official SDK (2.0.0): both modes, all formats, errors, its batch dataset."""

from __future__ import annotations

import pytest
from aistore.pytorch.batch_iter_dataset import AISBatchIterDataset
from aistore.sdk import Client
from aistore.sdk.errors import AISError, ErrObjNotFound

from aisloader.server import LocalCluster

from .archives import MEMBERS, make_tar, make_zip

B, B2 = "gb1", "gb2"
RANGED = bytes(range(100))


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Client:
    cluster.put_object(B, "a.txt", b"alpha")
    cluster.put_object(B, "dir/r.bin", RANGED)
    cluster.put_object(B, "sh.tar", make_tar(MEMBERS))
    cluster.put_object(B, "sh.tgz", make_tar(MEMBERS, gz=True))
    cluster.put_object(B, "sh.zip", make_zip(MEMBERS))
    cluster.put_object(B2, "x", b"xray")
    for i in range(5):
        cluster.put_object("gbds", f"s/{i:02d}", f"sample-{i}".encode())
    return Client(cluster.endpoint)


EXPECTED = [
    ("a.txt", None, b"alpha"),
    ("dir/r.bin", None, RANGED[10:15]),
    ("sh.tar", "s1.jpg", b"hello"),
    ("sh.zip", "sub/s2.jpg", b"world"),
    ("sh.tgz", "s2.cls", b"2"),
    ("x", None, b"xray"),
    ("a.txt", None, b"alpha"),
]


@pytest.mark.parametrize("streaming", [True, False])
@pytest.mark.parametrize("fmt", [".tar", ".tgz", ".tar.gz", ".zip"])
def test_every_entry_kind(client: Client, fmt: str, streaming: bool) -> None:
    bucket = client.bucket(B)
    batch = client.batch(bucket=bucket, output_format=fmt, streaming_get=streaming)
    batch.add("a.txt")
    batch.add("dir/r.bin", start=10, length=5)
    batch.add("sh.tar", archpath="s1.jpg", opaque=b"id-7")
    batch.add("sh.zip", archpath="sub/s2.jpg")
    batch.add("sh.tgz", archpath="s2.cls", start=1, length=-1)
    batch.add("x", bck=B2, provider="ais")
    batch.add(bucket.object("a.txt"))
    got = list(batch.get())
    assert [(o.obj_name, o.archpath or None, data) for o, data in got] == EXPECTED
    assert [o.bucket for o, _ in got] == [B] * 5 + [B2, B]
    assert got[2][0].opaque == b"id-7"
    assert all(not o.err_msg for o, _ in got)
    if not streaming:  # sizes come from the server's MossResp
        assert [o.size for o, _ in got] == [len(d) for *_, d in EXPECTED]


@pytest.mark.parametrize("streaming", [True, False])
def test_missing_items_with_cont_on_err(client: Client, streaming: bool) -> None:
    bucket = client.bucket(B)
    batch = client.batch(bucket=bucket, streaming_get=streaming, cont_on_err=True)
    batch.add("a.txt")
    batch.add("nope")
    batch.add("sh.tar", archpath="no-such-member")
    batch.add("y", bck="no-such-bucket", provider="ais")
    batch.add("x", bck=B2, provider="ais")
    got = list(batch.get())
    assert [d for _, d in got] == [b"alpha", b"", b"", b"", b"xray"]
    assert [bool(o.err_msg) for o, _ in got] == [False, True, True, True, False]
    if not streaming:
        assert "ais://gb1/nope does not exist" in (got[1][0].err_msg or "")


def test_only_obj_name_and_objects_without_bucket(client: Client) -> None:
    objs = [client.bucket(B).object("a.txt"), client.bucket(B2).object("x")]
    batch = client.batch(objects=objs, only_obj_name=True, streaming_get=False)
    assert [(o.obj_name, d) for o, d in batch.get()] == [("a.txt", b"alpha"), ("x", b"xray")]


def test_missing_without_cont_on_err_is_an_error(client: Client) -> None:
    bucket = client.bucket(B)
    batch = client.batch(["a.txt", "nope"], bucket, cont_on_err=False, streaming_get=False)
    with pytest.raises(ErrObjNotFound):
        list(batch.get())
    with pytest.raises(AISError) as ei:  # a missing entry bucket: 404 at the proxy
        client.batch(["o"], bucket=client.bucket("no-such-bucket")).get()
    assert ei.value.status_code == 404


@pytest.mark.parametrize("streaming", [True, False])
def test_pytorch_batch_iter_dataset(client: Client, streaming: bool) -> None:
    ds = AISBatchIterDataset(client.bucket("gbds"), client, max_batch_size=2, streaming=streaming)
    got = sorted(ds)
    assert got == [(f"s/{i:02d}", f"sample-{i}".encode()) for i in range(5)]
