"""The bench CLI: option parsing, a clean error for an unreachable endpoint, and --quick end to
end on the embedded cluster with the --json schema."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aisloader.bench.options import OptionError, parse_options, parse_size

SCHEMA = {
    "system": str,
    "mode": str,
    "num_workers": int,
    "objects": int,
    "seconds": float,
    "objects_per_s": float,
    "mb_per_s": float,
    "p50_ms": float,
    "p99_ms": float,
    "first_sample_s": float,
    "peak_rss_mb": float,
    "retries": int,
}


def test_parse_defaults_and_quick() -> None:
    opts = parse_options(["--quick", "--object-size", "4KiB-64KiB", "--modes", "core,map"])
    assert opts.quick
    assert opts.object_size == (4096, 65536)
    assert opts.modes == ("core", "map")
    assert opts.count < parse_options([]).count
    assert parse_size("1MiB") == 1 << 20


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--modes", "core,warp"], "--modes"),
        (["--object-size", "ten"], "invalid size"),
        (["--object-size", "10KiB-1KiB"], "min <= max"),
        (["--num-workers", "two"], "--num-workers"),
        (["--count", "0"], "--count"),
        (["--start-method", "thread"], "--start-method"),
        (["--frobnicate"], "unrecognized"),
    ],
)
def test_bad_options_are_one_line_errors(argv: list[str], needle: str) -> None:
    with pytest.raises(OptionError, match=needle):
        parse_options(argv)


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aisloader", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_bad_option_exit_code_and_message() -> None:
    done = _run("--modes", "nope", timeout=60)
    assert done.returncode == 2
    assert "error: invalid --modes" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_endpoint_is_a_clean_error() -> None:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _run("--endpoint", f"http://127.0.0.1:{port}", "--quick", timeout=60)
    assert done.returncode == 1
    assert f"cannot reach the AIS cluster at http://127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_quick_end_to_end_json_schema(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    small = ("--count", "400", "--shards", "2", "--samples-per-shard", "100")  # every cell, fast
    done = _run("--quick", *small, "--num-workers", "0", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vs plugin" in done.stdout
    doc = json.loads(out.read_text())
    assert doc["config"]["quick"] is True
    seen = {(r["system"], r["mode"]) for r in doc["results"]}
    assert {("aisloader", "core"), ("aiohttp", "core"), ("aistore.pytorch", "map")} <= seen
    for record in doc["results"]:
        assert record["skipped"] is None, record
        for key, kind in SCHEMA.items():
            assert isinstance(record[key], kind), (key, record)
        assert record["objects"] > 0
        assert record["system"] in ("aisloader", "aistore.pytorch", "aiohttp")
        assert record["mode"] in ("core", "map", "iter", "shard", "batch")


def test_existing_bucket_on_a_given_endpoint_is_read_and_kept() -> None:
    from aisloader.server import LocalCluster

    with LocalCluster() as cluster:
        for i in range(40):
            cluster.put_object("mine", f"imgs/{i:03d}", bytes(100))
        cluster.put_object("mine", "other/x", b"not read")
        done = _run(
            *("--endpoint", cluster.endpoint, "--bucket", "mine", "--prefix", "imgs/"),
            *("--modes", "core", "--systems", "aisloader,aiohttp"),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert cluster.stats().get("proxy.DELETE", 0) == 0  # the user's bucket is kept
    rows = [line.split() for line in done.stdout.splitlines() if " core " in line]
    assert {row[0] for row in rows} == {"aisloader", "aiohttp"}
    assert all(row[3] == "40" for row in rows), rows


def test_plot_is_a_png(tmp_path: Path) -> None:
    from aisloader.bench.report import Result, write_plot

    results = [
        Result("aisloader", "map", 2, objects=10, objects_per_s=100.0),
        Result("aistore.pytorch", "map", 2, objects=10, objects_per_s=10.0),
    ]
    assert write_plot(tmp_path / "c.png", results) is None
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
