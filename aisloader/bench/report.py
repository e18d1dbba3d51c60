"""Benchmark results: the JSON record and the readable table with ratios (the PNG chart is
:mod:`aisloader.bench.chart`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Result", "ratio_to_plugin", "render_table", "write_json"]


@dataclass
class Result:
    """One measured (system, mode, num_workers) cell; fields are the JSON schema."""

    system: str
    mode: str
    num_workers: int
    objects: int = 0
    seconds: float = 0.0
    objects_per_s: float = 0.0
    mb_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    first_sample_s: float = 0.0
    peak_rss_mb: float = 0.0
    retries: int = 0
    wait_pct: float = 0.0
    skipped: str | None = None
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record in the report's ``results`` list."""
        record = asdict(self)
        if not record["label"]:
            del record["label"]
        return record


def ratio_to_plugin(result: Result, results: list[Result]) -> float | None:
    """objects/s of ``result`` over the official plugin's in the same mode and workers."""
    for other in results:
        if (
            other.system == "aistore.pytorch"
            and other.mode == result.mode
            and other.num_workers == result.num_workers
            and other.label == result.label
            and other.skipped is None
            and other.objects_per_s > 0
        ):
            return result.objects_per_s / other.objects_per_s
    return None


def render_table(results: list[Result], step: float = 0.0) -> str:
    """A fixed-width table, one row per result, with the ratio to the plugin; with a simulated
    training ``step``, the share of a loader's wall time its consumer waited for data."""
    head = (
        f"{'system':<16}{'mode':<7}{'label':<8}{'wrk':>4}{'objects':>9}{'obj/s':>10}"
        f"{'MB/s':>9}{'p50ms':>8}{'p99ms':>8}{'first s':>8}{'RSS MB':>8}{'retry':>6}"
        f"{'vs plugin':>10}" + (f"{'waited':>8}" if step else "")
    )
    lines = [head, "-" * len(head)]
    for r in results:
        if r.skipped:
            lines.append(
                f"{r.system:<16}{r.mode:<7}{r.label:<8}{r.num_workers:>4}  skipped: {r.skipped}"
            )
            continue
        ratio = ratio_to_plugin(r, results)
        shown = f"{ratio:.1f}x" if ratio is not None and r.system != "aistore.pytorch" else ""
        lines.append(
            f"{r.system:<16}{r.mode:<7}{r.label:<8}{r.num_workers:>4}{r.objects:>9}"
            f"{r.objects_per_s:>10.0f}{r.mb_per_s:>9.1f}{r.p50_ms:>8.2f}{r.p99_ms:>8.2f}"
            f"{r.first_sample_s:>8.2f}{r.peak_rss_mb:>8.0f}{r.retries:>6}{shown:>10}"
            + (f"{_waited(r):>8}" if step else "")
        )
    return "\n".join(lines)


def _waited(r: Result) -> str:
    return f"{r.wait_pct:.0f}%" if r.mode != "core" else ""


def write_json(path: str | Path, config: dict[str, Any], results: list[Result]) -> None:
    """Write ``{"config": ..., "results": [...]}``."""
    doc = {"config": config, "results": [r.to_json() for r in results]}
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")
