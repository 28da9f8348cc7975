"""Benchmark: what checking plug-in states adds to each checkpoint.

``Trainer`` refuses, at every save, plug-in states that ``torch.load(weights_only=True)`` would
refuse at the resume (:func:`helios.plugin_state.check_plugin_states`). This times that check
on realistic states against ``torch.save`` of the same states into memory (a lower bound of
what the checkpoint write costs: the real one also hashes, writes and fsyncs a file):

- ``ema``: an EMA of the weights of a ResNet-18-sized network (62 tensors, 11.7 M floats) plus
  its step count and decay;
- ``optuna``: helios-optuna's state (trial number, last cycle, pruning decision);
- ``history``: a list of 10,000 Python floats and a dict of 1,000 str -> int, the walk's worst
  case per byte (every item is a Python object to look at);
- ``rare types``: 100 values the walk does not know (dtypes, devices, bytes), each type saved
  and loaded once to learn torch's verdict.

Each reports the best of ``--repeat N`` (default 7) runs, as timeit does. The numbers are for
people to read; the exit status is 0 unless the check refuses a state it should accept.
Run it as ``python bench/plugin_state.py`` with helios importable (installed, or
``PYTHONPATH=core/src``).
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any

import torch

from helios.plugin_state import check_plugin_states

# (out channels, in channels, kernel) of the convolutions of a ResNet-18, plus its classifier
_CONVS = [(64, 3, 7)] + [(64, 64, 3)] * 4 + [(128, 64, 3), (128, 128, 3), (128, 64, 1)]
_CONVS += [(128, 128, 3)] * 2 + [(256, 128, 3), (256, 256, 3), (256, 128, 1)]
_CONVS += [(256, 256, 3)] * 2 + [(512, 256, 3), (512, 512, 3), (512, 256, 1)] + [(512, 512, 3)] * 2


def ema_state() -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    shadow: dict[str, torch.Tensor] = {}
    for index, (out, inp, kernel) in enumerate(_CONVS):
        shadow[f"conv{index}.weight"] = torch.randn(out, inp, kernel, kernel, generator=generator)
        shadow[f"bn{index}.weight"] = torch.ones(out)
        shadow[f"bn{index}.bias"] = torch.zeros(out)
    shadow["fc.weight"] = torch.randn(1000, 512, generator=generator)
    shadow["fc.bias"] = torch.zeros(1000)
    return {"shadow": shadow, "step": 12_345, "decay": 0.999}


def states() -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "ema": {"ema": ema_state()},
        "optuna": {
            "optuna": {
                "trial": 7,
                "last_reported": 12,
                "pruned": False,
                "pruned_at": 0,
                "pruned_value": float("nan"),
            }
        },
        "history": {
            "history": {
                "losses": [1.0 / (i + 1) for i in range(10_000)],
                "counts": {f"class{i}": i for i in range(1_000)},
            }
        },
        "rare types": {
            "rare": {"values": [torch.float32, torch.device("cpu"), b"x", 1j] * 25},
        },
    }


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}; best of {args.repeat}")
    print(f"{'state':<12} {'check':>12} {'torch.save':>12} {'check/save':>11}")
    for name, plugins in states().items():
        check = best_of(args.repeat, lambda p=plugins: check_plugin_states(p))
        save = best_of(args.repeat, lambda p=plugins: torch.save(p, io.BytesIO()))
        print(f"{name:<12} {check * 1e6:>10.1f}µs {save * 1e6:>10.1f}µs {check / save:>10.2%}")


if __name__ == "__main__":
    main()
