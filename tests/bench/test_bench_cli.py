"""The bench CLI: option parsing, a clean error for an unreachable endpoint, --quick end to
end on the embedded cluster with the --json schema, the chart (asserted on the Figure) and the
progress bar only on a terminal."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aisloader.bench.chart import figure, write_plot
from aisloader.bench.cli import _on_terminal
from aisloader.bench.options import MODES, SYSTEMS, OptionError, parse_options, parse_size
from aisloader.bench.report import Result, render_table

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
    assert parse_options([]).latency == 0.0
    assert parse_options(["--latency", "2ms"]).latency == pytest.approx(0.002)
    assert parse_options(["--latency", "0.5"]).latency == 0.5
    assert parse_options([]).step == 0.0
    assert parse_options(["--step", "20ms"]).step == pytest.approx(0.02)


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
        (["--latency", "soon"], "--latency"),
        (["--latency", "-1ms"], "--latency"),
        (["--step", "later"], "--step"),
        (["--latency", "2ms", "--endpoint", "http://127.0.0.1:9"], "embedded cluster only"),
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
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    small = ("--count", "200", "--shards", "2", "--samples-per-shard", "50")  # every cell, fast
    step = ("--step", "1ms")  # a simulated training step: the data-stall column
    done = _run(
        "--quick", *small, *step, "--num-workers", "0", "--json", str(out), "--plot", str(png)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vs plugin" in done.stdout
    assert "waited" in done.stdout
    assert f"chart written to {png}" in done.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "measuring" not in done.stderr  # stderr is a pipe here: no progress bar
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
        assert 0 <= record["wait_pct"] <= 100


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
    results = [
        Result("aisloader", "map", 2, objects=10, objects_per_s=100.0),
        Result("aistore.pytorch", "map", 2, objects=10, objects_per_s=10.0),
    ]
    assert write_plot(tmp_path / "c.png", results) is None
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _cells() -> list[Result]:
    """Every mode, workers 0 and 2, two get-batch sizes; the plugin skipped in one cell."""
    out = [Result("aisloader", "core", 0, objects_per_s=4000.0)]
    out.append(Result("aiohttp", "core", 0, objects_per_s=4100.0))
    for mode, ours, plugin in (("map", 3200.0, 500.0), ("iter", 3800.0, 520.0)):
        for w in (0, 2):
            out.append(Result("aisloader", mode, w, objects_per_s=ours + w))
            out.append(Result("aistore.pytorch", mode, w, objects_per_s=plugin))
    out.append(Result("aisloader", "shard", 0, objects_per_s=29000.0))
    out.append(Result("aistore.pytorch", "shard", 0, skipped="timed out after 120 s"))
    for size in (32, 128):
        label = f"b{size}"
        out.append(Result("aisloader", "batch", 0, objects_per_s=19600.0, label=label))
        out.append(Result("aistore.pytorch", "batch", 0, objects_per_s=9800.0, label=label))
    return out


def test_chart_has_a_panel_per_mode_with_values_and_ratios() -> None:
    settings = parse_options(["--count", "10000", "--num-workers", "0,2"]).as_config()
    fig = figure(_cells(), settings)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split(":")[0] for ax in axes] == list(MODES)
    assert axes[3].get_ylabel() == "samples / s"  # shard counts samples; the rest objects

    def texts(ax: Any, gid: str | None = None) -> list[str]:
        return [t.get_text() for t in ax.texts if gid is None or t.get_gid() == gid]

    core, map_, iter_, shard, batch = axes
    assert texts(map_, "ratio") == ["6.4×\nplugin", "6.4×\nplugin"]  # 3200/500, 3202/500
    assert texts(iter_, "ratio") == ["7.3×\nplugin", "7.3×\nplugin"]
    assert texts(batch, "ratio") == ["2.0×\nplugin", "2.0×\nplugin"]
    assert texts(core, "ratio") == texts(shard, "ratio") == []  # no plugin cell to compare
    assert texts(shard, "skipped") == ["skipped"]
    assert {"3.2k", "500", "4.0k", "4.1k"} <= set(texts(map_) + texts(core))  # values on bars
    assert len(map_.patches) == 4  # 2 systems side by side × 2 worker counts
    ticks = [t.get_text() for t in batch.get_xticklabels()]
    assert ticks == ["0 workers\nbatch 32", "0 workers\nbatch 128"]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(SYSTEMS)
    title = fig.get_suptitle()
    assert "10,000 objects × 10 KiB" in title
    assert "workers 0,2" in title
    assert "embedded cluster" in title


def test_progress_bar_only_on_a_terminal() -> None:
    assert not _on_terminal(io.StringIO())
    primary, secondary = os.openpty()
    try:
        with open(secondary, "w") as tty:
            assert _on_terminal(tty)
        assert not _on_terminal(tty)  # closed
    finally:
        os.close(primary)


def test_service_latency_delays_every_target_get() -> None:
    """``serve --latency`` / ``bench --latency``: the rules delay object GETs and get-batch
    at the targets only (counted by the cluster), never the proxy or other routes."""
    from aisloader import Client
    from aisloader.server import LocalCluster
    from aisloader.server.faults import service_latency

    with LocalCluster() as cluster:
        cluster.put_object("lat", "a", b"1")
        cluster.put_object("lat", "b", b"2")
        cluster.set_faults(service_latency(0.001))
        with Client(cluster.endpoint) as c:
            assert c.get(("lat", "a")) == b"1"
            assert list(c.list_objects("lat"))
            assert [v for _, v in c.get_batch([("lat", "a"), ("lat", "b")])] == [b"1", b"2"]
        stats = cluster.stats()
    assert stats["faults.latency"] == 2  # the GET and the get-batch answer, not the listing


class _Clock:
    """A fake ``time`` for :func:`drive`: reading an item costs 1 ms, ``sleep`` advances."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(("step", "waited"), [(0.0, 100.0), (0.005, 37.5)])
def test_drive_meters_the_wait_for_data(
    monkeypatch: pytest.MonkeyPatch, step: float, waited: float
) -> None:
    from aisloader.bench import baselines, meter

    clock = _Clock()
    monkeypatch.setattr(baselines, "time", clock)
    monkeypatch.setattr(meter, "time", clock)

    class Costly:
        def __len__(self) -> int:
            return 12

        def __getitem__(self, i: int) -> bytes:
            clock.now += 0.001
            return b"x"

    result = baselines.drive(meter.Meter(), Costly(), 0, 3, "fork", step)
    summary = result.summary()
    # 4 batches of 3 items: 12 ms waiting for data, and 4 steps of 5 ms
    assert summary["wait_pct"] == waited
    assert summary["objects"] == 12
    row = Result("ours", "map", 0, wait_pct=summary["wait_pct"])
    table = render_table([row], step)
    assert ("waited" in table) == bool(step)  # the column only with a step
    assert table.endswith(f"{waited:.0f}%") == bool(step)
