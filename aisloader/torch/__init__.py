"""PyTorch datasets over AIStore (the only package that imports torch).

Class names and module paths match ``aistore.pytorch``, and under those names the plugin's
behaviour is the default (sample shapes, constructor parameters, subclass hooks, SDK sources
with their own cluster), so code migrates by changing the import. Our richer behaviour (dict
samples, policies, shuffle, ranks, get-batch for map batches) is opt-in by keyword.
"""

import torch  # noqa: F401  (fail loudly here when the 'torch' extra is missing)

from aisloader.core.listing.sources import ObjectList
from aisloader.torch.base_iter_dataset import AISBaseIterDataset
from aisloader.torch.base_map_dataset import AISBaseMapDataset
from aisloader.torch.batch_iter_dataset import AISBatchIterDataset
from aisloader.torch.dynamic_sampler import DynamicBatchSampler
from aisloader.torch.iter_dataset import AISIterDataset
from aisloader.torch.lookahead import AheadBatch, Lookahead
from aisloader.torch.map_dataset import AISMapDataset
from aisloader.torch.multishard_dataset import AISMultiShardStream
from aisloader.torch.parallel_map_dataset import AISParallelMapDataset
from aisloader.torch.progress import LoaderProgress, loader_states
from aisloader.torch.shard_map import AISShardMapDataset
from aisloader.torch.shard_reader import AISShardReader
from aisloader.torch.stall import StallMeter

__all__ = [
    "AISBaseIterDataset",
    "AISBaseMapDataset",
    "AISBatchIterDataset",
    "AISIterDataset",
    "AISMapDataset",
    "AISMultiShardStream",
    "AISParallelMapDataset",
    "AISShardMapDataset",
    "AISShardReader",
    "AheadBatch",
    "DynamicBatchSampler",
    "LoaderProgress",
    "Lookahead",
    "ObjectList",
    "StallMeter",
    "loader_states",
]
