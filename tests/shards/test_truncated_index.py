"""A truncated or corrupt shard is never a silently shorter dataset: the shard index (and
every archive listing) raises ShardFormatError naming it, as the streaming reader does."""

from __future__ import annotations

import pytest
from _shared import FAST

from aisloader.errors import ShardFormatError
from aisloader.server import LocalCluster
from aisloader.torch import AISShardMapDataset, AISShardReader

from .util import regular_shard


@pytest.mark.parametrize("damage", ["truncated", "header"])
def test_a_damaged_shard_is_named_not_dropped(
    cluster: LocalCluster, bucket: str, damage: str
) -> None:
    for s in range(3):
        cluster.put_object(bucket, f"d/{s}.tar", regular_shard(s, 4))
    whole = regular_shard(3, 4)  # 12 members
    if damage == "truncated":
        bad = whole[:700]
    else:
        spoilt = bytearray(whole)
        spoilt[5 * 1024 + 100 : 5 * 1024 + 140] = b"Z" * 40  # inside the 6th member's header
        bad = bytes(spoilt)
    cluster.put_object(bucket, "d/3.tar", bad)
    url = f"ais://{bucket}/d/"
    with pytest.raises(ShardFormatError, match=rf"ais://{bucket}/d/3\.tar"):
        AISShardMapDataset(url, endpoint=cluster.endpoint, config=FAST)
    with pytest.raises(ShardFormatError, match=rf"ais://{bucket}/d/3\.tar"):
        list(AISShardReader(url, endpoint=cluster.endpoint, config=FAST))
