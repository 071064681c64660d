"""Decode attention, split-K (flash-decoding), in Triton, with its reference and cost.

One query token per sequence attends to its KV cache (B, Hkv, Lmax, D) up to a per-sequence length
(ragged batch). One sequence × kv head is far too little work for 132 SMs, so the key axis is cut into
``num_splits`` chunks: pass 1 runs one program per (sequence, kv head, split), pass 2 combines the
partial outputs with their log-sum-exps. Each pass-1 program serves all H/Hkv query heads of its kv head
(they form the M side of the tile), so every KV byte is read exactly once: the kernel is a KV stream.

Optional int8 KV cache with one fp32 scale per kv head (k ≈ k_int8 · k_scale[h]): the K scale folds into
the score scale and the V scale into the final accumulator, so the inner loop only widens int8 to fp16.

Cost: read K and V once (2·Hkv·D·elem per cached token), Q once, write O; the fp32 partials are written by
pass 1 and read by pass 2. FLOPs 4·H·D per (sequence, cached token).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

from kernels.attention import common
from kernels.common import ELEMENT_BYTES, dot_precision, gpu_only, interpreting, torch_dtype
from kernels.registry import Bench
from roofline.errors import InputError
from roofline.ops import Op

MIN_KEYS_PER_SPLIT = 256  # below this the combine pass costs more than the parallelism buys
MAX_SPLITS = 128
WAVES = 4  # aim for ~4 programs per SM: memory-bound, so several resident programs hide latency
SPLIT_ALIGN = 128  # chunks are a multiple of every BLOCK_N the autotuner may pick
# Resident split programs a SM: the first config (BLOCK_N 64, 4 warps, 3 stages) takes 70 KB of shared memory
# and 80 registers a thread in the sm90 compile, so 3 fit the 228 KB of a Hopper SM. Waves are counted in these.
CTAS_PER_SM = 3


@triton.jit
def _decode_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_n, offs_d, lo, hi, qk_scale,
                  MASKED: tl.constexpr, BLOCK_N: tl.constexpr, DOT_PREC: tl.constexpr):
    """Fold key tiles [lo, hi) into the running softmax of the BLOCK_H query heads (log2 units)."""
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        cols = start_n + offs_n
        k_ptrs = k_base + cols[None, :] * stride_kn + offs_d[:, None]  # (D, BLOCK_N)
        v_ptrs = v_base + cols[:, None] * stride_vn + offs_d[None, :]  # (BLOCK_N, D)
        if MASKED:
            k = tl.load(k_ptrs, mask=cols[None, :] < hi, other=0)
            v = tl.load(v_ptrs, mask=cols[:, None] < hi, other=0)
        else:
            k = tl.load(k_ptrs)
            v = tl.load(v_ptrs)
        qk = tl.dot(q, k.to(q.dtype), input_precision=DOT_PREC) * qk_scale  # (BLOCK_H, BLOCK_N)
        if MASKED:
            qk = tl.where(cols[None, :] < hi, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_new[:, None])
        alpha = tl.math.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = tl.dot(p.to(q.dtype), v.to(q.dtype), acc * alpha[:, None], input_precision=DOT_PREC)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _decode_split_kernel(Q, K, V, K_SCALE, V_SCALE, SEQ_LENS, O_PART, LSE_PART,
                         stride_qb, stride_qh, stride_kb, stride_kh, stride_kn, stride_vb, stride_vh, stride_vn,
                         Hkv, GROUP, CHUNK, NUM_SPLITS, qk_scale, L_BUCKET,
                         HEAD_DIM: tl.constexpr, BLOCK_H: tl.constexpr, KV_INT8: tl.constexpr,
                         DOT_PREC: tl.constexpr, BLOCK_N: tl.constexpr):
    # grid: (B * Hkv, NUM_SPLITS); partials are (B, H, NUM_SPLITS, D) fp32 and (B, H, NUM_SPLITS) log2-LSE
    pid_bk = tl.program_id(0)
    split = tl.program_id(1)
    b = pid_bk // Hkv
    hk = pid_bk % Hkv
    seq_len = tl.load(SEQ_LENS + b)
    lo = split * CHUNK
    hi = tl.minimum(lo + CHUNK, seq_len)  # hi <= lo: this split is past the sequence's end
    offs_h = tl.arange(0, BLOCK_H)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    heads = hk * GROUP + offs_h
    q = tl.load(Q + b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :],
                mask=offs_h[:, None] < GROUP, other=0.0)  # (BLOCK_H, D), rows >= GROUP are padding
    scale = qk_scale
    if KV_INT8:
        scale = scale * tl.load(K_SCALE + hk)
    k_base = K + b * stride_kb + hk * stride_kh
    v_base = V + b * stride_vb + hk * stride_vh

    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, HEAD_DIM], dtype=tl.float32)
    hi_free = lo + tl.maximum(hi - lo, 0) // BLOCK_N * BLOCK_N
    acc, l_i, m_i = _decode_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_n, offs_d,
                                  lo, hi_free, scale, False, BLOCK_N, DOT_PREC)
    acc, l_i, m_i = _decode_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_n, offs_d,
                                  hi_free, hi, scale, True, BLOCK_N, DOT_PREC)
    if KV_INT8:
        acc = acc * tl.load(V_SCALE + hk)
    has = l_i > 0
    out = acc / tl.where(has, l_i, 1.0)[:, None]
    lse2 = tl.where(has, m_i + tl.math.log2(tl.where(has, l_i, 1.0)), float("-inf"))
    row = (b * Hkv * GROUP + heads) * NUM_SPLITS + split  # flat (b, h, split)
    hmask = offs_h < GROUP
    tl.store(O_PART + row[:, None] * HEAD_DIM + offs_d[None, :], out, mask=hmask[:, None])
    tl.store(LSE_PART + row, lse2, mask=hmask)


@triton.jit
def _decode_combine_kernel(O_PART, LSE_PART, Out, LSE, stride_ob, stride_oh, H, NUM_SPLITS,
                           HEAD_DIM: tl.constexpr, BLOCK_S: tl.constexpr):
    # grid: (B * H,): out = Σ_s exp(lse_s - lse) · o_s with lse = log Σ_s exp(lse_s)
    pid = tl.program_id(0)
    b = pid // H
    h = pid % H
    offs_s = tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, HEAD_DIM)
    smask = offs_s < NUM_SPLITS
    lse_s = tl.load(LSE_PART + pid * NUM_SPLITS + offs_s, mask=smask, other=float("-inf"))
    m = tl.max(lse_s, 0)
    m = tl.where(m == float("-inf"), 0.0, m)  # an empty sequence: every weight is 0
    w = tl.math.exp2(lse_s - m)
    den = tl.sum(w, 0)
    o_s = tl.load(O_PART + (pid * NUM_SPLITS + offs_s)[:, None] * HEAD_DIM + offs_d[None, :],
                  mask=smask[:, None], other=0.0)
    out = tl.sum(o_s * w[:, None], 0) / tl.where(den > 0, den, 1.0)
    tl.store(Out + b * stride_ob + h * stride_oh + offs_d, out.to(Out.dtype.element_ty))
    tl.store(LSE + pid, (m + tl.math.log2(den)) * 0.6931471805599453)


def _split_configs() -> list[triton.Config]:
    """Stream-friendly tiles: narrow M (the GQA group), deep pipelines for the KV loads."""
    shapes = [(64, 4, 3), (64, 4, 4), (128, 4, 3), (128, 8, 3), (32, 4, 4)]
    return [triton.Config({"BLOCK_N": n}, num_warps=w, num_stages=s) for n, w, s in shapes]


_decode_split_tuned = triton.autotune(configs=_split_configs(),
                                      key=["L_BUCKET", "HEAD_DIM", "BLOCK_H", "KV_INT8", "DOT_PREC"])(
    _decode_split_kernel)

INTERPRETER_BLOCK_N = 32


def choose_num_splits(batch: int, kv_heads: int, max_len: int, num_sms: int) -> int:
    """Enough (sequence, kv head, split) programs for ~WAVES per SM, each chunk >= MIN_KEYS_PER_SPLIT keys."""
    want = triton.cdiv(WAVES * num_sms, batch * kv_heads)
    return max(1, min(want, triton.cdiv(max_len, MIN_KEYS_PER_SPLIT), MAX_SPLITS))


def _splits_after_rounding(max_len: int, splits: int, align: int) -> int:
    chunk = triton.cdiv(triton.cdiv(max_len, splits), align) * align
    return triton.cdiv(max_len, chunk)


def split_count(batch: int, kv_heads: int, max_len: int, num_sms: int, align: int = SPLIT_ALIGN,
                ctas_per_sm: int = CTAS_PER_SM) -> int:
    """The splits a launch runs: from ``choose_num_splits`` up to twice as many, the count whose programs
    fill whole waves best (a wave: num_sms x ctas_per_sm resident programs; the last, partial wave leaves
    SMs idle), after rounding each chunk up to ``align`` keys; ties go to fewer splits."""
    base = choose_num_splits(batch, kv_heads, max_len, num_sms)
    most = max(1, min(MAX_SPLITS, triton.cdiv(max_len, MIN_KEYS_PER_SPLIT)))
    wave = num_sms * ctas_per_sm
    best, best_fill = None, -1.0
    for want in range(base, max(base, min(2 * base, most)) + 1):
        s = _splits_after_rounding(max_len, want, align)
        programs = batch * kv_heads * s
        fill = programs / (triton.cdiv(programs, wave) * wave)
        if fill > best_fill + 1e-9 or (abs(fill - best_fill) <= 1e-9 and s < best):
            best, best_fill = s, fill
    return best


def quantize_kv_int8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one fp32 scale per kv head: x (B, Hkv, L, D) -> (int8 same shape, (Hkv,))."""
    amax = x.float().abs().amax(dim=(0, 2, 3)).clamp_min(1e-8)  # (Hkv,)
    scale = amax / 127.0
    xq = torch.round(x.float() / scale[None, :, None, None]).clamp(-127, 127).to(torch.int8)
    return xq, scale


