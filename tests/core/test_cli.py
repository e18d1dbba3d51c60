"""``python -m aisloader ls|get`` against the embedded cluster (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aisloader.server import LocalCluster

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, endpoint: str | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "AIS_ENDPOINT"}
    if endpoint:
        env["AIS_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, "-m", "aisloader", *args],
        capture_output=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def test_ls_and_get(cluster: LocalCluster, bucket: str, tmp_path: Path) -> None:
    cluster.put_object(bucket, "dir/a.bin", b"\x00\x01binary")
    cluster.put_object(bucket, "dir/b.bin", b"bb")
    cluster.put_object(bucket, "other", b"o")
    out = _run("ls", f"ais://{bucket}/dir/", endpoint=cluster.endpoint)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines() == ["dir/a.bin\t8", "dir/b.bin\t2"]
    got = _run("get", f"ais://{bucket}/dir/a.bin", "--endpoint", cluster.endpoint)
    assert (got.returncode, got.stdout) == (0, b"\x00\x01binary")
    dest = tmp_path / "x.bin"
    saved = _run("get", f"ais://{bucket}/dir/b.bin", "-o", str(dest), endpoint=cluster.endpoint)
    assert saved.returncode == 0
    assert dest.read_bytes() == b"bb"


def test_errors_are_one_line(cluster: LocalCluster, bucket: str) -> None:
    missing = _run("get", f"ais://{bucket}/nope", endpoint=cluster.endpoint)
    assert missing.returncode == 1
    lines = missing.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert f"ais://{bucket}/nope" in lines[0]
    no_endpoint = _run("ls", "ais://b")
    assert no_endpoint.returncode == 2
    assert b"AIS_ENDPOINT" in no_endpoint.stderr
    bad_url = _run("get", "ais://only-bucket", endpoint=cluster.endpoint)
    assert bad_url.returncode == 2
    assert len(bad_url.stderr.strip().splitlines()) == 1
