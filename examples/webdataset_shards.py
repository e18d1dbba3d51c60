"""Stream WebDataset shards with ``AISShardReader``: decode, shuffle, batch.

    python examples/webdataset_shards.py

Writes a few .tar shards of samples (``.bin`` tensor bytes, ``.cls`` label, ``.json`` meta),
then reads them with shard shuffle, a bounded sample shuffle buffer and 2 workers. The samples
are WebDataset dicts, so ``webdataset`` decoders apply unchanged when installed.
"""

from __future__ import annotations

import io
import json
import tarfile

import torch
from _common import endpoint
from torch.utils.data import DataLoader

from aisloader import Client
from aisloader.torch import AISShardReader

BUCKET, SHARDS, PER_SHARD = "aisloader-example-shards", 4, 64


def make_shard(shard: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(PER_SHARD):
            key = f"s{shard:02d}/{i:05d}"
            members = {
                "bin": torch.full((16,), float(i)).numpy().tobytes(),
                "cls": str(i % 10).encode(),
                "json": json.dumps({"shard": shard, "index": i}).encode(),
            }
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def decode(sample: dict[str, object]) -> tuple[torch.Tensor, int, dict[str, int]]:
    data = sample["bin"]
    assert isinstance(data, bytes)
    x = torch.frombuffer(bytearray(data), dtype=torch.float32)
    meta = json.loads(sample["json"])  # type: ignore[arg-type]
    return x, int(sample["cls"]), meta  # type: ignore[call-overload]


def main() -> None:
    with endpoint() as (url, _), Client(url) as client:
        client.create_bucket(BUCKET, exist_ok=True)
        for s in range(SHARDS):
            client.put(f"ais://{BUCKET}/shards/train-{s:04d}.tar", make_shard(s))
        reader = AISShardReader(
            f"ais://{BUCKET}/shards/",
            endpoint=url,
            sample_format="dict",
            shuffle=True,
            seed=42,
            shuffle_buffer=128,
            expected={"bin", "cls", "json"},
            transform=decode,
        )
        loader = DataLoader(reader, batch_size=32, num_workers=2)
        for epoch in range(2):
            reader.set_epoch(epoch)
            seen, shape = 0, None
            for x, y, _meta in loader:
                seen += len(y)
                shape = tuple(x.shape)
            print(f"epoch {epoch}: {seen} samples, batches of {shape}")
            assert seen == SHARDS * PER_SHARD
        client.destroy_bucket(BUCKET)


if __name__ == "__main__":
    main()
