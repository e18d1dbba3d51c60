"""What to read: sources normalised (pure), listed page by page, kept as compact manifests.

* :mod:`.sources` (pure) — user sources (URLs, buckets, name lists, SDK objects) → Source.
* :mod:`.manifest` (pure) — :class:`Manifest`: names, sizes and buckets in flat buffers.
* :mod:`.lister` — list-objects over sources, into entries or a manifest.
* :mod:`.shard_index` — archive listing of shards grouped into WebDataset samples.
"""
