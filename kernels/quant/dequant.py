"""Dequantizing packed low-bit codes two weights an instruction (the lesson behind the decode kernels).

A code tile ``p`` (int32, any 2-D shape) holds E = 32 // BITS code planes (``lowbit.py``: plane j is bits
BITS*j .. BITS*j+BITS-1). Byte b of every word holds planes PER_BYTE*b .. PER_BYTE*b + PER_BYTE - 1
(PER_BYTE = 8 // BITS). ``planes4`` / ``planes2`` return those planes of byte b as (q - z0) in fp16 / bf16,
exact small integers, where z0 is the constexpr zero folded into the conversion (8 for symmetric int4, 1
for ternary, 0 when the zero points are applied after the dot).

The fast path (FAST, CUDA only) is inline PTX on pairs of words (pack=2): PRMT gathers byte b of both words
into the low bytes of the two 16-bit halves of one register; one LOP3 a plane masks a code into a
mantissa and ORs in the exponent of a magic number (fp16 1024 = 0x6400, bf16 128 = 0x4300), so the half is
``magic + code * 2**shift``; one HSUB2/HFMA2 removes the magic (and the shift) and the zero, exactly. That is
1 PRMT + PER_BYTE x (LOP3 + HFMA2) for 2 * PER_BYTE weights: 1.25 instructions a weight at 4 bits in fp16,
1.125 at 2 bits (bf16 has a 7-bit mantissa, so the top code of a byte needs one shift first: 1.5 / 1.25),
against ~4 (shift, and, or, float subtract, convert) for one weight with plain ops. The portable path is the
same arithmetic with plain Triton ops (the interpreter runs it); both give the same bits (exact integers).
"""

from __future__ import annotations

import struct

import triton
import triton.language as tl

_F16_MAGIC, _BF16_MAGIC = 0x6400, 0x4300  # 1024.0 in fp16, 128.0 in bf16


def _half_bits(v: float, bf16: bool) -> int:
    """The 16-bit pattern of v in fp16 or bf16 (v exactly representable)."""
    if bf16:
        return struct.unpack("<I", struct.pack("<f", v))[0] >> 16
    return struct.unpack("<H", struct.pack("<e", v))[0]


def _pair(bits16: int) -> int:
    """Two copies of a 16-bit pattern in one int32 (signed, as Triton passes it)."""
    w = bits16 | bits16 << 16
    return w - (1 << 32) if w >= 1 << 31 else w


def _imm(bits16: int) -> str:
    """A 16-bit pattern twice, as a PTX hex immediate for an f16x2 / bf16x2 operand."""
    return f"0x{bits16:04x}{bits16:04x}"


def asm_planes(bits: int, zero: float, bf16: bool) -> tuple[str, str, str, str]:
    """PTX for byte b = 0..3 of a pair of words (operands: PER_BYTE outputs, then the two words): the
    byte's PER_BYTE planes as two halves (word 0 low, word 1 high) of q - zero each. Constants are
    immediates (through a mov for the f16x2 operands), so ptxas folds them into the LOP3 / HFMA2 encodings."""
    per_byte = 8 // bits
    magic = 0x4300 if bf16 else 0x6400
    mval = 128.0 if bf16 else 1024.0
    ftype = "bf16x2" if bf16 else "f16x2"
    code_mask = (1 << bits) - 1
    out = []
    for b in range(4):
        a0, a1 = f"${per_byte}", f"${per_byte + 1}"
        sel = b | b << 4 | (4 + b) << 8 | (4 + b) << 12  # byte b of word 0 -> bits 0-15, of word 1 -> 16-31
        lines = [f"prmt.b32 t, {a0}, {a1}, 0x{sel:04x};"]
        if bf16:
            lines.append(f"shr.b32 t2, t, {4 if bits == 4 else 2};")
        for t in range(per_byte):
            shift, src = bits * t, "t"
            if bf16 and shift + bits > 7:  # bit 7 of a bf16 half is the exponent's: take the code from t2
                shift, src = shift - (4 if bits == 4 else 2), "t2"
            mask = code_mask << shift
            lines.append(f"lop3.b32 v{t}, {src}, 0x{mask:04x}{mask:04x}, 0x{magic:04x}{magic:04x}, 0xea;")
            scale = 2.0 ** -shift
            bias = -(mval * scale + zero)  # (magic + code * 2**shift) * 2**-shift - (magic * 2**-shift + zero)
            lines += [f"mov.b32 c, {_imm(_half_bits(scale, bf16))};", f"mov.b32 d, {_imm(_half_bits(bias, bf16))};",
                      f"fma.rn.{ftype} ${t}, v{t}, c, d;"]
        regs = ", ".join(["t", "t2", "c", "d"] + [f"v{t}" for t in range(per_byte)])
        out.append("{\n.reg .b32 " + regs + ";\n" + "\n".join(lines) + "\n}")
    return tuple(out)


