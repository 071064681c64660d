"""Launch helpers shared by the sparse kernels: dtype names, interpreter detection, split-K sizing."""

from __future__ import annotations

import os

import torch

from roofline.errors import InputError

TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}

# Accepted max |out - ref| / max |ref| per dtype, against an fp32 reference on the same inputs. Reason: the
# kernels accumulate in fp32, so the error is the final rounding of the output (fp16 2^-11 = 4.9e-4,
# bf16 2^-8 = 3.9e-3 relative to the element, at most that relative to max |ref|) plus summation-order
# noise; 4x margin. fp32 dots use IEEE precision (not TF32).
RTOL = {"fp16": 2e-3, "bf16": 1.6e-2, "fp32": 1e-4}


def torch_dtype(name: str) -> torch.dtype:
    if name not in TORCH_DTYPES:
        raise InputError(f"unsupported dtype {name!r} for the sparse kernels (supported: {', '.join(TORCH_DTYPES)})")
    return TORCH_DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    if dtype not in DTYPE_NAMES:
        raise InputError(f"unsupported dtype {dtype} for the sparse kernels (supported: fp16, bf16, fp32)")
    return DTYPE_NAMES[dtype]


def interpreting() -> bool:
    """True when Triton kernels run on the CPU through the interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def can_run_triton(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda" or interpreting()


def num_sms(device: torch.device | str) -> int:
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_properties(dev).multi_processor_count
    return 1


def split_for(programs: int, k_tiles: int, target_programs: int) -> int:
    """Split the reduction into as many slices as fill ``target_programs`` CTAs, none of them empty."""
    if programs >= target_programs or k_tiles <= 1:
        return 1
    want = min(k_tiles, -(-target_programs // programs))
    per = -(-k_tiles // want)
    return -(-k_tiles // per)


def dot_precision(dtype: torch.dtype) -> str:
    """fp32 dots in IEEE fp32 (the reference's precision); fp16/bf16 ignore it."""
    return "ieee" if dtype == torch.float32 else "tf32"
