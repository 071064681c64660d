"""Launch helpers shared by the sparse kernels: dtype names, interpreter detection, split-K sizing."""

from __future__ import annotations

import torch

from kernels.common import dot_precision, interpreting, num_sms  # noqa: F401  (the sparse kernels import these from here)
from kernels.common import dtype_name as _dtype_name
from kernels.common import torch_dtype as _torch_dtype

# Accepted max |out - ref| / max |ref| per dtype, against an fp32 reference on the same inputs. Reason: the
# kernels accumulate in fp32, so the error is the final rounding of the output (fp16 2^-11 = 4.9e-4,
# bf16 2^-8 = 3.9e-3 relative to the element, at most that relative to max |ref|) plus summation-order
# noise; 4x margin. fp32 dots use IEEE precision (not TF32).
RTOL = {"fp16": 2e-3, "bf16": 1.6e-2, "fp32": 1e-4}


def torch_dtype(name: str) -> torch.dtype:
    return _torch_dtype(name, "the sparse kernels")


def dtype_name(dtype: torch.dtype) -> str:
    return _dtype_name(dtype, "the sparse kernels")



def can_run_triton(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda" or interpreting()



def split_for(programs: int, k_tiles: int, target_programs: int) -> int:
    """Split the reduction into as many slices as fill ``target_programs`` CTAs, none of them empty."""
    if programs >= target_programs or k_tiles <= 1:
        return 1
    want = min(k_tiles, -(-target_programs // programs))
    per = -(-k_tiles // want)
    return -(-k_tiles // per)


