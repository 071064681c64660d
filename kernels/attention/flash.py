"""Flash attention forward (FlashAttention-2 style online softmax) in Triton, with its reference and cost.

out = softmax(q kᵀ / √D) v, never materializing the Sq×Sk scores: each program owns BLOCK_M query rows of
one (batch, head), streams K/V tiles of BLOCK_N keys, keeps a running max m, sum l and fp32 accumulator,
and writes the output and the log-sum-exp (natural log, fp32; what a backward pass or a split combine needs).

Hopper notes: scores are scaled by sm_scale·log2(e) once so the softmax uses exp2; the key loop is split
into tiles that need no mask (no `where`, no predicated loads) and the few diagonal / tail tiles that do;
causal grids run the heaviest query blocks first. Tile configs are autotuned on CUDA.

Cost: read Q, K, V once, write O and LSE (the DRAM floor; K/V re-reads across query blocks hit L2);
FLOPs 4·B·H·D per kept (query, key) pair (QKᵀ and PV, 2 FLOPs a multiply-add).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from kernels.attention import common
from kernels.common import ELEMENT_BYTES, dot_precision, gpu_only, interpreting
from kernels.registry import Bench
from roofline.errors import InputError
from roofline.ops import Op


@triton.jit
def _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_m, offs_n, offs_d,
                lo, hi, Sk, causal_off, qk_scale,
                MASKED: tl.constexpr, CAUSAL: tl.constexpr, BLOCK_N: tl.constexpr, DOT_PREC: tl.constexpr):
    """Fold key tiles [lo, hi) into (acc, l_i, m_i); m_i is in log2 units."""
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        cols = start_n + offs_n
        k_ptrs = k_base + cols[None, :] * stride_kn + offs_d[:, None]  # (D, BLOCK_N): Kᵀ tile
        v_ptrs = v_base + cols[:, None] * stride_vn + offs_d[None, :]  # (BLOCK_N, D)
        if MASKED:
            k = tl.load(k_ptrs, mask=cols[None, :] < Sk, other=0.0)
        else:
            k = tl.load(k_ptrs)
        qk = tl.dot(q, k, input_precision=DOT_PREC)  # (BLOCK_M, BLOCK_N), unscaled
        if MASKED:
            keep = cols[None, :] < Sk
            if CAUSAL:
                keep = keep & (cols[None, :] <= offs_m[:, None] + causal_off)
            qk = tl.where(keep, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)  # log2 units
        p = tl.math.exp2(qk * qk_scale - m_new[:, None])  # one FMA a score
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        if MASKED:
            v = tl.load(v_ptrs, mask=cols[:, None] < Sk, other=0.0)
        else:
            v = tl.load(v_ptrs)
        acc = tl.dot(p.to(v.dtype), v, acc, input_precision=DOT_PREC)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _flash_fwd_kernel(Q, K, V, Out, LSE,
                      stride_qb, stride_qh, stride_qm, stride_kb, stride_kh, stride_kn,
                      stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_om,
                      H, GROUP, Sq, Sk, qk_scale, S_BUCKET,
                      HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, DOT_PREC: tl.constexpr,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # grid: (cdiv(Sq, BLOCK_M), B * H); S_BUCKET only keys the autotuner
    pid_m = tl.program_id(0)
    if CAUSAL:  # the last query blocks see the most keys: start them first
        pid_m = tl.cdiv(Sq, BLOCK_M) - 1 - pid_m
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    hk = h // GROUP
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    q_ptrs = Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :]
    q = tl.load(q_ptrs, mask=offs_m[:, None] < Sq, other=0.0)  # (BLOCK_M, D), read once
    k_base = K + b * stride_kb + hk * stride_kh
    v_base = V + b * stride_vb + hk * stride_vh

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)

    causal_off = Sk - Sq  # row i sees keys j <= i + causal_off
    n_full = (Sk // BLOCK_N) * BLOCK_N  # key tiles entirely inside the sequence
    if CAUSAL:
        m_start = pid_m * BLOCK_M
        # tiles whose last key is visible to the block's first row need no causal mask
        hi_free = tl.minimum(n_full, ((m_start + causal_off + 1) // BLOCK_N) * BLOCK_N)
        hi = tl.minimum(Sk, m_start + BLOCK_M + causal_off)
    else:
        hi_free = n_full
        hi = Sk
    acc, l_i, m_i = _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_m, offs_n,
                                offs_d, 0, hi_free, Sk, causal_off, qk_scale,
                                False, CAUSAL, BLOCK_N, DOT_PREC)
    acc, l_i, m_i = _attn_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_m, offs_n,
                                offs_d, hi_free, hi, Sk, causal_off, qk_scale,
                                True, CAUSAL, BLOCK_N, DOT_PREC)
    # every real row saw key 0 (causal_off >= 0), so l_i > 0 there; padding rows are never stored
    l_safe = tl.where(l_i > 0, l_i, 1.0)
    out = acc / l_safe[:, None]
    lse = (m_i + tl.math.log2(l_safe)) * 0.6931471805599453  # back to natural log
    o_ptrs = Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :]
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=offs_m[:, None] < Sq)
    tl.store(LSE + pid_bh * Sq + offs_m, lse, mask=offs_m < Sq)


def _hopper_configs() -> list[triton.Config]:
    """Tiles for sm90: 128-row query blocks feed the tensor cores best; configs that do not fit are
    skipped by the autotuner (OutOfResources)."""
    shapes = [(128, 128, 8, 3), (128, 64, 8, 3), (128, 64, 4, 3), (128, 128, 8, 2),
              (128, 32, 4, 4), (64, 64, 4, 3), (64, 128, 4, 3)]
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s) for m, n, w, s in shapes]


_flash_fwd_tuned = triton.autotune(configs=_hopper_configs(), key=["S_BUCKET", "HEAD_DIM", "CAUSAL", "DOT_PREC"])(
    _flash_fwd_kernel)

INTERPRETER_CONFIG = {"BLOCK_M": 32, "BLOCK_N": 32}  # few, large numpy ops: fastest under the interpreter


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    sm_scale: float | None = None, config: dict[str, int] | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention forward. q (B, H, Sq, D), k/v (B, Hkv, Sk, D), Hkv | H; causal is bottom-right aligned.

    Returns (out (B, H, Sq, D) in q's dtype, lse (B, H, Sq) fp32, natural log). ``config`` pins the tile
    (BLOCK_M, BLOCK_N, optional num_warps / num_stages) instead of autotuning.
    """
    H, Hkv = common.check_qkv(q, k, v)
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise InputError(f"q, k, v dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    B, _, Sq, D = q.shape
    Sk = k.shape[2]
    if Sq < 1:
        raise InputError("query length must be >= 1")
    if causal and Sq > Sk:
        raise InputError(f"causal attention needs Sq <= Sk (bottom-right aligned), got Sq={Sq}, Sk={Sk}")
    q, k, v = (common.last_dim_contiguous(t) for t in (q, k, v))
    o = torch.empty_like(q)
    lse = torch.empty((B, H, Sq), dtype=torch.float32, device=q.device)
    qk_scale = common.default_scale(D, sm_scale) * common.LOG2E
    args = (q, k, v, o, lse, q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
            v.stride(0), v.stride(1), v.stride(2), o.stride(0), o.stride(1), o.stride(2),
            H, H // Hkv, Sq, Sk, qk_scale, triton.next_power_of_2(max(Sq, Sk)))
    meta = dict(HEAD_DIM=D, CAUSAL=causal, DOT_PREC=dot_precision(q.dtype))
    if config is None and not interpreting():
        grid = lambda m: (triton.cdiv(Sq, m["BLOCK_M"]), B * H)  # noqa: E731
        _flash_fwd_tuned[grid](*args, **meta)
    else:
        cfg = dict(INTERPRETER_CONFIG if config is None else config)
        grid = (triton.cdiv(Sq, cfg["BLOCK_M"]), B * H)
        _flash_fwd_kernel[grid](*args, **meta, **cfg)
    return o, lse


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
              sm_scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit fp32 softmax(q kᵀ · scale) v (chunked over query rows); same layout and returns."""
    Sq, Sk, D = q.shape[2], k.shape[2], q.shape[3]
    mask = (lambda r0, r1: common.causal_keep(r0, r1, Sq, Sk, q.device)) if causal else (lambda r0, r1: None)
    return common.masked_reference(q, k, v, common.default_scale(D, sm_scale), mask)


def kept_pairs(Sq: int, Sk: int, causal: bool) -> int:
    """(query, key) pairs a row-wise softmax touches: Sq·Sk, or the bottom-right causal trapezoid."""
    if not causal:
        return Sq * Sk
    off = Sk - Sq  # row i keeps min(Sk, i + off + 1) = i + off + 1 keys (Sq <= Sk)
    return Sq * off + Sq * (Sq + 1) // 2


def cost(B: int, H: int, Hkv: int, Sq: int, Sk: int, D: int, causal: bool, dtype: str) -> list[Op]:
    """One forward call: 4·B·H·D·kept_pairs FLOPs; read Q, K, V once; write O and the fp32 LSE."""
    e = ELEMENT_BYTES[dtype]
    flops = 4.0 * B * H * D * kept_pairs(Sq, Sk, causal)
    bytes_read = e * (B * H * Sq * D + 2 * B * Hkv * Sk * D)
    bytes_written = e * B * H * Sq * D + 4 * B * H * Sq
    return [Op("flash_attention_fwd", "attention", flops, bytes_read, bytes_written, dtype)]


def _dims(shape: dict[str, Any]) -> tuple[int, int, int, int, int, int, bool]:
    Sq = shape.get("Sq", shape.get("S"))
    return (shape["B"], shape["H"], shape.get("Hkv", shape["H"]), Sq, shape.get("Sk", Sq), shape["D"],
            bool(shape.get("causal", False)))


def prepare(shape: dict[str, Any], dtype: str, device: str) -> Bench:
    """Random q, k, v for ``shape`` (B, H, Hkv, S or Sq/Sk, D, causal); ours vs the SDPA backends."""
    B, H, Hkv, Sq, Sk, D, causal = _dims(shape)
    q, k, v = common.make_qkv(shape, dtype, device)
    impls = {"ours": lambda: flash_attention(q, k, v, causal=causal)}
    for name, be in (("sdpa-flash", "FLASH_ATTENTION"), ("sdpa-cudnn", "CUDNN_ATTENTION"),
                     ("sdpa-efficient", "EFFICIENT_ATTENTION")):
        impls[name] = common.sdpa_peer(q, k, v, causal, be)
    cpu_blocked = {"sdpa-flash", "sdpa-cudnn", "sdpa-efficient"}
    cpu_blocked |= gpu_only(dtype)
    return Bench(kernel="flash_attention", shape=dict(shape), dtype=dtype, impls=impls,
                 reference=lambda: reference(q, k, v, causal=causal),
                 ops=cost(B, H, Hkv, Sq, Sk, D, causal, dtype), rtol=common.rtol_for(dtype), gpu_only=cpu_blocked)


# issue 5 sweep: B4 H32, S 1k..16k, D 64/128, causal and not
BENCH_SHAPES = tuple({"B": 4, "H": 32, "Hkv": 32, "S": S, "D": D, "causal": c}
                     for D in (64, 128) for c in (False, True) for S in (1024, 2048, 4096, 8192, 16384))
QUICK_SHAPES = ({"B": 1, "H": 2, "Hkv": 2, "S": 67, "D": 64, "causal": True},
                {"B": 1, "H": 4, "Hkv": 1, "S": 45, "D": 64, "causal": False})
