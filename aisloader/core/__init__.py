"""The async core: everything that talks to AIS, on one asyncio loop, with bounded stages.

Layout (imports only point down this list, and never up to ``aisloader.bridge``/``torch``)::

    streams/   EpochStream (the one owner of iteration state) and its kinds of items:
               ObjectStream, ShardStream, BatchStream, MultiShardStream; order.py (pure):
               the seeded permutation and the one rank × worker split rule
    client.py  AsyncClient: objects, buckets (buckets.py), get_many, get_all, get_batch
    batch/     get-batch: entries (pure), archive answers, BatchFetcher
    listing/   sources (pure), manifest (pure), lister, shard index (archive listing)
    stages/    window (bounded concurrent map), interleave, shuffle buffer (pure)
    tar/       streaming tar parser and WebDataset grouping (pure)
    http/      session, retries, redirects, direct reads (smap + HRW), wire structs, checksums
"""
