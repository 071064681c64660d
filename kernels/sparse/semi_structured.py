"""2:4 semi-structured sparse linear: y = x @ W^T where every group of 4 weights along K keeps at most 2.

Storage ("rw24", this module's own format) of a weight W of shape (N, K), K a multiple of 4:
- ``values`` (N, K/2), the weight dtype: the two kept values of each group of 4, in ascending column order.
  A group with fewer than 2 nonzeros keeps its nonzeros and then its lowest zero positions.
- ``meta`` (N, ceil(K/32)) int32: one 4-bit nibble a group, ``i0 | i1 << 2`` with i0 < i1 the kept columns
  (0..3) inside the group; group g of a row sits in bits [4*(g % 8), 4*(g % 8) + 4) of word g // 8.
  Unused nibbles of a last partial word are 0. That is 2 bits a kept value, as cuSPARSELt's metadata.
Bytes a weight (K % 32 == 0): e/2 + 1/8 for e bytes an element; fp16: 1.125 vs 2 dense = 1.78x fewer.

The Triton kernel streams values + meta. In decode (M <= 16) it feeds the tensor cores 32 position planes
(``planes.py``: plane (e, p) holds the weight at column 32 r + 4 e + p of every meta word r, picked from the
group's two kept values by its nibble; on CUDA by PRMTs on the packed pair) against the activations
gathered in the same permuted K order, so no dense tile is rebuilt; for M > 16 it rebuilds the dense tile
once a K step (the rebuild amortizes over the rows) and runs one dot. Triton has
no sparse MMA (mma.sp), so the FLOPs executed are dense: the win is bytes, i.e. in decode. For large M the
launcher times cuSPARSELt (through torch.sparse.to_sparse_semi_structured), decompress + cuBLAS and our
Triton kernel once per shape and keeps the fastest (``choose_path``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch.sparse import to_sparse_semi_structured

from kernels.common import (
    OUTPUT_RTOL,
    can_run_triton,
    dot_precision,
    dtype_name,
    gpu_only,
    interpreting,
    num_sms,
    torch_dtype,
)
from kernels.registry import Bench
from kernels.sparse._launch import split_for
from kernels.sparse.planes import plane_dot, plane_group, selector_table, split8
from roofline.errors import InputError
from roofline.ops import Op

WHO = "the sparse kernels"
# Accepted max |out - ref| / max |ref| vs the fp32 reference: kernels.common.OUTPUT_RTOL (fp32 accumulation,
# one output rounding), except fp32, whose split-K slices meet in fp32 atomics in no fixed order over
# K up to 8192: 1e-4 instead of 1e-5.
RTOL = {**OUTPUT_RTOL, "fp32": 1e-4}

DECODE_MAX_M = 16  # up to here the decode config (BLOCK_M=16, split-K) always runs our kernel


# ---------------------------------------------------------------------------------------------- format
@dataclass
class Sparse24Weight:
    """A 2:4 weight in the rw24 format (see the module docstring)."""

    values: torch.Tensor  # (N, K/2) kept values
    meta: torch.Tensor  # (N, ceil(K/32)) int32 nibbles
    k: int
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # peer-format copies

    @property
    def n(self) -> int:
        return self.values.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.k)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def nbytes(self) -> int:
        return self.values.numel() * self.values.element_size() + self.meta.numel() * 4


def _check_weight(w: torch.Tensor) -> torch.Tensor:
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        raise InputError(f"2:4 weight must be a 2-D (N, K) tensor, got {getattr(w, 'shape', type(w))}")
    if not w.is_floating_point():
        raise InputError(f"2:4 weight must be floating point, got {w.dtype}")
    if w.shape[1] % 4 or w.shape[0] == 0 or w.shape[1] == 0:
        raise InputError(f"2:4 weight needs K (dim 1) a positive multiple of 4, got shape {tuple(w.shape)}")
    dtype_name(w.dtype, WHO)
    return w


def mask_2_4(w: torch.Tensor) -> torch.Tensor:
    """Magnitude 2:4 mask: True on the 2 largest |w| of every group of 4 along K (ties: lower column)."""
    w = _check_weight(w)
    n, k = w.shape
    g = w.reshape(n, k // 4, 4).abs().float()  # (N, G, 4)
    keep = torch.argsort(g, dim=-1, descending=True, stable=True)[..., :2]
    mask = torch.zeros(g.shape, dtype=torch.bool, device=w.device)
    mask.scatter_(-1, keep, True)
    return mask.reshape(n, k)


def prune_2_4(w: torch.Tensor) -> torch.Tensor:
    """The weight with all but the 2 largest-magnitude values of every group of 4 along K zeroed."""
    return torch.where(mask_2_4(w), w, torch.zeros((), dtype=w.dtype, device=w.device))


def check_2_4(w: torch.Tensor) -> None:
    """Raise InputError naming the first group of 4 (row, columns) that holds more than 2 nonzeros."""
    w = _check_weight(w)
    n, k = w.shape
    cnt = (w.reshape(n, k // 4, 4) != 0).sum(-1)  # (N, G)
    bad = (cnt > 2).nonzero()
    if bad.numel():
        r, g = (int(v) for v in bad[0])
        raise InputError(
            f"weight is not 2:4 sparse: row {r}, columns {4 * g}..{4 * g + 3} hold {int(cnt[r, g])} nonzeros "
            f"({bad.shape[0]} such groups; at most 2 of every 4 along K); prune it first with prune_2_4")


def compress_2_4(w: torch.Tensor) -> Sparse24Weight:
    """Pack a 2:4-sparse (N, K) weight into values + 2-bit metadata; refuses a weight that is not 2:4."""
    check_2_4(w)
    n, k = w.shape
    g = w.reshape(n, k // 4, 4)  # (N, G, 4)
    pos = torch.arange(4, device=w.device)
    score = (g != 0).to(torch.int32) * 4 + (3 - pos)  # nonzeros first, then the lowest columns
    idx = torch.argsort(score, dim=-1, descending=True)[..., :2].sort(dim=-1).values  # (N, G, 2), i0 < i1
    values = g.gather(-1, idx).reshape(n, k // 2).contiguous()
    nib = (idx[..., 0] | (idx[..., 1] << 2)).to(torch.int64)  # (N, G)
    n_words = -(-(k // 4) // 8)
    nib = F.pad(nib, (0, n_words * 8 - k // 4)).reshape(n, n_words, 8)
    words = (nib << (4 * torch.arange(8, device=w.device))).sum(-1)  # (N, W) in [0, 2^32)
    words = torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)
    return Sparse24Weight(values=values, meta=words.contiguous(), k=k)


def _unpack_indices(sw: Sparse24Weight) -> torch.Tensor:
    """(N, K/4, 2) int64 kept columns inside each group, from the nibbles."""
    shifts = 4 * torch.arange(8, device=sw.device, dtype=torch.int32)
    nib = ((sw.meta[..., None] >> shifts) & 0xF).reshape(sw.n, -1)[:, : sw.k // 4].to(torch.int64)
    return torch.stack([nib & 3, nib >> 2], dim=-1)


def decompress_2_4(sw: Sparse24Weight) -> torch.Tensor:
    """The dense (N, K) weight back from rw24 (plain torch; exact)."""
    dense = torch.zeros(sw.n, sw.k // 4, 4, dtype=sw.dtype, device=sw.device)
    dense.scatter_(-1, _unpack_indices(sw), sw.values.reshape(sw.n, sw.k // 4, 2))
    return dense.reshape(sw.n, sw.k)


# ---------------------------------------------------------------------------------------------- Triton
@triton.jit
def _dense_tile(v, meta, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """(BLOCK_N, BLOCK_K/2) kept values + (BLOCK_N, BLOCK_K/32) meta words -> dense (BLOCK_N, BLOCK_K)."""
    nib = (meta[:, :, None] >> (4 * tl.arange(0, 8))[None, None, :]) & 0xF  # (BN, BK/32, 8)
    nib = tl.reshape(nib, (BLOCK_N, BLOCK_K // 4))
    i0 = nib & 3
    i1 = (nib >> 2) & 3
    v0, v1 = tl.split(tl.reshape(v, (BLOCK_N, BLOCK_K // 4, 2)))  # (BN, BK/4) each
    p = tl.arange(0, 4)[None, None, :]
    w = tl.where(p == i0[:, :, None], v0[:, :, None], tl.where(p == i1[:, :, None], v1[:, :, None], 0.0))
    return tl.reshape(w, (BLOCK_N, BLOCK_K)).to(v.dtype)  # (BN, BK/4, 4) -> (BN, BK)


@triton.jit
def _load_packed(vals_ptr, meta_ptr, offs_n, k0, N, K, stride_vn, stride_mn,
                 BLOCK_K: tl.constexpr):
    offs_v = k0 // 2 + tl.arange(0, BLOCK_K // 2)
    offs_w = k0 // 32 + tl.arange(0, BLOCK_K // 32)
    n_ok = offs_n[:, None] < N
    v = tl.load(vals_ptr + offs_n[:, None] * stride_vn + offs_v[None, :],
                mask=n_ok & (offs_v[None, :] < K // 2), other=0.0)
    meta = tl.load(meta_ptr + offs_n[:, None] * stride_mn + offs_w[None, :],
                   mask=n_ok & (offs_w[None, :] < (K + 31) // 32), other=0)
    return v, meta


@triton.jit
def _sparse24_matmul_kernel(
    x_ptr, vals_ptr, words_ptr, meta_ptr, lut_ptr, out_ptr, M, N, K,
    stride_xm, stride_xk, stride_vn, stride_wn, stride_mn, stride_om, stride_on,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, SPLIT_K: tl.constexpr,
    DOT_PREC: tl.constexpr, EVEN: tl.constexpr, FAST: tl.constexpr, PLANES: tl.constexpr,
):
    # Per CTA: read BLOCK_N*(BLOCK_K/2) values + BLOCK_N*BLOCK_K/32 meta words + BLOCK_M*BLOCK_K activations
    # a K step; 2*BLOCK_M*BLOCK_N*BLOCK_K FLOPs as 32 dots, one a position plane (planes.py; the K order is
    # permuted the same way for x). SPLIT_K > 1: fp32 atomics.
    pid_n = tl.program_id(0)
    pid_m = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    n_ok = offs_n < N
    m_ok = offs_m < M
    r = tl.arange(0, BLOCK_K // 32)  # meta word of the K step
    dt = vals_ptr.dtype.element_ty
    k_tiles = tl.cdiv(K, BLOCK_K)
    per_split = tl.cdiv(k_tiles, SPLIT_K)
    t_end = tl.minimum((pid_k + 1) * per_split, k_tiles)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for t in range(pid_k * per_split, t_end):
        k0 = t * BLOCK_K
        if not PLANES:  # M > 16: rebuild the dense tile once and run one dot (the rebuild amortizes over M)
            v, mw = _load_packed(vals_ptr, meta_ptr, offs_n, k0, N, K, stride_vn, stride_mn, BLOCK_K)
            offs_k = k0 + tl.arange(0, BLOCK_K)
            x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk,
                        mask=m_ok[:, None] & (offs_k[None, :] < K), other=0.0)  # (BM, BK)
            acc = tl.dot(x, tl.trans(_dense_tile(v, mw, BLOCK_N, BLOCK_K)), acc, input_precision=DOT_PREC)
        else:
            mword = k0 // 32 + r
            m_ptrs = meta_ptr + offs_n[None, :] * stride_mn + mword[:, None]
            if EVEN:
                meta = tl.load(m_ptrs)  # (BLOCK_K/32, BLOCK_N)
            else:
                meta = tl.load(m_ptrs, mask=(mword < (K + 31) // 32)[:, None] & n_ok[None, :], other=0)
            if FAST:  # the value words of the step, (BLOCK_K/32, BLOCK_N, 8 slots): 32 contiguous bytes a row
                e8 = tl.arange(0, 8)
                gw = k0 // 4 + 8 * r[:, None, None] + e8[None, None, :]
                w_ptrs = words_ptr + offs_n[None, :, None] * stride_wn + gw
                if EVEN:
                    words = tl.load(w_ptrs)
                else:
                    words = tl.load(w_ptrs, mask=(gw < K // 4) & n_ok[None, :, None], other=0)
                wd = split8(words, BLOCK_K // 32, BLOCK_N)
            for e in tl.static_range(8):  # nibble slot e of every meta word: group 8 r + e of the step
                g = k0 // 4 + 8 * r + e
                word = wd[e] if FAST else meta
                w0, w1, w2, w3 = plane_group(vals_ptr, word, lut_ptr, meta, offs_n, g, n_ok, g < K // 4,
                                             stride_vn, e, dt, EVEN, FAST)
                kk = k0 + 32 * r + 4 * e  # column of position 0 of each group
                acc = plane_dot(acc, w0, x_ptr, offs_m, m_ok, kk, kk < K, stride_xm, stride_xk, EVEN, DOT_PREC)
                acc = plane_dot(acc, w1, x_ptr, offs_m, m_ok, kk + 1, kk < K, stride_xm, stride_xk, EVEN, DOT_PREC)
                acc = plane_dot(acc, w2, x_ptr, offs_m, m_ok, kk + 2, kk < K, stride_xm, stride_xk, EVEN, DOT_PREC)
                acc = plane_dot(acc, w3, x_ptr, offs_m, m_ok, kk + 3, kk < K, stride_xm, stride_xk, EVEN, DOT_PREC)
    out_ptrs = out_ptr + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on
    ok = m_ok[:, None] & n_ok[None, :]
    if SPLIT_K == 1:
        tl.store(out_ptrs, acc.to(out_ptr.dtype.element_ty), mask=ok)
    else:
        tl.atomic_add(out_ptrs, acc, mask=ok, sem="relaxed")


@triton.jit
def _sparse24_decompress_kernel(vals_ptr, meta_ptr, out_ptr, N, K, stride_vn, stride_mn, stride_on,
                                BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # read N*K/2 values + N*K/8 bytes meta; write N*K dense elements
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    k0 = tl.program_id(1) * BLOCK_K
    v, meta = _load_packed(vals_ptr, meta_ptr, offs_n, k0, N, K, stride_vn, stride_mn, BLOCK_K)
    w = _dense_tile(v, meta, BLOCK_N, BLOCK_K)
    offs_k = k0 + tl.arange(0, BLOCK_K)
    tl.store(out_ptr + offs_n[:, None] * stride_on + offs_k[None, :], w,
             mask=(offs_n[:, None] < N) & (offs_k[None, :] < K))


@dataclass(frozen=True)
class TritonConfig:
    block_m: int
    block_n: int
    block_k: int
    split_k: int
    num_warps: int = 4
    num_stages: int = 3


def triton_config(m: int, n: int, k: int, device: torch.device | str, sms: int | None = None) -> TritonConfig:
    """Tile sizes for Hopper (``sms`` SMs; queried from the device when None); small tiles off-GPU."""
    if sms is None and torch.device(device).type != "cuda":  # interpreter: slow per element, not per CTA
        return TritonConfig(16 if m <= 16 else 32, 32, 64, 1)
    sms = sms or num_sms(device)
    if m <= DECODE_MAX_M:
        # GEMV-like: the widest weight tile (64, else 32 rows) that still gives >= 1.5 CTAs an SM, so that the
        # weight streams from every SM without split-K (whose fp32 zero-fill + cast cost two extra launches);
        # split-K only where even 32-row tiles are too few (k/v projections). Never 16 rows: the activation
        # planes cost the same a K step whatever the tile, so 16-row tiles paid 14.6 instructions a dense
        # weight in the sm90 SASS against 5.6 at 32 and 4.2 at 64 rows. 512-column K steps: a plane spans
        # BLOCK_K / 32 columns and the MMA needs 16.
        bm, warps = 16, 4
        bn = 64 if triton.cdiv(n, 64) >= 3 * sms // 2 else 32
        bk, stages, target = 512, (3 if bn == 64 else 4), sms // 2  # 70 / 35 KB of shared memory
    elif m <= 64:
        bm, bn, bk, warps, stages, target = 64, 128, 64, 4, 4, sms
    else:
        bm, bn, bk, warps, stages, target = 128, 128, 64, 8, 3, sms
    programs = triton.cdiv(n, bn) * triton.cdiv(m, bm)
    return TritonConfig(bm, bn, bk, split_for(programs, triton.cdiv(k, bk), target), warps, stages)


def _check_input(x: torch.Tensor, sw: Sparse24Weight) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[-1] != sw.k:
        raise InputError(f"activations must be (..., K={sw.k}), got {tuple(getattr(x, 'shape', ()))}")
    if x.dtype != sw.dtype or x.device != sw.device:
        raise InputError(f"activations are {x.dtype} on {x.device}; the weight is {sw.dtype} on {sw.device}")
    return x.reshape(-1, sw.k)


MIN_COMPILED_BLOCK_K = 512
USE_FAST_PLANES = True  # the PRMT expansion on CUDA; False runs the portable selects (the GPU bit-exact test)
_LUTS: dict[str, torch.Tensor] = {}


def _selector_lut(device: torch.device) -> torch.Tensor:
    """planes.selector_table() as an int32 tensor on ``device`` (64 bytes, built once a device)."""
    if str(device) not in _LUTS:
        _LUTS[str(device)] = torch.tensor(selector_table(), dtype=torch.int32, device=device)
    return _LUTS[str(device)]


def sparse24_linear_triton(x: torch.Tensor, sw: Sparse24Weight, config: TritonConfig | None = None) -> torch.Tensor:
    """y = x @ W^T from rw24 with the decompress-on-load Triton kernel. x: (..., K) -> (..., N)."""
    x2 = _check_input(x, sw)
    m, n, k = x2.shape[0], sw.n, sw.k
    if not can_run_triton(x2.device):
        raise InputError("the Triton 2:4 kernel needs a CUDA device or TRITON_INTERPRET=1")
    cfg = config or triton_config(m, n, k, x2.device)
    if cfg.split_k > 1:
        out = torch.zeros(m, n, dtype=torch.float32, device=x2.device)
    else:
        out = torch.empty(m, n, dtype=x2.dtype, device=x2.device)
    if m:
        # decode (M <= 16) runs the position planes; a plane spans BLOCK_K / 32 columns and a compiled tl.dot
        # needs 16 of them, so 512-column K steps there
        planes = cfg.block_m <= DECODE_MAX_M
        bk = cfg.block_k if interpreting() or not planes else max(cfg.block_k, MIN_COMPILED_BLOCK_K)
        fast = USE_FAST_PLANES and planes and x2.dtype != torch.float32 and not interpreting()
        words = sw.values.view(torch.int32) if fast else sw.values  # (N, K/4): a group's two kept values
        grid = (triton.cdiv(n, cfg.block_n), triton.cdiv(m, cfg.block_m), cfg.split_k)
        _sparse24_matmul_kernel[grid](
            x2, sw.values, words, sw.meta, _selector_lut(x2.device), out, m, n, k,
            x2.stride(0), x2.stride(1), sw.values.stride(0), words.stride(0), sw.meta.stride(0), out.stride(0),
            out.stride(1), BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=bk, SPLIT_K=cfg.split_k,
            DOT_PREC=dot_precision(x2.dtype), EVEN=k % bk == 0 and n % cfg.block_n == 0, FAST=fast, PLANES=planes,
            num_warps=cfg.num_warps, num_stages=cfg.num_stages)
    return out.to(x.dtype).reshape(*x.shape[:-1], n)


def decompress_2_4_triton(sw: Sparse24Weight, block_n: int = 32, block_k: int = 128) -> torch.Tensor:
    """The dense (N, K) weight back from rw24 with one Triton pass (the 'dense' large-M path uses it)."""
    out = torch.empty(sw.n, sw.k, dtype=sw.dtype, device=sw.device)
    grid = (triton.cdiv(sw.n, block_n), triton.cdiv(sw.k, block_k))
    _sparse24_decompress_kernel[grid](sw.values, sw.meta, out, sw.n, sw.k, sw.values.stride(0),
                                      sw.meta.stride(0), out.stride(0), BLOCK_N=block_n, BLOCK_K=block_k)
    return out


# ---------------------------------------------------------------------------------------------- paths
def semi_structured_weight(sw: Sparse24Weight) -> torch.Tensor | None:
    """torch's SparseSemiStructuredTensor (cuSPARSELt, else CUTLASS) for sw, cached; None if unsupported."""
    if "torch" not in sw.cache:
        ws = None
        if sw.device.type == "cuda" and sw.dtype in (torch.float16, torch.bfloat16):
            try:

                ws = to_sparse_semi_structured(decompress_2_4(sw))
            except (RuntimeError, ImportError, ValueError):
                ws = None
        sw.cache["torch"] = ws
    return sw.cache["torch"]


