"""aisloader: fast, correct PyTorch data loading from AIStore.

Public names only; importing this package starts no thread and imports no torch.
"""

from aisloader.bridge.client import Client
from aisloader.config import ClientConfig
from aisloader.core.batch.entry import BatchEntry
from aisloader.core.client import AsyncClient
from aisloader.core.streams.objects import ObjectStream
from aisloader.core.streams.skips import SkipBudgetExceeded
from aisloader.core.streams.state import merge_states
from aisloader.errors import (
    AISError,
    AISLoaderError,
    BucketNotFound,
    ConfigError,
    ObjectNotFound,
    ShardFormatError,
    SkipNeedsBatches,
    TransportError,
)
from aisloader.ledger import Ledger
from aisloader.padding import is_padding
from aisloader.refs import Bucket, ObjectRef

__all__ = [
    "AISError",
    "AISLoaderError",
    "AsyncClient",
    "BatchEntry",
    "Bucket",
    "BucketNotFound",
    "Client",
    "ClientConfig",
    "ConfigError",
    "Ledger",
    "ObjectNotFound",
    "ObjectRef",
    "ObjectStream",
    "ShardFormatError",
    "SkipBudgetExceeded",
    "SkipNeedsBatches",
    "TransportError",
    "is_padding",
    "merge_states",
]

__version__ = "0.1.0"
