"""One benchmark cell in a fresh process: ``python -m aisloader.bench.runner '<json spec>'``.

A fresh process per cell keeps peak RSS, threads and imports of one system from leaking into
another's numbers. The last line of stdout is the JSON result record.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aisloader.bench.report import Result

__all__ = ["run_cell"]


def run_cell(spec: dict[str, Any]) -> Result:
    """Measure the cell described by ``spec`` (see :func:`aisloader.bench.cli.cells`)."""
    system, mode, workers = spec["system"], spec["mode"], spec["num_workers"]
    endpoint, bucket = spec["endpoint"], spec["bucket"]
    prefix = spec["shard_prefix"] if mode == "shard" else spec["prefix"]
    result = Result(system, mode, workers, label=spec.get("label", ""))
    retries = 0
    if system == "aiohttp":
        from aisloader.bench.baselines import aiohttp_core

        names = Path(spec["names_file"]).read_text().splitlines()
        meter = aiohttp_core(endpoint, bucket, names, spec["window"])
    elif system == "aistore.pytorch":
        from aisloader.bench.baselines import plugin_loader

        meter = plugin_loader(
            endpoint,
            bucket,
            mode,
            prefix,
            workers,
            spec["batch_size"],
            spec["start_method"],
            max_batch_size=spec.get("max_batch_size", 32),
            step=spec.get("step", 0.0),
        )
    elif mode == "core":
        from aisloader.bench.ours import core

        meter, retries = core(endpoint, bucket, prefix, spec["window"])
    else:
        from aisloader.bench.ours import loader

        meter = loader(
            endpoint,
            bucket,
            mode,
            prefix,
            workers,
            spec["batch_size"],
            spec["start_method"],
            spec["window"],
            spec.get("max_batch_size", 32),
            step=spec.get("step", 0.0),
        )
    for key, value in meter.summary().items():
        setattr(result, key, value)
    result.retries = retries
    return result


def main() -> int:
    """Entry point of the cell subprocess."""
    spec = json.loads(sys.argv[1])
    result = run_cell(spec)
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
