"""Get-batch under faults, with large objects, switched off, and the CLI switch."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from aisloader.server import Fault, LocalCluster

from .archives import make_tar
from .batchutil import (
    ENTRIES,
    WANT,
    B,
    Session,
    batch_body,
    batch_get,
    batch_url,
    buffered,
    untar,
    unzip,
)


@pytest.mark.parametrize("kind", ["truncate", "reset"])
@pytest.mark.parametrize("strm", [True, False])
async def test_body_faults_cut_the_answer(
    mc: LocalCluster, s: Session, kind: str, strm: bool
) -> None:
    mc.set_faults([Fault(kind, every=1, path_prefix="/v1/ml/moss")])  # type: ignore[arg-type]
    try:
        async with await batch_get(s, batch_url(mc), batch_body(ENTRIES, strm=strm)) as r:
            assert r.status == 200
            with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
                await r.read()
        assert mc.stats()[f"faults.{kind}"] >= 1
    finally:
        mc.clear_faults()
    meta, _ = await buffered(s, batch_url(mc), batch_body(ENTRIES, strm=False))  # clean again
    assert len(meta["out"]) == len(ENTRIES)


async def test_status_latency_and_slow_faults(mc: LocalCluster, s: Session) -> None:
    body = batch_body(ENTRIES)
    try:
        mc.set_faults([Fault("status", every=1, status=503, hop="proxy", path_prefix="/v1/ml/")])
        async with await batch_get(s, batch_url(mc), body, allow_redirects=False) as r:
            assert r.status == 503
        mc.set_faults([Fault("status", every=1, status=429, hop="target", path_prefix="/v1/ml/")])
        async with await batch_get(s, batch_url(mc), body) as r:
            assert (r.status, (await r.json())["tcode"]) == (429, "ErrTooManyRequests")
        mc.set_faults([Fault("latency", every=1, delay=0.2, hop="proxy", path_prefix="/v1/ml/")])
        t0 = time.monotonic()
        async with await batch_get(s, batch_url(mc), body) as r:
            assert untar(await r.read()) == WANT
        assert time.monotonic() - t0 >= 0.2
        mc.set_faults([Fault("slow", every=1, delay=0.05, path_prefix="/v1/ml/")])
        t0 = time.monotonic()
        async with await batch_get(s, batch_url(mc), body) as r:
            assert untar(await r.read()) == WANT
        assert time.monotonic() - t0 >= 0.05 * (len(ENTRIES) - 1)
    finally:
        mc.clear_faults()


async def test_fault_fraction_on_the_dt_is_reproducible(mc: LocalCluster, s: Session) -> None:
    rule = Fault("status", fraction=0.5, hop="target", path_prefix="/v1/ml/")

    async def run() -> list[int]:
        mc.set_faults([rule], seed=5)  # resets the occurrence counters
        out = []
        for i in range(12):
            async with await batch_get(
                s, batch_url(mc), batch_body([{"objname": "a"}] * (i + 1))
            ) as r:
                await r.read()
                out.append(r.status)
        return out

    try:
        first = await run()
        assert await run() == first
        assert set(first) == {200, 503}
    finally:
        mc.clear_faults()


async def test_large_objects_in_every_format(s: Session) -> None:
    big = bytes(range(251)) * 12_000  # ~3 MiB: chunked reads and archive work off the loop
    async with LocalCluster(targets=1) as c:
        c.put_object(B, "big", big)
        c.put_object(B, "big.tar", make_tar({"m": big}))
        entries: list[dict[str, Any]] = [
            {"objname": "big"},
            {"objname": "big.tar", "archpath": "m", "start": 7, "length": -1},
        ]
        want = [(f"{B}/big", big), (f"{B}/big.tar/m", big[7:])]
        for mime in (".tar", ".tgz", ".zip"):
            unpack = unzip if mime == ".zip" else untar
            async with await batch_get(s, batch_url(c), batch_body(entries, mime=mime)) as r:
                assert unpack(await r.read()) == want
            meta, blob = await buffered(s, batch_url(c), batch_body(entries, mime=mime, strm=False))
            assert unpack(blob) == want
            assert [o["size"] for o in meta["out"]] == [len(big), len(big) - 7]


async def test_switched_off_answers_501(s: Session) -> None:
    async with LocalCluster(targets=1, get_batch=False) as c:
        c.put_object(B, "a", b"alpha")
        for url in (batch_url(c), batch_url(c, None, "")):
            async with await batch_get(s, url, batch_body([{"objname": "a"}])) as r:
                assert r.status == 501
                assert (await r.json())["tcode"] == "ErrNotImpl"


def test_cli_no_get_batch_flag() -> None:
    cmd = [sys.executable, "-m", "aisloader", "serve", "--targets", "1", "--no-get-batch"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ep = proc.stdout.readline().strip()
        req = urllib.request.Request(f"{ep}/v1/ml/moss", data=batch_body([{"objname": "a"}]))
        req.get_method = lambda: "GET"  # type: ignore[method-assign]
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, timeout=10)
        ei.value.close()
        assert ei.value.code == 501
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
