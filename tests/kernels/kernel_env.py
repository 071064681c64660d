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
