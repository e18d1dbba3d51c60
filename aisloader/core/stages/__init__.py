"""Bounded pipeline stages: each holds a named, configured bound and owns its tasks.

* :mod:`.window` — ordered (or completion-order) concurrent map with at most ``window`` calls
  running, reading ahead past a slow one (:mod:`.flight` keeps its calls).
* :mod:`.interleave` — reads several async sources at once through bounded queues.
* :mod:`.shuffle` (pure) — the sample shuffle buffer, bounded by count and bytes.
"""