def _run_path(path: str, x2: torch.Tensor, sw: Sparse24Weight) -> torch.Tensor:
    if path == "triton":
        return sparse24_linear_triton(x2, sw)
    if path == "cusparselt":
        return F.linear(x2, semi_structured_weight(sw))
    dense = decompress_2_4_triton(sw) if can_run_triton(x2.device) else decompress_2_4(sw)
    return F.linear(x2, dense)


_PATH_CACHE: dict[tuple, str] = {}


def available_paths(sw: Sparse24Weight) -> list[str]:
    paths = ["triton"] if can_run_triton(sw.device) else []
    paths.append("dense")
    if semi_structured_weight(sw) is not None:
        paths.append("cusparselt")
    return paths


def choose_path(m: int, sw: Sparse24Weight) -> str:
    """'triton' for decode; for larger M on CUDA the fastest of triton / dense / cusparselt, timed once."""
    if m <= DECODE_MAX_M and can_run_triton(sw.device):
        return "triton"
    if sw.device.type != "cuda":
        return "triton" if interpreting() else "dense"
    key = (1 << max(m - 1, 0).bit_length(), sw.n, sw.k, sw.dtype, sw.device.index)
    if key not in _PATH_CACHE:
        x = torch.randn(key[0], sw.k, dtype=sw.dtype, device=sw.device)
        times = {}
        for p in available_paths(sw):
            try:
                times[p] = _time_cuda(lambda p=p: _run_path(p, x, sw))
            except RuntimeError:  # e.g. a cuSPARSELt shape it refuses
                continue
        _PATH_CACHE[key] = min(times, key=times.get)
    return _PATH_CACHE[key]


