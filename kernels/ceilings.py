"""Ceiling kernels: a device-to-device copy and a large square matmul per dtype.

Their measured rates become the device's measured ceilings (`roofline calibrate`): the copy gives the
attainable memory bandwidth, the matmul the attainable compute rate of each dtype. Both are plain
torch (cuBLAS / the copy engine), so "ours" is the vendor path and there are no peers.
"""

from __future__ import annotations

from typing import Any

import torch

from kernels.registry import Bench, KernelEntry, register
from roofline.ops import Op

_TORCH_DTYPES = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16", "int8": "int8"}


def _torch_dtype(dtype: str):

    return getattr(torch, _TORCH_DTYPES[dtype])


def prepare_copy(shape: dict[str, Any], dtype: str, device: str) -> Bench:
    """dst <- src for ``n`` elements: read n, write n elements (bytes = 2 x size), no FLOPs."""

    n = int(shape["n"])
    tdt = _torch_dtype(dtype)
    src = torch.randn(n, device=device, dtype=torch.float32).to(tdt)
    dst = torch.empty_like(src)
    size = n * src.element_size()

    def ours():
        return dst.copy_(src)

    return Bench(kernel="copy", shape=dict(shape), dtype=dtype, impls={"ours": ours}, reference=lambda: src,
                 ops=[Op("copy", "copy", 0.0, bytes_read=size, bytes_written=size, dtype=dtype)],
                 rtol=0.0)  # a copy is exact


def _set_fp32_precision(dtype: str) -> None:

    # tf32 runs fp32 inputs on tensor cores with a 10-bit mantissa; "fp32" forbids it.
    torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"


def prepare_matmul(shape: dict[str, Any], dtype: str, device: str) -> Bench:
    """C (m, n) = A (m, k) @ B (k, n): 2mnk FLOPs; read (mk + kn) elements, write mn outputs."""

    m, n, k = int(shape["m"]), int(shape["n"]), int(shape["k"])
    if dtype == "int8":
        # torch._int_mm: int8 x int8 -> int32; needs m > 16 and k, n multiples of 8, B column-major on CUDA
        a = torch.randint(-128, 128, (m, k), device=device, dtype=torch.int8)
        b = torch.randint(-128, 128, (n, k), device=device, dtype=torch.int8).t()  # (k, n) column-major
        out_bytes = 4

        def ours():
            return torch._int_mm(a, b)

        def reference():
            # fp64 holds every int32 partial sum exactly
            return (a.double() @ b.double()).float()

        rtol = 1e-6
    else:
        tdt = _torch_dtype(dtype)
        a = torch.randn(m, k, device=device, dtype=torch.float32).to(tdt)
        b = torch.randn(k, n, device=device, dtype=torch.float32).to(tdt)
        out_bytes = a.element_size()

        def ours():
            if dtype in ("fp32", "tf32"):
                _set_fp32_precision(dtype)
            return a @ b

        def reference():
            return a.double() @ b.double()

        # bf16/fp16 outputs round to 8/11 mantissa bits; tf32 inputs to 10 bits; relative to max |C|.
        rtol = {"fp32": 1e-4, "tf32": 1e-2, "bf16": 2e-2, "fp16": 1e-2}[dtype]
    es = a.element_size()
    op = Op("matmul", "matmul", 2.0 * m * n * k, bytes_read=(m * k + k * n) * es, bytes_written=m * n * out_bytes,
            dtype=dtype)
    return Bench(kernel="matmul", shape=dict(shape), dtype=dtype, impls={"ours": ours}, reference=reference,
                 ops=[op], rtol=rtol)


COPY = register(KernelEntry(
    name="copy", family="ceiling", description="device-to-device copy (memory-bandwidth ceiling; bytes = 2 x size)",
    prepare=prepare_copy, dtypes=("fp32",),
    bench_shapes=({"n": 2**28},),  # 1 GiB read + 1 GiB written: far past any L2
    quick_shapes=({"n": 2**20},),
))

MATMUL = register(KernelEntry(
    name="matmul", family="ceiling", description="large square matmul per dtype (compute ceiling)",
    prepare=prepare_matmul, dtypes=("fp32", "tf32", "bf16", "fp16", "int8"),
    bench_shapes=({"m": 8192, "n": 8192, "k": 8192},),
    quick_shapes=({"m": 128, "n": 128, "k": 128},),
))
