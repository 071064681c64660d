"""W8A8 int8 linear: y = (x_q @ w_q.T) * s_x[:, None] * s_w[None, :], fp16/bf16 out.

SmoothQuant / LLM.int8()-style per-token activation scales s_x (M,) and per-channel weight scales
s_w (N,), both fp32, symmetric (absmax / 127); int8 x int8 products accumulate in int32 on the tensor
cores and the two scales are applied once in the fp32 epilogue. There is NO LLM.int8() outlier split
(no fp16 side path for outlier feature columns) and no SmoothQuant migration of activation scale into the
weights: callers smooth beforehand if they need it. Activations arrive already quantized (``quantize_rows``),
as when the quantization is fused into the previous op; that matches the peer torch._int_mm.

Layout: x_q (M, K) row-major, w_q (N, K) row-major (nn.Linear's layout): both operands K-major, the only
layout Hopper's int8 wgmma accepts from shared memory.

Cost, per call: 2*M*N*K int8 ops; bytes read M*K + N*K + 4*M + 4*N; bytes written M*N*2 (fp16/bf16).
torch._int_mm reads M*K + N*K and writes M*N*4 (int32, no scaling).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from kernels.common import check_runnable, gpu_only, interpreting, torch_dtype
from kernels.quant._common import Cfg, bucket_m, check_tensor, choose
from kernels.quant.w4a16 import LAYERS, bf16_linear_ops
from kernels.registry import Bench
from roofline.errors import InputError
from roofline.ops import Op

BENCH_M = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096)
BENCH_SHAPES = tuple({"M": m, "K": k, "N": n} for k, n in LAYERS for m in BENCH_M)
QUICK_SHAPES = ({"M": 3, "K": 256, "N": 96}, {"M": 17, "K": 160, "N": 64})
OUT_DTYPES = (torch.float16, torch.bfloat16)


@triton.jit
def _w8a8_kernel(
    a_ptr, b_ptr, sa_ptr, sb_ptr, c_ptr, M, N, K,
    stride_am, stride_ak, stride_bn, stride_bk, stride_cm, stride_cn,
    EVEN_K: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # Grouped order: GROUP_M row-tiles reuse each weight tile from L2.
    pid = tl.program_id(0)
    grid_m = tl.cdiv(M, BLOCK_M)
    grid_n = tl.cdiv(N, BLOCK_N)
    width = GROUP_M * grid_n
    first_m = (pid // width) * GROUP_M
    size_m = tl.minimum(grid_m - first_m, GROUP_M)
    pid_m = first_m + (pid % width) % size_m
    pid_n = (pid % width) // size_m

    # Rows/cols wrap (mod M, N) so the K loop needs no M/N masks; the store is masked instead.
    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak  # (BLOCK_M, BLOCK_K)
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn  # (BLOCK_K, BLOCK_N), K-major
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.int32)
    for kb in range(0, tl.cdiv(K, BLOCK_K)):
        if EVEN_K:
            a = tl.load(a_ptrs)
            b = tl.load(b_ptrs)
        else:
            k_left = K - kb * BLOCK_K
            a = tl.load(a_ptrs, mask=offs_k[None, :] < k_left, other=0)
            b = tl.load(b_ptrs, mask=offs_k[:, None] < k_left, other=0)
        acc = tl.dot(a, b, acc, out_dtype=tl.int32)  # exact: |acc| <= K * 127 * 128 < 2**31 for K < 131072
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    cm, cn = offs_cm < M, offs_cn < N
    sa = tl.load(sa_ptr + offs_cm, mask=cm, other=0.0)
    sb = tl.load(sb_ptr + offs_cn, mask=cn, other=0.0)
    c = acc.to(tl.float32) * sa[:, None] * sb[None, :]
    tl.store(c_ptr + offs_cm[:, None] * stride_cm + offs_cn[None, :] * stride_cn, c.to(c_ptr.dtype.element_ty),
             mask=cm[:, None] & cn[None, :])


# Candidates, best guess first. Large M is tensor-core bound: 128x256 / 256x128 tiles with BLOCK_K = 128
# (48 KB of int8 a stage, 3 stages) give wgmma the operand reuse it needs; small M streams weights.
CFGS_SMALL = (  # M <= 16
    Cfg({"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_K": 256, "GROUP_M": 1}, num_warps=4, num_stages=4),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 128, "BLOCK_K": 128, "GROUP_M": 1}, num_warps=4, num_stages=4),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 32, "BLOCK_K": 512, "GROUP_M": 1}, num_warps=4, num_stages=3),
)
CFGS_MID = (  # 16 < M <= 256
    Cfg({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 128, "GROUP_M": 8}, num_warps=4, num_stages=4),
    Cfg({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 128, "GROUP_M": 8}, num_warps=8, num_stages=3),
    Cfg({"BLOCK_M": 32, "BLOCK_N": 64, "BLOCK_K": 256, "GROUP_M": 8}, num_warps=4, num_stages=4),
    Cfg({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 256, "GROUP_M": 8}, num_warps=4, num_stages=4),
)
CFGS_LARGE = (  # M > 256
    Cfg({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 128, "GROUP_M": 8}, num_warps=8, num_stages=3),
    Cfg({"BLOCK_M": 256, "BLOCK_N": 128, "BLOCK_K": 128, "GROUP_M": 8}, num_warps=8, num_stages=3),
    Cfg({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 128, "GROUP_M": 8}, num_warps=8, num_stages=4),
    Cfg({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_warps=4, num_stages=4),
)


def candidates_for(m: int) -> tuple[Cfg, ...]:
    return CFGS_SMALL if m <= 16 else CFGS_MID if m <= 256 else CFGS_LARGE


def quantize_rows(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row: (q int8 same shape, scale fp32 (rows,)) with t ~ q * scale[:, None]."""
    s = (t.float().abs().amax(dim=-1) / 127).clamp_min(1e-8)
    q = torch.clamp(torch.round(t.float() / s[:, None]), -127, 127).to(torch.int8)
    return q, s


