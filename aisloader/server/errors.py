"""AIS-shaped errors (protocol doc section 7.1): one exception, rendered in one place."""

from __future__ import annotations

import json

from aiohttp import web

__all__ = ["EmuError", "clip", "error_response"]

MAX_URL_PATH = 1024  # ``url_path`` is cut to this: a HEAD error travels in a header


class EmuError(Exception):
    """An error the emulator answers with: HTTP status, AIS ``tcode`` and message.

    ``headers`` are added to the error response (e.g. ``Content-Range`` on a 416).
    """

    def __init__(
        self, status: int, message: str, tcode: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.tcode = tcode
        self.headers = headers or {}


def clip(text: str, limit: int = 64) -> str:
    """``text`` cut to ``limit`` characters (``...`` marks the cut): client input quoted in a
    message must not make the error bigger than the request (a HEAD error is a header)."""
    return text if len(text) <= limit else text[:limit] + "..."


def not_found_bucket(display: str) -> EmuError:
    """The error for a missing bucket; the SDK maps it to ``ErrBckNotFound``."""
    return EmuError(404, f'bucket "{display}" does not exist', "ErrBckNotFound")


def error_body(request: web.Request, err: EmuError, node: str) -> str:
    """The compact ``cmn.ErrHTTP`` JSON for ``err``."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    body: dict[str, object] = {"message": err.message}
    if err.tcode:
        body = {"tcode": err.tcode, **body}
    body.update(
        method=request.method,
        url_path=clip(request.path, MAX_URL_PATH),
        remote_addr=f"{peer[0]}:{peer[1]}" if peer else "",
        caller="",
        node=node,
        status=err.status,
    )
    return json.dumps(body, separators=(",", ":"))


def error_response(request: web.Request, err: EmuError, node: str) -> web.Response:
    """Render ``err``: JSON body, or the ``Hdr-Error`` header and no body for HEAD."""
    text = error_body(request, err, node)
    headers = dict(err.headers)
    headers["X-Content-Type-Options"] = "nosniff"
    if request.method == "HEAD":
        headers["Hdr-Error"] = text
        return web.Response(status=err.status, headers=headers)
    return web.Response(
        status=err.status, body=text.encode(), content_type="application/json", headers=headers
    )
