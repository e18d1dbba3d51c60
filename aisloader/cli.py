"""``python -m aisloader ls|get``: list a bucket, or print an object.

``ls ais://bucket[/prefix]`` prints ``name<TAB>size`` lines; ``get ais://bucket/object``
writes the bytes to stdout (or ``-o FILE``). The endpoint comes from ``--endpoint`` or
``$AIS_ENDPOINT``. Errors are one line on stderr: exit 2 for usage/configuration errors,
1 for cluster, network and data errors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import BinaryIO

from aisloader.core.client import AsyncClient
from aisloader.errors import AISLoaderError, ConfigError
from aisloader.refs import as_ref, parse_source_url

__all__ = ["main"]


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m aisloader {command}")
    p.add_argument("--endpoint", help="AIS proxy URL (default: $AIS_ENDPOINT)")
    if command == "ls":
        p.add_argument("url", help="ais://bucket[/prefix]")
    else:
        p.add_argument("url", help="ais://bucket/object")
        p.add_argument("-o", "--output", help="write to FILE instead of stdout")
    return p


async def _ls(client: AsyncClient, url: str, out: BinaryIO) -> None:
    try:
        bucket, prefix = parse_source_url(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    async for entry in client.list_objects(bucket, prefix):
        out.write(f"{entry.name}\t{entry.size}\n".encode())


async def _get(client: AsyncClient, url: str, out: BinaryIO) -> None:
    try:
        ref = as_ref(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    async for chunk in client.get_stream(ref):
        out.write(chunk)


async def _run(command: str, args: argparse.Namespace, out: BinaryIO) -> None:
    async with AsyncClient(args.endpoint) as client:
        if command == "ls":
            await _ls(client, args.url, out)
        else:
            await _get(client, args.url, out)


def main(argv: list[str]) -> int:
    """Run ``ls`` or ``get`` (``argv[0]``) and return the exit code."""
    if not argv or argv[0] not in ("ls", "get"):
        print("usage: python -m aisloader {ls,get} ...", file=sys.stderr)
        return 2
    command = argv[0]
    args = _parser(command).parse_args(argv[1:])
    output = getattr(args, "output", None)
    try:
        if output:
            with open(output, "wb") as f:
                asyncio.run(_run(command, args, f))
        else:
            asyncio.run(_run(command, args, sys.stdout.buffer))
            sys.stdout.flush()
    except ConfigError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    except AISLoaderError as exc:
        print(f"{command}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
