"""The bench chart: one panel per mode, the systems side by side per worker count.

Each panel has its own linear y axis starting at zero, so fast modes (shards, get-batch) do not
squash the others. Every bar carries its value; aisloader's bars also carry the ratio to the
official plugin in the same cell (the table's ``vs plugin`` column). The title holds the run's
settings. Drawn with matplotlib's Agg canvas, never pyplot: no global state, no window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisloader.bench.options import MODES, SYSTEMS
from aisloader.bench.report import Result, ratio_to_plugin

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["figure", "settings_line", "write_plot"]

COLORS = {"aisloader": "#76b900", "aistore.pytorch": "#8c8c8c", "aiohttp": "#4a90d9"}
_TITLES = {
    "core": "core: get_many vs a plain aiohttp loop",
    "map": "map: map-style dataset",
    "iter": "iter: iterable dataset",
    "shard": "shard: WebDataset samples from .tar",
    "batch": "batch: get-batch iterable, by batch size",
}
_RATIO_COLOR = "#2f5d00"
_TEXT: dict[str, Any] = {"ha": "center", "va": "bottom", "fontsize": 8}
_Group = tuple[int, str]  # (num_workers, label)


def write_plot(
    path: str | Path, results: Sequence[Result], settings: Mapping[str, Any] | None = None
) -> str | None:
    """Write the chart as a PNG; return a note instead when matplotlib is missing.

    Args:
        path: where the PNG goes.
        results: every measured (or skipped) cell.
        settings: the run's options (``BenchOptions.as_config()``), shown in the title.

    Raises:
        OSError: the file cannot be written.
    """
    try:
        fig = figure(results, settings)
    except ImportError:
        return "matplotlib is not installed: pip install 'aisloader[bench]' for --plot"
    fig.savefig(path, dpi=110)
    return None


def figure(results: Sequence[Result], settings: Mapping[str, Any] | None = None) -> Figure:
    """The chart as a matplotlib Figure (Agg canvas): one axis per mode, in ``MODES`` order.

    Raises:
        ImportError: matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    modes = [m for m in MODES if any(r.mode == m for r in results)]
    modes += sorted({r.mode for r in results} - set(modes))
    cols = min(3, max(1, len(modes)))
    rows = max(1, -(-len(modes) // cols))
    fig = Figure(figsize=(4.6 * cols, 3.9 * rows + 1.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, mode in zip(axes, modes, strict=False):
        _panel(ax, mode, [r for r in results if r.mode == mode], results)
    for ax in axes[len(modes) :]:
        ax.set_visible(False)
    systems = [s for s in (*SYSTEMS, *sorted({r.system for r in results})) if _has(results, s)]
    handles = [Patch(color=COLORS.get(s, "#c0504d"), label=s) for s in dict.fromkeys(systems)]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9)
    fig.suptitle(
        "aisloader bench: throughput per mode, higher is better; "
        "on aisloader bars: speed-up over aistore.pytorch\n" + settings_line(results, settings),
        fontsize=10,
    )
    return fig


def _has(results: Sequence[Result], system: str) -> bool:
    return any(r.system == system for r in results)


def _panel(ax: Axes, mode: str, cells: list[Result], everything: Sequence[Result]) -> None:
    """Grouped bars: x = (workers, label) groups, one bar per system in each group."""
    groups = sorted({_group(r) for r in cells}, key=lambda g: (g[0], len(g[1]), g[1]))
    systems = [s for s in dict.fromkeys((*SYSTEMS, *(r.system for r in cells))) if _has(cells, s)]
    width = 0.8 / len(systems)
    top = max((r.objects_per_s for r in cells if not r.skipped), default=0.0) or 1.0
    for i, system in enumerate(systems):
        for x, group in enumerate(groups):
            cell = next((r for r in cells if r.system == system and _group(r) == group), None)
            if cell is None:
                continue
            pos = x - 0.4 + width * (i + 0.5)
            _bar(ax, pos, width, cell, everything, top)
    ax.set_title(_TITLES.get(mode, mode), fontsize=10)
    labels = [_group_label(g) for g in groups]
    ax.set_xticks(range(len(groups)), labels, fontsize=8 if len(groups) <= 4 else 7)
    ax.set_ylabel("samples / s" if mode == "shard" else "objects / s", fontsize=9)
    ax.set_xlim(-0.5, len(groups) - 0.5)
    ax.set_ylim(0, top * 1.3)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _group(r: Result) -> _Group:
    return (r.num_workers, r.label)


def _bar(
    ax: Axes, pos: float, width: float, cell: Result, everything: Sequence[Result], top: float
) -> None:
    """One bar with its value above it, the plugin ratio above that (ours), or 'skipped'."""
    if cell.skipped:
        ax.text(pos, top * 0.02, "skipped", rotation=90, color="#555555", gid="skipped", **_TEXT)
        return
    value = cell.objects_per_s
    ax.bar(pos, value, width, color=COLORS.get(cell.system, "#c0504d"), edgecolor="white")
    ax.annotate(_count(value), (pos, value), xytext=(0, 2), textcoords="offset points", **_TEXT)
    ratio = ratio_to_plugin(cell, list(everything)) if cell.system == "aisloader" else None
    if ratio is not None:
        ax.annotate(
            f"{ratio:.1f}×\nplugin",
            (pos, value),
            xytext=(0, 12),
            textcoords="offset points",
            fontweight="bold",
            color=_RATIO_COLOR,
            gid="ratio",
            **_TEXT,
        )


def _group_label(group: _Group) -> str:
    workers, label = group
    text = f"{workers} worker{'' if workers == 1 else 's'}"
    return f"{text}\nbatch {label[1:]}" if label.startswith("b") else text


def _count(value: float) -> str:
    if value >= 9_950:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


def settings_line(results: Sequence[Result], settings: Mapping[str, Any] | None) -> str:
    """The run's settings in one line: data, workers, batch, window, latency, cluster."""
    workers = sorted({r.num_workers for r in results if r.mode != "core"}) or [0]
    cfg = dict(settings or {})
    parts = []
    if cfg.get("bucket"):
        parts.append(f"ais://{cfg['bucket']}/{cfg.get('prefix', '')}")
    elif "count" in cfg:
        low, high = cfg.get("object_size", (0, 0))
        size = _size(low) if low == high else f"{_size(low)}–{_size(high)}"
        parts.append(f"{cfg['count']:,} objects × {size}")
        parts.append(
            f"{cfg.get('shards')} shards × {cfg.get('samples_per_shard', 0):,} samples "
            f"({_size(cfg.get('member_size', 0))} jpg + cls + json)"
        )
    parts.append("workers " + ",".join(map(str, workers)))
    if "batch_size" in cfg:
        parts.append(f"batch {cfg['batch_size']}, window {cfg.get('window')}")
    latency = cfg.get("latency") or 0.0
    if latency:
        parts.append(f"target latency {latency * 1e3:g} ms")
    if "start_method" in cfg:
        parts.append(str(cfg["start_method"]))
    if settings is not None:
        parts.append(f"cluster {cfg['endpoint']}" if cfg.get("endpoint") else "embedded cluster")
    return " · ".join(parts)
