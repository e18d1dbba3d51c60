"""``python -m aisloader serve``: run the embedded cluster in the foreground.

The first line of stdout is the proxy endpoint (flushed), so scripts can read it; Ctrl-C or
SIGTERM stops the cluster cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import signal
import sys

from aisloader.server.cluster import LocalCluster
from aisloader.server.faults import service_latency
from aisloader.server.tls import TlsFiles, make_pki

__all__ = ["main", "parse_time"]

_EPILOG = """\
inline ETL (GET /v1/objects/BUCKET/OBJ?etl_name=NAME[&etl_args=ARGS]), built in:
  echo     the object unchanged
  upper    the object's bytes upper-cased (ASCII)
  md5      the lowercase hex MD5 of the object
  prefix   etl_args + the object (etl_args required)
also with &archpath=MEMBER; not with a Range header, nor on get-batch (/v1/ml/moss).
Python code embedding the cluster adds its own with LocalCluster.register_etl()."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m aisloader serve",
        description="Run an embedded AIS-compatible cluster.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--root", help="storage directory (objects persist); default: a temp dir")
    p.add_argument("--port", type=int, default=0, help="proxy port (default: any free port)")
    p.add_argument("--targets", type=int, default=2, help="number of targets (default: 2)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed for node IDs (default: 0)")
    p.add_argument(
        "--no-get-batch",
        action="store_true",
        help="answer get-batch (/v1/ml/moss) with 501 ErrNotImpl",
    )
    p.add_argument(
        "--latency",
        type=parse_time,
        default=0.0,
        metavar="TIME",
        help="service latency added to every target GET, e.g. 2ms (default: none)",
    )
    tls = p.add_argument_group("TLS and AuthN (test material: a throwaway CA)")
    tls.add_argument("--https", action="store_true", help="serve https with a generated CA")
    tls.add_argument(
        "--tls-dir",
        help="write the CA, server and client certificates here (kept); default: a temp dir",
    )
    tls.add_argument(
        "--client-certs",
        action="store_true",
        help="require client certificates signed by the CA (mTLS; AIS_CRT/AIS_CRT_KEY)",
    )
    tls.add_argument(
        "--auth-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' at the proxy (401 otherwise)",
    )
    return p


def parse_time(text: str) -> float:
    """``"2ms"`` → 0.002, ``"0.5s"``/``"0.5"`` → 0.5 (an argparse type).

    Raises:
        argparse.ArgumentTypeError: not a time >= 0.
    """
    number, unit = text.strip().lower(), 1.0
    for suffix, scale in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0)):
        if number.endswith(suffix):
            number, unit = number.removesuffix(suffix).strip(), scale
            break
    try:
        value = float(number) * unit
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (e.g. 2ms, 0.5s)") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"not a time >= 0: {text!r}")
    return value


def _https(args: argparse.Namespace) -> bool | TlsFiles:
    if args.tls_dir and not args.https:
        raise ValueError("--tls-dir needs --https")
    if args.client_certs and not args.https:
        raise ValueError("--client-certs needs --https")
    return make_pki(args.tls_dir, args.host) if args.tls_dir else args.https


async def _serve(cluster: LocalCluster, latency: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with cluster:
        print(cluster.endpoint, flush=True)
        for url in cluster.target_endpoints:
            print(f"target {url}", file=sys.stderr, flush=True)
        print(f"root {cluster.root}", file=sys.stderr, flush=True)
        if latency:
            print(f"latency {latency * 1e3:g} ms per target GET", file=sys.stderr, flush=True)
        for name, value in cluster.client_env().items():
            print(f"export {name}={shlex.quote(value)}", file=sys.stderr, flush=True)
        await stop.wait()


def main(argv: list[str]) -> int:
    """Run ``serve`` with ``argv``; return the exit code (0 on a clean stop)."""
    args = _parser().parse_args(argv)
    try:
        cluster = LocalCluster(
            args.root,
            args.targets,
            args.host,
            args.port,
            seed=args.seed,
            get_batch=not args.no_get_batch,
            https=_https(args),
            client_certs=args.client_certs,
            auth_token=args.auth_token,
        )
    except (ValueError, OSError, RuntimeError) as e:
        print(f"serve: {e}", file=sys.stderr)
        return 2
    if args.latency:
        cluster.set_faults(service_latency(args.latency))
    try:
        asyncio.run(_serve(cluster, args.latency))
    except OSError as e:
        print(f"serve: {e}", file=sys.stderr)
        return 1
    return 0
