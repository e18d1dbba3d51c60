"""Functions run in child processes by the bridge tests (importable under every start method)."""

from __future__ import annotations

import hashlib

from aisloader.bridge.client import Client


def read_digests(client: Client, bucket: str, names: list[str]) -> list[str]:
    """Read objects through a (pickled) Client; return their sha256 digests."""
    out = [hashlib.sha256(client.get((bucket, n))).hexdigest() for n in names]
    out += [hashlib.sha256(d).hexdigest() for _, d in client.get_many([(bucket, n) for n in names])]
    client.close()
    return out
