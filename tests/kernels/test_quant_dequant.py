"""The inline-PTX dequantization (kernels/quant/dequant.py) against the portable path.

The interpreter cannot run inline PTX, so on the CPU the generated PTX is executed by a tiny emulator of the
five instructions it uses (prmt, shr, lop3 (a & b) | c, mov, fma.rn on f16x2 / bf16x2) for every code
value and both words of a pair: each half must equal q - zero exactly, as the portable path computes. On a
GPU (TRITON_INTERPRET=0) the whole linears are compared, fast path vs portable path, bit for bit.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from ptx_emulator import halves as _halves  # noqa: E402
from ptx_emulator import run_ptx  # noqa: E402

from kernels.quant import dequant, lowbit, ternary, w4a16  # noqa: E402

DEV = "cuda" if os.environ["TRITON_INTERPRET"] != "1" and torch.cuda.is_available() else "cpu"
ON_GPU = pytest.mark.skipif(DEV != "cuda", reason="GPU only: the fast path is inline PTX, which the Triton "
                                                  "interpreter cannot run; run with TRITON_INTERPRET=0 on a GPU")


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("bits,zero", [(4, 8.0), (4, 0.0), (2, 1.0), (2, 0.0)])
def test_ptx_planes_are_the_codes_minus_zero(bits, zero, bf16):
    per_byte = 8 // bits
    asms = dequant.asm_planes(bits, zero, bf16)
    assert len(asms) == 4
    for b, asm in enumerate(asms):
        for code_byte in range(256):  # every code pattern of byte b; word 1 holds the byte's complement
            w0, w1 = code_byte << 8 * b, (255 - code_byte) << 8 * b
            outs = run_ptx(asm, per_byte, w0, w1)
            for t, o in enumerate(outs):
                plane = per_byte * b + t
                q0 = (w0 >> bits * plane) & ((1 << bits) - 1)
                q1 = (w1 >> bits * plane) & ((1 << bits) - 1)
                assert _halves(o, bf16) == (q0 - zero, q1 - zero), (b, code_byte, t)


def test_ptx_is_two_weights_an_instruction():
    """Instructions a byte (mov of a constant folds into the HFMA2 encoding): 4-bit fp16 1 PRMT + 2 x (LOP3 +
    HFMA2) for 4 weights; bf16 one SHF more; 2-bit fp16 1 + 4 x 2 for 8 weights."""
    def count(asm):
        return sum(1 for ln in asm.splitlines() if ln.split(None, 1)[0] in ("prmt.b32", "shr.b32", "lop3.b32",
                                                                             "fma.rn.f16x2", "fma.rn.bf16x2"))
    assert count(dequant.asm_planes(4, 8.0, False)[0]) == 5
    assert count(dequant.asm_planes(4, 8.0, True)[0]) == 6
    assert count(dequant.asm_planes(2, 1.0, False)[0]) == 9
    assert count(dequant.asm_planes(2, 1.0, True)[0]) == 10


@ON_GPU
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("m", [1, 5, 16, 64])
@pytest.mark.parametrize("sym", [True, False])
def test_fast_path_matches_portable_bit_for_bit_w4a16(m, sym, dtype, monkeypatch):
    g = torch.Generator(device="cuda").manual_seed(m)
    x = torch.randn(m, 4096, generator=g, device="cuda", dtype=dtype)
    w = torch.randn(4096, 4096, generator=g, device="cuda") / 64
    qw, s, z = w4a16.quantize(w, 128, sym, scale_dtype=dtype)
    fast = w4a16.w4a16_linear(x, qw, s, z, group=128)  # tunes and caches the config both calls use
    monkeypatch.setattr(lowbit, "USE_FAST_DEQUANT", False)
    portable = w4a16.w4a16_linear(x, qw, s, z, group=128)
    assert torch.equal(fast, portable)


@ON_GPU
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("m,group", [(1, 0), (16, 0), (1, 128), (40, 0)])
def test_fast_path_matches_portable_bit_for_bit_ternary(m, group, dtype, monkeypatch):
    g = torch.Generator(device="cuda").manual_seed(m)
    x = torch.randn(m, 4096, generator=g, device="cuda", dtype=dtype)
    qw, s = ternary.quantize(torch.randn(2048, 4096, generator=g, device="cuda"), group, scale_dtype=dtype)
    fast = ternary.ternary_linear(x, qw, s, group=group)
    monkeypatch.setattr(lowbit, "USE_FAST_DEQUANT", False)
    assert torch.equal(fast, ternary.ternary_linear(x, qw, s, group=group))
