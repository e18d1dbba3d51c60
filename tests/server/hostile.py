"""What every hostile-input test checks of an error answer: AIS's error JSON, nothing leaked."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp

ERROR_KEYS = {"message", "method", "url_path", "remote_addr", "caller", "node", "status"}


def leaks(text: str, root: Path) -> list[str]:
    """What ``text`` shows that an answer must not: the store root, a Python traceback."""
    found = [p for p in {str(root), os.path.realpath(root)} if p in text]
    return found + [w for w in ("Traceback", 'File "') if w in text]


async def ais_error(
    r: aiohttp.ClientResponse, status: int, root: Path, *needles: str
) -> dict[str, Any]:
    """Check that ``r`` is AIS's error answer (``cmn.ErrHTTP``: JSON body, or the
    ``Hdr-Error`` header for HEAD) with ``status`` and a message holding every needle."""
    if r.method == "HEAD":
        text = r.headers["Hdr-Error"]
    else:
        text = await r.text()
        assert r.content_type == "application/json", text
    assert r.status == status, text
    body: dict[str, Any] = json.loads(text)
    assert set(body) >= ERROR_KEYS, body
    assert body["status"] == status
    for needle in needles:
        assert needle in body["message"], body["message"]
    assert not leaks(text, root), text
    return body
