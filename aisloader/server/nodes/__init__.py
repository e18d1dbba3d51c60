"""The nodes of the embedded cluster: what any AIS proxy or target does (get-batch aside).

Each node is one aiohttp application (`app.make_app`): a `NodeMiddleware`, the routes every
node serves (`app.CommonHandlers`) and its role's handler classes (`proxy.ProxyHandlers` and
`proxy.AdminHandlers`, or `target.TargetHandlers`), all over one `state.Shared`. Nothing here
imports `aisloader.server.batch`, which plugs its own handlers onto the same nodes.

This package imports none of its modules, so importing one module does not pull in the rest.
"""
