"""The get-batch fast path: our ustar headers, coalesced writes, per-request opens, one parse."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisloader.core.tar.members import TarStreamParser
from aisloader.server import LocalCluster
from aisloader.server.batch import work
from aisloader.server.batch.opener import FALLBACK, MAX_DIRS, Opener
from aisloader.server.batch.request import parse_batch_req
from aisloader.server.batch.work import Parsed
from aisloader.server.batch.writers import FLUSH_AT, make_writer
from aisloader.server.names import BucketId

from .batchutil import Session, batch_body, batch_get, batch_url, buffered, untar, unzip

NAMES = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=160,
)
SIZES = st.one_of(st.integers(0, 4096), st.integers(0, 2**40), st.sampled_from([8**11 - 1, 8**11]))


def _mtime_of(writer: Any) -> int:
    return tarfile.TarInfo.frombuf(writer.begin("probe", 0), "utf-8", "surrogateescape").mtime


@settings(max_examples=400, deadline=None)
@given(name=NAMES, size=SIZES)
def test_tar_header_is_byte_identical_to_tarfile(name: str, size: int) -> None:
    w = make_writer("tar")
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode, ti.type = size, _mtime_of(w), 0o644, tarfile.REGTYPE
    assert w.begin(name, size) == ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _archive(members: list[tuple[str, bytes]]) -> bytes:
    w = make_writer("tar")
    out = [w.begin(n, len(d)) + w.data(d) + w.end() for n, d in members]
    return b"".join([*out, w.finish()])


def test_archive_reads_back_with_tarfile_and_our_parser() -> None:
    members = [
        ("b/a", b"alpha"),
        ("b/" + "x" * 98, b"y" * 512),  # exactly 100 bytes: ustar, no NUL after the name
        ("b/" + "l" * 150, b"long name: PAX"),
        ("b/é/ü.bin", bytes(513)),  # non-ASCII: PAX
        ("b/empty", b""),
        ("__404__/b/gone", b""),
    ]
    blob = _archive(members)
    assert len(blob) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|") as tf:
        got = [(t.name, tf.extractfile(t).read()) for t in tf]  # type: ignore[union-attr]
    assert got == members
    parser = TarStreamParser(shard="t", max_member_size=1 << 20)
    parsed = [m for i in range(0, len(blob), 777) for m in parser.feed(blob[i : i + 777])]
    parsed += parser.close()
    assert [(m.name, m.data) for m in parsed] == members
    assert all(m.type == "file" for m in parsed)


async def test_streamed_answer_is_coalesced(session: Session) -> None:
    n, size = 300, 1000
    async with LocalCluster(targets=1) as c:
        for i in range(n):
            c.put_object("mb", f"o/{i:03d}", bytes([i % 251]) * size)
        body = batch_body([{"objname": f"o/{i:03d}"} for i in range(n)])
        async with await batch_get(session, batch_url(c, "mb"), body) as r:
            assert r.status == 200
            frames, parts = 0, []
            async for data, end_of_frame in r.content.iter_chunks():
                parts.append(data)
                frames += end_of_frame
    blob = b"".join(parts)
    assert untar(blob) == [(f"mb/o/{i:03d}", bytes([i % 251]) * size) for i in range(n)]
    assert frames <= 4  # ~440 KiB in writes of ~256 KiB; was three frames per entry


async def _read_cut(r: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    try:
        async for data in r.content.iter_any():
            parts.append(data)
    except aiohttp.ClientPayloadError:
        return b"".join(parts), True
    return b"".join(parts), False


async def test_entries_before_a_hard_error_still_arrive(session: Session) -> None:
    async with LocalCluster(targets=1) as c:
        c.put_object("mb", "a", b"alpha")
        body = batch_body([{"objname": "a"}, {"objname": "gone"}])
        async with await batch_get(session, batch_url(c, "mb"), body) as r:
            assert r.status == 200
            got, cut = await _read_cut(r)
    assert cut
    head = tarfile.TarInfo.frombuf(got[:512], "utf-8", "surrogateescape")
    assert (head.name, head.size) == ("mb/a", 5)
    assert got[512:] == b"alpha" + bytes(507)  # the member before the error, then the cut


def _bucket_dir(c: LocalCluster, name: str) -> Path:
    return c.root / "data" / "ais" / "@#" / name


async def test_symlinks_never_lead_outside_the_bucket(session: Session, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s3cr3t")
    async with LocalCluster(targets=1) as c:
        c.put_object("s", "ok", b"fine")
        c.put_object("s", "sub/x", b"inner")
        bdir = _bucket_dir(c, "s")
        (bdir / "link").symlink_to(outside / "secret")
        (bdir / "dirlink").symlink_to(outside)
        (bdir / "inlink").symlink_to("ok")
        (bdir / "indir").symlink_to("sub")
        for name in ("link", "dirlink/secret"):
            body = batch_body([{"objname": "ok"}, {"objname": name}], strm=False)
            async with await batch_get(session, batch_url(c, "s"), body) as r:
                assert r.status == 400, name
                assert b"s3cr3t" not in await r.read()
            body = batch_body([{"objname": "ok"}, {"objname": name}])
            async with await batch_get(session, batch_url(c, "s"), body) as r:
                got, cut = await _read_cut(r)
                assert cut, name  # after the 200, an error cuts the stream
                assert b"s3cr3t" not in got
        entries = [{"objname": n} for n in ("inlink", "indir/x", "sub", "nope", "ok/x")]
        meta, blob = await buffered(
            session, batch_url(c, "s"), batch_body(entries, strm=False, coer=True)
        )
    assert untar(blob) == [
        ("s/inlink", b"fine"),
        ("s/indir/x", b"inner"),
        ("__404__/s/sub", b""),
        ("__404__/s/nope", b""),
        ("__404__/s/ok/x", b""),
    ]
    assert [o["size"] for o in meta["out"]] == [4, 5, 0, 0, 0]


async def test_dt_parses_a_body_other_than_the_proxy_saw(session: Session) -> None:
    async with LocalCluster(targets=1) as c:
        c.put_object("mb", "a", b"alpha")
        c.put_object("mb", "b", b"bravo")
        for dt_body, want in (
            (batch_body([{"objname": "a"}]), [("mb/a", b"alpha")]),
            (
                batch_body([{"objname": "b"}, {"objname": "a"}]),
                [("mb/b", b"bravo"), ("mb/a", b"alpha")],
            ),
        ):
            proxy_body = batch_body([{"objname": "a"}])
            url = batch_url(c, "mb")
            async with await batch_get(session, url, proxy_body, allow_redirects=False) as r:
                loc = r.headers["Location"]
            async with await batch_get(session, loc, dt_body) as r:
                assert r.status == 200
                assert untar(await r.read()) == want


def test_parsed_request_is_reused_only_for_the_same_body_and_bucket() -> None:
    raw = batch_body([{"objname": "a"}])
    b = BucketId("mb")
    req = parse_batch_req(raw, b)
    p = Parsed(raw, b, req)
    assert p.take(raw, b) is req
    assert p.take(raw, BucketId("other")) is None
    assert p.take(raw, None) is None
    assert p.take(raw.replace(b'"a"', b'"b"'), b) is None
    assert p.take(b"", b) is None


def test_kept_parses_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = batch_body([{"objname": "a"}])
    req = parse_batch_req(raw, BucketId("mb"))
    monkeypatch.setattr(work, "PARSED_BUDGET", 2 * len(raw))
    reg = work.WorkRegistry()
    wids = [reg.register("t1", f"k{i}", raw, Parsed(raw, None, req)) for i in range(3)]
    assert [reg.claim(w, "t1").parsed is not None for w in wids] == [True, True, False]
    wids = [reg.register("t1", f"again{i}", raw, Parsed(raw, None, req)) for i in range(2)]
    assert all(reg.claim(w, "t1").parsed is not None for w in wids)  # claims freed the budget


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_opener_answers_and_bounds(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"data")
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "lf").symlink_to(tmp_path / "file")
    (tmp_path / "ld").symlink_to(tmp_path / "d")
    for i in range(MAX_DIRS + 20):
        (tmp_path / "many" / f"{i}").mkdir(parents=True)
        (tmp_path / "many" / f"{i}" / "o").write_bytes(b"o")
    before = _open_fds()
    op = Opener()
    root = str(tmp_path)
    try:
        fd, size = op.open(root, "d/f")
        assert size == 4
        assert os.pread(fd, 10, 0) == b"data"
        os.close(fd)
        assert op.open(root, "missing") == (-1, 0)
        assert op.open(root, "nodir/x") == (-1, 0)
        assert op.open(root, "d") == (-1, 0)  # a directory is not an object
        assert op.open(root, "lf")[0] == FALLBACK
        assert op.open(root, "ld/f")[0] == FALLBACK
        assert op.open(root, "file/x")[0] == FALLBACK  # ENOTDIR: the store's check decides
        for i in range(MAX_DIRS + 20):
            fd, _ = op.open(root, f"many/{i}/o")
            os.close(fd)
            assert _open_fds() <= before + MAX_DIRS + 2
    finally:
        op.close()
    assert _open_fds() == before


@pytest.mark.parametrize("mime", [".tar", ".tgz", ".zip"])
async def test_entries_larger_than_a_write_keep_their_bytes(session: Session, mime: str) -> None:
    big = bytes(range(256)) * ((FLUSH_AT + 4096) // 256)
    async with LocalCluster(targets=1) as c:
        c.put_object("mb", "big", big)
        c.put_object("mb", "small", b"tiny")
        entries = [{"objname": "small"}, {"objname": "big"}, {"objname": "small"}]
        async with await batch_get(
            session, batch_url(c, "mb"), batch_body(entries, mime=mime)
        ) as r:
            blob = await r.read()
    got = unzip(blob) if mime == ".zip" else untar(blob)
    assert got == [("mb/small", b"tiny"), ("mb/big", big), ("mb/small", b"tiny")]
