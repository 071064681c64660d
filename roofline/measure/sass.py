"""Read a kernel's SASS (``cuobjdump --dump-sass`` text): instruction mix, loads by width, MMA kind,
local memory, and the loops found from the branch structure. Pure text in, a frozen dataclass out.

A loop is a backward branch ``BRA <addr>`` whose target lies at or before the branch; its body is every
instruction from the target to the branch. The hot loop is the innermost loop (one that holds no other
loop) with the most global loads and MMA instructions, the first in program order on a tie: the main
K / key loop of the kernels here (the unmasked tile loop before the masked one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
_PRED = re.compile(r"^@!?U?P[T0-9]+\s+")
_TARGET = re.compile(r"\b0x([0-9a-f]+)\b")
_MMA = ("HGMMA", "IGMMA", "QGMMA", "HMMA", "IMMA")  # most capable first: Hopper warpgroup MMAs, then mma.sync


@dataclass(frozen=True)
class Instr:
    addr: int
    opcode: str  # with modifiers, e.g. "LDG.E.128.CONSTANT"
    text: str  # the whole instruction after the predicate

    @property
    def base(self) -> str:
        return self.opcode.split(".", 1)[0]


@dataclass(frozen=True)
class Loop:
    start: int  # address of the first instruction (the branch target)
    end: int  # address of the backward branch
    instrs: int  # instructions in the body, NOPs excluded


@dataclass(frozen=True)
class SassStats:
    """What one function's SASS shows. Counts are static (each instruction once) unless named hot_*."""

    instrs: int  # every instruction but NOPs
    opcodes: dict[str, int] = field(default_factory=dict)  # base opcode -> count
    mma: str = "none"  # HGMMA / IGMMA / QGMMA / HMMA / IMMA / none
    mma_count: int = 0
    global_load_bytes: dict[int, int] = field(default_factory=dict)  # bits -> bytes per thread (LDG + LDGSTS)
    hot_global_load_bytes: dict[int, int] = field(default_factory=dict)  # the same inside the hot loop
    tma_loads: int = 0
    local_ops: int = 0  # LDL + STL
    local_store_bytes: int = 0  # bytes a thread stores with STL (ptxas's "spill stores" when it spills)
    loops: tuple[Loop, ...] = ()
    hot_loop: Loop | None = None

    @property
    def hot_loop_instrs(self) -> int:
        return self.hot_loop.instrs if self.hot_loop else 0

    @property
    def ldg128_share(self) -> float:
        """Share of global-load bytes moved by 128-bit loads (LDG.128, LDGSTS.128, TMA), inside the hot
        loop where there is one (what streams), else over the kernel; 0 with no global load."""
        by = self.hot_global_load_bytes if self.hot_loop and self.hot_global_load_bytes else self.global_load_bytes
        total = sum(by.values())
        return by.get(128, 0) / total if total else 0.0


def parse_instrs(text: str) -> list[Instr]:
    """The instructions of a cuobjdump SASS listing (one function), in address order."""
    out = []
    for m in _LINE.finditer(text):
        body = _PRED.sub("", m.group(2).strip())
        if not body or body.startswith("/*"):
            continue
        opcode = body.split()[0]
        out.append(Instr(int(m.group(1), 16), opcode, body))
    return out


def load_width_bits(opcode: str) -> int:
    """Bits a thread moves with one load: .128 / .64 / .U16 / .S16 / .U8 / .S8 modifiers, else 32."""
    mods = opcode.split(".")[1:]
    for bits, names in ((128, ("128",)), (64, ("64",)), (16, ("U16", "S16")), (8, ("U8", "S8"))):
        if any(m in names for m in mods):
            return bits
    return 32


def find_loops(instrs: list[Instr]) -> list[Loop]:
    """Every backward branch as a loop (target .. branch), skipping the self-branch that ends a kernel."""
    index = {ins.addr: i for i, ins in enumerate(instrs)}
    loops = []
    for i, ins in enumerate(instrs):
        if ins.base not in ("BRA", "JMP"):
            continue
        m = _TARGET.search(ins.text[len(ins.opcode):])
        if not m:
            continue
        target = int(m.group(1), 16)
        if target >= ins.addr or target not in index:
            continue
        body = instrs[index[target]:i + 1]
        loops.append(Loop(target, ins.addr, sum(1 for b in body if b.base != "NOP")))
    return loops


def _innermost(loops: list[Loop]) -> list[Loop]:
    return [lp for lp in loops if not any(o is not lp and lp.start <= o.start and o.end <= lp.end
                                          and (o.start, o.end) != (lp.start, lp.end) for o in loops)]


def _is_stream(ins: Instr) -> bool:
    return ins.base in ("LDG", "LDGSTS", "UTMALDG", "LDS", "LDSM") or ins.base in _MMA


def analyze(text: str) -> SassStats:
    """Statistics of one function's SASS listing."""
    instrs = parse_instrs(text)
    ops: dict[str, int] = {}
    for ins in instrs:
        ops[ins.base] = ops.get(ins.base, 0) + 1
    mma = next((k for k in _MMA if ops.get(k)), "none")
    loops = find_loops(instrs)
    hot = None
    inner = _innermost(loops)
    if inner:
        def weight(lp: Loop) -> int:
            return sum(1 for ins in instrs if lp.start <= ins.addr <= lp.end and _is_stream(ins))
        best = max(weight(lp) for lp in inner)
        hot = min((lp for lp in inner if weight(lp) == best), key=lambda lp: lp.start)

    def load_bytes(sel) -> dict[int, int]:
        by: dict[int, int] = {}
        for ins in instrs:
            if not sel(ins):
                continue
            if ins.base in ("LDG", "LDGSTS"):
                bits = load_width_bits(ins.opcode)
            elif ins.base == "UTMALDG":
                bits = 128  # the copy engine moves whole lines: counted with the wide loads
            else:
                continue
            by[bits] = by.get(bits, 0) + bits // 8
        return by

    local_store = sum(load_width_bits(i.opcode) // 8 for i in instrs if i.base == "STL")
    return SassStats(
        instrs=sum(1 for i in instrs if i.base != "NOP"), opcodes=ops, mma=mma, mma_count=ops.get(mma, 0),
        global_load_bytes=load_bytes(lambda i: True),
        hot_global_load_bytes=load_bytes(lambda i: hot is not None and hot.start <= i.addr <= hot.end),
        tma_loads=ops.get("UTMALDG", 0), local_ops=ops.get("LDL", 0) + ops.get("STL", 0),
        local_store_bytes=local_store, loops=tuple(loops), hot_loop=hot)


_RES = re.compile(r"Function\s+(\S+):\s*\n\s*REG:(\d+)\s+STACK:(\d+)\s+SHARED:(\d+)\s+LOCAL:(\d+)")


def parse_resource_usage(text: str) -> dict[str, dict[str, int]]:
    """``cuobjdump --dump-resource-usage`` -> {function: {regs, stack, shared, local}}."""
    return {m.group(1): {"regs": int(m.group(2)), "stack": int(m.group(3)), "shared": int(m.group(4)),
                         "local": int(m.group(5))} for m in _RES.finditer(text)}
