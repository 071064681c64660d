"""W4A16 linear: int4 weights (8 per int32, group-wise fp16/bf16 scales, optional zero points), fp16/bf16
activations, y = x @ dequant(W).T.

Groups: ``group`` = 64, 128 (or any size dividing K) shares one scale (and zero) along K per output
column; ``group = -1`` is per-channel (one scale per output column over all of K, the GPTQ spelling).
Symmetric: codes q in 0..15 with the implicit zero 8, w = (q - 8) * s. Asymmetric: w = (q - z) * s with
z in 0..15 stored as uint8 (n_groups, N).

Kernels (``kernels/quant/lowbit.py``): a split-K tensor-core decode kernel for M <= 64 (tokens padded to
the MMA's 16 rows, two weights dequantized an instruction, the split reduction finished in the same launch)
and a tiled tl.dot kernel for larger M, dequantizing in registers; ``w4a16_linear`` picks.

Cost, per call (M tokens, K in, N out, g = group): 2*M*N*K FLOPs; bytes read = 2*M*K (x) + N*K/2
(codes) + 2*N*K/g (scales) [+ N*K/g (zeros)]; bytes written 2*M*N. Dequantization ALU work is not a FLOP.
A weight costs 4 + 16/g bits: at g = 128 that is 4.125 bits, so in the memory-bound (small-M) region the
ideal speedup over fp16/bf16 weights is 16 / 4.125 = 3.88x. On h100-sxm (3.35 TB/s, 989.5 TF/s fp16
dense) the K = N = 8192 g128 layer stays memory-bound up to M ~ 82 tokens (bf16 F.linear: M ~ 318);
benchmarks/quant/NOTES.md derives both.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from kernels.common import ELEMENT_BYTES, OUTPUT_RTOL, gpu_only, interpreting, torch_dtype
from kernels.quant._common import Cfg, check_tensor
from kernels.quant.lowbit import check_packed, lowbit_linear
from kernels.registry import Bench
from roofline.errors import InputError
from roofline.ops import Op

BITS = 4
PER_WORD = 32 // BITS  # 8 codes an int32
SYM_ZERO = 8  # implicit zero point of symmetric codes
SCALE_DTYPES = (torch.float16, torch.bfloat16, torch.float32)

# Benchmark sweep (K x N = in x out features): a square layer, Llama-3.1-8B (q/o, gate/up, down, fused
# qkv) and Llama-3.1-70B layers; the 8192 x 8192 layer appears once.
LAYERS = ((8192, 8192), (4096, 4096), (4096, 14336), (14336, 4096), (4096, 6144),
          (8192, 28672), (28672, 8192), (8192, 10240))
BENCH_M = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096)
BENCH_SHAPES = tuple({"M": m, "K": k, "N": n, "group": 128} for k, n in LAYERS for m in BENCH_M)
QUICK_SHAPES = ({"M": 3, "K": 256, "N": 96, "group": 128}, {"M": 1, "K": 256, "N": 64, "group": 64},
                {"M": 17, "K": 256, "N": 64, "group": -1, "sym": False})


# --------------------------------------------------------------------------------------------- packing

def pack(q: torch.Tensor, bits: int = BITS) -> torch.Tensor:
    """Pack codes q (N, K), 0 <= q < 2**bits, into int32 (ceil(K/E), N), E = 32 // bits, strided along K:
    code j of word [i, n] holds q[n, j*KP + i] (see lowbit.py); K is padded with zero codes. The result is
    K-contiguous (stride (1, KP)): consecutive packed rows of a column are adjacent, as the MMA wants them."""
    e = 32 // bits
    n, k = q.shape
    kp = -(-k // e)
    qp = torch.zeros((n, kp * e), dtype=torch.int64, device=q.device)
    qp[:, :k] = q.to(torch.int64)
    planes = qp.reshape(n, e, kp)  # (N, E, KP): planes[n, j, i] = q[n, j*KP + i]
    shifts = (torch.arange(e, device=q.device, dtype=torch.int64) * bits)[None, :, None]
    word = (planes << shifts).sum(dim=1)  # (N, KP), fits in 32 unsigned bits
    word = torch.where(word >= 2**31, word - 2**32, word)  # reinterpret as signed int32
    return word.to(torch.int32).t()  # (KP, N), stored K-contiguous: a (N, KP) buffer's transpose


def unpack(qweight: torch.Tensor, k: int, bits: int = BITS) -> torch.Tensor:
    """Inverse of ``pack``: int32 (KP, N) -> uint8 codes (N, K)."""
    e = 32 // bits
    kp, n = qweight.shape
    word = qweight.t().to(torch.int64) & 0xFFFFFFFF  # (N, KP)
    shifts = (torch.arange(e, device=qweight.device, dtype=torch.int64) * bits)[None, :, None]
    planes = (word[:, None, :] >> shifts) & ((1 << bits) - 1)  # (N, E, KP)
    return planes.reshape(n, e * kp)[:, :k].to(torch.uint8)


def group_size(k: int, group: int) -> int:
    """The K extent of one scale row: ``group``, or K for per-channel (-1). Raises InputError."""
    if group == -1:
        return k
    if group <= 0:
        raise InputError(f"group must be a positive size dividing K or -1 (per-channel), got {group}")
    if k % group:
        raise InputError(f"K = {k} is not divisible by the group size {group}")
    return group


def quantize(w: torch.Tensor, group: int = 128, sym: bool = True,
             scale_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Round-to-nearest int4 of w (N, K): (qweight (KP, N) int32, scales (K/g, N), zeros (K/g, N) uint8 or None).

    Symmetric: s = absmax / 7, q = clamp(round(w/s), -8, 7) + 8. Asymmetric: s = (max - min) / 15,
    z = round(-min / s), q = clamp(round(w/s) + z, 0, 15). Codes are rounded with the stored (rounded) scale."""
    check_tensor("w", w, SCALE_DTYPES, 2, None)
    n, k = w.shape
    g = group_size(k, group)
    sdt = scale_dtype or (w.dtype if w.dtype != torch.float32 else torch.float16)
    wg = w.float().reshape(n, k // g, g)  # (N, groups, g)
    if sym:
        s = (wg.abs().amax(-1) / 7).clamp_min(1e-8).to(sdt)
        q = torch.clamp(torch.round(wg / s.float()[..., None]), -8, 7) + SYM_ZERO
        z = None
    else:
        lo, hi = wg.amin(-1).clamp(max=0), wg.amax(-1).clamp(min=0)
        s32 = ((hi - lo) / 15).clamp_min(1e-8)
        s = s32.to(sdt)  # round the stored scale up, never down: 15 steps must still span [lo, hi]
        s = torch.where(s.float() < s32, torch.nextafter(s, torch.full_like(s, float("inf"))), s)
        zf = torch.clamp(torch.round(-lo / s.float()), 0, 15)
        q = torch.clamp(torch.round(wg / s.float()[..., None]) + zf[..., None], 0, 15)
        z = zf.to(torch.uint8).t().contiguous()  # (groups, N)
    qweight = pack(q.reshape(n, k).to(torch.uint8))
    return qweight, s.t().contiguous(), z


def dequant(qweight: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor | None, k: int, group: int) -> torch.Tensor:
    """fp32 weights (N, K) = (q - z) * s, z = 8 when zeros is None."""
    g = group_size(k, group)
    q = unpack(qweight, k).float()  # (N, K)
    s = scales.float().t().repeat_interleave(g, dim=1)  # (N, K)
    z = zeros.float().t().repeat_interleave(g, dim=1) if zeros is not None else SYM_ZERO
    return (q - z) * s


def reference(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor | None,
              group: int = 128) -> torch.Tensor:
    """Plain torch: x @ dequant(W).T in fp32, cast to x's dtype."""
    return (x.float() @ dequant(qweight, scales, zeros, x.shape[-1], group).t()).to(x.dtype)


# -------------------------------------------------------------------------------------------- launcher

def w4a16_linear(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor | None = None,
                 *, group: int = 128, cfg: Cfg | None = None) -> torch.Tensor:
    """y (..., N) = x (..., K) @ dequant(W).T with the Triton kernels; x fp16/bf16 (fp32 for tests)."""
    check_packed(x, qweight, x.shape[-1] if x.dim() else 0, PER_WORD)
    k, n = x.shape[-1], qweight.shape[1]
    g = group_size(k, group)
    check_tensor("scales", scales, SCALE_DTYPES, 2, x.device)
    if tuple(scales.shape) != (k // g, n):
        raise InputError(f"scales has shape {tuple(scales.shape)}; K={k}, N={n}, group {group} need {(k // g, n)}")
    if zeros is not None:
        check_tensor("zeros", zeros, (torch.uint8,), 2, x.device)
        if zeros.shape != scales.shape:
            raise InputError(f"zeros has shape {tuple(zeros.shape)}; expected {tuple(scales.shape)} like scales")
    return lowbit_linear(x, qweight, scales, zeros, bits=BITS, k=k, group=g, zero_default=SYM_ZERO, cfg=cfg)


# ------------------------------------------------------------------------------------------------ cost

def cost(m: int, k: int, n: int, group: int = 128, sym: bool = True, dtype: str = "fp16",
         scale_bytes: int = 2) -> list[Op]:
    """Roofline Ops of one call: DRAM bytes of x, codes, scales, zeros and y (split-K partials stay in L2)."""
    a = ELEMENT_BYTES[dtype]
    n_groups = k // group_size(k, group)
    weights = -(-k // PER_WORD) * 4 * n  # packed codes
    meta = n_groups * n * (scale_bytes + (0 if sym else 1))
    return [Op("w4a16_linear", "matmul", flops=2.0 * m * n * k, bytes_read=float(m * k * a + weights + meta),
               bytes_written=float(m * n * a), dtype=dtype)]


# ----------------------------------------------------------------------------------------------- peers

def tinygemm_peer(x: torch.Tensor, q: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor | None, group: int):
    """torch._weight_int4pack_mm (tinygemm) on the same codes, or None where torch/device cannot run it.

    tinygemm computes w = (q - 8) * s + zero, so our asymmetric (q - z) * s maps to zero = (8 - z) * s."""
    n, k = q.shape
    if (x.device.type != "cuda" or not hasattr(torch, "_weight_int4pack_mm")
            or not hasattr(torch, "_convert_weight_to_int4pack") or group not in (32, 64, 128, 256)
            or k % 256 or n % 8):
        return None
    try:
        qi = q.to(torch.int32)
        packed_u8 = ((qi[:, ::2] << 4) | qi[:, 1::2]).to(torch.uint8)  # (N, K/2), even k in the high nibble
        wp = torch._convert_weight_to_int4pack(packed_u8, 8)
        s = scales.to(torch.bfloat16)
        zero = torch.zeros_like(s) if zeros is None else ((SYM_ZERO - zeros.float()) * scales.float()).to(torch.bfloat16)
        sz = torch.stack([s, zero], dim=-1).contiguous()  # (K/g, N, 2)
        xb = x.to(torch.bfloat16)
        torch._weight_int4pack_mm(xb, wp, group, sz)  # probe once: unsupported builds raise here
    except (RuntimeError, TypeError, NotImplementedError):
        return None
    return lambda: torch._weight_int4pack_mm(xb, wp, group, sz)


def gemlite_peer(x: torch.Tensor, q: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor | None, group: int):
    """gemlite's A16W4 Triton GEMM/GEMV (mobiusml/gemlite, an optional peer) on the same codes, or None where it
    is not installed or cannot run. gemlite computes w = (q - z) * s per group, our formula; its tuned configs
    are for named GPUs, and an H200 (the H100's compute) loads the H100 table rather than autotune for minutes."""
    if x.device.type != "cuda" or group not in (32, 64, 128, 256) or x.dtype not in (torch.float16, torch.bfloat16):
        return None
    try:
        # lazy: gemlite imports triton and touches CUDA at import (and is optional: carried as a wheel)
        import gemlite
        from gemlite.helper import A16Wn
    except ImportError:
        return None
    try:
        name = torch.cuda.get_device_properties(x.device).name.lower()
        if "h200" in name:
            gemlite.load_config(str(Path(gemlite.__file__).parent / "configs" / "h100.json"))
        n, k = q.shape
        z = torch.full_like(scales, SYM_ZERO) if zeros is None else zeros.to(scales.dtype)
        layer = A16Wn(device=str(x.device), dtype=x.dtype).from_weights(
            q.to(torch.uint8).contiguous(), scales.t().contiguous().to(x.dtype), z.t().contiguous().to(x.dtype),
            W_nbits=4, group_size=group)
        layer(x)  # probe once: an unsupported shape or build raises here
    except Exception:  # a third-party peer that cannot run this point is left out, not fatal
        return None
    return lambda: layer(x)


def bf16_linear_ops(m: int, k: int, n: int) -> list[Op]:
    return [Op("torch-bf16-linear", "matmul", flops=2.0 * m * n * k, bytes_read=2.0 * (m * k + n * k),
               bytes_written=2.0 * m * n, dtype="bf16")]


def prepare(shape: dict, dtype: str, device: str) -> Bench:
    """Fresh random x and W (quantized here), our kernel and its peers on the same weights."""
    m, k, n = int(shape["M"]), int(shape["K"]), int(shape["N"])
    group, sym = int(shape.get("group", 128)), bool(shape.get("sym", True))
    dt = torch_dtype(dtype, ("fp16", "bf16", "fp32"))
    x = torch.randn(m, k, device=device, dtype=dt)
    w = torch.randn(n, k, device=device) / math.sqrt(k)
    sdt = dt if dt != torch.float32 else torch.float16
    qweight, scales, zeros = quantize(w, group, sym, scale_dtype=sdt)
    impls = {"ours": lambda: w4a16_linear(x, qweight, scales, zeros, group=group)}
    cpu_blocked = gpu_only(dtype, bf16_dot=True)
    xb, wb = x.to(torch.bfloat16), dequant(qweight, scales, zeros, k, group).to(torch.bfloat16)
    impls["torch-bf16-linear"] = lambda: F.linear(xb, wb)
    peer_ops = {"torch-bf16-linear": bf16_linear_ops(m, k, n)}
    del w
    tg = tinygemm_peer(x, unpack(qweight, k), scales, zeros, group) if not interpreting() else None
    if tg is not None:
        impls["torch-tinygemm-int4"] = tg
        cpu_blocked.add("torch-tinygemm-int4")
        peer_ops["torch-tinygemm-int4"] = [Op("torch-tinygemm-int4", "matmul", flops=2.0 * m * n * k,
                                              bytes_read=2.0 * m * k + n * k / 2 + 4.0 * (k // group) * n,
                                              bytes_written=2.0 * m * n, dtype="bf16")]
    gl = gemlite_peer(x, unpack(qweight, k), scales, zeros, group) if not interpreting() else None
    if gl is not None:
        impls["gemlite-w4a16"] = gl
        cpu_blocked.add("gemlite-w4a16")
        peer_ops["gemlite-w4a16"] = [Op("gemlite-w4a16", "matmul", flops=2.0 * m * n * k,
                                        bytes_read=2.0 * m * k + n * k / 2 + 2 * 2.0 * (k // group) * n,
                                        bytes_written=2.0 * m * n, dtype=dtype)]
    return Bench(kernel="w4a16_linear", shape=dict(shape), dtype=dtype, impls=impls,
                 reference=lambda: reference(x, qweight, scales, zeros, group),
                 ops=cost(m, k, n, group, sym, dtype, scales.element_size()), rtol=RTOL[dtype],
                 peer_ops=peer_ops, gpu_only=cpu_blocked)


# Max |y - ref| / max |ref| accepted. The reference is exact fp32 math on the same codes and scales, so
# the error is rounding: y is stored in the activation dtype (fp16 half-ulp 2**-11 = 4.9e-4, bf16 2**-8 =
# 3.9e-3 of an element, at most that of max |ref|), plus, on odd shapes whose tiles straddle a group,
# each scaled weight rounded to the activation dtype before the dot (random, so it averages over K).
# fp32 runs the dot in IEEE fp32: only the summation order differs. That is kernels.common.OUTPUT_RTOL.
RTOL = OUTPUT_RTOL
