"""Helpers every kernel family shares: dtype names, interpreter detection, SM count, dot precision."""

from __future__ import annotations

import os

import torch

from roofline.errors import InputError

TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}


def interpreting() -> bool:
    """True when Triton kernels run on the CPU through the interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def torch_dtype(name: str, who: str = "these kernels") -> torch.dtype:
    if name not in TORCH_DTYPES:
        raise InputError(f"unsupported dtype {name!r} for {who} (supported: {', '.join(TORCH_DTYPES)})")
    return TORCH_DTYPES[name]


def dtype_name(dtype: torch.dtype, who: str = "these kernels") -> str:
    if dtype not in DTYPE_NAMES:
        raise InputError(f"unsupported dtype {dtype} for {who} (supported: {', '.join(TORCH_DTYPES)})")
    return DTYPE_NAMES[dtype]


def num_sms(device: torch.device | str, off_gpu: int = 1) -> int:
    """Streaming multiprocessors of a CUDA device (queried, never assumed); ``off_gpu`` elsewhere."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_properties(dev).multi_processor_count
    return off_gpu


def dot_precision(dtype: torch.dtype) -> str:
    """fp32 dots in IEEE fp32 (the references' precision); fp16/bf16 inputs ignore the setting."""
    return "ieee" if dtype == torch.float32 else "tf32"
