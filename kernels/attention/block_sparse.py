"""Block-sparse attention forward in Triton: attend only to kept (query block, key block) tiles.

The mask is a list of kept KV block indices per (batch, head, query block), the FlexAttention BlockMask
idea: blocks entirely inside the causal / window / sequence bounds go to a "full" list and run without any
element mask; the few cut blocks (diagonal, window edge, sequence tail) go to a "partial" list and are
masked per element. Two builders:
- ``sliding_window_mask``: causal local attention, keys j with i - W < j <= i (same for all heads);
- ``centroid_topk_mask``: the Squeezed Attention / NOSA idea — score each key block by the dot product of
  the query block's centroid with the key block's centroid and keep the top-k blocks per query block (plus
  the diagonal block, so every row keeps its own position). The lookup costs nQb·nKb·D per head, not S².

Cost: FLOPs 4·D per kept (query, key) pair; bytes: Q read, O and LSE written, and each distinct kept K/V
block read once per kv head (the DRAM floor; re-reads by other query blocks hit L2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import triton
import triton.language as tl

from kernels.attention import common, flash
from kernels.common import ELEMENT_BYTES, dot_precision, gpu_only, interpreting
from kernels.registry import Bench
from roofline.errors import InputError
from roofline.ops import Op


@triton.jit
def _sparse_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_m, offs_n, offs_d,
                  idx_row, n_tiles, Sk, causal_off, window, qk_scale,
                  MASKED: tl.constexpr, CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr,
                  KV_BLOCK: tl.constexpr, BLOCK_N: tl.constexpr, DOT_PREC: tl.constexpr):
    """Fold the n_tiles BLOCK_N-wide tiles of the kept blocks listed at idx_row into the softmax state."""
    for t in range(0, n_tiles):  # tile t is sub-tile t % (KV_BLOCK // BLOCK_N) of kept block t // (...)
        kb = tl.load(idx_row + t // (KV_BLOCK // BLOCK_N))
        start_n = tl.multiple_of(kb * KV_BLOCK + (t % (KV_BLOCK // BLOCK_N)) * BLOCK_N, BLOCK_N)
        cols = start_n + offs_n
        k_ptrs = k_base + cols[None, :] * stride_kn + offs_d[:, None]  # (D, BLOCK_N)
        v_ptrs = v_base + cols[:, None] * stride_vn + offs_d[None, :]  # (BLOCK_N, D)
        if MASKED:
            k = tl.load(k_ptrs, mask=cols[None, :] < Sk, other=0.0)
            v = tl.load(v_ptrs, mask=cols[:, None] < Sk, other=0.0)
        else:
            k = tl.load(k_ptrs)
            v = tl.load(v_ptrs)
        qk = tl.dot(q, k, input_precision=DOT_PREC)  # unscaled
        if MASKED:
            keep = cols[None, :] < Sk
            if CAUSAL:
                keep = keep & (cols[None, :] <= offs_m[:, None] + causal_off)
            if HAS_WINDOW:
                keep = keep & (cols[None, :] > offs_m[:, None] + causal_off - window)
            qk = tl.where(keep, qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1) * qk_scale)  # log2 units
        m_sub = m_new
        if MASKED:  # a row may have seen no key yet: keep exp2 away from (-inf) - (-inf)
            m_sub = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.math.exp2(qk * qk_scale - m_sub[:, None])  # one FMA a score
        alpha = tl.math.exp2(m_i - m_sub)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None], input_precision=DOT_PREC)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _block_sparse_fwd_kernel(Q, K, V, Out, LSE, FULL_CNT, FULL_IDX, PART_CNT, PART_IDX,
                             stride_qb, stride_qh, stride_qm, stride_kb, stride_kh, stride_kn,
                             stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_om,
                             stride_cb, stride_ch, stride_cm, stride_fb, stride_fh, stride_fm,
                             stride_pb, stride_ph, stride_pm,
                             H, GROUP, Sq, Sk, qk_scale, window,
                             HEAD_DIM: tl.constexpr, CAUSAL: tl.constexpr, HAS_WINDOW: tl.constexpr,
                             DOT_PREC: tl.constexpr, BLOCK_M: tl.constexpr, KV_BLOCK: tl.constexpr,
                             BLOCK_N: tl.constexpr):
    # grid: (nQb, B * H); BLOCK_M is the mask's query block. Counts are (B|1, H|1, nQb) with strides
    # stride_c*, full/partial index lists (B|1, H|1, nQb, width) with strides stride_f* / stride_p*.
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    hk = h // GROUP
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :],
                mask=offs_m[:, None] < Sq, other=0.0)
    k_base = K + b * stride_kb + hk * stride_kh
    v_base = V + b * stride_vb + hk * stride_vh
    cnt_off = b * stride_cb + h * stride_ch + pid_m * stride_cm
    n_full = tl.load(FULL_CNT + cnt_off) * (KV_BLOCK // BLOCK_N)
    n_part = tl.load(PART_CNT + cnt_off) * (KV_BLOCK // BLOCK_N)
    full_row = FULL_IDX + b * stride_fb + h * stride_fh + pid_m * stride_fm
    part_row = PART_IDX + b * stride_pb + h * stride_ph + pid_m * stride_pm

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    causal_off = Sk - Sq
    acc, l_i, m_i = _sparse_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_m, offs_n, offs_d,
                                  full_row, n_full, Sk, causal_off, window, qk_scale,
                                  False, CAUSAL, HAS_WINDOW, KV_BLOCK, BLOCK_N, DOT_PREC)
    acc, l_i, m_i = _sparse_tiles(acc, l_i, m_i, q, k_base, v_base, stride_kn, stride_vn, offs_m, offs_n, offs_d,
                                  part_row, n_part, Sk, causal_off, window, qk_scale,
                                  True, CAUSAL, HAS_WINDOW, KV_BLOCK, BLOCK_N, DOT_PREC)
    has = l_i > 0  # a row with no kept key: output 0, LSE -inf
    l_safe = tl.where(has, l_i, 1.0)
    out = acc / l_safe[:, None]
    lse = tl.where(has, (m_i + tl.math.log2(l_safe)) * 0.6931471805599453, float("-inf"))
    tl.store(Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :],
             out.to(Out.dtype.element_ty), mask=offs_m[:, None] < Sq)
    tl.store(LSE + pid_bh * Sq + offs_m, lse, mask=offs_m < Sq)


def _prune(configs, named_args, **kwargs):
    kv_block = {**named_args, **kwargs}["KV_BLOCK"]
    keep = [c for c in configs if kv_block % c.kwargs["BLOCK_N"] == 0]
    return keep or [triton.Config({"BLOCK_N": kv_block}, num_warps=4, num_stages=2)]


# First the 8-warp 64-key tile: with 4 warps the same tile holds a 128 x 128 fp32 accumulator in 128 threads
# and spills (255 registers, 232 B of STL, 53 LDL in the sm90 compile); 8 warps halve it (183 registers, none).
_block_sparse_tuned = triton.autotune(
    configs=[triton.Config({"BLOCK_N": n}, num_warps=w, num_stages=s)
             for n, w, s in ((64, 8, 3), (64, 4, 3), (128, 8, 3), (128, 8, 2), (32, 4, 4))],
    key=["HEAD_DIM", "CAUSAL", "HAS_WINDOW", "DOT_PREC", "BLOCK_M", "KV_BLOCK"],
    prune_configs_by={"early_config_prune": _prune})(_block_sparse_fwd_kernel)


@dataclass(frozen=True)
class BlockSparseMask:
    """Kept blocks of an Sq×Sk attention, split into unmasked ("full") and element-masked ("partial").

    kept: (B|1, H|1, nQb, nKb) bool, blocks attended (blocks with no valid pair under causal/window/bounds
    are dropped); *_counts (B|1, H|1, nQb) int32 and *_idx (B|1, H|1, nQb, width) int32 ascending block ids;
    pairs: (nQb, nKb) int64, valid (query, key) pairs inside each block.
    """

    kept: torch.Tensor
    full_counts: torch.Tensor
    full_idx: torch.Tensor
    part_counts: torch.Tensor
    part_idx: torch.Tensor
    pairs: torch.Tensor
    Sq: int
    Sk: int
    q_block: int
    kv_block: int
    causal: bool
    window: int  # 0: no window; else keys j with i + (Sk - Sq) - window < j

    @property
    def kept_pairs_per_head(self) -> float:
        """Mean over (batch, head) of kept (query, key) pairs."""
        return float((self.kept.to(torch.float64) * self.pairs.to(self.kept.device)).sum(dim=(-1, -2)).mean())

    @property
    def kept_fraction(self) -> float:
        """Kept pairs / (Sq·Sk), averaged over (batch, head)."""
        return self.kept_pairs_per_head / (self.Sq * self.Sk)


def _valid_pairs(Sq: int, Sk: int, q_block: int, kv_block: int, causal: bool, window: int) -> torch.Tensor:
    """(nQb, nKb) count of (i, j) pairs a block holds under bounds, causal and window masks."""
    off = Sk - Sq
    nkb = triton.cdiv(Sk, kv_block)
    i = torch.arange(Sq, dtype=torch.int64)[:, None]  # (Sq, 1)
    ks = torch.arange(nkb, dtype=torch.int64)[None, :] * kv_block  # (1, nKb)
    lo = ks.expand(Sq, nkb)
    hi = torch.clamp(ks + kv_block, max=Sk) - 1
    if causal:
        hi = torch.minimum(hi, i + off)
    if window:
        lo = torch.maximum(lo, i + off - window + 1)
    per_row = (hi - lo + 1).clamp_min(0)  # (Sq, nKb)
    nqb = triton.cdiv(Sq, q_block)
    padded = torch.zeros((nqb * q_block, nkb), dtype=torch.int64)
    padded[:Sq] = per_row
    return padded.view(nqb, q_block, nkb).sum(1)


def _needs_mask(Sq: int, Sk: int, q_block: int, kv_block: int, causal: bool, window: int) -> torch.Tensor:
    """(nQb, nKb) True where some (row, key) of the nominal tile is cut by a bound, the diagonal or the window."""
    off = Sk - Sq
    qs = torch.arange(triton.cdiv(Sq, q_block))[:, None] * q_block
    ks = torch.arange(triton.cdiv(Sk, kv_block))[None, :] * kv_block
    need = (ks + kv_block > Sk).expand(qs.shape[0], ks.shape[1])
    if causal:
        need = need | (ks + kv_block - 1 > qs + off)
    if window:
        need = need | (ks < qs + q_block - 1 + off - window + 1)
    return need


def _index_lists(sel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(…, nKb) bool -> counts (…) int32 and ascending selected indices (…, max(1, max count)) int32."""
    nkb = sel.shape[-1]
    counts = sel.sum(-1, dtype=torch.int32)
    ar = torch.arange(nkb, device=sel.device)
    order = torch.sort(torch.where(sel, ar, ar + nkb), dim=-1).indices  # selected first, ascending
    width = max(1, int(counts.max())) if counts.numel() else 1
    return counts.contiguous(), order[..., :width].to(torch.int32).contiguous()


