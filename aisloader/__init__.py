"""aisloader: fast, correct PyTorch data loading from AIStore.

Public names only; importing this package starts no thread and imports no torch.
"""

from aisloader.config import ClientConfig
from aisloader.errors import (
    AISError,
    AISLoaderError,
    BucketNotFound,
    ConfigError,
    ObjectNotFound,
    ShardFormatError,
    TransportError,
)
from aisloader.refs import Bucket, ObjectRef

__all__ = [
    "AISError",
    "AISLoaderError",
    "Bucket",
    "BucketNotFound",
    "ClientConfig",
    "ConfigError",
    "ObjectNotFound",
    "ObjectRef",
    "ShardFormatError",
    "TransportError",
]

__version__ = "0.1.0"
