"""What to tell a user whose TLS setup is wrong: failures that retrying cannot fix are reported
at once; a connection an https cluster drops without an answer gets a hint."""

from __future__ import annotations

import aiohttp

from aisloader.config import ClientConfig
from aisloader.errors import ConfigError

__all__ = ["disconnect_hint", "tls_failure"]


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
    """A hint for a connection closed before any answer ('' when there is none to give)."""
    if not isinstance(exc, aiohttp.ServerDisconnectedError):
        return ""
    if endpoint.startswith("https://") and config.client_cert is None:
        return (
            "; a cluster that requires client certificates (mTLS) closes connections so: "
            "set AIS_CRT and AIS_CRT_KEY"
        )
    if endpoint.startswith("http://"):
        return "; if the cluster serves https, the endpoint must start with https://"
    return ""