def from_dense_blocks(kept: torch.Tensor, Sq: int, Sk: int, q_block: int = 128, kv_block: int = 128,
                      causal: bool = False, window: int = 0) -> BlockSparseMask:
    """Build the mask from a (B|1, H|1, nQb, nKb) bool of kept blocks."""
    nqb, nkb = triton.cdiv(Sq, q_block), triton.cdiv(Sk, kv_block)
    if kept.dim() != 4 or kept.shape[-2:] != (nqb, nkb):
        raise InputError(f"kept blocks must be (B|1, H|1, {nqb}, {nkb}), got {tuple(kept.shape)}")
    if causal and Sq > Sk:
        raise InputError(f"causal attention needs Sq <= Sk, got Sq={Sq}, Sk={Sk}")
    if window < 0:
        raise InputError(f"window must be >= 0, got {window}")
    pairs = _valid_pairs(Sq, Sk, q_block, kv_block, causal, window)
    need = _needs_mask(Sq, Sk, q_block, kv_block, causal, window).to(kept.device)
    kept = kept.bool() & (pairs > 0).to(kept.device)
    fc, fi = _index_lists(kept & ~need)
    pc, pi = _index_lists(kept & need)
    return BlockSparseMask(kept, fc, fi, pc, pi, pairs, Sq, Sk, q_block, kv_block, causal, window)


