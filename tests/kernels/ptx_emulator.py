"""A tiny emulator of the PTX the kernels' inline assembly uses (prmt, shr, lop3 (a & b) | c, mov, fma.rn on
f16x2 / bf16x2), so the CPU tests can check the fast paths' constants and selectors bit for bit."""

from __future__ import annotations

import torch


def halves(word: int, bf16: bool) -> tuple[float, float]:
    t = torch.tensor([word & 0xFFFF, word >> 16], dtype=torch.int32).to(torch.int16)
    return tuple(t.view(torch.bfloat16 if bf16 else torch.float16).float().tolist())


def pack(lo: float, hi: float, bf16: bool) -> int:
    h = torch.tensor([lo, hi]).to(torch.bfloat16 if bf16 else torch.float16).view(torch.int16).to(torch.int32)
    return (int(h[0]) & 0xFFFF) | (int(h[1]) & 0xFFFF) << 16


def run_ptx(asm: str, outs: int, a: int, b: int, extra: dict[str, int] | None = None) -> list[int]:
    """Execute a PTX block whose first inputs ($outs, $outs+1) are the words a, b (``extra``: more operand
    registers by name); returns the output registers $0 .. $outs-1."""
    reg = {f"${outs}": a, f"${outs + 1}": b, **(extra or {})}

    def val(tok: str) -> int:
        tok = tok.strip()
        return int(tok, 16) if tok.startswith("0x") else int(tok) if tok.isdigit() else reg[tok]

    for line in asm.splitlines():
        line = line.strip().rstrip(";")
        if not line or line[0] in "{}." or line.startswith(".reg"):
            continue
        op, args = line.split(None, 1)
        d, *src = [s.strip() for s in args.split(",")]
        if op == "prmt.b32":
            x, y, sel = val(src[0]), val(src[1]), val(src[2])
            pool = [(x >> 8 * i) & 0xFF for i in range(4)] + [(y >> 8 * i) & 0xFF for i in range(4)]
            reg[d] = sum(pool[(sel >> 4 * i) & 7] << 8 * i for i in range(4))
        elif op == "shr.b32":
            reg[d] = (val(src[0]) & 0xFFFFFFFF) >> val(src[1])
        elif op == "lop3.b32":
            assert src[3] == "0xea"  # (a & b) | c
            reg[d] = (val(src[0]) & val(src[1])) | val(src[2])
        elif op == "mov.b32":
            reg[d] = val(src[0])
        elif op.startswith("fma.rn."):
            bf = op.endswith("bf16x2")
            xs, cs, ds = (halves(val(s), bf) for s in src)
            reg[d] = pack(*(x * c + e for x, c, e in zip(xs, cs, ds, strict=True)), bf)  # exact here
        else:
            raise AssertionError(f"unexpected PTX {op}")
    return [reg[f"${i}"] for i in range(outs)]
