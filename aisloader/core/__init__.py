"""The asyncio core: HTTP client, listing, streams, tar parsing and sample grouping."""