def from_block_indices(counts: torch.Tensor, indices: torch.Tensor, Sq: int, Sk: int, q_block: int = 128,
                       kv_block: int = 128, causal: bool = False, window: int = 0) -> BlockSparseMask:
    """Build the mask from kept-block indices: counts (B, H, nQb), indices (B, H, nQb, width); the first
    counts[..] entries of each row are kept key-block ids (any order, duplicates ignored)."""
    nkb = triton.cdiv(Sk, kv_block)
    if indices.dim() != 4 or counts.shape != indices.shape[:3]:
        raise InputError(f"counts {tuple(counts.shape)} must be indices {tuple(indices.shape)} minus the last dim")
    valid = torch.arange(indices.shape[-1], device=indices.device) < counts[..., None].long()
    idx = indices.long()
    if bool(((idx < 0) | (idx >= nkb))[valid].any()):
        raise InputError(f"kept block indices must lie in [0, {nkb})")
    hits = torch.zeros((*indices.shape[:3], nkb), dtype=torch.int32, device=indices.device)
    hits.scatter_add_(-1, torch.where(valid, idx, 0), valid.to(torch.int32))  # padding adds 0 at block 0
    return from_dense_blocks(hits > 0, Sq, Sk, q_block, kv_block, causal, window)


def sliding_window_mask(Sq: int, Sk: int, window: int, q_block: int = 128, kv_block: int = 128,
                        device: str | torch.device = "cpu") -> BlockSparseMask:
    """Causal local attention: row i keeps keys j with i + off - window < j <= i + off (off = Sk - Sq)."""
    if window < 1:
        raise InputError(f"window must be >= 1, got {window}")
    kept = torch.ones((1, 1, triton.cdiv(Sq, q_block), triton.cdiv(Sk, kv_block)), dtype=torch.bool, device=device)
    return from_dense_blocks(kept, Sq, Sk, q_block, kv_block, causal=True, window=window)


