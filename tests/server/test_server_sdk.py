"""The official ``aistore`` SDK (2.0.0) and its PyTorch datasets against the embedded cluster."""

from __future__ import annotations

import io
import tarfile

import pytest
from aistore.pytorch import AISIterDataset, AISMapDataset, AISShardReader
from aistore.sdk import Client
from aistore.sdk.archive_config import ArchiveConfig
from aistore.sdk.errors import AISError, ErrBckNotFound, ErrObjNotFound
from aistore.sdk.list_object_flag import ListObjectFlag

from aisloader.server import LocalCluster

from .archives import MEMBERS, make_tar, make_zip


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Client:
    return Client(cluster.endpoint)


def test_bucket_create_put_list_get(client: Client) -> None:
    b = client.bucket("sdk1")
    b.create(exist_ok=True)
    b.create(exist_ok=True)
    names = [f"dir/{i:03d} x+y%.bin" for i in range(25)]
    for i, n in enumerate(names):
        b.object(n).get_writer().put_content(n.encode() * (i + 1))
    b.object("other").get_writer().put_content(b"o")
    assert [e.name for e in b.list_all_objects_iter(prefix="dir/")] == names
    paged = list(b.list_objects_iter(prefix="dir/", page_size=7))
    assert [e.name for e in paged] == names
    assert [e.size for e in paged] == [len(n) * (i + 1) for i, n in enumerate(names)]
    assert len(b.list_all_objects(prefix="dir/", page_size=4)) == 25
    assert b.object(names[3]).get_reader().read_all() == names[3].encode() * 4
    assert b.object(names[4]).get_reader(direct=True).read_all() == names[4].encode() * 5
    props = b.object(names[2]).head()
    assert props.size == len(names[2]) * 3
    assert props.present
    assert b.object(names[2]).get_reader(byte_range="bytes=0-2").read_all() == names[2][:3].encode()


def test_sdk_errors(client: Client) -> None:
    b = client.bucket("sdk2")
    b.create(exist_ok=True)
    with pytest.raises(ErrObjNotFound):
        b.object("missing").get_reader().read_all()
    with pytest.raises(ErrBckNotFound):
        client.bucket("no-such-bucket").object("x").get_reader().read_all()
    with pytest.raises(ErrObjNotFound):
        b.object("missing").delete()
    with pytest.raises(AISError) as ei:
        b.object("missing").head()
    assert ei.value.status_code == 404
    b.object("gone").get_writer().put_content(b"1")
    b.object("gone").delete()
    b.delete()
    with pytest.raises(ErrBckNotFound):
        b.delete()
    b.delete(missing_ok=True)


@pytest.mark.parametrize(
    ("shard", "data"),
    [
        ("shards/a.tar", make_tar(MEMBERS)),
        ("shards/b.tgz", make_tar(MEMBERS, gz=True)),
        ("shards/c.tar.gz", make_tar(MEMBERS, gz=True)),
        ("shards/d.zip", make_zip(MEMBERS)),
    ],
)
def test_archives(client: Client, shard: str, data: bytes) -> None:
    b = client.bucket("arch")
    b.create(exist_ok=True)
    b.object(shard).get_writer().put_content(data)
    got = [
        (e.name, e.size, e.flags)
        for e in b.list_objects_iter(prefix=shard, props="name", flags=[ListObjectFlag.ARCH_DIR])
    ]
    members = sorted(MEMBERS)
    assert got == [(shard, 0, 576)] + [(f"{shard}/{m}", len(MEMBERS[m]), 192) for m in members]
    obj = b.object(shard)
    for m in members:
        for path in (m, "/" + m, f"{shard}/{m}"):
            got_bytes = obj.get_reader(archive_config=ArchiveConfig(archpath=path)).read_all()
            assert got_bytes == MEMBERS[m]
    with pytest.raises(ErrObjNotFound):
        obj.get_reader(archive_config=ArchiveConfig(archpath="nope.jpg")).read_all()


def test_pytorch_datasets(client: Client, cluster: LocalCluster) -> None:
    for i in range(6):
        cluster.put_object("torch", f"img/{i}.bin", bytes([i]) * (i + 1))
    b = client.bucket("torch")
    mapped = AISMapDataset(ais_source_list=[b], prefix_map={b: "img/"})
    assert len(mapped) == 6
    assert [mapped[i] for i in range(6)] == [
        (f"img/{i}.bin", bytes([i]) * (i + 1)) for i in range(6)
    ]
    it = list(AISIterDataset(ais_source_list=[b], prefix_map={b: "img/"}))
    assert it == [(f"img/{i}.bin", bytes([i]) * (i + 1)) for i in range(6)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for key in ("k0", "k1"):
            for ext, data in (("jpg", key.encode() * 3), ("cls", key[-1:].encode())):
                ti = tarfile.TarInfo(f"{key}.{ext}")
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    cluster.put_object("torch", "shards/s0.tar", buf.getvalue())
    reader = AISShardReader(bucket_list=[b], prefix_map={b: "shards/"})
    samples = [(key, dict(content)) for key, content in reader]
    assert samples == [
        ("k0", {"jpg": b"k0k0k0", "cls": b"0"}),
        ("k1", {"jpg": b"k1k1k1", "cls": b"1"}),
    ]
    # AISShardReader.__len__ is broken in SDK 2.0.0 itself ('Object' has no attribute 'bucket')
