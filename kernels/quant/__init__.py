"""Reference quantized linears (issue 4): W4A16 int4, W8A8 int8 and ternary (BitNet b1.58), each a Triton
kernel with its launcher, plain-torch reference and roofline cost. Importing the package registers them."""

from kernels.quant import ternary, w4a16, w8a8
from kernels.registry import KernelEntry, register

W4A16 = register(KernelEntry(
    name="w4a16_linear", family="quant",
    description="int4 weights (8 per int32, group 64/128/per-channel, sym or asym) x fp16/bf16 activations; "
                "tensor-core split-K decode kernel for M <= 64 (inline-PTX dequantization, fused split reduction), "
                "tl.dot GEMM above",
    prepare=w4a16.prepare, dtypes=("bf16", "fp16"), bench_shapes=w4a16.BENCH_SHAPES,
    quick_shapes=w4a16.QUICK_SHAPES))

W8A8 = register(KernelEntry(
    name="w8a8_linear", family="quant",
    description="int8 x int8 -> int32, per-token x per-channel scales, fp16/bf16 out (SmoothQuant-style, "
                "no outlier split)",
    prepare=w8a8.prepare, dtypes=("bf16", "fp16"), bench_shapes=w8a8.BENCH_SHAPES,
    quick_shapes=w8a8.QUICK_SHAPES))

TERNARY = register(KernelEntry(
    name="ternary_linear", family="quant",
    description="BitNet b1.58 weights in {-1, 0, +1} (2 bits, 16 per int32), per-tensor or per-group scale, "
                "fp16/bf16 activations",
    prepare=ternary.prepare, dtypes=("bf16", "fp16"), bench_shapes=ternary.BENCH_SHAPES,
    quick_shapes=ternary.QUICK_SHAPES))

__all__ = ["TERNARY", "W4A16", "W8A8", "ternary", "w4a16", "w8a8"]
