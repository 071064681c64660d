"""Triton kernels for weight-only linears with packed low-bit weights: y = x @ dequant(W).T.

Shared by ``w4a16`` (BITS=4, 8 codes an int32) and ``ternary`` (BITS=2, 16 codes an int32).

Packed layout ("strided along K", as in gemlite): with E = 32 // BITS codes a word and
KP = ceil(K / E) packed rows, ``qweight`` is an int32 tensor of shape (KP, N) (N contiguous) and

    code j of qweight[i, n]  (bits BITS*j .. BITS*j+BITS-1)  =  q[n, j * KP + i]

so the j-th code of a tile of packed rows [i0, i0 + BLOCK_KP) holds a *contiguous* run of K. A kernel
loads the int32 tile once (coalesced along N, no duplicated addresses), and for each j shifts out one
code plane and multiplies it with the matching contiguous run of x: no reshape, no interleave shuffles.
K is padded with zero codes up to E * KP; the kernels mask x to zero there.

Dequantization: w = (q - z) * s, where s (and z, if given) come from row ``k // GROUP`` of
``scales`` / ``zeros``. Codes become floats with the magic-number trick (q | 0x4B000000 reinterpreted as
fp32 is 2**23 + q), which costs one LOP3 instead of a slow I2F conversion. When a tile never straddles a
group (GROUP and KP are multiples of BLOCK_KP: all the LLM shapes), (q - z) is an exact small integer in
fp16/bf16, the tensor cores multiply it with x, and the per-column scale is applied once per tile in
fp32 ("ALIGNED"). Otherwise each weight is scaled before the dot (odd shapes, per-channel on odd K).
A per-tensor scale (ternary's default) is applied once to the finished tile ("SCALAR_SCALE").

Two kernels:
- ``_lowbit_splitk_kernel`` — decode, M <= 16. Grid (N tiles, K splits, M tiles): with few output
  tiles the K loop is split so that ~4 CTAs a SM stream weights; partial sums go to an fp32 workspace
  (split, M, N) and ``_splitk_reduce_kernel`` adds them and casts (deterministic, no atomics, no memset).
  BLOCK_M == 1 is a CUDA-core GEMV (fp32 FMAs on a 2-D accumulator reduced once at the end); BLOCK_M == 16
  uses tl.dot (mma.sync) so M = 2..16 costs one dequantization a weight, not M.
- ``_lowbit_gemm_kernel`` — M > 16: output tiles of (BLOCK_M, BLOCK_N), grouped launch order for L2 reuse
  of x, dequantization in registers feeding tl.dot, K loop pipelined by num_stages.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.common import check_runnable, num_sms
from kernels.quant._common import Cfg, bucket_m, check_tensor, choose
from roofline.errors import InputError

MAGIC_F32 = 8388608.0  # 2**23: fp32 with exponent 23, so the low mantissa bits read as an integer


@triton.jit
def _scale_zero(j, kp_start, rows, offs_n, n_mask, s_ptr, z_ptr, stride_sg, stride_sn, stride_zg, stride_zn,
                KP, N_GROUPS, GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, ZERO_DEFAULT: tl.constexpr,
                ALIGNED: tl.constexpr, SCALAR_SCALE: tl.constexpr):
    """Scale s and offset (2**23 + z) of code plane j: shape (1, BLOCK_N) if ALIGNED, else (BLOCK_KP, BLOCK_N).
    A per-tensor scale (SCALAR_SCALE) is applied once to the result instead: s = 1 here (folded away)."""
    if SCALAR_SCALE:
        s = tl.full([1, 1], 1.0, tl.float32)
        zoff = tl.full([1, 1], 8388608.0 + ZERO_DEFAULT, tl.float32)
    elif ALIGNED:
        g = (j * KP + kp_start) // GROUP  # one group for the whole tile
        s = tl.load(s_ptr + g * stride_sg + offs_n * stride_sn, mask=n_mask, other=0.0).to(tl.float32)[None, :]
        if HAS_ZERO:
            z = tl.load(z_ptr + g * stride_zg + offs_n * stride_zn, mask=n_mask, other=0).to(tl.float32)[None, :]
            zoff = z + 8388608.0
        else:
            zoff = tl.full([1, 1], 8388608.0 + ZERO_DEFAULT, tl.float32)
    else:
        k = j * KP + kp_start + rows  # logical k of each packed row, (BLOCK_KP,)
        g = tl.minimum(k // GROUP, N_GROUPS - 1)  # padded k past K would index one group too far
        m2 = (kp_start + rows < KP)[:, None] & n_mask[None, :]
        s = tl.load(s_ptr + g[:, None] * stride_sg + offs_n[None, :] * stride_sn, mask=m2, other=0.0)
        s = s.to(tl.float32)
        if HAS_ZERO:
            z = tl.load(z_ptr + g[:, None] * stride_zg + offs_n[None, :] * stride_zn, mask=m2, other=0)
            zoff = z.to(tl.float32) + 8388608.0
        else:
            zoff = tl.full([1, 1], 8388608.0 + ZERO_DEFAULT, tl.float32)
    return s, zoff


@triton.jit
def _codes(p, j, BITS: tl.constexpr):
    """Code plane j of a packed int32 tile as fp32 2**23 + q (exact; shift + LOP3, no I2F)."""
    q = (p >> (j * BITS)) & ((1 << BITS) - 1)
    return (q | 0x4B000000).to(tl.float32, bitcast=True)


@triton.jit
def _lowbit_splitk_kernel(
    x_ptr, qw_ptr, s_ptr, z_ptr, out_ptr, ws_ptr,
    M, N, K, KP, N_GROUPS, BLOCKS_PER_SPLIT,
    stride_xm, stride_xk, stride_qk, stride_qn, stride_sg, stride_sn, stride_zg, stride_zn,
    stride_om, stride_on,
    BITS: tl.constexpr, GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, ZERO_DEFAULT: tl.constexpr,
    ALIGNED: tl.constexpr, SCALAR_SCALE: tl.constexpr, IEEE: tl.constexpr, SPLIT_K: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_KP: tl.constexpr,
):
    E: tl.constexpr = 32 // BITS
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    pid_m = tl.program_id(2)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_n < N
    rows = tl.arange(0, BLOCK_KP)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < M
    if BLOCK_M == 1:
        acc = tl.zeros([BLOCK_KP, BLOCK_N], dtype=tl.float32)  # reduced over rows once, after the loop
    else:
        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    n_blocks = tl.cdiv(KP, BLOCK_KP)
    kb_lo = pid_k * BLOCKS_PER_SPLIT
    kb_hi = tl.minimum(kb_lo + BLOCKS_PER_SPLIT, n_blocks)
    for kb in range(kb_lo, kb_hi):
        kp_start = kb * BLOCK_KP
        r_mask = kp_start + rows < KP
        p = tl.load(qw_ptr + (kp_start + rows)[:, None] * stride_qk + offs_n[None, :] * stride_qn,
                    mask=r_mask[:, None] & n_mask[None, :], other=0)  # (BLOCK_KP, BLOCK_N) int32
        for j in tl.static_range(E):
            k = j * KP + kp_start + rows  # (BLOCK_KP,) contiguous run of K
            k_mask = r_mask & (k < K)
            s, zoff = _scale_zero(j, kp_start, rows, offs_n, n_mask, s_ptr, z_ptr, stride_sg, stride_sn,
                                  stride_zg, stride_zn, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED,
                                  SCALAR_SCALE)
            w = _codes(p, j, BITS) - zoff  # q - z, exact
            if not ALIGNED:
                w = w * s
            if BLOCK_M == 1:
                xj = tl.load(x_ptr + pid_m * stride_xm + k * stride_xk, mask=k_mask, other=0.0).to(tl.float32)
                if ALIGNED:
                    acc += w * s * xj[:, None]
                else:
                    acc += w * xj[:, None]
            else:
                xj = tl.load(x_ptr + offs_m[:, None] * stride_xm + k[None, :] * stride_xk,
                             mask=m_mask[:, None] & k_mask[None, :], other=0.0)  # (BLOCK_M, BLOCK_KP)
                wj = w.to(x_ptr.dtype.element_ty)
                if IEEE:
                    part = tl.dot(xj, wj, input_precision="ieee")
                else:
                    part = tl.dot(xj, wj)
                if ALIGNED:
                    acc += part * s
                else:
                    acc += part
    if BLOCK_M == 1:
        res = tl.sum(acc, axis=0)[None, :]  # (1, BLOCK_N)
    else:
        res = acc
    if SCALAR_SCALE:
        res = res * tl.load(s_ptr).to(tl.float32)
    o_mask = m_mask[:, None] & n_mask[None, :]
    if SPLIT_K == 1:
        tl.store(out_ptr + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on,
                 res.to(out_ptr.dtype.element_ty), mask=o_mask)
    else:
        tl.store(ws_ptr + pid_k * M * N + offs_m[:, None] * N + offs_n[None, :], res, mask=o_mask)


@triton.jit
def _splitk_reduce_kernel(ws_ptr, out_ptr, M, N, stride_om, stride_on, SPLIT_K: tl.constexpr,
                          BLOCK: tl.constexpr):
    """out[m, n] = sum over splits of ws[split, m, n], cast to the output dtype."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M * N
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for sk in tl.static_range(SPLIT_K):
        acc += tl.load(ws_ptr + sk * M * N + offs, mask=mask, other=0.0)
    m = offs // N
    n = offs % N
    tl.store(out_ptr + m * stride_om + n * stride_on, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _lowbit_gemm_kernel(
    x_ptr, qw_ptr, s_ptr, z_ptr, out_ptr,
    M, N, K, KP, N_GROUPS,
    stride_xm, stride_xk, stride_qk, stride_qn, stride_sg, stride_sn, stride_zg, stride_zn,
    stride_om, stride_on,
    BITS: tl.constexpr, GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, ZERO_DEFAULT: tl.constexpr,
    ALIGNED: tl.constexpr, SCALAR_SCALE: tl.constexpr, IEEE: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_KP: tl.constexpr, GROUP_M: tl.constexpr,
):
    E: tl.constexpr = 32 // BITS
    # Grouped order: GROUP_M row-tiles share each weight tile while it is in L2.
    pid = tl.program_id(0)
    grid_m = tl.cdiv(M, BLOCK_M)
    grid_n = tl.cdiv(N, BLOCK_N)
    width = GROUP_M * grid_n
    first_m = (pid // width) * GROUP_M
    size_m = tl.minimum(grid_m - first_m, GROUP_M)
    pid_m = first_m + (pid % width) % size_m
    pid_n = (pid % width) // size_m

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_mask = offs_m < M
    n_mask = offs_n < N
    rows = tl.arange(0, BLOCK_KP)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for kp_start in range(0, KP, BLOCK_KP):
        r_mask = kp_start + rows < KP
        p = tl.load(qw_ptr + (kp_start + rows)[:, None] * stride_qk + offs_n[None, :] * stride_qn,
                    mask=r_mask[:, None] & n_mask[None, :], other=0)  # (BLOCK_KP, BLOCK_N) int32
        for j in tl.static_range(E):
            k = j * KP + kp_start + rows
            k_mask = r_mask & (k < K)
            xj = tl.load(x_ptr + offs_m[:, None] * stride_xm + k[None, :] * stride_xk,
                         mask=m_mask[:, None] & k_mask[None, :], other=0.0)  # (BLOCK_M, BLOCK_KP)
            s, zoff = _scale_zero(j, kp_start, rows, offs_n, n_mask, s_ptr, z_ptr, stride_sg, stride_sn,
                                  stride_zg, stride_zn, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED,
                                  SCALAR_SCALE)
            w = _codes(p, j, BITS) - zoff
            if not ALIGNED:
                w = w * s
            wj = w.to(x_ptr.dtype.element_ty)
            if IEEE:
                part = tl.dot(xj, wj, input_precision="ieee")
            else:
                part = tl.dot(xj, wj)
            if ALIGNED:
                acc += part * s
            else:
                acc += part
    if SCALAR_SCALE:
        acc = acc * tl.load(s_ptr).to(tl.float32)
    tl.store(out_ptr + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on,
             acc.to(out_ptr.dtype.element_ty), mask=m_mask[:, None] & n_mask[None, :])


# ---------------------------------------------------------------------------------------------- launch

DECODE_MAX_M = 16  # up to here one BLOCK_M=16 mma tile covers all tokens: the split-K kernel

# Candidates, best guess first. Decode is a weight stream: a tile moves BLOCK_KP*BLOCK_N*4 bytes of packed
# weights a K step (8-16 KB), enough bytes in flight with ~4 CTAs a SM; the M=1 GEMV keeps a
# (BLOCK_KP, BLOCK_N) fp32 accumulator, so it uses fewer packed rows to stay within registers.
GEMV_CFGS = (
    Cfg({"BLOCK_M": 1, "BLOCK_N": 128, "BLOCK_KP": 32}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 1, "BLOCK_N": 256, "BLOCK_KP": 16}, num_warps=4, num_stages=4),
    Cfg({"BLOCK_M": 1, "BLOCK_N": 64, "BLOCK_KP": 64}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 1, "BLOCK_N": 128, "BLOCK_KP": 64}, num_warps=8, num_stages=2),
)
DECODE_DOT_CFGS = (
    Cfg({"BLOCK_M": 16, "BLOCK_N": 128, "BLOCK_KP": 32}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_KP": 64}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 256, "BLOCK_KP": 32}, num_warps=8, num_stages=3),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 128, "BLOCK_KP": 16}, num_warps=4, num_stages=4),
)
# Larger M: an x tile of a K step is BLOCK_M x (E*BLOCK_KP) activations, so BLOCK_KP stays small.
GEMM_CFGS_MID = (  # 16 < M <= 64
    Cfg({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 32, "BLOCK_N": 128, "BLOCK_KP": 32, "GROUP_M": 8}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_KP": 32, "GROUP_M": 8}, num_warps=4, num_stages=3),
)
# Shared memory: the pipeline buffers all E code planes' x tiles of a K step, so a stage holds
# E*BLOCK_M*BLOCK_KP activations: 2-bit codes (E = 16) double it, and so do fp32 activations. Every candidate
# must fit one H100 CTA (227 KB; tests/test_quant_compile_sm90.py compiles them for sm_90 and checks): a config
# that does not fit is skipped by the tuner but fails outright when forced (cfg=..., ROOFLINE_QUANT_TUNE=0).
# Sizes from the sm_90 compile (bf16/fp16): 128x64/KP32/4 stages needed 284 KB (4-bit) and 540 KB (2-bit).
GEMM_CFGS_LARGE = (  # M > 64, 4-bit codes
    Cfg({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=8, num_stages=3),  # 116 KB
    Cfg({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=8, num_stages=3),  # 136 KB
    Cfg({"BLOCK_M": 64, "BLOCK_N": 256, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=8, num_stages=3),  # 88 KB
    Cfg({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=4, num_stages=4),  # 142 KB
)
GEMM_CFGS_LARGE_2BIT = (  # M > 64, 2-bit codes: the same tiles, one stage fewer where two-bit x tiles overflow
    Cfg({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=8, num_stages=3),  # 212 KB
    Cfg({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=8, num_stages=2),  # 152 KB
    Cfg({"BLOCK_M": 64, "BLOCK_N": 256, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=8, num_stages=3),  # 140 KB
    Cfg({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_KP": 16, "GROUP_M": 8}, num_warps=4, num_stages=3),  # 202 KB
)


def candidates_for(m: int, bits: int = 4, ieee: bool = False) -> tuple[Cfg, ...]:
    """The config candidates the launcher tries for M tokens with ``bits``-bit codes; with ``ieee`` (fp32
    activations, a test dtype: x tiles twice as large) the GEMM pipeline is cut to 2 stages.
    The interpreter tests run each candidate; the sm_90 compile test checks each fits a CTA's shared memory."""
    if m == 1:
        return GEMV_CFGS
    if m <= DECODE_MAX_M:
        return DECODE_DOT_CFGS
    cfgs = GEMM_CFGS_MID if m <= 64 else GEMM_CFGS_LARGE_2BIT if bits == 2 else GEMM_CFGS_LARGE
    if ieee:
        cfgs = tuple(Cfg(c.meta, c.num_warps, 2) for c in cfgs)
    return cfgs


def _aligned(group: int, kp: int, block_kp: int) -> bool:
    return group % block_kp == 0 and kp % block_kp == 0


def _prefer_aligned(cfgs: tuple[Cfg, ...], group: int, kp: int) -> tuple[Cfg, ...]:
    """Keep the configs whose tiles never straddle a group; all of them if none qualifies (odd shapes)."""
    good = tuple(c for c in cfgs if _aligned(group, kp, c["BLOCK_KP"]))
    return good or cfgs


def split_k_for(m: int, n: int, kp: int, cfg: Cfg, device: torch.device) -> tuple[int, int]:
    """(SPLIT_K, K blocks a split): enough CTAs for ~4 a SM, every split non-empty."""
    if "SPLIT_K" in cfg.meta:  # tests force a split
        want = cfg["SPLIT_K"]
    else:
        tiles = triton.cdiv(n, cfg["BLOCK_N"]) * triton.cdiv(m, cfg["BLOCK_M"])
        want = triton.cdiv(4 * num_sms(device), tiles)
    n_blocks = triton.cdiv(kp, cfg["BLOCK_KP"])
    per_split = triton.cdiv(n_blocks, max(1, min(want, n_blocks)))
    return triton.cdiv(n_blocks, per_split), per_split


def lowbit_linear(x: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor | None, *,
                  bits: int, k: int, group: int, zero_default: float, cfg: Cfg | None = None) -> torch.Tensor:
    """y = x @ dequant(qweight).T for x (..., K); ``group`` is the K extent of one scale row (K for one
    group per column). Inputs are assumed checked by the caller except for device and runnability."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, k)  # (M, K)
    m, n = x2.shape[0], qweight.shape[1]
    kp = qweight.shape[0]
    out = torch.empty((m, n), device=x.device, dtype=x.dtype)
    if m == 0:
        return out.reshape(*lead, n)
    check_runnable(x.device)
    n_groups = scales.shape[0]
    stride_sg, stride_sn = (0, 0) if scales.numel() == 1 else scales.stride()
    z = zeros if zeros is not None else scales  # dummy pointer when HAS_ZERO is off
    stride_zg, stride_zn = z.stride() if zeros is not None else (0, 0)
    common = dict(BITS=bits, GROUP=group, HAS_ZERO=zeros is not None, ZERO_DEFAULT=float(zero_default),
                  SCALAR_SCALE=scales.numel() == 1, IEEE=x.dtype == torch.float32)

    def launch(c: Cfg) -> None:
        aligned = _aligned(group, kp, c["BLOCK_KP"])
        if m <= DECODE_MAX_M:
            split, per_split = split_k_for(m, n, kp, c, x.device)
            ws = torch.empty((split, m, n), device=x.device, dtype=torch.float32) if split > 1 else out
            grid = (triton.cdiv(n, c["BLOCK_N"]), split, triton.cdiv(m, c["BLOCK_M"]))
            meta = {kk: v for kk, v in c.meta.items() if kk != "SPLIT_K"}
            _lowbit_splitk_kernel[grid](
                x2, qweight, scales, z, out, ws, m, n, k, kp, n_groups, per_split,
                x2.stride(0), x2.stride(1), qweight.stride(0), qweight.stride(1), stride_sg, stride_sn,
                stride_zg, stride_zn, out.stride(0), out.stride(1),
                ALIGNED=aligned, SPLIT_K=split, **common, **meta, num_warps=c.num_warps, num_stages=c.num_stages)
            if split > 1:
                block = 1024
                _splitk_reduce_kernel[(triton.cdiv(m * n, block),)](
                    ws, out, m, n, out.stride(0), out.stride(1), SPLIT_K=split, BLOCK=block, num_warps=4)
        else:
            grid = (triton.cdiv(m, c["BLOCK_M"]) * triton.cdiv(n, c["BLOCK_N"]),)
            _lowbit_gemm_kernel[grid](
                x2, qweight, scales, z, out, m, n, k, kp, n_groups,
                x2.stride(0), x2.stride(1), qweight.stride(0), qweight.stride(1), stride_sg, stride_sn,
                stride_zg, stride_zn, out.stride(0), out.stride(1),
                ALIGNED=aligned, **common, **c.meta, num_warps=c.num_warps, num_stages=c.num_stages)

    if cfg is None:
        cands = _prefer_aligned(candidates_for(m, bits, x.dtype == torch.float32), group, kp)
        key = ("lowbit", bits, bucket_m(m), n, k, group, zeros is not None, x.dtype, scales.dtype)
        cfg = choose(key, cands, launch, x.device)
    launch(cfg)
    return out.reshape(*lead, n)


def check_packed(x: torch.Tensor, qweight: torch.Tensor, k: int, elems_per_word: int) -> None:
    """Shape and dtype checks common to the packed-weight linears (raise InputError)."""
    check_tensor("x", x, (torch.float16, torch.bfloat16, torch.float32), x.dim() if x.dim() >= 1 else 1, None)
    if x.dim() < 1 or x.shape[-1] != k:
        raise InputError(f"x has shape {tuple(x.shape)}: its last dim must be K = {k}")
    check_tensor("qweight", qweight, (torch.int32,), 2, x.device)
    kp = triton.cdiv(k, elems_per_word)
    if qweight.shape[0] != kp:
        raise InputError(f"qweight has {qweight.shape[0]} packed rows; K = {k} needs ceil(K/{elems_per_word}) = {kp}")
    if qweight.stride(1) != 1:
        raise InputError("qweight must be contiguous along N (use the pack function's output)")
