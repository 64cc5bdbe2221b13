"""Training and inference throughput of the registered models on this machine (CPU by default).

    python benchmarks/train_throughput.py [--models padnet,spoofnet,seed-cnn] [--batch 32]
                                          [--size N] [--steps 20] [--threads 2]

Train: channels_last, train mode, cross-entropy, forward + backward + AdamW step on random data.
Infer: eval mode, inference_mode, same batch. Both report the median step time over --steps
iterations after warm-up, as images/s.
Each model runs at its default input size unless --size is given. Prints a markdown table.
Run nothing else at the same time: torch's threads collapse on a busy CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from spoofguard.models import create_model, list_models, model_info


def _median_step_s(fn, steps: int, warmup: int) -> float:
    """Median seconds per call over ``steps`` calls after ``warmup`` calls (robust to stray load)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model: nn.Module, batch: int, size: int, in_chans: int, steps: int, warmup: int = 3) -> tuple[float, float]:
    """Return (train images/s, inference images/s)."""
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, in_chans, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    model.train()
    train_s = _median_step_s(train_step, steps, warmup)

    model.eval()
    with torch.inference_mode():
        infer_s = _median_step_s(lambda: model(x), steps, warmup)
    return batch / train_s, batch / infer_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(list_models()), help="comma-separated model names")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=None, help="input side (default: each model's own)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--in-chans", type=int, default=3)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.steps} steps\n")
    print("| model | params | input | train img/s | infer img/s |")
    print("|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        size = args.size or model_info(name)["default_input_size"]
        kwargs = {"input_size": size} if "input_size" in model_info(name)["kwargs"] else {}
        model = create_model(name, classes=["bona_fide", "attack"], in_chans=args.in_chans, **kwargs)
        params = sum(p.numel() for p in model.parameters())
        train, infer = measure(model, args.batch, size, args.in_chans, args.steps)
        print(f"| {name} | {params / 1e6:.2f} M | {size} | {train:.1f} | {infer:.1f} |", flush=True)


if __name__ == "__main__":
    main()
