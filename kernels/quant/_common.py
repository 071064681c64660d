"""Shared plumbing of the quant kernels: input checks and config choice (dtype names, interpreter
detection and SM counts are kernels/common.py's).

Config choice: each launcher passes a short candidate list (best guess first). On CUDA the first call
for a key times every candidate once with ``triton.testing.do_bench`` and caches the fastest (a tiny
autotuner that, unlike ``triton.autotune``, lets the interpreter tests run every candidate by name).
Off CUDA, or with ``ROOFLINE_QUANT_TUNE=0``, the first candidate is used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from triton.testing import do_bench

from kernels.common import interpreting
from roofline.errors import InputError


@dataclass(frozen=True)
class Cfg:
    """One launch configuration: constexpr block sizes plus num_warps / num_stages."""

    meta: dict[str, int] = field(default_factory=dict)
    num_warps: int = 4
    num_stages: int = 3

    def __getitem__(self, k: str) -> int:
        return self.meta[k]

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.meta.items())), self.num_warps, self.num_stages))


_BEST: dict[tuple, Cfg] = {}


def choose(key: tuple, candidates: Sequence[Cfg], launch: Callable[[Cfg], Any], device: torch.device) -> Cfg:
    """The fastest candidate for ``key`` on CUDA (timed once, cached), else the first one."""
    if device.type != "cuda" or interpreting() or len(candidates) == 1 or os.environ.get("ROOFLINE_QUANT_TUNE") == "0":
        return candidates[0]
    if key in _BEST:
        return _BEST[key]

    best, best_ms = candidates[0], float("inf")
    for cfg in candidates:
        try:
            ms = do_bench(lambda cfg=cfg: launch(cfg), warmup=5, rep=20)
        except Exception:  # a config that does not fit (shared memory, registers) is skipped, not fatal
            continue
        if ms < best_ms:
            best, best_ms = cfg, ms
    _BEST[key] = best
    return best



def bucket_m(m: int) -> int:
    """Next power of two: the tuning key for the token count (decode steps vary M by one)."""
    return 1 << max(m - 1, 0).bit_length()


def check_tensor(name: str, t: Any, dtypes: tuple[torch.dtype, ...], ndim: int, device: torch.device | None) -> None:
    if not isinstance(t, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in dtypes:
        raise InputError(f"{name} has dtype {t.dtype}; expected one of {', '.join(str(d) for d in dtypes)}")
    if t.dim() != ndim:
        raise InputError(f"{name} must be {ndim}-D, got shape {tuple(t.shape)}")
    if device is not None and t.device != device:
        raise InputError(f"{name} is on {t.device}, the activations on {device}: put them on one device")