def _check_lens(seq_lens: torch.Tensor | None, B: int, Lmax: int, device: torch.device) -> torch.Tensor:
    if seq_lens is None:
        return torch.full((B,), Lmax, dtype=torch.int32, device=device)
    if seq_lens.shape != (B,):
        raise InputError(f"seq_lens must have shape ({B},), got {tuple(seq_lens.shape)}")
    if seq_lens.device != device:
        raise InputError(f"seq_lens on {seq_lens.device}, q on {device}")
    if device.type != "cuda":  # on CUDA a value check would cost a host sync per call: documented instead
        lo, hi = int(seq_lens.min()), int(seq_lens.max())
        if lo < 1 or hi > Lmax:
            raise InputError(f"seq_lens must lie in [1, {Lmax}], got [{lo}, {hi}]")
    return seq_lens.to(torch.int32)


def decode_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, seq_lens: torch.Tensor | None = None,
                     k_scale: torch.Tensor | None = None, v_scale: torch.Tensor | None = None,
                     sm_scale: float | None = None, num_splits: int | None = None, block_n: int | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode step. q (B, H, D); k/v cache (B, Hkv, Lmax, D) in q's dtype, or int8 with per-kv-head
    fp32 scales k_scale/v_scale (Hkv,); seq_lens (B,) int in [1, Lmax] (default: all Lmax).

    Returns (out (B, H, D) in q's dtype, lse (B, H) fp32 natural log). ``num_splits`` / ``block_n``
    override the split heuristic and the autotuned tile (tests).
    """
    H, Hkv = common.check_qkv(q, k, v, q_rank=3)
    B, _, D = q.shape
    Lmax = k.shape[2]
    kv_int8 = k.dtype == torch.int8
    if kv_int8:
        if v.dtype != torch.int8 or k_scale is None or v_scale is None:
            raise InputError("an int8 KV cache needs int8 k and v and both k_scale and v_scale")
        for name, s in (("k_scale", k_scale), ("v_scale", v_scale)):
            if s.shape != (Hkv,):
                raise InputError(f"{name} must have shape ({Hkv},) (one scale per kv head), got {tuple(s.shape)}")
        k_scale, v_scale = k_scale.float().contiguous(), v_scale.float().contiguous()
    elif k.dtype != q.dtype or v.dtype != q.dtype:
        raise InputError(f"k/v dtype ({k.dtype}, {v.dtype}) must equal q's ({q.dtype}) or be int8")
    elif k_scale is not None or v_scale is not None:
        raise InputError("k_scale/v_scale apply to an int8 KV cache only")
    lens = _check_lens(seq_lens, B, Lmax, q.device)
    q, k, v = (common.last_dim_contiguous(t) for t in (q, k, v))

    if num_splits is None:
        num_splits = split_count(B, Hkv, Lmax, common.cuda_sm_count(q.device))
    if not 1 <= num_splits <= min(Lmax, MAX_SPLITS):
        raise InputError(f"num_splits must lie in [1, {min(Lmax, MAX_SPLITS)}], got {num_splits}")
    align = SPLIT_ALIGN if block_n is None else block_n
    chunk = triton.cdiv(triton.cdiv(Lmax, num_splits), align) * align
    num_splits = triton.cdiv(Lmax, chunk)  # rounding the chunk up can leave the last splits empty

    group = H // Hkv
    block_h = max(16, triton.next_power_of_2(group))  # tl.dot needs M >= 16
    o_part = torch.empty((B, H, num_splits, D), dtype=torch.float32, device=q.device)
    lse_part = torch.empty((B, H, num_splits), dtype=torch.float32, device=q.device)
    dummy = lens  # scale pointers are unused unless KV_INT8
    args = (q, k, v, k_scale if kv_int8 else dummy, v_scale if kv_int8 else dummy, lens, o_part, lse_part,
            q.stride(0), q.stride(1), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
            Hkv, group, chunk, num_splits, common.default_scale(D, sm_scale) * common.LOG2E,
            triton.next_power_of_2(chunk))
    meta = dict(HEAD_DIM=D, BLOCK_H=block_h, KV_INT8=kv_int8, DOT_PREC=dot_precision(q.dtype))
    grid = (B * Hkv, num_splits)
    if block_n is None and not interpreting():
        _decode_split_tuned[grid](*args, **meta)
    else:
        _decode_split_kernel[grid](*args, **meta, BLOCK_N=block_n or INTERPRETER_BLOCK_N)

    o = torch.empty((B, H, D), dtype=q.dtype, device=q.device)
    lse = torch.empty((B, H), dtype=torch.float32, device=q.device)
    _decode_combine_kernel[(B * H,)](o_part, lse_part, o, lse, o.stride(0), o.stride(1), H, num_splits,
                                     HEAD_DIM=D, BLOCK_S=max(2, triton.next_power_of_2(num_splits)))
    return o, lse


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, seq_lens: torch.Tensor | None = None,
              k_scale: torch.Tensor | None = None, v_scale: torch.Tensor | None = None,
              sm_scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit fp32 attention of each query token over its first seq_lens[b] cached tokens."""
    if k.dtype == torch.int8:
        k = k.float() * k_scale.float()[None, :, None, None]
        v = v.float() * v_scale.float()[None, :, None, None]
    B, H, D = q.shape
    Lmax = k.shape[2]
    lens = torch.full((B,), Lmax, device=q.device) if seq_lens is None else seq_lens
    keep = torch.arange(Lmax, device=q.device)[None, :] < lens[:, None].long()  # (B, Lmax)
    o, lse = common.masked_reference(q[:, :, None, :], k, v, common.default_scale(D, sm_scale),
                                     lambda r0, r1: keep[:, None, None, :])
    return o[:, :, 0], lse[:, :, 0]


def cost(B: int, H: int, Hkv: int, L: int, D: int, dtype: str, kv_dtype: str | None = None,
         num_splits: int = 1, seq_lens: list[int] | None = None) -> list[Op]:
    """Split pass: read K, V (2·Hkv·D·elem per cached token) and Q, write fp32 partials; combine pass:
    read the partials, write O and LSE. FLOPs 4·H·D per cached token (QKᵀ and PV)."""
    e, ekv = ELEMENT_BYTES[dtype], ELEMENT_BYTES[kv_dtype or dtype]
    tokens = B * L if seq_lens is None else sum(seq_lens)
    partial_bytes = 4 * B * H * num_splits * (D + 1)
    scale_bytes = 8 * Hkv if kv_dtype == "int8" else 0
    split = Op("decode_attention_split", "attention", 4.0 * H * D * tokens,
               2 * ekv * Hkv * D * tokens + e * B * H * D + scale_bytes, partial_bytes, dtype)
    # combine: a weighted sum over splits, 2 FLOPs a partial element
    combine = Op("decode_attention_combine", "attention", 2.0 * B * H * num_splits * D, partial_bytes,
                 e * B * H * D + 4 * B * H, "fp32")
    return [split, combine]


def prepare(shape: dict[str, Any], dtype: str, device: str) -> Bench:
    """Random query tokens and KV cache for ``shape`` (B, H, Hkv, L, D, optional kv_dtype "int8",
    optional ragged: lengths spread over [L/2, L]); ours vs the SDPA backends."""
    B, H, Hkv, L, D = shape["B"], shape["H"], shape["Hkv"], shape["L"], shape["D"]
    kv_int8 = shape.get("kv_dtype") == "int8"
    g = torch.Generator(device=device).manual_seed(0)
    dt = torch_dtype(dtype)
    q = torch.randn((B, H, D), generator=g, device=device, dtype=dt)
    k = torch.randn((B, Hkv, L, D), generator=g, device=device, dtype=dt)
    v = torch.randn((B, Hkv, L, D), generator=g, device=device, dtype=dt)
    lens = None
    if shape.get("ragged"):
        lens = torch.randint(L // 2 + 1, L + 1, (B,), generator=g, device=device, dtype=torch.int32)
    ks = vs = None
    kc, vc = k, v
    if kv_int8:
        kc, ks = quantize_kv_int8(k)
        vc, vs = quantize_kv_int8(v)
    splits = split_count(B, Hkv, L, common.cuda_sm_count(q.device))
    ops = cost(B, H, Hkv, L, D, dtype, "int8" if kv_int8 else None, splits,
               None if lens is None else lens.tolist())
    impls = {"ours": lambda: decode_attention(q, kc, vc, lens, ks, vs)}
    # SDPA sees the full-length cache (B, H, 1, D) x (B, Hkv, L, D) in the 16-bit dtype
    impls["sdpa-flash"] = common.sdpa_peer(q, k, v, False, "FLASH_ATTENTION", decode=True)
    peer_ops = {"sdpa-flash": cost(B, H, Hkv, L, D, dtype)[:1]}
    # cuDNN / mem-efficient take no GQA here (the anchors saw "No available kernel"): heads pre-expanded
    # outside the timed call, so they read H/Hkv times the KV bytes
    ke, ve = (t.repeat_interleave(H // Hkv, dim=1) for t in (k, v))
    for name, be in (("sdpa-cudnn", "CUDNN_ATTENTION"), ("sdpa-efficient", "EFFICIENT_ATTENTION")):
        impls[name] = common.sdpa_peer(q, ke, ve, False, be, decode=True)
        peer_ops[name] = cost(B, H, H, L, D, dtype)[:1]
    cpu_blocked = {"sdpa-flash", "sdpa-cudnn", "sdpa-efficient"} | gpu_only(dtype)
    return Bench(kernel="decode_attention", shape=dict(shape), dtype=dtype, impls=impls,
                 reference=lambda: reference(q, kc, vc, lens, ks, vs), ops=ops,
                 rtol=common.rtol_for(dtype),  # the reference dequantizes the same int8 cache
                 peer_ops=peer_ops, gpu_only=cpu_blocked)


# issue 5 sweep: GQA 32/8, D128, (B, L) pairs; plus a ragged batch and the int8 cache at B16 L8k
BENCH_SHAPES = tuple({"B": B, "H": 32, "Hkv": 8, "L": L, "D": 128}
                     for B, L in ((1, 32768), (16, 8192), (64, 4096), (1, 131072))) + (
    {"B": 16, "H": 32, "Hkv": 8, "L": 8192, "D": 128, "ragged": True},
    {"B": 16, "H": 32, "Hkv": 8, "L": 8192, "D": 128, "kv_dtype": "int8"},
)
QUICK_SHAPES = ({"B": 2, "H": 4, "Hkv": 1, "L": 67, "D": 64},
                {"B": 3, "H": 8, "Hkv": 2, "L": 50, "D": 64, "ragged": True, "kv_dtype": "int8"})
