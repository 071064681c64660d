"""Contextual sparsity (Deja Vu): run only the MLP neurons / attention heads a predictor marks active.

Weights are stored neuron-major so that an active neuron is one contiguous row: ``w_gate`` and ``w_up`` are
(I, H) as in nn.Linear, and the down projection is kept transposed, ``w_down_t`` = W_down^T of shape (I, H)
(Deja Vu and PowerInfer do the same: a column of W_down is strided, a row of W_down^T is one burst).
For A active neurons and M tokens the MLP is two gathered GEMMs:
  1. ``_gather_rows_kernel``: pre[0|1, m, a] = x[m] . W_gate|up[idx[a]]   (reads 2*A*H weights)
  2. ``_gather_rows_acc_kernel``: y[m] = sum_a silu(pre0)*pre1 [m, a] * W_down^T[idx[a]]   (reads A*H)
The active list is the union over the batch's tokens: it grows with the batch (``expected_union_fraction``)
and the win with it shrinks. Attention heads use the same kernels with D rows an index (``head_sparse_*``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from kernels.common import can_run_triton, dot_precision, dtype_name, gpu_only, num_sms, torch_dtype
from kernels.registry import Bench
from kernels.sparse._launch import split_for
from kernels.sparse.semi_structured import WHO
from roofline.errors import InputError
from roofline.ops import Op

# Accepted max |out - ref| / max |ref| vs the fp32 reference: as the 2:4 kernel (semi_structured.RTOL), plus one more
# rounding: silu(gate)*up is rounded to the weight dtype to feed the tensor cores (fp16 2^-11, bf16 2^-8).
RTOL = {"fp16": 4e-3, "bf16": 3e-2, "fp32": 1e-4}

# ---------------------------------------------------------------------------------------------- index sets
@dataclass(frozen=True)
class ActiveSet:
    """Validated active indices: sorted, unique, int32, in [0, n_total), on the kernel's device."""

    idx: torch.Tensor  # (A,) int32
    n_total: int

    @property
    def count(self) -> int:
        return self.idx.numel()

    @property
    def fraction(self) -> float:
        return self.count / self.n_total


