"""Get-batch (``/v1/ml/moss``, AIS "MOSS"): many objects, members and ranges in one archive.

Two hops, as in AIS: the proxy (`proxy.BatchProxyHandlers`) validates the request, picks the
designated target and redirects; that target (`target.BatchTargetHandlers`) claims the work
item (`work`) and answers with the archive (`assemble`, `writers`, `opener`). `request` holds
the pure rules; `routing` what both hops share, including the `routing.BatchState` that
`LocalCluster` hands to both.

This package imports none of its modules, so importing one module does not pull in the rest.
"""
