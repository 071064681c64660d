"""Where the kernel tests run (imported first by each quant test module, before triton or the kernels):
on the CPU under the Triton interpreter (CI, make test), or, with ``TRITON_INTERPRET=0`` on a GPU machine,
the same tests on the compiled kernels, bf16 included."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton / kernels are imported

import pytest  # noqa: E402
import torch  # noqa: E402

DEV = "cuda" if os.environ["TRITON_INTERPRET"] != "1" and torch.cuda.is_available() else "cpu"
ON_GPU = pytest.mark.skipif(DEV != "cuda", reason="GPU only (bf16 tl.dot is wrong under the interpreter); "
                                                  "run with TRITON_INTERPRET=0 on a GPU")


def fresh_seed() -> int:
    return torch.seed()  # reseeds from the OS; printed on failure so a failing draw can be replayed


# Attention outputs (flash and block-sparse; absolute tolerance, on outputs of magnitude <= ~3 and on the LSE):
# fp16 -- P is rounded to fp16 before P.V and the output is stored in fp16 (ulp 2^-10 near 1): 4e-3; fp32 --
# exact fp32 products, only the summation order differs from torch: 2e-5. The LSE is accumulated in fp32: 1e-4.
ATTN_ATOL = {torch.float16: 4e-3, torch.float32: 2e-5}
ATTN_LSE_ATOL = 1e-4


def attn_qkv(B, H, Hkv, Sq, Sk, D, dtype, seed=0):
    """q (B, H, Sq, D), k and v (B, Hkv, Sk, D) of N(0, 1) values, from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, Sq, D, generator=g).to(dtype), torch.randn(B, Hkv, Sk, D, generator=g).to(dtype),
            torch.randn(B, Hkv, Sk, D, generator=g).to(dtype))