def active_set(idx: Any, n_total: int, device: torch.device | str | None = None) -> ActiveSet:
    """Check an index list once (it syncs with the device) so the kernels can trust it."""
    if isinstance(idx, ActiveSet):
        if idx.n_total != n_total:
            raise InputError(f"active set is over {idx.n_total} units, this layer has {n_total}")
        return idx
    t = torch.as_tensor(idx, device=device)
    if t.dim() != 1 or t.numel() == 0:
        raise InputError(f"active index list must be a non-empty 1-D list, got shape {tuple(t.shape)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise InputError(f"active indices must be integers, got {t.dtype}")
    lo, hi = int(t.min()), int(t.max())
    if lo < 0 or hi >= n_total:
        raise InputError(f"active index out of range: {lo if lo < 0 else hi} not in [0, {n_total})")
    u = torch.unique(t)  # sorted
    if u.numel() != t.numel():
        raise InputError(f"active index list holds {t.numel() - u.numel()} duplicates; pass each index once")
    return ActiveSet(u.to(torch.int32).contiguous(), n_total)


def union_active(per_token: torch.Tensor, n_total: int) -> ActiveSet:
    """The neurons any token of the batch needs: the union of the (B, k) per-token index lists."""
    if per_token.numel() == 0:
        raise InputError("no active indices: a batch must mark at least one unit active")
    return active_set(torch.unique(per_token.reshape(-1)), n_total)


def expected_union_fraction(fraction: float, batch: int) -> float:
    """Active fraction of the union of ``batch`` independent per-token sets of ``fraction``: 1-(1-f)^B."""
    if not 0 < fraction <= 1 or batch < 1:
        raise InputError(f"need 0 < fraction <= 1 and batch >= 1, got {fraction}, {batch}")
    return 1.0 - (1.0 - fraction) ** batch


def topk_active(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """(B, I) predictor scores -> (B, k) indices of each token's top ``fraction`` units (k >= 1)."""
    if not 0 < fraction <= 1:
        raise InputError(f"active fraction must be in (0, 1], got {fraction}")
    k = max(1, round(fraction * scores.shape[-1]))
    return scores.topk(k, dim=-1).indices


# ---------------------------------------------------------------------------------------------- Triton
@triton.jit
def _gather_rows_kernel(
    x_ptr, w1_ptr, w2_ptr, idx_ptr, out_ptr, M, A, K,
    stride_xm, stride_xk, stride_w1, stride_w2, stride_op, stride_om,
    ROWS_PER_INDEX: tl.constexpr, GATED: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_K: tl.constexpr, SPLIT_K: tl.constexpr, DOT_PREC: tl.constexpr,
):
    # out[p, m, a] = x[m] . W_p[row(a)], row(a) = idx[a // R] * R + a % R; reads (1 + GATED)*BLOCK_A*K weights.
    pid_a = tl.program_id(0)
    pid_m = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_a = pid_a * BLOCK_A + tl.arange(0, BLOCK_A)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    a_ok = offs_a < A
    sel = tl.load(idx_ptr + offs_a // ROWS_PER_INDEX, mask=a_ok, other=0)
    rows = sel.to(tl.int64) * ROWS_PER_INDEX + offs_a % ROWS_PER_INDEX
    k_tiles = tl.cdiv(K, BLOCK_K)
    per_split = tl.cdiv(k_tiles, SPLIT_K)
    t_end = tl.minimum((pid_k + 1) * per_split, k_tiles)
    acc1 = tl.zeros((BLOCK_A, BLOCK_M), dtype=tl.float32)  # out^T tile: gathered rows on the MMA's M side
    acc2 = tl.zeros((BLOCK_A, BLOCK_M), dtype=tl.float32)
    for t in range(pid_k * per_split, t_end):
        offs_k = t * BLOCK_K + tl.arange(0, BLOCK_K)
        k_ok = offs_k[None, :] < K
        x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk,
                    mask=(offs_m[:, None] < M) & k_ok, other=0.0)  # (BM, BK)
        w1 = tl.load(w1_ptr + rows[:, None] * stride_w1 + offs_k[None, :], mask=a_ok[:, None] & k_ok, other=0.0)
        acc1 = tl.dot(w1, tl.trans(x), acc1, input_precision=DOT_PREC)
        if GATED:
            w2 = tl.load(w2_ptr + rows[:, None] * stride_w2 + offs_k[None, :], mask=a_ok[:, None] & k_ok,
                         other=0.0)
            acc2 = tl.dot(w2, tl.trans(x), acc2, input_precision=DOT_PREC)
    ptrs = out_ptr + offs_m[None, :] * stride_om + offs_a[:, None]
    ok = (offs_m[None, :] < M) & a_ok[:, None]
    if SPLIT_K == 1:
        tl.store(ptrs, acc1.to(out_ptr.dtype.element_ty), mask=ok)
        if GATED:
            tl.store(ptrs + stride_op, acc2.to(out_ptr.dtype.element_ty), mask=ok)
    else:
        tl.atomic_add(ptrs, acc1, mask=ok, sem="relaxed")
        if GATED:
            tl.atomic_add(ptrs + stride_op, acc2, mask=ok, sem="relaxed")


@triton.jit
def _gather_rows_acc_kernel(
    h_ptr, wt_ptr, idx_ptr, out_ptr, M, A, N,
    stride_hp, stride_hm, stride_wt, stride_om, stride_on,
    ROWS_PER_INDEX: tl.constexpr, GATED: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr,
    BLOCK_A: tl.constexpr, SPLIT_A: tl.constexpr, DOT_PREC: tl.constexpr,
):
    # y[m, n] = sum_a h[m, a] * Wt[row(a), n]; GATED: h = silu(pre0) * pre1 from fp32 pre-activations.
    # Reads BLOCK_N columns of the A gathered rows of Wt, and h (L2-resident: M*A is small).
    pid_n = tl.program_id(0)
    pid_m = tl.program_id(1)
    pid_s = tl.program_id(2)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    a_tiles = tl.cdiv(A, BLOCK_A)
    per_split = tl.cdiv(a_tiles, SPLIT_A)
    t_end = tl.minimum((pid_s + 1) * per_split, a_tiles)
    acc = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    for t in range(pid_s * per_split, t_end):
        offs_a = t * BLOCK_A + tl.arange(0, BLOCK_A)
        a_ok = offs_a < A
        sel = tl.load(idx_ptr + offs_a // ROWS_PER_INDEX, mask=a_ok, other=0)
        rows = sel.to(tl.int64) * ROWS_PER_INDEX + offs_a % ROWS_PER_INDEX
        w = tl.load(wt_ptr + rows[:, None] * stride_wt + offs_n[None, :],
                    mask=a_ok[:, None] & (offs_n[None, :] < N), other=0.0)  # (BA, BN)
        h_ptrs = h_ptr + offs_m[:, None] * stride_hm + offs_a[None, :]
        h_ok = (offs_m[:, None] < M) & a_ok[None, :]
        if GATED:
            g = tl.load(h_ptrs, mask=h_ok, other=0.0).to(tl.float32)
            u = tl.load(h_ptrs + stride_hp, mask=h_ok, other=0.0).to(tl.float32)
            h = g / (1.0 + tl.exp(-g)) * u  # silu(gate) * up, (BM, BA)
        else:
            h = tl.load(h_ptrs, mask=h_ok, other=0.0)
        acc = tl.dot(tl.trans(w), tl.trans(h.to(w.dtype)), acc, input_precision=DOT_PREC)
    ptrs = out_ptr + offs_m[None, :] * stride_om + offs_n[:, None] * stride_on
    ok = (offs_m[None, :] < M) & (offs_n[:, None] < N)
    if SPLIT_A == 1:
        tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=ok)
    else:
        tl.atomic_add(ptrs, acc, mask=ok, sem="relaxed")


@dataclass(frozen=True)
class GatherConfig:
    block_rows: int  # BLOCK_A (gather kernel) or BLOCK_N (accumulate kernel)
    block_m: int
    block_k: int  # BLOCK_K (gather) or BLOCK_A (accumulate)
    split: int
    num_warps: int = 4
    num_stages: int = 4


def gather_config(m: int, rows: int, k: int, device: torch.device | str, sms: int | None = None) -> GatherConfig:
    """Hopper tiles: the widest row tile (64/32/16) giving >= 1.5 CTAs an SM, else split the reduction
    (fp32 atomics into a zero-filled buffer: one extra launch); tiny tiles under the interpreter."""
    if sms is None and torch.device(device).type != "cuda":
        return GatherConfig(32, 16 if m <= 16 else 32, 64, 1)
    sms = sms or num_sms(device)
    bm = 16 if m <= 16 else (32 if m <= 32 else 64)
    m_tiles, target = triton.cdiv(m, bm), 3 * sms // 2
    br = next((b for b in (64, 32) if triton.cdiv(rows, b) * m_tiles >= target), 16)
    bk = 256 if br == 16 else 128
    programs = triton.cdiv(rows, br) * m_tiles
    return GatherConfig(br, bm, bk, split_for(programs, triton.cdiv(k, bk), target))


def _check_x(x: torch.Tensor, h: int, w: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] != h:
        raise InputError(f"activations must be (..., {h}), got {tuple(getattr(x, 'shape', ()))}")
    if x.dtype != w.dtype or x.device != w.device:
        raise InputError(f"activations are {x.dtype} on {x.device}; weights are {w.dtype} on {w.device}")
    if not can_run_triton(x.device):
        raise InputError("the contextual-sparsity kernels need a CUDA device or TRITON_INTERPRET=1")
    dtype_name(x.dtype, WHO)
    return x.reshape(-1, h)


def gather_rows_matmul(x: torch.Tensor, w1: torch.Tensor, active: ActiveSet, w2: torch.Tensor | None = None,
                       rows_per_index: int = 1, config: GatherConfig | None = None) -> torch.Tensor:
    """x (M, K) against the active rows of w1 (and w2): (M, A*R) in x's dtype, or (2, M, A*R) fp32 if w2."""
    m, k = x.shape
    a = active.count * rows_per_index
    cfg = config or gather_config(m, a, k, x.device)
    gated = w2 is not None
    if gated or cfg.split > 1:
        alloc = torch.zeros if cfg.split > 1 else torch.empty
        out = alloc(2 if gated else 1, m, a, dtype=torch.float32, device=x.device)
    else:
        out = torch.empty(1, m, a, dtype=x.dtype, device=x.device)
    grid = (triton.cdiv(a, cfg.block_rows), triton.cdiv(m, cfg.block_m), cfg.split)
    w2_ = w2 if gated else w1
    _gather_rows_kernel[grid](
        x, w1, w2_, active.idx, out, m, a, k, x.stride(0), x.stride(1), w1.stride(0), w2_.stride(0),
        out.stride(0), out.stride(1), ROWS_PER_INDEX=rows_per_index, GATED=gated, BLOCK_A=cfg.block_rows,
        BLOCK_M=cfg.block_m, BLOCK_K=cfg.block_k, SPLIT_K=cfg.split, DOT_PREC=dot_precision(x.dtype),
        num_warps=cfg.num_warps, num_stages=cfg.num_stages)
    return out if gated else out[0].to(x.dtype)


def gather_rows_accumulate(h: torch.Tensor, wt: torch.Tensor, active: ActiveSet, gated: bool,
                           rows_per_index: int = 1, config: GatherConfig | None = None) -> torch.Tensor:
    """y (M, N) = h (M, A*R) @ wt[active rows] (A*R, N); gated: h = silu(h[0]) * h[1] from (2, M, A*R)."""
    hh = h if gated else h[None]  # (P, M, A)
    m, a, n = hh.shape[1], hh.shape[2], wt.shape[1]
    cfg = config or gather_config(m, n, a, wt.device)
    out = (torch.zeros(m, n, dtype=torch.float32, device=wt.device) if cfg.split > 1
           else torch.empty(m, n, dtype=wt.dtype, device=wt.device))
    grid = (triton.cdiv(n, cfg.block_rows), triton.cdiv(m, cfg.block_m), cfg.split)
    _gather_rows_acc_kernel[grid](
        hh, wt, active.idx, out, m, a, n, hh.stride(0), hh.stride(1), wt.stride(0), out.stride(0),
        out.stride(1), ROWS_PER_INDEX=rows_per_index, GATED=gated, BLOCK_N=cfg.block_rows,
        BLOCK_M=cfg.block_m, BLOCK_A=cfg.block_k, SPLIT_A=cfg.split, DOT_PREC=dot_precision(wt.dtype),
        num_warps=cfg.num_warps, num_stages=cfg.num_stages)
    return out.to(wt.dtype)


# ---------------------------------------------------------------------------------------------- MLP / heads
@dataclass(frozen=True)
class GatedMLP:
    """Llama MLP weights, neuron-major: w_gate, w_up, w_down_t all (I, H), contiguous."""

    w_gate: torch.Tensor
    w_up: torch.Tensor
    w_down_t: torch.Tensor

    @classmethod
    def from_linear(cls, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> GatedMLP:
        """From nn.Linear layouts: gate/up (I, H), down (H, I)."""
        if w_gate.shape != w_up.shape or w_down.shape != w_gate.shape[::-1]:
            raise InputError(f"MLP shapes disagree: gate {tuple(w_gate.shape)}, up {tuple(w_up.shape)}, "
                             f"down {tuple(w_down.shape)} (want (I, H), (I, H), (H, I))")
        return cls(w_gate.contiguous(), w_up.contiguous(), w_down.t().contiguous())

    @property
    def hidden(self) -> int:
        return self.w_gate.shape[1]

    @property
    def intermediate(self) -> int:
        return self.w_gate.shape[0]


def contextual_mlp(x: torch.Tensor, mlp: GatedMLP, active: ActiveSet | Any) -> torch.Tensor:
    """down(silu(gate(x)) * up(x)) over the active neurons only. x: (..., H) -> (..., H)."""
    act = active_set(active, mlp.intermediate, mlp.w_gate.device)
    x2 = _check_x(x, mlp.hidden, mlp.w_gate)
    pre = gather_rows_matmul(x2, mlp.w_gate, act, w2=mlp.w_up)  # (2, M, A) fp32
    return gather_rows_accumulate(pre, mlp.w_down_t, act, gated=True).reshape(x.shape)


def _head_rows(w: torch.Tensor, head_dim: int, what: str) -> int:
    if head_dim < 1 or w.dim() != 2 or w.shape[0] % head_dim:
        raise InputError(f"{what} must be (n_heads*head_dim, ...) with head_dim={head_dim}, got {tuple(w.shape)}")
    return w.shape[0] // head_dim


def head_sparse_proj(x: torch.Tensor, w: torch.Tensor, heads: ActiveSet | Any, head_dim: int) -> torch.Tensor:
    """q/k/v projection for the active heads only: x (M, H), w (n_heads*D, H) -> (M, A*D), heads in order."""
    act = active_set(heads, _head_rows(w, head_dim, "projection weight"), w.device)
    x2 = _check_x(x, w.shape[1], w)
    return gather_rows_matmul(x2, w.contiguous(), act, rows_per_index=head_dim)


def head_sparse_out_proj(o: torch.Tensor, wo_t: torch.Tensor, heads: ActiveSet | Any, head_dim: int) -> torch.Tensor:
    """o_proj over the active heads: o (M, A*D), wo_t = W_o^T (n_heads*D, H) -> (M, H)."""
    act = active_set(heads, _head_rows(wo_t, head_dim, "W_o^T"), wo_t.device)
    o2 = _check_x(o, act.count * head_dim, wo_t)
    return gather_rows_accumulate(o2, wo_t.contiguous(), act, gated=False, rows_per_index=head_dim)


# ---------------------------------------------------------------------------------------------- references
def reference_mlp(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor,
                  active: ActiveSet) -> torch.Tensor:
    """Dense MLP (nn.Linear layouts) in fp32 with the inactive neurons zeroed, rounded to x's dtype."""
    mask = torch.zeros(w_gate.shape[0], device=x.device)
    mask[active.idx.long()] = 1.0
    xf = x.float()
    h = F.silu(xf @ w_gate.float().T) * (xf @ w_up.float().T) * mask
    return (h @ w_down.float().T).to(x.dtype)


def reference_head_proj(x: torch.Tensor, w: torch.Tensor, heads: ActiveSet, head_dim: int) -> torch.Tensor:
    full = (x.float() @ w.float().T).reshape(x.shape[0], -1, head_dim)  # (M, n_heads, D)
    return full[:, heads.idx.long()].reshape(x.shape[0], -1).to(x.dtype)


def reference_head_out_proj(o: torch.Tensor, wo_t: torch.Tensor, heads: ActiveSet, head_dim: int) -> torch.Tensor:
    """Dense o_proj with the inactive heads' outputs zeroed."""
    full = torch.zeros(o.shape[0], wo_t.shape[0] // head_dim, head_dim, device=o.device)
    full[:, heads.idx.long()] = o.float().reshape(o.shape[0], -1, head_dim)
    return (full.reshape(o.shape[0], -1) @ wo_t.float()).to(o.dtype)


# ---------------------------------------------------------------------------------------------- predictor
@dataclass(frozen=True)
class LowRankPredictor:
    """Deja Vu-style neuron predictor: scores = (x @ w1) @ w2, rank r << H. fp32."""

    w1: torch.Tensor  # (H, r)
    w2: torch.Tensor  # (r, I)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() @ self.w1) @ self.w2

    def active(self, x: torch.Tensor, fraction: float) -> ActiveSet:
        """The union over the batch of each token's top ``fraction`` neurons."""
        return union_active(topk_active(self.scores(x.reshape(-1, self.w1.shape[0])), fraction), self.w2.shape[1])


def train_predictor(w_gate: torch.Tensor, w_up: torch.Tensor, x: torch.Tensor, fraction: float, rank: int = 16,
                    steps: int = 200, lr: float = 1e-2, seed: int = 0) -> LowRankPredictor:
    """Fit the predictor to label each token's top-``fraction`` |silu(gate)*up| neurons (BCE, Adam)."""
    g = torch.Generator().manual_seed(seed)
    xf = x.float().reshape(-1, w_gate.shape[1]).cpu()
    with torch.no_grad():
        act = (F.silu(xf @ w_gate.float().cpu().T) * (xf @ w_up.float().cpu().T)).abs()
        labels = torch.zeros_like(act).scatter_(1, topk_active(act, fraction), 1.0)
    h, i = w_gate.shape[1], w_gate.shape[0]
    w1 = (torch.randn(h, rank, generator=g) * h ** -0.5).requires_grad_()
    w2 = (torch.randn(rank, i, generator=g) * rank ** -0.5).requires_grad_()
    bias = torch.zeros(i, requires_grad=True)
    opt = torch.optim.Adam([w1, w2, bias], lr=lr)
    pos_weight = torch.tensor((1 - fraction) / fraction)  # balance the rare positives
    for _ in range(steps):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits((xf @ w1) @ w2 + bias, labels, pos_weight=pos_weight)
        loss.backward()
        opt.step()
    return LowRankPredictor(w1.detach(), w2.detach())


# ---------------------------------------------------------------------------------------------- cost
def contextual_mlp_cost(m: int, hidden: int, active: int, dtype: str, split_up: int = 1,
                        split_down: int = 1) -> list[Op]:
    """Ops of contextual_mlp for M tokens and A active neurons (the batch union)."""
    e = torch.empty((), dtype=torch_dtype(dtype, who=WHO)).element_size()
    pre = 2 * m * active * 4  # fp32 gate/up pre-activations
    ops = [Op("contextual_up_gate", "mlp", 2 * 2 * m * active * hidden,
              2 * active * hidden * e + m * hidden * e + active * 4, pre, dtype),
           Op("contextual_down", "mlp", 2 * m * active * hidden + 5 * m * active,  # + silu*mul
              active * hidden * e + pre + active * 4, m * hidden * (e if split_down == 1 else 4), dtype)]
    if split_up > 1:
        ops.append(Op("contextual_zero", "elementwise", 0, 0, pre, dtype))
    if split_down > 1:
        ops += [Op("contextual_zero", "elementwise", 0, 0, m * hidden * 4, dtype),
                Op("contextual_cast", "elementwise", 0, m * hidden * 4, m * hidden * e, dtype)]
    return ops


def dense_mlp_cost(m: int, hidden: int, inter: int, dtype: str) -> list[Op]:
    """F.linear gate, up, silu, mul, F.linear down, in the model dtype."""
    e = torch.empty((), dtype=torch_dtype(dtype, who=WHO)).element_size()
    mi = m * inter * e
    return [Op("dense_up_gate", "mlp", 2 * 2 * m * inter * hidden, 2 * inter * hidden * e + 2 * m * hidden * e,
               2 * mi, dtype),
            Op("dense_silu_mul", "elementwise", 5 * m * inter, 3 * mi, 2 * mi, dtype),
            Op("dense_down", "mlp", 2 * m * inter * hidden, inter * hidden * e + mi, m * hidden * e, dtype)]


def predictor_cost(m: int, hidden: int, inter: int, rank: int) -> list[Op]:
    """The fp32 low-rank predictor (not in contextual_mlp's Ops; Deja Vu overlaps it with the layer before)."""
    return [Op("predictor", "mlp", 2 * m * rank * (hidden + inter), 4 * (rank * (hidden + inter) + m * hidden),
               4 * m * inter, "fp32")]


# ---------------------------------------------------------------------------------------------- bench
LLAMA_MLP = {"llama-3.1-8b": (4096, 14336), "llama-3.1-70b": (8192, 28672)}
BENCH_FRACTIONS = (0.05, 0.1, 0.25, 0.5)
BENCH_BATCHES = (1, 2, 4, 8, 16, 32)
BENCH_SHAPES = tuple({"model": model, "H": h, "I": i, "batch": b, "active": f}
                     for model, (h, i) in LLAMA_MLP.items() for f in BENCH_FRACTIONS for b in BENCH_BATCHES)
QUICK_SHAPES = ({"H": 64, "I": 96, "batch": 1, "active": 0.1}, {"H": 48, "I": 80, "batch": 5, "active": 0.25})


def prepare(shape: dict[str, Any], dtype: str, device: str) -> Any:
    """Bench: contextual MLP over the union of ``batch`` random per-token sets vs the dense MLP."""

    h, i, b, f = int(shape["H"]), int(shape["I"]), int(shape["batch"]), float(shape["active"])
    tdt = torch_dtype(dtype, who=WHO)
    gen = torch.Generator(device=device).manual_seed(0)

    def rand(*s: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*s, generator=gen, device=device) * scale).to(tdt)

    wg, wu, wd = rand(i, h, scale=h ** -0.5), rand(i, h, scale=h ** -0.5), rand(h, i, scale=i ** -0.5)
    x = rand(b, h)
    mlp = GatedMLP.from_linear(wg, wu, wd)
    k = max(1, round(f * i))  # each token's own active set; tokens independent (worst case for the union)
    per_token = torch.stack([torch.randperm(i, generator=gen, device=device)[:k] for _ in range(b)])
    act = union_active(per_token, i)
    up_cfg = gather_config(b, act.count, h, device)
    down_cfg = gather_config(b, h, act.count, device)
    impls = {"ours": lambda: contextual_mlp(x, mlp, act),
             "torch-dense-mlp": lambda: F.linear(F.silu(F.linear(x, wg)) * F.linear(x, wu), wd)}
    return Bench(kernel="contextual_mlp", shape={**shape, "active_union": act.count,
                                                  "union_fraction": act.fraction},
                 dtype=dtype, impls=impls, reference=lambda: reference_mlp(x, wg, wu, wd, act),
                 ops=contextual_mlp_cost(b, h, act.count, dtype, up_cfg.split, down_cfg.split),
                 rtol=RTOL[dtype], peer_ops={"torch-dense-mlp": dense_mlp_cost(b, h, i, dtype)},
                 checked={"ours"}, gpu_only=gpu_only(dtype))