@triton.jit
def _plane(p, j: tl.constexpr, BITS: tl.constexpr, Z0: tl.constexpr, DTYPE: tl.constexpr):
    """Portable: plane j of p as q - Z0 in DTYPE (exact)."""
    q = (p >> (j * BITS)) & ((1 << BITS) - 1)
    return (q.to(tl.float32) - Z0).to(DTYPE)


@triton.jit
def _asm(p, ASM: tl.constexpr, PER_BYTE: tl.constexpr, DTYPE: tl.constexpr):
    if DTYPE == tl.bfloat16:
        if PER_BYTE == 2:
            return tl.inline_asm_elementwise(ASM, "=r,=r,r,r", [p], dtype=(tl.bfloat16, tl.bfloat16),
                                             is_pure=True, pack=2)
        else:
            return tl.inline_asm_elementwise(ASM, "=r,=r,=r,=r,r,r", [p], is_pure=True, pack=2,
                                             dtype=(tl.bfloat16, tl.bfloat16, tl.bfloat16, tl.bfloat16))
    else:
        if PER_BYTE == 2:
            return tl.inline_asm_elementwise(ASM, "=r,=r,r,r", [p], dtype=(tl.float16, tl.float16),
                                             is_pure=True, pack=2)
        else:
            return tl.inline_asm_elementwise(ASM, "=r,=r,=r,=r,r,r", [p], is_pure=True, pack=2,
                                             dtype=(tl.float16, tl.float16, tl.float16, tl.float16))


@triton.jit
def _asm_byte(p, b: tl.constexpr, ASM0: tl.constexpr, ASM1: tl.constexpr, ASM2: tl.constexpr,
              ASM3: tl.constexpr, PER_BYTE: tl.constexpr, DTYPE: tl.constexpr):
    if b == 0:
        return _asm(p, ASM0, PER_BYTE, DTYPE)
    elif b == 1:
        return _asm(p, ASM1, PER_BYTE, DTYPE)
    elif b == 2:
        return _asm(p, ASM2, PER_BYTE, DTYPE)
    else:
        return _asm(p, ASM3, PER_BYTE, DTYPE)


@triton.jit
def planes4(p, b: tl.constexpr, Z0: tl.constexpr, ASM0: tl.constexpr, ASM1: tl.constexpr, ASM2: tl.constexpr,
            ASM3: tl.constexpr, DTYPE: tl.constexpr, FAST: tl.constexpr):
    """Planes 2b and 2b+1 of 4-bit codes (byte b), as q - Z0 in DTYPE; ASMb = ``asm_planes(4, Z0, ...)[b]``."""
    if FAST:
        w0, w1 = _asm_byte(p, b, ASM0, ASM1, ASM2, ASM3, 2, DTYPE)
    else:
        w0 = _plane(p, 2 * b, 4, Z0, DTYPE)
        w1 = _plane(p, 2 * b + 1, 4, Z0, DTYPE)
    return w0, w1


@triton.jit
def planes2(p, b: tl.constexpr, Z0: tl.constexpr, ASM0: tl.constexpr, ASM1: tl.constexpr, ASM2: tl.constexpr,
            ASM3: tl.constexpr, DTYPE: tl.constexpr, FAST: tl.constexpr):
    """Planes 4b .. 4b+3 of 2-bit codes (byte b), as q - Z0 in DTYPE; ASMb = ``asm_planes(2, Z0, ...)[b]``."""
    if FAST:
        w0, w1, w2, w3 = _asm_byte(p, b, ASM0, ASM1, ASM2, ASM3, 4, DTYPE)
    else:
        w0 = _plane(p, 4 * b, 2, Z0, DTYPE)
        w1 = _plane(p, 4 * b + 1, 2, Z0, DTYPE)
        w2 = _plane(p, 4 * b + 2, 2, Z0, DTYPE)
        w3 = _plane(p, 4 * b + 3, 2, Z0, DTYPE)
    return w0, w1, w2, w3


@triton.jit
def scale_weights(w, s, FAST: tl.constexpr):
    """w * s in w's 16-bit dtype, rounded once (w exact small integers, so the product is exact before the
    rounding): mul.rn.f16x2 / bf16x2 on pairs on CUDA (FAST), the same value through fp32 otherwise."""
    if FAST:
        if w.dtype == tl.bfloat16:
            return tl.inline_asm_elementwise("mul.rn.bf16x2 $0, $1, $2;", "=r,r,r", [w, s], dtype=tl.bfloat16,
                                             is_pure=True, pack=2)
        else:
            return tl.inline_asm_elementwise("mul.rn.f16x2 $0, $1, $2;", "=r,r,r", [w, s], dtype=tl.float16,
                                             is_pure=True, pack=2)
    else:
        return (w.to(tl.float32) * s.to(tl.float32)).to(w.dtype)
