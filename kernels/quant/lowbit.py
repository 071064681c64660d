"""Triton kernels for weight-only linears with packed low-bit weights: y = x @ dequant(W).T.

Shared by ``w4a16`` (BITS=4, 8 codes an int32) and ``ternary`` (BITS=2, 16 codes an int32).

Packed layout ("strided along K", as in gemlite): with E = 32 // BITS codes a word and
KP = ceil(K / E) packed rows, ``qweight`` is an int32 tensor of shape (KP, N) and

    code j of qweight[i, n]  (bits BITS*j .. BITS*j+BITS-1)  =  q[n, j * KP + i]

so the j-th code of a tile of packed rows [i0, i0 + BLOCK_KP) holds a *contiguous* run of K. A kernel
loads the int32 tile once (no duplicated addresses), and for each j takes out one code plane and multiplies
it with the matching contiguous run of x: no reshape, no interleave shuffles. ``pack`` stores it
K-contiguous (stride (1, KP)): the two consecutive k of one column that an MMA fragment register holds are
adjacent words in shared memory (LDS.64, against two LDS.32 with N contiguous: 1297 against 1374
hot-loop instructions at M = 1, K = N = 8192 in the sm90 SASS); N-contiguous tensors are accepted too.
K is padded with zero codes up to E * KP; the kernels mask x to zero there.

Dequantization: w = (q - z) * s, where s (and z, if given) come from row ``k // GROUP`` of
``scales`` / ``zeros``. When a tile never straddles a group (GROUP and KP are multiples of BLOCK_KP: all the
LLM shapes, "ALIGNED"), each code plane becomes q - z0 in fp16/bf16 (exact small integers; z0 the implicit
zero, or 0 with stored zeros), the tensor cores multiply it with x, and the scale (and zero: s * (dot - z *
sum x)) is applied once an output a plane: 16 / BLOCK_KP FMAs a weight. On CUDA the planes come from inline
PTX, two weights an instruction (``dequant.py``: PRMT + LOP3 magic number + HFMA2); the interpreter and the
compiled fallback (USE_FAST_DEQUANT = False) run the same arithmetic in plain Triton, bit for bit. A tile
that straddles groups (odd shapes) scales each weight before the dot; a per-tensor scale (ternary's
default, "SCALAR_SCALE") multiplies the finished tile.

Two kernels:
- ``_lowbit_splitk_kernel`` — M <= 64 (decode and small batches). Grid (N tiles, K splits, M tiles):
  x (BLOCK_M tokens, padded with zero rows: 16 at least, the MMA's minimum) times each plane of the
  (BLOCK_KP, BLOCK_N) code tile on the tensor cores (mma.sync at BLOCK_M 16, wgmma at 64), so M = 1..BLOCK_M
  costs one dequantization a weight. The K loop is split so that ~4 CTAs a SM stream weights; each split
  writes an fp32 partial tile and the last CTA of a tile to arrive (an arrival counter a tile) adds the
  partials in split order and writes y: deterministic, one launch, no memset (the counters re-arm).
- ``_lowbit_gemm_kernel`` — M > 64: output tiles of (BLOCK_M, BLOCK_N), grouped launch order for L2 reuse
  of x, dequantization in registers feeding tl.dot (codes to fp32 by the magic number: q | 0x4B000000 read
  as fp32 is 2**23 + q, one LOP3 instead of an I2F), K loop pipelined by num_stages.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from kernels.common import check_runnable, interpreting, num_sms
from kernels.quant import dequant
from kernels.quant._common import Cfg, bucket_m, check_tensor, choose
from kernels.quant.dequant import planes2, planes4, scale_weights
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
def _fold_plane(acc, w, j, kp_start, rows, r_mask, offs_n, n_mask, offs_m, m_mask, x_ptr, s_ptr, z_ptr,
                stride_xm, stride_xk, stride_sg, stride_sn, stride_zg, stride_zn, K, KP, N_GROUPS,
                GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, ZERO_DEFAULT: tl.constexpr, ALIGNED: tl.constexpr,
                SCALAR_SCALE: tl.constexpr, IEEE: tl.constexpr, EVEN: tl.constexpr, SCALE_W: tl.constexpr,
                FAST: tl.constexpr):
    """acc (BLOCK_N, BLOCK_M) += plane j of the weight tile (w: (BLOCK_N, BLOCK_KP) holding q - z0) times
    the matching run of K of x, with its group scale (and zero) applied once to the (BLOCK_N, BLOCK_M) dot."""
    k = j * KP + kp_start + rows  # (BLOCK_KP,) contiguous run of K
    x_ptrs = x_ptr + offs_m[:, None] * stride_xm + k[None, :] * stride_xk
    if EVEN:  # no K tail: only the token rows past M are masked
        xt = tl.load(x_ptrs, mask=m_mask[:, None], other=0.0)
    else:
        xt = tl.load(x_ptrs, mask=(r_mask & (k < K))[None, :] & m_mask[:, None], other=0.0)
    if SCALE_W:  # BLOCK_M >= 32: one HMUL2 a weight pair beats BLOCK_M / BLOCK_KP FMAs a weight after the dot
        g = (j * KP + kp_start).to(tl.uint32) // GROUP
        if EVEN:
            s = tl.load(s_ptr + g * stride_sg + offs_n * stride_sn)
        else:
            s = tl.load(s_ptr + g * stride_sg + offs_n * stride_sn, mask=n_mask, other=0.0)
        sw = tl.broadcast_to(s.to(w.dtype)[None, :], w.shape)
        acc = tl.dot(xt, scale_weights(w, sw, FAST), acc)
    elif ALIGNED or SCALAR_SCALE:
        if IEEE:
            part = tl.dot(xt, w, input_precision="ieee")
        else:
            part = tl.dot(xt, w)
        if SCALAR_SCALE:
            acc += part  # the per-tensor scale multiplies the finished tile
        else:
            g = (j * KP + kp_start).to(tl.uint32) // GROUP  # the whole tile lies in one group (unsigned: a shift)
            if EVEN:
                s = tl.load(s_ptr + g * stride_sg + offs_n * stride_sn).to(tl.float32)
            else:
                s = tl.load(s_ptr + g * stride_sg + offs_n * stride_sn, mask=n_mask, other=0.0).to(tl.float32)
            if HAS_ZERO:  # sum_k x (q - z) = sum_k x q - z sum_k x: the zero costs one FMA an output
                z = tl.load(z_ptr + g * stride_zg + offs_n * stride_zn, mask=n_mask, other=0).to(tl.float32)
                part = part - z[None, :] * tl.sum(xt.to(tl.float32), axis=1)[:, None]
            acc += part * s[None, :]
    else:  # a tile that straddles groups (odd shapes): scale each weight before the dot
        gk = tl.minimum(k // GROUP, N_GROUPS - 1)  # padded k past K would index one group too far
        m2 = n_mask[None, :] & r_mask[:, None]
        s = tl.load(s_ptr + gk[:, None] * stride_sg + offs_n[None, :] * stride_sn, mask=m2, other=0.0)
        wf = w.to(tl.float32)  # q: Z0 is 0 on this path
        if HAS_ZERO:
            z = tl.load(z_ptr + gk[:, None] * stride_zg + offs_n[None, :] * stride_zn, mask=m2, other=0)
            wf = wf - z.to(tl.float32)
        else:
            wf = wf - ZERO_DEFAULT
        wf = (wf * s.to(tl.float32)).to(x_ptr.dtype.element_ty)
        if IEEE:
            acc += tl.dot(xt, wf, input_precision="ieee")
        else:
            acc += tl.dot(xt, wf)
    return acc


@triton.jit
def _lowbit_splitk_kernel(
    x_ptr, qw_ptr, s_ptr, z_ptr, out_ptr, ws_ptr, lock_ptr,
    M, N, K, KP, N_GROUPS, BLOCKS_PER_SPLIT,
    stride_xm, stride_xk, stride_qk, stride_qn, stride_sg, stride_sn, stride_zg, stride_zn,
    stride_om, stride_on,
    BITS: tl.constexpr, GROUP: tl.constexpr, HAS_ZERO: tl.constexpr, ZERO_DEFAULT: tl.constexpr,
    ALIGNED: tl.constexpr, SCALAR_SCALE: tl.constexpr, IEEE: tl.constexpr, SPLIT_K: tl.constexpr,
    FAST: tl.constexpr, Z0: tl.constexpr, ASM0: tl.constexpr, ASM1: tl.constexpr, ASM2: tl.constexpr,
    ASM3: tl.constexpr, EVEN: tl.constexpr, SCALE_W: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_KP: tl.constexpr,
):
    # Swap-AB: the weight tile is the MMA's M side (BLOCK_N output columns), the few tokens its N side, so
    # M = 1..BLOCK_M costs one dequantization a weight. Reads BLOCK_N*BLOCK_KP*4 bytes of codes a K step.
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    pid_m = tl.program_id(2)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    n_mask = offs_n < N
    rows = tl.arange(0, BLOCK_KP)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    m_mask = offs_m < M
    dt = x_ptr.dtype.element_ty  # planes hold q - Z0 (Z0: the implicit zero, or 0 when it is applied later)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    kb_lo = pid_k * BLOCKS_PER_SPLIT
    kb_hi = tl.minimum(kb_lo + BLOCKS_PER_SPLIT, tl.cdiv(KP, BLOCK_KP))
    for kb in range(kb_lo, kb_hi):
        kp_start = kb * BLOCK_KP
        r_mask = kp_start + rows < KP
        p_ptrs = qw_ptr + offs_n[None, :] * stride_qn + (kp_start + rows)[:, None] * stride_qk
        if EVEN:  # whole tiles along N and K: unmasked 128-bit loads
            p = tl.load(p_ptrs)  # (BLOCK_N, BLOCK_KP) int32
        else:
            p = tl.load(p_ptrs, mask=n_mask[None, :] & r_mask[:, None], other=0)
        for b in tl.static_range(4):  # byte b of each word holds 8 // BITS code planes
            if BITS == 4:
                w0, w1 = planes4(p, b, Z0, ASM0, ASM1, ASM2, ASM3, dt, FAST)
                acc = _fold_plane(acc, w0, 2 * b, kp_start, rows, r_mask, offs_n, n_mask, offs_m, m_mask, x_ptr,
                                  s_ptr, z_ptr, stride_xm, stride_xk, stride_sg, stride_sn, stride_zg, stride_zn,
                                  K, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED, SCALAR_SCALE, IEEE, EVEN, SCALE_W, FAST)
                acc = _fold_plane(acc, w1, 2 * b + 1, kp_start, rows, r_mask, offs_n, n_mask, offs_m, m_mask,
                                  x_ptr, s_ptr, z_ptr, stride_xm, stride_xk, stride_sg, stride_sn, stride_zg,
                                  stride_zn, K, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED, SCALAR_SCALE,
                                  IEEE, EVEN, SCALE_W, FAST)
            else:
                w0, w1, w2, w3 = planes2(p, b, Z0, ASM0, ASM1, ASM2, ASM3, dt, FAST)
                acc = _fold_plane(acc, w0, 4 * b, kp_start, rows, r_mask, offs_n, n_mask, offs_m, m_mask, x_ptr,
                                  s_ptr, z_ptr, stride_xm, stride_xk, stride_sg, stride_sn, stride_zg, stride_zn,
                                  K, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED, SCALAR_SCALE, IEEE, EVEN, SCALE_W, FAST)
                acc = _fold_plane(acc, w1, 4 * b + 1, kp_start, rows, r_mask, offs_n, n_mask, offs_m, m_mask,
                                  x_ptr, s_ptr, z_ptr, stride_xm, stride_xk, stride_sg, stride_sn, stride_zg,
                                  stride_zn, K, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED, SCALAR_SCALE,
                                  IEEE, EVEN, SCALE_W, FAST)
                acc = _fold_plane(acc, w2, 4 * b + 2, kp_start, rows, r_mask, offs_n, n_mask, offs_m, m_mask,
                                  x_ptr, s_ptr, z_ptr, stride_xm, stride_xk, stride_sg, stride_sn, stride_zg,
                                  stride_zn, K, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED, SCALAR_SCALE,
                                  IEEE, EVEN, SCALE_W, FAST)
                acc = _fold_plane(acc, w3, 4 * b + 3, kp_start, rows, r_mask, offs_n, n_mask, offs_m, m_mask,
                                  x_ptr, s_ptr, z_ptr, stride_xm, stride_xk, stride_sg, stride_sn, stride_zg,
                                  stride_zn, K, KP, N_GROUPS, GROUP, HAS_ZERO, ZERO_DEFAULT, ALIGNED, SCALAR_SCALE,
                                  IEEE, EVEN, SCALE_W, FAST)
    if SCALAR_SCALE:
        acc = acc * tl.load(s_ptr).to(tl.float32)
    o_ptrs = out_ptr + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on
    o_mask = n_mask[None, :] & m_mask[:, None]
    if SPLIT_K == 1:
        tl.store(o_ptrs, acc.to(out_ptr.dtype.element_ty), mask=o_mask)
    else:
        _finish_split(acc, o_ptrs, o_mask, ws_ptr, lock_ptr, pid_k, pid_m * tl.num_programs(0) + pid_n,
                      offs_m, offs_n, M, N, SPLIT_K, BLOCK_N)


@triton.jit
def _finish_split(acc, o_ptrs, o_mask, ws_ptr, lock_ptr, pid_k, tile, offs_m, offs_n, M, N,
                  SPLIT_K: tl.constexpr, BLOCK_N: tl.constexpr):
    """Split-K without a second launch: each split stores its fp32 partial tile to ws[pid_k]; the last of
    the tile's SPLIT_K CTAs to arrive (counted on lock[tile]) adds the partials in split order (the same
    sum whichever CTA is last: deterministic), writes the output and re-arms the counter at 0.

    Every thread counts itself in with an acq_rel atomic after a CTA barrier, so all partial stores of a
    CTA are released before its count lands and the last CTA acquires them all before it reads."""
    ws_tile = ws_ptr + offs_m[:, None] * N + offs_n[None, :]  # (BLOCK_N, BLOCK_M) of a (SPLIT_K, M, N) buffer
    tl.store(ws_tile + pid_k * M * N, acc, mask=o_mask)
    tl.debug_barrier()
    one = tl.full([BLOCK_N], 1, tl.int32)
    seen = tl.atomic_add(lock_ptr + tile + tl.zeros([BLOCK_N], tl.int32), one, sem="acq_rel")
    if tl.max(seen, axis=0) == SPLIT_K * BLOCK_N - 1:  # this CTA made the tile's last count
        tot = tl.zeros(acc.shape, dtype=tl.float32)
        for sk in range(0, SPLIT_K):
            tot += tl.load(ws_tile + sk * M * N, mask=o_mask, other=0.0, cache_modifier=".cg")
        tl.store(o_ptrs, tot.to(o_ptrs.dtype.element_ty), mask=o_mask)
        tl.store(lock_ptr + tile, 0)


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

DECODE_MAX_M = 64  # up to here the swap-AB split-K kernel (tokens on the MMA's N side) streams the weights

# Candidates, best guess first. Decode is a weight stream: a tile moves BLOCK_KP*BLOCK_N*4 bytes of packed
# weights a K step (16-32 KB); split-K fills the SMs (~4 CTAs a SM). BLOCK_KP = 64 packed rows keep a tile
# inside one group of 128 (so the scale costs one FMA an output a plane, 16 / 64 = 0.25 a weight at most)
# and halve the scale loads against 32; BLOCK_M is the token tile on the MMA's N side (16: its minimum).
DECODE_CFGS = (  # M <= 16
    Cfg({"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_KP": 128}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 128, "BLOCK_KP": 128}, num_warps=8, num_stages=3),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 128, "BLOCK_KP": 64}, num_warps=8, num_stages=3),
    Cfg({"BLOCK_M": 16, "BLOCK_N": 64, "BLOCK_KP": 64}, num_warps=4, num_stages=4),
)
DECODE_CFGS_MID = (  # 16 < M <= 64: one token tile, so each weight is still dequantized once
    Cfg({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_KP": 32}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_KP": 64}, num_warps=4, num_stages=3),
    Cfg({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_KP": 32}, num_warps=8, num_stages=3),
    Cfg({"BLOCK_M": 32, "BLOCK_N": 64, "BLOCK_KP": 64}, num_warps=4, num_stages=3),
)
# Larger M: an x tile of a K step is BLOCK_M x (E*BLOCK_KP) activations, so BLOCK_KP stays small.
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
    if m <= DECODE_MAX_M:
        cfgs = DECODE_CFGS if m <= 16 else DECODE_CFGS_MID
        if bits == 2 and m <= 16:  # 2-bit first: the 64-packed-row tile (129 registers, 1.91 instructions a
            cfgs = (cfgs[3], *cfgs[:3])  # weight in the sm90 SASS) against 128 rows (254 registers, 1.84)
        fitted = (_fit_smem(c, bits, 4 if ieee else 2) for c in cfgs)
        return tuple(dict.fromkeys(fitted))  # fitting can make two candidates one
    cfgs = GEMM_CFGS_LARGE_2BIT if bits == 2 else GEMM_CFGS_LARGE
    if ieee:
        cfgs = tuple(Cfg(c.meta, c.num_warps, 2) for c in cfgs)
    return cfgs


SMEM_BUDGET_BYTES = 200 * 1024  # of the 227 KB a Hopper CTA may have; the rest for layout-conversion scratch


def _fit_smem(c: Cfg, bits: int, x_bytes: int, per_weight_scales: bool = False) -> Cfg:
    """A decode config that fits one CTA's shared memory, by the footprint the sm_90 compile shows: a
    pipeline stage holds the code tile (BLOCK_N x BLOCK_KP words), the x run of every code plane
    (32 / bits x BLOCK_M x BLOCK_KP) and, on straddling tiles, every plane's scale tile; max(2, stages - 1)
    stages are resident; a wgmma (BLOCK_M 64) or fp32 dot also stages every dequantized plane. Fewer
    stages, then half the packed rows, until it fits SMEM_BUDGET_BYTES."""
    meta, stages = dict(c.meta), c.num_stages
    e = 32 // bits
    while True:
        bn, bm, bkp = meta["BLOCK_N"], meta["BLOCK_M"], meta["BLOCK_KP"]
        stage = bn * bkp * 4 + e * bm * bkp * x_bytes + (e * bn * bkp * 3 if per_weight_scales else 0)
        staged = e * bn * bkp * x_bytes if (bm >= 64 or x_bytes == 4) else 0
        if max(2, stages - 1) * stage + staged <= SMEM_BUDGET_BYTES or bkp == 16:
            return Cfg(meta, c.num_warps, stages)
        if stages > 3:
            stages -= 1
        else:
            meta["BLOCK_KP"] //= 2


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


USE_FAST_DEQUANT = True  # the inline-PTX dequantization on CUDA; False runs the portable path (GPU bit-exact test)
_LOCKS: dict[str, torch.Tensor] = {}


def _locks(device: torch.device, tiles: int) -> torch.Tensor:
    """Split-K arrival counters, one an output tile: zeroed once a device and re-armed by the kernel itself
    (the last CTA of a tile resets its counter), so a call costs no memset. One stream at a time."""
    buf = _LOCKS.get(str(device))
    if buf is None or buf.numel() < tiles:
        buf = torch.zeros(max(tiles, 4096), dtype=torch.int32, device=device)
        _LOCKS[str(device)] = buf
    return buf


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
        if m <= DECODE_MAX_M and not aligned and not common["SCALAR_SCALE"]:  # scale tiles stage too
            c = _fit_smem(c, bits, x2.element_size(), per_weight_scales=True)
            aligned = _aligned(group, kp, c["BLOCK_KP"])
        if m <= DECODE_MAX_M:
            split, per_split = split_k_for(m, n, kp, c, x.device)
            grid = (triton.cdiv(n, c["BLOCK_N"]), split, triton.cdiv(m, c["BLOCK_M"]))
            ws = torch.empty((split, m, n), device=x.device, dtype=torch.float32) if split > 1 else out
            locks = _locks(x.device, grid[0] * grid[2]) if split > 1 else out
            plain = aligned or common["SCALAR_SCALE"]  # q - z0 exact, scaled after the dot
            fast = USE_FAST_DEQUANT and plain and x.dtype != torch.float32 and not interpreting()
            z0 = float(zero_default) if plain and zeros is None else 0.0
            asm = dequant.asm_planes(bits, z0, x.dtype == torch.bfloat16) if fast else ("",) * 4
            meta = {kk: v for kk, v in c.meta.items() if kk != "SPLIT_K"}
            _lowbit_splitk_kernel[grid](
                x2, qweight, scales, z, out, ws, locks, m, n, k, kp, n_groups, per_split,
                x2.stride(0), x2.stride(1), qweight.stride(0), qweight.stride(1), stride_sg, stride_sn,
                stride_zg, stride_zn, out.stride(0), out.stride(1),
                ALIGNED=aligned, SPLIT_K=split, FAST=fast, Z0=z0, ASM0=asm[0], ASM1=asm[1], ASM2=asm[2], ASM3=asm[3],
                EVEN=kp % c["BLOCK_KP"] == 0 and n % c["BLOCK_N"] == 0 and k == kp * (32 // bits),
                SCALE_W=c["BLOCK_M"] >= 32 and aligned and zeros is None and not common["SCALAR_SCALE"]
                and x.dtype != torch.float32, **common, **meta,
                num_warps=c.num_warps, num_stages=c.num_stages)
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
    if qweight.stride(0) != 1 and qweight.stride(1) != 1:
        raise InputError("qweight must be contiguous along K or N (use the pack function's output)")
