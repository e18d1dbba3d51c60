"""``python -m aisloader ls|get|put|mb|--version`` against the embedded cluster.

Real subprocesses where the process matters (dispatch, exit status, a real stdin pipe, no
traceback); the same ``main`` in-process elsewhere, which is faster on busy cores.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from aisloader import __main__ as entry
from aisloader import cli
from aisloader.server import LocalCluster

ROOT = Path(__file__).resolve().parents[2]
BLOB = bytes(range(256)) * 41 + b"\r\n\x00"  # every byte value, CR/LF, a trailing NUL


def _run(
    *args: str, endpoint: str | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "AIS_ENDPOINT"}
    if endpoint:
        env["AIS_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, "-m", "aisloader", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def _main(
    capsysbinary: pytest.CaptureFixture[bytes], *argv: str, stdin: bytes = b""
) -> tuple[int, bytes, str]:
    """``cli.main(argv)`` in this process: (exit code, stdout bytes, stderr text)."""
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        code = cli.main(list(argv))
    finally:
        sys.stdin = saved
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def _closed_port() -> int:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


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
    assert b"--endpoint" in no_endpoint.stderr
    bad_url = _run("get", "ais://only-bucket", endpoint=cluster.endpoint)
    assert bad_url.returncode == 2
    assert len(bad_url.stderr.strip().splitlines()) == 1


def test_put_file_stdin_and_tree_round_trip(
    cluster: LocalCluster, bucket: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    ep = ("--endpoint", cluster.endpoint)
    src = tmp_path / "blob.bin"
    src.write_bytes(BLOB)
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "deep.txt").write_bytes(b"deep")
    (tree / "top.bin").write_bytes(BLOB[::-1])
    (tree / "empty").write_bytes(b"")
    u = f"ais://{bucket}"
    runs = [
        (("put", str(src), f"{u}/named.bin"), f"{u}/named.bin\t{len(BLOB)}\n"),
        (("put", str(src), f"{u}/keep/"), f"{u}/keep/blob.bin\t{len(BLOB)}\n"),
        (("put", str(src), u), f"{u}/blob.bin\t{len(BLOB)}\n"),
    ]
    for argv, printed in runs:
        assert _main(capsysbinary, *argv, *ep) == (0, printed.encode(), "")
    code, out, err = _main(capsysbinary, "put", "-", f"{u}/piped", *ep, stdin=BLOB)
    assert (code, out, err) == (0, f"{u}/piped\t{len(BLOB)}\n".encode(), "")
    code, out, err = _main(capsysbinary, "put", str(tree), f"{u}/t", *ep)
    assert (code, err) == (0, "")
    names = {"t/a/b/deep.txt": b"deep", "t/empty": b"", "t/top.bin": BLOB[::-1]}
    assert sorted(out.decode().splitlines()) == [f"{u}/{n}\t{len(d)}" for n, d in names.items()]

    code, listing, _ = _main(capsysbinary, "ls", u, *ep)
    expected = dict.fromkeys(["blob.bin", "keep/blob.bin", "named.bin", "piped"], BLOB) | names
    assert code == 0
    assert listing.decode().splitlines() == [f"{n}\t{len(expected[n])}" for n in sorted(expected)]
    for name, data in expected.items():
        assert _main(capsysbinary, "get", f"{u}/{name}", *ep) == (0, data, "")


def test_put_from_a_pipe_in_a_real_process(cluster: LocalCluster, bucket: str) -> None:
    """``python -m aisloader put -`` reads a real (unseekable) stdin pipe to its end."""
    done = _run("put", "-", f"ais://{bucket}/p", endpoint=cluster.endpoint, stdin=BLOB * 30)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == f"ais://{bucket}/p\t{len(BLOB) * 30}\n".encode()
    got = _run("get", f"ais://{bucket}/p", endpoint=cluster.endpoint)
    assert got.stdout == BLOB * 30


def test_put_errors(
    cluster: LocalCluster, bucket: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    ep = ("--endpoint", cluster.endpoint)
    missing = tmp_path / "nope.bin"
    code, _, err = _main(capsysbinary, "put", str(missing), f"ais://{bucket}/x", *ep)
    assert (code, err) == (1, f"put: {missing}: No such file or directory\n")
    code, _, err = _main(capsysbinary, "put", "-", f"ais://{bucket}/", *ep)
    assert code == 2
    assert "needs an object name" in err
    (tmp_path / "f").write_bytes(b"x")
    gone = f"cli-gone-{uuid.uuid4().hex[:8]}"
    code, _, err = _main(capsysbinary, "put", str(tmp_path / "f"), f"ais://{gone}/x", *ep)
    assert code == 1
    assert err.count("\n") == 1
    assert f"python -m aisloader mb ais://{gone}" in err


def test_mb_then_the_bucket_exists(
    cluster: LocalCluster, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    ep = ("--endpoint", cluster.endpoint)
    a, b = (f"ais://cli-mb-{uuid.uuid4().hex[:8]}" for _ in range(2))
    assert _main(capsysbinary, "mb", a, b, *ep) == (0, b"", "")
    for made in (a, b):
        assert _main(capsysbinary, "ls", made, *ep) == (0, b"", "")
    code, _, err = _main(capsysbinary, "mb", a, *ep)
    assert (code, err) == (1, f"mb: {a}: the bucket already exists\n")
    code, _, err = _main(capsysbinary, "mb", f"{a}/obj", *ep)
    assert code == 2
    assert "names an object" in err


def test_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.main(["--version"]) == 0
    assert capsys.readouterr() == (f"aisloader {metadata.version('aisloader')}\n", "")
    assert entry.main(["--help"]) == 0
    shown = capsys.readouterr().out
    for command in ("put", "mb", "--version"):
        assert command in shown
    assert entry.main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_wrong_endpoint_names_the_flag(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    port = _closed_port()
    started = time.monotonic()
    argv = ("put", "-", "ais://b/x", "--endpoint", f"http://127.0.0.1:{port}")
    code, out, err = _main(capsysbinary, *argv, stdin=b"x")
    assert time.monotonic() - started < 10  # said at once (~1 s), not after the retry budget
    assert (code, out) == (1, b"")
    assert err.count("\n") == 1, err
    assert f"nothing is listening at http://127.0.0.1:{port} (from --endpoint)" in err
    assert "--endpoint http://host:port or set AIS_ENDPOINT" in err
    monkeypatch.setenv("AIS_ENDPOINT", "127.0.0.1:9")  # not a URL: said before connecting
    code, _, err = _main(capsysbinary, "ls", "ais://b")
    assert code == 2
    assert err.startswith("ls: bad AIS_ENDPOINT: ")
    code, _, err = _main(capsysbinary, "ls", "ais://b", "--endpoint", "ftp://x")
    assert code == 2
    assert err.startswith("ls: bad --endpoint: ")
