"""``help()`` and ``inspect.signature`` show every parameter a dataset takes (not ``**kwargs``),
and each keyword they show is one the constructor accepts."""

from __future__ import annotations

import inspect
import pydoc
from typing import Any

import pytest
from _shared import FAST

from aisloader.server import LocalCluster
from aisloader.torch import (
    AISBatchIterDataset,
    AISIterDataset,
    AISMapDataset,
    AISMultiShardStream,
    AISParallelMapDataset,
    AISShardReader,
)

CLASSES = [
    AISIterDataset,
    AISMapDataset,
    AISShardReader,
    AISBatchIterDataset,
    AISMultiShardStream,
    AISParallelMapDataset,
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_keyword_is_shown_and_accepted(
    cls: type, cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    params = inspect.signature(cls).parameters.values()
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params)
    shown = {p.name for p in params}
    assert {"endpoint", "config", "transform"} <= shown
    source: Any = ["ais://tds/o/"] if cls is AISMultiShardStream else "ais://tds/o/"
    for p in params:
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("endpoint", "config"):
            cls(source, endpoint=cluster.endpoint, config=FAST, **{p.name: p.default})
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    init = text[text.index("__init__(self") :].split("\n")[0]  # help()'s __init__ line
    assert "**kwargs" not in init
    assert "endpoint: 'str | None' = None" in init
