"""Static kernel inspection (roofline.measure.inspect): the SASS reader on a hand-written listing, one real
sm90 compile of a quick W4A16 shape (in a subprocess: this test run interprets the kernels), the cache hit,
and the one-line errors. About 20-30 s cold on 2 cores (two compiles of one small kernel)."""

from __future__ import annotations

import os

import pytest

from roofline.errors import InputError
from roofline.measure import sass
from roofline.measure.inspect import InspectError, inspect_kernels

# A made-up function in cuobjdump's format: setup, a loop 0x0040..0x0090 holding two LDG.128, one LDG.U16,
# one HMMA and a backward branch (6 instructions), an epilogue with one STL and one LDL, the end branch.
SNIPPET = """
        /*0000*/                   LDC R1, c[0x0][0x28] ;                       /* 0x00000a00ff017b82 */
        /*0010*/                   S2R R0, SR_TID.X ;                           /* 0x0000000000007919 */
        /*0020*/                   IMAD.SHL.U32 R2, R0, 0x10, RZ ;              /* 0x0000001000027824 */
        /*0030*/                   NOP ;                                        /* 0x0000000000007918 */
        /*0040*/                   LDG.E.128 R4, desc[UR4][R2.64] ;             /* 0x0000000402047981 */
        /*0050*/                   LDG.E.128 R8, desc[UR4][R2.64+0x10] ;        /* 0x0000100402087981 */
        /*0060*/                   LDG.E.U16 R12, desc[UR4][R2.64+0x20] ;       /* 0x000020040c0c7981 */
        /*0070*/                   HMMA.16816.F32.BF16 R16, R4, R8, R16 ;       /* 0x000000080410723c */
        /*0080*/                   ISETP.GT.AND P0, PT, R0, 0x3, PT ;           /* 0x000000030000780c */
        /*0090*/              @!P0 BRA 0x40 ;                                   /* 0xfffffffc00008947 */
        /*00a0*/                   STL.64 [R1], R16 ;                           /* 0x0000001001007387 */
        /*00b0*/                   LDL R20, [R1+0x4] ;                          /* 0x0000040001147983 */
        /*00c0*/                   EXIT ;                                       /* 0x000000000000794d */
        /*00d0*/                   BRA 0xd0;                                    /* 0xfffffffc00fc7947 */
"""


def test_sass_reader_on_a_hand_checked_listing():
    st = sass.analyze(SNIPPET)
    assert st.instrs == 13  # 14 lines, one NOP
    assert st.mma == "HMMA" and st.mma_count == 1
    assert st.hot_loop is not None and (st.hot_loop.start, st.hot_loop.end) == (0x40, 0x90)
    assert st.hot_loop_instrs == 6
    assert len(st.loops) == 1  # the kernel's final self-branch is not a loop
    assert st.global_load_bytes == {128: 32, 16: 2}
    assert st.ldg128_share == pytest.approx(32 / 34)
    assert st.local_ops == 2 and st.local_store_bytes == 8
    assert sass.load_width_bits("LDGSTS.E.BYPASS.LTC128B.128") == 128 and sass.load_width_bits("LDG.E") == 32
    res = sass.parse_resource_usage(" Function k_name:\n  REG:96 STACK:8 SHARED:1024 LOCAL:0 CONSTANT[0]:600\n")
    assert res == {"k_name": {"regs": 96, "stack": 8, "shared": 1024, "local": 0}}


QUICK = "M=1,K=256,N=64,group=64"  # a w4a16 quick shape: the split-K decode kernel, one launch


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("inspect-cache")


@pytest.fixture()
def cached(cache_dir, monkeypatch):
    monkeypatch.setenv("ROOFLINE_CACHE", str(cache_dir))
    return cache_dir


def test_one_real_compile_and_its_floors(cached):
    import hwdb
    from kernels.quant import w4a16

    rows = inspect_kernels(["w4a16_linear"], [QUICK])
    assert [r.launch for r in rows] == ["_lowbit_splitk_kernel"]
    r = rows[0]
    assert r.kind == "static" and r.first_choice and r.dtype == "bf16" and r.shape == QUICK
    assert r.mma in ("HMMA", "HGMMA") and r.spill_bytes == 0 and r.local_ops == 0
    assert r.regs > 0 and r.num_warps == 4 and r.grid_ctas >= 1 and r.hot_loop_instrs > 0
    assert r.instr_per_weight is not None and 0 < r.instr_per_weight < 20 and r.instr_per_byte is None
    assert "triton" in r.source and "sm90" in r.source
    dev = hwdb.get("h200")
    ops = w4a16.cost(1, 256, 64, 64, True, "bf16", 2)
    assert r.memory_floor_s == pytest.approx(sum(o.total_bytes for o in ops) / dev.mem_bw_bytes_per_s)
    assert r.compute_floor_s == pytest.approx(sum(o.total_flops for o in ops) / dev.peak("bf16"))
    assert r.issue_floor_s > 0 and r.predicted_bound in ("issue", "memory", "compute")
    assert list(cached.glob("*.json")) and list(cached.glob("*.sass"))


def test_second_run_is_a_cache_hit(cached):
    first = inspect_kernels(["w4a16_linear"], [QUICK])  # compiled by the test above, or now
    stamps = {p: p.stat().st_mtime_ns for p in cached.glob("*.json")}
    again = inspect_kernels(["w4a16_linear"], [QUICK])
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in cached.glob("*.json")} == stamps  # nothing recompiled or rewritten


@pytest.mark.parametrize("kwargs,msg", [
    ({"kernels": ["w4a16_linearr"]}, "unknown kernel 'w4a16_linearr'.*w4a16_linear"),
    ({"kernels": ["copy"]}, "torch-only"),
    ({"kernels": ["w4a16_linear"], "shapes": ["M=3,K=1"]}, "unknown shape key"),
    ({"kernels": ["w4a16_linear"], "arch": "gfx942"}, "unknown arch"),
    ({"kernels": ["w4a16_linear"], "device_id": "h300"}, "h300"),
    ({"kernels": ["w4a16_linear"], "device_id": "a10"}, r"\[compute\]"),
])
def test_bad_requests_are_one_line_input_errors(kwargs, msg):
    with pytest.raises(InputError, match=msg) as e:
        inspect_kernels(**kwargs)
    assert isinstance(e.value, InspectError) and "\n" not in str(e.value)


def test_missing_disassembler(monkeypatch, tmp_path):
    monkeypatch.setenv("ROOFLINE_CUDA_BIN", str(tmp_path))  # an empty folder: no cuobjdump
    with pytest.raises(InspectError, match="cuobjdump not found"):
        inspect_kernels(["w4a16_linear"], [QUICK])


@pytest.mark.skipif(os.environ.get("INSPECT_ARCH_PROBE") == "0", reason="INSPECT_ARCH_PROBE=0")
def test_an_arch_triton_cannot_target(cached):
    with pytest.raises(InspectError, match="cannot compile for sm999"):
        inspect_kernels(["w4a16_linear"], [QUICK], arch="sm999")
