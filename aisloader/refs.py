"""Bucket and object references: ``ais://bucket/name`` URLs, providers, namespaces, URL paths.

Pure rules, no I/O. The embedded server has its own parsing on purpose (a URL bug must not be
mirrored on both sides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "Bucket",
    "ObjectRef",
    "RefLike",
    "as_ref",
    "normalize_provider",
    "parse_source_url",
]

# canonical provider -> scheme shown in ais:// style URLs (as AIS prints them)
_SCHEME = {"ais": "ais", "aws": "s3", "gcp": "gs", "azure": "az", "oci": "oc", "ht": "ht"}
_ALIASES = {
    "ais": "ais",
    "aws": "aws",
    "s3": "aws",
    "gcp": "gcp",
    "gs": "gcp",
    "azure": "azure",
    "az": "azure",
    "oci": "oci",
    "oc": "oci",
    "ht": "ht",
}
_BUCKET_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_URL_FORMS = "expected 'ais://bucket/object' (schemes: ais, s3, gs, gcp, az, oci, ht)"


def normalize_provider(provider: str) -> str:
    """Return the canonical provider name (``s3`` → ``aws``, ``gs`` → ``gcp``, …).

    Raises:
        ValueError: unknown provider.
    """
    try:
        return _ALIASES[provider.lower()]
    except KeyError:
        raise ValueError(
            f"unknown provider {provider!r}; use one of ais, s3/aws, gs/gcp, az/azure, oci, ht"
        ) from None


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket: name, canonical provider and namespace (``@uuid#name``, '' = global)."""

    name: str
    provider: str = "ais"
    namespace: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "provider", normalize_provider(self.provider))
        if not _BUCKET_RE.match(self.name) or self.name.startswith(".") or ".." in self.name:
            raise ValueError(
                f"invalid bucket name {self.name!r}: 1-64 characters of [A-Za-z0-9_.-], "
                "not starting with '.' and without '..'"
            )
        if self.namespace and not self.namespace.startswith("@"):
            raise ValueError(f"namespace must look like '@uuid#name', got {self.namespace!r}")

    @property
    def uri(self) -> str:
        """``ais://name`` (``s3://``, ``gs://``, …; namespace shown as ``@uuid#ns/``)."""
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{_SCHEME[self.provider]}://{ns}{self.name}"

    @property
    def query(self) -> dict[str, str]:
        """Query parameters that address this bucket."""
        params = {"provider": self.provider}
        if self.namespace:
            params["namespace"] = self.namespace
        return params

    @property
    def path(self) -> str:
        """URL path of the bucket (``/v1/buckets/{name}``)."""
        return f"/v1/buckets/{self.name}"

    @property
    def uname_prefix(self) -> str:
        """``provider/ns/bucket/`` as used by HRW (global namespace is ``@#``)."""
        return f"{self.provider}/{self.namespace or '@#'}/{self.name}/"

    def object(self, name: str) -> ObjectRef:
        """Reference an object of this bucket."""
        return ObjectRef(self, name)

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An object: its bucket and name."""

    bucket: Bucket
    name: str

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError(f"empty object name in {self.bucket.uri}; {_URL_FORMS}")

    @property
    def uri(self) -> str:
        """``ais://bucket/name``."""
        return f"{self.bucket.uri}/{self.name}"

    @property
    def path(self) -> str:
        """Percent-encoded URL path (``/v1/objects/{bucket}/{name}``; ``/`` kept)."""
        return f"/v1/objects/{self.bucket.name}/{quote(self.name, safe='/')}"

    @property
    def uname(self) -> str:
        """Unique name used by HRW: ``provider/ns/bucket/name``."""
        return self.bucket.uname_prefix + self.name

    def __str__(self) -> str:
        return self.uri


RefLike = ObjectRef | str | tuple[Bucket | str, str]


def parse_source_url(url: str) -> tuple[Bucket, str]:
    """Split ``ais://bucket[/prefix]`` into the bucket and the (possibly empty) prefix.

    Raises:
        ValueError: not of the form ``scheme://bucket[/rest]``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise ValueError(f"invalid AIS URL {url!r}: {_URL_FORMS}")
    try:
        provider = normalize_provider(scheme)
    except ValueError:
        raise ValueError(
            f"invalid AIS URL {url!r}: unknown scheme {scheme!r}; {_URL_FORMS}"
        ) from None
    namespace = ""
    if rest.startswith("@"):
        namespace, sep, rest = rest.partition("/")
        if not sep:
            raise ValueError(f"invalid AIS URL {url!r}: namespace without bucket; {_URL_FORMS}")
    name, _, prefix = rest.partition("/")
    if not name:
        raise ValueError(f"invalid AIS URL {url!r}: no bucket name; {_URL_FORMS}")
    try:
        return Bucket(name, provider, namespace), prefix
    except ValueError as exc:
        raise ValueError(f"invalid AIS URL {url!r}: {exc}") from None


def as_ref(ref: RefLike) -> ObjectRef:
    """Accept an :class:`ObjectRef`, an ``ais://bucket/name`` string or a (bucket, name) pair.

    Raises:
        ValueError: the string is not an object URL, or the pair is malformed.
    """
    if isinstance(ref, ObjectRef):
        return ref
    if isinstance(ref, str):
        bucket, name = parse_source_url(ref)
        if not name:
            raise ValueError(f"invalid object URL {ref!r}: no object name; {_URL_FORMS}")
        return ObjectRef(bucket, name)
    if isinstance(ref, tuple) and len(ref) == 2:
        bucket_like, name = ref
        bucket = Bucket(bucket_like) if isinstance(bucket_like, str) else bucket_like
        if isinstance(bucket, Bucket) and isinstance(name, str):
            return ObjectRef(bucket, name)
    raise ValueError(f"invalid object reference {ref!r}: {_URL_FORMS} or a (bucket, name) pair")
