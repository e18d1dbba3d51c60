"""Bucket and object naming rules of the embedded cluster (protocol doc sections 2.3, 3.1, 5).

Written independently of the client's ``refs`` module on purpose: a URL or naming bug in the
client must not be mirrored by the server that tests it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aisloader.server.errors import EmuError, clip

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
MAX_COMPONENT = 255  # NAME_MAX of Linux file systems: a longer component cannot be stored


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
        raise EmuError(400, f'invalid backend provider "{clip(provider)}"') from None


def _check_namespace(ns: str) -> str:
    if not ns or ns == "@#":
        return ""
    uuid, sep, name = ns.removeprefix("@").partition("#")
    ok = ns.startswith("@") and sep and _NS_PART_RE.fullmatch(uuid) and _NS_PART_RE.fullmatch(name)
    if not ok or not (uuid or name):
        raise EmuError(400, f'invalid namespace "{clip(ns)}"')
    return ns


def check_bucket_name(name: str) -> str:
    """Validate a bucket name per section 3.1 and return it.

    Raises:
        EmuError: 400 when the name is empty, too long, has bad characters, ``..`` or a leading dot.
    """
    if not _BUCKET_RE.fullmatch(name) or ".." in name or name.startswith("."):
        raise EmuError(400, f'bucket name "{clip(name)}" is invalid')
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

    Objects are files named after the object, so a name the file system cannot hold is refused
    here, as a 400 naming the object, rather than failing later as an I/O error (a 500).

    Raises:
        EmuError: 400 for empty names, names over 1024 bytes or not valid UTF-8 (lone
            surrogates), NUL bytes, absolute paths, ``~/`` prefixes, trailing ``/``, empty,
            ``.`` or ``..`` path components, and components over 255 bytes.
    """
    if problem := _name_problem(name):
        raise EmuError(400, f'invalid object name "{bck.display}/{clip(name)}": {problem}')
    return name


def _name_problem(name: str) -> str:
    """What is wrong with object name ``name`` (``""``: nothing)."""
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (it has a lone surrogate)"
    parts = name.split("/")
    if not name:
        return "is empty"
    if len(raw) > MAX_OBJECT_NAME:
        return f"is longer than {MAX_OBJECT_NAME} bytes"
    if "\x00" in name:
        return "contains a NUL byte"
    if name.startswith(("/", "~/")) or name.endswith("/"):
        return "must not start with '/' or '~/' nor end with '/'"
    if any(part in ("", ".", "..") for part in parts):
        return "must not contain empty, '.' or '..' path components"
    if any(len(part.encode()) > MAX_COMPONENT for part in parts):
        return f"has a path component longer than {MAX_COMPONENT} bytes (file name too long)"
    return ""