def centroid_topk_mask(q: torch.Tensor, k: torch.Tensor, top_k: int, q_block: int = 128, kv_block: int = 128,
                       causal: bool = True) -> BlockSparseMask:
    """Per (batch, head, query block) keep the top_k key blocks by centroid score q̄·k̄ (plus the diagonal
    block when causal). q (B, H, Sq, D), k (B, Hkv, Sk, D)."""
    B, H, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    nqb, nkb = triton.cdiv(Sq, q_block), triton.cdiv(Sk, kv_block)
    if not 1 <= top_k <= nkb:
        raise InputError(f"top_k must lie in [1, {nkb}], got {top_k}")

    def centroids(x: torch.Tensor, blk: int, n: int) -> torch.Tensor:  # (B, h, S, D) -> (B, h, n, D)
        pad = n * blk - x.shape[2]
        xs = torch.nn.functional.pad(x.float(), (0, 0, 0, pad)).view(x.shape[0], x.shape[1], n, blk, D).sum(3)
        sizes = torch.full((n,), blk, device=x.device, dtype=torch.float32)
        sizes[-1] = blk - pad
        return xs / sizes[:, None]

    qc = centroids(q, q_block, nqb)  # (B, H, nQb, D)
    kc = centroids(k, kv_block, nkb).repeat_interleave(H // Hkv, dim=1)  # (B, H, nKb, D)
    score = qc @ kc.transpose(-1, -2)  # (B, H, nQb, nKb)
    if causal:
        off = Sk - Sq
        last_key_block = (torch.clamp(torch.arange(nqb, device=q.device) * q_block + q_block - 1, max=Sq - 1)
                          + off) // kv_block  # the block holding each query block's last visible key
        kb = torch.arange(nkb, device=q.device)
        score = score.masked_fill(kb[None, :] > last_key_block[:, None], float("-inf"))
        score = score.masked_fill(kb[None, :] == last_key_block[:, None], float("inf"))  # always kept
    top = score.topk(top_k, dim=-1)
    kept = torch.zeros_like(score, dtype=torch.bool).scatter_(-1, top.indices, top.values > float("-inf"))
    return from_dense_blocks(kept, Sq, Sk, q_block, kv_block, causal=causal)


def block_sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BlockSparseMask,
                           sm_scale: float | None = None, block_n: int | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over the kept blocks of ``mask``. q (B, H, Sq, D), k/v (B, Hkv, Sk, D).

    Returns (out (B, H, Sq, D), lse (B, H, Sq) fp32, natural log); rows that keep no key get 0 and -inf.
    """
    H, Hkv = common.check_qkv(q, k, v)
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise InputError(f"q, k, v dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    B, _, Sq, D = q.shape
    Sk = k.shape[2]
    if (Sq, Sk) != (mask.Sq, mask.Sk):
        raise InputError(f"mask is for Sq={mask.Sq}, Sk={mask.Sk}; tensors have Sq={Sq}, Sk={Sk}")
    mb, mh = mask.kept.shape[:2]
    if mb not in (1, B) or mh not in (1, H):
        raise InputError(f"mask batch/heads ({mb}, {mh}) must be 1 or ({B}, {H})")
    if mask.q_block not in (16, 32, 64, 128) or mask.kv_block not in (16, 32, 64, 128):
        raise InputError(f"block sizes must be 16, 32, 64 or 128, got {mask.q_block}x{mask.kv_block}")
    if mask.kept.device != q.device:
        raise InputError(f"mask on {mask.kept.device}, tensors on {q.device}")
    q, k, v = (common.last_dim_contiguous(t) for t in (q, k, v))
    o = torch.empty_like(q)
    lse = torch.empty((B, H, Sq), dtype=torch.float32, device=q.device)

    def bstrides(t: torch.Tensor) -> tuple[int, int, int]:  # broadcast the (1, 1, ...) masks with stride 0
        return (t.stride(0) if mb > 1 else 0, t.stride(1) if mh > 1 else 0, t.stride(2))

    fc, fi, pc, pi = mask.full_counts, mask.full_idx, mask.part_counts, mask.part_idx
    args = (q, k, v, o, lse, fc, fi, pc, pi,
            q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
            v.stride(0), v.stride(1), v.stride(2), o.stride(0), o.stride(1), o.stride(2),
            *bstrides(fc), *bstrides(fi), *bstrides(pi),
            H, H // Hkv, Sq, Sk, common.default_scale(D, sm_scale) * common.LOG2E, mask.window)
    meta = dict(HEAD_DIM=D, CAUSAL=mask.causal, HAS_WINDOW=mask.window > 0, DOT_PREC=dot_precision(q.dtype),
                BLOCK_M=mask.q_block, KV_BLOCK=mask.kv_block)
    grid = (triton.cdiv(Sq, mask.q_block), B * H)
    if block_n is None and not interpreting():
        _block_sparse_tuned[grid](*args, **meta)
    else:
        bn = block_n or min(32, mask.kv_block)
        if mask.kv_block % bn:
            raise InputError(f"block_n {bn} must divide the kv block {mask.kv_block}")
        _block_sparse_fwd_kernel[grid](*args, **meta, BLOCK_N=bn)
    return o, lse


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: BlockSparseMask,
              sm_scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit fp32 attention with the kept blocks expanded to an element mask (chunked over rows)."""
    Sq, Sk, D = q.shape[2], k.shape[2], q.shape[3]
    off = Sk - Sq
    j = torch.arange(Sk, device=q.device)
    kb = j // mask.kv_block

    def rows(r0: int, r1: int) -> torch.Tensor:
        i = torch.arange(r0, r1, device=q.device)
        keep = mask.kept[:, :, i // mask.q_block][..., kb]  # (B|1, H|1, r, Sk)
        if mask.causal:
            keep = keep & (j[None, :] <= i[:, None] + off)
        if mask.window:
            keep = keep & (j[None, :] > i[:, None] + off - mask.window)
        return keep

    return common.masked_reference(q, k, v, common.default_scale(D, sm_scale), rows)


def cost(mask: BlockSparseMask, B: int, H: int, Hkv: int, D: int, dtype: str) -> list[Op]:
    """FLOPs 4·D per kept pair; read Q and each distinct kept K/V block once per kv head; write O and LSE."""
    e = ELEMENT_BYTES[dtype]
    kept = mask.kept.expand(B, H, *mask.kept.shape[2:])
    flops = 4.0 * D * float((kept.to(torch.float64) * mask.pairs.to(kept.device)).sum())
    used = kept.any(dim=2).view(B, Hkv, H // Hkv, -1).any(dim=2)  # (B, Hkv, nKb): blocks some head reads
    block_keys = torch.clamp(mask.Sk - torch.arange(used.shape[-1], device=used.device) * mask.kv_block,
                             max=mask.kv_block)
    kv_tokens = float((used * block_keys).sum())  # per kv head, summed
    bytes_read = e * (B * H * mask.Sq * D + 2 * D * kv_tokens)
    bytes_written = e * B * H * mask.Sq * D + 4 * B * H * mask.Sq
    return [Op("block_sparse_attention_fwd", "attention", flops, bytes_read, bytes_written, dtype)]


def selection_cost(B: int, H: int, Hkv: int, Sq: int, Sk: int, D: int, q_block: int, kv_block: int,
                   dtype: str) -> list[Op]:
    """The centroid top-k lookup (done once per mask, outside the timed kernel): read Q and K once for the
    centroids, score nQb × nKb centroid pairs per head."""
    e = ELEMENT_BYTES[dtype]
    nqb, nkb = triton.cdiv(Sq, q_block), triton.cdiv(Sk, kv_block)
    flops = B * H * Sq * D + B * Hkv * Sk * D + 2.0 * B * H * nqb * nkb * D
    return [Op("block_sparse_centroid_topk", "attention", flops, e * (B * H * Sq * D + B * Hkv * Sk * D),
               4 * B * H * nqb * nkb, "fp32")]


def flex_block_mask(mask: BlockSparseMask, B: int, H: int):
    """The same kept blocks as a torch FlexAttention BlockMask (full / partial lists and a mask_mod)."""
    # lazy: flex attention loads torch.compile machinery; only its peer needs it
    from torch.nn.attention.flex_attention import BlockMask

    nkb = triton.cdiv(mask.Sk, mask.kv_block)
    off, window, causal = mask.Sk - mask.Sq, mask.window, mask.causal

    def widen(counts: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        counts = counts.expand(B, H, -1).contiguous()
        wide = torch.zeros((B, H, idx.shape[2], nkb), dtype=torch.int32, device=idx.device)
        wide[..., :idx.shape[-1]] = idx.expand(B, H, -1, -1)
        return counts, wide

    kept = mask.kept.expand(B, H, -1, -1).contiguous()
    qb, kb = mask.q_block, mask.kv_block

    def mask_mod(b, h, q_idx, kv_idx):  # block membership too: eager flex ignores the block lists
        keep = (kv_idx < mask.Sk) & kept[b, h, q_idx // qb, kv_idx // kb]
        if causal:
            keep = keep & (kv_idx <= q_idx + off)
        if window:
            keep = keep & (kv_idx > q_idx + off - window)
        return keep

    pc, pi = widen(mask.part_counts, mask.part_idx)
    fc, fi = widen(mask.full_counts, mask.full_idx)
    return BlockMask.from_kv_blocks(pc, pi, fc, fi, BLOCK_SIZE=(mask.q_block, mask.kv_block), mask_mod=mask_mod,
                                    seq_lengths=(mask.Sq, mask.Sk))


def make_mask(shape: dict[str, Any], q: torch.Tensor, k: torch.Tensor) -> BlockSparseMask:
    """The benchmark's mask: pattern "window" (W = kept·S keys) or "topk" (kept·nKb blocks by centroid)."""
    S, blk, kept = q.shape[2], shape.get("block", 128), shape["kept"]
    if shape.get("pattern", "window") == "window":
        return sliding_window_mask(S, S, max(1, round(kept * S)), blk, blk, device=q.device)
    return centroid_topk_mask(q, k, max(1, round(kept * triton.cdiv(S, blk))), blk, blk, causal=True)


def prepare(shape: dict[str, Any], dtype: str, device: str) -> Bench:
    """Random q, k, v and a block mask for ``shape`` (B, H, Hkv, S, D, pattern, kept, block); ours vs
    FlexAttention on the same blocks and the dense causal SDPA baselines."""
    B, H, Hkv, S, D = shape["B"], shape["H"], shape.get("Hkv", shape["H"]), shape["S"], shape["D"]
    q, k, v = common.make_qkv(shape, dtype, device)
    mask = make_mask(shape, q, k)
    impls = {"ours": lambda: block_sparse_attention(q, k, v, mask)}
    dense = flash.cost(B, H, Hkv, S, S, D, True, dtype)
    peer_ops = {"sdpa-flash-causal": dense, "sdpa-cudnn-causal": dense}
    impls["sdpa-flash-causal"] = common.sdpa_peer(q, k, v, True, "FLASH_ATTENTION")
    impls["sdpa-cudnn-causal"] = common.sdpa_peer(q, k, v, True, "CUDNN_ATTENTION")
    # lazy: flex attention loads torch.compile machinery; only its peer needs it
    from torch.nn.attention.flex_attention import flex_attention

    flex = torch.compile(flex_attention)  # compiled lazily, on the first call
    bm = flex_block_mask(mask, B, H)
    impls["flex-attention"] = lambda: (flex(q, k, v, block_mask=bm, enable_gqa=H != Hkv),)
    cpu_blocked = {"sdpa-flash-causal", "sdpa-cudnn-causal", "flex-attention"}
    cpu_blocked |= gpu_only(dtype)
    return Bench(kernel="block_sparse_attention", shape=dict(shape), dtype=dtype, impls=impls,
                 reference=lambda: reference(q, k, v, mask), ops=cost(mask, B, H, Hkv, D, dtype),
                 rtol=common.rtol_for(dtype), peer_ops=peer_ops, gpu_only=cpu_blocked)


# issue 5 sweep: B4 H32 S16k D128, kept fraction of the S×S scores, sliding window and centroid top-k
BENCH_SHAPES = tuple({"B": 4, "H": 32, "Hkv": 32, "S": 16384, "D": 128, "pattern": p, "kept": f, "block": 128}
                     for p in ("window", "topk") for f in (0.05, 0.1, 0.25, 0.5))
QUICK_SHAPES = ({"B": 1, "H": 2, "Hkv": 2, "S": 67, "D": 64, "pattern": "window", "kept": 0.3, "block": 16},
                {"B": 1, "H": 4, "Hkv": 2, "S": 67, "D": 64, "pattern": "topk", "kept": 0.4, "block": 16})
