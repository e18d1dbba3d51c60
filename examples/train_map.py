"""Train a small model over ``AISMapDataset`` with a shuffling DataLoader and 2 workers.

    python examples/train_map.py            # embedded cluster, synthetic data
    AIS_ENDPOINT=http://host:8080 python examples/train_map.py

Each object holds a 64-float feature vector and a label byte; the transform decodes it in the
DataLoader worker. With a real cluster the example writes into (and removes) a scratch bucket.
"""

from __future__ import annotations

import struct

import torch
from _common import endpoint
from torch import nn
from torch.utils.data import DataLoader

from aisloader import Client
from aisloader.torch import AISMapDataset

FEATURES, CLASSES, COUNT, BUCKET = 64, 4, 1024, "aisloader-example-train"


def make_sample(i: int) -> bytes:
    label = i % CLASSES
    gen = torch.Generator().manual_seed(i)
    x = torch.randn(FEATURES, generator=gen) + label  # separable on purpose
    return bytes([label]) + struct.pack(f"<{FEATURES}f", *x.tolist())


def decode(data: bytes) -> tuple[torch.Tensor, int]:
    return torch.frombuffer(bytearray(data[1:]), dtype=torch.float32), data[0]


def main() -> None:
    with endpoint() as (url, _), Client(url) as client:
        client.create_bucket(BUCKET, exist_ok=True)
        for i in range(COUNT):
            client.put(f"ais://{BUCKET}/train/{i:06d}.bin", make_sample(i))
        dataset = AISMapDataset(f"ais://{BUCKET}/train/", endpoint=url, transform=decode)
        loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=2)
        model = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, CLASSES))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for epoch in range(2):
            correct = total = 0
            for _names, (x, y) in loader:
                logits = model(x)
                loss = nn.functional.cross_entropy(logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                correct += int((logits.argmax(1) == y).sum())
                total += len(y)
            print(f"epoch {epoch}: {total} samples, accuracy {correct / total:.2f}")
        assert total == COUNT, "every object must be read exactly once per epoch"
        client.destroy_bucket(BUCKET)


if __name__ == "__main__":
    main()
