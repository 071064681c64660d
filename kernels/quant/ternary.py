"""Ternary (BitNet b1.58) linear: weights in {-1, 0, +1}, 2 bits each (16 per int32), fp16/bf16
activations, y = x @ (s * T).T.

Codes: c = t + 1 in {0, 1, 2} (3 unused), packed strided along K exactly like the int4 codes (see
``kernels/quant/lowbit.py``; the same Triton kernels run with BITS=2 and the implicit zero 1).
Scale, the absmean gamma of BitNet b1.58 (T = clamp(round(W / gamma), -1, 1)):
``group = 0`` one scale for the tensor (the paper's choice), ``group = -1`` one per output column,
``group = g > 0`` one per g weights along K per column.

Cost, per call: 2*M*N*K FLOPs; bytes read 2*M*K (x) + N*K/4 (codes) + scales (2 bytes each); bytes
written 2*M*N. A weight costs 2 bits (+ 16/g), so a memory-bound call moves ~1/8 of bf16's bytes: the
ideal M = 1 speedup over bf16 F.linear is ~8x (the target is 5x; the kernel's dequantization ALU work,
not bandwidth, is the likelier limit — see benchmarks/quant/NOTES.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from kernels.common import ELEMENT_BYTES, OUTPUT_RTOL, gpu_only, torch_dtype
from kernels.quant._common import Cfg, check_tensor
from kernels.quant.lowbit import check_packed, lowbit_linear
from kernels.quant.w4a16 import LAYERS, bf16_linear_ops, pack, unpack
from kernels.registry import Bench
from roofline.errors import InputError
from roofline.ops import Op

BITS = 2
PER_WORD = 32 // BITS  # 16 codes an int32
ZERO = 1  # code of the weight 0
SCALE_DTYPES = (torch.float16, torch.bfloat16, torch.float32)

BENCH_M = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096)
BENCH_SHAPES = tuple({"M": m, "K": k, "N": n, "group": 0} for k, n in LAYERS for m in BENCH_M)
QUICK_SHAPES = ({"M": 3, "K": 256, "N": 96, "group": 0}, {"M": 1, "K": 256, "N": 64, "group": 128})


def scale_shape(k: int, n: int, group: int) -> tuple[tuple[int, int], int]:
    """(shape of the scales tensor, K extent of one scale row) for a group spec. Raises InputError."""
    if group == 0:
        return (1, 1), k
    if group == -1:
        return (1, n), k
    if group < 0:
        raise InputError(f"group must be 0 (per-tensor), -1 (per-channel) or a size dividing K, got {group}")
    if k % group:
        raise InputError(f"K = {k} is not divisible by the group size {group}")
    return (k // group, n), group


def quantize(w: torch.Tensor, group: int = 0, scale_dtype: torch.dtype | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """BitNet b1.58 absmean ternarization of w (N, K): (qweight (ceil(K/16), N) int32, scales)."""
    check_tensor("w", w, SCALE_DTYPES, 2, None)
    n, k = w.shape
    (sg, _), g = scale_shape(k, n, group)
    sdt = scale_dtype or (w.dtype if w.dtype != torch.float32 else torch.float16)
    wf = w.float()
    if group == 0:
        gamma = wf.abs().mean().clamp_min(1e-8).reshape(1, 1).to(sdt)
        t = torch.clamp(torch.round(wf / gamma.float()), -1, 1)
    else:
        wg = wf.reshape(n, sg, g)  # (N, groups, g)
        gamma = wg.abs().mean(-1).clamp_min(1e-8).to(sdt)  # (N, groups)
        t = torch.clamp(torch.round(wg / gamma.float()[..., None]), -1, 1).reshape(n, k)
        gamma = gamma.t().contiguous()  # (groups, N)
    return pack((t + ZERO).to(torch.uint8), BITS), gamma


def dequant(qweight: torch.Tensor, scales: torch.Tensor, k: int, group: int = 0) -> torch.Tensor:
    """fp32 weights (N, K) = (c - 1) * s."""
    n = qweight.shape[1]
    _, g = scale_shape(k, n, group)
    t = unpack(qweight, k, BITS).float() - ZERO  # (N, K) in {-1, 0, 1}
    s = scales.float().expand(-1, n) if group == 0 else scales.float()
    return t * s.t().repeat_interleave(g, dim=1)


def reference(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, group: int = 0) -> torch.Tensor:
    """Plain torch: x @ dequant(W).T in fp32, cast to x's dtype."""
    return (x.float() @ dequant(qweight, scales, x.shape[-1], group).t()).to(x.dtype)


def ternary_linear(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, *, group: int = 0,
                   cfg: Cfg | None = None) -> torch.Tensor:
    """y (..., N) = x (..., K) @ dequant(W).T with the Triton low-bit kernels at 2 bits."""
    check_packed(x, qweight, x.shape[-1] if x.dim() else 0, PER_WORD)
    k, n = x.shape[-1], qweight.shape[1]
    want, g = scale_shape(k, n, group)
    check_tensor("scales", scales, SCALE_DTYPES, 2, x.device)
    if tuple(scales.shape) != want:
        raise InputError(f"scales has shape {tuple(scales.shape)}; K={k}, N={n}, group {group} need {want}")
    return lowbit_linear(x, qweight, scales, None, bits=BITS, k=k, group=g, zero_default=ZERO, cfg=cfg)


def cost(m: int, k: int, n: int, group: int = 0, dtype: str = "fp16", scale_bytes: int = 2) -> list[Op]:
    """Roofline Ops of one call: DRAM bytes of x, 2-bit codes, scales and y."""
    a = ELEMENT_BYTES[dtype]
    (sg, sn), _ = scale_shape(k, n, group)
    weights = -(-k // PER_WORD) * 4 * n
    return [Op("ternary_linear", "matmul", flops=2.0 * m * n * k,
               bytes_read=float(m * k * a + weights + sg * sn * scale_bytes), bytes_written=float(m * n * a),
               dtype=dtype)]


def prepare(shape: dict, dtype: str, device: str) -> Bench:
    m, k, n = int(shape["M"]), int(shape["K"]), int(shape["N"])
    group = int(shape.get("group", 0))
    dt = torch_dtype(dtype, ("fp16", "bf16", "fp32"))
    x = torch.randn(m, k, device=device, dtype=dt)
    w = torch.randn(n, k, device=device) / math.sqrt(k)
    qweight, scales = quantize(w, group, scale_dtype=dt if dt != torch.float32 else torch.float16)
    del w
    xb, wb = x.to(torch.bfloat16), dequant(qweight, scales, k, group).to(torch.bfloat16)
    return Bench(kernel="ternary_linear", shape=dict(shape), dtype=dtype,
                 impls={"ours": lambda: ternary_linear(x, qweight, scales, group=group),
                        "torch-bf16-linear": lambda: F.linear(xb, wb)},
                 reference=lambda: reference(x, qweight, scales, group),
                 ops=cost(m, k, n, group, dtype, scales.element_size()), rtol=RTOL[dtype],
                 peer_ops={"torch-bf16-linear": bf16_linear_ops(m, k, n)},
                 gpu_only=gpu_only(dtype, bf16_dot=True))


# Same reasons as w4a16.RTOL: output rounding to the activation dtype (the weights -1/0/+1 are exact in
# every dtype; on group-straddling odd shapes the scaled weight s*t is rounded once before the dot).
RTOL = OUTPUT_RTOL
