"""Benchmark options: parsing and validation with one-line errors, never a traceback."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from aisloader.server.cli import parse_time

__all__ = ["MODES", "SYSTEMS", "BenchOptions", "OptionError", "parse_options", "parse_size"]

MODES = ("core", "map", "iter", "shard", "batch")
SYSTEMS = ("aisloader", "aistore.pytorch", "aiohttp")
_START_METHODS = ("fork", "spawn", "forkserver")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6}
_UNITS |= {"mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30}


class OptionError(ValueError):
    """An invalid benchmark option (printed as one line, exit status 2)."""


@dataclass(frozen=True)
class BenchOptions:
    """Everything a benchmark run needs; serialised into the JSON report's ``config``."""

    endpoint: str | None = None
    bucket: str | None = None
    prefix: str = ""
    shard_prefix: str = ""
    count: int = 20_000
    object_size: tuple[int, int] = (10 << 10, 10 << 10)
    shards: int = 20
    samples_per_shard: int = 1000
    member_size: int = 4 << 10
    num_workers: tuple[int, ...] = (0, 2)
    batch_size: int = 64
    window: int = 64
    batch_sizes: tuple[int, ...] = (128,)
    modes: tuple[str, ...] = MODES
    systems: tuple[str, ...] = SYSTEMS
    start_method: str = "fork"
    seed: int = 0
    quick: bool = False
    json_path: str | None = None
    plot_path: str | None = None
    keep: bool = False
    latency: float = 0.0
    step: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_config(self) -> dict[str, Any]:
        """JSON-ready config for the report."""
        cfg = asdict(self)
        cfg["object_size"] = list(self.object_size)
        return cfg


def parse_size(text: str) -> int:
    """``"10KiB"`` → 10240.

    Raises:
        OptionError: not a size.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise OptionError(f"invalid size {text!r}: use e.g. 10KiB, 1MiB, 512")
    return int(float(match.group(1)) * _UNITS[unit])


def _size_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    lo, hi = parse_size(low), parse_size(high or low)
    if lo < 1 or hi < lo:
        raise OptionError(f"invalid --object-size {text!r}: need 1 <= min <= max (e.g. 10KiB-1MiB)")
    return lo, hi


def _int_list(name: str, text: str, low: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise OptionError(f"invalid {name} {text!r}: a comma-separated list of integers") from None
    if not values or any(v < low for v in values):
        raise OptionError(f"invalid {name} {text!r}: every value must be >= {low}")
    return values


def _choices(name: str, text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise OptionError(f"invalid {name} {text!r}: choose from {', '.join(allowed)}")
    return values


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m aisloader bench",
        description="Measure loading throughput: aisloader vs the official aistore.pytorch "
        "plugin vs a plain aiohttp loop, on the same data in the same run. Starts an embedded "
        "cluster unless --endpoint/AIS_ENDPOINT is given.",
    )
    add = p.add_argument
    add("--endpoint", help="AIS cluster URL (default: $AIS_ENDPOINT, else an embedded cluster)")
    add(
        "--bucket",
        help="existing bucket to read as it is (default: a scratch bucket with generated "
        "data, removed afterwards)",
    )
    add("--prefix", default="", help="with --bucket: plain objects to read (ais prefix)")
    add("--shard-prefix", default="", help="with --bucket: prefix of the .tar shards to read")
    add("--count", type=int, help="plain objects to generate (default 20000; --quick 2000)")
    add("--object-size", default="10KiB", help="size or min-max range, e.g. 10KiB or 4KiB-64KiB")
    add("--shards", type=int, help="WebDataset shards to generate (default 20; --quick 4)")
    add("--samples-per-shard", type=int, help="samples per shard, 3 members each (default 1000)")
    add("--num-workers", default=None, help="DataLoader workers, comma list (default 0,2)")
    add("--batch-size", type=int, default=64, help="DataLoader batch size (default 64)")
    add("--window", type=int, default=64, help="requests in flight per consumer (default 64)")
    add("--get-batch-sizes", default="128", help="get-batch sizes, comma list (default 128)")
    add("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    add("--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}")
    add("--start-method", default="fork", help="DataLoader worker start method")
    add("--seed", type=int, default=0, help="data generation / shuffle seed")
    add("--quick", action="store_true", help="small run, under a minute on 2 cores")
    add("--json", dest="json_path", help="write the results as JSON to this path")
    add("--plot", dest="plot_path", help="write a PNG chart to this path (needs matplotlib)")
    add("--keep", action="store_true", help="keep the scratch bucket")
    add(
        "--latency",
        default="0",
        help="embedded cluster only: service latency of every target GET, e.g. 2ms (default 0)",
    )
    add(
        "--step",
        default="0",
        help="a simulated training step after each DataLoader batch, e.g. 20ms: the table then "
        "shows the share of time the loop waited on data (default 0: no step)",
    )
    return p


def parse_options(argv: list[str]) -> BenchOptions:
    """Parse and validate ``argv``.

    Raises:
        OptionError: any invalid option, with a one-line message.
        SystemExit: for ``--help`` (argparse).
    """
    parser = _parser()
    parser.error = _raise  # type: ignore[method-assign,assignment]
    ns = parser.parse_args(argv)
    quick = bool(ns.quick)
    count = ns.count if ns.count is not None else (2000 if quick else 20_000)
    shards = ns.shards if ns.shards is not None else (4 if quick else 20)
    per_shard = (
        ns.samples_per_shard if ns.samples_per_shard is not None else (300 if quick else 1000)
    )
    for name, value in (("--count", count), ("--shards", shards), ("--batch-size", ns.batch_size)):
        if value < 1:
            raise OptionError(f"invalid {name} {value}: must be >= 1")
    if per_shard < 1 or ns.window < 1:
        raise OptionError("--samples-per-shard and --window must be >= 1")
    if ns.start_method not in _START_METHODS:
        raise OptionError(
            f"invalid --start-method {ns.start_method!r}: {', '.join(_START_METHODS)}"
        )
    try:
        latency = parse_time(ns.latency)
    except argparse.ArgumentTypeError as e:
        raise OptionError(f"invalid --latency: {e}") from None
    try:
        step = parse_time(ns.step)
    except argparse.ArgumentTypeError as e:
        raise OptionError(f"invalid --step: {e}") from None
    endpoint = ns.endpoint or os.environ.get("AIS_ENDPOINT") or None
    if latency and endpoint:
        raise OptionError("--latency applies to the embedded cluster only (no --endpoint)")
    workers_default = "0,2"
    return BenchOptions(
        endpoint=endpoint,
        bucket=ns.bucket,
        prefix=ns.prefix,
        shard_prefix=ns.shard_prefix,
        count=count,
        object_size=_size_range(ns.object_size),
        shards=shards,
        samples_per_shard=per_shard,
        num_workers=_int_list("--num-workers", ns.num_workers or workers_default, 0),
        batch_size=ns.batch_size,
        window=ns.window,
        batch_sizes=_int_list("--get-batch-sizes", ns.get_batch_sizes, 1),
        modes=_choices("--modes", ns.modes, MODES),
        systems=_choices("--systems", ns.systems, SYSTEMS),
        start_method=ns.start_method,
        seed=ns.seed,
        quick=quick,
        json_path=ns.json_path,
        plot_path=ns.plot_path,
        keep=ns.keep,
        latency=latency,
        step=step,
    )


def _raise(message: str) -> None:
    raise OptionError(message)
