"""``python -m aisloader ls|get|put|mb``: list, read and write objects; make buckets.

``ls ais://bucket[/prefix]`` prints ``name<TAB>size`` lines; ``get ais://bucket/object``
writes the bytes to stdout (or ``-o FILE``); ``put SRC ais://bucket[/name]`` uploads a file,
stdin (``-``) or a directory (recursively, under the URL's prefix) and prints
``ais://bucket/name<TAB>size`` per object; ``mb ais://bucket ...`` creates buckets. The
bodies are in :mod:`aisloader.cli_objects`.

The endpoint comes from ``--endpoint`` or ``$AIS_ENDPOINT``. Errors are one line on stderr,
never a traceback: exit 2 for usage/configuration errors, 1 for cluster, network, file and data
errors. An error that comes from the endpoint (none given, not a URL, nothing listening,
unreachable) names ``--endpoint`` and ``AIS_ENDPOINT``, and which of the two was used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import BinaryIO

from aisloader import cli_objects
from aisloader.config import endpoint_from_env
from aisloader.core.client import AsyncClient
from aisloader.errors import (
    AISLoaderError,
    BucketAlreadyExists,
    BucketNotFound,
    ConfigError,
    TransportError,
)
from aisloader.refs import parse_source_url

__all__ = ["COMMANDS", "main"]

COMMANDS = ("ls", "get", "put", "mb")
_FIX = "pass --endpoint http://host:port or set AIS_ENDPOINT"


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m aisloader {command}")
    p.add_argument("--endpoint", help="AIS proxy URL (default: $AIS_ENDPOINT)")
    if command == "ls":
        p.add_argument("url", help="ais://bucket[/prefix]")
    elif command == "get":
        p.add_argument("url", help="ais://bucket/object")
        p.add_argument("-o", "--output", help="write to FILE instead of stdout")
    elif command == "put":
        p.add_argument("src", help="a file, a directory (uploaded recursively) or - for stdin")
        p.add_argument(
            "url",
            help="ais://bucket/name, or ais://bucket[/prefix/] to keep the file names "
            "(a directory's files go under the prefix, with their relative paths)",
        )
    else:
        p.add_argument("urls", nargs="+", metavar="url", help="ais://bucket")
    return p


def _endpoint(given: str | None) -> tuple[str, str]:
    """The endpoint and where it came from (``--endpoint`` or ``AIS_ENDPOINT``).

    Raises:
        ConfigError: neither is set, or the value is not an http(s) URL.
    """
    source = "--endpoint" if given else "AIS_ENDPOINT"
    value = given or os.environ.get("AIS_ENDPOINT", "")
    if not value:
        raise ConfigError(f"no AIS endpoint: {_FIX} (a local cluster: python -m aisloader serve)")
    try:
        return endpoint_from_env(value), source
    except ConfigError as exc:
        raise ConfigError(f"bad {source}: {exc}") from None


async def _run(command: str, args: argparse.Namespace, endpoint: str, out: BinaryIO) -> None:
    async with AsyncClient(endpoint) as client:
        if command == "ls":
            await cli_objects.ls(client, args.url, out)
        elif command == "get":
            await cli_objects.get(client, args.url, out)
        elif command == "put":
            await cli_objects.put(client, args.src, args.url, out)
        else:
            await cli_objects.mb(client, args.urls)


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[BinaryIO]:
    if path:
        with open(path, "wb") as f:
            yield f
    else:
        yield sys.stdout.buffer
        sys.stdout.flush()


def main(argv: list[str]) -> int:
    """Run ``ls``, ``get``, ``put`` or ``mb`` (``argv[0]``) and return the exit code."""
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m aisloader {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    command = argv[0]
    args = _parser(command).parse_args(argv[1:])
    endpoint, source = "", ""
    try:
        endpoint, source = _endpoint(args.endpoint)
        with _output(getattr(args, "output", None)) as out:
            asyncio.run(_run(command, args, endpoint, out))
    except ConfigError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2
    except AISLoaderError as exc:
        print(f"{command}: {_message(command, exc, endpoint, source)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `ls | head`: the reader is gone, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        shown = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else exc
        print(f"{command}: {shown}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _message(command: str, exc: AISLoaderError, endpoint: str, source: str) -> str:
    """One line for ``exc``; the endpoint's errors say how to fix it at the command line."""
    line = str(exc).splitlines()[0]
    if isinstance(exc, TransportError) and _refused(exc):
        return (
            f"nothing is listening at {endpoint} (from {source}): is the cluster running? "
            f"If it is elsewhere, {_FIX}; a local one: python -m aisloader serve"
        )
    if isinstance(exc, TransportError):
        return f"{line}; is the cluster up at {endpoint} (from {source})? If not, {_FIX}"
    if isinstance(exc, BucketAlreadyExists):  # its hint speaks of the Python API
        return f"{exc.url}: the bucket already exists"
    if isinstance(exc, BucketNotFound) and command == "put":
        with contextlib.suppress(ValueError):
            bucket = parse_source_url(exc.url)[0].uri
            return f"{line} (to create it: python -m aisloader mb {bucket})"
    return line


def _refused(exc: BaseException) -> bool:
    """A refused connection (nothing listens at the address) is in ``exc``'s causes."""
    cause, seen = exc.__cause__, 0
    while cause is not None and seen < 8:
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False
