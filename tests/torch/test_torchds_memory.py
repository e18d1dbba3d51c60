"""Memory: a map-style dataset over 200k names, 2 forked workers touching every index.

Forked workers share the parent's pages until they write to them. A Python list of objects (the
official plugin keeps SDK ``Object``s) is written to merely by reading it: every access bumps
reference counts and the garbage collector writes object headers, so each worker ends up with a
private copy of the pages it touches (pytorch#13246). Our :class:`Manifest` keeps the names in
one ``bytes`` blob plus ``array`` offsets, so reading index ``i`` writes to no shared page.

Measured on this machine: ours grows each worker's private memory (USS) by ~0.5 MiB, the
plugin-style list by ~33 MiB. The bound (16 MiB) sits between them and is checked both ways.
The names come through the dataset's real path (``ObjectList`` → ``build_manifest`` →
``Manifest``); no object is read, so nothing needs to exist on the cluster.
"""

from __future__ import annotations

from typing import Any

from _shared import load
from torchds_util import NamesOnly, PluginStyleNames

from aisloader.server import LocalCluster
from aisloader.torch import ObjectList

NAMES = 200_000
MIB = 1 << 20
BOUND = 16 * MIB


def _touch_all(dataset: Any) -> tuple[int, int, int]:
    """(indices read, name characters read, largest USS growth of a worker)."""
    rows = load(dataset, 2, "fork", batch_size=2000)
    return sum(r[0] for r in rows), sum(r[1] for r in rows), max(r[2] for r in rows)


def test_manifest_keeps_forked_workers_small(cluster: LocalCluster) -> None:
    names = [f"train/shard-{i // 1000:04d}/{i:07d}.jpg" for i in range(NAMES)]
    chars = sum(len(n) for n in names)
    ours = NamesOnly(ObjectList("tds", names), endpoint=cluster.endpoint)
    plugin_style = PluginStyleNames(cluster.endpoint, "tds", names)
    del names
    assert len(ours) == len(plugin_style) == NAMES

    read, touched, growth = _touch_all(ours)
    assert (read, touched) == (NAMES, chars)  # every index, through the manifest
    assert growth < BOUND, f"worker private memory grew {growth / MIB:.1f} MiB"

    read, touched, plugin_growth = _touch_all(plugin_style)
    assert (read, touched) == (NAMES, chars)
    assert plugin_growth > BOUND, f"the plugin-style list grew only {plugin_growth / MIB:.1f} MiB"
