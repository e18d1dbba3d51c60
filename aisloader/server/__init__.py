"""An embedded AIS-compatible cluster (one proxy, N targets) for tests, examples and benchmarks.

It speaks the AIS REST API as described in the protocol doc, closely enough for the official
``aistore`` SDK, and injects deterministic faults on request. It imports nothing from the rest
of aisloader, so a client bug is never mirrored by the server that tests it.

Inline ETL: ``GET /v1/objects/b/o?etl_name=NAME[&etl_args=ARGS]`` answers the object (or the
``archpath`` member) transformed by a Python function registered on the cluster
(`LocalCluster.register_etl`); ``echo``, ``upper``, ``md5`` and ``prefix`` are built in.

Map (imports point down this list; ``nodes`` never imports ``batch``)::

    cluster.py     LocalCluster: starts one aiohttp app per node and wires the handlers below
    clusterdata.py ClusterData: LocalCluster's direct API (buckets, objects, faults, ETL, stats)
    sites.py       Sites: one runner per node, node stop/restart, the loop thread, fork hygiene
    tls.py         TlsFiles, a throwaway CA + server/client certificates, the server context
    cli.py         ``python -m aisloader serve``
    batch/         get-batch (``/v1/ml/moss``), a feature plugged onto the nodes:
      proxy.py       BatchProxyHandlers: validate, pick the designated target, 307
      target.py      BatchTargetHandlers: claim the work item, stream or buffer the archive
      routing.py     BatchState (on/off switch + work registry), paths, body, job ids
      assemble.py    entries in request order through an archive writer
      writers.py     incremental tar/tgz/zip writers and the write coalescer
      opener.py      per-request, symlink-safe opens beneath the bucket directory
      work.py        single-use work items the proxy registers for the target
      request.py     pure rules: parse and validate the request body, ranges, member names
    nodes/         what any AIS node does:
      proxy.py       ProxyHandlers (smap, buckets, list-objects, redirects), AdminHandlers
      target.py      TargetHandlers: object GET (range, archive member, ETL), HEAD, PUT, DELETE
      etl.py         inline ETL on GET: pick the ETL a request names, run it, send the output
      listing.py     one list-objects page, msgpack or JSON
      app.py         NodeMiddleware (AuthN, counters, faults, AIS errors), CommonHandlers, make_app
      delivery.py    sending bodies: one write, sendfile, or with a body fault
      state.py       Node, Shared (store, caches, fault engine, ETL registry, counters), the smap
    store.py       buckets and objects as files under one root; per-object metadata
    bucketindex.py the sorted name index of one bucket (paging)
    archive.py     archive objects: member indexes and member streams
    etl.py         EtlRegistry (named ETL functions, thread-safe), the built-in ETLs, name rule
    faults.py      Fault rules, the decision engine and its determinism key
    names.py       bucket and object naming rules
    jsonbody.py    JSON request bodies, parsed with Go's limits (depth, 64-bit numbers)
    hrw.py         AIS's highest-random-weight owner selection
    errors.py      EmuError and its AIS-shaped rendering
"""

from __future__ import annotations

from aisloader.server.cluster import LocalCluster
from aisloader.server.etl import EtlArgsError
from aisloader.server.faults import Fault
from aisloader.server.tls import TlsFiles

__all__ = ["EtlArgsError", "Fault", "LocalCluster", "TlsFiles"]
