"""Shared pieces of the attention kernels: input checks, dtype names, the chunked fp32 reference.

Layout everywhere is SDPA's: q (B, H, Sq, D), k/v (B, Hkv, Sk, D); query head h reads kv head
h // (H // Hkv) (GQA). Causal masks are aligned bottom-right (FlashAttention-2 convention): query row i
sees keys j <= i + (Sk - Sq); with Sq == Sk this is SDPA's ``is_causal``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from kernels.common import DTYPE_NAMES, check_runnable, num_sms, torch_dtype
from kernels.common import dtype_name as _dtype_name
from roofline.errors import InputError

LOG2E = 1.4426950408889634  # softmax runs in base 2: exp(x) = exp2(x * log2(e))
LN2 = 0.6931471805599453
HEAD_DIMS = (16, 32, 64, 128)  # issue: 64 and 128; 16/32 come free (tl.dot needs K >= 16)
REF_CHUNK_BYTES = 512 * 2**20  # fp32 score rows the reference materializes at once



def dtype_name(t: torch.Tensor) -> str:
    return _dtype_name(t.dtype, "the attention kernels")




def check_device(*ts: torch.Tensor) -> None:
    dev = ts[0].device
    if any(t.device != dev for t in ts):
        raise InputError(f"tensors on different devices: {sorted({str(t.device) for t in ts})}")
    check_runnable(dev, "the attention kernels")


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_rank: int = 4) -> tuple[int, int]:
    """Validate dtypes, head dim and GQA shapes; returns (H, Hkv). k/v are (B, Hkv, S, D)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() != (q_rank if name == "q" else 4):
            raise InputError(f"{name} must have {q_rank if name == 'q' else 4} dims, got shape {tuple(t.shape)}")
    if q.dtype not in DTYPE_NAMES:
        raise InputError(f"q dtype {q.dtype} unsupported (fp16, bf16; fp32 for tests)")
    if k.shape != v.shape:
        raise InputError(f"k {tuple(k.shape)} and v {tuple(v.shape)} must have the same shape")
    D = q.shape[-1]
    if D not in HEAD_DIMS:
        raise InputError(f"head dim {D} unsupported (supported: {', '.join(map(str, HEAD_DIMS))})")
    if k.shape[-1] != D:
        raise InputError(f"k/v head dim {k.shape[-1]} != q head dim {D}")
    if k.shape[0] != q.shape[0]:
        raise InputError(f"batch mismatch: q {q.shape[0]}, k/v {k.shape[0]}")
    H, Hkv = q.shape[1], k.shape[1]
    if Hkv < 1 or H % Hkv:
        raise InputError(f"kv heads ({Hkv}) must divide q heads ({H})")
    if k.shape[2] < 1:
        raise InputError("k/v sequence length must be >= 1")
    check_device(q, k, v)
    return H, Hkv


def last_dim_contiguous(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


def masked_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sm_scale: float,
                     mask_rows: Callable[[int, int], torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit fp32 softmax(q kᵀ · scale) v, in query-row chunks so long sequences fit in memory.

    ``mask_rows(r0, r1)`` returns a bool keep-mask broadcastable to (B, H, r1 - r0, Sk), or None.
    Rows that keep no key give output 0 and LSE -inf. Returns (out in q's dtype, lse fp32 (B, H, Sq)).
    """
    B, H, Sq, D = q.shape
    Hkv, Sk = k.shape[1], k.shape[2]
    kf = k.float().repeat_interleave(H // Hkv, dim=1)  # (B, H, Sk, D)
    vf = v.float().repeat_interleave(H // Hkv, dim=1)
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    lse = torch.empty((B, H, Sq), dtype=torch.float32, device=q.device)
    rows = max(1, REF_CHUNK_BYTES // (4 * B * H * Sk))
    for r0 in range(0, Sq, rows):
        r1 = min(Sq, r0 + rows)
        s = torch.matmul(q[:, :, r0:r1].float(), kf.transpose(-1, -2)) * sm_scale  # (B, H, r, Sk)
        keep = mask_rows(r0, r1)
        if keep is not None:
            s = s.masked_fill(~keep, float("-inf"))
        row_lse = torch.logsumexp(s, dim=-1)  # (B, H, r); -inf where nothing is kept
        p = torch.exp(s - row_lse.clamp_min(torch.finfo(torch.float32).min)[..., None])
        p = torch.nan_to_num(p, nan=0.0)
        out[:, :, r0:r1] = torch.matmul(p, vf).to(q.dtype)
        lse[:, :, r0:r1] = row_lse
    return out, lse


def causal_keep(r0: int, r1: int, Sq: int, Sk: int, device: torch.device) -> torch.Tensor:
    """Bottom-right causal keep-mask for rows r0..r1: (r1 - r0, Sk)."""
    i = torch.arange(r0, r1, device=device)[:, None]
    j = torch.arange(Sk, device=device)[None, :]
    return j <= i + (Sk - Sq)


def default_scale(D: int, sm_scale: float | None) -> float:
    """1/√D unless given; must be > 0 (the kernels take the row max before scaling)."""
    if sm_scale is not None and not sm_scale > 0:
        raise InputError(f"sm_scale must be > 0, got {sm_scale}")
    return 1.0 / math.sqrt(D) if sm_scale is None else float(sm_scale)


def cuda_sm_count(device: torch.device) -> int:
    """Streaming multiprocessors of the device (a nominal 4 on the CPU interpreter)."""
    return num_sms(device, off_gpu=4)


def make_qkv(shape: dict, dtype: str, device: str, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Fresh random (q, k, v) for a benchmark shape dict with B, H, Hkv, Sq/S, Sk/S, D."""
    g = torch.Generator(device=device).manual_seed(seed)
    B, H, D = shape["B"], shape["H"], shape["D"]
    Hkv = shape.get("Hkv", H)
    Sq = shape.get("Sq", shape.get("S"))
    Sk = shape.get("Sk", Sq)
    dt = torch_dtype(dtype)
    q = torch.randn((B, H, Sq, D), generator=g, device=device, dtype=dt)
    k = torch.randn((B, Hkv, Sk, D), generator=g, device=device, dtype=dt)
    v = torch.randn((B, Hkv, Sk, D), generator=g, device=device, dtype=dt)
    return q, k, v


def rtol_for(dtype: str) -> float:
    """Accepted max-relative error vs the fp32 reference: P is rounded to the input dtype before P·V
    (8 mantissa bits in bf16, 11 in fp16), and outputs are averages of O(1) values."""
    return {"fp32": 1e-3, "fp16": 1e-2, "bf16": 3e-2}[dtype]


def sdpa_peer(q, k, v, causal: bool, backend: str, decode: bool = False) -> Callable[[], tuple[torch.Tensor]]:
    """A zero-argument SDPA call pinned to one backend (FLASH_ATTENTION, CUDNN_ATTENTION, ...), returning
    a 1-tuple shaped like our output so the profiler's informative error compares like with like.
    ``decode``: q is (B, H, D) and the call runs it as (B, H, 1, D)."""

    be = getattr(SDPBackend, backend)
    gqa = q.shape[1] != k.shape[1]
    q4 = q[:, :, None, :] if decode else q

    def call() -> tuple[torch.Tensor]:
        with sdpa_kernel(be):
            out = F.scaled_dot_product_attention(q4, k, v, is_causal=causal, enable_gqa=gqa)
        return (out[:, :, 0] if decode else out,)

    return call