def reference(x_q: torch.Tensor, x_scale: torch.Tensor, w_q: torch.Tensor, w_scale: torch.Tensor,
              out_dtype: torch.dtype = torch.float16) -> torch.Tensor:
    """Plain torch: the int32 accumulation done exactly in fp64 (|sums| < 2**53), scaled, cast."""
    acc = x_q.double() @ w_q.double().t()
    return (acc * x_scale.double()[:, None] * w_scale.double()[None, :]).to(out_dtype)


def w8a8_linear(x_q: torch.Tensor, x_scale: torch.Tensor, w_q: torch.Tensor, w_scale: torch.Tensor,
                out_dtype: torch.dtype = torch.float16, *, cfg: Cfg | None = None) -> torch.Tensor:
    """y (M, N) = (x_q (M, K) @ w_q (N, K).T) * x_scale[:, None] * w_scale[None, :] in out_dtype."""
    check_tensor("x_q", x_q, (torch.int8,), 2, None)
    dev = x_q.device
    check_tensor("w_q", w_q, (torch.int8,), 2, dev)
    check_tensor("x_scale", x_scale, (torch.float32,), 1, dev)
    check_tensor("w_scale", w_scale, (torch.float32,), 1, dev)
    if out_dtype not in OUT_DTYPES:
        raise InputError(f"out_dtype {out_dtype} not supported (fp16 or bf16)")
    (m, k), (n, k2) = x_q.shape, w_q.shape
    if k != k2:
        raise InputError(f"x_q is (M, K) = {tuple(x_q.shape)} but w_q is (N, K) = {tuple(w_q.shape)}: K differs")
    if x_scale.shape[0] != m or w_scale.shape[0] != n:
        raise InputError(f"scales must be x_scale ({m},) and w_scale ({n},); got {tuple(x_scale.shape)}, "
                         f"{tuple(w_scale.shape)}")
    out = torch.empty((m, n), device=dev, dtype=out_dtype)
    if m == 0 or n == 0:
        return out
    check_runnable(dev)
    x_scale, w_scale = x_scale.contiguous(), w_scale.contiguous()

    def launch(c: Cfg) -> None:
        grid = (triton.cdiv(m, c["BLOCK_M"]) * triton.cdiv(n, c["BLOCK_N"]),)
        _w8a8_kernel[grid](x_q, w_q, x_scale, w_scale, out, m, n, k,
                           x_q.stride(0), x_q.stride(1), w_q.stride(0), w_q.stride(1), out.stride(0), out.stride(1),
                           EVEN_K=k % c["BLOCK_K"] == 0, **c.meta, num_warps=c.num_warps, num_stages=c.num_stages)

    if cfg is None:
        cfg = choose(("w8a8", bucket_m(m), n, k, out_dtype), candidates_for(m), launch, dev)
    launch(cfg)
    return out


def cost(m: int, k: int, n: int, dtype: str = "fp16") -> list[Op]:
    """Roofline Ops of one call: int8 x and W, fp32 scales, fp16/bf16 y."""
    return [Op("w8a8_linear", "matmul", flops=2.0 * m * n * k, bytes_read=float(m * k + n * k + 4 * m + 4 * n),
               bytes_written=float(2 * m * n), dtype="int8")]


def prepare(shape: dict, dtype: str, device: str) -> Bench:
    m, k, n = int(shape["M"]), int(shape["K"]), int(shape["N"])
    dt = torch_dtype(dtype, ("fp16", "bf16"))
    x_q, x_scale = quantize_rows(torch.randn(m, k, device=device))
    w_q, w_scale = quantize_rows(torch.randn(n, k, device=device) / math.sqrt(k))
    impls = {"ours": lambda: w8a8_linear(x_q, x_scale, w_q, w_scale, dt)}
    cpu_blocked = gpu_only(dtype, bf16_dot=False)
    xb = (x_q.float() * x_scale[:, None]).to(torch.bfloat16)
    wb = (w_q.float() * w_scale[:, None]).to(torch.bfloat16)
    impls["torch-bf16-linear"] = lambda: F.linear(xb, wb)
    peer_ops = {"torch-bf16-linear": bf16_linear_ops(m, k, n),
                "torch-int-mm": [Op("torch-int-mm", "matmul", flops=2.0 * m * n * k,
                                    bytes_read=float(m * k + n * k), bytes_written=4.0 * m * n, dtype="int8")]}
    # torch._int_mm on CUDA needs M > 16 and K, N multiples of 8; w_q.t() is the K-major (K, N) operand.
    if device.startswith("cuda") and not interpreting() and m > 16 and k % 8 == 0 and n % 8 == 0:
        wt = w_q.t()
        impls["torch-int-mm"] = lambda: torch._int_mm(x_q, wt)
        cpu_blocked.add("torch-int-mm")
    return Bench(kernel="w8a8_linear", shape=dict(shape), dtype=dtype, impls=impls,
                 reference=lambda: reference(x_q, x_scale, w_q, w_scale, dt), ops=cost(m, k, n, dtype),
                 rtol=RTOL[dtype], peer_ops={k_: v for k_, v in peer_ops.items() if k_ in impls},
                 gpu_only=cpu_blocked)


# The int32 accumulation is exact, and so is the reference's (fp64); the fp32 epilogue adds ~1e-7, so the
# error is the rounding of y to the output dtype: half an ulp, 2**-11 (fp16) or 2**-8 (bf16) of an element.
RTOL = {"fp16": 1e-3, "bf16": 8e-3}