def _time_cuda(fn, warmup: int = 3, reps: int = 10) -> float:
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        ts.append(start.elapsed_time(end))
    return sorted(ts)[len(ts) // 2] * 1e-3


def sparse24_linear(x: torch.Tensor, sw: Sparse24Weight, path: str = "auto") -> torch.Tensor:
    """y = x @ W^T for a rw24 weight. path: auto | triton | dense | cusparselt."""
    x2 = _check_input(x, sw)
    if path == "auto":
        path = choose_path(x2.shape[0], sw)
    elif path not in ("triton", "dense", "cusparselt"):
        raise InputError(f"unknown 2:4 path {path!r} (auto, triton, dense, cusparselt)")
    if path == "cusparselt" and semi_structured_weight(sw) is None:
        raise InputError("cuSPARSELt/CUTLASS 2:4 needs CUDA, fp16/bf16 and shapes torch accepts")
    return _run_path(path, x2, sw).reshape(*x.shape[:-1], sw.n)


def reference_linear(x: torch.Tensor, w_masked: torch.Tensor) -> torch.Tensor:
    """The reference: dense matmul of the masked weight, in fp32, rounded to x's dtype."""
    return (x.float() @ w_masked.float().T).to(x.dtype)


# ---------------------------------------------------------------------------------------------- cost
def packed_weight_bytes(n: int, k: int, elem_bytes: int) -> int:
    """rw24 bytes: N*K/2 values + 4 bytes a 32 columns of metadata (K/8 bytes a row when K % 32 == 0)."""
    return n * (k // 2) * elem_bytes + n * math.ceil(k / 32) * 4


def sparse24_cost(m: int, n: int, k: int, dtype: str, path: str = "triton", split_k: int = 1) -> list[Op]:
    """Ops of one y = x @ W^T call on ``path``; FLOPs are those executed (dense MMA for triton/dense)."""
    e = torch.empty((), dtype=torch_dtype(dtype, who=WHO)).element_size()
    act_read, out_write = m * k * e, m * n * e
    if path == "triton":
        ops = [Op("sparse24_matmul", "matmul", 2 * m * n * k, packed_weight_bytes(n, k, e) + act_read,
                  out_write if split_k == 1 else m * n * 4, dtype)]
        if split_k > 1:  # zero-fill the fp32 partials, then round them to the output dtype
            ops += [Op("sparse24_zero", "elementwise", 0, 0, m * n * 4, dtype),
                    Op("sparse24_cast", "elementwise", 0, m * n * 4, out_write, dtype)]
        return ops
    if path == "cusparselt":  # sparse tensor cores execute the kept half of the products
        return [Op("sparse24_cusparselt", "matmul", m * n * k, n * k // 2 * e + n * k // 8 + act_read,
                   out_write, dtype)]
    if path == "dense":
        return [Op("sparse24_decompress", "copy", 0, packed_weight_bytes(n, k, e), n * k * e, dtype),
                Op("sparse24_dense_matmul", "matmul", 2 * m * n * k, n * k * e + act_read, out_write, dtype)]
    raise InputError(f"unknown 2:4 path {path!r}")


def dense_linear_cost(m: int, n: int, k: int, dtype: str) -> list[Op]:
    e = torch.empty((), dtype=torch_dtype(dtype, who=WHO)).element_size()
    return [Op("dense_linear", "matmul", 2 * m * n * k, (n * k + m * k) * e, m * n * e, dtype)]


# ---------------------------------------------------------------------------------------------- bench
# Llama-3.1 projection shapes (N out, K in): q/o proj, k/v proj, gate/up, down.
LLAMA_SHAPES = {
    "llama-3.1-8b": {"qo": (4096, 4096), "kv": (1024, 4096), "up": (14336, 4096), "down": (4096, 14336)},
    "llama-3.1-70b": {"qo": (8192, 8192), "kv": (1024, 8192), "up": (28672, 8192), "down": (8192, 28672)},
}
BENCH_M = (1, 16, 64, 256, 4096)
BENCH_SHAPES = tuple(
    {"model": model, "layer": layer, "M": m, "N": n, "K": k}
    for model, layers in LLAMA_SHAPES.items() for layer, (n, k) in layers.items() if layer != "kv"
    for m in BENCH_M)
QUICK_SHAPES = ({"M": 1, "N": 48, "K": 128}, {"M": 17, "N": 40, "K": 96})


def prepare(shape: dict[str, Any], dtype: str, device: str) -> Any:
    """Bench for one (M, N, K): ours vs dense F.linear of the masked weight vs torch semi-structured."""

    m, n, k = int(shape["M"]), int(shape["N"]), int(shape["K"])
    tdt = torch_dtype(dtype, who=WHO)
    gen = torch.Generator(device=device).manual_seed(0)
    w = prune_2_4(torch.randn(n, k, generator=gen, device=device, dtype=torch.float32).to(tdt) * k ** -0.5)
    x = torch.randn(m, k, generator=gen, device=device, dtype=torch.float32).to(tdt)
    sw = compress_2_4(w)
    path = choose_path(m, sw)
    impls = {"ours": lambda: sparse24_linear(x, sw, path=path), "torch-dense-linear": lambda: F.linear(x, w)}
    peer_ops = {"torch-dense-linear": dense_linear_cost(m, n, k, dtype)}
    cpu_blocked = set() if path == "dense" else gpu_only(dtype)
    ws = semi_structured_weight(sw)
    if ws is not None:
        impls["torch-semi-structured"] = lambda: F.linear(x, ws)
        peer_ops["torch-semi-structured"] = sparse24_cost(m, n, k, dtype, path="cusparselt")
        cpu_blocked.add("torch-semi-structured")
    split = triton_config(m, n, k, device).split_k if path == "triton" else 1
    return Bench(kernel="sparse24_linear", shape={**shape, "path": path}, dtype=dtype, impls=impls,
                 reference=lambda: reference_linear(x, w), ops=sparse24_cost(m, n, k, dtype, path, split),
                 rtol=RTOL[dtype], peer_ops=peer_ops, checked=set(impls), gpu_only=cpu_blocked)
