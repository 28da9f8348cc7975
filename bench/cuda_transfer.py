"""Benchmark: helios-cuda's batch move against a hand-written pinned, non_blocking copy.

A nested batch (about 64 MB of float32 tensors in a dict of lists, pinned) is moved to the GPU
by ``CUDAPlugin.process_training_batch`` and by a hand-written loop of
``tensor.to(device, non_blocking=True)``; each is timed with CUDA events over several
repetitions after a warm-up. Prints GB/s for both and the ratio (target >= 0.9). Without a
GPU it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys

import torch


def make_batch(megabytes: int) -> dict[str, list[torch.Tensor]]:
    """A dict of lists of pinned float32 tensors, ``megabytes`` in total."""
    per_tensor = 1024 * 1024  # 4 MB of float32
    count = max(1, megabytes // 4)
    keys = ["images", "masks", "features", "targets"]
    return {
        key: [torch.rand(per_tensor).pin_memory() for _ in range(count // len(keys) or 1)]
        for key in keys
    }


def hand_copy(
    batch: dict[str, list[torch.Tensor]], device: torch.device
) -> dict[str, list[torch.Tensor]]:
    return {k: [t.to(device, non_blocking=True) for t in v] for k, v in batch.items()}


def timed(fn: object, repeat: int) -> float:
    """Best seconds of ``repeat`` runs, timed with CUDA events."""
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()  # type: ignore[operator]
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(f"no CUDA device (torch {torch.__version__}): benchmark skipped")
        return 0
    from helios_cuda import CUDAPlugin

    device = torch.device("cuda", 0)
    plugin = CUDAPlugin()
    plugin.device = device
    batch = make_batch(args.megabytes)
    size = sum(t.numel() * t.element_size() for v in batch.values() for t in v)
    for _ in range(3):  # warm-up: CUDA context, allocator
        hand_copy(batch, device)
        plugin.process_training_batch(batch, None)
    torch.cuda.synchronize()
    hand = timed(lambda: hand_copy(batch, device), args.repeat)
    helios = timed(lambda: plugin.process_training_batch(batch, None), args.repeat)
    ratio = hand / helios
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, {size / 1e6:.1f} MB batch")
    print(f"  hand-written pinned non_blocking copy  {size / hand / 1e9:6.2f} GB/s")
    print(f"  CUDAPlugin.process_training_batch      {size / helios / 1e9:6.2f} GB/s")
    verdict = "PASS" if ratio >= 0.9 else "MISS"
    print(f"  throughput ratio (plug-in / hand)      {ratio:6.3f}   target >= 0.9  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
