"""What a network failure tells the user: the typed error for it, at once where retrying cannot
help (nothing listens at the endpoint; a TLS setup that is wrong), with a hint where one is
known (a connection an https cluster drops without an answer)."""

from __future__ import annotations

import errno

import aiohttp
from yarl import URL

from aisloader.config import ClientConfig
from aisloader.errors import ConfigError, TransportError

__all__ = [
    "cut_short",
    "disconnect_hint",
    "nothing_listening",
    "refused",
    "tls_failure",
    "transport_error",
]


def tls_failure(exc: BaseException, endpoint: str, about: str) -> ConfigError | None:
    """The error for a TLS handshake that failed (None for any other failure), chained to
    ``exc``: an untrusted certificate, or TLS spoken to a port that does not speak it."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = getattr(exc.certificate_error, "verify_message", "") or exc.certificate_error
        err = ConfigError(
            f"{about}: the TLS certificate of {endpoint} is not trusted ({reason}): set "
            "AIS_CLIENT_CA (or ClientConfig.ca_bundle) to the cluster's CA bundle, or "
            "AIS_SKIP_VERIFY_CRT=true to skip verification (insecure)"
        )
    elif isinstance(exc, aiohttp.ClientSSLError):
        err = ConfigError(
            f"{about}: the TLS handshake with {endpoint} failed ({exc}): does the cluster "
            "serve https? An http cluster needs an http:// endpoint"
        )
    else:
        return None
    err.__cause__ = exc
    return err


def disconnect_hint(exc: BaseException, endpoint: str, config: ClientConfig) -> str:
    """A hint for a connection closed or reset before any answer ('' when there is none to
    give)."""
    if not (isinstance(exc, aiohttp.ServerDisconnectedError) or _reset(exc)):
        return ""
    if endpoint.startswith("https://") and config.client_cert is None:
        return (
            "; a cluster that requires client certificates (mTLS) closes connections so: "
            "set AIS_CRT and AIS_CRT_KEY"
        )
    if endpoint.startswith("http://"):
        return "; if the cluster serves https, the endpoint must start with https://"
    return ""


def cut_short(exc: BaseException) -> bool:
    """``exc`` cut a connection the server had taken (a body ended early, a reset, a kept-alive
    connection closed under the request): not a sign of load, unlike a timeout or a refusal."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerTimeoutError):
        return False
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return True
    return _reset(exc)


def _reset(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return True
    return isinstance(exc, aiohttp.ClientOSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)


def refused(exc: BaseException, endpoint: str) -> bool:
    """``exc`` is a connection refused by ``endpoint``'s host and port (nothing listens)."""
    if not isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if not isinstance(exc.os_error, ConnectionRefusedError):
        return False
    url = URL(endpoint)
    return exc.host == url.host and exc.port == url.port


def nothing_listening(
    exc: BaseException, endpoint: str, about: str, attempts: int
) -> TransportError:
    """The error for an endpoint that refuses connections (chained to ``exc``)."""
    err = TransportError(
        f"nothing is listening at {endpoint} ({about}): is the cluster running, and is "
        "AIS_ENDPOINT (or endpoint=) right?",
        url=about,
        attempts=attempts,
    )
    err.__cause__ = exc
    return err


def transport_error(
    exc: BaseException, about: str, attempts: int, hint: str = ""
) -> TransportError:
    """The :class:`TransportError` for an aiohttp/OS failure (chain it with ``from``)."""
    kind = type(exc).__name__
    text = f"{about}: network failure ({kind}: {exc})" if str(exc) else f"{about}: {kind}"
    err = TransportError(text + hint, url=about, attempts=attempts)
    err.__cause__ = exc
    return err
