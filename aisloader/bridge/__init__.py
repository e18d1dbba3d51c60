"""The sync bridge: synchronous code (scripts, DataLoader workers) calling into the async core.

* :mod:`.runtime` — one event-loop thread per process (anyio portal), fork hooks, ``call``.
* :mod:`.iterate` — async iterators consumed from synchronous code through a bounded stream.
* :mod:`.conn` — the one per-process registry of shared clients, and :class:`Conn` (datasets).
* :mod:`.client` — :class:`Client`, the blocking face of ``AsyncClient``.
"""
