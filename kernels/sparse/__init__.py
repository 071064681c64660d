"""Sparse kernels: 2:4 semi-structured linear and contextual (Deja Vu) MLP sparsity; registered on import."""

from __future__ import annotations

from kernels.registry import KernelEntry, register
from kernels.sparse import contextual, semi_structured

SPARSE24_LINEAR = register(KernelEntry(
    name="sparse24_linear",
    family="sparse",
    description="y = x @ W^T with W 2:4-pruned, packed as values + 2-bit metadata, decompressed on load "
                "(Triton); large M picks cuSPARSELt / decompress+cuBLAS / Triton by timing.",
    prepare=semi_structured.prepare,
    dtypes=("fp16", "bf16"),
    bench_shapes=semi_structured.BENCH_SHAPES,
    quick_shapes=semi_structured.QUICK_SHAPES,
))

CONTEXTUAL_MLP = register(KernelEntry(
    name="contextual_mlp",
    family="sparse",
    description="Llama gated MLP over the batch's union of predicted-active neurons: gathered up/gate rows "
                "and W_down^T rows (Triton), vs the dense MLP.",
    prepare=contextual.prepare,
    dtypes=("fp16", "bf16"),
    bench_shapes=contextual.BENCH_SHAPES,
    quick_shapes=contextual.QUICK_SHAPES,
))
