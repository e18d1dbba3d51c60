"""The helpers ``aistore.pytorch.utils`` offers, for code that imports them."""

from __future__ import annotations

from aisloader.refs import parse_source_url

__all__ = [
    "MB_TO_B",
    "convert_bytes_to_mb",
    "convert_mb_to_bytes",
    "get_basename",
    "get_extension",
    "parse_url",
    "unparse_url",
]

MB_TO_B = 1_000_000


def convert_mb_to_bytes(megabytes: float) -> int:
    """Megabytes (10^6 bytes) to whole bytes, rounded down."""
    return int(megabytes * MB_TO_B // 1)


def convert_bytes_to_mb(num_bytes: int) -> float:
    """Bytes to megabytes (10^6 bytes)."""
    return num_bytes / MB_TO_B


def unparse_url(provider: str, bck_name: str, obj_name: str) -> str:
    """``provider://bucket/object``."""
    return (
        f"{provider}://{bck_name}/{obj_name.lstrip('/')}"
        if obj_name
        else f"{provider}://{bck_name}"
    )


def get_basename(name: str) -> str:
    """The file name without directories and without anything from its first dot on."""
    return name.rsplit("/", 1)[-1].split(".", 1)[0]


def get_extension(name: str) -> str:
    """The file name's last extension (after its last dot), or ``""``."""
    base = name.rsplit("/", 1)[-1]
    return base.rpartition(".")[2] if "." in base else ""


def parse_url(url: str) -> tuple[str, str, str]:
    """``(scheme, bucket, object)`` of ``scheme://bucket/object``, the scheme as written.

    Raises:
        ValueError: not such a URL.
    """
    bucket, name = parse_source_url(url)  # validates
    return url.partition("://")[0], bucket.name, name
