"""2:4 weights as position planes, the dense tile never built (the lesson behind the 2:4 decode kernel).

In rw24 (``semi_structured.py``) group g of a row keeps two values and a nibble i0 | i1 << 2 naming their
columns in the group. Take the (BLOCK_N) rows x (BLOCK_K) columns of a K step as 32 planes, one per
(nibble slot e of a meta word, position p in a group): plane (e, p) holds, for every meta word r of the
step, the weight at column 32 r + 4 e + p, i.e. the kept value whose index is p, else 0. A dot of plane
(e, p) with the activations at the same columns, summed over the 32 planes, is the dense product (the K
order is permuted the same way on both sides), and each plane lines up element for element with one meta
word and one value word (the group's two kept 16-bit values): no gather, no reshape.

Fast path (16-bit values, CUDA): per group, a 16-entry table turns the nibble into two PRMT selectors
that place v0 / v1 / zero in the four positions; two PRMTs expand the group, and two more re-pair the
positions of two neighbouring groups into the registers the MMA reads: 10 instructions for two groups
(8 dense weights) besides the nibble shift and the table load. The portable path (interpreter, fp32)
picks the same values with three compares and selects a group (both are exact: the same bits).
"""

from __future__ import annotations

import triton
import triton.language as tl

_V0, _V1, _Z = 0x10, 0x32, 0x44  # PRMT byte pairs of one 16-bit half: kept value 0, kept value 1, zero


def selector_table() -> list[int]:
    """The 16 nibbles -> int32 PRMT selectors: bits 0-15 place positions 0, 1 (the low pair), bits 16-31
    positions 2, 3; nibbles that cannot occur (i0 >= i1) select zeros."""
    out = []
    for nib in range(16):
        i0, i1 = nib & 3, nib >> 2
        codes = [_V0 if p == i0 and i0 < i1 else _V1 if p == i1 and i0 < i1 else _Z for p in range(4)]
        sel = codes[0] | codes[1] << 8 | codes[2] << 16 | codes[3] << 24
        out.append(sel - (1 << 32) if sel >= 1 << 31 else sel)
    return out


# Two groups (pack=2): $4 $5 the value words, $6 $7 their selectors -> $0..$3 the positions 0..3, each a
# pair of halves (group of element 0, group of element 1), as the MMA operand registers hold them.
_ASM = tl.constexpr("""{
.reg .b32 z, s, lo0, hi0, lo1, hi1;
mov.b32 z, 0;
prmt.b32 lo0, $4, z, $6;
shr.b32 s, $6, 16;
prmt.b32 hi0, $4, z, s;
prmt.b32 lo1, $5, z, $7;
shr.b32 s, $7, 16;
prmt.b32 hi1, $5, z, s;
prmt.b32 $0, lo0, lo1, 0x5410;
prmt.b32 $1, lo0, lo1, 0x7632;
prmt.b32 $2, hi0, hi1, 0x5410;
prmt.b32 $3, hi0, hi1, 0x7632;
}""")


@triton.jit
def split8(t, D0: tl.constexpr, D1: tl.constexpr):
    """(D0, D1, 8) -> the 8 (D0, D1) slices along the last dim (in-thread splits: no data movement)."""
    a, b = tl.split(tl.reshape(t, (D0, D1, 4, 2)))  # even / odd slots
    a0, a1 = tl.split(tl.reshape(a, (D0, D1, 2, 2)))  # slots 0, 4 / 2, 6
    b0, b1 = tl.split(tl.reshape(b, (D0, D1, 2, 2)))  # slots 1, 5 / 3, 7
    s0, s4 = tl.split(a0)
    s2, s6 = tl.split(a1)
    s1, s5 = tl.split(b0)
    s3, s7 = tl.split(b1)
    return s0, s1, s2, s3, s4, s5, s6, s7


@triton.jit
def plane_group(vals_ptr, word, lut_ptr, meta, offs_n, g, n_ok, g_ok, stride_vn,
                e: tl.constexpr, DTYPE: tl.constexpr, EVEN: tl.constexpr, FAST: tl.constexpr):
    """The four position planes of nibble slot e: (BLOCK_K/32, BLOCK_N) each, for groups g (BLOCK_K/32,)
    whose meta words are ``meta`` (BLOCK_K/32, BLOCK_N); FAST: ``word`` holds the groups' value words."""
    nib = (meta >> (4 * e)) & 15
    ok = g_ok[:, None] & n_ok[None, :]
    if FAST:
        sel = tl.load(lut_ptr + nib)
        if DTYPE == tl.bfloat16:
            w0, w1, w2, w3 = tl.inline_asm_elementwise(_ASM, "=r,=r,=r,=r,r,r,r,r", [word, sel], is_pure=True, pack=2,
                                                       dtype=(tl.bfloat16, tl.bfloat16, tl.bfloat16, tl.bfloat16))
        else:
            w0, w1, w2, w3 = tl.inline_asm_elementwise(_ASM, "=r,=r,=r,=r,r,r,r,r", [word, sel], is_pure=True, pack=2,
                                                       dtype=(tl.float16, tl.float16, tl.float16, tl.float16))
    else:
        v_ptrs = vals_ptr + offs_n[None, :] * stride_vn + 2 * g[:, None]
        if EVEN:
            v0 = tl.load(v_ptrs)
            v1 = tl.load(v_ptrs + 1)
        else:
            v0 = tl.load(v_ptrs, mask=ok, other=0.0)
            v1 = tl.load(v_ptrs + 1, mask=ok, other=0.0)
        i0 = nib & 3  # kept columns i0 < i1: i0 is never 3, i1 never 0
        i1 = nib >> 2
        zero = tl.zeros_like(v0)
        w0 = tl.where(i0 == 0, v0, zero)
        w1 = tl.where(i0 == 1, v0, tl.where(i1 == 1, v1, zero))
        w2 = tl.where(i1 == 2, v1, tl.where(i0 == 2, v0, zero))
        w3 = tl.where(i1 == 3, v1, zero)
    return w0, w1, w2, w3


@triton.jit
def plane_dot(acc, w, x_ptr, offs_m, m_ok, k, k_ok, stride_xm, stride_xk, EVEN: tl.constexpr,
              DOT_PREC: tl.constexpr):
    """acc (BLOCK_M, BLOCK_N) += x at columns k (BLOCK_K/32,) times one plane (BLOCK_K/32, BLOCK_N)."""
    x_ptrs = x_ptr + offs_m[:, None] * stride_xm + k[None, :] * stride_xk
    if EVEN:
        x = tl.load(x_ptrs, mask=m_ok[:, None], other=0.0)
    else:
        x = tl.load(x_ptrs, mask=m_ok[:, None] & k_ok[None, :], other=0.0)
    return tl.dot(x, w, acc, input_precision=DOT_PREC)


