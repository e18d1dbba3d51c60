"""HTTP to AIS: one aiohttp session, manual redirects, retries, error translation, readers.

* :mod:`.session` — :class:`Http`: requests, 301/307 handling, retries, typed errors.
* :mod:`.retry` — attempts, backoff, budgets and counters.
* :mod:`.direct` / :mod:`.hrw` — direct reads from the owning target (smap + HRW).
* :mod:`.reader` — :class:`ObjectReader`: a GET body resumed after cuts, verified.
* :mod:`.wire` (pure) — msgspec structs of AIS messages; :mod:`.payload` — PUT bodies;
  :mod:`.checksum` (pure) — checksum verification.
"""
