"""Bucket and object naming rules of the embedded cluster (protocol doc sections 2.3, 3.1, 5).

Written independently of the client's ``refs`` module on purpose: a URL or naming bug in the
client must not be mirrored by the server that tests it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aisloader.server.errors import EmuError

__all__ = ["BucketId", "check_object_name", "parse_bucket"]

_PROVIDERS = {
    "": "ais",
    "ais": "ais",
    "aws": "aws",
    "s3": "aws",
    "gcp": "gcp",
    "gs": "gcp",
    "azure": "azure",
    "az": "azure",
    "oci": "oci",
    "oc": "oci",
}
_SCHEMES = {"ais": "ais", "aws": "s3", "gcp": "gs", "azure": "az", "oci": "oc"}
_BUCKET_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_NS_PART_RE = re.compile(r"[A-Za-z0-9_.\-]{0,64}")
MAX_OBJECT_NAME = 1024


@dataclass(frozen=True, order=True)
class BucketId:
    """A bucket: normalized provider, namespace (``""`` = global) and name."""

    name: str
    provider: str = "ais"
    ns: str = ""

    @property
    def ns_uname(self) -> str:
        """Namespace as it appears in an HRW uname: ``@#`` for the global namespace."""
        return self.ns or "@#"

    @property
    def display(self) -> str:
        """``ais://b``, ``s3://b`` or ``ais://@uuid#ns/b`` as AIS messages show it."""
        ns = f"{self.ns}/" if self.ns else ""
        return f"{_SCHEMES[self.provider]}://{ns}{self.name}"

    def uname(self, obj: str) -> str:
        """The HRW unique name ``provider/ns/bucket/obj``."""
        return f"{self.provider}/{self.ns_uname}/{self.name}/{obj}"


def normalize_provider(provider: str) -> str:
    """Map a provider or alias (``s3``, ``gs``...) to its canonical name.

    Raises:
        EmuError: 400 for an unknown provider.
    """
    try:
        return _PROVIDERS[provider.lower()]
    except KeyError:
        raise EmuError(400, f'invalid backend provider "{provider}"') from None


def _check_namespace(ns: str) -> str:
    if not ns or ns == "@#":
        return ""
    uuid, sep, name = ns.removeprefix("@").partition("#")
    ok = ns.startswith("@") and sep and _NS_PART_RE.fullmatch(uuid) and _NS_PART_RE.fullmatch(name)
    if not ok or not (uuid or name):
        raise EmuError(400, f'invalid namespace "{ns}"')
    return ns


def check_bucket_name(name: str) -> str:
    """Validate a bucket name per section 3.1 and return it.

    Raises:
        EmuError: 400 when the name is empty, too long, has bad characters, ``..`` or a leading dot.
    """
    if not _BUCKET_RE.fullmatch(name) or ".." in name or name.startswith("."):
        raise EmuError(400, f'bucket name "{name}" is invalid')
    return name


def parse_bucket(name: str, provider: str = "", namespace: str = "") -> BucketId:
    """Build a validated `BucketId` from the URL segment and query values.

    Raises:
        EmuError: 400 for a bad name, provider or namespace.
    """
    return BucketId(
        check_bucket_name(name), normalize_provider(provider), _check_namespace(namespace)
    )


def check_object_name(bck: BucketId, name: str) -> str:
    """Reject object names that could escape the bucket directory or that AIS refuses.

    Raises:
        EmuError: 400 for empty names, names over 1024 bytes, NUL bytes, absolute paths,
            ``~/`` prefixes, trailing ``/``, and empty, ``.`` or ``..`` path components.
    """
    problem = ""
    if not name:
        problem = "is empty"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_OBJECT_NAME:
        problem = f"is longer than {MAX_OBJECT_NAME} bytes"
    elif "\x00" in name:
        problem = "contains a NUL byte"
    elif name.startswith(("/", "~/")) or name.endswith("/"):
        problem = "must not start with '/' or '~/' nor end with '/'"
    elif any(part in ("", ".", "..") for part in name.split("/")):
        problem = "must not contain empty, '.' or '..' path components"
    if problem:
        raise EmuError(400, f'invalid object name "{bck.display}/{name[:64]!s}": {problem}')
    return name
