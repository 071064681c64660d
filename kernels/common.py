"""The one set of helpers every kernel family shares: dtype names and sizes, interpreter detection,
"can Triton run here", SM count, dot precision and the output-rounding tolerance."""

from __future__ import annotations

import os

import torch

from roofline.errors import InputError

TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
DTYPE_NAMES = {v: k for k, v in TORCH_DTYPES.items()}
ELEMENT_BYTES: dict[str, int] = {"fp16": 2, "bf16": 2, "fp32": 4, "int8": 1}

# Accepted max |out - ref| / max |ref| against an fp32 reference on the same inputs, for kernels that
# accumulate in fp32 and round once at the end: the output rounding (fp16 2^-11 = 4.9e-4, bf16 2^-8 = 3.9e-3
# relative to an element, at most that relative to max |ref|) plus summation-order noise, 4x margin; fp32
# (IEEE dots) leaves only summation order. Families with other error sources widen it and say why.
OUTPUT_RTOL: dict[str, float] = {"fp16": 2e-3, "bf16": 1.6e-2, "fp32": 1e-5}

_TRUE = ("1", "true", "on")  # the spellings Triton itself accepts for TRITON_INTERPRET


def interpreting() -> bool:
    """True when Triton kernels run on the CPU through the interpreter (``TRITON_INTERPRET`` set as Triton
    reads it: 1 / true / on, any case). Read at call time, so a test can switch it with ``setenv``."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in _TRUE


def can_run_triton(device: torch.device | str) -> bool:
    """Triton kernels run on CUDA, or on the CPU only under the interpreter."""
    dev = torch.device(device)
    return dev.type == "cuda" or (dev.type == "cpu" and interpreting())


def check_runnable(device: torch.device | str, who: str = "the Triton kernel") -> None:
    """Raise a one-line InputError where ``can_run_triton`` is false."""
    if not can_run_triton(device):
        raise InputError(f"{who} cannot run on {torch.device(device)}: use a CUDA device, or set "
                         "TRITON_INTERPRET=1 before importing kernels to run it on the CPU")


def gpu_only(dtype: str = "", bf16_dot: bool = True) -> set[str]:
    """``{"ours"}`` when our Triton kernel cannot run on a CPU here (the ``Bench.gpu_only`` set): always
    without the interpreter, and for bf16 fed to ``tl.dot`` under it (the interpreter computes those
    wrongly); the empty set otherwise."""
    if interpreting() and not (bf16_dot and dtype == "bf16"):
        return set()
    return {"ours"}


def torch_dtype(name: str, allowed: tuple[str, ...] = tuple(TORCH_DTYPES), who: str = "these kernels") -> torch.dtype:
    """The torch dtype of a project dtype name, refused in one line when ``who`` does not support it."""
    if name not in allowed or name not in TORCH_DTYPES:
        raise InputError(f"unsupported dtype {name!r} for {who} (supported: {', '.join(allowed)})")
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
