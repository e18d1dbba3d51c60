"""``python -m aisloader bench``: generate data, measure every cell in its own process, report."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from aisloader.bench.chart import write_plot
from aisloader.bench.data import OBJ_PREFIX, SHARD_PREFIX, generate
from aisloader.bench.options import BenchOptions, OptionError, parse_options
from aisloader.bench.report import Result, render_table, write_json
from aisloader.bench.serve import start_cluster
from aisloader.config import ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.core.listing.lister import build_manifest
from aisloader.core.listing.manifest import Manifest
from aisloader.core.listing.sources import sources
from aisloader.errors import AISLoaderError

__all__ = ["cells", "main"]

_PLUGIN_MODES = ("map", "iter", "shard", "batch")


def cells(opts: BenchOptions, endpoint: str, data: dict[str, str]) -> list[dict[str, Any]]:
    """Every (system, mode, workers[, batch size]) cell to measure, baselines included.

    ``data`` names the bucket, the prefixes and the file listing the plain objects.
    """
    base = {
        "endpoint": endpoint,
        **data,
        "window": opts.window,
        "batch_size": opts.batch_size,
        "start_method": opts.start_method,
        "step": opts.step,
    }
    out: list[dict[str, Any]] = []
    for mode in opts.modes:
        workers = (0,) if mode == "core" else opts.num_workers
        for system in opts.systems:
            if system == "aiohttp" and mode != "core":
                continue
            if system == "aistore.pytorch" and mode not in _PLUGIN_MODES:
                continue
            for w in workers:
                sizes = opts.batch_sizes if mode == "batch" else (0,)
                for size in sizes:
                    cell = {**base, "system": system, "mode": mode, "num_workers": w}
                    if size:
                        cell |= {"max_batch_size": size, "label": f"b{size}"}
                    out.append(cell)
    return out


def main(argv: list[str]) -> int:
    """Run the benchmark; 0 on success, 1 on a runtime failure, 2 on bad options."""
    try:
        opts = parse_options(argv)
    except OptionError as exc:
        print(f"aisloader bench: error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(opts)
    except (AISLoaderError, OSError) as exc:
        print(f"aisloader bench: error: {exc}", file=sys.stderr)
        return 1


def _run(opts: BenchOptions) -> int:
    with _cluster(opts) as endpoint, tempfile.TemporaryDirectory() as tmp:
        bucket = opts.bucket or f"aisloader-bench-{uuid.uuid4().hex[:8]}"
        data = {"bucket": bucket, "prefix": opts.prefix, "shard_prefix": opts.shard_prefix}
        if not opts.bucket:
            data |= {"prefix": OBJ_PREFIX, "shard_prefix": SHARD_PREFIX}
        data["names_file"] = os.path.join(tmp, "names.txt")
        try:
            manifest = asyncio.run(_prepare(endpoint, opts, data))
            names = "".join(manifest.name(i) + "\n" for i in range(len(manifest)))
            Path(data["names_file"]).write_text(names)
            results = _measure(opts, endpoint, data)
        finally:
            if not opts.bucket and not opts.keep:
                asyncio.run(_destroy(endpoint, bucket))
    if opts.step:
        print(
            f"simulated training step {opts.step * 1e3:g} ms after each batch; waited: the "
            "share of each loader's wall time its training loop waited for data"
        )
    print(render_table(results, opts.step))
    if opts.json_path:
        config = opts.as_config() | {"endpoint": endpoint, "bucket": bucket}
        write_json(opts.json_path, config, results)
        print(f"results written to {opts.json_path}")
    if opts.plot_path:
        note = write_plot(opts.plot_path, results, opts.as_config())
        print(note or f"chart written to {opts.plot_path}")
    return 0


def _measure(opts: BenchOptions, endpoint: str, data: dict[str, str]) -> list[Result]:
    plugin = importlib.util.find_spec("aistore") is not None
    results = []
    todo = cells(opts, endpoint, data)
    timeout = 120 if opts.quick else 1800
    for spec in tqdm(todo, desc="measuring", unit="cell", disable=not _on_terminal(sys.stderr)):
        if spec["system"] == "aistore.pytorch" and not plugin:
            skipped = "the aistore package is not installed (pip install 'aisloader[bench]')"
            results.append(_skip(spec, skipped))
            continue
        results.append(_run_cell(spec, timeout))
    return results


def _on_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal: progress bars only there, never in logs or pipes."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


def _run_cell(spec: dict[str, Any], timeout: float) -> Result:
    cmd = [sys.executable, "-m", "aisloader.bench.runner", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return _skip(spec, f"timed out after {timeout:.0f} s")
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return _skip(spec, f"failed: {tail[:200]}")
    fields = json.loads(lines[-1])
    return Result(**fields)


def _skip(spec: dict[str, Any], why: str) -> Result:
    return Result(
        spec["system"], spec["mode"], spec["num_workers"], skipped=why, label=spec.get("label", "")
    )


async def _prepare(endpoint: str, opts: BenchOptions, data: dict[str, str]) -> Manifest:
    """Generate the data in a scratch bucket (or check the given one); list the plain objects
    once (the caller writes them to ``names_file`` for the aiohttp baseline).

    Raises:
        ConfigError: the given bucket/prefix holds nothing.
        BucketNotFound: the given bucket does not exist.
    """
    async with AsyncClient(endpoint, config=ClientConfig.from_env()) as client:
        if not opts.bucket:
            await generate(client, data["bucket"], opts)
        srcs = sources(f"ais://{data['bucket']}/{data['prefix']}")
        return await build_manifest(client, srcs)


async def _destroy(endpoint: str, bucket: str) -> None:
    async with AsyncClient(endpoint, config=ClientConfig.from_env()) as client:
        await client.destroy_bucket(bucket, missing_ok=True)


@contextlib.contextmanager
def _cluster(opts: BenchOptions) -> Iterator[str]:
    """The given endpoint (checked), or an embedded cluster in its own process."""
    if opts.endpoint:
        asyncio.run(_check(opts.endpoint))
        yield opts.endpoint.rstrip("/")
        return
    with tempfile.TemporaryDirectory(prefix="aisloader-bench-") as tmp:
        root = os.path.join(tmp, "data")
        with open(os.path.join(tmp, "serve.log"), "wb") as log:
            proc, endpoint = start_cluster(root, log=log, latency=opts.latency)
            try:
                late = f", {opts.latency * 1e3:g} ms per target GET" if opts.latency else ""
                print(f"embedded cluster at {endpoint} (own process, root {root}{late})")
                yield endpoint
            finally:
                proc.terminate()
                proc.wait(timeout=30)


async def _check(endpoint: str) -> None:
    config = ClientConfig.from_env(retry_attempts=2, connect_timeout=3, retry_budget=5)
    async with AsyncClient(endpoint, config=config) as client:
        try:
            await client.list_buckets()
        except AISLoaderError as exc:
            raise OSError(f"cannot reach the AIS cluster at {endpoint}: {exc}") from None
