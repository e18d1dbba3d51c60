"""TLS for the embedded cluster: a throwaway CA, a server and a client certificate, contexts.

`make_pki` writes a self-signed CA and, signed by it, a server certificate for the host the
cluster binds (plus ``localhost`` and ``127.0.0.1``) and a client certificate for mTLS — test
material, never for production. `server_context` serves with it; with ``client_certs`` the
handshake also demands a client certificate signed by the CA (as AIS with
``net.http.client_auth_tls``). Needs ``cryptography`` (``pip install 'aisloader[tls]'``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TlsFiles", "make_pki", "server_context"]

_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    """PEM paths: the CA, the server's certificate and key, a client's certificate and key.

    A client trusts the cluster with ``AIS_CLIENT_CA=ca`` and presents itself (mTLS) with
    ``AIS_CRT=client_cert`` and ``AIS_CRT_KEY=client_key``.
    """

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def make_pki(directory: str | os.PathLike[str], host: str = "127.0.0.1") -> TlsFiles:
    """Write a fresh CA, server and client certificate (and keys) into ``directory``.

    Raises:
        RuntimeError: ``cryptography`` is not installed (says what to install).
        OSError: the files cannot be written.
    """
    x = _crypto()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ca_key = x.ec.generate_private_key(x.ec.SECP256R1())
    ca_name = _name(x, "aisloader embedded cluster test CA")
    ca = _cert(x, ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    names = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
    files = TlsFiles(*(str(out / n) for n in names))
    _write(x, files.ca, ca, None)
    for who, cert_path, key_path, alt in (
        ("server", files.server_cert, files.server_key, {host, "localhost", "127.0.0.1"}),
        ("client", files.client_cert, files.client_key, set()),
    ):
        key = x.ec.generate_private_key(x.ec.SECP256R1())
        cert = _cert(x, _name(x, f"aisloader {who}"), ca_name, key.public_key(), ca_key, alt=alt)
        _write(x, cert_path, cert, key, key_path)
    return files


def server_context(files: TlsFiles, client_certs: bool = False) -> ssl.SSLContext:
    """The server side: its certificate; with ``client_certs``, clients must present one the
    CA signed (the handshake fails otherwise).

    Raises:
        OSError, ssl.SSLError: the files cannot be loaded.
    """
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.server_cert, files.server_key)
    if client_certs:
        ctx.load_verify_locations(files.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class _Crypto:
    """The ``cryptography`` modules, imported on first use (an optional dependency)."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self.x509, self.hashes, self.ser, self.ec = x509, hashes, serialization, ec
        self.eku, self.oid = ExtendedKeyUsageOID, NameOID


def _crypto() -> _Crypto:
    try:
        return _Crypto()
    except ImportError as e:
        raise RuntimeError(
            "TLS for the embedded cluster needs the cryptography package: "
            "pip install 'aisloader[tls]'"
        ) from e


def _name(x: _Crypto, common: str) -> Any:
    return x.x509.Name([x.x509.NameAttribute(x.oid.COMMON_NAME, common)])


def _cert(
    x: _Crypto,
    subject: Any,
    issuer: Any,
    public: Any,
    signer: Any,
    *,
    ca: bool = False,
    alt: set[str] | None = None,
) -> Any:
    now = dt.datetime.now(dt.UTC)
    b = (
        x.x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x.x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_DAYS))
        .add_extension(x.x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = dict.fromkeys(
            ("content_commitment", "key_encipherment", "data_encipherment"), False
        )
        b = b.add_extension(
            x.x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
                **usage,
            ),
            critical=True,
        )
    elif alt:
        b = b.add_extension(x.x509.SubjectAlternativeName(_alt_names(x, alt)), critical=False)
        b = b.add_extension(x.x509.ExtendedKeyUsage([x.eku.SERVER_AUTH]), critical=False)
    else:
        b = b.add_extension(x.x509.ExtendedKeyUsage([x.eku.CLIENT_AUTH]), critical=False)
    return b.sign(signer, x.hashes.SHA256())


def _alt_names(x: _Crypto, names: set[str]) -> list[Any]:
    out: list[Any] = []
    for n in sorted(names):
        try:
            out.append(x.x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x.x509.DNSName(n))
    return out


def _write(x: _Crypto, cert_path: str, cert: Any, key: Any, key_path: str = "") -> None:
    Path(cert_path).write_bytes(cert.public_bytes(x.ser.Encoding.PEM))
    if key is not None:
        pem = key.private_bytes(x.ser.Encoding.PEM, x.ser.PrivateFormat.PKCS8, x.ser.NoEncryption())
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
