"""Tar shards, parsed as they stream (pure: no I/O).

* :mod:`.header` — header blocks, PAX and GNU extensions, the plain-ustar fast path.
* :mod:`.gzip` — bounded gzip inflation.
* :mod:`.parser` — :class:`TarStreamParser`, the incremental, strict parser.
* :mod:`.members` — members of a (sync or async) stream of chunks.
* :mod:`.samples` — WebDataset grouping of members into samples, with its key rules.
"""
