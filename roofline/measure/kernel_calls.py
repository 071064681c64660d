"""How to call each registered kernel's launcher on meta tensors for one benchmark shape, and what one
hot-loop iteration of each Triton function streams. Used by ``roofline.measure.inspect``.

A caller runs the real launcher (inside ``launches.recording``, so nothing runs) and returns the call's
declared cost (the kernel module's ``cost()`` Ops) and fills a context for the work descriptors (it
arrives holding ``sms``, the target's SM count). A work
descriptor gives, for one recorded launch, the unit ("weight" for linears, "kv_byte" for attention), the
units one CTA streams in one hot-loop iteration, and the hot-loop iterations summed over the grid.
torch is imported inside functions (cheap import).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from roofline.ops import Op


def _meta(shape, dtype):
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    return torch.empty(shape, dtype=dtype, device="meta")


def _tdt(dtype: str):
    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.common import TORCH_DTYPES

    return TORCH_DTYPES[dtype]


def call_w4a16(shape: dict, dtype: str, ctx: dict) -> list[Op]:
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.quant import w4a16

    m, k, n = shape["M"], shape["K"], shape["N"]
    group, sym = shape.get("group", 128), shape.get("sym", True)
    g = k if group == -1 else group
    zeros = None if sym else _meta((k // g, n), torch.uint8)
    w4a16.w4a16_linear(_meta((m, k), _tdt(dtype)), _meta((n, -(-k // w4a16.PER_WORD)), torch.int32).t(),
                       _meta((k // g, n), _tdt(dtype)), zeros, group=group)
    return w4a16.cost(m, k, n, group, sym, dtype, 2)


def call_ternary(shape: dict, dtype: str, ctx: dict) -> list[Op]:
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.quant import ternary

    m, k, n, group = shape["M"], shape["K"], shape["N"], shape.get("group", 0)
    (sg, sn), _ = ternary.scale_shape(k, n, group)
    ternary.ternary_linear(_meta((m, k), _tdt(dtype)), _meta((n, -(-k // ternary.PER_WORD)), torch.int32).t(),
                           _meta((sg, sn), _tdt(dtype)), group=group)
    return ternary.cost(m, k, n, group, dtype, 2)


def call_w8a8(shape: dict, dtype: str, ctx: dict) -> list[Op]:
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.quant import w8a8

    m, k, n = shape["M"], shape["K"], shape["N"]
    w8a8.w8a8_linear(_meta((m, k), torch.int8), _meta((m,), torch.float32), _meta((n, k), torch.int8),
                     _meta((n,), torch.float32), _tdt(dtype))
    return w8a8.cost(m, k, n, dtype)


def call_flash(shape: dict, dtype: str, ctx: dict) -> list[Op]:
    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.attention import flash

    B, H, Hkv, Sq, Sk, D, causal = flash._dims(shape)
    dt = _tdt(dtype)
    flash.flash_attention(_meta((B, H, Sq, D), dt), _meta((B, Hkv, Sk, D), dt), _meta((B, Hkv, Sk, D), dt),
                          causal=causal)
    return flash.cost(B, H, Hkv, Sq, Sk, D, causal, dtype)


def call_decode(shape: dict, dtype: str, ctx: dict) -> list[Op]:
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.attention import decode

    B, H, Hkv, L, D = shape["B"], shape["H"], shape["Hkv"], shape["L"], shape["D"]
    int8 = shape.get("kv_dtype") == "int8"
    dt = _tdt(dtype)
    kv = torch.int8 if int8 else dt
    scales = _meta((Hkv,), torch.float32) if int8 else None
    decode.decode_attention(_meta((B, H, D), dt), _meta((B, Hkv, L, D), kv), _meta((B, Hkv, L, D), kv), None,
                            scales, scales)
    splits = decode.split_count(B, Hkv, L, ctx["sms"])
    return decode.cost(B, H, Hkv, L, D, dtype, "int8" if int8 else None, splits)


def call_block_sparse(shape: dict, dtype: str, ctx: dict) -> list[Op]:

    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.attention import block_sparse

    B, H, Hkv, S, D = shape["B"], shape["H"], shape.get("Hkv", shape["H"]), shape["S"], shape["D"]
    g = torch.Generator().manual_seed(0)  # the mask needs q/k only through centroid scores: 1-wide heads
    mask = block_sparse.make_mask(shape, torch.randn(B, H, S, 1, generator=g), torch.randn(B, Hkv, S, 1, generator=g))
    kept = (mask.full_counts.long() + mask.part_counts.long()).expand(B, H, -1)
    ctx["kept_blocks"] = int(kept.sum())
    ops = block_sparse.cost(mask, B, H, Hkv, D, dtype)
    meta_mask = dataclasses.replace(mask, **{f.name: getattr(mask, f.name).to("meta")
                                             for f in dataclasses.fields(mask)
                                             if isinstance(getattr(mask, f.name), torch.Tensor)})
    dt = _tdt(dtype)
    block_sparse.block_sparse_attention(_meta((B, H, S, D), dt), _meta((B, Hkv, S, D), dt),
                                        _meta((B, Hkv, S, D), dt), meta_mask)
    return ops


def call_sparse24(shape: dict, dtype: str, ctx: dict) -> list[Op]:
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.sparse import semi_structured as ss

    m, n, k = shape["M"], shape["N"], shape["K"]
    dt = _tdt(dtype)
    sw = ss.Sparse24Weight(values=torch.empty(n, k // 2, dtype=dt), meta=torch.empty(n, -(-k // 32), dtype=torch.int32),
                           k=k)
    cfg = ss.triton_config(m, n, k, "cuda", sms=ctx["sms"])  # the decode path; larger M is timed on the GPU
    ss.sparse24_linear_triton(torch.empty(m, k, dtype=dt), sw, config=cfg)
    return ss.sparse24_cost(m, n, k, dtype, "triton", cfg.split_k)


def call_contextual(shape: dict, dtype: str, ctx: dict) -> list[Op]:
    # torch / triton imported here, not at the top: importing this module stays cheap
    import torch

    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.sparse import contextual as cx

    h, i, b, f = shape["H"], shape["I"], shape["batch"], shape["active"]
    a = max(1, round(i * cx.expected_union_fraction(max(1, round(f * i)) / i, b)))
    sms = ctx["sms"]
    up, down = cx.gather_config(b, a, h, "cuda", sms=sms), cx.gather_config(b, h, a, "cuda", sms=sms)
    dt = _tdt(dtype)
    act = cx.ActiveSet(torch.empty(a, dtype=torch.int32), i)
    w = torch.empty(i, h, dtype=dt)
    pre = cx.gather_rows_matmul(torch.empty(b, h, dtype=dt), w, act, w2=w, config=up)
    cx.gather_rows_accumulate(pre, w, act, gated=True, config=down)
    return cx.contextual_mlp_cost(b, h, a, dtype, up.split, down.split)


CALLERS: dict[str, Callable[[dict, str, dict], list[Op]]] = {
    "w4a16_linear": call_w4a16, "ternary_linear": call_ternary, "w8a8_linear": call_w8a8,
    "flash_attention": call_flash, "decode_attention": call_decode, "block_sparse_attention": call_block_sparse,
    "sparse24_linear": call_sparse24, "contextual_mlp": call_contextual,
}


def kernel_modules() -> list:
    """Every module holding launch sites or device checks of the kernels above."""
    # kernel modules import torch and triton at their top: loaded when inspected
    from kernels.attention import block_sparse, common, decode, flash
    from kernels.quant import lowbit, w8a8
    from kernels.sparse import contextual, semi_structured

    return [lowbit, w8a8, common, flash, decode, block_sparse, semi_structured, contextual]


# ------------------------------------------------------------------------------------- work descriptors
def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _elem(t: Any) -> int:
    return t.element_size()


def _lowbit(b: dict, ctx: dict) -> tuple[str, int, int]:
    e = 32 // b["BITS"]
    per = b["BLOCK_KP"] * e * b["BLOCK_N"]
    return "weight", per, _cdiv(b["KP"], b["BLOCK_KP"]) * _cdiv(b["N"], b["BLOCK_N"]) * _cdiv(b["M"], b["BLOCK_M"])


def _w8a8(b: dict, ctx: dict) -> tuple[str, int, int]:
    return ("weight", b["BLOCK_K"] * b["BLOCK_N"],
            _cdiv(b["K"], b["BLOCK_K"]) * _cdiv(b["M"], b["BLOCK_M"]) * _cdiv(b["N"], b["BLOCK_N"]))


def _sparse24(b: dict, ctx: dict) -> tuple[str, int, int]:
    return ("weight", b["BLOCK_N"] * b["BLOCK_K"],
            _cdiv(b["K"], b["BLOCK_K"]) * _cdiv(b["N"], b["BLOCK_N"]) * _cdiv(b["M"], b["BLOCK_M"]))


def _gather(b: dict, ctx: dict) -> tuple[str, int, int]:
    return ("weight", b["BLOCK_A"] * b["BLOCK_K"] * (2 if b["GATED"] else 1),
            _cdiv(b["K"], b["BLOCK_K"]) * _cdiv(b["A"], b["BLOCK_A"]) * _cdiv(b["M"], b["BLOCK_M"]))


def _gather_acc(b: dict, ctx: dict) -> tuple[str, int, int]:
    return ("weight", b["BLOCK_A"] * b["BLOCK_N"],
            _cdiv(b["A"], b["BLOCK_A"]) * _cdiv(b["N"], b["BLOCK_N"]) * _cdiv(b["M"], b["BLOCK_M"]))


def _decode(b: dict, ctx: dict) -> tuple[str, int, int]:
    bsz, hkv, L, d = b["K"].shape
    return "kv_byte", 2 * b["BLOCK_N"] * d * _elem(b["K"]), bsz * hkv * _cdiv(L, b["BLOCK_N"])


def _flash(b: dict, ctx: dict) -> tuple[str, int, int]:
    bsz, h, sq, d = b["Q"].shape
    sk = b["K"].shape[2]
    bm, bn = b["BLOCK_M"], b["BLOCK_N"]
    off = sk - sq
    tiles = sum(_cdiv(min(sk, (i + 1) * bm + off) if b["CAUSAL"] else sk, bn) for i in range(_cdiv(sq, bm)))
    return "kv_byte", 2 * bn * d * _elem(b["K"]), bsz * h * tiles


def _block_sparse(b: dict, ctx: dict) -> tuple[str, int, int]:
    d = b["K"].shape[3]
    return "kv_byte", 2 * b["BLOCK_N"] * d * _elem(b["K"]), ctx["kept_blocks"] * (b["KV_BLOCK"] // b["BLOCK_N"])


WORK: dict[str, Callable[[dict, dict], tuple[str, int, int]]] = {
    "_lowbit_splitk_kernel": _lowbit, "_lowbit_gemm_kernel": _lowbit, "_w8a8_kernel": _w8a8,
    "_sparse24_matmul_kernel": _sparse24, "_gather_rows_kernel": _gather, "_gather_rows_acc_kernel": _gather_acc,
    "_decode_split_kernel": _decode, "_flash_fwd_kernel": _flash, "_block_sparse_fwd_kernel": _block_sparse,
}


def shape_key(shape: dict) -> str:
    """A benchmark shape as one string, e.g. ``M=1,K=8192,N=8192,group=128`` (the order of the dict)."""
    return ",".join(f"{k}={v}" for k, v in shape.items())

