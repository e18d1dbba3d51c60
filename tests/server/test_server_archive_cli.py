"""ARCH_DIR paging across archive boundaries, raw archpath rules, and the ``serve`` CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import msgspec
import pytest

from aisloader.server import LocalCluster

from .archives import MEMBERS, make_tar, make_zip

Session = aiohttp.ClientSession


async def _list_all(session: Session, ep: str, pagesize: int) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    token, uuid = "", ""
    for _ in range(100):
        value = {"pagesize": pagesize, "flags": "8", "props": "name", "uuid": uuid}
        value["continuation_token"] = token
        body = {"action": "list", "value": value}
        hdrs = {"Accept": "application/msgpack"}
        async with session.get(f"{ep}/v1/buckets/a", json=body, headers=hdrs) as r:
            page = msgspec.msgpack.decode(await r.read())
        out += [(e["n"], e.get("s", 0), e["f"]) for e in page["Entries"] or []]
        token, uuid = page["ContinuationToken"], page["UUID"]
        if not token:
            return out
    raise AssertionError("listing did not end")


async def test_arch_dir_pages_cut_inside_archives(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("a", "x.tar", make_tar(MEMBERS))
    acluster.put_object("a", "x.tar.gz", make_tar(MEMBERS, gz=True))
    acluster.put_object("a", "y.zip", make_zip(MEMBERS))
    acluster.put_object("a", "z", b"zz")
    acluster.put_object("a", "bad.tar", b"not a tar at all" * 40)
    whole = await _list_all(session, acluster.endpoint, 0)
    assert len(whole) == 1 + 3 * 5 + 1
    assert whole[0] == ("bad.tar", 0, 64)  # unreadable archive: listed as a plain object
    assert whole[1:3] == [("x.tar", 0, 576), ("x.tar/s1.cls", 1, 192)]
    for pagesize in (1, 2, 3, 4, 5, 7):
        assert await _list_all(session, acluster.endpoint, pagesize) == whole, pagesize


async def test_archpath_errors(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("a", "x.tar", make_tar(MEMBERS))
    acluster.put_object("a", "plain", b"p")
    url = f"{acluster.endpoint}/v1/objects/a/x.tar?archpath=s1.jpg"
    async with session.get(url) as r:
        assert r.status == 200
        assert await r.read() == b"hello"
        assert "Ais-Checksum-Value" not in r.headers
    async with session.get(url, headers={"Range": "bytes=0-1"}) as r:
        assert r.status == 400
    async with session.get(f"{acluster.endpoint}/v1/objects/a/plain?archpath=m") as r:
        assert r.status == 400
    async with session.get(f"{acluster.endpoint}/v1/objects/a/x.tar?archpath=zz") as r:
        assert r.status == 404
        assert "ais://a/x.tar/zz" in (await r.json())["message"]


async def test_symlink_out_of_bucket_is_refused(
    acluster: LocalCluster, session: Session, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"s3cr3t")
    acluster.create_bucket("s")
    (acluster.root / "data" / "ais" / "@#" / "s" / "link").symlink_to(outside)
    async with session.get(f"{acluster.endpoint}/v1/objects/s/link") as r:
        assert r.status == 400
        assert b"s3cr3t" not in await r.read()


def _serve(root: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "aisloader", "serve", "--root", str(root), "--targets", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    endpoint = proc.stdout.readline().strip()
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    return proc, endpoint


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)  # also closes the pipes
    assert proc.returncode == 0, err


def test_cli_persists_objects_across_restarts(tmp_path: Path) -> None:
    proc, ep = _serve(tmp_path)
    try:
        req = urllib.request.Request(f"{ep}/v1/buckets/keep", method="POST", data=b"")
        req.add_header("Content-Type", "application/json")
        req.data = b'{"action":"create-bck"}'
        urllib.request.urlopen(req, timeout=10).close()
        put = urllib.request.Request(f"{ep}/v1/objects/keep/d/o", method="PUT", data=b"v1")
        with pytest.raises(urllib.error.HTTPError) as ei:  # urllib does not follow a 307 PUT
            urllib.request.urlopen(put, timeout=10)
        ei.value.close()
        assert ei.value.code == 307
        put2 = urllib.request.Request(ei.value.headers["Location"], method="PUT", data=b"v1")
        urllib.request.urlopen(put2, timeout=10).close()
    finally:
        _stop(proc)
    assert (tmp_path / "data" / "ais" / "@#" / "keep" / "d" / "o").read_bytes() == b"v1"
    proc, ep = _serve(tmp_path)
    try:
        with urllib.request.urlopen(f"{ep}/v1/objects/keep/d/o", timeout=10) as r:
            assert r.read() == b"v1"
            assert len(r.headers["Ais-Checksum-Value"]) == 16
    finally:
        _stop(proc)
    assert not os.listdir(tmp_path / "tmp")
