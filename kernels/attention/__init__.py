"""Attention kernels: flash prefill, split-K decode, block-sparse prefill; registered on import."""

from __future__ import annotations

from kernels.attention import block_sparse, decode, flash
from kernels.registry import KernelEntry, register

FLASH_ATTENTION = register(KernelEntry(
    name="flash_attention",
    family="attention",
    description="FlashAttention-2 style forward (online softmax, exp2, causal split into free + diagonal tiles, "
                "GQA), returns out and LSE (Triton); vs SDPA flash / cuDNN / mem-efficient.",
    prepare=flash.prepare,
    dtypes=("bf16", "fp16"),
    bench_shapes=flash.BENCH_SHAPES,
    quick_shapes=flash.QUICK_SHAPES,
))

DECODE_ATTENTION = register(KernelEntry(
    name="decode_attention",
    family="attention",
    description="Split-K flash-decoding over a ragged KV cache (GQA heads share each KV read, optional int8 "
                "cache with per-head scales) + LSE combine (Triton); vs SDPA backends.",
    prepare=decode.prepare,
    dtypes=("bf16", "fp16"),
    bench_shapes=decode.BENCH_SHAPES,
    quick_shapes=decode.QUICK_SHAPES,
))

BLOCK_SPARSE_ATTENTION = register(KernelEntry(
    name="block_sparse_attention",
    family="attention",
    description="Block-sparse forward over kept KV blocks (sliding window or centroid top-k, full / partial "
                "block lists) (Triton); vs FlexAttention on the same blocks and dense causal SDPA.",
    prepare=block_sparse.prepare,
    dtypes=("bf16", "fp16"),
    bench_shapes=block_sparse.BENCH_SHAPES,
    quick_shapes=block_sparse.QUICK_SHAPES,
))
