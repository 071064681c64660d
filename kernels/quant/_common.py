"""Shared plumbing of the quant kernels: dtype names, input checks, device queries, config choice.

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

from kernels.common import DTYPE_NAMES, TORCH_DTYPES, num_sms  # noqa: F401  (re-exported for the quant launchers)
from roofline.errors import InputError

# Read once at import: triton.jit decides interpreted vs compiled when the kernels are defined.
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"

ELEMENT_BYTES: dict[str, int] = {"fp16": 2, "bf16": 2, "fp32": 4}


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
    if device.type != "cuda" or INTERPRET or len(candidates) == 1 or os.environ.get("ROOFLINE_QUANT_TUNE") == "0":
        return candidates[0]
    if key in _BEST:
        return _BEST[key]
    from triton.testing import do_bench

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


def check_runnable(device: torch.device) -> None:
    """Triton kernels run on CUDA, or on the CPU only under the interpreter (TRITON_INTERPRET=1)."""
    if device.type == "cuda":
        return
    if device.type == "cpu" and INTERPRET:
        return
    raise InputError(f"the Triton kernel cannot run on {device}: use a CUDA device, or set TRITON_INTERPRET=1 "
                     "before importing kernels to run it on the CPU")


def torch_dtype(name: str, allowed: tuple[str, ...]) -> torch.dtype:
    if name not in allowed:
        raise InputError(f"dtype {name!r} not supported here (supported: {', '.join(allowed)})")
    return TORCH_DTYPES[name]


def ours_is_gpu_only(device: str, dtype: str = "", bf16_dot: bool = False) -> bool:
    """The profiler skips 'ours' on a CPU unless the Triton interpreter is on, and also skips kernels that
    feed bf16 to tl.dot there (the interpreter computes those wrongly)."""
    if device != "cpu":
        return True
    return not INTERPRET or (bf16_dot and dtype == "bf16")

