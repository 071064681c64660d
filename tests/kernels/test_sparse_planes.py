"""2:4 position planes (kernels/sparse/planes.py): the PTX of the fast path, emulated on the CPU for every
valid nibble and two groups at once, must place exactly the kept values (and zeros) the portable path
picks; the selector table covers the 6 nibbles rw24 can hold."""

from __future__ import annotations

import os
import random

import pytest
import torch
from ptx_emulator import halves, pack, run_ptx

from kernels.sparse import planes

VALID = [(i0, i1) for i0 in range(4) for i1 in range(4) if i0 < i1]


def test_selector_table_places_v0_v1_and_zeros():
    table = planes.selector_table()
    assert len(table) == 16
    for i0, i1 in VALID:
        sel = table[i0 | i1 << 2] & 0xFFFFFFFF
        codes = [(sel >> 8 * p) & 0xFF for p in range(4)]
        assert codes == [0x10 if p == i0 else 0x32 if p == i1 else 0x44 for p in range(4)]


@pytest.mark.parametrize("bf16", [False, True])
def test_ptx_expands_two_groups_into_position_planes(bf16):
    table = planes.selector_table()
    rng = random.Random(0)
    asm = planes._ASM.value
    for (a0, a1) in VALID:
        for (b0, b1) in VALID:
            va = (rng.uniform(-2, 2), rng.uniform(-2, 2))
            vb = (rng.uniform(-2, 2), rng.uniform(-2, 2))
            wa, wb = pack(*va, bf16), pack(*vb, bf16)
            va, vb = halves(wa, bf16), halves(wb, bf16)  # the values as stored
            outs = run_ptx(asm, 4, wa, wb, extra={"$6": table[a0 | a1 << 2] & 0xFFFFFFFF,
                                                  "$7": table[b0 | b1 << 2] & 0xFFFFFFFF})
            for p, o in enumerate(outs):
                want_a = va[0] if p == a0 else va[1] if p == a1 else 0.0
                want_b = vb[0] if p == b0 else vb[1] if p == b1 else 0.0
                assert halves(o, bf16) == (want_a, want_b), ((a0, a1), (b0, b1), p)


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET", "1") == "1" or not torch.cuda.is_available(),
                    reason="GPU only: the fast path is inline PTX, which the Triton interpreter cannot run; "
                           "run with TRITON_INTERPRET=0 on a GPU")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("m,n,k", [(1, 4096, 4096), (16, 14336, 4096), (5, 4096, 8192), (3, 96, 200)])  # no split-K: fp32 atomics add in no fixed order
def test_fast_planes_match_portable_bit_for_bit(m, n, k, dtype, monkeypatch):
    from kernels.sparse import semi_structured as ss

    g = torch.Generator(device="cuda").manual_seed(n)
    w = ss.prune_2_4(torch.randn(n, k, generator=g, device="cuda").to(dtype))
    x = torch.randn(m, k, generator=g, device="cuda").to(dtype)
    sw = ss.compress_2_4(w)
    fast = ss.sparse24_linear_triton(x, sw)
    monkeypatch.setattr(ss, "USE_FAST_PLANES", False)
    assert torch.equal(fast, ss.sparse24_linear_triton(x, sw))
